//! Activations as modules, so they can sit in a Sequential.

use crate::error::Result;
use crate::nn::Module;
use crate::tensor::Tensor;

pub struct Relu;
pub struct Tanh;
pub struct Sigmoid;
/// GELU with the exact normal CDF.
pub struct Gelu;

impl Module for Relu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.relu()
    }
}

impl Module for Tanh {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.tanh()
    }
}

impl Module for Sigmoid {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.sigmoid()
    }
}

impl Module for Gelu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.gelu()
    }
}
