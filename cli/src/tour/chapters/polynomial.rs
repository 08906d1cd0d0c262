//! 正则化: polynomial features of rising degree that overfit until L2 reins
//! them in.

use crate::tour::chapters::regression::{mse_units, scale_target, values};
use crate::tour::common::{Ctx, Outcome, predict, tensors};
use crate::tour::held_out::HeldOut;
use shadergrad::Device;
use shadergrad::Result;
use shadergrad::data::{Dataset, auto_mpg};
use shadergrad::loss::{l2_penalty, mse};
use shadergrad::nn::{Linear, Module, Stateful};
use shadergrad::optim::Optimizer;

/// Powers h, h^2, ..., h^degree of a scaled input, each standardized on train.
fn powers(h: &[f32], degree: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut x = Vec::with_capacity(h.len() * degree);
    for &v in h {
        let u = 2.0 * (v - lo) / (hi - lo) - 1.0;
        for d in 1..=degree {
            x.push(u.powi(d as i32));
        }
    }
    x
}

fn with_features(d: &Dataset, x: Vec<f32>, degree: usize) -> Dataset {
    Dataset {
        name: format!("{} (degree {degree})", d.name),
        x,
        sample_shape: vec![degree],
        target: d.target.clone(),
        feature_names: (1..=degree).map(|k| format!("hp^{k}")).collect(),
    }
}

/// mpg ~ horsepower: 20 training cars, 100 for choosing lambda, the rest
/// (272) to test; the target scaled with the training cars' statistics.
pub struct Auto {
    /// Train, validation, test: horsepower alone.
    sets: Vec<Dataset>,
    /// The training cars' horsepower range, which the powers map to [-1, 1].
    lo: f32,
    hi: f32,
    std: f64,
    degrees: Vec<usize>,
}

impl Auto {
    /// The highest degree: the one L2 regularises.
    fn top(&self) -> usize {
        *self.degrees.last().expect("degrees")
    }

    /// Train, validation and test with the powers 1..=degree as features.
    fn features(&self, degree: usize) -> Vec<Dataset> {
        let (lo, hi) = (self.lo, self.hi);
        self.sets
            .iter()
            .map(|d| with_features(d, powers(&d.x, degree, lo, hi), degree))
            .collect()
    }
}

/// The degree-`top` model without L2 and the one with the lambda validation
/// chose: the metric is the ratio of their test errors.
#[derive(Stateful)]
pub struct Pair {
    plain: Linear,
    l2: Linear,
}

fn polynomial_model(dev: &Device, degree: usize) -> Result<Linear> {
    Linear::new(dev, degree, 1)
}

/// Mean squared error of `model` on `d`, in mpg^2.
fn mse_on(ctx: &Ctx, model: &Linear, d: &Dataset, std: f64) -> Result<f64> {
    let p = predict(&ctx.dev, d, 512, |x| model.forward(x))?;
    Ok(mse_units(&p, &values(d), std))
}

impl HeldOut for Auto {
    type Model = Pair;

    fn prepare(ctx: &Ctx) -> Result<Auto> {
        let all = auto_mpg(&ctx.data)?;
        let hp_col = all
            .feature_names
            .iter()
            .position(|n| n == "horsepower")
            .unwrap_or(2);
        let f = all.features();
        let hp: Vec<f32> = (0..all.len()).map(|i| all.x[i * f + hp_col]).collect();
        let one = Dataset {
            name: "Auto".into(),
            x: hp,
            sample_shape: vec![1],
            target: all.target.clone(),
            feature_names: vec!["horsepower".into()],
        };
        let (rest, train) = one.split(20.0 / 392.0, 11)?;
        let (test, val) = rest.split(100.0 / 372.0, 12)?;
        let (lo, hi) = train
            .x
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let mut sets: Vec<Dataset> = vec![train, val, test];
        let (a, b) = sets.split_at_mut(1);
        let (_, std) = scale_target(&mut a[0], &mut b.iter_mut().collect::<Vec<_>>());
        let degrees = ctx.pick(vec![1, 2, 3, 5, 8, 12], vec![1, 2, 5, 12]);
        Ok(Auto {
            sets,
            lo,
            hi,
            std,
            degrees,
        })
    }

    fn build(&self, ctx: &Ctx) -> Result<Pair> {
        Ok(Pair {
            plain: polynomial_model(&ctx.dev, self.top())?,
            l2: polynomial_model(&ctx.dev, self.top())?,
        })
    }

    fn metric(&self) -> String {
        format!("test MSE at degree {} with L2 / without", self.top())
    }

