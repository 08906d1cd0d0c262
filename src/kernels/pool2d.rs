//! Launcher for `shaders/pool2d.wgsl`.

use crate::graph::Op;
use crate::kernels::{Arg, Launch, grid, per_invocation, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

const WG: u32 = 256;

pub(crate) fn launch(g: &Graph, root: usize, cpu: bool) -> Launch {
    let per = per_invocation(g.nodes[root].numel(), WG, cpu);
    let node = &g.nodes[root];
    let (p, entry, x, y) = match node.op() {
        Some(Op::Pool2d(p)) => (*p, "pool2d", &g.nodes[node.src[0]].shape, &node.shape),
        Some(Op::Pool2dGrad(p)) => (
            *p,
            "pool2d_backward",
            &node.shape,
            &g.nodes[node.src[1]].shape,
        ),
        _ => unreachable!("pool launch on a pool node"),
    };
    let mut src = KernelSource::new(
        "pool2d",
        shader("pool2d").into(),
        entry,
        vec![BindKind::ReadWrite, BindKind::Read, BindKind::Read],
    );
    for (name, v) in [
        ("MAX", p.max as usize),
        ("H", x[2]),
        ("W", x[3]),
        ("HO", y[2]),
        ("WO", y[3]),
        ("KH", p.kernel[0]),
        ("KW", p.kernel[1]),
        ("SH", p.stride[0]),
        ("SW", p.stride[1]),
        ("PH", p.padding[0]),
        ("PW", p.padding[1]),
        ("NUMEL", node.numel()),
        ("WG", WG as usize),
        ("PER", per as usize),
    ] {
        src = src.with(name, v as f64);
    }
    // The forward binds x twice (dy unused): one layout for both entries.
    let third = if node.src.len() > 1 {
        node.src[1]
    } else {
        node.src[0]
    };
    Launch {
        src,
        args: vec![Arg::Node(root), Arg::Node(node.src[0]), Arg::Node(third)],
        meta: vec![],
        scalars: vec![],
        workgroups: grid((node.numel() as u64).div_ceil(WG as u64 * per as u64)),
    }
}
