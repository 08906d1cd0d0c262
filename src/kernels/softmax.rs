//! Launcher for `shaders/softmax.wgsl`.

use crate::error::Result;
use crate::graph::Op;
use crate::kernels::{Arg, Launch, Operand, grid, shader, with_prelude};
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
    // With fixed-width subgroups (software adapters): a subgroup per row, up
    // to 8 rows per workgroup while that leaves 64 workgroups. Otherwise many
    // rows or short rows: one invocation per row, no barrier; few long rows:
    // a workgroup each.
    let by_rows = rows >= 1024 || cols < 128;
    let rpw = (rows / 64).clamp(1, 8);
    let (entry, groups) = if lanes > 0 {
        ("softmax_lanes", (rows as u64).div_ceil(rpw as u64))
    } else if by_rows {
        ("softmax_rows", (rows as u64).div_ceil(WG as u64))
    } else {
        ("softmax_cols", rows as u64)
    };
    let mut src = KernelSource::new(
        "softmax",
        with_prelude(shader("softmax"), node.dtype),
        entry,
        vec![BindKind::ReadWrite, BindKind::Read, BindKind::Uniform],
    )
    .with("LOG", if *log { 1.0 } else { 0.0 })
    .with("WG", WG as f64);
    if lanes > 0 {
        src = src.with("LANES", lanes as f64).with("RPW", rpw as f64);
    }
    Ok(Launch {
        src,
        args: vec![Arg::Node(root), Arg::Node(x.node), Arg::Meta],
        meta: vec![rows as u32, cols as u32],
        scalars: vec![],
        workgroups: grid(groups),
    })
}
