//! Layer norm and RMSNorm as modules: weight 1, bias 0 at the start.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::nn::{Module, Stateful, parameter};
use crate::tensor::Tensor;

/// Layer norm over the last axis (the notes contrast it with batch norm: it
/// normalises each example's features, so it needs no batch statistics).
#[derive(Stateful)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(dev: &Device, features: usize) -> Result<LayerNorm> {
        Ok(LayerNorm {
            weight: parameter(Tensor::ones(dev, &[features], DType::F32)?)?,
            bias: parameter(Tensor::zeros(dev, &[features], DType::F32)?)?,
            eps: 1e-5,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.layer_norm(&self.weight, &self.bias, self.eps)
    }
}

/// RMSNorm over the last axis: scale only, no centring.
#[derive(Stateful)]
pub struct RmsNorm {
    pub weight: Tensor,
    pub eps: f64,
}

impl RmsNorm {
    pub fn new(dev: &Device, features: usize) -> Result<RmsNorm> {
        Ok(RmsNorm {
            weight: parameter(Tensor::ones(dev, &[features], DType::F32)?)?,
            eps: 1e-6,
        })
    }
}

impl Module for RmsNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.rms_norm(&self.weight, self.eps)
    }
}
