//! Planner: from a collected graph to a `Plan` the executor can replay: the
//! kernels in order, each binding resolved to a buffer role, intermediate
//! buffers assigned by liveness, uniform data laid out once.

pub(crate) mod collect;
pub(crate) mod fuse;

use std::sync::{Arc, Mutex};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::Op;
use crate::kernels::matmul::MatmulVariant;
use crate::kernels::{self, Arg, Launch, Operand};
use crate::pool::{BufferKind, GpuBuffer};
use crate::shape::View;
use collect::Graph;

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
    pub buf: BufRef,
    pub offset: u64,
    pub size: u64,
}

pub(crate) struct Step {
    pub name: &'static str,
    pub entry: &'static str,
    pub pipeline: Arc<wgpu::ComputePipeline>,
    pub layout: crate::pipeline::Layout,
    pub bindings: Vec<Binding>,
    pub workgroups: [u32; 3],
    /// Bind groups already made, by the ids of the buffers they bind.
    pub bind_groups: Mutex<Vec<(Vec<u64>, wgpu::BindGroup)>>,
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
}

/// Binding size of a node's buffer: its bytes, rounded to whole words, never 0.
fn binding_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(4).max(1) * 4
}

fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// A materialized node, or a view of one, as a hand-written kernel reads it.
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

/// The dispatches that compute node `k` (most kernels need one).
fn launch_for(g: &Graph, mat: &[bool], k: usize, opts: &PlanOptions) -> Result<Vec<Launch>> {
    let node = &g.nodes[k];
    let op = node.op().expect("kernels are ops");
    let opd = |i: usize| operand(g, mat, node.src[i]);
    Ok(match op {
        Op::Reduce { .. } => vec![kernels::reduce::launch(g, mat, k)],
        Op::Matmul => vec![kernels::matmul::launch(
            g,
            k,
            &opd(0),
            &opd(1),
            opts.matmul,
            opts.lanes,
        )?],
        Op::Softmax { .. } => vec![kernels::softmax::launch(g, k, &opd(0), opts.lanes)?],
        Op::Gather { .. } => kernels::gather::launch(g, k, &opd(0), &opd(1))?,
        Op::ScatterAdd { .. } => kernels::gather::launch_scatter(g, k, &opd(0), &opd(1))?,
        Op::CrossEntropy { .. } => vec![kernels::cross_entropy::launch(g, k, &[opd(0), opd(1)])],
        Op::CrossEntropyGrad { .. } => {
            vec![kernels::cross_entropy::launch(
                g,
                k,
                &[opd(0), opd(1), opd(2)],
            )]
        }
        Op::Update { .. } => vec![kernels::optim::launch(g, k, opts.cpu)],
        Op::Conv2d(_) | Op::Conv2dGradInput(_) | Op::Conv2dGradWeight { .. } => {
            vec![kernels::conv2d::launch(g, k, opts.conv, opts.lanes)?]
        }
        Op::Pool2d(_) | Op::Pool2dGrad(_) => vec![kernels::pool2d::launch(g, k, opts.cpu)],
        Op::BnStats | Op::BnGradReduce { .. } => vec![kernels::batchnorm::launch(g, k)],
        Op::GridSample { .. } => kernels::grid_sample::launch_forward(g, k, &opd(0), &opd(1))?,
        Op::GridSampleGradInput { .. } => {
            kernels::grid_sample::launch_grad_input(g, k, &opd(0), &opd(1))?
        }
        Op::GridSampleGradGrid { .. } => {
            kernels::grid_sample::launch_grad_grid(g, k, &opd(0), &opd(1), &opd(2))?
        }
        Op::LnStats { .. }
        | Op::LnRows { .. }
        | Op::LnGradReduce { .. }
        | Op::LnGradRows { .. } => {
            vec![kernels::layernorm::launch(g, k, opts.lanes)]
        }
        Op::Attention { .. } | Op::AttentionGradKV { .. } | Op::AttentionGradQ { .. } => {
            vec![kernels::attention::launch(g, k, opts.lanes)?]
        }
        _ => vec![kernels::elementwise::launch(g, mat, k, opts.cpu)],
    })
}

