//! A data loader that runs epoch after epoch and can say where it is, so a
//! checkpoint can resume it mid-epoch: the epoch, this epoch's order and the
//! next position in it (PyTorch keeps these in its sampler's generator; here
//! they are plain state that `Checkpoint` saves).

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::batches::Batch;
use super::dataset::Dataset;
use crate::error::Error;

/// Where a `Loader` is: what a checkpoint keeps of it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoaderState {
    pub epoch: usize,
    /// This epoch's sample order.
    pub order: Vec<usize>,
    /// The position in `order` of the next batch's first sample.
    pub next: usize,
}

/// Batches of `batch` samples, epoch after epoch; with a seed, each epoch's
/// order is a shuffle seeded by `seed + epoch` (the same as
/// `Dataset::batches(batch, Some(seed + epoch))` gives).
pub struct Loader {
    batch: usize,
    seed: Option<u64>,
    samples: usize,
    state: LoaderState,
}

impl Loader {
    /// Over `data` (its size fixes the orders); a batch size of 0 is an error.
    pub fn new(data: &Dataset, batch: usize, shuffle_seed: Option<u64>) -> Result<Loader, Error> {
        if batch == 0 || data.is_empty() {
            return Err(Error::InvalidArgument {
                op: "loader",
                shape: vec![data.len(), batch],
                msg: "the loader needs at least one sample and a batch size of at least 1".into(),
            });
        }
        let mut l = Loader {
            batch,
            seed: shuffle_seed,
            samples: data.len(),
            state: LoaderState {
                epoch: 0,
                order: Vec::new(),
                next: 0,
            },
        };
        l.state.order = l.order_of(0);
        Ok(l)
    }

    fn order_of(&self, epoch: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.samples).collect();
        if let Some(seed) = self.seed {
            order.shuffle(&mut StdRng::seed_from_u64(seed.wrapping_add(epoch as u64)));
        }
        order
    }

    /// The next batch of `data` (the last of an epoch may be shorter); after
    /// an epoch's last batch the next epoch starts.
    pub fn next_batch(&mut self, data: &Dataset) -> Result<Batch, Error> {
        if data.len() != self.samples {
            return Err(Error::InvalidArgument {
                op: "loader",
                shape: vec![data.len()],
                msg: format!("the loader was made for {} samples", self.samples),
            });
        }
        if self.state.next >= self.samples {
            self.state.epoch += 1;
            self.state.order = self.order_of(self.state.epoch);
            self.state.next = 0;
        }
        let end = (self.state.next + self.batch).min(self.samples);
        let batch = data.batch_of(&self.state.order[self.state.next..end]);
        self.state.next = end;
        Ok(batch)
    }

    pub fn state(&self) -> &LoaderState {
        &self.state
    }

    /// Continues from `state`: it must be an order of this loader's samples.
    pub fn restore(&mut self, state: LoaderState) -> Result<(), Error> {
        let mut seen = vec![false; self.samples];
        let valid = state.order.len() == self.samples
            && state.next <= self.samples
            && state
                .order
                .iter()
                .all(|&i| i < self.samples && !std::mem::replace(&mut seen[i], true));
        if !valid {
            return Err(Error::InvalidArgument {
                op: "loader",
                shape: vec![state.order.len(), state.next],
                msg: format!("not a position in an order of {} samples", self.samples),
            });
        }
        self.state = state;
        Ok(())
    }

    pub fn batch_size(&self) -> usize {
        self.batch
    }
}
