//! 逻辑回归的缺陷以及引入神经网络: a problem no line separates, where logistic
//! regression fails and a two-hidden-layer MLP succeeds; then an MLP on MNIST.

use crate::tour::chapters::classification::{Fit, test_accuracy, train_classifier};
use crate::tour::common::{Ctx, Outcome};
use crate::tour::held_out::HeldOut;
use shadergrad::Result;
use shadergrad::data::{Dataset, Standardizer, Target, iris, mnist10k};
use shadergrad::nn::{Dropout, Flatten, Linear, Relu, Sequential, Stateful, Tanh};

/// Iris, petal length and width only, versicolor against the other two:
/// versicolor sits between setosa and virginica, so no line separates it.
fn versicolor(ctx: &Ctx) -> Result<Dataset> {
    let all = iris(&ctx.data)?;
    let f = all.features();
    let x: Vec<f32> = (0..all.len())
        .flat_map(|i| [all.x[i * f + 2], all.x[i * f + 3]])
        .collect();
    let labels: Vec<i32> = all
        .labels()
        .expect("labels")
        .iter()
        .map(|&l| (l == 1) as i32)
        .collect();
    Ok(Dataset {
        name: "iris versicolor vs rest".into(),
        x,
        sample_shape: vec![2],
        target: Target::Classes { labels, classes: 2 },
        feature_names: vec!["petal length".into(), "petal width".into()],
    })
}

/// The versicolor problem, 30% held out, standardized on the training split.
pub struct Petals {
    train: Dataset,
    test: Dataset,
}

impl HeldOut for Petals {
    type Model = Sequential;

    fn prepare(ctx: &Ctx) -> Result<Petals> {
        let data = versicolor(ctx)?;
        let (mut train, mut test) = data.split(0.3, 4)?;
        let s = Standardizer::fit(&train);
        s.apply(&mut train)?;
        s.apply(&mut test)?;
        Ok(Petals { train, test })
    }

    /// The MLP 2-16-16-2 with tanh.
    fn build(&self, ctx: &Ctx) -> Result<Sequential> {
        Ok(Sequential::new()
            .push(Linear::new(&ctx.dev, 2, 16)?)
            .push(Tanh)
            .push(Linear::new(&ctx.dev, 16, 16)?)
            .push(Tanh)
            .push(Linear::new(&ctx.dev, 16, 2)?))
    }

    fn metric(&self) -> String {
        "MLP test accuracy".into()
    }

    fn evaluate(&self, ctx: &Ctx, mlp: &Sequential) -> Result<f64> {
        test_accuracy(ctx, mlp, &self.test)
    }
}

/// Seed 0 for the device, split seed 4: logistic regression stays near the
/// majority-class rate; the MLP separates the middle band. The MLP is the
/// model saved.
pub fn nonlinear(ctx: &Ctx) -> Result<Outcome> {
    let data = Petals::prepare(ctx)?;
    let (train, test) = (&data.train, &data.test);
    let epochs = ctx.pick(150, 80);
    ctx.dev.manual_seed(0);
    let line = Linear::new(&ctx.dev, 2, 2)?;
    train_classifier(ctx, &line, train, Fit::new(epochs, 32, 0.05))?;
    let line_acc = test_accuracy(ctx, &line, test)?;
    let mlp = data.build(ctx)?;
    let t = train_classifier(ctx, &mlp, train, Fit::new(epochs, 32, 0.02))?;
    let held_out = data.snapshot(ctx, &mlp)?;
    let majority = 1.0
        - test
            .labels()
            .expect("labels")
            .iter()
            .filter(|&&l| l == 1)
            .count() as f64
            / test.len() as f64;
    Ok(Outcome {
        model: "MLP 2-16-16-2 (tanh) vs logistic".into(),
        dataset: "iris petals, versicolor vs rest".into(),
        metric: held_out.metric.clone(),
        value: held_out.value,
        target: 0.93,
        higher_is_better: true,
        steps: t.steps,
        first_loss: t.first,
        last_loss: t.last,
        checks: vec![(
            "logistic regression fails (test accuracy <= 0.80)".into(),
            line_acc <= 0.80,
        )],
        notes: vec![format!(
            "logistic regression: test accuracy {line_acc:.3} (always 'rest' would score {majority:.3})"
        )],
        held_out,
    })
}

/// MNIST 10k, shuffled with a fixed seed into 8k train / 2k test (2000 and
/// 500 of them in quick mode), pixels centred and scaled.
pub struct Mnist {
    train: Dataset,
    test: Dataset,
}

impl HeldOut for Mnist {
    type Model = Sequential;

    fn prepare(ctx: &Ctx) -> Result<Mnist> {
        let mut all = mnist10k(&ctx.data)?;
        // Centre and scale the pixels (MNIST's usual mean 0.1307, std 0.3081).
        for v in all.x.iter_mut() {
            *v = (*v - 0.1307) / 0.3081;
        }
        let (train, test) = all.split(0.2, 2024)?;
        let (train, test) = if ctx.quick {
            (
                train.subset(&(0..2000).collect::<Vec<_>>())?,
                test.subset(&(0..500).collect::<Vec<_>>())?,
            )
        } else {
            (train, test)
        };
        Ok(Mnist { train, test })
    }

    /// 784-256-128-10 with ReLU and dropout 0.2.
    fn build(&self, ctx: &Ctx) -> Result<Sequential> {
        let dev = &ctx.dev;
        Ok(Sequential::new()
            .push(Flatten)
            .push(Linear::new(dev, 784, 256)?)
            .push(Relu)
            .push(Dropout::new(0.2)?)
            .push(Linear::new(dev, 256, 128)?)
            .push(Relu)
            .push(Dropout::new(0.2)?)
            .push(Linear::new(dev, 128, 10)?))
    }

    fn metric(&self) -> String {
        "test accuracy".into()
    }

    fn evaluate(&self, ctx: &Ctx, model: &Sequential) -> Result<f64> {
        test_accuracy(ctx, model, &self.test)
    }
}

/// An MLP on MNIST: AdamW with a cosine schedule, batches of 128.
pub fn mnist(ctx: &Ctx) -> Result<Outcome> {
    let data = Mnist::prepare(ctx)?;
    let model = data.build(ctx)?;
    let fit = Fit {
        cosine: true,
        ..Fit::new(ctx.pick(20, 3), 128, 2e-3)
    };
    let t = train_classifier(ctx, &model, &data.train, fit)?;
    let held_out = data.snapshot(ctx, &model)?;
    Ok(Outcome {
        model: "MLP 784-256-128-10".into(),
        dataset: "MNIST 10k (8k train / 2k test)".into(),
        metric: held_out.metric.clone(),
        value: held_out.value,
        target: ctx.pick(0.96, 0.85),
        higher_is_better: true,
        steps: t.steps,
        first_loss: t.first,
        last_loss: t.last,
        checks: vec![],
        notes: vec![format!("{} parameters", model.parameter_count())],
        held_out,
    })
}
