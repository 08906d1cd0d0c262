//! Sparse gradients of lookup tables (torch's `nn.Embedding(sparse=True)`).
//!
//! A table marked with `set_sparse_grad` takes its gradient as the rows its
//! lookups read and the gradient of each (an uncoalesced COO tensor with one
//! sparse dim, as torch's): `indices` [N] and `values` [N, d]. Backward never
//! records the dense [V, d] scatter-add for it, and the optimizer updates
//! those rows of the table in place (`UpdateRule::SparseSgd`, or
//! `SparseAdam` for a coalesced gradient), so a step's work and memory
//! follow the batch, not the vocabulary.

use std::sync::atomic::Ordering;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Op;
use crate::tensor::Tensor;

/// The gradient of a table as (rows read, their gradients). A row read
/// twice appears twice: the update adds both. A lookup of ids given on the
/// host (`Embedding::lookup_ids`) reads each row once, so its gradient comes
/// coalesced (torch's `coalesce()`): `distinct` distinct rows first, then
/// padding rows of zero gradient that keep the length, and so the plan, the
/// same from step to step.
#[derive(Clone)]
pub struct SparseGrad {
    indices: Tensor,
    values: Tensor,
    distinct: Option<usize>,
}

impl SparseGrad {
    /// Row ids, i32 or u32, [N].
    pub fn indices(&self) -> &Tensor {
        &self.indices
    }

    /// The gradient of each row read, [N, d].
    pub fn values(&self) -> &Tensor {
        &self.values
    }

    /// For a coalesced gradient, how many leading rows are distinct (the
    /// rest are padding with zero gradient); `None` when rows may repeat.
    pub fn distinct_rows(&self) -> Option<usize> {
        self.distinct
    }

    /// The dense gradient of a table of `rows` rows (torch's `to_dense`), for
    /// inspection and tests: a scatter-add of the values.
    pub fn to_dense(&self, rows: usize) -> Result<Tensor> {
        let _guard = crate::autodiff::no_grad();
        let d = self.values.shape()[1];
        let idx = self
            .indices
            .reshape(&[self.indices.numel(), 1])?
            .broadcast_to(self.values.shape())?;
        Tensor::scatter_add_zeros(&[rows, d], 0, &idx, &self.values)
    }

    /// Both gradients' rows: torch's sum of uncoalesced sparse tensors.
    fn join(&self, other: &SparseGrad) -> Result<SparseGrad> {
        Ok(SparseGrad {
            indices: Tensor::cat(&[&self.indices, &other.indices], 0)?,
            values: Tensor::cat(&[&self.values, &other.values], 0)?,
            distinct: None,
        })
    }
}

impl Tensor {
    /// Keeps this table's gradient sparse (see [`SparseGrad`]): a realized 2-D
    /// f32 leaf that requires gradients, read only through row lookups
    /// (`index_select(0, ids)`, `nn::Embedding`).
    pub fn set_sparse_grad(&self, on: bool) -> Result<()> {
        if self.rank() != 2 || self.dtype() != DType::F32 || !self.requires_grad() {
            return Err(Error::InvalidArgument {
                op: "set_sparse_grad",
                shape: self.shape().to_vec(),
                msg: "a sparse gradient is for a 2-D f32 table that requires gradients".into(),
            });
        }
        self.0.sparse.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// True for a table whose gradient is kept sparse.
    pub fn has_sparse_grad(&self) -> bool {
        self.0.sparse.load(Ordering::Relaxed)
    }

    /// The sparse gradient `backward` accumulated, if any (lazy until realized).
    pub fn sparse_grad(&self) -> Option<SparseGrad> {
        self.0
            .rows_grad
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks this index tensor (1-D) as `distinct` distinct rows followed
    /// by padding that no output reads, so that the gradient of a lookup
    /// with it is coalesced.
    pub(crate) fn mark_distinct_rows(&self, distinct: usize) {
        self.0.distinct_rows.store(distinct, Ordering::Relaxed);
    }

    /// What `mark_distinct_rows` said of the tensor under this view chain,
    /// if the views read it whole (`len` ids), as a lookup's index does.
    fn distinct_rows(&self, len: usize) -> Option<usize> {
        let mut t = self.clone();
        loop {
            let next = {
                let s = t.0.state();
                match (&s.op, s.src.first()) {
                    (Some(Op::View(_)), Some(src)) => src.clone(),
                    _ => break,
                }
            };
            t = next;
        }
        let n = t.0.distinct_rows.load(Ordering::Relaxed);
        (n != usize::MAX && t.numel() == len).then_some(n)
    }

    pub(crate) fn zero_sparse_grad(&self) {
        self.0
            .rows_grad
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// When `op` is a row lookup of a sparse table (`src[0]`), the table's
/// gradient contribution as rows: the gather's index broadcast along the
/// row (what `index_select` records) gives the row ids, and `g` is each
/// row's gradient. `None` for every other op.
pub(crate) fn row_lookup(op: &Op, src: &[Tensor], g: &Tensor) -> Result<Option<SparseGrad>> {
    let Op::Gather { axis } = op else {
        return Ok(None);
    };
    let (table, index) = (&src[0], &src[1]);
    if !table.has_sparse_grad() {
        return Ok(None);
    }
    let rows_read = {
        let s = index.0.state();
        match &s.op {
            Some(Op::View(v)) => v.shape.len() == 2 && (v.shape[1] == 1 || v.strides[1] == 0),
            _ => index.shape().get(1) == Some(&1),
        }
    };
    if *axis != 0 || !rows_read {
        return Err(Error::InvalidArgument {
            op: "backward",
            shape: table.shape().to_vec(),
            msg: format!(
                "a table with a sparse gradient is read only by row lookups \
                 (index_select along axis 0); this gather reads it along axis {axis} \
                 with an index of shape {:?}",
                index.shape()
            ),
        });
    }
    let n = index.shape()[0];
    Ok(Some(SparseGrad {
        indices: index.narrow(1, 0, 1)?.reshape(&[n])?,
        values: g.clone(),
        distinct: index.distinct_rows(n),
    }))
}

/// Adds `part` to the table's sparse gradient; the tensors to realize with
/// the next step.
pub(crate) fn accumulate(table: &Tensor, part: SparseGrad) -> Result<Vec<Tensor>> {
    let mut slot = table.0.rows_grad.lock().unwrap_or_else(|e| e.into_inner());
    let total = match slot.take() {
        Some(old) => old.join(&part)?,
        None => part,
    };
    let out = vec![total.indices.clone(), total.values.clone()];
    *slot = Some(total);
    Ok(out)
}

/// The error for a dense gradient reaching a sparse table.
pub(crate) fn dense_into_sparse(table: &Tensor) -> Error {
    Error::InvalidArgument {
        op: "backward",
        shape: table.shape().to_vec(),
        msg: "a table with a sparse gradient is read only by row lookups \
              (index_select along axis 0); another op used it too"
            .into(),
    }
}
