//! One time step of each cell. `xp` is every step's input projection
//! x W_ih^T + b_ih, (T, B, gates H), computed in one matmul; `hp` is the
//! step's h W_hh^T. The gate maths runs either as the cell's kernels (one
//! dispatch forward, one backward: src/kernels/cell.rs) or composed from
//! elementwise ops the planner fuses; which, per cell and shape, is decided
//! by measurement (`fused`). Gate orders are PyTorch's.

use crate::error::Result;
use crate::kernels::cell::{self as kernel, Cell};
use crate::tensor::Tensor;

/// Which recurrence, as PyTorch's modules define it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// h' = tanh(xp + hp) (nn.RNN, nonlinearity='tanh').
    RnnTanh,
    /// h' = relu(xp + hp) (nn.RNN, nonlinearity='relu').
    RnnRelu,
    /// Gates i, f, g, o: c' = f c + i g, h' = o tanh(c') (nn.LSTM).
    Lstm,
    /// Gates r, z, n: n = tanh(xn + r hn), h' = (1 - z) n + z h (nn.GRU).
    Gru,
}

impl CellKind {
    /// Gate blocks of H in the weights' first axis.
    pub fn gates(self) -> usize {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => 1,
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CellKind::RnnTanh | CellKind::RnnRelu => "rnn",
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
}

/// The LSTM's peephole weights (the notes' variant: the input and forget
/// gates also see c_{t-1}, the output gate sees c_t), one per unit.
pub struct Peepholes<'a> {
    pub ci: &'a Tensor,
    pub cf: &'a Tensor,
    pub co: &'a Tensor,
}

/// Gate block `k` of a (B, gates H) tensor: a view.
fn block(t: &Tensor, k: usize, h: usize) -> Result<Tensor> {
    t.narrow(1, k * h, h)
}

/// The state one step hands the next: h (B, H), the LSTM's c, and the
/// cell kernel's packed output they are views of (the next kernel reads its
/// state there in place, with no copy).
#[derive(Clone)]
pub struct State {
    pub h: Tensor,
    pub c: Option<Tensor>,
    packed: Option<Tensor>,
}

impl State {
    /// A state given as tensors (the initial one, or a masked one).
    pub fn new(h: Tensor, c: Option<Tensor>) -> State {
        State { h, c, packed: None }
    }
}

/// Whether the cell's kernels run for `kind` at batch `b`, hidden `h`: the
/// device's tuning forces it, else the measured choice. The composed form
/// also serves peepholes (the kernels have none) and devices with fewer
/// storage bindings than the backward kernel needs.
/// `force` (a caller's) comes before the tuning.
fn fused(
    kind: CellKind,
    (b, h): (usize, usize),
    hp: &Tensor,
    peep: bool,
    force: Option<bool>,
) -> bool {
    let dev = hp.device();
    if peep || dev.limits().max_storage_buffers_per_shader_stage < kernel::STORAGE {
        return false;
    }
    if let Some(on) = force.or(dev.tuning().cells) {
        return on;
    }
    // Measured on lavapipe (ARCHITECTURE.md): a training step's cell
    // (forward and backward) is faster as the kernels for the LSTM wherever
    // B > 1 (0.72-0.85x), and the character LM's whole step (H 128) is too;
    // at H 256 the whole `lstm_step` was faster composed at T 256 in two
    // runs, so H 256 stays composed until a quiet run says otherwise. At B 1
    // the recurrent matmul dominates and composed wins. The GRU's kernels win
    // at H 64 or B x H up to 32 x 256 (0.27-0.95x). The RNN's composed form
    // is already one fused kernel; its kernel lost almost everywhere.
    match kind {
        CellKind::Lstm => b > 1 && h <= 128,
        CellKind::Gru => h <= 64 || (b > 1 && b * h <= 32 * 256),
        CellKind::RnnTanh | CellKind::RnnRelu => false,
    }
}

