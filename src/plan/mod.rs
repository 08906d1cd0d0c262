//! Planner: from a collected graph to a `Plan` the executor can replay: the
//! kernels in order, each binding resolved to a buffer role, intermediate
//! buffers assigned by liveness, uniform data laid out once.
//!
//! The fused kernels (elementwise chains, reductions with their prologue) are
//! generated here from the graph (`expr.rs`, `elementwise.rs`, `reduce.rs`);
//! every other node is a primitive with a hand-written kernel (matmul, gather,
//! scatter-add, the optimizer updates) or a `Kernel`, which describes its own
//! dispatches.

pub(crate) mod collect;
pub(crate) mod elementwise;
pub(crate) mod expr;
pub(crate) mod fuse;
pub(crate) mod reduce;
pub(crate) mod specialize;

use std::sync::Arc;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::Op;
use crate::kernels::{self, Arg, Call, Desc, Launch};
use crate::pipeline::BindKind;
use crate::pool::{BufferKind, GpuBuffer};
use crate::shape::View;
use crate::tuning::PlanOptions;
use collect::Graph;
use specialize::Specializer;

/// Where a binding's buffer comes from when the plan runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BufRef {
    /// A realized input: `Graph::leaves[k]` of the run.
    Leaf(usize),
    /// A fresh buffer handed to the k-th distinct target.
    Output(usize),
    /// An intermediate: the plan's own arena buffer k.
    Slot(usize),
    Meta,
    Scalars,
    Status,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Binding {
    /// The binding number (an entry point's unused bindings have none).
    pub index: u32,
    pub buf: BufRef,
    pub offset: u64,
    pub size: u64,
}

pub(crate) struct Step {
    /// The op this dispatch computes (a kernel's name, or the primitive's).
    pub op: &'static str,
    /// It computes a node `backward` recorded.
    pub backward: bool,
    pub name: &'static str,
    pub entry: &'static str,
    pub pipeline: Arc<wgpu::ComputePipeline>,
    pub layout: crate::pipeline::Layout,
    pub bindings: Vec<Binding>,
    pub workgroups: [u32; 3],
    /// Bind groups already made, by the ids of the buffers they bind.
    pub bind_groups: crate::exec::BindGroups,
}

pub(crate) struct Plan {
    pub steps: Vec<Step>,
    pub arena: Vec<Arc<GpuBuffer>>,
    /// Bytes of each distinct target's output buffer.
    pub outputs: Vec<u64>,
    /// For each target of the graph, which output holds it (none for an
    /// in-place update).
    pub target_output: Vec<Option<usize>>,
    pub meta: Option<Arc<GpuBuffer>>,
    pub scalars: Option<Arc<GpuBuffer>>,
    /// (graph scalar word, word in the scalars buffer) to upload on every run.
    pub scalar_map: Vec<(usize, usize)>,
    pub scalar_words: usize,
    /// A step binds the realize's status word: each run gets one of its own.
    pub uses_status: bool,
    /// The nodes computed by kernels that can raise it (not the updates,
    /// which only read it).
    pub raises: Vec<usize>,
}

/// Binding size of a node's buffer: its bytes, rounded to whole words, never 0.
fn binding_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(4).max(1) * 4
}

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// A materialized node, or a view of one, as a hand-written primitive reads it.
struct Operand {
    node: usize,
    view: View,
}

fn operand(g: &Graph, mat: &[bool], s: usize) -> Operand {
    if mat[s] {
        return Operand {
            node: s,
            view: View::contiguous(&g.nodes[s].shape),
        };
    }
    match g.nodes[s].op() {
        Some(Op::View(v)) => Operand {
            node: g.nodes[s].src[0],
            view: v.clone(),
        },
        _ => unreachable!("fusion materializes every other operand"),
    }
}

/// The dispatches of one node, and the graph node each `Arg::In(i)` binds.
struct NodeLaunches {
    op: &'static str,
    launches: Vec<Launch>,
    inputs: Vec<usize>,
}

