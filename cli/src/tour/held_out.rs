//! What each entry provides so that its trained model can be saved and scored
//! again: its data (split and scaled as training does), its model's
//! architecture, and the held-out evaluation. Training and `shadergrad eval`
//! run the same three, so a saved model scores what the tour reported.

use shadergrad::Result;
use shadergrad::Tensor;

use crate::tour::common::Ctx;
use shadergrad::nn::Stateful;

pub trait HeldOut: Sized {
    /// The model the metric reads (for an entry that compares two models, both).
    type Model: Stateful;

    /// The entry's data, prepared as training prepares it (the quick subsets
    /// in quick mode).
    fn prepare(ctx: &Ctx) -> Result<Self>;

    /// A model of the entry's architecture, freshly initialised.
    fn build(&self, ctx: &Ctx) -> Result<Self::Model>;

    /// The held-out metric's name.
    fn metric(&self) -> String;

    /// The held-out metric of a trained model, in evaluation mode.
    fn evaluate(&self, ctx: &Ctx, model: &Self::Model) -> Result<f64>;

    /// `model`'s state with its held-out metric, computed now.
    fn snapshot(&self, ctx: &Ctx, model: &Self::Model) -> Result<Snapshot> {
        let value = self.evaluate(ctx, model)?;
        Ok(Snapshot::new(self.metric(), value, model))
    }
}

/// A trained model's state and its held-out metric: what `tour --save` writes.
pub struct Snapshot {
    pub metric: String,
    pub value: f64,
    pub state: Vec<(String, Tensor)>,
}

impl Snapshot {
    pub fn new(metric: String, value: f64, model: &dyn Stateful) -> Snapshot {
        Snapshot {
            metric,
            value,
            state: model.state_dict(),
        }
    }
}

/// A held-out metric, by name.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub metric: String,
    pub value: f64,
}

/// An entry's `restore::<H>`: a state dict in, its held-out metric out.
pub type Restore = fn(&Ctx, &[(String, Tensor)]) -> Result<Score>;

/// Rebuilds `H`'s model, loads `state` into it strictly and scores it on the
/// held-out data (an `Error::StateDict` when `state` is another architecture's).
pub fn restore<H: HeldOut>(ctx: &Ctx, state: &[(String, Tensor)]) -> Result<Score> {
    let data = H::prepare(ctx)?;
    let model = data.build(ctx)?;
    model.load_state_dict(state, true)?;
    model.set_training(false);
    Ok(Score {
        metric: data.metric(),
        value: data.evaluate(ctx, &model)?,
    })
}
