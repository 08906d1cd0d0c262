//! One time step of each cell, composed from matmul and fused elementwise
//! ops (the planner fuses each step's gate math into few kernels). `xp` is
//! the step's input projection x W_ih^T + b_ih, computed for all steps in one
//! matmul; `hp` is h W_hh^T + b_hh. Gate orders are PyTorch's.

use crate::error::Result;
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

/// (h', c') from (h, c); `c` is `None` except for the LSTM.
pub fn step(
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
