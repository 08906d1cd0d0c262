//! `Rnn`, `Lstm` and `Gru`: the shared recurrence under PyTorch's three
//! module names, each with its own constructor.

use super::{CellKind, Recurrent, RecurrentOptions, RecurrentOutput};
use crate::device::Device;
use crate::error::Result;
use crate::nn::{Module, Stateful};
use crate::tensor::Tensor;

macro_rules! recurrent_module {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(pub Recurrent);

        impl $name {
            /// Runs `x` from `initial` states or zeros, with per-sequence
            /// `lengths` or all full (see `Recurrent::forward_with`).
            pub fn forward_with(
                &self,
                x: &Tensor,
                initial: Option<(&Tensor, Option<&Tensor>)>,
                lengths: Option<&[usize]>,
            ) -> Result<RecurrentOutput> {
                self.0.forward_with(x, initial, lengths)
            }
        }

        impl Stateful for $name {
            fn named_parameters(&self) -> Vec<(String, Tensor)> {
                self.0.named_parameters()
            }

            fn set_training(&self, on: bool) {
                self.0.set_training(on);
            }
        }

        impl Module for $name {
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                self.0.forward(x)
            }
        }
    };
}

recurrent_module!(
    /// nn.RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).
    Rnn
);
recurrent_module!(
    /// nn.LSTM, gates i, f, g, o; with `peephole`, the notes' peepholes.
    Lstm
);
recurrent_module!(
    /// nn.GRU, gates r, z, n.
    Gru
);

impl Rnn {
    pub fn new(dev: &Device, input: usize, hidden: usize, opts: RecurrentOptions) -> Result<Rnn> {
        Ok(Rnn(Recurrent::new(
            dev,
            CellKind::RnnTanh,
            input,
            hidden,
            opts,
        )?))
    }

    /// With ReLU instead of tanh (PyTorch's nonlinearity='relu').
    pub fn relu(dev: &Device, input: usize, hidden: usize, opts: RecurrentOptions) -> Result<Rnn> {
        Ok(Rnn(Recurrent::new(
            dev,
            CellKind::RnnRelu,
            input,
            hidden,
            opts,
        )?))
    }
}

impl Lstm {
    pub fn new(dev: &Device, input: usize, hidden: usize, opts: RecurrentOptions) -> Result<Lstm> {
        Ok(Lstm(Recurrent::new(
            dev,
            CellKind::Lstm,
            input,
            hidden,
            opts,
        )?))
    }
}

impl Gru {
    pub fn new(dev: &Device, input: usize, hidden: usize, opts: RecurrentOptions) -> Result<Gru> {
        Ok(Gru(Recurrent::new(
            dev,
            CellKind::Gru,
            input,
            hidden,
            opts,
        )?))
    }
}
