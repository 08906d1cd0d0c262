//! Launcher for `shaders/softmax.wgsl`.

use crate::error::Result;
use crate::graph::Op;
use crate::kernels::{Arg, Launch, Operand, grid, shader, with_prelude};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

const WG: u32 = 64;

pub(crate) fn launch(g: &Graph, root: usize, x: &Operand) -> Result<Launch> {
    let node = &g.nodes[root];
    let Some(Op::Softmax { log }) = node.op() else {
        unreachable!("softmax launch on a softmax node")
    };
    debug_assert!(x.view.is_identity());
    let cols = *node.shape.last().unwrap_or(&1);
    let rows = node.numel() / cols.max(1);
    // Many rows or short rows: one invocation per row, no barrier.
    let by_rows = rows >= 1024 || cols < 128;
    let (entry, groups) = if by_rows {
        ("softmax_rows", (rows as u64).div_ceil(WG as u64))
    } else {
        ("softmax_cols", rows as u64)
    };
    Ok(Launch {
        src: KernelSource::new(
            "softmax",
            with_prelude(shader("softmax"), node.dtype),
            entry,
            vec![BindKind::ReadWrite, BindKind::Read, BindKind::Uniform],
        )
        .with("LOG", if *log { 1.0 } else { 0.0 })
        .with("WG", WG as f64),
        args: vec![Arg::Node(root), Arg::Node(x.node), Arg::Meta],
        meta: vec![rows as u32, cols as u32],
        scalars: vec![],
        workgroups: grid(groups),
    })
}