/// Step `s` of the recurrence: `xp` (T, B, gates H) every step's input
/// projection (or the one step's, (B, gates H)), `hp` the step's h W_hh^T (B, gates H) without its bias;
/// `force` picks the kernels (true) or the composed form over `fused`'s
/// choice.
#[allow(clippy::too_many_arguments)]
pub fn step(
    kind: CellKind,
    (xp, s): (&Tensor, usize),
    hp: &Tensor,
    b_hh: Option<&Tensor>,
    state: &State,
    peep: Option<&Peepholes>,
    force: Option<bool>,
) -> Result<State> {
    let (b, gh) = (hp.shape()[0], hp.shape()[1]);
    let hs = gh / kind.gates();
    if !fused(kind, (b, hs), hp, peep.is_some(), force) {
        let xs = match xp.rank() {
            2 => xp.clone(),
            _ => xp.narrow(0, s, 1)?.reshape(&[b, gh])?,
        };
        let hp = match b_hh {
            Some(bias) => hp.add(bias)?,
            None => hp.clone(),
        };
        let (h, c) = composed(kind, &xs, &hp, &state.h, state.c.as_ref(), peep)?;
        return Ok(State::new(h, c));
    }
    let k = Cell {
        kind,
        bias: b_hh.is_some(),
        xp_offset: s * b * gh,
    };
    let mut ins = vec![xp, hp];
    let prev = match kind {
        CellKind::Lstm => state.c.as_ref(),
        CellKind::Gru => Some(&state.h),
        _ => None,
    };
    if let Some(prev) = prev {
        ins.push(state.packed.as_ref().unwrap_or(prev));
    }
    ins.extend(b_hh);
    let packed = Tensor::apply(k, &ins)?;
    let n = b * hs;
    let block = |k: usize| packed.narrow(0, k * n, n)?.reshape(&[b, hs]);
    Ok(State {
        h: block(0)?,
        c: (kind == CellKind::Lstm).then(|| block(1)).transpose()?,
        packed: Some(packed),
    })
}

/// One step of a cell on its own: `xp` the step's input projection
/// x W_ih^T + b_ih (B, gates H), the previous `h` (B, H) and, for the LSTM,
/// `c`, `w_hh_t` W_hh^T (H, gates H) and `b_hh` (gates H); (h', c'). Runs
/// the cell's kernels with `fused`, else the composed form; either way the
/// shapes are checked as the kernel checks them.
pub fn cell_step(
    kind: CellKind,
    xp: &Tensor,
    h: &Tensor,
    c: Option<&Tensor>,
    w_hh_t: &Tensor,
    b_hh: Option<&Tensor>,
    fused: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let hp = h.matmul(w_hh_t)?;
    let lstm = kind == CellKind::Lstm;
    let k = Cell {
        kind,
        bias: b_hh.is_some(),
        xp_offset: 0,
    };
    let mut ins = vec![xp, &hp];
    let prev = if lstm { c } else { Some(h) };
    if matches!(kind, CellKind::Lstm | CellKind::Gru) {
        ins.push(prev.ok_or_else(|| crate::error::Error::InvalidArgument {
            op: kernel::name(kind),
            shape: h.shape().to_vec(),
            msg: "an LSTM step needs its cell state c".into(),
        })?);
    }
    ins.extend(b_hh);
    Tensor::kernel_output(&k, &ins)?;
    if xp.rank() != 2 {
        return Err(crate::error::Error::InvalidArgument {
            op: kernel::name(kind),
            shape: xp.shape().to_vec(),
            msg: "the step's input projection must be (B, gates H)".into(),
        });
    }
    let state = State::new(h.clone(), c.filter(|_| lstm).cloned());
    let out = step(kind, (xp, 0), &hp, b_hh, &state, None, Some(fused))?;
    Ok((out.h, out.c))
}

/// (h', c') from (h, c) composed of elementwise ops; `hp` includes b_hh and
/// `c` is `None` except for the LSTM.
fn composed(
    kind: CellKind,
    xp: &Tensor,
    hp: &Tensor,
    h: &Tensor,
    c: Option<&Tensor>,
    peep: Option<&Peepholes>,
) -> Result<(Tensor, Option<Tensor>)> {
    let hs = h.shape()[1];
    match kind {
        CellKind::RnnTanh => Ok((xp.add(hp)?.tanh()?, None)),
        CellKind::RnnRelu => Ok((xp.add(hp)?.relu()?, None)),
        CellKind::Gru => {
            let pre = |k| block(xp, k, hs)?.add(&block(hp, k, hs)?);
            let r = pre(0)?.sigmoid()?;
            let z = pre(1)?.sigmoid()?;
            let n = block(xp, 2, hs)?.add(&r.mul(&block(hp, 2, hs)?)?)?.tanh()?;
            // (1 - z) n + z h, written as n + z (h - n).
            Ok((n.add(&z.mul(&h.sub(&n)?)?)?, None))
        }
        CellKind::Lstm => {
            let c = c.expect("an LSTM step has a cell state");
            let gates = xp.add(hp)?;
            let peeped = |k: usize, w: Option<&Tensor>, state: &Tensor| -> Result<Tensor> {
                let g = block(&gates, k, hs)?;
                match w {
                    Some(w) => g.add(&state.mul(w)?)?.sigmoid(),
                    None => g.sigmoid(),
                }
            };
            let i = peeped(0, peep.map(|p| p.ci), c)?;
            let f = peeped(1, peep.map(|p| p.cf), c)?;
            let g = block(&gates, 2, hs)?.tanh()?;
            let c2 = f.mul(c)?.add(&i.mul(&g)?)?;
            let o = peeped(3, peep.map(|p| p.co), &c2)?;
            Ok((o.mul(&c2.tanh()?)?, Some(c2)))
        }
    }
}
