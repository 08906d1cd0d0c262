//! The lazy graph: a tensor is a node that either holds a GPU buffer or records
//! the op and inputs that will produce one. Recording does no GPU work; shapes
//! and dtypes are checked here, when the op is recorded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::device::Device;
use crate::dtype::DType;
use crate::pool::GpuBuffer;
use crate::shape::View;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Tanh,
    Sigmoid,
    Relu,
    Gelu,
    GeluTanh,
    Silu,
    Softplus,
    Abs,
    Sign,
    Sin,
    Cos,
    Square,
    Recip,
    Floor,
    Ceil,
    Round,
    Erf,
    Not,
}

impl UnaryOp {
    /// Ops that only make sense on floats.
    pub fn float_only(self) -> bool {
        !matches!(
            self,
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign | UnaryOp::Square | UnaryOp::Not
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Max,
    Min,
    ArgMax,
    ArgMin,
}

/// What a lazy node computes. Scalars (constants, seeds, arange bounds) are
/// runtime values, not part of a plan's identity: a learning rate that changes
/// every step replays the same plan and compiles nothing.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    /// A scalar (shape []); broadcast with a `View`.
    Const(f64),
    /// Counter-based random numbers: element i is a hash of (seed, i).
    Rand {
        normal: bool,
        seed: u64,
    },
    /// start + i * step along a 1-D tensor.
    Arange {
        start: f64,
        step: f64,
    },
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// src = [cond, on_true, on_false]
    Where,
    /// Converts src[0] to this node's dtype.
    Cast,
    /// A strided window onto src[0]'s contiguous layout.
    View(View),
    Concat {
        axis: usize,
    },
    /// Reduces src[0] over `axes`; the node's shape keeps them as 1s or drops them.
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
    },
    /// Batched (..., M, K) x (..., K, N); batch dims already broadcast to match.
    Matmul,
    /// Row softmax (or log-softmax) over the last axis.
    Softmax {
        log: bool,
    },
    /// torch.gather: src = [data, index], index has the output's shape.
    Gather {
        axis: usize,
    },
    /// Passes integer indices through unchanged, flagging any outside [0, limit)
    /// in the device's status word (reported as an error at the next readback).
    CheckIndex {
        limit: usize,
    },
    /// The inverse placement of a (non-overlapping) view: src[0] has the view's
    /// shape; each element goes back where the view read it, zeros elsewhere.
    /// The gradient of a view.
    Unview(View),
    /// Zeros of this node's shape plus src[1] (values) added at src[0] (an index
    /// of the values' shape) along `axis`: the gradient of gather.
    ScatterAdd {
        axis: usize,
    },
    /// Row-wise softmax cross-entropy of logits src[0] (N, C) against class
    /// indices src[1] (N): the loss per row (N), 0 for ignored rows. Label
    /// smoothing is a runtime scalar.
    CrossEntropy {
        ignore: Option<i32>,
        smoothing: f32,
    },
    /// Its gradient: src = [logits, labels, dloss (N)] -> dlogits (N, C) =
    /// dloss * (softmax - smoothed one-hot), in one kernel.
    CrossEntropyGrad {
        ignore: Option<i32>,
        smoothing: f32,
    },
    /// An optimizer's in-place update of one parameter: src = [param, grad,
    /// scale (1), state...]. A sink: it writes the parameter and state buffers
    /// and produces nothing. Hyperparameters are runtime scalars.
    Update {
        rule: UpdateRule,
        hyper: [f32; 8],
    },
    /// 2-D convolution, NCHW: src = [x (B, Cin, H, W), w (Cout, Cin/g, KH, KW)].
    Conv2d(ConvParams),
    /// Its input gradient: src = [dy, w] -> dx (this node's shape is x's).
    Conv2dGradInput(ConvParams),
    /// Its weight gradient in `splits` partial sums: src = [dy, x] ->
    /// (splits, Cout, Cin/g, KH, KW), summed over the first axis afterwards.
    Conv2dGradWeight {
        params: ConvParams,
        splits: usize,
    },
    /// Max or average pooling over KH x KW windows: src = [x (B, C, H, W)].
    Pool2d(PoolParams),
    /// Its gradient: src = [x, dy] -> dx (max pooling routes to the argmax,
    /// recomputed from x).
    Pool2dGrad(PoolParams),
    /// Per-channel mean and biased variance of x (B, C, ...): -> (2, C).
    BnStats,
    /// Batch norm with batch statistics: src = [x, gamma (C), beta (C),
    /// stats (2, C)] -> (x - mean) / sqrt(var + eps) * gamma + beta.
    /// Elementwise (fused); its gradient uses the closed form.
    BnTrain {
        eps: f32,
    },
    /// Per-channel sums of dy and dy * xhat: src = [x, dy, stats] -> (2, C).
    BnGradReduce {
        eps: f32,
    },
    /// The closed-form batch-norm input gradient, elementwise: src = [x, dy,
    /// gamma, stats, sums (2, C)] -> dx =
    /// gamma * invstd / N * (N dy - sum(dy) - xhat * sum(dy xhat)).
    BnGradInput {
        eps: f32,
    },
    /// Bilinear sampling of x (B, C, H, W) at grid (B, Ho, Wo, 2) of (x, y) in
    /// [-1, 1], zeros outside: src = [x, grid] -> (B, C, Ho, Wo).
    GridSample {
        align_corners: bool,
    },
    /// Its input gradient: src = [grid, dy] -> dx (this node's shape is x's).
    GridSampleGradInput {
        align_corners: bool,
    },
    /// Its grid gradient: src = [x, grid, dy] -> dgrid (B, Ho, Wo, 2).
    GridSampleGradGrid {
        align_corners: bool,
    },
    /// Fused attention softmax(Q K^T * scale + mask) V: src = [q (B, H, Nq, D),
    /// k (B, H, Nk, D), v (B, H, Nk, Dv), lens (B) when padded] -> (B, H, Nq,
    /// Dv + 1): O, then the row log-sum-exp the gradient recomputes from.
    Attention {
        params: AttnParams,
        scale: f32,
    },
    /// dK and dV: src = [q, k, v, forward, dO, rowsum(dO * O), lens?] ->
    /// (B, H, Nk, D + Dv).
    AttentionGradKV {
        params: AttnParams,
        scale: f32,
    },
    /// dQ: the same src -> (B, H, Nq, D).
    AttentionGradQ {
        params: AttnParams,
        scale: f32,
    },
    /// Per-row (last axis) statistics of x: -> (rows, 2) = mean and
    /// 1/sqrt(var + eps); for RMSNorm 0 and 1/sqrt(mean(x^2) + eps).
    LnStats {
        rms: bool,
        eps: f32,
    },
    /// Layer norm / RMSNorm applied, elementwise: src = [x, gamma, (beta,)
    /// stats] -> (x - mean) * rstd * gamma (+ beta).
    LnApply {
        rms: bool,
    },
    /// The whole forward in one kernel, a row at a time (software adapters):
    /// src = [x, gamma, (beta)] -> y. The backward recomputes the statistics.
    LnRows {
        rms: bool,
        eps: f32,
    },
    /// Per-row sums of g*dy and g*dy*xhat: src = [x, dy, gamma, stats] -> (rows, 2).
    LnGradReduce {
        rms: bool,
    },
    /// The closed-form input gradient, elementwise: src = [x, dy, gamma, stats, sums].
    LnGradInput {
        rms: bool,
    },
    /// Both in one kernel, a row at a time (software adapters): src = [x, dy,
    /// gamma, stats] -> dx.
    LnGradRows {
        rms: bool,
    },
}

