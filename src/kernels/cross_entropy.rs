//! Launcher for `shaders/cross_entropy.wgsl`: the fused loss and its gradient.

use crate::graph::Op;
use crate::kernels::{Arg, Launch, Operand, grid, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

const WG: u32 = 64;

/// `opd` are the operands: logits, labels, and for the gradient dloss.
pub(crate) fn launch(g: &Graph, root: usize, opd: &[Operand]) -> Launch {
    let node = &g.nodes[root];
    let (entry, ignore) = match node.op() {
        Some(Op::CrossEntropy { ignore, .. }) => ("cross_entropy", *ignore),
        Some(Op::CrossEntropyGrad { ignore, .. }) => ("cross_entropy_backward", *ignore),
        _ => unreachable!("cross-entropy launch on a cross-entropy node"),
    };
    let logits = &g.nodes[opd[0].node];
    let cols = *logits.shape.last().unwrap_or(&1);
    let rows = logits.numel() / cols.max(1);
    let mut args = vec![
        Arg::Node(root),
        Arg::Node(opd[0].node),
        Arg::Node(opd[1].node),
        Arg::Scalars,
        Arg::Meta,
        Arg::Status,
    ];
    let mut layout = vec![
        BindKind::ReadWrite,
        BindKind::Read,
        BindKind::Read,
        BindKind::Uniform,
        BindKind::Uniform,
        BindKind::ReadWrite,
    ];
    if opd.len() > 2 {
        args.push(Arg::Node(opd[2].node));
        layout.push(BindKind::Read);
    }
    Launch {
        src: KernelSource::new(
            "cross_entropy",
            shader("cross_entropy").into(),
            entry,
            layout,
        )
        .with("WG", WG as f64)
        .with("HAS_IGNORE", ignore.is_some() as u8 as f64)
        .with("IGNORE", ignore.unwrap_or(-100) as f64),
        args,
        meta: vec![rows as u32, cols as u32],
        scalars: vec![node.scalar],
        workgroups: grid((rows as u64).div_ceil(WG as u64)),
    }
}
