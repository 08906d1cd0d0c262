//! Modules in the spirit of torch.nn and burn: a `Module` maps a tensor to a
//! tensor and names its parameters (checkpoints find them by name).

mod activation;
mod attention;
mod batchnorm;
mod causal_block;
mod conv;
mod dropout;
mod embedding;
pub mod init;
mod kv_cache;
pub(crate) mod linear;
mod norm;
mod pool;
mod recurrent;
mod sequential;
mod stateful;

pub use activation::{Elu, Gelu, Relu, Selu, Sigmoid, Softplus, Tanh};
pub use attention::{DecoderBlock, EncoderBlock, MultiHeadAttention};
pub use batchnorm::BatchNorm;
pub use causal_block::CausalBlock;
pub use conv::Conv2d;
pub use dropout::Dropout;
pub use embedding::{Embedding, Positions, sinusoidal};
pub use kv_cache::{KvCache, LayerCache};
pub use linear::Linear;
pub use norm::{LayerNorm, RmsNorm};
pub use pool::{AvgPool2d, Flatten, GlobalAvgPool, MaxPool2d};
pub use recurrent::{
    CellKind, Gru, Lstm, Recurrent, RecurrentOptions, RecurrentOutput, Rnn, cell_step,
};
pub use sequential::Sequential;
pub use shadergrad_derive::Stateful;
pub use stateful::{Stateful, prefixed};

use crate::error::Result;
use crate::tensor::Tensor;

/// A layer or a model: `forward`, and (from `Stateful`) its named state.
/// `Send + Sync`, so a model can move to (or be shared with) a worker thread.
pub trait Module: Stateful + Send + Sync {
    fn forward(&self, x: &Tensor) -> Result<Tensor>;
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
    // A buffer made lazily (`Tensor::zeros` in a constructor) gets its storage.
    let targets: Vec<&Tensor> = copies.iter().map(|(t, _)| t).collect();
    Tensor::realize_all(&targets)?;
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
