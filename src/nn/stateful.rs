//! What PyTorch's `nn.Module` keeps besides `forward`: named parameters and
//! buffers, the state dict, train/eval mode. A struct of modules gets it from
//! `#[derive(Stateful)]`; the impls here let any field be a module, a tensor
//! (a parameter when it requires gradients, else a buffer), a `Vec` (named
//! by index, as `nn.ModuleList`), an `Option`, a `Box` or a plain setting.

use crate::error::Result;
use crate::tensor::Tensor;

pub trait Stateful {
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
        crate::nn::load_state(&self.state_dict(), state, strict)
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

/// A tensor field: its own name (empty here; the field's name is put in
/// front), a parameter when it requires gradients, else a buffer.
impl Stateful for Tensor {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        match self.requires_grad() {
            true => vec![(String::new(), self.clone())],
            false => Vec::new(),
        }
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        match self.requires_grad() {
            true => Vec::new(),
            false => vec![(String::new(), self.clone())],
        }
    }
}

/// Named by position, as `nn.ModuleList`: "0.weight", "1.weight".
impl<T: Stateful> Stateful for Vec<T> {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        indexed(self, T::named_parameters)
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        indexed(self, T::named_buffers)
    }

    fn set_training(&self, on: bool) {
        self.iter().for_each(|m| m.set_training(on));
    }
}

fn indexed<T>(items: &[T], f: impl Fn(&T) -> Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    let each = items.iter().enumerate();
    each.flat_map(|(i, m)| prefixed(&i.to_string(), f(m)))
        .collect()
}

/// Present or absent (a layer's optional bias, an optional head).
impl<T: Stateful> Stateful for Option<T> {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.as_ref().map(T::named_parameters).unwrap_or_default()
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.as_ref().map(T::named_buffers).unwrap_or_default()
    }

    fn set_training(&self, on: bool) {
        if let Some(m) = self {
            m.set_training(on);
        }
    }
}

impl<T: Stateful + ?Sized> Stateful for Box<T> {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        (**self).named_parameters()
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        (**self).named_buffers()
    }

    fn set_training(&self, on: bool) {
        (**self).set_training(on);
    }
}

/// Settings (sizes, rates, flags) hold no state.
macro_rules! stateless {
    ($($t:ty),*) => { $(impl Stateful for $t {})* };
}
stateless!(
    bool, u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64, String
);

/// `named` (a child's parameters or buffers) under `prefix`, as PyTorch nests
/// names (`0.weight`, `attn.out_proj.bias`); a tensor's own empty name
/// becomes the prefix alone.
pub fn prefixed(prefix: &str, named: Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
    let join = |n: String| match n.is_empty() {
        true => prefix.to_string(),
        false => format!("{prefix}.{n}"),
    };
    named.into_iter().map(|(n, t)| (join(n), t)).collect()
}
