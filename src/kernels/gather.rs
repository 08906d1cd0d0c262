//! Launcher for `shaders/gather.wgsl`: gather, and scatter-add (its gradient).

use crate::error::{Error, Result};
use crate::graph::Op;
use crate::kernels::{Arg, Launch, Operand, grid, shader, with_prelude};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;
use crate::shape::{View, contiguous_strides};

const WG: u32 = 256;
const MAX_RANK: usize = 8;

const LAYOUT: [BindKind; 5] = [
    BindKind::ReadWrite,
    BindKind::Read,
    BindKind::Read,
    BindKind::Uniform,
    BindKind::ReadWrite,
];

fn pad(v: &[usize]) -> Vec<u32> {
    let mut w: Vec<u32> = v.iter().map(|&x| x as u32).collect();
    w.resize(MAX_RANK, 0);
    w
}

/// The uniform both entry points read: decode over the index's shape; `target`
/// is the tensor indexed along `axis` (gather's data, scatter's output).
fn meta(
    idx: &Operand,
    target: &View,
    values: &View,
    axis: usize,
    out_numel: usize,
) -> Result<Vec<u32>> {
    let shape = &idx.view.shape;
    if shape.len() > MAX_RANK {
        return Err(Error::InvalidArgument {
            op: "gather",
            shape: shape.clone(),
            msg: format!("rank {} is over the kernel's {MAX_RANK}", shape.len()),
        });
    }
    let mut m = vec![
        shape.iter().product::<usize>() as u32,
        shape.len() as u32,
        axis as u32,
        target.shape[axis] as u32,
        target.offset as u32,
        idx.view.offset as u32,
        values.offset as u32,
        out_numel as u32,
    ];
    m.extend(pad(&contiguous_strides(shape)));
    m.extend(pad(shape));
    m.extend(pad(&target.strides));
    m.extend(pad(&idx.view.strides));
    m.extend(pad(&values.strides));
    Ok(m)
}

fn source(node_dtype: crate::DType, entry: &'static str) -> KernelSource {
    KernelSource::new(
        "gather",
        with_prelude(shader("gather"), node_dtype),
        entry,
        LAYOUT.to_vec(),
    )
    .with("WG", WG as f64)
}

pub(crate) fn launch(g: &Graph, root: usize, data: &Operand, idx: &Operand) -> Result<Vec<Launch>> {
    let node = &g.nodes[root];
    let Some(Op::Gather { axis }) = node.op() else {
        unreachable!("gather launch on a gather node")
    };
    let out = View::contiguous(&node.shape);
    Ok(vec![Launch {
        src: source(node.dtype, "gather"),
        args: vec![
            Arg::Node(root),
            Arg::Node(data.node),
            Arg::Node(idx.node),
            Arg::Meta,
            Arg::Status,
        ],
        meta: meta(idx, &data.view, &out, *axis, node.numel())?,
        scalars: vec![],
        workgroups: grid((node.numel() as u64).div_ceil(WG as u64)),
    }])
}

/// Two dispatches: zero the output, then add every value at its index.
pub(crate) fn launch_scatter(
    g: &Graph,
    root: usize,
    idx: &Operand,
    values: &Operand,
) -> Result<Vec<Launch>> {
    let node = &g.nodes[root];
    let Some(Op::ScatterAdd { axis }) = node.op() else {
        unreachable!("scatter launch on a scatter-add node")
    };
    let out = View::contiguous(&node.shape);
    let m = meta(idx, &out, &values.view, *axis, node.numel())?;
    let args = vec![
        Arg::Node(root),
        Arg::Node(values.node),
        Arg::Node(idx.node),
        Arg::Meta,
        Arg::Status,
    ];
    Ok(vec![
        Launch {
            src: source(node.dtype, "fill_zero"),
            args: args.clone(),
            meta: m.clone(),
            scalars: vec![],
            workgroups: grid((node.numel() as u64).div_ceil(WG as u64)),
        },
        Launch {
            src: source(node.dtype, "scatter_add"),
            args,
            meta: m,
            scalars: vec![],
            workgroups: grid((idx.view.shape.iter().product::<usize>() as u64).div_ceil(WG as u64)),
        },
    ])
}
