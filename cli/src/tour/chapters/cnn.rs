//! CNN (影像识别): convolution, shared weights, pooling; batch normalisation;
//! depthwise-separable convolutions (架构设计). All on MNIST 10k, shuffled
//! into 8k train / 2k test.

use crate::tour::chapters::classification::{Fit, test_accuracy, train_classifier};
use crate::tour::common::{Ctx, Outcome};
use crate::tour::held_out::HeldOut;
use shadergrad::Device;
use shadergrad::Result;
use shadergrad::data::{Dataset, mnist10k};
use shadergrad::nn::{
    BatchNorm, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Relu, Sequential, Stateful,
};

/// MNIST normalised, split 8k / 2k with a fixed seed (1500 and 500 of them
/// when quick).
pub(super) struct Images {
    pub train: Dataset,
    pub test: Dataset,
}

impl Images {
    pub fn load(ctx: &Ctx) -> Result<Images> {
        let mut all = mnist10k(&ctx.data)?;
        for v in all.x.iter_mut() {
            *v = (*v - 0.1307) / 0.3081;
        }
        let (train, test) = all.split(0.2, 2024)?;
        Ok(if ctx.quick {
            Images {
                train: train.subset(&(0..1500).collect::<Vec<_>>())?,
                test: test.subset(&(0..500).collect::<Vec<_>>())?,
            }
        } else {
            Images { train, test }
        })
    }
}

/// conv(1->c1, 3x3) - [BN] - ReLU - maxpool 2 - conv(c1->c2) - [BN] - ReLU -
/// maxpool 2 - linear(c2*s*s -> 128) - ReLU - dropout 0.3 - linear(128 -> 10),
/// for images `side` pixels square.
pub(super) fn small_cnn(
    dev: &Device,
    batch_norm: bool,
    side: usize,
    (c1, c2): (usize, usize),
) -> Result<Sequential> {
    let mut m = Sequential::new().push(Conv2d::same(dev, 1, c1, 3)?);
    if batch_norm {
        m = m.push(BatchNorm::new(dev, c1)?);
    }
    m = m
        .push(Relu)
        .push(MaxPool2d::new(2))
        .push(Conv2d::same(dev, c1, c2, 3)?);
    if batch_norm {
        m = m.push(BatchNorm::new(dev, c2)?);
    }
    let s = side / 4;
    Ok(m.push(Relu)
        .push(MaxPool2d::new(2))
        .push(Flatten)
        .push(Linear::new(dev, c2 * s * s, 128)?)
        .push(Relu)
        .push(Dropout::new(0.3)?)
        .push(Linear::new(dev, 128, 10)?))
}

/// The plain CNN's data and model.
pub struct Cnn(Images);

impl HeldOut for Cnn {
    type Model = Sequential;

    fn prepare(ctx: &Ctx) -> Result<Cnn> {
        Ok(Cnn(Images::load(ctx)?))
    }

    fn build(&self, ctx: &Ctx) -> Result<Sequential> {
        small_cnn(&ctx.dev, false, 28, (16, 32))
    }

    fn metric(&self) -> String {
        "test accuracy".into()
    }

    fn evaluate(&self, ctx: &Ctx, model: &Sequential) -> Result<f64> {
        test_accuracy(ctx, model, &self.0.test)
    }
}

