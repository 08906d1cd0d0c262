//! 回归: linear regression by gradient descent, and the target scaling and
//! error in the target's units that polynomial.rs shares.

use crate::tour::common::{Ctx, Outcome, predict, tensors};
use crate::tour::held_out::HeldOut;
use shadergrad::Result;
use shadergrad::data::{Dataset, Standardizer, Target, diabetes};
use shadergrad::loss::mse;
use shadergrad::nn::{Linear, Module, Stateful};
use shadergrad::optim::Optimizer;

pub(super) fn values(d: &Dataset) -> Vec<f32> {
    d.values().expect("a regression target").to_vec()
}

/// Standardizes the (single) target with the training split's mean and std.
pub(super) fn scale_target(train: &mut Dataset, others: &mut [&mut Dataset]) -> (f64, f64) {
    let v = values(train);
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let std = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n)
        .sqrt()
        .max(1e-12);
    for d in std::iter::once(train).chain(others.iter_mut().map(|d| &mut **d)) {
        if let Target::Values { values, .. } = &mut d.target {
            for x in values.iter_mut() {
                *x = ((*x as f64 - mean) / std) as f32;
            }
        }
    }
    (mean, std)
}

/// Mean squared error in the target's original units.
pub(super) fn mse_units(pred: &[f32], truth: &[f32], std: f64) -> f64 {
    let n = pred.len().max(1) as f64;
    pred.iter()
        .zip(truth)
        .map(|(p, t)| ((p - t) as f64 * std).powi(2))
        .sum::<f64>()
        / n
}

/// Diabetes, 20% held out: features standardized and the target scaled with
/// the training split's statistics.
pub struct Diabetes {
    train: Dataset,
    test: Dataset,
    /// The target's std, to report errors in its units.
    std: f64,
}

impl Diabetes {
    fn predictions(&self, ctx: &Ctx, model: &Linear) -> Result<Vec<f32>> {
        predict(&ctx.dev, &self.test, 256, |x| model.forward(x))
    }
}

impl HeldOut for Diabetes {
    type Model = Linear;

    fn prepare(ctx: &Ctx) -> Result<Diabetes> {
        let all = diabetes(&ctx.data)?;
        let (mut train, mut test) = all.split(0.2, 7)?;
        let s = Standardizer::fit(&train);
        s.apply(&mut train)?;
        s.apply(&mut test)?;
        let (_, std) = scale_target(&mut train, &mut [&mut test]);
        Ok(Diabetes { train, test, std })
    }

    fn build(&self, ctx: &Ctx) -> Result<Linear> {
        Linear::new(&ctx.dev, 10, 1)
    }

    fn metric(&self) -> String {
        "test R^2".into()
    }

    fn evaluate(&self, ctx: &Ctx, model: &Linear) -> Result<f64> {
        let pred = self.predictions(ctx, model)?;
        let truth = values(&self.test);
        let mean = truth.iter().map(|&v| v as f64).sum::<f64>() / truth.len() as f64;
        let ss_res: f64 = pred
            .iter()
            .zip(&truth)
            .map(|(p, t)| (*p as f64 - *t as f64).powi(2))
            .sum();
        let ss_tot: f64 = truth.iter().map(|&t| (t as f64 - mean).powi(2)).sum();
        Ok(1.0 - ss_res / ss_tot)
    }
}

/// Diabetes progression from 10 clinical features, y = Xw + b by full-batch
/// gradient descent on the mean squared error; R^2 on a held-out 20%.
pub fn linear(ctx: &Ctx) -> Result<Outcome> {
    let data = Diabetes::prepare(ctx)?;
    let dev = &ctx.dev;
    let model = data.build(ctx)?;
    let steps = ctx.pick(300, 150);
    let mut opt = Optimizer::sgd(&model.parameters(), 0.1, 0.0)?;
    let (x, y) = tensors(dev, &data.train)?;
    ctx.start(steps, "gradient descent");
    let (mut first, mut last) = (0.0, 0.0);
    for step in 0..steps {
        opt.zero_grad();
        let loss = mse(&model.forward(&x)?, &y)?;
        loss.backward()?;
        opt.record()?;
        let l = loss.to_scalar::<f32>()?;
        if step == 0 {
            first = l as f64;
        }
        last = l as f64;
        ctx.tick(l);
    }
    let held_out = data.snapshot(ctx, &model)?;
    let rmse = mse_units(
        &data.predictions(ctx, &model)?,
        &values(&data.test),
        data.std,
    )
    .sqrt();
    Ok(Outcome {
        model: "linear regression".into(),
        dataset: "diabetes (442 x 10)".into(),
        metric: held_out.metric.clone(),
        value: held_out.value,
        target: 0.40,
        higher_is_better: true,
        steps,
        first_loss: first,
        last_loss: last,
        checks: vec![],
        notes: vec![format!("test RMSE {rmse:.1} (target std {:.1})", data.std)],
        held_out,
    })
}
