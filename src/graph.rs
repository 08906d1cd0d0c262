//! The lazy graph: a tensor is a node that either holds a GPU buffer or records
//! the op and inputs that will produce one. Recording does no GPU work; shapes
//! and dtypes are checked here, when the op is recorded.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::kernels::Kernel;
use crate::pool::GpuBuffer;
use crate::shape::View;
use crate::tensor::Tensor;

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

/// What a lazy node computes: a small closed set of primitives the planner,
/// the fuser and autodiff understand, and `Kernel` for every hand-written
/// kernel (which carries its own launch and backward). Scalars (constants,
/// seeds, arange bounds) are runtime values, not part of a plan's identity: a
/// learning rate that changes every step replays the same plan and compiles
/// nothing.
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
    /// An optimizer's in-place update of one parameter: src = [param, grad,
    /// scale (1), state...]. A sink: it writes the parameter and state buffers
    /// and produces nothing. Hyperparameters are runtime scalars.
    Update {
        rule: UpdateRule,
        hyper: [f32; 8],
    },
    /// A hand-written kernel over src (each a contiguous buffer).
    Kernel(Arc<dyn Kernel>),
    /// src[0]'s value with a gradient rule of its own for src[1..], the inputs
    /// src[0] was composed from under `no_grad` (PyTorch's autograd.Function).
    /// Only autodiff sees it: the planner computes src[0].
    CustomGrad(Arc<dyn GradRule>),
}

/// The gradient of a composed op (see `Op::CustomGrad`).
pub(crate) trait GradRule: Send + Sync + 'static {
    /// The gradient of each input given the output's, recorded as ops.
    fn backward(
        &self,
        inputs: &[Tensor],
        out: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>>;
}

impl std::fmt::Debug for dyn GradRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GradRule")
    }
}

impl std::fmt::Debug for dyn Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How an `Update` changes a parameter (see shaders/optim.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpdateRule {
    /// SGD with momentum (state: the momentum buffer).
    Sgd { nesterov: bool },
    /// Adam (state: first and second moments); `decoupled` is AdamW.
    Adam { decoupled: bool },
    /// Plain SGD of a table's sparse gradient: src = [table, row gradients
    /// (N, d), scale (1), row ids (N)]; p[ids[r]] -= lr * scale * rows[r].
    SparseSgd,
    /// Lazy Adam of a table's coalesced sparse gradient (torch's SparseAdam):
    /// src = [table, row gradients (N, d), scale (1), row ids (N), m, v];
    /// only the rows read, and their moments, change.
    SparseAdam,
    /// A running average (batch norm's running statistics): src = [running,
    /// new value]; running = (1 - momentum) * running + momentum * new.
    Ema,
}

impl UpdateRule {
    /// The rule's word in a plan key.
    pub fn tag(self) -> u64 {
        match self {
            UpdateRule::Sgd { nesterov } => nesterov as u64,
            UpdateRule::Adam { decoupled } => 2 + decoupled as u64,
            UpdateRule::Ema => 4,
            UpdateRule::SparseSgd => 5,
            UpdateRule::SparseAdam => 6,
        }
    }
}

impl Op {
    /// Elementwise ops that do real work (worth a buffer when shared);
    /// constants, generators and views are cheaper to recompute than to
    /// store and reload.
    pub fn is_compute(&self) -> bool {
        self.is_elementwise()
            && !matches!(
                self,
                Op::Const(_) | Op::Rand { .. } | Op::Arange { .. } | Op::View(_)
            )
    }

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
        )
    }
}

/// The status word of one realize whose kernels can meet a bad index (a
/// gather, a class label out of range): a 16-byte buffer they raise bits in.
/// Values that realize computed, and everything computed from them, carry it
/// until a readback has seen it: a nonzero word makes their reads errors.
pub(crate) struct RunStatus {
    /// The word on the GPU, until a readback has read it.
    pub buffer: Mutex<Option<Arc<GpuBuffer>>>,
    /// The bits, once read.
    pub bits: std::sync::OnceLock<u32>,
}

