//! Launcher for `shaders/conv2d.wgsl`: which version, which GEMM mode, and the
//! geometry as override constants (one pipeline per layer shape).

use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::Op;
use crate::kernels::{Arg, Launch, grid, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

/// The convolution version a device runs (GEMM-shaped convs; depthwise ones
/// always take the direct kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvVariant {
    /// Implicit GEMM, one subgroup per workgroup (software adapters).
    Lanes,
    /// Implicit GEMM through workgroup memory (GPUs).
    Tiled,
    /// One invocation per output: the naive baseline.
    Direct,
}

impl ConvVariant {
    pub fn choose(device: &Device) -> ConvVariant {
        if let Some(v) = *device.0.conv.lock().unwrap_or_else(|e| e.into_inner()) {
            return v;
        }
        if device.is_cpu() && crate::kernels::matmul::lanes(device).is_some() {
            ConvVariant::Lanes
        } else {
            ConvVariant::Tiled
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ConvVariant::Lanes => "lanes",
            ConvVariant::Tiled => "tiled",
            ConvVariant::Direct => "direct",
        }
    }
}

pub(crate) fn launch(g: &Graph, root: usize, variant: ConvVariant, lanes: u32) -> Result<Launch> {
    let node = &g.nodes[root];
    let (mode, p, splits) = match node.op() {
        Some(Op::Conv2d(p)) => (0u32, *p, 1),
        Some(Op::Conv2dGradInput(p)) => (1, *p, 1),
        Some(Op::Conv2dGradWeight { params, splits }) => (2, *params, *splits),
        _ => unreachable!("conv launch on a conv node"),
    };
    // (x shape, w shape, y shape) whatever the mode.
    let src = &node.src;
    let (x, w, y): (&[usize], &[usize], &[usize]) = match mode {
        0 => (&g.nodes[src[0]].shape, &g.nodes[src[1]].shape, &node.shape),
        1 => (&node.shape, &g.nodes[src[1]].shape, &g.nodes[src[0]].shape),
        _ => (
            &g.nodes[src[1]].shape,
            &node.shape[1..],
            &g.nodes[src[0]].shape,
        ),
    };
    let (b, cin, h, wd) = (x[0], x[1], x[2], x[3]);
    let (cout, kh, kw) = (w[0], w[2], w[3]);
    let (ho, wo) = (y[2], y[3]);
    let groups = p.groups;
    let (cg, mg) = (cin / groups, cout / groups);
    let (m, n, _k, z) = match mode {
        0 => (mg, ho * wo, cg * kh * kw, b * groups),
        1 => (cg, h * wd, mg * kh * kw, b * groups),
        _ => (
            mg,
            cg * kh * kw,
            (b * ho * wo).div_ceil(splits),
            groups * splits,
        ),
    };
    // Depthwise-like shapes make a GEMM of one row: the direct kernel fits them.
    let variant = if mode < 2 && m == 1 {
        ConvVariant::Direct
    } else {
        variant
    };
    let (entry, workgroups) = match variant {
        ConvVariant::Lanes => (
            "conv2d_lanes",
            [n.div_ceil(2 * lanes as usize), m.div_ceil(12), z],
        ),
        ConvVariant::Tiled => ("conv2d_tiled", [n.div_ceil(64), m.div_ceil(64), z]),
        ConvVariant::Direct if mode == 2 => ("conv2d_tiled", [n.div_ceil(64), m.div_ceil(64), z]),
        ConvVariant::Direct => {
            let g = grid(((z * m * n) as u64).div_ceil(64));
            ("conv2d_direct", [g[0] as usize, g[1] as usize, 1])
        }
    };
    if workgroups.iter().any(|&v| v > 65535) {
        return Err(Error::InvalidArgument {
            op: "conv2d",
            shape: node.shape.clone(),
            msg: "over 65535 workgroups along one dispatch dimension".into(),
        });
    }
    let layout = vec![BindKind::ReadWrite, BindKind::Read, BindKind::Read];
    let mut src_k = KernelSource::new("conv2d", shader("conv2d").into(), entry, layout);
    for (name, v) in [
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
    ] {
        src_k = src_k.with(name, v as f64);
    }
    if variant == ConvVariant::Lanes {
        src_k = src_k.with("LANES", lanes as f64);
    }
    Ok(Launch {
        src: src_k,
        // The shader's p is x (or dy for the input gradient), q the other operand.
        args: if mode == 2 {
            vec![Arg::Node(root), Arg::Node(src[1]), Arg::Node(src[0])]
        } else {
            vec![Arg::Node(root), Arg::Node(src[0]), Arg::Node(src[1])]
        },
        meta: vec![],
        scalars: vec![],
        workgroups: workgroups.map(|v| v.max(1) as u32),
    })
}

/// Output size of a convolution along one axis, as the notes give it:
/// (H - D(K-1) - 1 + 2P) / S + 1, or None when the kernel does not fit.
pub(crate) fn out_size(h: usize, k: usize, s: usize, p: usize, d: usize) -> Option<usize> {
    let span = d * (k - 1) + 1;
    (h + 2 * p).checked_sub(span).map(|r| r / s + 1)
}

/// Partial sums for a weight gradient: about one per 2048 terms of its long
/// reduction, so the GEMM has enough workgroups.
pub(crate) fn weight_grad_splits(b: usize, ho: usize, wo: usize) -> usize {
    (b * ho * wo / 2048).clamp(1, 64)
}