fn desc(g: &Graph, n: usize) -> Desc<'_> {
    Desc {
        shape: &g.nodes[n].shape,
        dtype: g.nodes[n].dtype,
    }
}

/// The dispatches that compute node `k`.
fn launch_for(
    g: &Graph,
    mat: &[bool],
    k: usize,
    opts: &PlanOptions,
    spec: &Specializer,
) -> Result<NodeLaunches> {
    let spec = (spec, opts.tuning.shape_constants);
    let node = &g.nodes[k];
    let op = node.op().expect("kernels are ops");
    let opd = |i: usize| operand(g, mat, node.src[i]);
    let (name, launches, inputs) = match op {
        Op::Kernel(kernel) => {
            let call = Call {
                out: desc(g, k),
                inputs: node.src.iter().map(|&s| desc(g, s)).collect(),
                opts,
            };
            let mut launches = kernel.launch(&call)?;
            // A kernel numbers its scalars from 0; the graph's start at the node's.
            for l in &mut launches {
                l.scalars.iter_mut().for_each(|w| *w += node.scalar);
                specialize::shape_overrides(l, spec);
            }
            (kernel.name(), launches, node.src.clone())
        }
        Op::Matmul => {
            let (a, b) = (opd(0), opd(1));
            let l = kernels::matmul::launch(desc(g, k), &a.view, &b.view, opts)?;
            ("matmul", l, vec![a.node, b.node])
        }
        Op::Gather { axis } => {
            let (data, idx) = (opd(0), opd(1));
            let l = kernels::gather::launch(desc(g, k), &data.view, &idx.view, *axis)?;
            ("gather", l, vec![data.node, idx.node])
        }
        Op::ScatterAdd { axis } => {
            let (idx, values) = (opd(0), opd(1));
            let (out, det) = (desc(g, k), opts.deterministic);
            let l = kernels::gather::launch_scatter(out, &idx.view, &values.view, *axis, det)?;
            ("scatter_add", l, vec![values.node, idx.node])
        }
        Op::Update { rule, .. } => {
            let (param, grad) = (&g.nodes[node.src[0]], &g.nodes[node.src[1]]);
            let words: Vec<usize> = (node.scalar..node.scalar + 8).collect();
            let l = kernels::optim::launch(
                *rule,
                &param.shape,
                grad.numel(),
                opts.cpu,
                opts.deterministic,
            );
            let l = l.into_iter().map(|l| l.scalars(words.clone())).collect();
            ("update", l, node.src.clone())
        }
        Op::Reduce { .. } => {
            let (l, inputs) = reduce::launch(g, mat, k, spec);
            ("reduce", l, inputs)
        }
        Op::Const(_)
        | Op::Rand { .. }
        | Op::Arange { .. }
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast
        | Op::View(_)
        | Op::Concat { .. }
        | Op::CheckIndex { .. }
        | Op::Unview(_) => {
            let (l, inputs) = elementwise::launch(g, mat, k, opts.cpu, spec);
            ("elementwise", l, inputs)
        }
        Op::CustomGrad(_) => unreachable!("collect computes a custom-gradient node's value"),
    };
    Ok(NodeLaunches {
        op: name,
        launches,
        inputs,
    })
}

/// One dispatch of the plan: its launch, and which buffer each of its
/// arguments binds (a graph node, or scratch buffer `n + j` past the nodes).
struct Dispatch {
    op: &'static str,
    launch: Launch,
    /// The node it computes.
    node: usize,
    /// Per argument: the buffer id (nodes first, then scratch), if a buffer.
    buffers: Vec<Option<usize>>,
}

