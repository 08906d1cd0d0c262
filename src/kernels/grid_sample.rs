//! Launcher for `shaders/grid_sample.wgsl`.

use crate::error::Result;
use crate::graph::Op;
use crate::kernels::{Arg, Launch, Operand, grid, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;

const WG: u32 = 256;

/// The pipeline for `entry`, specialised to the geometry of x (B, C, H, W)
/// and the grid (B, HO, WO, 2).
fn source(
    entry: &'static str,
    x: &[usize],
    grid_shape: &[usize],
    align: bool,
    inputs: usize,
) -> KernelSource {
    let mut layout = vec![BindKind::ReadWrite];
    layout.extend(std::iter::repeat_n(BindKind::Read, inputs));
    let mut src = KernelSource::new("grid_sample", shader("grid_sample").into(), entry, layout);
    for (name, v) in [
        ("B", x[0]),
        ("C", x[1]),
        ("H", x[2]),
        ("W", x[3]),
        ("HO", grid_shape[1]),
        ("WO", grid_shape[2]),
        ("ALIGN", align as usize),
        ("WG", WG as usize),
    ] {
        src = src.with(name, v as f64);
    }
    src
}

fn align_of(g: &Graph, root: usize) -> bool {
    match g.nodes[root].op() {
        Some(Op::GridSample { align_corners })
        | Some(Op::GridSampleGradInput { align_corners })
        | Some(Op::GridSampleGradGrid { align_corners }) => *align_corners,
        _ => unreachable!("grid-sample launch on a grid-sample node"),
    }
}

fn groups(n: usize) -> [u32; 3] {
    grid((n as u64).div_ceil(WG as u64))
}

pub(crate) fn launch_forward(
    g: &Graph,
    root: usize,
    x: &Operand,
    gr: &Operand,
) -> Result<Vec<Launch>> {
    let (xs, gs) = (&g.nodes[x.node].shape, &g.nodes[gr.node].shape);
    Ok(vec![Launch {
        src: source("grid_sample", xs, gs, align_of(g, root), 2),
        args: vec![Arg::Node(root), Arg::Node(x.node), Arg::Node(gr.node)],
        meta: vec![],
        scalars: vec![],
        workgroups: groups(g.nodes[root].numel()),
    }])
}

/// Zero the input gradient, then scatter-add every sample's share into it.
/// Binding 1 (x) is not read by these entries; the grid takes its place.
pub(crate) fn launch_grad_input(
    g: &Graph,
    root: usize,
    gr: &Operand,
    dy: &Operand,
) -> Result<Vec<Launch>> {
    let (xs, gs) = (&g.nodes[root].shape, &g.nodes[gr.node].shape);
    let align = align_of(g, root);
    let args = vec![
        Arg::Node(root),
        Arg::Node(gr.node),
        Arg::Node(gr.node),
        Arg::Node(dy.node),
    ];
    Ok(vec![
        Launch {
            src: source("grid_sample_fill_zero", xs, gs, align, 3),
            args: args.clone(),
            meta: vec![],
            scalars: vec![],
            workgroups: groups(g.nodes[root].numel()),
        },
        Launch {
            src: source("grid_sample_grad_input", xs, gs, align, 3),
            args,
            meta: vec![],
            scalars: vec![],
            workgroups: groups(g.nodes[dy.node].numel()),
        },
    ])
}

pub(crate) fn launch_grad_grid(
    g: &Graph,
    root: usize,
    x: &Operand,
    gr: &Operand,
    dy: &Operand,
) -> Result<Vec<Launch>> {
    let (xs, gs) = (&g.nodes[x.node].shape, &g.nodes[gr.node].shape);
    Ok(vec![Launch {
        src: source("grid_sample_grad_grid", xs, gs, align_of(g, root), 3),
        args: vec![
            Arg::Node(root),
            Arg::Node(x.node),
            Arg::Node(gr.node),
            Arg::Node(dy.node),
        ],
        meta: vec![],
        scalars: vec![],
        workgroups: groups(gs[0] * gs[1] * gs[2]),
    }])
}
