//! CNN (影像识别): convolution, shared weights, pooling; batch
//! normalisation; the spatial transformer; depthwise-separable convolutions
//! (架构设计). All on MNIST 10k, shuffled into 8k train / 2k test.

use rand::{Rng, SeedableRng};

use crate::tour::chapters::classification::{Fit, test_accuracy, train_classifier};
use crate::tour::common::{Ctx, Outcome};
use shadergrad::ConvParams;
use shadergrad::Device;
use shadergrad::Result;
use shadergrad::Tensor;
use shadergrad::data::{Dataset, mnist10k};
use shadergrad::nn::{
    BatchNorm, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, Relu, Sequential, Stateful,
};

/// MNIST normalised, split 8k / 2k with a fixed seed (subsets when quick).
fn mnist(ctx: &Ctx) -> Result<(Dataset, Dataset)> {
    let mut all = mnist10k(&ctx.data)?;
    for v in all.x.iter_mut() {
        *v = (*v - 0.1307) / 0.3081;
    }
    let (train, test) = all.split(0.2, 2024)?;
    Ok(if ctx.quick {
        (
            train.subset(&(0..1500).collect::<Vec<_>>())?,
            test.subset(&(0..500).collect::<Vec<_>>())?,
        )
    } else {
        (train, test)
    })
}

/// conv(1->c1, 3x3) - [BN] - ReLU - maxpool 2 - conv(c1->c2) - [BN] - ReLU -
/// maxpool 2 - linear(c2*s*s -> 128) - ReLU - dropout 0.3 - linear(128 -> 10),
/// for images `side` pixels square.
fn small_cnn(
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

/// A CNN on MNIST: test accuracy >= 0.985.
pub fn cnn(ctx: &Ctx) -> Result<Outcome> {
    let (train, test) = mnist(ctx)?;
    let model = small_cnn(&ctx.dev, false, 28, (16, 32))?;
    // 8k images are few for a CNN: a small random rotation, scale and shift of
    // each image every epoch (augmentation) keeps it from memorising them.
    let fit = Fit {
        cosine: true,
        augment: 10.0,
        ..Fit::new(ctx.pick(16, 4), 128, 3e-3)
    };
    let t = train_classifier(ctx, &model, &train, fit)?;
    let acc = test_accuracy(ctx, &model, &test)?;
    crate::tour::plot::curves(
        &ctx.report.join("cnn.png"),
        "CNN on MNIST 10k",
        &[("CNN", &t.losses)],
    )?;
    Ok(Outcome {
        model: "CNN conv-pool-conv-pool-linear".into(),
        dataset: "MNIST 10k (8k train / 2k test)".into(),
        metric: "test accuracy".into(),
        value: acc,
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
    })
}

/// Moving average of the last `w` losses at each step.
fn smooth(losses: &[f32], w: usize) -> Vec<f32> {
    (0..losses.len())
        .map(|i| {
            let lo = i.saturating_sub(w - 1);
            losses[lo..=i].iter().sum::<f32>() / (i - lo + 1) as f32
        })
        .collect()
}

/// The same CNN with batch norm after each conv reaches the plain CNN's final
/// training loss in fewer steps (same data order, seed and learning rate).
pub fn cnn_batchnorm(ctx: &Ctx) -> Result<Outcome> {
    let (train, test) = mnist(ctx)?;
    let fit = Fit::new(ctx.pick(3, 1), 64, 1e-3);
    ctx.dev.manual_seed(1);
    let plain = small_cnn(&ctx.dev, false, 28, (16, 32))?;
    let tp = train_classifier(ctx, &plain, &train, fit)?;
    ctx.dev.manual_seed(1);
    let bn = small_cnn(&ctx.dev, true, 28, (16, 32))?;
    let tb = train_classifier(ctx, &bn, &train, fit)?;
    let acc = test_accuracy(ctx, &bn, &test)?;
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
                "batch-norm CNN test accuracy {acc:.4}; curves in {}",
                ctx.report.join("cnn_batchnorm.png").display()
            ),
        ],
    })
}

