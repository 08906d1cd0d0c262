//! Launcher for `shaders/optim.wgsl`: one in-place update per parameter.

use crate::graph::{Op, UpdateRule};
use crate::kernels::{Arg, Launch, grid, per_invocation, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

const WG: u32 = 256;

pub(crate) fn launch(g: &Graph, root: usize, cpu: bool) -> Launch {
    let node = &g.nodes[root];
    let Some(Op::Update { rule, .. }) = node.op() else {
        unreachable!("optimizer launch on an update node")
    };
    // src = [param, grad, scale, state...]
    let s = &node.src;
    let (entry, mut args, mut layout, src) = match rule {
        UpdateRule::Ema => (
            "ema",
            vec![Arg::Node(s[0]), Arg::Node(s[1])],
            vec![BindKind::ReadWrite, BindKind::Read],
            KernelSource::new("optim", shader("optim").into(), "ema", vec![]),
        ),
        UpdateRule::Sgd { nesterov } => (
            "sgd",
            vec![
                Arg::Node(s[0]),
                Arg::Node(s[1]),
                Arg::Node(s[3]),
                Arg::Node(s[2]),
            ],
            vec![
                BindKind::ReadWrite,
                BindKind::Read,
                BindKind::ReadWrite,
                BindKind::Read,
            ],
            KernelSource::new("optim", shader("optim").into(), "sgd", vec![])
                .with("NESTEROV", *nesterov as u8 as f64),
        ),
        UpdateRule::Adam { decoupled } => (
            "adam",
            vec![
                Arg::Node(s[0]),
                Arg::Node(s[1]),
                Arg::Node(s[3]),
                Arg::Node(s[4]),
                Arg::Node(s[2]),
            ],
            vec![
                BindKind::ReadWrite,
                BindKind::Read,
                BindKind::ReadWrite,
                BindKind::ReadWrite,
                BindKind::Read,
            ],
            KernelSource::new("optim", shader("optim").into(), "adam", vec![])
                .with("DECOUPLED", *decoupled as u8 as f64),
        ),
    };
    args.extend([Arg::Scalars, Arg::Meta]);
    layout.extend([BindKind::Uniform, BindKind::Uniform]);
    let numel = g.nodes[s[0]].numel();
    let per = per_invocation(numel, WG, cpu);
    Launch {
        src: KernelSource {
            entry,
            layout,
            ..src.with("WG", WG as f64)
        },
        args,
        meta: vec![numel as u32, per],
        scalars: (node.scalar..node.scalar + 8).collect(),
        workgroups: grid((numel as u64).div_ceil(WG as u64 * per as u64)),
    }
}