impl RunStatus {
    pub fn new(buffer: Arc<GpuBuffer>) -> RunStatus {
        RunStatus {
            buffer: Mutex::new(Some(buffer)),
            bits: std::sync::OnceLock::new(),
        }
    }

    /// True once it has been read and found clear: it taints nothing more.
    pub fn clear(&self) -> bool {
        self.bits.get() == Some(&0)
    }

    /// Records what a readback found; a clear word's buffer goes back to the pool.
    pub fn set(&self, bits: u32) {
        let _ = self.bits.set(bits);
        self.buffer.lock().unwrap_or_else(|e| e.into_inner()).take();
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
    /// A leaf whose gradient is kept sparse: the rows its lookups read and
    /// their gradients (`rows_grad`), never a dense tensor of its shape.
    pub sparse: AtomicBool,
    pub rows_grad: Mutex<Option<crate::autodiff_sparse::SparseGrad>>,
    /// Of an index tensor: how many of its leading entries are distinct
    /// rows (the rest pad it to a repeatable length); `usize::MAX` when
    /// nothing is known.
    pub distinct_rows: AtomicUsize,
    /// Lazy nodes recorded to read this node's buffer (directly, or through a
    /// view): an in-place update of the buffer realizes the live ones first,
    /// so they read the value they were recorded against.
    pub readers: Mutex<Vec<Weak<Node>>>,
    /// When it was recorded, in the device's order of recording.
    pub seq: u64,
    /// Recorded by `backward` (a gradient node).
    pub backward: bool,
    /// The status words of the realizes that computed its value (or the
    /// values it was computed from) and that no readback has seen yet.
    pub taint: Mutex<Vec<Arc<RunStatus>>>,
}

impl Node {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn requires_grad(&self) -> bool {
        self.requires_grad.load(Ordering::Relaxed)
    }

    /// The status words its value still depends on (clear ones dropped).
    pub fn taint(&self) -> Vec<Arc<RunStatus>> {
        let mut t = self.taint.lock().unwrap_or_else(|e| e.into_inner());
        t.retain(|s| !s.clear());
        t.clone()
    }

    /// Notes that `reader` (lazy) reads this node's buffer.
    pub fn add_reader(&self, reader: &Arc<Node>) {
        let mut r = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the dead ones now and then, so a buffer read every step keeps
        // a list as long as its live readers, not as its history.
        if r.len() >= 16 && r.len().is_power_of_two() {
            r.retain(|w| w.strong_count() > 0);
        }
        r.push(Arc::downgrade(reader));
    }

    /// The live readers recorded before `seq` and still lazy.
    pub fn lazy_readers(&self, seq: u64) -> Vec<crate::Tensor> {
        self.live_readers()
            .into_iter()
            .filter(|n| n.seq < seq)
            .map(crate::Tensor)
            .filter(|t| !t.is_realized())
            .collect()
    }

    /// The readers still alive. The list's lock is let go before any reader's
    /// state is looked at: recording takes a new node's state, then this list.
    fn live_readers(&self) -> Vec<Arc<Node>> {
        let r = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        r.iter().filter_map(Weak::upgrade).collect()
    }

    /// The earliest live reader recorded after `seq` and still lazy.
    pub fn first_reader_after(&self, seq: u64) -> Option<u64> {
        self.live_readers()
            .into_iter()
            .filter(|n| n.seq > seq && n.state().buf.is_none())
            .map(|n| n.seq)
            .min()
    }

    /// Stores the realized value, computed under the status words `taint`;
    /// the history goes unless gradients need it.
    pub fn set_realized(&self, buf: Arc<GpuBuffer>, taint: &[Arc<RunStatus>]) {
        *self.taint.lock().unwrap_or_else(|e| e.into_inner()) = taint.to_vec();
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
