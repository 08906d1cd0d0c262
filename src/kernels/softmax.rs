//! Launcher for `shaders/softmax.wgsl`.

use crate::error::Result;
use crate::graph::Op;
use crate::kernels::{Arg, Launch, Operand, grid, shader, subgroup_rows, with_prelude};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

const WG: u32 = 64;

pub(crate) fn launch(g: &Graph, root: usize, x: &Operand, lanes: u32) -> Result<Launch> {
    let node = &g.nodes[root];
    let Some(Op::Softmax { log }) = node.op() else {
        unreachable!("softmax launch on a softmax node")
    };
    debug_assert!(x.view.is_identity());
    let cols = *node.shape.last().unwrap_or(&1);
    let rows = node.numel() / cols.max(1);
    // With fixed-width subgroups (software adapters): a subgroup per row.
    // Otherwise many rows or short rows: one invocation per row, no barrier;
    // few long rows: a workgroup each.
    let entry = if lanes > 0 {
        "softmax_lanes"
    } else if rows >= 1024 || cols < 128 {
        "softmax_rows"
    } else {
        "softmax_cols"
    };
    let src = KernelSource::new(
        "softmax",
        with_prelude(shader("softmax"), node.dtype),
        entry,
        vec![BindKind::ReadWrite, BindKind::Read, BindKind::Uniform],
    )
    .with("LOG", if *log { 1.0 } else { 0.0 })
    .with("WG", WG as f64);
    let (src, groups) = match entry {
        "softmax_lanes" => subgroup_rows(src, rows, lanes),
        "softmax_rows" => (src, (rows as u64).div_ceil(WG as u64)),
        _ => (src, rows as u64),
    };
    Ok(Launch {
        src,
        args: vec![Arg::Node(root), Arg::Node(x.node), Arg::Meta],
        meta: vec![rows as u32, cols as u32],
        scalars: vec![],
        workgroups: grid(groups),
    })
}
