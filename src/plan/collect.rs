//! Collect: walks what a realize needs, from its targets down to realized
//! buffers, into a flat topological list. The list's structure (ops, shapes,
//! dtypes, wiring) is the key that finds a cached plan; the buffers and scalar
//! values are what a replay binds and uploads.

use std::collections::HashMap;
use std::sync::Arc;

use crate::dtype::{DType, scalar_bits};
use crate::graph::{Op, RunStatus};
use crate::pool::GpuBuffer;
use crate::shape::View;
use crate::tensor::Tensor;

pub(crate) enum Kind {
    /// A realized buffer: the k-th entry of `Graph::leaves`.
    Leaf(usize),
    Op(Op),
}

pub(crate) struct GNode {
    pub kind: Kind,
    pub src: Vec<usize>,
    pub shape: Vec<usize>,
    pub dtype: DType,
    /// First of this node's runtime scalars in `Graph::scalars`.
    pub scalar: usize,
    /// Recorded by `backward` (for profiles; not part of the key).
    pub backward: bool,
}

impl GNode {
    pub fn op(&self) -> Option<&Op> {
        match &self.kind {
            Kind::Op(op) => Some(op),
            Kind::Leaf(_) => None,
        }
    }

    pub fn numel(&self) -> usize {
        crate::shape::numel(&self.shape)
    }

    pub fn bytes(&self) -> u64 {
        (self.numel() as u64).saturating_mul(self.dtype.size_bytes() as u64)
    }
}

pub(crate) struct Graph {
    pub nodes: Vec<GNode>,
    pub key: Vec<u64>,
    pub leaves: Vec<Arc<GpuBuffer>>,
    /// Runtime scalars, as the 32-bit words kernels read.
    pub scalars: Vec<u32>,
    /// Node index of each target, in the order asked.
    pub targets: Vec<usize>,
    /// The tensors behind `targets`, to receive their buffers.
    pub target_tensors: Vec<Tensor>,
    /// Buffers an update of this graph overwrites, with the update's place in
    /// the order of recording.
    pub written: Vec<(Tensor, u64)>,
    /// Every node of the graph.
    pub members: HashMap<*const crate::graph::Node, usize>,
    /// The unread status words the leaves' values depend on.
    pub taint: Vec<Arc<RunStatus>>,
    /// Per node, which of `taint` its value depends on (bit i: `taint[i]`).
    pub taint_mask: Vec<u64>,
}

/// The runtime scalar words an op carries.
fn scalar_words(op: &Op, dtype: DType) -> Vec<u32> {
    match op {
        Op::Const(v) => vec![scalar_bits(dtype, *v)],
        Op::Rand { seed, .. } => vec![*seed as u32, (*seed >> 32) as u32],
        Op::Arange { start, step } => vec![scalar_bits(dtype, *start), scalar_bits(dtype, *step)],
        Op::Update { hyper, .. } => hyper.iter().map(|h| h.to_bits()).collect(),
        Op::Kernel(k) => k.scalars(),
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Where
        | Op::Cast
        | Op::View(_)
        | Op::Concat { .. }
        | Op::Reduce { .. }
        | Op::Matmul
        | Op::Gather { .. }
        | Op::CheckIndex { .. }
        | Op::Unview(_)
        | Op::ScatterAdd { .. }
        | Op::CustomGrad(_) => vec![],
    }
}

fn view_key(tag: u64, v: &View, key: &mut Vec<u64>) {
    key.extend([tag, v.offset as u64, v.shape.len() as u64]);
    key.extend(v.shape.iter().map(|&s| s as u64));
    key.extend(v.strides.iter().map(|&s| s as u64));
}

/// The words that identify an op in a plan's key (its shape and dtype are
/// keyed by the caller).
fn op_key(op: &Op, key: &mut Vec<u64>) {
    match op {
        Op::Const(_) => key.push(1),
        Op::Rand { normal, .. } => key.extend([2, *normal as u64]),
        Op::Arange { .. } => key.push(3),
        Op::Unary(u) => key.extend([4, *u as u64]),
        Op::Binary(b) => key.extend([5, *b as u64]),
        Op::Where => key.push(6),
        Op::Cast => key.push(7),
        Op::View(v) => view_key(8, v, key),
        Op::Concat { axis } => key.extend([9, *axis as u64]),
        Op::Reduce { op, axes } => {
            key.extend([10, *op as u64, axes.len() as u64]);
            key.extend(axes.iter().map(|&a| a as u64));
        }
        Op::Matmul => key.push(11),
        Op::Gather { axis } => key.extend([13, *axis as u64]),
        Op::CheckIndex { limit } => key.extend([14, *limit as u64]),
        Op::Unview(v) => view_key(15, v, key),
        Op::ScatterAdd { axis } => key.extend([16, *axis as u64]),
        Op::Update { rule, .. } => key.extend([19, rule.tag()]),
        Op::Kernel(k) => {
            // The name, whole, then what the kernel says tells its nodes apart.
            let name = k.name().as_bytes();
            key.extend([20, name.len() as u64]);
            key.extend(
                name.chunks(8)
                    .map(|c| c.iter().fold(0u64, |w, &b| (w << 8) | b as u64)),
            );
            k.key(key);
        }
        Op::CustomGrad(_) => unreachable!("collect computes a custom-gradient node's value"),
    }
}

