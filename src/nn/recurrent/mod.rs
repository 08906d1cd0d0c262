//! Recurrent networks (the notes' RNN, bidirectional RNN, LSTM and GRU) as
//! PyTorch's `nn.RNN`, `nn.LSTM` and `nn.GRU`: the same options, parameter
//! names and layouts (`weight_ih_l0`, `bias_hh_l1_reverse`), so checkpoints
//! move both ways, and per-sequence lengths that behave as packed sequences.
//! The input projection of every time step is one matmul; each step adds the
//! recurrent matmul and the cell's gate math (`cell.rs`). The whole unrolled
//! sequence records lazily, so forward, backward and update are one submit.

mod cell;
mod lengths;
mod wrappers;

pub use cell::{CellKind, cell_step};
pub use wrappers::{Gru, Lstm, Rnn};

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{Dropout, Module, Stateful, init, parameter};
use crate::tensor::Tensor;
use cell::Peepholes;

/// Options shared by the three modules; `Default` is PyTorch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecurrentOptions {
    pub num_layers: usize,
    pub bias: bool,
    /// Inputs and outputs (B, T, features) rather than (T, B, features).
    pub batch_first: bool,
    /// Dropout on each layer's output but the last's, in training.
    pub dropout: f64,
    pub bidirectional: bool,
    /// LSTM only: peephole connections (not in PyTorch; named
    /// `weight_ci_l0`, `weight_cf_l0`, `weight_co_l0`).
    pub peephole: bool,
}

impl Default for RecurrentOptions {
    fn default() -> Self {
        RecurrentOptions {
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
            peephole: false,
        }
    }
}

/// One direction of one layer.
struct Weights {
    ih: Tensor,
    hh: Tensor,
    b_ih: Option<Tensor>,
    b_hh: Option<Tensor>,
    /// ci, cf, co when the LSTM has peepholes.
    peep: Option<[Tensor; 3]>,
}

/// What a forward pass gives: every step's output of the last layer
/// ((T, B, D H), or (B, T, D H) batch first; zero past a sequence's end),
/// the final hidden state of every layer and direction (L D, B, H), and for
/// the LSTM the final cell state.
pub struct RecurrentOutput {
    pub output: Tensor,
    pub h_n: Tensor,
    pub c_n: Option<Tensor>,
}

/// The recurrence shared by `Rnn`, `Lstm` and `Gru`.
pub struct Recurrent {
    kind: CellKind,
    opts: RecurrentOptions,
    input_size: usize,
    hidden_size: usize,
    /// [layer * directions + direction].
    weights: Vec<Weights>,
    dropout: Dropout,
}

impl Recurrent {
    pub fn new(
        dev: &Device,
        kind: CellKind,
        input_size: usize,
        hidden_size: usize,
        opts: RecurrentOptions,
    ) -> Result<Recurrent> {
        let bad = opts.num_layers == 0
            || hidden_size == 0
            || (opts.peephole && kind != CellKind::Lstm)
            || !(0.0..1.0).contains(&opts.dropout);
        if bad {
            return Err(Error::InvalidArgument {
                op: kind.name(),
                shape: vec![input_size, hidden_size, opts.num_layers],
                msg: format!(
                    "needs a hidden size and layers of at least 1, dropout in [0, 1), and \
                     peepholes only on an LSTM ({opts:?})"
                ),
            });
        }
        let dirs = 1 + opts.bidirectional as usize;
        // PyTorch's initialisation: every weight U(-1/sqrt(H), 1/sqrt(H)).
        let k = 1.0 / (hidden_size as f64).sqrt();
        let u = |shape: &[usize]| parameter(init::uniform(dev, shape, -k, k)?);
        let g = kind.gates() * hidden_size;
        let mut weights = Vec::new();
        for layer in 0..opts.num_layers {
            let inputs = if layer == 0 {
                input_size
            } else {
                dirs * hidden_size
            };
            for _ in 0..dirs {
                let bias = |_| u(&[g]);
                weights.push(Weights {
                    ih: u(&[g, inputs])?,
                    hh: u(&[g, hidden_size])?,
                    b_ih: opts.bias.then_some(()).map(bias).transpose()?,
                    b_hh: opts.bias.then_some(()).map(bias).transpose()?,
                    peep: match opts.peephole {
                        true => Some([u(&[hidden_size])?, u(&[hidden_size])?, u(&[hidden_size])?]),
                        false => None,
                    },
                });
            }
        }
        Ok(Recurrent {
            kind,
            opts,
            input_size,
            hidden_size,
            weights,
            dropout: Dropout::new(opts.dropout)?,
        })
    }

