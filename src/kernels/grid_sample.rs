//! Bilinear sampling (`shaders/grid_sample.wgsl`) of x (B, C, H, W) at grid
//! (B, Ho, Wo, 2) of (x, y) in [-1, 1], zeros outside, and both gradients:
//! the input's is a scatter-add (a compare-and-swap loop: WGSL has no float
//! atomics), the grid's a per-point loop over channels.
//!
//! The input gradient is non-deterministic by default: the float adds into a
//! pixel meet in the order the invocations race, so two runs can differ in
//! the last bits. Deterministic mode (`Device::set_deterministic`) groups the
//! samples by pixel and adds each pixel's in a fixed order instead.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::{
    Arg, Call, Desc, Kernel, Launch, grid, no_second_order, require_f32_rank, shader,
};
use crate::pipeline::{BindKind, KernelSource};
use crate::tensor::Tensor;

const WG: u32 = 256;

/// inputs [x, grid] -> (B, C, Ho, Wo).
pub(crate) struct GridSample {
    pub align_corners: bool,
}

/// inputs [grid, dy] -> dx (its shape is x's, given).
pub(crate) struct GridSampleGradInput {
    pub align_corners: bool,
    pub x_shape: [usize; 4],
}

/// inputs [x, grid, dy] -> dgrid (B, Ho, Wo, 2).
pub(crate) struct GridSampleGradGrid {
    pub align_corners: bool,
}

/// The pipeline for `entry`, specialised to the geometry of x and the grid,
/// with `inputs` storage bindings after the output.
fn source(
    entry: &'static str,
    x: &[usize],
    g: &[usize],
    align: bool,
    inputs: usize,
) -> KernelSource {
    let mut layout = vec![BindKind::ReadWrite];
    layout.extend(std::iter::repeat_n(BindKind::Read, inputs));
    laid_out(entry, x, g, align, layout)
}

/// `source` with the bindings given.
fn laid_out(
    entry: &'static str,
    x: &[usize],
    g: &[usize],
    align: bool,
    layout: Vec<BindKind>,
) -> KernelSource {
    let mut src = KernelSource::new("grid_sample", shader("grid_sample").into(), entry, layout);
    for (name, v) in [
        ("B", x[0]),
        ("C", x[1]),
        ("H", x[2]),
        ("W", x[3]),
        ("HO", g[1]),
        ("WO", g[2]),
        ("ALIGN", align as usize),
        ("WG", WG as usize),
    ] {
        src = src.with(name, v as f64);
    }
    src
}

fn groups(n: usize) -> [u32; 3] {
    grid((n as u64).div_ceil(WG as u64))
}

impl Kernel for GridSample {
    fn name(&self) -> &'static str {
        "grid_sample"
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.push(self.align_corners as u64);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        let (x, g) = (inputs[0], inputs[1]);
        require_f32_rank("grid_sample", &x, 4)?;
        if g.dtype != DType::F32
            || g.shape.len() != 4
            || g.shape[0] != x.shape[0]
            || g.shape[3] != 2
        {
            return Err(Error::ShapeMismatch {
                op: "grid_sample",
                lhs: x.shape.to_vec(),
                rhs: g.shape.to_vec(),
                detail: ": the grid must be f32 (B, Ho, Wo, 2) with the input's batch".into(),
            });
        }
        Ok((
            vec![x.shape[0], x.shape[1], g.shape[1], g.shape[2]],
            DType::F32,
        ))
    }

    fn launch(&self, c: &Call) -> Result<Vec<Launch>> {
        let (x, g) = (c.inputs[0].shape, c.inputs[1].shape);
        let src = source("grid_sample", x, g, self.align_corners, 2);
        let args = vec![Arg::Out, Arg::In(0), Arg::In(1)];
        Ok(vec![Launch::new(src, args, groups(c.out.numel()))])
    }

    fn backward(&self, src: &[Tensor], _: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, gr) = (&src[0], &src[1]);
        let a = self.align_corners;
        let dx = if x.requires_grad() {
            let s = x.shape();
            let k = GridSampleGradInput {
                align_corners: a,
                x_shape: [s[0], s[1], s[2], s[3]],
            };
            Some(Tensor::apply(k, &[gr, g])?)
        } else {
            None
        };
        let dgrid = if gr.requires_grad() {
            Some(Tensor::apply(
                GridSampleGradGrid { align_corners: a },
                &[x, gr, g],
            )?)
        } else {
            None
        };
        Ok(vec![dx, dgrid])
    }
}

