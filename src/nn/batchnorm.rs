//! Batch normalisation (the notes' batch_normalization): in training, each
//! channel is normalised with this batch's mean and variance, and running
//! averages of both are kept (updated in place, in the same submit, by the
//! optimizer kernel file's `ema`); in evaluation, the running averages are
//! used instead (the notes' "testing" section). gamma starts at 1, beta at 0.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::autodiff::no_grad;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::{Op, UpdateRule};
use crate::nn::{Module, Stateful, parameter};
use crate::tensor::Tensor;

pub struct BatchNorm {
    pub gamma: Tensor,
    pub beta: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    /// Training batches seen, as PyTorch's buffer of that name (kept in f32,
    /// exact to 2^24 batches; PyTorch's load casts it to its i64).
    pub num_batches_tracked: Tensor,
    pub momentum: f64,
    pub eps: f64,
    training: AtomicBool,
}

impl BatchNorm {
    /// For `channels` channels: BatchNorm1d on (B, C), BatchNorm2d on (B, C, H, W).
    pub fn new(dev: &Device, channels: usize) -> Result<BatchNorm> {
        let running_mean = Tensor::zeros(dev, &[channels], DType::F32)?;
        let running_var = Tensor::ones(dev, &[channels], DType::F32)?;
        let num_batches_tracked = Tensor::zeros(dev, &[], DType::F32)?;
        Tensor::realize_all(&[&running_mean, &running_var, &num_batches_tracked])?;
        Ok(BatchNorm {
            gamma: parameter(Tensor::ones(dev, &[channels], DType::F32)?)?,
            beta: parameter(Tensor::zeros(dev, &[channels], DType::F32)?)?,
            running_mean,
            running_var,
            num_batches_tracked,
            momentum: 0.1,
            eps: 1e-5,
            training: AtomicBool::new(true),
        })
    }

    /// Records running = (1 - momentum) * running + momentum * value, in place.
    fn ema(&self, running: &Tensor, value: Tensor, momentum: f64) {
        let mut hyper = [0f32; 8];
        hyper[1] = momentum as f32;
        let update = Tensor::record(
            running.device(),
            running.shape().to_vec(),
            DType::F32,
            Op::Update {
                rule: UpdateRule::Ema,
                hyper,
            },
            vec![running.clone(), value],
        );
        running.device().add_pending(vec![update]);
    }
}

impl Module for BatchNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training.load(Ordering::Relaxed) {
            return x.batch_norm_eval(
                &self.gamma,
                &self.beta,
                &self.running_mean,
                &self.running_var,
                self.eps,
            );
        }
        let (y, stats) = x.batch_norm_train(&self.gamma, &self.beta, self.eps)?;
        let _g = no_grad();
        let c = self.gamma.numel();
        let n = (x.numel() / c) as f64;
        // The running variance is unbiased, as in PyTorch.
        self.ema(
            &self.running_mean,
            stats.narrow(0, 0, 1)?.reshape(&[c])?.contiguous()?,
            self.momentum,
        );
        self.ema(
            &self.running_var,
            stats.narrow(0, 1, 1)?.reshape(&[c])?.mul(n / (n - 1.0))?,
            self.momentum,
        );
        // Momentum 1: the count becomes count + 1.
        let counted = self.num_batches_tracked.add(1.0)?;
        self.ema(&self.num_batches_tracked, counted, 1.0);
        Ok(y)
    }
}

impl Stateful for BatchNorm {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            ("weight".into(), self.gamma.clone()),
            ("bias".into(), self.beta.clone()),
        ]
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        vec![
            ("running_mean".into(), self.running_mean.clone()),
            ("running_var".into(), self.running_var.clone()),
            (
                "num_batches_tracked".into(),
                self.num_batches_tracked.clone(),
            ),
        ]
    }

    fn set_training(&self, on: bool) {
        self.training.store(on, Ordering::Relaxed);
    }
}