    fn directions(&self) -> usize {
        1 + self.opts.bidirectional as usize
    }

    /// Runs the sequence `x`: from `initial` states (h0, and c0 for the
    /// LSTM; (L D, B, H) each) or zeros, and with per-sequence `lengths`
    /// (each in 1..=T) or all of length T.
    pub fn forward_with(
        &self,
        x: &Tensor,
        initial: Option<(&Tensor, Option<&Tensor>)>,
        lengths: Option<&[usize]>,
    ) -> Result<RecurrentOutput> {
        let x = self.time_major(x)?;
        let (t, b) = (x.shape()[0], x.shape()[1]);
        let masks = lengths::masks(self.kind.name(), x.device(), lengths, t, b)?;
        let (h0, c0) = self.initial_states(x.device(), initial, b)?;
        let dirs = self.directions();
        let (mut input, mut h_n, mut c_n) = (x, Vec::new(), Vec::new());
        for layer in 0..self.opts.num_layers {
            let mut outs = Vec::with_capacity(dirs);
            for d in 0..dirs {
                let i = layer * dirs + d;
                let start = (&h0[i], c0.as_ref().map(|c| &c[i]));
                let (out, h, c) = self.direction(&input, i, d == 1, start, masks.as_deref())?;
                outs.push(out);
                h_n.push(h);
                c_n.extend(c);
            }
            let refs: Vec<&Tensor> = outs.iter().collect();
            input = Tensor::cat(&refs, -1)?;
            if layer + 1 < self.opts.num_layers {
                input = self.dropout.forward(&input)?;
            }
        }
        let output = match self.opts.batch_first {
            true => input.transpose(0, 1)?,
            false => input,
        };
        let stack = |v: &[Tensor]| Tensor::stack(&v.iter().collect::<Vec<_>>(), 0);
        Ok(RecurrentOutput {
            output,
            h_n: stack(&h_n)?,
            c_n: (!c_n.is_empty()).then(|| stack(&c_n)).transpose()?,
        })
    }

    /// `x` as (T, B, input_size), checked.
    fn time_major(&self, x: &Tensor) -> Result<Tensor> {
        if x.rank() != 3 || x.shape()[2] != self.input_size || x.numel() == 0 {
            let layout = if self.opts.batch_first {
                "(B, T, "
            } else {
                "(T, B, "
            };
            return Err(Error::ShapeMismatch {
                op: self.kind.name(),
                lhs: x.shape().to_vec(),
                rhs: vec![self.input_size],
                detail: format!(
                    ": the input must be {layout}{}), not empty",
                    self.input_size
                ),
            });
        }
        match self.opts.batch_first {
            true => x.transpose(0, 1)?.contiguous(),
            false => Ok(x.clone()),
        }
    }

    /// h0 (and c0) per layer and direction: given, checked, or zeros.
    fn initial_states(
        &self,
        dev: &Device,
        initial: Option<(&Tensor, Option<&Tensor>)>,
        b: usize,
    ) -> Result<(Vec<Tensor>, Option<Vec<Tensor>>)> {
        let n = self.opts.num_layers * self.directions();
        let want = [n, b, self.hidden_size];
        let lstm = self.kind == CellKind::Lstm;
        let zeros = || Tensor::zeros(dev, &want, crate::dtype::DType::F32);
        let (h0, c0) = match initial {
            Some((h, c)) => (h.clone(), c.cloned()),
            None => (zeros()?, lstm.then(zeros).transpose()?),
        };
        let shapes_ok = h0.shape() == want && c0.as_ref().is_none_or(|c| c.shape() == want);
        if !shapes_ok || c0.is_some() != lstm {
            return Err(Error::ShapeMismatch {
                op: self.kind.name(),
                lhs: h0.shape().to_vec(),
                rhs: want.to_vec(),
                detail: format!(
                    ": initial states must be (layers x directions, B, H) = {want:?}{}",
                    if lstm {
                        ", h0 and c0 both"
                    } else {
                        ", h0 only"
                    }
                ),
            });
        }
        let split = |s: &Tensor| -> Result<Vec<Tensor>> {
            (0..n)
                .map(|i| s.narrow(0, i, 1)?.reshape(&want[1..]))
                .collect()
        };
        Ok((split(&h0)?, c0.as_ref().map(split).transpose()?))
    }

