//! Dropout: in training, zero each element with probability p and scale the
//! rest by 1/(1-p); in evaluation, the identity. The mask is drawn on the GPU
//! from a fresh seed each call: the seed is a runtime scalar, so a new mask
//! every step still replays the same plan.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};
use crate::nn::{Module, Stateful};
use crate::tensor::Tensor;

pub struct Dropout {
    p: f64,
    training: AtomicBool,
}

impl Dropout {
    pub fn new(p: f64) -> Result<Dropout> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::InvalidArgument {
                op: "dropout",
                shape: vec![],
                msg: format!("probability {p} is outside [0, 1)"),
            });
        }
        Ok(Dropout {
            p,
            training: AtomicBool::new(true),
        })
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training.load(Ordering::Relaxed) || self.p == 0.0 {
            return Ok(x.clone());
        }
        let keep = Tensor::rand(x.device(), x.shape())?.ge(self.p)?;
        keep.select(&x.mul(1.0 / (1.0 - self.p))?, 0.0)
    }
}

impl Stateful for Dropout {
    fn set_training(&self, on: bool) {
        self.training.store(on, Ordering::Relaxed);
    }
}