/// Walks the lazy part of the graph under `targets` (already-realized targets
/// are skipped by the caller). Iterative, so deep graphs cannot overflow the stack.
pub(crate) fn collect(targets: &[Tensor]) -> Graph {
    let mut g = Graph {
        nodes: Vec::new(),
        key: Vec::new(),
        leaves: Vec::new(),
        scalars: Vec::new(),
        targets: Vec::new(),
        target_tensors: targets.to_vec(),
        written: Vec::new(),
        members: HashMap::new(),
        taint: Vec::new(),
        taint_mask: Vec::new(),
    };
    let mut index: HashMap<*const crate::graph::Node, usize> = HashMap::new();
    for t in targets {
        // (tensor, children pushed?) — post-order without recursion.
        let mut stack: Vec<(Tensor, bool)> = vec![(t.clone(), false)];
        while let Some((n, expanded)) = stack.pop() {
            let ptr = Arc::as_ptr(&n.0);
            if index.contains_key(&ptr) {
                continue;
            }
            let state = n.0.state();
            match state.pending() {
                None => {
                    let leaf = g.leaves.len();
                    g.leaves
                        .push(state.buf.clone().expect("a node is lazy or realized"));
                    drop(state);
                    let mut mask = 0u64;
                    for t in n.0.taint() {
                        let i = match g.taint.iter().position(|u| Arc::ptr_eq(u, &t)) {
                            Some(i) => i,
                            None => {
                                g.taint.push(t);
                                g.taint.len() - 1
                            }
                        };
                        // Past 63 words, the last bit stands for all the rest.
                        mask |= 1 << i.min(63);
                    }
                    g.taint_mask.resize(g.nodes.len(), 0);
                    g.taint_mask.push(mask);
                    push_node(&mut g, &mut index, &n, Kind::Leaf(leaf), vec![]);
                }
                Some((Op::CustomGrad(_), src)) => {
                    // The planner computes src[0]: the node is an alias of it.
                    let value = src[0].clone();
                    drop(state);
                    match index.get(&Arc::as_ptr(&value.0)) {
                        Some(&i) => {
                            index.insert(ptr, i);
                        }
                        None => {
                            stack.push((n, false));
                            stack.push((value, false));
                        }
                    }
                }
                Some((op, src)) => {
                    if expanded {
                        let src_idx: Vec<usize> =
                            src.iter().map(|s| index[&Arc::as_ptr(&s.0)]).collect();
                        if let Op::Update { .. } = op {
                            let written = src[..1].iter().chain(src.iter().skip(3));
                            g.written.extend(written.map(|t| (t.clone(), n.0.seq)));
                        }
                        let op = op.clone();
                        drop(state);
                        push_node(&mut g, &mut index, &n, Kind::Op(op), src_idx);
                    } else {
                        let children: Vec<Tensor> = src.iter().rev().cloned().collect();
                        drop(state);
                        stack.push((n, true));
                        for c in children {
                            if !index.contains_key(&Arc::as_ptr(&c.0)) {
                                stack.push((c, false));
                            }
                        }
                    }
                }
            }
        }
        g.targets.push(index[&Arc::as_ptr(&t.0)]);
    }
    g.members = index;
    // An op's value depends on what its inputs' values depend on.
    g.taint_mask.resize(g.nodes.len(), 0);
    for i in 0..g.nodes.len() {
        let m = g.nodes[i].src.iter().fold(0, |m, &s| m | g.taint_mask[s]);
        g.taint_mask[i] |= m;
    }
    g.key.push(0xFFFE);
    g.key.extend(g.targets.iter().map(|&t| t as u64));
    g
}

fn push_node(
    g: &mut Graph,
    index: &mut HashMap<*const crate::graph::Node, usize>,
    t: &Tensor,
    kind: Kind,
    src: Vec<usize>,
) {
    let id = g.nodes.len();
    let (shape, dtype) = (t.0.shape.clone(), t.0.dtype);
    // Whether backward recorded it only names its dispatches in a profile,
    // but a plan must name them rightly.
    g.key
        .extend([0xFFFF, dtype.tag(), t.0.backward as u64, shape.len() as u64]);
    g.key.extend(shape.iter().map(|&d| d as u64));
    let scalar = g.scalars.len();
    match &kind {
        Kind::Leaf(_) => g.key.push(0),
        Kind::Op(op) => {
            op_key(op, &mut g.key);
            g.scalars.extend(scalar_words(op, dtype));
        }
    }
    g.key.push(src.len() as u64);
    g.key.extend(src.iter().map(|&s| s as u64));
    index.insert(Arc::as_ptr(&t.0), id);
    g.nodes.push(GNode {
        kind,
        src,
        shape,
        dtype,
        scalar,
        backward: t.0.backward,
    });
}