/// An affine map of an image: rotation (radians), scale, and a shift in pixels,
/// about the image centre.
pub(super) struct Affine {
    pub angle: f32,
    pub scale: f32,
    pub shift: (f32, f32),
}

impl Affine {
    /// Resamples `src` (h, w) into `dst` (h', w') bilinearly through the map,
    /// filling with `src`'s smallest value (its background).
    pub fn apply(
        &self,
        src: &[f32],
        (h, w): (usize, usize),
        dst: &mut [f32],
        (ho, wo): (usize, usize),
    ) {
        let bg = src.iter().copied().fold(f32::MAX, f32::min);
        let (c, s) = (self.angle.cos(), self.angle.sin());
        let (ci, cj) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
        let (oi, oj) = ((ho as f32 - 1.0) / 2.0, (wo as f32 - 1.0) / 2.0);
        for y in 0..ho {
            for x in 0..wo {
                // Output pixel -> source pixel (the inverse map).
                let (u, v) = (x as f32 - oj - self.shift.0, y as f32 - oi - self.shift.1);
                let sx = (c * u + s * v) / self.scale + cj;
                let sy = (-s * u + c * v) / self.scale + ci;
                let (x0, y0) = (sx.floor(), sy.floor());
                let mut val = 0.0;
                for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                    let (px, py) = (x0 + dx, y0 + dy);
                    let wgt = (1.0 - (sx - px).abs()) * (1.0 - (sy - py).abs());
                    let inside = px >= 0.0 && py >= 0.0 && (px as usize) < w && (py as usize) < h;
                    val += wgt
                        * if inside {
                            src[py as usize * w + px as usize]
                        } else {
                            bg
                        };
                }
                dst[y * wo + x] = val;
            }
        }
    }
}

/// Digits randomly rotated (up to +-45 degrees), scaled (0.75..1.1) and moved
/// (+-5 pixels) into a 36x36 canvas, bilinearly, with a fixed seed.
fn distort(d: &Dataset, seed: u64) -> Dataset {
    const SIDE: usize = 36;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut x = vec![0.0; d.len() * SIDE * SIDE];
    for (i, out) in x.chunks_mut(SIDE * SIDE).enumerate() {
        let map = Affine {
            angle: rng.random_range(-45f32..45.0).to_radians(),
            scale: rng.random_range(0.75f32..1.1),
            shift: (rng.random_range(-5f32..5.0), rng.random_range(-5f32..5.0)),
        };
        map.apply(&d.x[i * 784..(i + 1) * 784], (28, 28), out, (SIDE, SIDE));
    }
    Dataset {
        name: format!("{} (rotated, scaled, moved)", d.name),
        x,
        sample_shape: vec![1, SIDE, SIDE],
        target: d.target.clone(),
        feature_names: vec![],
    }
}

/// The notes' spatial transformer: a localisation net predicts the six
/// parameters of an affine map (starting at the identity), the input is
/// resampled through affine_grid + grid_sample, and a CNN classifies the result.
#[derive(Stateful)]
struct Stn {
    loc: Sequential,
    theta: Linear,
    cnn: Sequential,
}

impl Stn {
    fn new(dev: &Device) -> Result<Stn> {
        let loc = Sequential::new()
            .push(Conv2d::new(
                dev,
                1,
                8,
                5,
                ConvParams {
                    stride: [2, 2],
                    ..ConvParams::default()
                },
            )?)
            .push(Relu)
            .push(MaxPool2d::new(2))
            .push(Conv2d::same(dev, 8, 16, 3)?)
            .push(Relu)
            .push(MaxPool2d::new(2))
            .push(Flatten)
            .push(Linear::new(dev, 16 * 4 * 4, 32)?)
            .push(Relu);
        // The last layer starts at zero weights and the identity's bias, so the
        // transformer starts by changing nothing.
        let theta = Linear::from_tensors(
            Tensor::zeros(dev, &[6, 32], shadergrad::DType::F32)?,
            Some(Tensor::from_slice(
                dev,
                &[1.0f32, 0.0, 0.0, 0.0, 1.0, 0.0],
                &[6],
            )?),
        )?;
        Ok(Stn {
            loc,
            theta,
            cnn: small_cnn(dev, false, 36, (16, 32))?,
        })
    }
}

