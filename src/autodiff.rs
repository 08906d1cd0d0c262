//! Reverse-mode autodiff on the lazy graph. `backward` walks the recorded ops
//! from the loss back to the leaves that need gradients and appends gradient
//! nodes to the same graph: nothing runs, so the forward pass, the gradients
//! and an optimizer update that follows all realize in one submit.
//!
//! Each op has one backward rule, written with tensor ops (recorded under
//! `no_grad`, so rules never build graphs of their own). Broadcasting needs no
//! rule of its own: a broadcast is a view with stride-0 dims, and the view rule
//! sums over them. A transposed matmul operand is a view too, so matmul's rule
//! is two matmuls on views, never a transpose copy.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::graph::{BinaryOp, Node, Op, ReduceOp, UnaryOp};
use crate::shape::View;
use crate::tensor::Tensor;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static IN_BACKWARD: Cell<bool> = const { Cell::new(false) };
}

/// True while `backward` records gradient nodes on this thread: a node
/// recorded then is marked, so a profile can tell a gradient's fused kernels
/// from the forward's.
pub(crate) fn in_backward() -> bool {
    IN_BACKWARD.with(|b| b.get())
}

/// Marks the nodes recorded while it lives as the backward's.
struct BackwardScope(bool);

impl BackwardScope {
    fn enter() -> BackwardScope {
        BackwardScope(IN_BACKWARD.with(|b| b.replace(true)))
    }
}

impl Drop for BackwardScope {
    fn drop(&mut self) {
        IN_BACKWARD.with(|b| b.set(self.0));
    }
}

/// True unless a `no_grad` guard is alive on this thread.
pub fn grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While the returned guard lives, ops on this thread record no gradient
/// history (evaluation, optimizer arithmetic).
#[must_use = "gradients are off only while the guard lives"]
pub struct NoGradGuard {
    previous: bool,
}

/// Runs `f` with gradients off (PyTorch's `with torch.no_grad():`): the
/// closure form, which no `let _ =` can end early.
pub fn without_grad<T>(f: impl FnOnce() -> T) -> T {
    let _guard = no_grad();
    f()
}

