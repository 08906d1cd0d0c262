//! Real data sets for training and tests, loaded on the CPU from `data/`.
//!
//! Every loader takes the data root (usually [`data_dir()`]) and returns a
//! [`Dataset`]: features as one flat row-major `Vec<f32>` plus a class or
//! regression [`Target`]. [`Dataset::split`], [`Standardizer`] and
//! [`Dataset::batches`] prepare it for training. Any problem with a file is an
//! [`Error::Data`](crate::Error::Data) naming the file and where in it.

mod batches;
mod bmes;
mod cmudict;
mod dataset;
mod fields;
mod idx;
mod images;
mod islp;
mod loader;
mod sentiment;
mod sklearn;
mod source;
mod split;
mod standardize;
mod text;
mod words;

pub use batches::{Batch, BatchTarget, Batches};
pub use bmes::{BMES, Tagged, peoples_daily};
pub use cmudict::{Pronunciation, cmudict};
pub use dataset::{Dataset, Target};
pub use idx::{Idx, parse_idx_u8, read_idx_u8};
pub use images::{digits, mnist10k};
pub use islp::auto_mpg;
pub use loader::{Loader, LoaderState};
pub use sentiment::{Review, sentiment, tang_poems};
pub use sklearn::{breast_cancer, diabetes, iris, wine};
pub use standardize::Standardizer;
pub use text::{CharVocab, shakespeare};
pub use words::{
    Analogy, WordPair, WordVocab, analogy_questions, tokenize, word2vec_corpus, wordsim353,
};

use std::path::PathBuf;

/// The environment variable that points the loaders at another data folder.
pub const DATA_ENV: &str = "SHADERGRAD_DATA";

/// The data root: `$SHADERGRAD_DATA` if set, else the crate's own `data/`
/// folder (so tests and examples work from a fresh clone).
pub fn data_dir() -> PathBuf {
    match std::env::var_os(DATA_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data")),
    }
}
