//! Layer norm and RMSNorm over the last axis: one kernel node each way
//! (src/kernels/layernorm.rs picks its form at launch).

use crate::error::Result;
use crate::kernels::layernorm::LayerNorm;
use crate::tensor::Tensor;

impl Tensor {
    /// (x - mean) / sqrt(var + eps) * gamma + beta over the last axis.
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
        let k = LayerNorm {
            rms: false,
            eps: eps as f32,
        };
        Tensor::apply(k, &[self, gamma, beta])
    }

    /// x / sqrt(mean(x^2) + eps) * gamma over the last axis.
    pub fn rms_norm(&self, gamma: &Tensor, eps: f64) -> Result<Tensor> {
        let k = LayerNorm {
            rms: true,
            eps: eps as f32,
        };
        Tensor::apply(k, &[self, gamma])
    }
}
