//! Inclusive prefix sums along the last axis (`shaders/cumsum.wgsl`): a row
//! per invocation for many rows or short ones, a workgroup per row for few
//! long rows (chosen at launch). The gradient of a cumulative sum is the
//! reversed one (dx_i = sum_{j >= i} dy_j): the same kernel scanning the
//! other way.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::{Arg, Call, Desc, Kernel, Launch, grid, shader, with_prelude};
use crate::pipeline::{BindKind, KernelSource};
use crate::tensor::Tensor;

const WG: u32 = 64;

/// Prefix sums of each row (suffix sums with `reverse`).
pub(crate) struct Cumsum {
    pub reverse: bool,
}

impl Kernel for Cumsum {
    fn name(&self) -> &'static str {
        if self.reverse {
            "cumsum.grad"
        } else {
            "cumsum"
        }
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.push(self.reverse as u64);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        let x = inputs[0];
        if !matches!(x.dtype, DType::F32 | DType::I32) {
            return Err(Error::UnsupportedDType {
                op: "cumsum",
                dtype: x.dtype,
                reason: "f32 or i32 (cast first)",
            });
        }
        Ok((x.shape.to_vec(), x.dtype))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        let out = call.out;
        let cols = *out.shape.last().unwrap_or(&1);
        let rows = out.numel() / cols.max(1);
        // Few long rows: a workgroup each, else a row per invocation.
        let per_row = rows < 256 && cols >= 4 * WG as usize;
        let entry = if per_row {
            "cumsum_cols"
        } else {
            "cumsum_rows"
        };
        let layout = vec![BindKind::ReadWrite, BindKind::Read, BindKind::Uniform];
        let mut src = KernelSource::new(
            "cumsum",
            with_prelude(shader("cumsum"), out.dtype),
            entry,
            layout,
        );
        for (name, v) in [("REVERSE", self.reverse as usize), ("WG", WG as usize)] {
            src = src.with(name, v as f64);
        }
        let groups = if per_row {
            rows as u64
        } else {
            (rows as u64).div_ceil(WG as u64)
        };
        Ok(vec![
            Launch::new(src, vec![Arg::Out, Arg::In(0), Arg::Meta], grid(groups))
                .meta(vec![rows as u32, cols as u32])
                .shape_overrides(&[("ROWS", rows), ("C", cols)]),
        ])
    }

    fn backward(&self, _: &[Tensor], _: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let reverse = Cumsum {
            reverse: !self.reverse,
        };
        Ok(vec![Some(Tensor::apply(reverse, &[g])?)])
    }
}