impl Module for Stn {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let b = x.shape()[0];
        let theta = self
            .theta
            .forward(&self.loc.forward(x)?)?
            .reshape(&[b, 2, 3])?;
        let grid = Tensor::affine_grid(&theta, [b, 1, 36, 36], false)?;
        self.cnn.forward(&x.grid_sample(&grid, false)?)
    }
}

/// On distorted digits, STN + CNN beats the same CNN alone by >= 2 points.
pub fn stn(ctx: &Ctx) -> Result<Outcome> {
    let (train, test) = mnist(ctx)?;
    let (train, test) = (distort(&train, 77), distort(&test, 78));
    let fit = Fit {
        cosine: true,
        ..Fit::new(ctx.pick(10, 2), 64, 2e-3)
    };
    ctx.dev.manual_seed(2);
    let plain = small_cnn(&ctx.dev, false, 36, (16, 32))?;
    let tp = train_classifier(ctx, &plain, &train, fit)?;
    let plain_acc = test_accuracy(ctx, &plain, &test)?;
    ctx.dev.manual_seed(2);
    let stn = Stn::new(&ctx.dev)?;
    let ts = train_classifier(ctx, &stn, &train, fit)?;
    let stn_acc = test_accuracy(ctx, &stn, &test)?;
    crate::tour::plot::curves(
        &ctx.report.join("stn.png"),
        "Distorted MNIST: CNN and STN + CNN",
        &[
            ("CNN", &smooth(&tp.losses, 25)),
            ("STN + CNN", &smooth(&ts.losses, 25)),
        ],
    )?;
    Ok(Outcome {
        model: "spatial transformer + CNN".into(),
        dataset: "MNIST 10k rotated +-45, scaled, moved (36x36)".into(),
        metric: "test accuracy gain over the CNN (points)".into(),
        value: (stn_acc - plain_acc) * 100.0,
        target: ctx.pick(2.0, 0.0),
        higher_is_better: true,
        steps: tp.steps + ts.steps,
        first_loss: ts.first,
        last_loss: ts.last,
        checks: vec![],
        notes: vec![format!("CNN alone {plain_acc:.4}, STN + CNN {stn_acc:.4}")],
    })
}

/// The standard CNN's second conv (32 -> 64, 3x3) replaced by a depthwise
/// 3x3 conv and a pointwise 1x1 conv: about 1/9 + 1/64 of its parameters.
pub fn depthwise(ctx: &Ctx) -> Result<Outcome> {
    let (train, test) = mnist(ctx)?;
    let dev = &ctx.dev;
    let standard = Conv2d::same(dev, 32, 64, 3)?;
    let dw = Conv2d::depthwise(dev, 32, 3)?;
    let pw = Conv2d::pointwise(dev, 32, 64)?;
    let (n_std, n_sep) = (
        standard.parameter_count(),
        dw.parameter_count() + pw.parameter_count(),
    );
    let model = Sequential::new()
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
        .push(Linear::new(dev, 128, 10)?);
    let fit = Fit {
        cosine: true,
        augment: 10.0,
        ..Fit::new(ctx.pick(10, 4), 128, 3e-3)
    };
    let t = train_classifier(ctx, &model, &train, fit)?;
    let acc = test_accuracy(ctx, &model, &test)?;
    let ratio = n_sep as f64 / n_std as f64;
    Ok(Outcome {
        model: "depthwise-separable CNN".into(),
        dataset: "MNIST 10k (8k train / 2k test)".into(),
        metric: "test accuracy".into(),
        value: acc,
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
    })
}
