//! Constant padding, torch.nn.functional.pad's "constant" mode: a crop (a
//! slice, for negative amounts) and a concat with broadcast constants. Both
//! are primitives the fuser inlines, so a padded tensor is computed by the
//! kernel that reads it, and the gradient is theirs: the slice of the output's
//! gradient that the input's elements became, zeros where they were cropped.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

impl Tensor {
    /// `value` added before and after the trailing axes, in F.pad's order:
    /// `pads[0]` is (before, after) for the last axis, `pads[1]` for the one
    /// before it, and so on. A negative amount crops that many elements from
    /// that side, as in PyTorch; cropping more than an axis holds is an error,
    /// as are more pairs than axes. Cropping a whole axis away leaves an empty
    /// axis (padded, the value alone, which carries no gradient back, where
    /// PyTorch's gives zeros). Only constant padding: PyTorch's reflect,
    /// replicate and circular modes are not here.
    pub fn pad(&self, pads: &[(isize, isize)], value: f64) -> Result<Tensor> {
        let bad = |msg: String| Error::InvalidArgument {
            op: "pad",
            shape: self.shape().to_vec(),
            msg,
        };
        if pads.len() > self.rank() {
            return Err(bad(format!(
                "{} (before, after) pairs for {} axes",
                pads.len(),
                self.rank()
            )));
        }
        let mut out = self.clone();
        for (i, &(before, after)) in pads.iter().enumerate() {
            let ax = self.rank() - 1 - i;
            let dim = self.shape()[ax];
            let (crop_lo, crop_hi) = (before.min(0).unsigned_abs(), after.min(0).unsigned_abs());
            if crop_lo.saturating_add(crop_hi) > dim {
                return Err(bad(format!(
                    "padding ({before}, {after}) crops more than the {dim} elements of axis {ax}"
                )));
            }
            if crop_lo + crop_hi > 0 {
                out = out.slice(ax as isize, crop_lo, dim - crop_hi, 1)?;
            }
            out = out.pad_axis(ax, before.max(0) as usize, after.max(0) as usize, value)?;
        }
        Ok(out)
    }

    /// `before` and `after` copies of `value` on either side of `axis`.
    fn pad_axis(&self, axis: usize, before: usize, after: usize, value: f64) -> Result<Tensor> {
        if before == 0 && after == 0 {
            return Ok(self.clone());
        }
        let block = |len: usize| {
            let mut shape = self.shape().to_vec();
            shape[axis] = len;
            Tensor::full(self.device(), &shape, value, self.dtype())
        };
        let (lo, hi) = (block(before)?, block(after)?);
        let mut parts = Vec::with_capacity(3);
        if before > 0 {
            parts.push(&lo);
        }
        parts.push(self);
        if after > 0 {
            parts.push(&hi);
        }
        Tensor::cat(&parts, axis as isize)
    }
}
