//! Activations as modules, so they can sit in a Sequential.

use crate::error::Result;
use crate::nn::{Module, Stateful};
use crate::tensor::Tensor;

#[derive(Stateful)]
pub struct Relu;
#[derive(Stateful)]
pub struct Tanh;
#[derive(Stateful)]
pub struct Sigmoid;
/// GELU with the exact normal CDF.
#[derive(Stateful)]
pub struct Gelu;
/// SELU (torch.nn.SELU).
#[derive(Stateful)]
pub struct Selu;

/// ELU (torch.nn.ELU): `Elu::default()` has PyTorch's alpha of 1.
#[derive(Clone, Copy, Debug, Stateful)]
pub struct Elu {
    pub alpha: f64,
}

/// Softplus (torch.nn.Softplus): `Softplus::default()` has PyTorch's beta of
/// 1 and threshold of 20.
#[derive(Clone, Copy, Debug, Stateful)]
pub struct Softplus {
    pub beta: f64,
    pub threshold: f64,
}

impl Elu {
    pub fn new(alpha: f64) -> Elu {
        Elu { alpha }
    }
}

impl Default for Elu {
    fn default() -> Elu {
        Elu::new(1.0)
    }
}

impl Softplus {
    pub fn new(beta: f64, threshold: f64) -> Softplus {
        Softplus { beta, threshold }
    }
}

impl Default for Softplus {
    fn default() -> Softplus {
        Softplus::new(1.0, 20.0)
    }
}

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

impl Module for Selu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.selu()
    }
}

impl Module for Elu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.elu(self.alpha)
    }
}

impl Module for Softplus {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.softplus(self.beta, self.threshold)
    }
}
