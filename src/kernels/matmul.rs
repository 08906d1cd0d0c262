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
use crate::kernels::{Arg, Launch, Operand, shader, with_prelude};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatmulVariant {
    Naive,
    Register,
    Tiled,
    /// One subgroup per workgroup; needs subgroups of a fixed size.
    Lanes,
}

impl MatmulVariant {
    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Naive => "naive",
            MatmulVariant::Register => "register",
            MatmulVariant::Tiled => "tiled",
            MatmulVariant::Lanes => "lanes",
        }
    }

    /// The versions this device can run.
    pub fn available(device: &Device) -> Vec<MatmulVariant> {
        let mut v = vec![
            MatmulVariant::Naive,
            MatmulVariant::Register,
            MatmulVariant::Tiled,
        ];
        if lanes(device).is_some() {
            v.push(MatmulVariant::Lanes);
        }
        v
    }

    /// The version this device runs, with the reason.
    pub fn choose(device: &Device) -> (MatmulVariant, &'static str) {
        if let Some(v) = *device.0.matmul.lock().unwrap_or_else(|e| e.into_inner()) {
            return (v, "set on the device");
        }
        match std::env::var("SHADERGRAD_MATMUL").as_deref() {
            Ok("naive") => return (MatmulVariant::Naive, "forced by SHADERGRAD_MATMUL"),
            Ok("register") => return (MatmulVariant::Register, "forced by SHADERGRAD_MATMUL"),
            Ok("tiled") => return (MatmulVariant::Tiled, "forced by SHADERGRAD_MATMUL"),
            Ok("lanes") if lanes(device).is_some() => {
                return (MatmulVariant::Lanes, "forced by SHADERGRAD_MATMUL");
            }
            _ => {}
        }
        if device.is_cpu() && lanes(device).is_some() {
            (
                MatmulVariant::Lanes,
                "software adapter with subgroups: loads shared by shuffles, no barrier",
            )
        } else if device.is_cpu() {
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
}

/// The subgroup width the lanes version can rely on: subgroups on, and a size
/// the adapter fixes (min == max), as lavapipe's 8 lanes of AVX2.
pub(crate) fn lanes(device: &Device) -> Option<u32> {
    if !device.subgroup_kernels() {
        return None;
    }
    let caps = device.caps();
    match caps.subgroup_size {
        Some((lo, hi)) if caps.subgroups && lo == hi && (4..=64).contains(&lo) => Some(lo),
        _ => None,
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

pub(crate) fn launch(
    g: &Graph,
    root: usize,
    a: &Operand,
    b: &Operand,
    variant: MatmulVariant,
    lane_width: u32,
) -> Result<Launch> {
    let node = &g.nodes[root];
    let r = node.shape.len();
    let (m, n) = (node.shape[r - 2], node.shape[r - 1]);
    let k = a.view.shape[r - 1];
    let batch: usize = node.shape[..r - 2].iter().product();
    let (bdims, a_sb, b_sb) = batch_layout(
        &node.shape[..r - 2],
        &a.view.strides[..r - 2],
        &b.view.strides[..r - 2],
    )
    .ok_or_else(|| Error::InvalidArgument {
        op: "matmul",
        shape: node.shape.clone(),
        msg: "more than 4 batch dims that cannot be merged; make an operand contiguous".into(),
    })?;
    let (sam, sak) = (a.view.strides[r - 2], a.view.strides[r - 1]);
    let (sbk, sbn) = (b.view.strides[r - 2], b.view.strides[r - 1]);
    // (A, B, C strides) as the kernel sees them; the lanes version may compute
    // C^T = B^T A^T instead, so that its vec4 loads run along a contiguous dim.
    let four = |x: usize| x.is_multiple_of(4);
    let vec4_b = sbn == 1
        && four(sbk)
        && four(b.view.offset)
        && four(n)
        && b_sb.iter().all(|&s| s.is_multiple_of(4));
    let vec4_a = sam == 1
        && four(sak)
        && four(a.view.offset)
        && four(m)
        && a_sb.iter().all(|&s| s.is_multiple_of(4));
    let swap = variant == MatmulVariant::Lanes && !vec4_b && vec4_a;
    let (mm, nn, lhs, rhs, lb, rb, sa, sb, csm, csn) = if swap {
        (n, m, b, a, b_sb, a_sb, (sbn, sbk), (sak, sam), 1, n)
    } else {
        (m, n, a, b, a_sb, b_sb, (sam, sak), (sbk, sbn), n, 1)
    };
    let mut meta = vec![
        mm as u32,
        nn as u32,
        k as u32,
        batch as u32,
        lhs.view.offset as u32,
        sa.0 as u32,
        sa.1 as u32,
        rhs.view.offset as u32,
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
    if workgroups.iter().any(|&w| w > 65535) {
        return Err(Error::InvalidArgument {
            op: "matmul",
            shape: node.shape.clone(),
            msg: "over 65535 workgroups along one dispatch dimension".into(),
        });
    }
    let mut src = KernelSource::new(
        "matmul",
        with_prelude(shader("matmul"), node.dtype),
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
    Ok(Launch {
        src,
        args: vec![
            Arg::Node(root),
            Arg::Node(lhs.node),
            Arg::Node(rhs.node),
            Arg::Meta,
        ],
        meta,
        scalars: vec![],
        workgroups: workgroups.map(|w| w.max(1) as u32),
    })
}
