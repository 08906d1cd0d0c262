//! Mini-batches over a data set, in order or in a seeded shuffled order.

use rand::SeedableRng;

use crate::error::Error;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::dataset::{Dataset, Target};

/// The targets of one batch.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchTarget {
    Classes(Vec<i32>),
    /// Row-major, `outputs` values per sample.
    Values(Vec<f32>),
}

/// `len` samples: features row-major in `x`, their targets in `y`.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub x: Vec<f32>,
    pub y: BatchTarget,
    pub len: usize,
}

/// One epoch of batches; see [`Dataset::batches`].
pub struct Batches<'a> {
    data: &'a Dataset,
    order: Vec<usize>,
    batch: usize,
    next: usize,
}

impl Dataset {
    /// One epoch of batches of `batch` samples (the last may be shorter).
    /// With `Some(seed)` the order is a seeded shuffle; pass a different seed
    /// per epoch (e.g. `base + epoch`) for a new order each epoch.
    /// A batch size of 0 is an error. To resume inside an epoch, the same seed
    /// and `.skip(batches_done)`.
    pub fn batches(&self, batch: usize, shuffle_seed: Option<u64>) -> Result<Batches<'_>, Error> {
        if batch == 0 {
            return Err(Error::InvalidArgument {
                op: "batches",
                shape: vec![self.len()],
                msg: "the batch size must be at least 1".into(),
            });
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        if let Some(seed) = shuffle_seed {
            order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        Ok(Batches {
            data: self,
            order,
            batch,
            next: 0,
        })
    }
}

impl Dataset {
    /// The samples at `idx`, in that order, as one batch.
    pub(crate) fn batch_of(&self, idx: &[usize]) -> Batch {
        let y = match self.target.gather(idx) {
            Target::Classes { labels, .. } => BatchTarget::Classes(labels),
            Target::Values { values, .. } => BatchTarget::Values(values),
        };
        Batch {
            x: self.gather_x(idx),
            y,
            len: idx.len(),
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.batch).min(self.order.len());
        let idx = &self.order[self.next..end];
        self.next = end;
        Some(self.data.batch_of(idx))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.order.len() - self.next).div_ceil(self.batch);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Batches<'_> {}