pub fn no_grad() -> NoGradGuard {
    NoGradGuard {
        previous: GRAD_ENABLED.with(|g| g.replace(false)),
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

impl Tensor {
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad()
    }

    /// Marks a realized float leaf (a parameter) as needing gradients.
    pub fn set_requires_grad(&self, on: bool) -> Result<()> {
        if !self.dtype().is_float() {
            return Err(Error::UnsupportedDType {
                op: "set_requires_grad",
                dtype: self.dtype(),
                reason: "only float tensors have gradients",
            });
        }
        if self.0.state().op.is_some() {
            return Err(Error::InvalidArgument {
                op: "set_requires_grad",
                shape: self.shape().to_vec(),
                msg: "only a leaf (uploaded or realized without history) can be marked; \
                      the result of an op follows its inputs"
                    .into(),
            });
        }
        self.0
            .requires_grad
            .store(on, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// The gradient accumulated by `backward` calls, if any (lazy until realized).
    pub fn grad(&self) -> Option<Tensor> {
        self.0
            .grad
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets the accumulated gradient (a sparse one too).
    pub fn zero_grad(&self) {
        self.0.grad.lock().unwrap_or_else(|e| e.into_inner()).take();
        self.zero_sparse_grad();
    }

    /// The same value with no gradient history: gradients stop here.
    pub fn detach(&self) -> Tensor {
        let _guard = no_grad();
        let buf = self.0.state().buf.clone();
        match buf {
            Some(b) => Tensor::realized(self.device(), self.shape().to_vec(), self.dtype(), b),
            None => Tensor::record(
                self.device(),
                self.shape().to_vec(),
                self.dtype(),
                Op::Cast,
                vec![self.clone()],
            ),
        }
    }

    /// Gradients of this scalar with respect to every leaf that requires them,
    /// added to their `grad()`. Nothing runs now: the loss and the gradients join
    /// the device's next realize (an optimizer step triggers it).
    ///
    /// The graph is kept (PyTorch's `retain_graph=True` is the only mode): a
    /// second `backward` of the same loss adds the same gradients again, as a
    /// second PyTorch backward with `retain_graph=True` does. Clear them with
    /// `zero_grad` (or the optimizer's) between steps.
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            return Err(Error::InvalidArgument {
                op: "backward",
                shape: self.shape().to_vec(),
                msg: "needs a scalar loss; for a tensor, give the seed gradient \
                      with backward_with"
                    .into(),
            });
        }
        let seed = Tensor::ones(self.device(), self.shape(), self.dtype())?;
        self.backward_with(&seed)
    }

    /// Backward from a tensor with an explicit seed gradient of its shape.
    pub fn backward_with(&self, seed: &Tensor) -> Result<()> {
        self.same_device("backward", &[seed])?;
        if seed.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op: "backward",
                lhs: self.shape().to_vec(),
                rhs: seed.shape().to_vec(),
                detail: ": the seed gradient must have the output's shape".into(),
            });
        }
        if !self.requires_grad() {
            return Err(Error::InvalidArgument {
                op: "backward",
                shape: self.shape().to_vec(),
                msg: "nothing it depends on requires a gradient".into(),
            });
        }
        let _guard = no_grad();
        let _backward = BackwardScope::enter();
        let order = topo_order(self);
        // Every contribution to a node's gradient, summed once all are in.
        let mut grads: HashMap<*const Node, Vec<Tensor>> = HashMap::new();
        grads.insert(Arc::as_ptr(&self.0), vec![seed.clone()]);
        let mut leaves = Vec::new();
        for t in order.iter().rev() {
            let Some(parts) = grads.remove(&Arc::as_ptr(&t.0)) else {
                continue;
            };
            let g = crate::autodiff_sum::sum(t.shape(), parts)?;
            let (op, src) = {
                let s = t.0.state();
                (s.op.clone(), s.src.clone())
            };
            let Some(op) = op else {
                if t.has_sparse_grad() {
                    return Err(crate::autodiff_sparse::dense_into_sparse(t));
                }
                // A leaf: accumulate.
                let mut slot = t.0.grad.lock().unwrap_or_else(|e| e.into_inner());
                let total = match slot.take() {
                    Some(old) => old.add(&g)?,
                    None => g,
                };
                *slot = Some(total.clone());
                leaves.push(total);
                continue;
            };
            if let Some(rows) = crate::autodiff_sparse::row_lookup(&op, &src, &g)? {
                // A sparse table's rows: no dense gradient, and the index has none.
                leaves.extend(crate::autodiff_sparse::accumulate(&src[0], rows)?);
                continue;
            }
            let gs = vjp(&op, t, &src, &g)?;
            for (s, gi) in src.iter().zip(gs) {
                let Some(gi) = gi else { continue };
                if !s.requires_grad() {
                    continue;
                }
                grads.entry(Arc::as_ptr(&s.0)).or_default().push(gi);
            }
        }
        // The loss and the gradients realize with the next step, together.
        let mut pending = vec![self.clone()];
        pending.extend(leaves);
        self.device().add_pending(pending);
        Ok(())
    }
}

/// Nodes under `root` that gradients flow through, inputs before users.
fn topo_order(root: &Tensor) -> Vec<Tensor> {
    let mut seen: HashMap<*const Node, ()> = HashMap::new();
    let mut order = Vec::new();
    let mut stack = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        let key = Arc::as_ptr(&t.0);
        if expanded {
            order.push(t);
            continue;
        }
        if seen.insert(key, ()).is_some() {
            continue;
        }
        let src: Vec<Tensor> = t.0.state().src.clone();
        stack.push((t, true));
        for s in src {
            if s.requires_grad() && !seen.contains_key(&Arc::as_ptr(&s.0)) {
                stack.push((s, false));
            }
        }
    }
    order
}

