//! Launcher for `shaders/matmul.wgsl`, and the choice of version per adapter.
//!
//! The choice: software adapters (lavapipe, where a workgroup barrier suspends
//! every lane) get the barrier-free register-tiled version; GPUs get the
//! workgroup-memory tiled version. `SHADERGRAD_MATMUL=naive|register|tiled`
//! overrides it, and the benchmark suite measures all three side by side.

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
}

impl MatmulVariant {
    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Naive => "naive",
            MatmulVariant::Register => "register",
            MatmulVariant::Tiled => "tiled",
        }
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
            _ => {}
        }
        if device.is_cpu() {
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
    let mut meta = vec![
        m as u32,
        n as u32,
        k as u32,
        batch as u32,
        a.view.offset as u32,
        a.view.strides[r - 2] as u32,
        a.view.strides[r - 1] as u32,
        b.view.offset as u32,
        b.view.strides[r - 2] as u32,
        b.view.strides[r - 1] as u32,
        0,
        0,
    ];
    meta.extend(bdims);
    meta.extend(a_sb);
    meta.extend(b_sb);
    let (entry, workgroups) = match variant {
        MatmulVariant::Naive => ("matmul_naive", [n.div_ceil(8), m.div_ceil(8), batch]),
        MatmulVariant::Register => ("matmul_register", [n.div_ceil(32), m.div_ceil(32), batch]),
        MatmulVariant::Tiled => ("matmul_tiled", [n.div_ceil(64), m.div_ceil(64), batch]),
    };
    if workgroups.iter().any(|&w| w > 65535) {
        return Err(Error::InvalidArgument {
            op: "matmul",
            shape: node.shape.clone(),
            msg: "over 65535 workgroups along one dispatch dimension".into(),
        });
    }
    Ok(Launch {
        src: KernelSource::new(
            "matmul",
            with_prelude(shader("matmul"), node.dtype),
            entry,
            vec![
                BindKind::ReadWrite,
                BindKind::Read,
                BindKind::Read,
                BindKind::Uniform,
            ],
        ),
        args: vec![
            Arg::Node(root),
            Arg::Node(a.node),
            Arg::Node(b.node),
            Arg::Meta,
        ],
        meta,
        scalars: vec![],
        workgroups: workgroups.map(|w| w.max(1) as u32),
    })
}
