//! Seeded train/test split.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::dataset::Dataset;
use crate::error::Error;

impl Dataset {
    /// Shuffles the samples with a seeded RNG and returns `(train, test)`,
    /// with `round(len * test_fraction)` samples in test. The same seed gives
    /// the same split on every run and platform (StdRng is seeded, not
    /// from the OS); shuffling first matters because some files (MNIST) are
    /// stored class by class.
    /// A `test_fraction` outside `[0, 1]` is an error.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset), Error> {
        if !(0.0..=1.0).contains(&test_fraction) {
            return Err(Error::InvalidArgument {
                op: "split",
                shape: vec![self.len()],
                msg: format!("the test fraction {test_fraction} is not in [0, 1]"),
            });
        }
        let n = self.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let n_test = ((n as f64 * test_fraction).round() as usize).min(n);
        let (train, test) = order.split_at(n - n_test);
        Ok((self.subset(train)?, self.subset(test)?))
    }
}