/// The gradient of each input of `op`, given the gradient `g` of its output `y`.
fn vjp(op: &Op, y: &Tensor, src: &[Tensor], g: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let one = |t: Tensor| Ok(vec![Some(t)]);
    match op {
        Op::Const(_) | Op::Rand { .. } | Op::Arange { .. } | Op::CheckIndex { .. } => {
            Ok(vec![None; src.len()])
        }
        Op::Unary(u) => unary_vjp(*u, y, &src[0], g).map(|d| vec![d]),
        Op::Binary(b) => binary_vjp(*b, y, &src[0], &src[1], g),
        Op::Where => {
            let c = &src[0];
            Ok(vec![None, Some(c.select(g, 0.0)?), Some(c.select(0.0, g)?)])
        }
        Op::Cast => {
            let from = src[0].dtype();
            if from.is_float() && y.dtype().is_float() {
                one(g.cast(from)?)
            } else {
                Ok(vec![None])
            }
        }
        Op::View(v) => one(unview(g, v, src[0].shape())?),
        Op::Concat { axis } => {
            let mut start = 0;
            let mut out = Vec::with_capacity(src.len());
            for s in src {
                let len = s.shape()[*axis];
                out.push(Some(g.slice(*axis as isize, start, start + len, 1)?));
                start += len;
            }
            Ok(out)
        }
        Op::Reduce { op, axes } => reduce_vjp(*op, axes, y, &src[0], g).map(|d| vec![d]),
        Op::Matmul => {
            let (a, b) = (&src[0], &src[1]);
            Ok(vec![Some(g.matmul(&b.t()?)?), Some(a.t()?.matmul(g)?)])
        }
        Op::Gather { axis } => {
            let (data, index) = (&src[0], &src[1]);
            let gd = Tensor::scatter_add_zeros(data.shape(), *axis, index, g)?;
            Ok(vec![Some(gd), None])
        }
        Op::Update { .. } => Ok(vec![None; src.len()]),
        Op::Kernel(k) => k.backward(src, y, g),
        Op::CustomGrad(rule) => {
            let mut out = vec![None];
            out.extend(rule.backward(&src[1..], y, g)?);
            Ok(out)
        }
        Op::Unview(_) | Op::ScatterAdd { .. } => Err(Error::InvalidArgument {
            op: "backward",
            shape: y.shape().to_vec(),
            msg: "gradients of gradients are not supported".into(),
        }),
    }
}

fn unary_vjp(u: UnaryOp, y: &Tensor, x: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
    let dtype = x.dtype();
    let m = |t: Tensor| t.cast(dtype);
    let d = match u {
        UnaryOp::Neg => g.neg()?,
        UnaryOp::Exp => g.mul(y)?,
        UnaryOp::Log => g.div(x)?,
        UnaryOp::Sqrt => g.mul(0.5)?.div(y)?,
        UnaryOp::Rsqrt => g.mul(&y.square()?.mul(y)?.mul(-0.5)?)?,
        UnaryOp::Tanh => g.mul(&y.square()?.neg()?.add(1.0)?)?,
        UnaryOp::Sigmoid => g.mul(&y.mul(&y.neg()?.add(1.0)?)?)?,
        UnaryOp::Relu => g.mul(&m(x.gt(0.0)?)?)?,
        UnaryOp::Gelu => {
            let cdf = x
                .mul(std::f64::consts::FRAC_1_SQRT_2)?
                .erf()?
                .add(1.0)?
                .mul(0.5)?;
            let pdf = x.square()?.mul(-0.5)?.exp()?.mul(0.398_942_280_401_432_7)?;
            g.mul(&cdf.add(&x.mul(&pdf)?)?)?
        }
        UnaryOp::GeluTanh => g.mul(&gelu_tanh_slope(x)?)?,
        UnaryOp::Silu => {
            let s = x.sigmoid()?;
            g.mul(&s.mul(&x.mul(&s.neg()?.add(1.0)?)?.add(1.0)?)?)?
        }
        UnaryOp::Softplus => g.mul(&x.sigmoid()?)?,
        UnaryOp::Abs => g.mul(&x.sign()?)?,
        UnaryOp::Sign | UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round => {
            Tensor::zeros(x.device(), x.shape(), dtype)?
        }
        UnaryOp::Sin => g.mul(&x.cos()?)?,
        UnaryOp::Cos => g.mul(&x.sin()?.neg()?)?,
        UnaryOp::Square => g.mul(&x.mul(2.0)?)?,
        UnaryOp::Recip => g.mul(&y.square()?.neg()?)?,
        UnaryOp::Erf => g.mul(
            &x.square()?
                .neg()?
                .exp()?
                .mul(std::f64::consts::FRAC_2_SQRT_PI)?,
        )?,
        UnaryOp::Not => return Ok(None),
    };
    Ok(Some(d))
}

/// d/dx of the tanh approximation of GELU.
fn gelu_tanh_slope(x: &Tensor) -> Result<Tensor> {
    let k = (2.0 / std::f64::consts::PI).sqrt();
    let t = x
        .square()?
        .mul(0.044715)?
        .add(1.0)?
        .mul(x)?
        .mul(k)?
        .tanh()?;
    let dt = x.square()?.mul(3.0 * 0.044715)?.add(1.0)?.mul(k)?;
    t.add(1.0)?
        .mul(0.5)?
        .add(&x.mul(0.5)?.mul(&t.square()?.neg()?.add(1.0)?)?.mul(&dt)?)
}

