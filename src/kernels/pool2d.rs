//! Max and average pooling over KH x KW windows, and their gradient
//! (`shaders/pool2d.wgsl`). The gradient is computed from the input's side
//! (each dx element visits the windows that cover it; max pooling recomputes
//! the argmax from x), so it needs no atomics.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::conv2d::out_size;
use crate::kernels::{
    Arg, Call, Desc, Kernel, Launch, grid, no_second_order, per_invocation, require_f32_rank,
    shader,
};
use crate::pipeline::{BindKind, KernelSource};
use crate::tensor::Tensor;

const WG: u32 = 256;

/// Geometry and kind of a 2-D pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolParams {
    /// Max (true) or average, counting padding in the divisor as PyTorch does.
    pub max: bool,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

impl PoolParams {
    fn key(&self, key: &mut Vec<u64>) {
        key.push(self.max as u64);
        let words = self.kernel.iter().chain(&self.stride).chain(&self.padding);
        key.extend(words.map(|&v| v as u64));
    }

    fn op(&self) -> &'static str {
        if self.max { "max_pool2d" } else { "avg_pool2d" }
    }
}

/// Pooling of x (B, C, H, W).
pub(crate) struct Pool2d(pub PoolParams);

/// Its gradient: inputs [x, dy] -> dx.
pub(crate) struct Pool2dGrad(pub PoolParams);

/// The one launch of `entry` for input x and output-of-pooling y; the
/// forward binds x twice (dy unused): one layout for both entries.
fn launch(
    p: &PoolParams,
    entry: &'static str,
    x: &[usize],
    y: &[usize],
    numel: usize,
    cpu: bool,
) -> Launch {
    let per = per_invocation(numel, WG, cpu);
    let layout = vec![BindKind::ReadWrite, BindKind::Read, BindKind::Read];
    let mut src = KernelSource::new("pool2d", shader("pool2d").into(), entry, layout);
    for (name, v) in [
        ("MAX", p.max as usize),
        ("H", x[2]),
        ("W", x[3]),
        ("HO", y[2]),
        ("WO", y[3]),
        ("KH", p.kernel[0]),
        ("KW", p.kernel[1]),
        ("SH", p.stride[0]),
        ("SW", p.stride[1]),
        ("PH", p.padding[0]),
        ("PW", p.padding[1]),
        ("NUMEL", numel),
        ("WG", WG as usize),
        ("PER", per as usize),
    ] {
        src = src.with(name, v as f64);
    }
    let third = if entry == "pool2d" { 0 } else { 1 };
    let groups = grid((numel as u64).div_ceil(WG as u64 * per as u64));
    Launch::new(src, vec![Arg::Out, Arg::In(0), Arg::In(third)], groups)
}

impl Kernel for Pool2d {
    fn name(&self) -> &'static str {
        self.0.op()
    }

    fn key(&self, key: &mut Vec<u64>) {
        self.0.key(key);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        let (op, p, x) = (self.0.op(), &self.0, inputs[0].shape);
        require_f32_rank(op, &inputs[0], 4)?;
        let invalid = |msg: String| Error::InvalidArgument {
            op,
            shape: x.to_vec(),
            msg,
        };
        if p.kernel.contains(&0)
            || p.stride.contains(&0)
            || p.padding[0] * 2 > p.kernel[0]
            || p.padding[1] * 2 > p.kernel[1]
        {
            return Err(invalid(format!(
                "kernel {:?}, stride {:?}: positive, with padding at most half the kernel ({:?})",
                p.kernel, p.stride, p.padding
            )));
        }
        let ho = out_size(x[2], p.kernel[0], p.stride[0], p.padding[0], 1);
        let wo = out_size(x[3], p.kernel[1], p.stride[1], p.padding[1], 1);
        let (Some(ho), Some(wo)) = (ho, wo) else {
            return Err(invalid(format!(
                "the window {:?} is larger than the padded input",
                p.kernel
            )));
        };
        Ok((vec![x[0], x[1], ho, wo], DType::F32))
    }

    fn launch(&self, c: &Call) -> Result<Vec<Launch>> {
        let (x, y) = (c.inputs[0].shape, c.out.shape);
        Ok(vec![launch(
            &self.0,
            "pool2d",
            x,
            y,
            c.out.numel(),
            c.opts.cpu,
        )])
    }

    fn backward(&self, src: &[Tensor], _: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(Tensor::apply(
            Pool2dGrad(self.0),
            &[&src[0], g],
        )?)])
    }
}

impl Kernel for Pool2dGrad {
    fn name(&self) -> &'static str {
        if self.0.max {
            "max_pool2d.grad"
        } else {
            "avg_pool2d.grad"
        }
    }

    fn key(&self, key: &mut Vec<u64>) {
        self.0.key(key);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((inputs[0].shape.to_vec(), DType::F32))
    }

    fn launch(&self, c: &Call) -> Result<Vec<Launch>> {
        let (x, y) = (c.out.shape, c.inputs[1].shape);
        Ok(vec![launch(
            &self.0,
            "pool2d_backward",
            x,
            y,
            c.out.numel(),
            c.opts.cpu,
        )])
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}
