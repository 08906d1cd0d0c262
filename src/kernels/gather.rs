//! Launcher for `shaders/gather.wgsl`: gather, and scatter-add (its gradient).
//!
//! Scatter-add is non-deterministic by default: its float adds into one
//! target meet in the order the invocations race (a compare-and-swap loop), so
//! two runs with repeated indices can differ in the last bits. In
//! deterministic mode (`Device::set_deterministic`) it groups the sources by
//! target and each target sums its own in ascending source order instead.

use crate::error::{Error, Result};
use crate::kernels::{Arg, Desc, Launch, grid, shader, with_prelude};
use crate::pipeline::{BindKind, KernelSource};
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
    idx: &View,
    target: &View,
    values: &View,
    axis: usize,
    out_numel: usize,
) -> Result<Vec<u32>> {
    let shape = &idx.shape;
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
        idx.offset as u32,
        values.offset as u32,
        out_numel as u32,
    ];
    // The planner copies an operand read backwards (a flip) first.
    let forwards = |v: &View| {
        v.unsigned_strides().ok_or_else(|| Error::InvalidArgument {
            op: "gather",
            shape: v.shape.clone(),
            msg: "an operand read backwards must be copied first".into(),
        })
    };
    m.extend(pad(&contiguous_strides(shape)));
    m.extend(pad(shape));
    m.extend(pad(&forwards(target)?));
    m.extend(pad(&forwards(idx)?));
    m.extend(pad(&forwards(values)?));
    Ok(m)
}

fn source(node_dtype: crate::DType, entry: &'static str) -> KernelSource {
    sourced(node_dtype, entry, LAYOUT.to_vec())
}

fn sourced(node_dtype: crate::DType, entry: &'static str, layout: Vec<BindKind>) -> KernelSource {
    KernelSource::new(
        "gather",
        with_prelude(shader("gather"), node_dtype),
        entry,
        layout,
    )
    .with("WG", WG as f64)
}

/// The bindings both entry points take: out, the data (gather) or values
/// (scatter) as input 0, the index as input 1.
const ARGS: [Arg; 5] = [Arg::Out, Arg::In(0), Arg::In(1), Arg::Meta, Arg::Status];

/// The row width when the gather is a row lookup (`index_select` along
/// axis 0 of a contiguous 2-D table, its index broadcast along the row).
fn row_lookup(data: &View, idx: &View, axis: usize) -> Option<usize> {
    let d = *data.shape.get(1)?;
    let table = axis == 0 && data.shape.len() == 2 && data.strides == [d as isize, 1];
    let by_row = idx.shape.len() == 2 && idx.strides[1] == 0 && idx.strides[0] >= 0;
    (table && by_row).then_some(d)
}

/// torch.gather of `data` along `axis` at `idx` (the output's shape).
pub(crate) fn launch(out: Desc, data: &View, idx: &View, axis: usize) -> Result<Vec<Launch>> {
    let o = View::contiguous(out.shape);
    let groups = grid((out.numel() as u64).div_ceil(WG as u64));
    let src = match row_lookup(data, idx, axis) {
        Some(d) => source(out.dtype, "gather_rows").with("ROW", d as f64),
        None => source(out.dtype, "gather"),
    };
    Ok(vec![Launch::new(src, ARGS.to_vec(), groups).meta(meta(
        idx,
        data,
        &o,
        axis,
        out.numel(),
    )?)])
}

/// Two dispatches: zero the output, then add every value at its index (in
/// arbitrary order); in `deterministic` mode the fixed-order form instead.
pub(crate) fn launch_scatter(
    out: Desc,
    idx: &View,
    values: &View,
    axis: usize,
    deterministic: bool,
) -> Result<Vec<Launch>> {
    let o = View::contiguous(out.shape);
    let m = meta(idx, &o, values, axis, out.numel())?;
    if deterministic {
        return Ok(launch_scatter_sorted(out, idx.shape.iter().product(), m));
    }
    let zero = grid((out.numel() as u64).div_ceil(WG as u64));
    let add = grid((idx.shape.iter().product::<usize>() as u64).div_ceil(WG as u64));
    Ok(vec![
        Launch::new(source(out.dtype, "fill_zero"), ARGS.to_vec(), zero).meta(m.clone()),
        Launch::new(source(out.dtype, "scatter_add"), ARGS.to_vec(), add).meta(m),
    ])
}

/// Deterministic scatter-add: the five bucket passes of buckets.wgsl over
/// the index's elements (sources) and the output's (targets), then
/// `scatter_sum`, each output element adding its sources in ascending order.
/// Each pass binds only what it reads, so none binds more storage buffers
/// than the default form.
fn launch_scatter_sorted(out: Desc, sources: usize, m: Vec<u32>) -> Vec<Launch> {
    use BindKind::{Read, ReadWrite, Uniform, Unused};
    let targets = out.numel();
    let bytes = 4 * (1 + 2 * targets as u64 + sources as u64);
    let args = [ARGS.as_slice(), &[Arg::Scratch(0, bytes)]].concat();
    // Bindings: out, values, index, cfg, status, scratch.
    let scratch_only = vec![Unused, Unused, Unused, Uniform, Unused, ReadWrite];
    let by_index = vec![Unused, Unused, Read, Uniform, ReadWrite, ReadWrite];
    let sum = vec![ReadWrite, Read, Unused, Uniform, Unused, ReadWrite];
    let passes = [
        ("bucket_zero", scratch_only.clone(), targets + 1),
        ("bucket_count", by_index.clone(), sources),
        ("bucket_alloc", scratch_only.clone(), targets),
        ("bucket_fill", by_index, sources),
        ("bucket_sort", scratch_only, targets),
        ("scatter_sum", sum, targets),
    ];
    passes
        .into_iter()
        .map(|(entry, layout, n)| {
            let groups = grid((n as u64).div_ceil(WG as u64));
            Launch::new(sourced(out.dtype, entry, layout), args.clone(), groups).meta(m.clone())
        })
        .collect()
}