    fn evaluate(&self, ctx: &Ctx, pair: &Pair) -> Result<f64> {
        let test = &self.features(self.top())[2];
        Ok(mse_on(ctx, &pair.l2, test, self.std)? / mse_on(ctx, &pair.plain, test, self.std)?)
    }
}

/// One trained polynomial model: its MSE on each set given, steps, first/last loss.
struct Fitted {
    model: Linear,
    mse: Vec<f64>,
    steps: usize,
    first: f64,
    last: f64,
}

fn fit(ctx: &Ctx, sets: &[&Dataset], degree: usize, lambda: f64, std: f64) -> Result<Fitted> {
    let dev = &ctx.dev;
    let model = polynomial_model(dev, degree)?;
    let named = model.named_parameters();
    let mut opt = Optimizer::adam(&model.parameters(), 0.05)?;
    let (x, y) = tensors(dev, sets[0])?;
    let steps = ctx.pick(1500, 400);
    let (mut first, mut last) = (0.0, 0.0);
    for step in 0..steps {
        opt.zero_grad();
        let fit = mse(&model.forward(&x)?, &y)?;
        let loss = match l2_penalty(&named, lambda)? {
            Some(p) if lambda > 0.0 => fit.add(&p)?,
            _ => fit,
        };
        loss.backward()?;
        opt.record()?;
        if step == 0 || step + 1 == steps {
            let l = loss.to_scalar::<f32>()? as f64;
            if step == 0 {
                first = l;
            }
            last = l;
        } else {
            dev.realize_pending()?;
        }
    }
    ctx.bar.inc(1);
    let mse = sets
        .iter()
        .map(|d| mse_on(ctx, &model, d, std))
        .collect::<Result<_>>()?;
    Ok(Fitted {
        model,
        mse,
        steps,
        first,
        last,
    })
}

/// mpg from horsepower (Auto): with few training cars, a rising polynomial
/// degree keeps lowering the training error while the test error turns up;
/// L2 with lambda chosen on a validation split brings the degree-12 test
/// error back down.
pub fn polynomial(ctx: &Ctx) -> Result<Outcome> {
    let data = Auto::prepare(ctx)?;
    let lambdas = [1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0];
    ctx.start(data.degrees.len() + lambdas.len(), "degrees, then lambdas");
    let mut notes = vec!["degree   train MSE   test MSE   (mpg^2)".to_string()];
    let mut rows = Vec::new();
    let (mut first, mut last, mut steps) = (0.0, 0.0, 0);
    let mut plain = None;
    for &deg in &data.degrees {
        let ds = data.features(deg);
        let f = fit(ctx, &[&ds[0], &ds[2]], deg, 0.0, data.std)?;
        steps += f.steps;
        if deg == data.degrees[0] {
            first = f.first;
        }
        last = f.last;
        notes.push(format!("{deg:>6} {:>11.2} {:>10.2}", f.mse[0], f.mse[1]));
        rows.push((deg, f.mse[0], f.mse[1]));
        plain = Some(f.model);
    }
    // L2 on the highest degree: lambda by validation error.
    let top = data.top();
    let ds = data.features(top);
    let mut best: Option<(f64, f64, f64, Linear)> = None;
    for &lam in &lambdas {
        let f = fit(ctx, &[&ds[0], &ds[1], &ds[2]], top, lam, data.std)?;
        steps += f.steps;
        if best.as_ref().is_none_or(|b| f.mse[1] < b.0) {
            best = Some((f.mse[1], lam, f.mse[2], f.model));
        }
    }
    let (_, lambda, l2_test, l2) = best.expect("lambdas");
    let pair = Pair {
        plain: plain.expect("degrees"),
        l2,
    };
    let held_out = data.snapshot(ctx, &pair)?;
    let plain_test = rows.last().expect("rows").2;
    notes.push(format!(
        "degree {top} with L2: lambda {lambda} (chosen on validation) gives test MSE {l2_test:.2}, against {plain_test:.2} without"
    ));
    let train_falls = rows.windows(2).all(|w| w[1].1 <= w[0].1 * 1.02);
    let min_test = rows.iter().map(|r| r.2).fold(f64::MAX, f64::min);
    let test_turns_up = plain_test > min_test * 1.1;
    Ok(Outcome {
        model: "polynomial regression + L2".into(),
        dataset: "Auto: mpg ~ horsepower (20 train)".into(),
        metric: held_out.metric.clone(),
        value: held_out.value,
        target: 1.0,
        higher_is_better: false,
        steps,
        first_loss: first,
        last_loss: last,
        checks: vec![
            ("training error falls with the degree".into(), train_falls),
            ("test error turns up at high degree".into(), test_turns_up),
        ],
        notes,
        held_out,
    })
}