/// Every dispatch in order (topological; in-place updates last: they
/// overwrite buffers other kernels may still read), with the bytes of each
/// scratch buffer they declare. Zero-element outputs need none.
fn dispatches(
    g: &Graph,
    mat: &[bool],
    opts: &PlanOptions,
    spec: &Specializer,
) -> Result<(Vec<Dispatch>, Vec<u64>)> {
    let is_update = |i: usize| matches!(g.nodes[i].op(), Some(Op::Update { .. }));
    let mut kernels: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| mat[i] && g.nodes[i].op().is_some() && g.nodes[i].numel() > 0)
        .collect();
    kernels.sort_by_key(|&i| is_update(i));
    let n = g.nodes.len();
    let mut out = Vec::new();
    let mut scratch: Vec<u64> = Vec::new();
    for &k in &kernels {
        let nl = launch_for(g, mat, k, opts, spec)?;
        // This node's scratch buffer j is buffer n + first + j.
        let first = scratch.len();
        for l in nl.launches {
            let buffers = l
                .args
                .iter()
                .map(|a| match *a {
                    Arg::Out => Some(k),
                    Arg::In(i) => Some(nl.inputs[i]),
                    Arg::Scratch(j, bytes) => {
                        if scratch.len() <= first + j {
                            scratch.resize(first + j + 1, 4);
                        }
                        scratch[first + j] = scratch[first + j].max(binding_bytes(bytes));
                        Some(n + first + j)
                    }
                    Arg::Meta | Arg::Scalars | Arg::Status => None,
                })
                .collect();
            out.push(Dispatch {
                op: nl.op,
                launch: l,
                node: k,
                buffers,
            });
        }
    }
    Ok((out, scratch))
}

/// Distinct targets become outputs: (bytes of each output, the node each
/// holds, per target its output or none for an in-place update).
fn outputs(g: &Graph) -> (Vec<u64>, Vec<usize>, Vec<Option<usize>>) {
    let mut bytes: Vec<u64> = Vec::new();
    let mut node_of: Vec<usize> = Vec::new();
    let mut target_output = Vec::new();
    for &t in &g.targets {
        if matches!(g.nodes[t].op(), Some(Op::Update { .. })) {
            target_output.push(None); // writes in place, produces nothing
            continue;
        }
        let o = match node_of.iter().position(|&n| n == t) {
            Some(o) => o,
            None => {
                node_of.push(t);
                bytes.push(binding_bytes(g.nodes[t].bytes()));
                node_of.len() - 1
            }
        };
        target_output.push(Some(o));
    }
    (bytes, node_of, target_output)
}

/// Fails with `TooManyElements` when a node is past a kernel's 32-bit index:
/// a reduction slices such a tensor (ops/reduce_split.rs); nothing computes it whole.
fn check_counts(g: &Graph) -> Result<()> {
    use crate::ops::reduce_split::{KERNEL_ELEMENTS, too_many};
    let huge = g
        .nodes
        .iter()
        .find(|n| n.op().is_some() && crate::shape::numel(&n.shape) as u64 > KERNEL_ELEMENTS);
    match huge {
        Some(n) => Err(too_many("realize", &n.shape)),
        None => Ok(()),
    }
}

/// Fails with `TooLarge` when an output or intermediate is over one binding.
fn check_sizes(dev: &Device, g: &Graph, nodes: impl Iterator<Item = usize>) -> Result<()> {
    let limit = dev.max_binding_bytes();
    for n in nodes {
        let bytes = g.nodes[n].bytes();
        if bytes > limit {
            return Err(Error::TooLarge {
                op: "realize",
                shape: g.nodes[n].shape.clone(),
                bytes,
                limit_name: "max_storage_buffer_binding_size",
                limit,
            });
        }
    }
    Ok(())
}