/// The device settings a plan bakes in; part of the plan cache key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PlanOptions {
    pub poison: bool,
    pub fuse: bool,
    pub matmul: MatmulVariant,
    /// The subgroup width the lanes matmul is specialised for.
    pub lanes: u32,
    pub conv: kernels::conv2d::ConvVariant,
    /// A CPU (software) adapter: every workgroup costs a task switch there, so
    /// elementwise kernels give each invocation several elements.
    pub cpu: bool,
}

impl PlanOptions {
    pub fn of(dev: &Device) -> PlanOptions {
        PlanOptions {
            poison: dev.poison_outputs(),
            fuse: dev.fusion(),
            matmul: MatmulVariant::choose(dev).0,
            lanes: kernels::matmul::lanes(dev).unwrap_or(0),
            conv: kernels::conv2d::ConvVariant::choose(dev),
            cpu: dev.is_cpu(),
        }
    }
}

/// Builds the plan for `g`. With `poison`, no intermediate buffer is reused, so
/// each is filled with NaN once and written by exactly one kernel.
pub(crate) fn build(dev: &Device, g: &Graph, opts: &PlanOptions) -> Result<Plan> {
    let inner = &dev.0;
    let max_inputs = (inner.limits.max_storage_buffers_per_shader_stage as usize)
        .saturating_sub(2)
        .max(2);
    let mat = fuse::materialize(g, max_inputs, opts.fuse);
    let poison = opts.poison;

    // Kernels, in topological order; zero-element outputs need none. In-place
    // updates go last: they overwrite buffers other kernels may still read.
    let is_update = |i: usize| matches!(g.nodes[i].op(), Some(Op::Update { .. }));
    let mut kernels: Vec<usize> = (0..g.nodes.len())
        .filter(|&i| mat[i] && g.nodes[i].op().is_some() && g.nodes[i].numel() > 0)
        .collect();
    kernels.sort_by_key(|&i| is_update(i));
    // Each dispatch, with the node it computes.
    let mut writes: Vec<usize> = Vec::new();
    let mut launches: Vec<Launch> = Vec::new();
    for &k in &kernels {
        for l in launch_for(g, &mat, k, opts)? {
            writes.push(k);
            launches.push(l);
        }
    }

    // Distinct targets become outputs.
    let mut outputs: Vec<u64> = Vec::new();
    let mut output_node: Vec<usize> = Vec::new();
    let mut target_output = Vec::new();
    for &t in &g.targets {
        if is_update(t) {
            target_output.push(None); // writes in place, produces nothing
            continue;
        }
        let o = match output_node.iter().position(|&n| n == t) {
            Some(o) => o,
            None => {
                output_node.push(t);
                outputs.push(binding_bytes(g.nodes[t].bytes()));
                output_node.len() - 1
            }
        };
        target_output.push(Some(o));
    }
    let limit = dev.max_binding_bytes();
    for &n in output_node.iter().chain(&kernels) {
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

    // Liveness: an intermediate's buffer is free once its last reader has run.
    let mut last_use = vec![0usize; g.nodes.len()];
    for (s, l) in launches.iter().enumerate() {
        for a in &l.args {
            if let Arg::Node(n) = a {
                last_use[*n] = last_use[*n].max(s);
            }
        }
    }
    let mut role: Vec<Option<BufRef>> = vec![None; g.nodes.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        if let collect::Kind::Leaf(k) = node.kind {
            role[i] = Some(BufRef::Leaf(k));
        }
    }
    for (o, &n) in output_node.iter().enumerate() {
        role[n] = Some(BufRef::Output(o));
    }
    let mut slot_bytes: Vec<u64> = Vec::new();
    let mut busy: Vec<(usize, usize)> = Vec::new(); // (slot, node holding it)
    let mut free: Vec<usize> = Vec::new();
    for (s, &k) in writes.iter().enumerate() {
        if is_update(k) {
            continue; // no buffer of its own
        }
        // Release slots whose node was last read before this step.
        busy.retain(|&(slot, node)| {
            let done = last_use[node] < s && !poison;
            if done {
                free.push(slot);
            }
            !done
        });
        if role[k].is_some() {
            continue;
        }
        let need = binding_bytes(g.nodes[k].bytes());
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
        role[k] = Some(BufRef::Slot(slot));
        busy.push((slot, k));
    }
    // Nodes read by a kernel but produced by none (zero-element ones) still bind a buffer.
    for l in &launches {
        for a in &l.args {
            if let Arg::Node(n) = *a
                && role[n].is_none()
            {
                slot_bytes.push(4);
                role[n] = Some(BufRef::Slot(slot_bytes.len() - 1));
            }
        }
    }
    let arena: Vec<Arc<GpuBuffer>> = slot_bytes
        .iter()
        .map(|&b| inner.pool.acquire(BufferKind::Storage, b))
        .collect();

    // Uniform data: each launch's block at the adapter's offset alignment.
    let ualign = inner.limits.min_uniform_buffer_offset_alignment as u64;
    let mut meta_words: Vec<u32> = Vec::new();
    let mut meta_at = Vec::new();
    let mut scalar_map = Vec::new();
    let mut scalar_words = 0usize;
    let mut scalar_at = Vec::new();
    for l in &launches {
        if l.meta.is_empty() {
            meta_at.push(0);
        } else {
            let off = align(meta_words.len() as u64 * 4, ualign);
            meta_words.resize((off / 4) as usize, 0);
            meta_at.push(off);
            meta_words.extend(&l.meta);
        }
        if l.scalars.is_empty() {
            scalar_at.push(0);
        } else {
            let off = align(scalar_words as u64 * 4, ualign);
            let base = (off / 4) as usize;
            scalar_map.extend(l.scalars.iter().enumerate().map(|(j, &w)| (w, base + j)));
            scalar_words = base + align(l.scalars.len() as u64, 4) as usize;
            scalar_at.push(off);
        }
    }
    let meta = (!meta_words.is_empty()).then(|| {
        let buf = inner
            .pool
            .acquire(BufferKind::Uniform, meta_words.len() as u64 * 4);
        inner
            .queue
            .write_buffer(&buf.buffer, 0, bytemuck::cast_slice(&meta_words));
        buf
    });
    let scalars = (scalar_words > 0).then(|| {
        inner
            .pool
            .acquire(BufferKind::Uniform, scalar_words as u64 * 4)
    });

    let mut steps = Vec::with_capacity(launches.len());
    for (s, l) in launches.into_iter().enumerate() {
        let pipeline = inner.pipelines.get(&l.src)?;
        let layout = inner.pipelines.layout(&l.src.layout);
        let bindings = l
            .args
            .iter()
            .map(|a| match *a {
                Arg::Node(n) => Binding {
                    buf: role[n].expect("every bound node has a buffer"),
                    offset: 0,
                    size: binding_bytes(g.nodes[n].bytes()),
                },
                Arg::Meta => Binding {
                    buf: BufRef::Meta,
                    offset: meta_at[s],
                    size: align(l.meta.len() as u64 * 4, 16),
                },
                Arg::Scalars => Binding {
                    buf: BufRef::Scalars,
                    offset: scalar_at[s],
                    size: align(l.scalars.len() as u64, 4) * 4,
                },
                Arg::Status => Binding {
                    buf: BufRef::Status,
                    offset: 0,
                    size: 16,
                },
            })
            .collect();
        steps.push(Step {
            name: l.src.name,
            entry: l.src.entry,
            pipeline,
            layout,
            bindings,
            workgroups: l.workgroups,
            bind_groups: Mutex::new(Vec::new()),
        });
    }
    Ok(Plan {
        steps,
        arena,
        outputs,
        target_output,
        meta,
        scalars,
        scalar_map,
        scalar_words,
    })
}