impl Kernel for GridSampleGradInput {
    fn name(&self) -> &'static str {
        "grid_sample.grad_input"
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.push(self.align_corners as u64);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, _: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((self.x_shape.to_vec(), DType::F32))
    }

    /// Zero the input gradient, then scatter-add every sample's share into
    /// it (in arbitrary order; deterministic mode: `launch_sorted`). Binding
    /// 1 (x) is not read by these entries; the grid takes its place.
    fn launch(&self, c: &Call) -> Result<Vec<Launch>> {
        let (x, g, a) = (c.out.shape, c.inputs[0].shape, self.align_corners);
        if c.opts.deterministic {
            return Ok(launch_sorted(x, g, a));
        }
        let args = vec![Arg::Out, Arg::In(0), Arg::In(0), Arg::In(1)];
        Ok(vec![
            Launch::new(
                source("grid_sample_fill_zero", x, g, a, 3),
                args.clone(),
                groups(c.out.numel()),
            ),
            Launch::new(
                source("grid_sample_grad_input", x, g, a, 3),
                args,
                groups(c.inputs[1].numel()),
            ),
        ])
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}

/// Deterministic input gradient: the five bucket passes of buckets.wgsl
/// (sources: each point's four corners; targets: each image's pixels), then
/// `grid_sample_grad_input_sum`, each element of dx adding its samples in
/// ascending (point, corner) order. Bindings: dx, (x), grid, dy, scratch.
fn launch_sorted(x: &[usize], g: &[usize], a: bool) -> Vec<Launch> {
    use BindKind::{Read, ReadWrite, Unused};
    let (targets, sources) = (x[0] * x[2] * x[3], g[0] * g[1] * g[2] * 4);
    let bytes = 4 * (1 + 2 * targets + sources) as u64;
    let args = vec![
        Arg::Out,
        Arg::In(0),
        Arg::In(0),
        Arg::In(1),
        Arg::Scratch(0, bytes),
    ];
    let scratch_only = vec![Unused, Unused, Unused, Unused, ReadWrite];
    let by_grid = vec![Unused, Unused, Read, Unused, ReadWrite];
    let sum = vec![ReadWrite, Unused, Read, Read, ReadWrite];
    let passes = [
        ("bucket_zero", scratch_only.clone(), targets + 1),
        ("bucket_count", by_grid.clone(), sources),
        ("bucket_alloc", scratch_only.clone(), targets),
        ("bucket_fill", by_grid, sources),
        ("bucket_sort", scratch_only, targets),
        ("grid_sample_grad_input_sum", sum, x.iter().product()),
    ];
    passes
        .into_iter()
        .map(|(entry, layout, n)| {
            Launch::new(laid_out(entry, x, g, a, layout), args.clone(), groups(n))
        })
        .collect()
}

impl Kernel for GridSampleGradGrid {
    fn name(&self) -> &'static str {
        "grid_sample.grad_grid"
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.push(self.align_corners as u64);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((inputs[1].shape.to_vec(), DType::F32))
    }

    fn launch(&self, c: &Call) -> Result<Vec<Launch>> {
        let (x, g) = (c.inputs[0].shape, c.inputs[1].shape);
        let src = source("grid_sample_grad_grid", x, g, self.align_corners, 3);
        let args = vec![Arg::Out, Arg::In(0), Arg::In(1), Arg::In(2)];
        Ok(vec![Launch::new(src, args, groups(g[0] * g[1] * g[2]))])
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}
