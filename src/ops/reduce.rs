//! Reductions over any set of axes, with keepdim. Sum, max, min and the arg
//! variants are kernels; mean and var are composed from them.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Op, ReduceOp};
use crate::ops::reduce_split::KERNEL_ELEMENTS;
use crate::shape::{normalize_axes, numel};
use crate::tensor::Tensor;

impl Tensor {
    /// Axes to reduce; an empty list means every axis.
    fn reduce_axes(&self, op: &'static str, axes: &[isize]) -> Result<Vec<usize>> {
        if axes.is_empty() {
            Ok((0..self.rank()).collect())
        } else {
            normalize_axes(op, axes, self.rank())
        }
    }

    fn reduced_shape(&self, axes: &[usize], keepdim: bool) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.rank());
        for (i, &d) in self.shape().iter().enumerate() {
            if !axes.contains(&i) {
                out.push(d);
            } else if keepdim {
                out.push(1);
            }
        }
        out
    }

    pub(crate) fn reduce(
        &self,
        op: ReduceOp,
        name: &'static str,
        axes: &[isize],
        keepdim: bool,
    ) -> Result<Tensor> {
        self.require_not_bool(name)?;
        let axes = self.reduce_axes(name, axes)?;
        let shape = self.reduced_shape(&axes, keepdim);
        let dtype = match op {
            ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I32,
            _ => self.dtype(),
        };
        let empty_axis = axes.iter().any(|&a| self.shape()[a] == 0);
        if empty_axis {
            return match op {
                ReduceOp::Sum => Tensor::zeros(self.device(), &shape, dtype),
                _ => Err(Error::EmptyReduction {
                    op: name,
                    shape: self.shape().to_vec(),
                }),
            };
        }
        if axes.is_empty() {
            // Nothing to reduce (a 0-d tensor): the arg ops answer 0, the rest the value.
            return match op {
                ReduceOp::ArgMax | ReduceOp::ArgMin => Tensor::zeros(self.device(), &shape, dtype),
                _ => Ok(self.clone()),
            };
        }
        if numel(self.shape()) as u64 > KERNEL_ELEMENTS {
            let kept = self.split_reduce(op, name, &axes)?;
            return if keepdim {
                Ok(kept)
            } else {
                kept.reshape(&shape)
            };
        }
        Tensor::check_size(self.device(), name, &shape, dtype)?;
        Ok(Tensor::record(
            self.device(),
            shape,
            dtype,
            Op::Reduce { op, axes },
            vec![self.clone()],
        ))
    }

    /// Sum over `axes` (all axes when empty).
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Sum, "sum", axes, keepdim)
    }

    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum(&[], false)
    }

    /// Maximum over `axes` (NaN wins, as in PyTorch).
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Max, "max", axes, keepdim)
    }

    pub fn min(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::Min, "min", axes, keepdim)
    }

    /// Index (i32) of the largest element along `axis`; ties give the first.
    pub fn argmax(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::ArgMax, "argmax", &[axis], keepdim)
    }

    pub fn argmin(&self, axis: isize, keepdim: bool) -> Result<Tensor> {
        self.reduce(ReduceOp::ArgMin, "argmin", &[axis], keepdim)
    }

    fn reduced_count(&self, op: &'static str, axes: &[isize]) -> Result<usize> {
        Ok(self
            .reduce_axes(op, axes)?
            .iter()
            .map(|&a| self.shape()[a])
            .product())
    }

    /// Mean over `axes` (all when empty); NaN for an empty axis, as in PyTorch.
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        self.require_float("mean")?;
        let n = self.reduced_count("mean", axes)?;
        self.scaled_sum(1.0 / n as f64, axes, keepdim)
    }

    /// sum(x) * s. In f32 the scale goes inside (sum of x * s), where the
    /// planner fuses it into the reduction's load: one kernel, not a
    /// reduction and then a one-element multiply. f16 keeps it outside (a
    /// tiny scale would lose precision there), as does an empty sum (NaN).
    fn scaled_sum(&self, s: f64, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        if self.dtype() == crate::dtype::DType::F32 && s.is_finite() {
            self.mul(s)?.sum(axes, keepdim)
        } else {
            self.sum(axes, keepdim)?.mul(s)
        }
    }

    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean(&[], false)
    }

    /// Variance over `axes` with `correction` (1 = unbiased, PyTorch's default).
    pub fn var(&self, axes: &[isize], correction: usize, keepdim: bool) -> Result<Tensor> {
        self.require_float("var")?;
        let n = self.reduced_count("var", axes)?;
        let centred = self.sub(&self.mean(axes, true)?)?;
        let denom = n as f64 - correction as f64;
        centred
            .square()?
            .scaled_sum(1.0 / denom.max(0.0), axes, keepdim)
    }
}
