//! 2-D convolution and both of its gradients as implicit GEMM
//! (`shaders/conv2d.wgsl`): which version, which GEMM mode, and the geometry
//! as override constants (one pipeline per layer shape). The version and the
//! weight gradient's split into partial sums are chosen at launch.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::{
    Arg, Call, Desc, Kernel, Launch, dispatch_limit, grid, no_second_order, require_f32_rank,
    shader,
};
use crate::pipeline::{BindKind, KernelSource};
use crate::tensor::Tensor;
use crate::tuning::{ConvVariant, PlanOptions};

/// Geometry of a 2-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for ConvParams {
    fn default() -> Self {
        ConvParams {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

impl ConvParams {
    fn key(&self, key: &mut Vec<u64>) {
        let words = self
            .stride
            .iter()
            .chain(&self.padding)
            .chain(&self.dilation);
        key.extend(
            words
                .chain(std::iter::once(&self.groups))
                .map(|&v| v as u64),
        );
    }
}

impl ConvVariant {
    /// The version this device runs for GEMM-shaped convolutions now.
    pub fn choose(device: &Device) -> ConvVariant {
        choose(&device.plan_options())
    }
}

fn choose(opts: &PlanOptions) -> ConvVariant {
    match opts.tuning.conv {
        Some(ConvVariant::Lanes) if opts.lanes == 0 => ConvVariant::Tiled,
        Some(v) => v,
        None if opts.cpu && opts.lanes > 0 => ConvVariant::Lanes,
        None => ConvVariant::Tiled,
    }
}

/// y = conv2d(x, w): inputs [x (B, Cin, H, W), w (Cout, Cin/g, KH, KW)], NCHW.
pub(crate) struct Conv2d(pub ConvParams);

/// The input gradient: inputs [dy, w] -> dx (its shape is x's, given).
pub(crate) struct Conv2dGradInput {
    pub params: ConvParams,
    pub x_shape: [usize; 4],
}

/// The weight gradient: inputs [dy, x] -> dw (its shape is w's, given).
pub(crate) struct Conv2dGradWeight {
    pub params: ConvParams,
    pub w_shape: [usize; 4],
}

/// Output size of a convolution along one axis, as the notes give it:
/// (H - D(K-1) - 1 + 2P) / S + 1, or None when the kernel does not fit.
pub(crate) fn out_size(h: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let span = d * (k - 1) + 1;
    (h + 2 * p).checked_sub(span).map(|r| r / s + 1)
}

/// Partial sums for a weight gradient: about one per 2048 terms of its long
/// reduction, so the GEMM has enough workgroups.
fn weight_grad_splits(b: usize, ho: usize, wo: usize) -> usize {
    (b * ho * wo / 2048).clamp(1, 64)
}

/// The forward's shape checks and output shape.
fn forward_shape(p: &ConvParams, x: &[usize], w: &[usize]) -> Result<Vec<usize>> {
    let bad = |msg: String| Error::ShapeMismatch {
        op: "conv2d",
        lhs: x.to_vec(),
        rhs: w.to_vec(),
        detail: format!(": {msg}"),
    };
    if p.groups == 0 || !x[1].is_multiple_of(p.groups) || !w[0].is_multiple_of(p.groups) {
        return Err(bad(format!(
            "{} input and {} output channels are not divisible by {} groups",
            x[1], w[0], p.groups
        )));
    }
    if w[1] != x[1] / p.groups {
        return Err(bad(format!(
            "weights expect {} input channels per group, input gives {}",
            w[1],
            x[1] / p.groups
        )));
    }
    if p.stride.contains(&0) || p.dilation.contains(&0) || w[2] == 0 || w[3] == 0 {
        return Err(bad(
            "stride, dilation and kernel size must be positive".into()
        ));
    }
    let ho = out_size(x[2], w[2], p.stride[0], p.padding[0], p.dilation[0]);
    let wo = out_size(x[3], w[3], p.stride[1], p.padding[1], p.dilation[1]);
    let (Some(ho), Some(wo)) = (ho, wo) else {
        return Err(bad(format!(
            "the kernel {}x{} (dilation {:?}) is larger than the padded input {}x{}",
            w[2],
            w[3],
            p.dilation,
            x[2] + 2 * p.padding[0],
            x[3] + 2 * p.padding[1]
        )));
    };
    Ok(vec![x[0], w[0], ho, wo])
}

/// The launches of GEMM mode `mode` (0 forward, 1 input gradient, 2 weight
/// gradient) for shapes x, w, y; inputs bound as p and q.
fn launch(
    mode: u32,
    p: &ConvParams,
    [x, w, y]: [&[usize]; 3],
    [pi, qi]: [usize; 2],
    opts: &PlanOptions,
) -> Result<Vec<Launch>> {
    let (b, cin, h, wd) = (x[0], x[1], x[2], x[3]);
    let (cout, kh, kw) = (w[0], w[2], w[3]);
    let (ho, wo) = (y[2], y[3]);
    let groups = p.groups;
    let (cg, mg) = (cin / groups, cout / groups);
    let splits = if mode == 2 {
        weight_grad_splits(b, ho, wo)
    } else {
        1
    };
    let (m, n, z) = match mode {
        0 => (mg, ho * wo, b * groups),
        1 => (cg, h * wd, b * groups),
        _ => (mg, cg * kh * kw, groups * splits),
    };
    // Depthwise-like shapes make a GEMM of one row: the direct kernel fits them.
    let variant = match choose(opts) {
        _ if mode < 2 && m == 1 => ConvVariant::Direct,
        v => v,
    };
    let lanes = opts.lanes as usize;
    let (entry, groups3) = match variant {
        ConvVariant::Lanes => ("conv2d_lanes", [n.div_ceil(2 * lanes), m.div_ceil(12), z]),
        ConvVariant::Tiled => ("conv2d_tiled", [n.div_ceil(64), m.div_ceil(64), z]),
        ConvVariant::Direct if mode == 2 => ("conv2d_tiled", [n.div_ceil(64), m.div_ceil(64), z]),
        ConvVariant::Direct => {
            let g = grid(((z * m * n) as u64).div_ceil(64));
            ("conv2d_direct", [g[0] as usize, g[1] as usize, 1])
        }
    };
    let groups3 = dispatch_limit("conv2d", y, groups3)?;
    let geometry = [
        ("MODE", mode as usize),
        ("BATCH", b),
        ("CIN", cin),
        ("COUT", cout),
        ("H", h),
        ("W", wd),
        ("HO", ho),
        ("WO", wo),
        ("KH", kh),
        ("KW", kw),
        ("SH", p.stride[0]),
        ("SW", p.stride[1]),
        ("PH", p.padding[0]),
        ("PW", p.padding[1]),
        ("DH", p.dilation[0]),
        ("DW", p.dilation[1]),
        ("GROUPS", groups),
        ("SPLITS", splits),
        ("LANES", if lanes > 0 { lanes } else { 8 }),
    ];
    let source = |entry| {
        let layout = vec![BindKind::ReadWrite, BindKind::Read, BindKind::Read];
        let src = KernelSource::new("conv2d", shader("conv2d").into(), entry, layout);
        geometry
            .iter()
            .fold(src, |s, &(name, v)| s.with(name, v as f64))
    };
    if splits == 1 {
        let args = vec![Arg::Out, Arg::In(pi), Arg::In(qi)];
        return Ok(vec![Launch::new(source(entry), args, groups3)]);
    }
    // The weight gradient in partial sums, then their sum.
    let partial = Arg::Scratch(0, (splits * cout * cg * kh * kw * 4) as u64);
    let total = (cout * cg * kh * kw) as u64;
    Ok(vec![
        Launch::new(
            source(entry),
            vec![partial, Arg::In(pi), Arg::In(qi)],
            groups3,
        ),
        Launch::new(
            source("conv2d_sum_splits").with("WG", 64.0),
            vec![Arg::Out, partial, Arg::In(qi)],
            grid(total.div_ceil(64)),
        ),
    ])
}

fn shape4(s: &[usize]) -> [usize; 4] {
    [s[0], s[1], s[2], s[3]]
}

impl Kernel for Conv2d {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn key(&self, key: &mut Vec<u64>) {
        self.0.key(key);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        require_f32_rank("conv2d", &inputs[0], 4)?;
        require_f32_rank("conv2d", &inputs[1], 4)?;
        Ok((
            forward_shape(&self.0, inputs[0].shape, inputs[1].shape)?,
            DType::F32,
        ))
    }

    fn launch(&self, c: &Call) -> Result<Vec<Launch>> {
        let (x, w) = (c.inputs[0].shape, c.inputs[1].shape);
        launch(0, &self.0, [x, w, c.out.shape], [0, 1], c.opts)
    }

    fn backward(&self, src: &[Tensor], _: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, w) = (&src[0], &src[1]);
        let dx = if x.requires_grad() {
            let k = Conv2dGradInput {
                params: self.0,
                x_shape: shape4(x.shape()),
            };
            Some(Tensor::apply(k, &[g, w])?)
        } else {
            None
        };
        let dw = if w.requires_grad() {
            let k = Conv2dGradWeight {
                params: self.0,
                w_shape: shape4(w.shape()),
            };
            Some(Tensor::apply(k, &[g, x])?)
        } else {
            None
        };
        Ok(vec![dx, dw])
    }
}

impl Kernel for Conv2dGradInput {
    fn name(&self) -> &'static str {
        "conv2d.grad_input"
    }

    fn key(&self, key: &mut Vec<u64>) {
        self.params.key(key);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, _: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((self.x_shape.to_vec(), DType::F32))
    }

    fn launch(&self, c: &Call) -> Result<Vec<Launch>> {
        let (dy, w) = (c.inputs[0].shape, c.inputs[1].shape);
        launch(1, &self.params, [c.out.shape, w, dy], [0, 1], c.opts)
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}

impl Kernel for Conv2dGradWeight {
    fn name(&self) -> &'static str {
        "conv2d.grad_weight"
    }

    fn key(&self, key: &mut Vec<u64>) {
        self.params.key(key);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, _: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((self.w_shape.to_vec(), DType::F32))
    }

    fn launch(&self, c: &Call) -> Result<Vec<Launch>> {
        // The shader's p is x, its q dy.
        let (dy, x) = (c.inputs[0].shape, c.inputs[1].shape);
        launch(2, &self.params, [x, c.out.shape, dy], [1, 0], c.opts)
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}
