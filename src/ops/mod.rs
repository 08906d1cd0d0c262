//! The op methods of `Tensor`, one file per kind of op. Each checks shapes,
//! dtypes and devices when recorded and returns a typed error naming the op.

mod activation;
pub(crate) mod attention;
mod conv;
mod elementwise;
mod index;
mod linalg;
mod movement;
mod norm;
mod operators;
mod pad;
mod reduce;
pub(crate) mod reduce_split;
mod sort;

pub use attention::AttentionMask;
pub use movement::SplitSizes;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The right-hand side of a binary op: another tensor or a scalar.
#[derive(Clone, Copy, Debug)]
pub enum Rhs<'a> {
    Tensor(&'a Tensor),
    Scalar(f64),
}

impl<'a> From<&'a Tensor> for Rhs<'a> {
    fn from(t: &'a Tensor) -> Self {
        Rhs::Tensor(t)
    }
}

impl From<f64> for Rhs<'_> {
    fn from(v: f64) -> Self {
        Rhs::Scalar(v)
    }
}

impl From<f32> for Rhs<'_> {
    fn from(v: f32) -> Self {
        Rhs::Scalar(v as f64)
    }
}

impl From<i32> for Rhs<'_> {
    fn from(v: i32) -> Self {
        Rhs::Scalar(v as f64)
    }
}

impl Tensor {
    /// Fails unless every tensor lives on this tensor's device.
    pub(crate) fn same_device(&self, op: &'static str, others: &[&Tensor]) -> Result<()> {
        if others.iter().all(|o| o.device() == self.device()) {
            Ok(())
        } else {
            Err(Error::DeviceMismatch { op })
        }
    }

    /// Turns a right-hand side into a tensor on this device with this dtype.
    pub(crate) fn rhs_tensor(&self, op: &'static str, rhs: Rhs<'_>) -> Result<Tensor> {
        match rhs {
            Rhs::Tensor(t) => {
                self.same_device(op, &[t])?;
                Ok(t.clone())
            }
            Rhs::Scalar(v) => Tensor::full(self.device(), &[], v, self.dtype()),
        }
    }

    pub(crate) fn require_float(&self, op: &'static str) -> Result<()> {
        if self.dtype().is_float() {
            Ok(())
        } else {
            Err(Error::UnsupportedDType {
                op,
                dtype: self.dtype(),
                reason: "needs a float tensor",
            })
        }
    }

    pub(crate) fn require_dtype(&self, op: &'static str, other: &Tensor) -> Result<()> {
        if self.dtype() == other.dtype() {
            Ok(())
        } else {
            Err(Error::DTypeMismatch {
                op,
                lhs: self.dtype(),
                rhs: other.dtype(),
            })
        }
    }

    pub(crate) fn require_not_bool(&self, op: &'static str) -> Result<()> {
        if self.dtype() == DType::Bool {
            Err(Error::UnsupportedDType {
                op,
                dtype: DType::Bool,
                reason: "arithmetic on bool; cast it first",
            })
        } else {
            Ok(())
        }
    }
}
