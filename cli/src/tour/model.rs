//! An entry's trained model as a checkpoint sees it: named tensors, loaded
//! back in place. Every nn module is one; so is a model made of several
//! (the folds of a cross-validation, the pair an entry compares) or of raw
//! tensors, named by its parts ("fold0.weight", "stn.cnn.0.bias").

use shadergrad::Result;
use shadergrad::Tensor;
use shadergrad::nn::Module;

pub trait Model {
    /// Parameters, then buffers, by PyTorch name.
    fn state_dict(&self) -> Vec<(String, Tensor)>;

    /// Copies `state` into the model's own tensors, as `Module::load_state_dict`.
    fn load_state_dict(&self, state: &[(String, Tensor)], strict: bool) -> Result<()>;

    /// Training mode (dropout on, batch statistics) or evaluation mode.
    fn set_training(&self, on: bool);
}

impl<M: Module> Model for M {
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        Module::state_dict(self)
    }

    fn load_state_dict(&self, state: &[(String, Tensor)], strict: bool) -> Result<()> {
        Module::load_state_dict(self, state, strict)
    }

    fn set_training(&self, on: bool) {
        Module::set_training(self, on)
    }
}

/// The state of `parts`, each part's names under its own.
pub fn nested_state(parts: &[(&str, &dyn Model)]) -> Vec<(String, Tensor)> {
    parts
        .iter()
        .flat_map(|(prefix, m)| {
            m.state_dict()
                .into_iter()
                .map(move |(n, t)| (format!("{prefix}.{n}"), t))
        })
        .collect()
}

/// Loads `state` into the tensors `own` names, with the engine's loader:
/// every fault listed in one `Error::StateDict`, nothing copied unless all of
/// it loads, a differing dtype cast.
pub fn load_named(
    own: Vec<(String, Tensor)>,
    state: &[(String, Tensor)],
    strict: bool,
) -> Result<()> {
    // The engine's loader is `Module::load_state_dict`'s default, which loads
    // into whatever `state_dict` names: a module of just those tensors.
    struct Named(Vec<(String, Tensor)>);
    impl Module for Named {
        fn forward(&self, x: &Tensor) -> Result<Tensor> {
            Err(shadergrad::Error::InvalidArgument {
                op: "tour state",
                shape: x.shape().to_vec(),
                msg: "named tensors are loaded into, never applied".into(),
            })
        }
        fn named_parameters(&self) -> Vec<(String, Tensor)> {
            self.0.clone()
        }
    }
    Module::load_state_dict(&Named(own), state, strict)
}