/// Buffer roles by liveness: an intermediate's (or scratch's) slot is free
/// again once the last dispatch binding it has run; with `poison` no slot is
/// shared, so each is filled with NaN once and written by one kernel.
/// Returns the role of every buffer id and the bytes of every slot.
fn assign_slots(
    g: &Graph,
    ds: &[Dispatch],
    scratch: &[u64],
    output_node: &[usize],
    poison: bool,
) -> (Vec<Option<BufRef>>, Vec<u64>) {
    let n = g.nodes.len();
    let bytes = |b: usize| {
        if b < n {
            binding_bytes(g.nodes[b].bytes())
        } else {
            scratch[b - n]
        }
    };
    let mut last_use = vec![0usize; n + scratch.len()];
    for (s, d) in ds.iter().enumerate() {
        for &b in d.buffers.iter().flatten() {
            last_use[b] = last_use[b].max(s);
        }
    }
    let mut role: Vec<Option<BufRef>> = vec![None; n + scratch.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        if let collect::Kind::Leaf(k) = node.kind {
            role[i] = Some(BufRef::Leaf(k));
        }
    }
    for (o, &t) in output_node.iter().enumerate() {
        role[t] = Some(BufRef::Output(o));
    }
    let mut slot_bytes: Vec<u64> = Vec::new();
    let mut busy: Vec<(usize, usize)> = Vec::new(); // (slot, buffer holding it)
    let mut free: Vec<usize> = Vec::new();
    for (s, d) in ds.iter().enumerate() {
        // Release slots whose buffer was last bound before this step.
        busy.retain(|&(slot, b)| {
            let done = last_use[b] < s && !poison;
            if done {
                free.push(slot);
            }
            !done
        });
        let update = matches!(g.nodes[d.node].op(), Some(Op::Update { .. }));
        // What this dispatch writes: its node (an update has no buffer of its
        // own), and its scratch. A node read but produced by none (it has no
        // elements) still binds a buffer.
        for &b in d.buffers.iter().flatten() {
            if role[b].is_some() || (b == d.node && update) {
                continue;
            }
            let need = bytes(b);
            let best = free
                .iter()
                .enumerate()
                .filter(|&(_, &sl)| slot_bytes[sl] >= need)
                .min_by_key(|&(_, &sl)| slot_bytes[sl])
                .map(|(j, _)| j);
            let slot = match best {
                Some(j) => free.swap_remove(j),
                None => {
                    slot_bytes.push(need);
                    slot_bytes.len() - 1
                }
            };
            role[b] = Some(BufRef::Slot(slot));
            busy.push((slot, b));
        }
    }
    (role, slot_bytes)
}

/// Uniform data: each launch's blocks at the adapter's offset alignment.
struct Uniforms {
    meta: Vec<u32>,
    meta_at: Vec<u64>,
    scalar_map: Vec<(usize, usize)>,
    scalar_words: usize,
    scalar_at: Vec<u64>,
}

fn uniforms(ds: &[Dispatch], ualign: u64) -> Uniforms {
    let mut u = Uniforms {
        meta: Vec::new(),
        meta_at: Vec::new(),
        scalar_map: Vec::new(),
        scalar_words: 0,
        scalar_at: Vec::new(),
    };
    for d in ds {
        let l = &d.launch;
        if l.meta.is_empty() {
            u.meta_at.push(0);
        } else {
            let off = align(u.meta.len() as u64 * 4, ualign);
            u.meta.resize((off / 4) as usize, 0);
            u.meta_at.push(off);
            u.meta.extend(&l.meta);
        }
        if l.scalars.is_empty() {
            u.scalar_at.push(0);
        } else {
            let off = align(u.scalar_words as u64 * 4, ualign);
            let base = (off / 4) as usize;
            u.scalar_map
                .extend(l.scalars.iter().enumerate().map(|(j, &w)| (w, base + j)));
            u.scalar_words = base + align(l.scalars.len() as u64, 4) as usize;
            u.scalar_at.push(off);
        }
    }
    u
}

