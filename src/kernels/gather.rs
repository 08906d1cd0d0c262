//! Launcher for `shaders/gather.wgsl`.

use crate::error::{Error, Result};
use crate::graph::Op;
use crate::kernels::{Arg, Launch, Operand, grid, shader, with_prelude};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;
use crate::shape::contiguous_strides;

const WG: u32 = 256;
const MAX_RANK: usize = 8;

pub(crate) fn launch(g: &Graph, root: usize, src: &Operand, idx: &Operand) -> Result<Launch> {
    let node = &g.nodes[root];
    let Some(Op::Gather { axis }) = node.op() else {
        unreachable!("gather launch on a gather node")
    };
    let rank = node.shape.len();
    if rank > MAX_RANK {
        return Err(Error::InvalidArgument {
            op: "gather",
            shape: node.shape.clone(),
            msg: format!("rank {rank} is over the kernel's {MAX_RANK}"),
        });
    }
    let pad = |v: &[usize]| {
        let mut w: Vec<u32> = v.iter().map(|&x| x as u32).collect();
        w.resize(MAX_RANK, 0);
        w
    };
    let mut meta = vec![
        node.numel() as u32,
        rank as u32,
        *axis as u32,
        src.view.shape[*axis] as u32,
        src.view.offset as u32,
        idx.view.offset as u32,
        0,
        0,
    ];
    meta.extend(pad(&contiguous_strides(&node.shape)));
    meta.extend(pad(&node.shape));
    meta.extend(pad(&src.view.strides));
    meta.extend(pad(&idx.view.strides));
    Ok(Launch {
        src: KernelSource::new(
            "gather",
            with_prelude(shader("gather"), node.dtype),
            "gather",
            vec![
                BindKind::ReadWrite,
                BindKind::Read,
                BindKind::Read,
                BindKind::Uniform,
                BindKind::ReadWrite,
            ],
        )
        .with("WG", WG as f64),
        args: vec![
            Arg::Node(root),
            Arg::Node(src.node),
            Arg::Node(idx.node),
            Arg::Meta,
            Arg::Status,
        ],
        meta,
        scalars: vec![],
        workgroups: grid((node.numel() as u64).div_ceil(WG as u64)),
    })
}
