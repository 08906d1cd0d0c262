//! y = x W^T + b, with W stored (out, in) as in PyTorch. The transpose is a
//! view the matmul kernel reads in place.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{Module, init, parameter};
use crate::tensor::Tensor;

pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    /// PyTorch's default initialisation: U(-1/sqrt(in), 1/sqrt(in)) for both.
    pub fn new(dev: &Device, inputs: usize, outputs: usize) -> Result<Linear> {
        let bound = 1.0 / (inputs.max(1) as f64).sqrt();
        Ok(Linear {
            weight: parameter(init::uniform(dev, &[outputs, inputs], -bound, bound)?)?,
            bias: Some(parameter(init::uniform(dev, &[outputs], -bound, bound)?)?),
        })
    }

    /// Without a bias.
    pub fn no_bias(dev: &Device, inputs: usize, outputs: usize) -> Result<Linear> {
        let mut l = Linear::new(dev, inputs, outputs)?;
        l.bias = None;
        Ok(l)
    }

    /// With explicit initial values (for tests and checkpoints).
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        Ok(Linear {
            weight: parameter(weight)?,
            bias: bias.map(parameter).transpose()?,
        })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let inputs = self.weight.shape()[1];
        if x.shape().last() != Some(&inputs) {
            return Err(Error::ShapeMismatch {
                op: "linear",
                lhs: x.shape().to_vec(),
                rhs: self.weight.shape().to_vec(),
                detail: format!(": the input's last dim must be {inputs}"),
            });
        }
        let y = x.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            v.push(("bias".to_string(), b.clone()));
        }
        v
    }
}
