//! Row softmax and log-softmax over the last axis (`shaders/softmax.wgsl`).
//! The form is chosen at launch: a subgroup per row where the adapter has
//! fixed-width subgroups (software adapters: a row per invocation makes every
//! store a scatter there); else a row per invocation for many rows or short
//! ones, a workgroup per row for few long rows. The backward is composed
//! (p * (dy - sum(dy * p)), two fused kernels).

use crate::dtype::DType;
use crate::error::Result;
use crate::kernels::{Arg, Call, Desc, Kernel, Launch, grid, shader, subgroup_rows, with_prelude};
use crate::pipeline::{BindKind, KernelSource};
use crate::tensor::Tensor;

const WG: u32 = 64;

/// softmax (or, with `log`, log-softmax) of each row of the input.
pub(crate) struct Softmax {
    pub log: bool,
}

impl Kernel for Softmax {
    fn name(&self) -> &'static str {
        if self.log { "log_softmax" } else { "softmax" }
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.push(self.log as u64);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((inputs[0].shape.to_vec(), inputs[0].dtype))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        let out = call.out;
        let cols = *out.shape.last().unwrap_or(&1);
        let rows = out.numel() / cols.max(1);
        let lanes = call.opts.lanes;
        let entry = if lanes > 0 {
            "softmax_lanes"
        } else if rows >= 1024 || cols < 128 {
            "softmax_rows"
        } else {
            "softmax_cols"
        };
        let layout = vec![BindKind::ReadWrite, BindKind::Read, BindKind::Uniform];
        let src = KernelSource::new(
            "softmax",
            with_prelude(shader("softmax"), out.dtype),
            entry,
            layout,
        )
        .with("LOG", if self.log { 1.0 } else { 0.0 })
        .with("WG", WG as f64);
        let (src, groups) = match entry {
            "softmax_lanes" => subgroup_rows(src, rows, lanes),
            "softmax_rows" => (src, (rows as u64).div_ceil(WG as u64)),
            _ => (src, rows as u64),
        };
        let args = vec![Arg::Out, Arg::In(0), Arg::Meta];
        Ok(vec![
            Launch::new(src, args, grid(groups)).meta(vec![rows as u32, cols as u32]),
        ])
    }

    fn backward(&self, _: &[Tensor], y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let dx = if self.log {
            g.sub(&y.exp()?.mul(&g.sum(&[-1], true)?)?)?
        } else {
            y.mul(&g.sub(&g.mul(y)?.sum(&[-1], true)?)?)?
        };
        Ok(vec![Some(dx)])
    }
}
