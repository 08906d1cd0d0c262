//! sort, argsort and topk along one axis, composed from comparisons and
//! integer sums: an element's place is the number of elements that come
//! before it (every pair compared inside one fused reduction, the n x n
//! comparisons never stored), and the indices are read back out of the places
//! by a second such count. That is O(n^2) work per row of n, fine for the rows
//! a model sorts (a top k over a few thousand scores); a row whose n x n
//! comparisons pass a u32 index is counted in slices, and one past what a
//! lazy tensor may hold (n over about a million) is a typed error. Stable; NaN sorts as the largest, as in
//! PyTorch. The values are a gather, so their gradient is the gather's.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::normalize_axis;
use crate::tensor::Tensor;

impl Tensor {
    /// The indices (i32) that sort `self` along `axis` (torch.argsort with
    /// stable=True): ties keep their order, NaN is the largest.
    pub fn argsort(&self, axis: isize, descending: bool) -> Result<Tensor> {
        self.require_not_bool("argsort")?;
        let ax = normalize_axis("argsort", axis, self.rank())?;
        let last = self.rank() as isize - 1;
        let x = self.transpose(ax as isize, last)?;
        let n = x.shape()[x.rank() - 1];
        let i = Tensor::arange(self.device(), 0.0, n as f64, 1.0, DType::I32)?;
        let places = x.places(&i, descending)?;
        // index[p] = the i whose place is p: sum over i of i * (place_i == p).
        let p = i.unsqueeze(-1)?;
        let hit = places.unsqueeze(-2)?.eq(&p)?;
        let index = hit.select(&i, 0.0)?.sum(&[-1], false)?;
        index.transpose(ax as isize, last)
    }

    /// Each element's place in its row (the last axis, numbered by `idx`)
    /// once sorted.
    fn places(&self, idx: &Tensor, descending: bool) -> Result<Tensor> {
        let xi = self.unsqueeze(-1)?;
        let xj = self.unsqueeze(-2)?;
        // Whether element j comes before element i: ahead of it, or tied
        // with it and earlier.
        let ahead = if descending {
            xj.comes_after(&xi)?
        } else {
            xi.comes_after(&xj)?
        };
        let tied = if self.dtype().is_float() {
            xj.eq(&xi)?
                .logical_or(&xj.isnan()?.logical_and(&xi.isnan()?)?)?
        } else {
            xj.eq(&xi)?
        };
        let earlier = idx.lt(&idx.unsqueeze(-1)?)?;
        let before = ahead.logical_or(&tied.logical_and(&earlier)?)?;
        before.cast(DType::I32)?.sum(&[-1], false)
    }

    /// self > other with NaN the largest (and two NaN not ordered).
    fn comes_after(&self, other: &Tensor) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return self.gt(other);
        }
        let nan_here = self.isnan()?.logical_and(&other.isnan()?.logical_not()?)?;
        self.gt(other)?.logical_or(&nan_here)
    }

    /// The sorted values and their indices along `axis` (torch.sort, stable).
    pub fn sort(&self, axis: isize, descending: bool) -> Result<(Tensor, Tensor)> {
        let index = self.argsort(axis, descending)?;
        Ok((self.gather(axis, &index)?, index))
    }

    /// The `k` largest (or smallest) values along `axis` and their indices,
    /// in order (torch.topk with sorted=True).
    pub fn topk(&self, k: usize, axis: isize, largest: bool) -> Result<(Tensor, Tensor)> {
        let ax = normalize_axis("topk", axis, self.rank())?;
        let n = self.shape()[ax];
        if k > n {
            return Err(Error::InvalidArgument {
                op: "topk",
                shape: self.shape().to_vec(),
                msg: format!("k = {k} is more than axis {ax}'s {n} elements"),
            });
        }
        let index = self.argsort(axis, largest)?.narrow(axis, 0, k)?;
        Ok((self.gather(axis, &index)?, index))
    }
}
