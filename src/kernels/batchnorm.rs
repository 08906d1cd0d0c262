//! Launcher for `shaders/batchnorm.wgsl`.

use crate::graph::Op;
use crate::kernels::{Arg, Launch, grid, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

const WG: u32 = 64;

pub(crate) fn launch(g: &Graph, root: usize) -> Launch {
    let node = &g.nodes[root];
    let x = &g.nodes[node.src[0]].shape;
    let (b, c) = (x[0], x[1]);
    let s: usize = x[2..].iter().product();
    let grad = matches!(node.op(), Some(Op::BnGradReduce { .. }));
    let entry = if grad { "bn_grad_reduce" } else { "bn_stats" };
    let mut layout = vec![BindKind::ReadWrite, BindKind::Read];
    let mut args = vec![Arg::Node(root), Arg::Node(node.src[0])];
    if grad {
        layout.extend([BindKind::Read, BindKind::Read, BindKind::Uniform]);
        args.extend([Arg::Node(node.src[1]), Arg::Node(node.src[2]), Arg::Scalars]);
    }
    let mut src = KernelSource::new("batchnorm", shader("batchnorm").into(), entry, layout);
    for (name, v) in [("B", b), ("C", c), ("S", s), ("WG", WG as usize)] {
        src = src.with(name, v as f64);
    }
    Launch {
        src,
        args,
        meta: vec![],
        scalars: if grad { vec![node.scalar] } else { vec![] },
        workgroups: grid(c as u64),
    }
}
