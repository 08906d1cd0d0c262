//! Launcher for `shaders/layernorm.wgsl`.

use crate::graph::Op;
use crate::kernels::{Arg, Launch, grid, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

const WG: u32 = 64;

pub(crate) fn launch(g: &Graph, root: usize) -> Launch {
    let node = &g.nodes[root];
    let x = &g.nodes[node.src[0]].shape;
    let c = *x.last().unwrap_or(&1);
    let rows = g.nodes[node.src[0]].numel() / c.max(1);
    let (rms, grad) = match node.op() {
        Some(Op::LnStats { rms, .. }) => (*rms, false),
        Some(Op::LnGradReduce { rms }) => (*rms, true),
        _ => unreachable!("layer-norm launch on a layer-norm node"),
    };
    let entry = if grad { "ln_grad_reduce" } else { "ln_stats" };
    let mut layout = vec![BindKind::ReadWrite, BindKind::Read];
    let mut args = vec![Arg::Node(root), Arg::Node(node.src[0])];
    let mut scalars = vec![];
    if grad {
        // src = [x, dy, gamma, stats]
        layout.extend([BindKind::Read; 3]);
        args.extend([
            Arg::Node(node.src[1]),
            Arg::Node(node.src[2]),
            Arg::Node(node.src[3]),
        ]);
    } else {
        // Bindings 2..4 unused by ln_stats: the layout skips to eps.
        layout.extend([BindKind::Read; 3]);
        args.extend([
            Arg::Node(node.src[0]),
            Arg::Node(node.src[0]),
            Arg::Node(node.src[0]),
        ]);
        layout.push(BindKind::Uniform);
        args.push(Arg::Scalars);
        scalars.push(node.scalar);
    }
    let mut src = KernelSource::new("layernorm", shader("layernorm").into(), entry, layout);
    for (name, v) in [
        ("ROWS", rows),
        ("C", c),
        ("RMS", rms as usize),
        ("WG", WG as usize),
    ] {
        src = src.with(name, v as f64);
    }
    Launch {
        src,
        args,
        meta: vec![],
        scalars,
        workgroups: grid((rows as u64).div_ceil(WG as u64)),
    }
}
