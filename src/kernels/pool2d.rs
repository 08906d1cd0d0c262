//! Max and average pooling with PyTorch's options (rectangular windows,
//! stride, padding, dilation, ceil_mode, count_include_pad), and their
//! gradient (`shaders/pool2d.wgsl`). The gradient is computed from the
//! input's side (each dx element visits the windows that cover it; max
//! pooling recomputes the argmax from x), so it needs no atomics.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::{
    Arg, Call, Desc, Kernel, Launch, grid, no_second_order, per_invocation, require_f32_rank,
    shader,
};
use crate::pipeline::{BindKind, KernelSource};
use crate::tensor::Tensor;

const WG: u32 = 256;

/// A 2-D pooling as torch.nn.functional.max_pool2d and avg_pool2d take it,
/// run by [`Tensor::pool2d`]. Start from [`PoolParams::max_pool`] or
/// [`PoolParams::avg_pool`] (PyTorch's defaults) and change what differs:
/// `PoolParams { padding: [1, 1], ..PoolParams::max_pool([3, 3]) }`.
/// Each pair is (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolParams {
    /// Max (true) or average pooling.
    pub max: bool,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Implicit padding on each side, at most half the kernel. It never wins
    /// a max; average pooling counts it when `count_include_pad`.
    pub padding: [usize; 2],
    /// The step between a window's taps. Max pooling only: average pooling
    /// needs 1, as in PyTorch.
    pub dilation: [usize; 2],
    /// Output sizes round up instead of down: a last, partial window is kept
    /// when it starts inside the input or its left padding.
    pub ceil_mode: bool,
    /// Average pooling divides by the window's positions inside the padded
    /// input (true, PyTorch's default) or by its input elements only. Max
    /// pooling ignores it.
    pub count_include_pad: bool,
}

impl PoolParams {
    /// Max pooling over `kernel` windows with PyTorch's defaults: stride the
    /// kernel, no padding, dilation 1, output sizes rounded down.
    pub fn max_pool(kernel: [usize; 2]) -> PoolParams {
        PoolParams {
            max: true,
            kernel,
            stride: kernel,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: true,
        }
    }

    /// Average pooling over `kernel` windows with PyTorch's defaults (as
    /// `max_pool`, padding counted in the divisor).
    pub fn avg_pool(kernel: [usize; 2]) -> PoolParams {
        PoolParams {
            max: false,
            ..PoolParams::max_pool(kernel)
        }
    }

    /// The same pooling with the option that does not apply to it at its
    /// default, so equal poolings share one plan and one pipeline.
    pub(crate) fn normalised(self) -> PoolParams {
        PoolParams {
            count_include_pad: self.count_include_pad || self.max,
            ..self
        }
    }

    fn key(&self, key: &mut Vec<u64>) {
        let flags = [self.max, self.ceil_mode, self.count_include_pad];
        key.extend(flags.map(|f| f as u64));
        let pairs = [self.kernel, self.stride, self.padding, self.dilation];
        key.extend(pairs.iter().flatten().map(|&v| v as u64));
    }

    fn op(&self) -> &'static str {
        if self.max { "max_pool2d" } else { "avg_pool2d" }
    }

    /// Output size along `axis` of an input `n` long, by PyTorch's rule
    /// (ceil_mode drops a last window that would start in the right
    /// padding); None when no window fits.
    fn out(&self, axis: usize, n: usize) -> Option<usize> {
        let (k, s) = (self.kernel[axis], self.stride[axis]);
        let (p, d) = (self.padding[axis], self.dilation[axis]);
        let round_up = if self.ceil_mode { s - 1 } else { 0 };
        let out = (n + 2 * p + round_up).checked_sub(d * (k - 1) + 1)? / s + 1;
        let late = self.ceil_mode && (out - 1) * s >= n + p;
        Some(out - late as usize).filter(|&o| o > 0)
    }

    /// Whether the last of `out` windows along `axis` of an input `n` long
    /// passes the padded input's far edge (only ceil_mode makes one), so a
    /// mean counting padding has a smaller divisor there.
    fn overhangs(&self, axis: usize, n: usize, out: usize) -> bool {
        let (k, s, p) = (self.kernel[axis], self.stride[axis], self.padding[axis]);
        (out - 1) * s + k > n + 2 * p
    }

    /// The record-time checks PyTorch makes, and the output's (Ho, Wo).
    fn output_size(&self, x: &[usize]) -> Result<[usize; 2]> {
        let invalid = |msg: String| Error::InvalidArgument {
            op: self.op(),
            shape: x.to_vec(),
            msg,
        };
        let (k, s, p, d) = (self.kernel, self.stride, self.padding, self.dilation);
        if k.contains(&0) || s.contains(&0) || d.contains(&0) {
            return Err(invalid(format!(
                "kernel {k:?}, stride {s:?} and dilation {d:?} must be positive"
            )));
        }
        if p[0] > k[0] / 2 || p[1] > k[1] / 2 {
            return Err(invalid(format!(
                "padding {p:?} must be at most half the kernel {k:?}"
            )));
        }
        if !self.max && d != [1, 1] {
            return Err(invalid(format!(
                "average pooling has no dilation (got {d:?}), as in PyTorch"
            )));
        }
        match (self.out(0, x[2]), self.out(1, x[3])) {
            (Some(ho), Some(wo)) => Ok([ho, wo]),
            _ => Err(invalid(format!(
                "the output is empty: kernel {k:?} with dilation {d:?} does not fit the \
                 input padded by {p:?}"
            ))),
        }
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
    // Every window's divisor is KH * KW unless the mean skips padding or a
    // window passes the padded input: the common case keeps a constant.
    let overhangs = p.overhangs(0, x[2], y[2]) || p.overhangs(1, x[3], y[3]);
    let fixed = p.max || (p.count_include_pad && !overhangs);
    for (name, v) in [
        ("MAX", p.max as usize),
        ("FIXED_DIVISOR", fixed as usize),
        ("COUNT_PAD", p.count_include_pad as usize),
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
        ("DH", p.dilation[0]),
        ("DW", p.dilation[1]),
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
        require_f32_rank(self.0.op(), &inputs[0], 4)?;
        let x = inputs[0].shape;
        let [ho, wo] = self.0.output_size(x)?;
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
