//! Launcher for `shaders/matmul.wgsl`, and the choice of version per adapter.
//!
//! The choice: software adapters (lavapipe, where a workgroup barrier suspends
//! every lane and every load in a loop is a per-lane scalar load) get the
//! barrier-free `lanes` version when subgroups are on (a workgroup is one
//! subgroup; loads are shared by shuffles) and the register-tiled one when they
//! are off; GPUs get the workgroup-memory tiled version.
//! `SHADERGRAD_MATMUL=naive|register|tiled|lanes` overrides it, and the
//! benchmark suite measures every version side by side.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::{Arg, Desc, Launch, dispatch_limit, shader, with_prelude};
use crate::pipeline::{BindKind, KernelSource};
use crate::shape::View;
use crate::tuning::{MatmulVariant, PlanOptions};

impl MatmulVariant {
    /// The versions this device can run.
    pub fn available(device: &Device) -> Vec<MatmulVariant> {
        let mut v = vec![
            MatmulVariant::Naive,
            MatmulVariant::Register,
            MatmulVariant::Tiled,
        ];
        if device.lanes().is_some() {
            v.push(MatmulVariant::Lanes);
        }
        v
    }

    /// The version this device runs now, with the reason.
    pub fn choose(device: &Device) -> (MatmulVariant, &'static str) {
        choose(&device.plan_options())
    }
}

/// The version a plan with these options runs, with the reason.
fn choose(opts: &PlanOptions) -> (MatmulVariant, &'static str) {
    match opts.tuning.matmul {
        Some(MatmulVariant::Lanes) if opts.lanes == 0 => {}
        Some(v) => return (v, "set in the device's tuning (or SHADERGRAD_MATMUL)"),
        None => {}
    }
    if opts.cpu && opts.lanes > 0 {
        (
            MatmulVariant::Lanes,
            "software adapter with subgroups: loads shared by shuffles, no barrier",
        )
    } else if opts.cpu {
        (
            MatmulVariant::Register,
            "software adapter: barriers are costly, register tiles win",
        )
    } else {
        (
            MatmulVariant::Tiled,
            "GPU: workgroup-memory tiles reuse each load 64 times",
        )
    }
}

/// Batch dims of both operands, merged where both are contiguous across them,
/// padded to 4 (leading 1s). More than 4 unmergeable dims is an error.
fn batch_layout(
    dims: &[usize],
    sa: &[usize],
    sb: &[usize],
) -> Option<([u32; 4], [u32; 4], [u32; 4])> {
    let mut d: Vec<usize> = Vec::new();
    let mut a: Vec<usize> = Vec::new();
    let mut b: Vec<usize> = Vec::new();
    for i in 0..dims.len() {
        if dims[i] == 1 {
            continue;
        }
        if let (Some(ld), Some(la), Some(lb)) = (d.last_mut(), a.last_mut(), b.last_mut())
            && *la == sa[i] * dims[i]
            && *lb == sb[i] * dims[i]
        {
            *ld *= dims[i];
            *la = sa[i];
            *lb = sb[i];
            continue;
        }
        d.push(dims[i]);
        a.push(sa[i]);
        b.push(sb[i]);
    }
    if d.len() > 4 {
        return None;
    }
    let pad = |v: &[usize], fill: u32| {
        let mut out = [fill; 4];
        for (o, x) in out[4 - v.len()..].iter_mut().zip(v) {
            *o = *x as u32;
        }
        out
    };
    Some((pad(&d, 1), pad(&a, 0), pad(&b, 0)))
}

/// C = A x B for C `out`, A and B read through their views.
pub(crate) fn launch(out: Desc, a: &View, b: &View, opts: &PlanOptions) -> Result<Vec<Launch>> {
    let variant = choose(opts).0;
    let lane_width = opts.lanes;
    let r = out.shape.len();
    let (m, n) = (out.shape[r - 2], out.shape[r - 1]);
    let k = a.shape[r - 1];
    let batch: usize = out.shape[..r - 2].iter().product();
    let (bdims, a_sb, b_sb) = batch_layout(
        &out.shape[..r - 2],
        &a.strides[..r - 2],
        &b.strides[..r - 2],
    )
    .ok_or_else(|| Error::InvalidArgument {
        op: "matmul",
        shape: out.shape.to_vec(),
        msg: "more than 4 batch dims that cannot be merged; make an operand contiguous".into(),
    })?;
    let (sam, sak) = (a.strides[r - 2], a.strides[r - 1]);
    let (sbk, sbn) = (b.strides[r - 2], b.strides[r - 1]);
    // (A, B, C strides) as the kernel sees them; the lanes version may compute
    // C^T = B^T A^T instead, so that its vec4 loads run along a contiguous dim.
    let four = |x: usize| x.is_multiple_of(4);
    let vec4_b = sbn == 1
        && four(sbk)
        && four(b.offset)
        && four(n)
        && b_sb.iter().all(|&s| s.is_multiple_of(4));
    let vec4_a = sam == 1
        && four(sak)
        && four(a.offset)
        && four(m)
        && a_sb.iter().all(|&s| s.is_multiple_of(4));
    let swap = variant == MatmulVariant::Lanes && !vec4_b && vec4_a;
    // With the swap, the kernel's A is B (binding 2 reads input 1).
    let (mm, nn, lhs, rhs, lb, rb, sa, sb, csm, csn, inputs) = if swap {
        (n, m, b, a, b_sb, a_sb, (sbn, sbk), (sak, sam), 1, n, [1, 0])
    } else {
        (m, n, a, b, a_sb, b_sb, (sam, sak), (sbk, sbn), n, 1, [0, 1])
    };
    let mut meta = vec![
        mm as u32,
        nn as u32,
        k as u32,
        batch as u32,
        lhs.offset as u32,
        sa.0 as u32,
        sa.1 as u32,
        rhs.offset as u32,
        sb.0 as u32,
        sb.1 as u32,
        csm as u32,
        csn as u32,
        (m * n) as u32,
        0,
        0,
        0,
    ];
    meta.extend(bdims);
    meta.extend(lb);
    meta.extend(rb);
    let width = match variant {
        MatmulVariant::Lanes => lane_width as usize,
        _ => 8,
    };
    let (entry, workgroups) = match variant {
        MatmulVariant::Naive => ("matmul_naive", [n.div_ceil(8), m.div_ceil(8), batch]),
        MatmulVariant::Register => ("matmul_register", [n.div_ceil(32), m.div_ceil(32), batch]),
        MatmulVariant::Tiled => ("matmul_tiled", [n.div_ceil(64), m.div_ceil(64), batch]),
        MatmulVariant::Lanes if vec4_b || swap => (
            "matmul_lanes",
            [nn.div_ceil(4 * width), mm.div_ceil(8), batch],
        ),
        MatmulVariant::Lanes => (
            "matmul_lanes_strided",
            [n.div_ceil(2 * width), m.div_ceil(12), batch],
        ),
    };
    let workgroups = dispatch_limit("matmul", out.shape, workgroups)?;
    let mut src = KernelSource::new(
        "matmul",
        with_prelude(shader("matmul"), out.dtype),
        entry,
        vec![
            BindKind::ReadWrite,
            BindKind::Read,
            BindKind::Read,
            BindKind::Uniform,
        ],
    );
    if variant == MatmulVariant::Lanes {
        src = src.with("LANES", width as f64);
    }
    let args = vec![Arg::Out, Arg::In(inputs[0]), Arg::In(inputs[1]), Arg::Meta];
    Ok(vec![Launch::new(src, args, workgroups).meta(meta)])
}
