//! y = x W^T + b, with W stored (out, in) as in PyTorch. The transpose is a
//! view the matmul kernel reads in place.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{Module, Stateful, init, parameter};
use crate::tensor::Tensor;

#[derive(Stateful)]
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
        check("linear", x, &self.weight)?;
        let y = x.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }
}

/// The input's last dim must be the weight's (out, in) second.
pub(crate) fn check(op: &'static str, x: &Tensor, weight: &Tensor) -> Result<()> {
    let inputs = weight.shape()[1];
    if x.shape().last() != Some(&inputs) {
        return Err(Error::ShapeMismatch {
            op,
            lhs: x.shape().to_vec(),
            rhs: weight.shape().to_vec(),
            detail: format!(": the input's last dim must be {inputs}"),
        });
    }
    Ok(())
}
