//! Indexing: gather (torch.gather), index_select and one_hot. An index out of
//! range cannot be seen when the op is recorded; the kernel flags it and the next
//! readback returns `Error::IndexOutOfRange`.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Op;
use crate::shape::normalize_axis;
use crate::tensor::Tensor;

impl Tensor {
    fn require_index(&self, op: &'static str) -> Result<()> {
        if self.dtype().is_int() {
            Ok(())
        } else {
            Err(Error::UnsupportedDType {
                op,
                dtype: self.dtype(),
                reason: "indices must be i32 or u32",
            })
        }
    }

    /// out[i][j][k] = self[i][index[i][j][k]][k] for axis 1 (and so on), like
    /// torch.gather: `index` has the output's rank, and each of its non-`axis`
    /// dims must not exceed self's.
    ///
    /// The gradient is a scatter-add, non-deterministic by default where the
    /// index repeats: the float adds into one element meet in arbitrary order,
    /// so two runs can differ in the last bits. `Device::set_deterministic`
    /// makes it add them in a fixed order.
    pub fn gather(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        self.same_device("gather", &[index])?;
        index.require_index("gather")?;
        let ax = normalize_axis("gather", axis, self.rank())?;
        let fits = index.rank() == self.rank()
            && (0..self.rank()).all(|i| i == ax || index.shape()[i] <= self.shape()[i]);
        if !fits {
            return Err(Error::ShapeMismatch {
                op: "gather",
                lhs: self.shape().to_vec(),
                rhs: index.shape().to_vec(),
                detail: format!(
                    ": the index must have rank {} and fit outside axis {ax}",
                    self.rank()
                ),
            });
        }
        Tensor::check_size(self.device(), "gather", index.shape(), self.dtype())?;
        Ok(Tensor::record(
            self.device(),
            index.shape().to_vec(),
            self.dtype(),
            Op::Gather { axis: ax },
            vec![self.clone(), index.clone()],
        ))
    }

    /// Zeros of `shape` with `values` added at `index` along `axis` (the gradient
    /// of gather; several values landing on one element add up, in arbitrary
    /// order unless the device is in deterministic mode).
    pub(crate) fn scatter_add_zeros(
        shape: &[usize],
        axis: usize,
        index: &Tensor,
        values: &Tensor,
    ) -> Result<Tensor> {
        if values.dtype() != DType::F32 {
            return Err(Error::UnsupportedDType {
                op: "gather backward",
                dtype: values.dtype(),
                reason: "scatter-add accumulates with 32-bit atomics",
            });
        }
        Ok(Tensor::record(
            values.device(),
            shape.to_vec(),
            DType::F32,
            Op::ScatterAdd { axis },
            vec![index.clone(), values.clone()],
        ))
    }

    /// Picks the entries `index` (1-D) along `axis`, like torch.index_select;
    /// `index_select(0, ids)` is an embedding lookup. Its gradient is gather's
    /// scatter-add: non-deterministic for repeated ids unless the device is in
    /// deterministic mode.
    pub fn index_select(&self, axis: isize, index: &Tensor) -> Result<Tensor> {
        self.same_device("index_select", &[index])?;
        index.require_index("index_select")?;
        let ax = normalize_axis("index_select", axis, self.rank())?;
        if index.rank() != 1 {
            return Err(Error::ShapeMismatch {
                op: "index_select",
                lhs: self.shape().to_vec(),
                rhs: index.shape().to_vec(),
                detail: ": the index must be 1-D".into(),
            });
        }
        let mut idx_shape = vec![1; self.rank()];
        idx_shape[ax] = index.numel();
        let mut out_shape = self.shape().to_vec();
        out_shape[ax] = index.numel();
        // The index is broadcast, not copied: the gather kernel reads it strided.
        let idx = index.reshape(&idx_shape)?.broadcast_to(&out_shape)?;
        self.gather(ax as isize, &idx)
    }

    /// A float tensor with one more axis of `classes`: 1 where the class is the
    /// index, 0 elsewhere. An index outside [0, classes) gives an all-zero row and
    /// makes the next readback fail with `IndexOutOfRange`.
    pub fn one_hot(&self, classes: usize) -> Result<Tensor> {
        self.require_index("one_hot")?;
        let range = Tensor::arange(self.device(), 0.0, classes as f64, 1.0, self.dtype())?;
        self.check_index(classes)?
            .unsqueeze(-1)?
            .eq(&range)?
            .cast(DType::F32)
    }

    /// The same indices, checked on the GPU to lie in [0, limit).
    pub(crate) fn check_index(&self, limit: usize) -> Result<Tensor> {
        self.require_index("check_index")?;
        Ok(Tensor::record(
            self.device(),
            self.shape().to_vec(),
            self.dtype(),
            Op::CheckIndex { limit },
            vec![self.clone()],
        ))
    }
}
