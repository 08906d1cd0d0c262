//! 回归 and 正则化: linear regression by gradient descent, and polynomial
//! features of rising degree that overfit until L2 reins them in.

use crate::tour::common::{Ctx, Outcome, predict, tensors};
use shadergrad::Result;
use shadergrad::data::{Dataset, Standardizer, Target, auto_mpg, diabetes};
use shadergrad::loss::{l2_penalty, mse};
use shadergrad::nn::{Linear, Module, Stateful};
use shadergrad::optim::Optimizer;

fn values(d: &Dataset) -> Vec<f32> {
    d.values().expect("a regression target").to_vec()
}

/// Standardizes the (single) target with the training split's mean and std.
fn scale_target(train: &mut Dataset, others: &mut [&mut Dataset]) -> (f64, f64) {
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
fn mse_units(pred: &[f32], truth: &[f32], std: f64) -> f64 {
    let n = pred.len().max(1) as f64;
    pred.iter()
        .zip(truth)
        .map(|(p, t)| ((p - t) as f64 * std).powi(2))
        .sum::<f64>()
        / n
}

/// Diabetes progression from 10 clinical features, y = Xw + b by full-batch
/// gradient descent on the mean squared error; R^2 on a held-out 20%.
pub fn linear(ctx: &Ctx) -> Result<Outcome> {
    let all = diabetes(&ctx.data)?;
    let (mut train, mut test) = all.split(0.2, 7)?;
    let s = Standardizer::fit(&train);
    s.apply(&mut train)?;
    s.apply(&mut test)?;
    let (_, std) = scale_target(&mut train, &mut [&mut test]);
    let dev = &ctx.dev;
    let model = Linear::new(dev, 10, 1)?;
    let steps = ctx.pick(300, 150);
    let mut opt = Optimizer::sgd(&model.parameters(), 0.1, 0.0)?;
    let (x, y) = tensors(dev, &train)?;
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
    let pred = predict(dev, &test, 256, |x| model.forward(x))?;
    let truth = values(&test);
    let mean = truth.iter().map(|&v| v as f64).sum::<f64>() / truth.len() as f64;
    let ss_res: f64 = pred
        .iter()
        .zip(&truth)
        .map(|(p, t)| (*p as f64 - *t as f64).powi(2))
        .sum();
    let ss_tot: f64 = truth.iter().map(|&t| (t as f64 - mean).powi(2)).sum();
    let r2 = 1.0 - ss_res / ss_tot;
    Ok(Outcome {
        model: "linear regression".into(),
        dataset: "diabetes (442 x 10)".into(),
        metric: "test R^2".into(),
        value: r2,
        target: 0.40,
        higher_is_better: true,
        steps,
        first_loss: first,
        last_loss: last,
        checks: vec![],
        notes: vec![format!(
            "test RMSE {:.1} (target std {:.1})",
            mse_units(&pred, &truth, std).sqrt(),
            std
        )],
    })
}

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

/// Trains one polynomial model; returns (train MSE, other MSEs, steps, first/last loss).
fn fit(
    ctx: &Ctx,
    sets: &[&Dataset],
    degree: usize,
    lambda: f64,
    std: f64,
) -> Result<(Vec<f64>, usize, f64, f64)> {
    let dev = &ctx.dev;
    let model = Linear::new(dev, degree, 1)?;
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
    let mut out = Vec::new();
    for d in sets {
        let p = predict(dev, d, 512, |x| model.forward(x))?;
        out.push(mse_units(&p, &values(d), std));
    }
    Ok((out, steps, first, last))
}

/// mpg from horsepower (Auto): with few training cars, a rising polynomial
/// degree keeps lowering the training error while the test error turns up;
/// L2 with lambda chosen on a validation split brings the degree-12 test
/// error back down.
pub fn polynomial(ctx: &Ctx) -> Result<Outcome> {
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
    // 20 training cars, 100 for choosing lambda, the rest (272) to test.
    let (rest, train) = one.split(20.0 / 392.0, 11)?;
    let (test, val) = rest.split(100.0 / 372.0, 12)?;
    let (lo, hi) = train
        .x
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let mut sets: Vec<Dataset> = vec![train, val, test];
    let (a, b) = sets.split_at_mut(1);
    let (_, std) = scale_target(&mut a[0], &mut b.iter_mut().collect::<Vec<_>>());
    let degrees: Vec<usize> = ctx.pick(vec![1, 2, 3, 5, 8, 12], vec![1, 2, 5, 12]);
    let lambdas = [1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0];
    ctx.start(degrees.len() + lambdas.len(), "degrees, then lambdas");
    let make = |degree: usize| -> Vec<Dataset> {
        sets.iter()
            .map(|d| with_features(d, powers(&d.x, degree, lo, hi), degree))
            .collect()
    };
    let mut notes = vec!["degree   train MSE   test MSE   (mpg^2)".to_string()];
    let mut rows = Vec::new();
    let (mut first, mut last, mut steps) = (0.0, 0.0, 0);
    for &deg in &degrees {
        let ds = make(deg);
        let refs: Vec<&Dataset> = vec![&ds[0], &ds[2]];
        let (m, s, f0, l1) = fit(ctx, &refs, deg, 0.0, std)?;
        steps += s;
        if deg == degrees[0] {
            first = f0;
        }
        last = l1;
        notes.push(format!("{deg:>6} {:>11.2} {:>10.2}", m[0], m[1]));
        rows.push((deg, m[0], m[1]));
    }
    // L2 on the highest degree: lambda by validation error.
    let top = *degrees.last().expect("degrees");
    let ds = make(top);
    let refs: Vec<&Dataset> = vec![&ds[0], &ds[1], &ds[2]];
    let mut best = (f64::MAX, 0.0, 0.0);
    for &lam in &lambdas {
        let (m, s, _, _) = fit(ctx, &refs, top, lam, std)?;
        steps += s;
        if m[1] < best.0 {
            best = (m[1], lam, m[2]);
        }
    }
    let plain_test = rows.last().expect("rows").2;
    notes.push(format!(
        "degree {top} with L2: lambda {} (chosen on validation) gives test MSE {:.2}, against {:.2} without",
        best.1, best.2, plain_test
    ));
    let train_falls = rows.windows(2).all(|w| w[1].1 <= w[0].1 * 1.02);
    let min_test = rows.iter().map(|r| r.2).fold(f64::MAX, f64::min);
    let test_turns_up = plain_test > min_test * 1.1;
    Ok(Outcome {
        model: "polynomial regression + L2".into(),
        dataset: "Auto: mpg ~ horsepower (20 train)".into(),
        metric: format!("test MSE at degree {top} with L2 / without"),
        value: best.2 / plain_test,
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
    })
}