/// Which keys a query sees (see shaders/attention.wgsl).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AttnParams {
    /// Key j is visible to query i only when j <= i.
    pub causal: bool,
    /// Key j is visible only when |i - j| <= window.
    pub window: Option<usize>,
    /// A (B) i32 tensor of key lengths follows v in src.
    pub padded: bool,
}

/// Geometry of a 2-D convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConvParams {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for ConvParams {
    fn default() -> Self {
        ConvParams {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

/// Geometry and kind of a 2-D pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolParams {
    /// Max (true) or average, counting padding in the divisor as PyTorch does.
    pub max: bool,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

/// How an `Update` changes a parameter (see shaders/optim.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpdateRule {
    /// SGD with momentum (state: the momentum buffer).
    Sgd { nesterov: bool },
    /// Adam (state: first and second moments); `decoupled` is AdamW.
    Adam { decoupled: bool },
    /// A running average (batch norm's running statistics): src = [running,
    /// new value]; running = (1 - momentum) * running + momentum * new.
    Ema,
}

impl Op {
    /// True for ops a fused elementwise kernel can compute inline.
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
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
                | Op::Unview(_)
                | Op::BnTrain { .. }
                | Op::BnGradInput { .. }
                | Op::LnApply { .. }
                | Op::LnGradInput { .. }
        )
    }
}

/// A node's value and history.
pub(crate) struct State {
    /// The value once realized: a contiguous buffer.
    pub buf: Option<Arc<GpuBuffer>>,
    /// How the value is computed. A leaf has none; a realized node keeps it
    /// only while gradients may flow through it.
    pub op: Option<Op>,
    pub src: Vec<crate::Tensor>,
}

impl State {
    /// The op still to run, if the node is not realized.
    pub fn pending(&self) -> Option<(&Op, &[crate::Tensor])> {
        match (&self.buf, &self.op) {
            (None, Some(op)) => Some((op, &self.src)),
            _ => None,
        }
    }
}

pub(crate) struct Node {
    pub device: Device,
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub state: Mutex<State>,
    /// Gradients flow to (or through) this node.
    pub requires_grad: AtomicBool,
    /// The accumulated gradient of a leaf that requires one.
    pub grad: Mutex<Option<crate::Tensor>>,
}

impl Node {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn requires_grad(&self) -> bool {
        self.requires_grad.load(Ordering::Relaxed)
    }

    /// Stores the realized value; the history goes unless gradients need it.
    pub fn set_realized(&self, buf: Arc<GpuBuffer>) {
        let dropped = {
            let mut s = self.state();
            s.buf = Some(buf);
            if self.requires_grad() {
                Vec::new()
            } else {
                s.op = None;
                std::mem::take(&mut s.src)
            }
        };
        drop(dropped); // outside the lock: dropping a graph locks other nodes
    }
}

impl Drop for Node {
    /// Drops the graph under this node iteratively: a long chain of lazy ops (an
    /// unrolled RNN) would otherwise recurse once per node and overflow the stack.
    fn drop(&mut self) {
        let take = |n: &Node| std::mem::take(&mut n.state().src);
        let mut stack = take(self);
        while let Some(t) = stack.pop() {
            if let Ok(node) = Arc::try_unwrap(t.0) {
                stack.extend(take(&node));
            }
        }
    }
}
