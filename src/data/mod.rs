//! Real data sets for training and tests, loaded from `data/`.