    /// One direction of one layer over the whole sequence: its outputs
    /// (T, B, H) and final states.
    fn direction(
        &self,
        x: &Tensor,
        i: usize,
        reverse: bool,
        start: (&Tensor, Option<&Tensor>),
        masks: Option<&[Tensor]>,
    ) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let w = &self.weights[i];
        let (t, b) = (x.shape()[0], x.shape()[1]);
        // Every step's input projection in one matmul.
        let xp = x.reshape(&[t * b, x.shape()[2]])?.matmul(&w.ih.t()?)?;
        let xp = match &w.b_ih {
            Some(bias) => xp.add(bias)?,
            None => xp,
        };
        let xp = xp.reshape(&[t, b, xp.shape()[1]])?;
        let peep = w.peep.as_ref().map(|[ci, cf, co]| Peepholes { ci, cf, co });
        // W_hh^T laid out once for the whole sequence: read as a transposed
        // view, every step's matmul would repack it.
        let hh_t = w.hh.t()?.contiguous()?;
        let mut state = cell::State::new(start.0.clone(), start.1.cloned());
        let mut outs = vec![None; t];
        for s in 0..t {
            let s = if reverse { t - 1 - s } else { s };
            let hp = state.h.matmul(&hh_t)?;
            let next = cell::step(
                self.kind,
                (&xp, s),
                &hp,
                w.b_hh.as_ref(),
                &state,
                peep.as_ref(),
                None,
            )?;
            // Past a sequence's end: its state holds, its output is zero.
            let (next, out) = match masks {
                Some(m) => {
                    let c = match (&next.c, &state.c) {
                        (Some(c2), Some(c)) => Some(m[s].select(c2, c)?),
                        _ => None,
                    };
                    let h = m[s].select(&next.h, &state.h)?;
                    (cell::State::new(h, c), m[s].select(&next.h, 0.0)?)
                }
                None => {
                    let out = next.h.clone();
                    (next, out)
                }
            };
            outs[s] = Some(out);
            state = next;
        }
        let outs: Vec<Tensor> = outs.into_iter().flatten().collect();
        let refs: Vec<&Tensor> = outs.iter().collect();
        Ok((Tensor::stack(&refs, 0)?, state.h, state.c))
    }
}

impl Stateful for Recurrent {
    /// PyTorch's names: per layer and direction, weight_ih, weight_hh,
    /// bias_ih, bias_hh (then our peepholes), suffixed `_l{layer}` and
    /// `_reverse` for the backward direction.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let dirs = self.directions();
        let mut v = Vec::new();
        for (i, w) in self.weights.iter().enumerate() {
            let sfx = format!(
                "_l{}{}",
                i / dirs,
                if i % dirs == 1 { "_reverse" } else { "" }
            );
            let mut push = |n: &str, t: &Tensor| v.push((format!("{n}{sfx}"), t.clone()));
            push("weight_ih", &w.ih);
            push("weight_hh", &w.hh);
            w.b_ih.iter().for_each(|b| push("bias_ih", b));
            w.b_hh.iter().for_each(|b| push("bias_hh", b));
            if let Some([ci, cf, co]) = &w.peep {
                push("weight_ci", ci);
                push("weight_cf", cf);
                push("weight_co", co);
            }
        }
        v
    }

    fn set_training(&self, on: bool) {
        self.dropout.set_training(on);
    }
}

impl Module for Recurrent {
    /// The outputs alone, from zero states.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with(x, None, None)?.output)
    }
}
