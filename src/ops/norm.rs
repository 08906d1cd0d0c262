//! Layer norm and RMSNorm over the last axis: one kernel node each way
//! (src/kernels/layernorm.rs picks its form at launch), or, on a device whose
//! stages bind fewer storage buffers than the gradient kernels need, the same
//! maths composed of reductions and elementwise ops.

use crate::error::Result;
use crate::kernels::layernorm::{LayerNorm, STORAGE};
use crate::tensor::Tensor;

impl Tensor {
    /// (x - mean) / sqrt(var + eps) * gamma + beta over the last axis.
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
        self.norm(false, eps, &[self, gamma, beta])
    }

    /// x / sqrt(mean(x^2) + eps) * gamma over the last axis.
    pub fn rms_norm(&self, gamma: &Tensor, eps: f64) -> Result<Tensor> {
        self.norm(true, eps, &[self, gamma])
    }

    fn norm(&self, rms: bool, eps: f64, inputs: &[&Tensor]) -> Result<Tensor> {
        let k = LayerNorm {
            rms,
            eps: eps as f32,
        };
        if self.device().limits().max_storage_buffers_per_shader_stage >= STORAGE {
            return Tensor::apply(k, inputs);
        }
        Tensor::kernel_output(&k, inputs)?;
        // Biased variance, as the kernel (and PyTorch) normalize.
        let (centred, ms) = if rms {
            (self.clone(), self.square()?.mean(&[-1], true)?)
        } else {
            let c = self.sub(&self.mean(&[-1], true)?)?;
            let var = c.square()?.mean(&[-1], true)?;
            (c, var)
        };
        let y = centred.mul(&ms.add(eps)?.rsqrt()?)?.mul(inputs[1])?;
        match inputs.get(2) {
            Some(&beta) => y.add(beta),
            None => Ok(y),
        }
    }
}
