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

/// Makes a realized tensor a parameter: a leaf that requires gradients.
pub fn parameter(t: Tensor) -> Result<Tensor> {
    t.realize()?;
    // A parameter never carries history: start from its buffer alone.
    let p = t.detach();
    p.set_requires_grad(true)?;
    Ok(p)
}