/// Builds the plan for `g`.
pub(crate) fn build(
    dev: &Device,
    g: &Graph,
    opts: &PlanOptions,
    spec: &Specializer,
) -> Result<Plan> {
    check_counts(g)?;
    let max_inputs = (opts.storage_buffers as usize).saturating_sub(2).max(2);
    let mat = fuse::materialize(g, max_inputs, opts.tuning.fusion);
    let (ds, scratch) = dispatches(g, &mat, opts, spec)?;
    let (outputs, output_node, target_output) = outputs(g);
    check_sizes(
        dev,
        g,
        output_node.iter().copied().chain(ds.iter().map(|d| d.node)),
    )?;
    let (role, slot_bytes) = assign_slots(g, &ds, &scratch, &output_node, opts.tuning.poison);
    let arena: Vec<Arc<GpuBuffer>> = slot_bytes
        .iter()
        .map(|&b| dev.pool().acquire(BufferKind::Storage, b))
        .collect();
    let ualign = dev.limits().min_uniform_buffer_offset_alignment as u64;
    let u = uniforms(&ds, ualign);
    let meta = (!u.meta.is_empty()).then(|| {
        let buf = dev
            .pool()
            .acquire(BufferKind::Uniform, u.meta.len() as u64 * 4);
        dev.queue()
            .write_buffer(&buf.buffer, 0, bytemuck::cast_slice(&u.meta));
        buf
    });
    let scalars = (u.scalar_words > 0).then(|| {
        dev.pool()
            .acquire(BufferKind::Uniform, u.scalar_words as u64 * 4)
    });
    let n = g.nodes.len();
    let uses_status = ds.iter().any(|d| d.launch.args.contains(&Arg::Status));
    let raises = ds
        .iter()
        .filter(|d| d.launch.args.contains(&Arg::Status))
        .filter(|d| !matches!(g.nodes[d.node].op(), Some(Op::Update { .. })))
        .map(|d| d.node)
        .collect();
    let mut steps = Vec::with_capacity(ds.len());
    for (s, d) in ds.into_iter().enumerate() {
        let l = &d.launch;
        let bindings = l
            .args
            .iter()
            .zip(&d.buffers)
            .zip(&l.src.layout)
            .enumerate()
            .filter(|(_, (_, kind))| **kind != BindKind::Unused)
            .map(|(index, ((a, b), kind))| match (*a, *b) {
                (Arg::Meta, _) => Binding {
                    index: index as u32,
                    buf: BufRef::Meta,
                    offset: u.meta_at[s],
                    size: align(l.meta.len() as u64 * 4, 16),
                },
                (Arg::Scalars, _) => Binding {
                    index: index as u32,
                    buf: BufRef::Scalars,
                    offset: u.scalar_at[s],
                    size: align(l.scalars.len() as u64, 4) * 4,
                },
                (Arg::Status, _) => Binding {
                    index: index as u32,
                    buf: BufRef::Status,
                    offset: 0,
                    size: 16,
                },
                (_, Some(b)) => Binding {
                    index: index as u32,
                    buf: role[b].expect("every bound buffer has a role"),
                    offset: 0,
                    size: match (b < n, kind) {
                        // A one-element input read as a uniform vec4 (the
                        // optimizers' clipping scale): pooled buffers hold 256 bytes.
                        (true, BindKind::Uniform) => align(g.nodes[b].bytes(), 16),
                        (true, _) => binding_bytes(g.nodes[b].bytes()),
                        (false, _) => scratch[b - n],
                    },
                },
                (_, None) => unreachable!("buffer arguments have buffer ids"),
            })
            .collect();
        steps.push(Step {
            op: d.op,
            backward: g.nodes[d.node].backward,
            name: l.src.name,
            entry: l.src.entry,
            pipeline: dev.pipelines().get(&l.src)?,
            layout: dev.pipelines().layout(&l.src.layout),
            bindings,
            workgroups: l.workgroups,
            bind_groups: crate::exec::BindGroups::new(dev.counters_handle()),
        });
    }
    Ok(Plan {
        steps,
        arena,
        outputs,
        target_output,
        meta,
        scalars,
        scalar_map: u.scalar_map,
        scalar_words: u.scalar_words,
        uses_status,
        raises,
    })
}