/// A CNN on MNIST: test accuracy >= 0.985.
pub fn cnn(ctx: &Ctx) -> Result<Outcome> {
    let data = Cnn::prepare(ctx)?;
    let model = data.build(ctx)?;
    // 8k images are few for a CNN: a small random rotation, scale and shift of
    // each image every epoch (augmentation) keeps it from memorising them.
    let fit = Fit {
        cosine: true,
        augment: 10.0,
        ..Fit::new(ctx.pick(16, 4), 128, 3e-3)
    };
    let t = train_classifier(ctx, &model, &data.0.train, fit)?;
    let held_out = data.snapshot(ctx, &model)?;
    crate::tour::plot::curves(
        &ctx.report.join("cnn.png"),
        "CNN on MNIST 10k",
        &[("CNN", &t.losses)],
    )?;
    Ok(Outcome {
        model: "CNN conv-pool-conv-pool-linear".into(),
        dataset: "MNIST 10k (8k train / 2k test)".into(),
        metric: held_out.metric.clone(),
        value: held_out.value,
        target: ctx.pick(0.985, 0.85),
        higher_is_better: true,
        steps: t.steps,
        first_loss: t.first,
        last_loss: t.last,
        checks: vec![],
        notes: vec![format!(
            "{} parameters; curve in {}",
            model.parameter_count(),
            ctx.report.join("cnn.png").display()
        )],
        held_out,
    })
}

/// Moving average of the last `w` losses at each step.
pub(super) fn smooth(losses: &[f32], w: usize) -> Vec<f32> {
    (0..losses.len())
        .map(|i| {
            let lo = i.saturating_sub(w - 1);
            losses[lo..=i].iter().sum::<f32>() / (i - lo + 1) as f32
        })
        .collect()
}

/// The batch-norm CNN's data and model. Its entry's metric is about training
/// (steps to a loss); the held-out one a saved model reproduces is its test
/// accuracy (with the running statistics it saved).
pub struct CnnBatchNorm(Images);

impl HeldOut for CnnBatchNorm {
    type Model = Sequential;

    fn prepare(ctx: &Ctx) -> Result<CnnBatchNorm> {
        Ok(CnnBatchNorm(Images::load(ctx)?))
    }

    fn build(&self, ctx: &Ctx) -> Result<Sequential> {
        small_cnn(&ctx.dev, true, 28, (16, 32))
    }

    fn metric(&self) -> String {
        "batch-norm CNN test accuracy".into()
    }

    fn evaluate(&self, ctx: &Ctx, model: &Sequential) -> Result<f64> {
        test_accuracy(ctx, model, &self.0.test)
    }
}

/// The same CNN with batch norm after each conv reaches the plain CNN's final
/// training loss in fewer steps (same data order, seed and learning rate).
pub fn cnn_batchnorm(ctx: &Ctx) -> Result<Outcome> {
    let data = CnnBatchNorm::prepare(ctx)?;
    let train = &data.0.train;
    let fit = Fit::new(ctx.pick(3, 1), 64, 1e-3);
    ctx.dev.manual_seed(1);
    let plain = small_cnn(&ctx.dev, false, 28, (16, 32))?;
    let tp = train_classifier(ctx, &plain, train, fit)?;
    ctx.dev.manual_seed(1);
    let bn = data.build(ctx)?;
    let tb = train_classifier(ctx, &bn, train, fit)?;
    let held_out = data.snapshot(ctx, &bn)?;
    let window = 25;
    let (sp, sb) = (smooth(&tp.losses, window), smooth(&tb.losses, window));
    let goal = *sp.last().expect("steps");
    let reach = |s: &[f32]| s.iter().position(|&l| l <= goal).map(|i| i + 1);
    let (np, nb) = (reach(&sp).unwrap_or(sp.len()), reach(&sb));
    crate::tour::plot::curves(
        &ctx.report.join("cnn_batchnorm.png"),
        "CNN with and without batch norm (MNIST)",
        &[("plain CNN", &sp), ("with batch norm", &sb)],
    )?;
    Ok(Outcome {
        model: "CNN + batch norm".into(),
        dataset: "MNIST 10k (8k train / 2k test)".into(),
        metric: "steps to the plain CNN's final loss, BN / plain".into(),
        value: nb.unwrap_or(usize::MAX) as f64 / np as f64,
        target: 1.0,
        higher_is_better: false,
        steps: tp.steps + tb.steps,
        first_loss: tb.first,
        last_loss: tb.last,
        checks: vec![(
            "batch norm reaches the plain final loss in fewer steps".into(),
            nb.is_some_and(|n| n < np),
        )],
        notes: vec![
            format!(
                "plain CNN: final loss {goal:.4} (moving average of {window} steps), reached at step {np}; \
                 with batch norm: reached at step {}",
                nb.map_or("never".to_string(), |n| n.to_string())
            ),
            format!(
                "batch-norm CNN test accuracy {:.4}; curves in {}",
                held_out.value,
                ctx.report.join("cnn_batchnorm.png").display()
            ),
        ],
        held_out,
    })
}

