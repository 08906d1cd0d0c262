//! Launcher for `shaders/layernorm.wgsl`.

use crate::graph::Op;
use crate::kernels::{Arg, Launch, grid, shader, subgroup_rows};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

const WG: u32 = 64;

pub(crate) fn launch(g: &Graph, root: usize, lanes: u32) -> Launch {
    let node = &g.nodes[root];
    let x = &g.nodes[node.src[0]].shape;
    let c = *x.last().unwrap_or(&1);
    let rows = g.nodes[node.src[0]].numel() / c.max(1);
    let (rms, entry) = match node.op() {
        Some(Op::LnStats { rms, .. }) => (*rms, "ln_stats"),
        Some(Op::LnRows { rms, .. }) if lanes > 0 => (*rms, "ln_forward_lanes"),
        Some(Op::LnRows { rms, .. }) => (*rms, "ln_forward_rows"),
        Some(Op::LnGradReduce { rms }) => (*rms, "ln_grad_reduce"),
        Some(Op::LnGradRows { rms }) if lanes > 0 => (*rms, "ln_grad_lanes"),
        Some(Op::LnGradRows { rms }) => (*rms, "ln_grad_rows"),
        _ => unreachable!("layer-norm launch on a layer-norm node"),
    };
    let grad = entry.starts_with("ln_grad");
    let mut layout = vec![BindKind::ReadWrite, BindKind::Read];
    let mut args = vec![Arg::Node(root), Arg::Node(node.src[0])];
    let mut scalars = vec![];
    if entry.starts_with("ln_forward") {
        // src = [x, gamma, (beta)]: beta in dy's place; stats unused.
        let beta = node.src.get(2).copied().unwrap_or(node.src[0]);
        layout.extend([BindKind::Read; 3]);
        args.extend([
            Arg::Node(beta),
            Arg::Node(node.src[1]),
            Arg::Node(node.src[0]),
        ]);
        layout.push(BindKind::Uniform);
        args.push(Arg::Scalars);
        scalars.push(node.scalar);
    } else if grad {
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
    let (src, groups) = if entry.ends_with("_lanes") {
        subgroup_rows(src, rows, lanes)
    } else {
        (src, (rows as u64).div_ceil(WG as u64))
    };
    Launch {
        src,
        args,
        meta: vec![],
        scalars,
        workgroups: grid(groups),
    }
}
