//! Launcher for `shaders/attention.wgsl`: the lanes form where the adapter has
//! fixed-size subgroups, the row form otherwise.

use crate::error::{Error, Result};
use crate::graph::Op;
use crate::kernels::{Arg, Launch, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

const WG: usize = 64;

/// The largest head dimension the kernels' fixed per-lane arrays hold.
pub(crate) const MAX_HEAD_DIM: usize = 128;

/// Dispatches span at most 65535 workgroups per dimension: batch x heads on
/// one, rows on the other (at least 4 per workgroup in every form).
pub(crate) const MAX_BATCH_HEADS: usize = 65535;
pub(crate) const MAX_LEN: usize = 4 * 65535;

pub(crate) fn launch(g: &Graph, root: usize, lanes: u32) -> Result<Launch> {
    let node = &g.nodes[root];
    let (params, kind) = match node.op() {
        Some(Op::Attention { params, .. }) => (*params, 0),
        Some(Op::AttentionGradKV { params, .. }) => (*params, 1),
        Some(Op::AttentionGradQ { params, .. }) => (*params, 2),
        _ => unreachable!("attention launch on an attention node"),
    };
    let src = &node.src;
    let (qs, ks, vs) = (
        &g.nodes[src[0]].shape,
        &g.nodes[src[1]].shape,
        &g.nodes[src[2]].shape,
    );
    let (b, h, nq, d) = (qs[0], qs[1], qs[2], qs[3]);
    let (nk, dv) = (ks[2], vs[3]);
    let bh = b * h;
    if bh > MAX_BATCH_HEADS {
        return Err(Error::InvalidArgument {
            op: "attention",
            shape: qs.clone(),
            msg: format!("batch x heads = {bh} is over 65535"),
        });
    }
    // The lanes forms hold 8 rows x (vec4 slices of D) per lane: for LANES = 8
    // and head dims that are whole vec4s.
    let use_lanes = lanes == 8 && d % 4 == 0 && dv % 4 == 0;
    let (entry, rows) = match (kind, use_lanes) {
        (0, true) => ("attention_lanes", nq),
        (0, false) => ("attention_rows", nq),
        (1, true) => ("attention_grad_kv_lanes", nk),
        (1, false) => ("attention_grad_kv_rows", nk),
        (_, true) => ("attention_grad_q_lanes", nq),
        (_, false) => ("attention_grad_q_rows", nq),
    };
    // The lanes forms take 8 queries (TQ) or 4 keys (TK) per workgroup; the
    // row forms WG rows.
    let per = match (kind, use_lanes) {
        (1, true) => 4,
        (_, true) => 8,
        _ => WG,
    };
    let mut layout = vec![BindKind::ReadWrite];
    layout.extend([BindKind::Read; 4]);
    layout.push(BindKind::Uniform);
    // Key lengths follow v (forward) or the gradient's six inputs. Without
    // them the kernel still declares the binding: bind q there.
    let lens = match (params.padded, kind) {
        (true, 0) => src[3],
        (true, _) => src[6],
        (false, _) => src[0],
    };
    let mut args = vec![
        Arg::Node(root),
        Arg::Node(src[0]),
        Arg::Node(src[1]),
        Arg::Node(src[2]),
        Arg::Node(lens),
        Arg::Scalars,
    ];
    // The gradients' inputs (forward output, dO, rowsum); the forward's shared
    // helpers name them too, so it binds q in their places.
    layout.extend([BindKind::Read; 3]);
    if kind > 0 {
        args.extend([Arg::Node(src[3]), Arg::Node(src[4]), Arg::Node(src[5])]);
    } else {
        args.extend([Arg::Node(src[0]), Arg::Node(src[0]), Arg::Node(src[0])]);
    }
    if use_lanes {
        // q, k, v and dO again, seen as vec4 (dO is q's place in the forward).
        let dout = if kind > 0 { src[4] } else { src[0] };
        layout.extend([BindKind::Read; 4]);
        args.extend([
            Arg::Node(src[0]),
            Arg::Node(src[1]),
            Arg::Node(src[2]),
            Arg::Node(dout),
        ]);
    }
    let mut s = KernelSource::new("attention", shader("attention").into(), entry, layout);
    for (name, value) in [
        ("BH", bh),
        ("H", h),
        ("NQ", nq),
        ("NK", nk),
        ("D", d),
        ("DV", dv),
        ("CAUSAL", params.causal as usize),
        ("PADDED", params.padded as usize),
        ("WINDOW", params.window.is_some() as usize),
        ("W", params.window.unwrap_or(0)),
        ("LANES", if use_lanes { lanes as usize } else { 8 }),
        ("WG", WG),
    ] {
        s = s.with(name, value as f64);
    }
    let groups = rows.div_ceil(per);
    if groups > 65535 {
        return Err(Error::InvalidArgument {
            op: "attention",
            shape: qs.clone(),
            msg: format!("{rows} rows need {groups} workgroups, over 65535"),
        });
    }
    Ok(Launch {
        src: s,
        args,
        meta: vec![],
        scalars: vec![node.scalar],
        workgroups: [groups.max(1) as u32, bh as u32, 1],
    })
}
