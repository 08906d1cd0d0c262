//! Reductions over more elements than a kernel's 32-bit index reaches. The
//! input is cut along its outer axes into slices a kernel can index, each
//! slice is reduced by one kernel, and the partial results are combined.
//! Slicing a lazy elementwise expression slices its inputs instead, so the
//! 4.4e9 terms of `((a_i - b_j)^2).mean_all()` over a 66k x 66k broadcast
//! never exist as one tensor, and every index a kernel computes fits in u32.

use crate::error::{Error, Result};
use crate::graph::{Op, ReduceOp};
use crate::shape::numel;
use crate::tensor::Tensor;

/// The most elements one kernel indexes (its index and counts are u32).
pub(crate) const KERNEL_ELEMENTS: u64 = u32::MAX as u64;

/// The most elements a lazy tensor may have: 256 kernel-sized slices, so a
/// split reduction records a bounded graph (and runs in bounded time).
pub(crate) const LAZY_ELEMENTS: u64 = KERNEL_ELEMENTS * 256;

fn fits_kernel(t: &Tensor) -> bool {
    numel(t.shape()) as u64 <= KERNEL_ELEMENTS
}

pub(crate) fn too_many(op: &'static str, shape: &[usize]) -> Error {
    Error::TooManyElements {
        op,
        shape: shape.to_vec(),
        limit: KERNEL_ELEMENTS,
        reason: "the most a kernel's 32-bit index reaches",
    }
}

/// `t.narrow(axis, start, len)` recorded so that no node it creates has more
/// elements than a kernel indexes: a narrow of a lazy elementwise op is the op
/// over narrowed inputs (they all have its shape), down to views of buffers.
fn slice_lazy(
    op: &'static str,
    t: &Tensor,
    axis: usize,
    start: usize,
    len: usize,
) -> Result<Tensor> {
    if fits_kernel(t) {
        return t.narrow(axis as isize, start, len);
    }
    let pending = {
        let state = t.0.state();
        state.pending().map(|(o, s)| (o.clone(), s.to_vec()))
    };
    let mut shape = t.shape().to_vec();
    shape[axis] = len;
    match pending {
        // A view of something a kernel can index: the narrow folds into it.
        Some((Op::View(_), src)) if src.iter().all(fits_kernel) => {
            t.narrow(axis as isize, start, len)
        }
        Some((o @ (Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast), src)) => {
            let src = src
                .iter()
                .map(|s| slice_lazy(op, s, axis, start, len))
                .collect::<Result<Vec<_>>>()?;
            Ok(Tensor::record(t.device(), shape, t.dtype(), o, src))
        }
        Some((Op::Arange { start: a, step }, _)) => Ok(Tensor::record(
            t.device(),
            shape,
            t.dtype(),
            Op::Arange {
                start: a + step * start as f64,
                step,
            },
            vec![],
        )),
        _ => Err(too_many(op, t.shape())),
    }
}

/// The op that combines partial results of `op` (None: the partials of an
/// arg-reduction hold indices into their own slice, which do not combine).
fn combiner(op: ReduceOp) -> Option<ReduceOp> {
    match op {
        ReduceOp::Sum | ReduceOp::Max | ReduceOp::Min => Some(op),
        ReduceOp::ArgMax | ReduceOp::ArgMin => None,
    }
}

impl Tensor {
    /// `self` reduced by `op` over `axes` with keepdim, in slices along the
    /// outermost axis longer than 1 (a slice still too big splits again).
    pub(crate) fn split_reduce(
        &self,
        op: ReduceOp,
        name: &'static str,
        axes: &[usize],
    ) -> Result<Tensor> {
        let shape = self.shape();
        let Some(d) = shape.iter().position(|&n| n > 1) else {
            return Err(too_many(name, shape));
        };
        let reduced = axes.contains(&d);
        let combine = match (reduced, combiner(op)) {
            (false, _) => None,
            (true, Some(c)) => Some(c),
            (true, None) => return Err(too_many(name, shape)),
        };
        let inner = numel(&shape[d + 1..]).max(1) as u64;
        let rows = (KERNEL_ELEMENTS / inner).max(1) as usize;
        let axes_i: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
        let mut parts = Vec::with_capacity(shape[d].div_ceil(rows));
        for start in (0..shape[d]).step_by(rows) {
            let len = rows.min(shape[d] - start);
            let piece = slice_lazy(name, self, d, start, len)?;
            parts.push(piece.reduce(op, name, &axes_i, true)?);
        }
        let joined = Tensor::cat(&parts.iter().collect::<Vec<_>>(), d as isize)?;
        match combine {
            Some(c) => joined.reduce(c, name, &[d as isize], true),
            None => Ok(joined),
        }
    }
}