fn binary_vjp(
    b: BinaryOp,
    y: &Tensor,
    a: &Tensor,
    c: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let dtype = a.dtype();
    let m = |t: Tensor| t.cast(dtype);
    match b {
        BinaryOp::Add => Ok(vec![Some(g.clone()), Some(g.clone())]),
        BinaryOp::Sub => Ok(vec![Some(g.clone()), Some(g.neg()?)]),
        BinaryOp::Mul => Ok(vec![Some(g.mul(c)?), Some(g.mul(a)?)]),
        BinaryOp::Div => Ok(vec![Some(g.div(c)?), Some(g.mul(y)?.div(c)?.neg()?)]),
        BinaryOp::Pow => {
            let ga = g.mul(c)?.mul(&a.pow(&c.sub(1.0)?)?)?;
            // d/db a^b = a^b ln a, taken as 0 where a <= 0 (as PyTorch does at 0).
            let pos = a.gt(0.0)?;
            let gb = pos.select(&g.mul(y)?.mul(&a.log()?)?, 0.0)?;
            Ok(vec![Some(ga), Some(gb)])
        }
        BinaryOp::Max | BinaryOp::Min => {
            // The larger (smaller) input takes the gradient; a tie splits it.
            let wins = if b == BinaryOp::Max {
                a.gt(c)?
            } else {
                a.lt(c)?
            };
            let ties = m(a.eq(c)?)?.mul(0.5)?;
            let wa = m(wins)?.add(&ties)?;
            let wb = wa.neg()?.add(1.0)?;
            Ok(vec![Some(g.mul(&wa)?), Some(g.mul(&wb)?)])
        }
        BinaryOp::Eq
        | BinaryOp::Ne
        | BinaryOp::Lt
        | BinaryOp::Le
        | BinaryOp::Gt
        | BinaryOp::Ge
        | BinaryOp::And
        | BinaryOp::Or => Ok(vec![None, None]),
    }
}

fn reduce_vjp(
    op: ReduceOp,
    axes: &[usize],
    y: &Tensor,
    x: &Tensor,
    g: &Tensor,
) -> Result<Option<Tensor>> {
    let keep: Vec<usize> = (0..x.rank())
        .map(|d| if axes.contains(&d) { 1 } else { x.shape()[d] })
        .collect();
    let gk = g.reshape(&keep)?;
    match op {
        ReduceOp::Sum => Ok(Some(gk.broadcast_to(x.shape())?)),
        ReduceOp::Max | ReduceOp::Min => {
            // Ties share the gradient equally (as torch.amax does).
            let hit = x.eq(&y.reshape(&keep)?)?.cast(x.dtype())?;
            let ia: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
            let count = hit.sum(&ia, true)?;
            Ok(Some(gk.div(&count)?.mul(&hit)?))
        }
        ReduceOp::ArgMax | ReduceOp::ArgMin => Ok(None),
    }
}

/// The gradient of a view's source from the gradient of the view: flip the
/// dims it read backwards (a view of `g`, so the placement reads forwards),
/// sum over broadcast (stride-0) dims, then place each element back where it
/// was read.
fn unview(g: &Tensor, v: &View, src_shape: &[usize]) -> Result<Tensor> {
    let (v, flipped) = v.forwards();
    let g = if flipped.is_empty() {
        g.clone()
    } else {
        let axes: Vec<isize> = flipped.iter().map(|&d| d as isize).collect();
        g.flip(&axes)?
    };
    let (g, v) = (&g, &v);
    let broadcast: Vec<isize> = (0..v.shape.len())
        .filter(|&d| v.strides[d] == 0 && v.shape[d] > 1)
        .map(|d| d as isize)
        .collect();
    let (g, v) = if broadcast.is_empty() {
        (g.clone(), v.clone())
    } else {
        let mut v = v.clone();
        for &d in &broadcast {
            v.shape[d as usize] = 1;
        }
        (g.sum(&broadcast, true)?, v)
    };
    if v.is_identity() && crate::shape::numel(&v.shape) == crate::shape::numel(src_shape) {
        return g.reshape(src_shape);
    }
    Tensor::unview(&g, v, src_shape)
}
