//! Collect: walks what a realize needs, from its targets down to realized
//! buffers, into a flat topological list. The list's structure (ops, shapes,
//! dtypes, wiring) is the key that finds a cached plan; the buffers and scalar
//! values are what a replay binds and uploads.

use std::collections::HashMap;
use std::sync::Arc;

use crate::dtype::{DType, scalar_bits};
use crate::graph::{Op, ReduceOp};
use crate::pool::GpuBuffer;
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
}

/// How many runtime scalar words an op carries.
fn scalar_words(op: &Op, dtype: DType) -> Vec<u32> {
    match *op {
        Op::Const(v) => vec![scalar_bits(dtype, v)],
        Op::Rand { seed, .. } => vec![seed as u32, (seed >> 32) as u32],
        Op::Arange { start, step } => vec![scalar_bits(dtype, start), scalar_bits(dtype, step)],
        Op::CrossEntropy { smoothing, .. } | Op::CrossEntropyGrad { smoothing, .. } => {
            vec![smoothing.to_bits()]
        }
        Op::Update { hyper, .. } => hyper.iter().map(|h| h.to_bits()).collect(),
        Op::BnTrain { eps } | Op::BnGradReduce { eps } | Op::BnGradInput { eps } => {
            vec![eps.to_bits()]
        }
        Op::Attention { scale, .. }
        | Op::AttentionGradKV { scale, .. }
        | Op::AttentionGradQ { scale, .. } => vec![scale.to_bits()],
        Op::LnStats { eps, .. } | Op::LnRows { eps, .. } => vec![eps.to_bits()],
        _ => vec![],
    }
}

fn op_key(op: &Op, key: &mut Vec<u64>) {
    match op {
        Op::Const(_) => key.push(1),
        Op::Rand { normal, .. } => key.extend([2, *normal as u64]),
        Op::Arange { .. } => key.push(3),
        Op::Unary(u) => key.extend([4, *u as u64]),
        Op::Binary(b) => key.extend([5, *b as u64]),
        Op::Where => key.push(6),
        Op::Cast => key.push(7),
        Op::View(v) => {
            key.extend([8, v.offset as u64, v.shape.len() as u64]);
            key.extend(v.strides.iter().map(|&s| s as u64));
        }
        Op::Concat { axis } => key.extend([9, *axis as u64]),
        Op::Reduce { op, axes } => {
            let tag = match op {
                ReduceOp::Sum => 0,
                ReduceOp::Max => 1,
                ReduceOp::Min => 2,
                ReduceOp::ArgMax => 3,
                ReduceOp::ArgMin => 4,
            };
            key.extend([10, tag, axes.len() as u64]);
            key.extend(axes.iter().map(|&a| a as u64));
        }
        Op::Matmul => key.push(11),
        Op::Softmax { log } => key.extend([12, *log as u64]),
        Op::Gather { axis } => key.extend([13, *axis as u64]),
        Op::CheckIndex { limit } => key.extend([14, *limit as u64]),
        Op::Unview(v) => {
            key.extend([15, v.offset as u64, v.shape.len() as u64]);
            key.extend(v.shape.iter().map(|&s| s as u64));
            key.extend(v.strides.iter().map(|&s| s as u64));
        }
        Op::ScatterAdd { axis } => key.extend([16, *axis as u64]),
        Op::CrossEntropy { ignore, .. } => {
            key.extend([17, ignore.map_or(u64::MAX, |i| i as u32 as u64)])
        }
        Op::CrossEntropyGrad { ignore, .. } => {
            key.extend([18, ignore.map_or(u64::MAX, |i| i as u32 as u64)])
        }
        Op::Conv2d(p) => {
            key.push(20);
            conv_key(p, key);
        }
        Op::Conv2dGradInput(p) => {
            key.push(21);
            conv_key(p, key);
        }
        Op::Conv2dGradWeight { params, splits } => {
            key.extend([22, *splits as u64]);
            conv_key(params, key);
        }
        Op::Pool2d(p) | Op::Pool2dGrad(p) => {
            key.extend([
                if matches!(op, Op::Pool2d(_)) { 23 } else { 24 },
                p.max as u64,
            ]);
            key.extend(
                p.kernel
                    .iter()
                    .chain(&p.stride)
                    .chain(&p.padding)
                    .map(|&v| v as u64),
            );
        }
        Op::BnStats => key.push(25),
        Op::BnTrain { .. } => key.push(26),
        Op::BnGradReduce { .. } => key.push(27),
        Op::BnGradInput { .. } => key.push(28),
        Op::GridSample { align_corners } => key.extend([29, *align_corners as u64]),
        Op::GridSampleGradInput { align_corners } => key.extend([30, *align_corners as u64]),
        Op::GridSampleGradGrid { align_corners } => key.extend([31, *align_corners as u64]),
        Op::Attention { params, .. }
        | Op::AttentionGradKV { params, .. }
        | Op::AttentionGradQ { params, .. } => {
            let tag = match op {
                Op::Attention { .. } => 32,
                Op::AttentionGradKV { .. } => 33,
                _ => 34,
            };
            key.extend([
                tag,
                params.causal as u64,
                params.padded as u64,
                params.window.map_or(u64::MAX, |w| w as u64),
            ]);
        }
        Op::LnStats { rms, .. } => key.extend([35, *rms as u64]),
        Op::LnApply { rms } => key.extend([36, *rms as u64]),
        Op::LnRows { rms, .. } => key.extend([39, *rms as u64]),
        Op::LnGradReduce { rms } => key.extend([37, *rms as u64]),
        Op::LnGradInput { rms } => key.extend([38, *rms as u64]),
        Op::LnGradRows { rms } => key.extend([40, *rms as u64]),
        Op::Update { rule, .. } => key.extend([
            19,
            match rule {
                crate::graph::UpdateRule::Sgd { nesterov } => *nesterov as u64,
                crate::graph::UpdateRule::Adam { decoupled } => 2 + *decoupled as u64,
                crate::graph::UpdateRule::Ema => 4,
            },
        ]),
    }
}

fn conv_key(p: &crate::graph::ConvParams, key: &mut Vec<u64>) {
    key.extend(
        p.stride
            .iter()
            .chain(&p.padding)
            .chain(&p.dilation)
            .chain(std::iter::once(&p.groups))
            .map(|&v| v as u64),
    );
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
                    push_node(&mut g, &mut index, &n, Kind::Leaf(leaf), vec![]);
                }
                Some((op, src)) => {
                    if expanded {
                        let src_idx: Vec<usize> =
                            src.iter().map(|s| index[&Arc::as_ptr(&s.0)]).collect();
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
    g.key.extend([0xFFFF, dtype.tag(), shape.len() as u64]);
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
    });
}