/// The depthwise-separable CNN's data and model: the standard CNN's second
/// conv (32 -> 64, 3x3) replaced by a depthwise 3x3 conv and a pointwise 1x1
/// conv.
pub struct Depthwise(Images);

impl HeldOut for Depthwise {
    type Model = Sequential;

    fn prepare(ctx: &Ctx) -> Result<Depthwise> {
        Ok(Depthwise(Images::load(ctx)?))
    }

    fn build(&self, ctx: &Ctx) -> Result<Sequential> {
        let dev = &ctx.dev;
        // Drawn before the first conv, as the entry always has.
        let dw = Conv2d::depthwise(dev, 32, 3)?;
        let pw = Conv2d::pointwise(dev, 32, 64)?;
        Ok(Sequential::new()
            .push(Conv2d::same(dev, 1, 32, 3)?)
            .push(Relu)
            .push(MaxPool2d::new(2))
            .push(dw)
            .push(pw)
            .push(Relu)
            .push(MaxPool2d::new(2))
            .push(Flatten)
            .push(Linear::new(dev, 64 * 7 * 7, 128)?)
            .push(Relu)
            .push(Dropout::new(0.3)?)
            .push(Linear::new(dev, 128, 10)?))
    }

    fn metric(&self) -> String {
        "test accuracy".into()
    }

    fn evaluate(&self, ctx: &Ctx, model: &Sequential) -> Result<f64> {
        test_accuracy(ctx, model, &self.0.test)
    }
}

/// The separable pair has about 1/9 + 1/64 of the standard conv's parameters.
pub fn depthwise(ctx: &Ctx) -> Result<Outcome> {
    let data = Depthwise::prepare(ctx)?;
    let standard = Conv2d::same(&ctx.dev, 32, 64, 3)?;
    let model = data.build(ctx)?;
    // The depthwise and pointwise convs are layers 3 and 4.
    let n_sep: usize = (model.named_parameters().iter())
        .filter(|(n, _)| n.starts_with("3.") || n.starts_with("4."))
        .map(|(_, t)| t.numel())
        .sum();
    let n_std = standard.parameter_count();
    let fit = Fit {
        cosine: true,
        augment: 10.0,
        ..Fit::new(ctx.pick(10, 4), 128, 3e-3)
    };
    let t = train_classifier(ctx, &model, &data.0.train, fit)?;
    let held_out = data.snapshot(ctx, &model)?;
    let ratio = n_sep as f64 / n_std as f64;
    Ok(Outcome {
        model: "depthwise-separable CNN".into(),
        dataset: "MNIST 10k (8k train / 2k test)".into(),
        metric: held_out.metric.clone(),
        value: held_out.value,
        target: ctx.pick(0.98, 0.80),
        higher_is_better: true,
        steps: t.steps,
        first_loss: t.first,
        last_loss: t.last,
        checks: vec![(
            format!(
                "parameters {ratio:.3} of the standard conv's (1/k^2 + 1/Cout = {:.3})",
                1.0 / 9.0 + 1.0 / 64.0
            ),
            ratio < 0.16,
        )],
        notes: vec![format!(
            "conv 32->64 3x3: standard {n_std} parameters, depthwise 3x3 + pointwise 1x1 {n_sep} ({ratio:.3}); whole model {}",
            model.parameter_count()
        )],
        held_out,
    })
}
