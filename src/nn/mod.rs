//! Modules in the spirit of torch.nn and burn: a `Module` maps a tensor to a
//! tensor and names its parameters (checkpoints find them by name).

mod activation;
mod attention;
mod batchnorm;
mod conv;
mod dropout;
mod embedding;
pub mod init;
mod linear;
mod norm;
mod pool;
mod sequential;

pub use activation::{Elu, Gelu, Relu, Selu, Sigmoid, Softplus, Tanh};
pub use attention::{DecoderBlock, EncoderBlock, MultiHeadAttention};
pub use batchnorm::BatchNorm;
pub use conv::Conv2d;
pub use dropout::Dropout;
pub use embedding::{Embedding, Positions, sinusoidal};
pub use linear::Linear;
pub use norm::{LayerNorm, RmsNorm};
pub use pool::{AvgPool2d, Flatten, GlobalAvgPool, MaxPool2d};
pub use sequential::Sequential;

use crate::error::Result;
use crate::tensor::Tensor;

/// A layer or a model. `Send + Sync`, so a model can move to (or be shared
/// with) a worker thread.
pub trait Module: Send + Sync {
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Parameters with their names, e.g. "0.weight" inside a Sequential.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// State that is not a parameter (batch norm's running statistics), with
    /// names, as PyTorch's buffers.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Parameters, then buffers, by name: PyTorch's `state_dict()`. The
    /// tensors are the module's own (realized; reading one reads the model).
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut s = self.named_parameters();
        s.extend(self.named_buffers());
        s
    }

    /// Copies `state` into the module's own tensors, in place (an optimizer
    /// holding them sees the loaded values), as PyTorch's `load_state_dict`.
    /// A dtype that differs is cast, as PyTorch's `copy_` casts; a shape
    /// that differs is always an error; with `strict`, so is a key of either
    /// side the other lacks. Every fault is listed in one
    /// `Error::StateDict`, and nothing is copied unless all of it loads.
    fn load_state_dict(&self, state: &[(String, Tensor)], strict: bool) -> Result<()> {
        load_state(&self.state_dict(), state, strict)
    }

    /// Training mode (dropout on, batch statistics) or evaluation mode.
    fn set_training(&self, _on: bool) {}

    /// Training mode, as PyTorch's `model.train()`.
    fn train(&self) {
        self.set_training(true);
    }

    /// Evaluation mode, as PyTorch's `model.eval()`.
    fn eval(&self) {
        self.set_training(false);
    }

    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// How many numbers the parameters hold.
    fn parameter_count(&self) -> usize {
        self.parameters().iter().map(Tensor::numel).sum()
    }
}

/// `named` (a child module's parameters or buffers) under `prefix`, as
/// PyTorch nests names (`0.weight`, `attn.q.bias`).
pub(crate) fn prefixed(prefix: &str, named: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    named
        .into_iter()
        .map(|(n, t)| (format!("{prefix}.{n}"), t))
        .collect()
}

/// Matches `state` to `own` by name, checks all of it, then copies.
pub(crate) fn load_state(
    own: &[(String, Tensor)],
    state: &[(String, Tensor)],
    strict: bool,
) -> Result<()> {
    let find = |set: &[(String, Tensor)], n: &str| {
        set.iter().find(|(k, _)| k == n).map(|(_, t)| t.clone())
    };
    let mut fault = crate::error::StateDictFault::default();
    let mut copies = Vec::new();
    for (name, target) in own {
        match find(state, name) {
            None => fault.missing.push(name.clone()),
            Some(t) if t.shape() != target.shape() => fault.mismatched.push(format!(
                "{name}: {} {:?} given, {} {:?} expected",
                t.dtype(),
                t.shape(),
                target.dtype(),
                target.shape()
            )),
            // Cast as PyTorch's copy_ does (an i64 count into our f32 one).
            Some(t) if t.dtype() != target.dtype() => {
                copies.push((target.clone(), t.cast(target.dtype())?))
            }
            Some(t) => copies.push((target.clone(), t)),
        }
    }
    fault.unexpected = state
        .iter()
        .filter(|(k, _)| find(own, k).is_none())
        .map(|(k, _)| k.clone())
        .collect();
    if !strict {
        fault.missing.clear();
        fault.unexpected.clear();
    }
    if !fault.is_empty() {
        return Err(crate::error::Error::StateDict(fault));
    }
    for (target, t) in copies {
        target.copy_from(&t)?;
    }
    Ok(())
}

/// Makes a realized tensor a parameter: a leaf that requires gradients.
pub fn parameter(t: Tensor) -> Result<Tensor> {
    t.realize()?;
    // A parameter never carries history: start from its buffer alone.
    let p = t.detach();
    p.set_requires_grad(true)?;
    Ok(p)
}
