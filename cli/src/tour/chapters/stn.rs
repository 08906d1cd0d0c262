//! 空间变换层: a spatial transformer in front of a CNN, against the same CNN
//! alone, on MNIST digits rotated, scaled and moved.

use rand::{Rng, SeedableRng};

use crate::tour::chapters::affine::Affine;
use crate::tour::chapters::classification::{Fit, test_accuracy, train_classifier};
use crate::tour::chapters::cnn::{Images, small_cnn, smooth};
use crate::tour::common::{Ctx, Outcome};
use crate::tour::held_out::{HeldOut, Snapshot};
use shadergrad::ConvParams;
use shadergrad::Device;
use shadergrad::Result;
use shadergrad::Tensor;
use shadergrad::data::Dataset;
use shadergrad::nn::{Conv2d, Flatten, Linear, MaxPool2d, Module, Relu, Sequential, Stateful};

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

/// Distorted MNIST (train seed 77, test seed 78).
pub struct Distorted {
    train: Dataset,
    test: Dataset,
}

/// The two models the metric compares: the CNN alone and STN + CNN.
#[derive(Stateful)]
pub struct StnVsCnn {
    cnn: Sequential,
    stn: Stn,
}

fn plain_cnn(dev: &Device) -> Result<Sequential> {
    small_cnn(dev, false, 36, (16, 32))
}

impl Distorted {
    /// Test accuracy of the CNN alone and of STN + CNN.
    fn accuracies(&self, ctx: &Ctx, m: &StnVsCnn) -> Result<(f64, f64)> {
        Ok((
            test_accuracy(ctx, &m.cnn, &self.test)?,
            test_accuracy(ctx, &m.stn, &self.test)?,
        ))
    }
}

/// How many points STN + CNN scores over the CNN alone.
fn gain((cnn, stn): (f64, f64)) -> f64 {
    (stn - cnn) * 100.0
}

impl HeldOut for Distorted {
    type Model = StnVsCnn;

    fn prepare(ctx: &Ctx) -> Result<Distorted> {
        let images = Images::load(ctx)?;
        Ok(Distorted {
            train: distort(&images.train, 77),
            test: distort(&images.test, 78),
        })
    }

    fn build(&self, ctx: &Ctx) -> Result<StnVsCnn> {
        Ok(StnVsCnn {
            cnn: plain_cnn(&ctx.dev)?,
            stn: Stn::new(&ctx.dev)?,
        })
    }

    fn metric(&self) -> String {
        "test accuracy gain over the CNN (points)".into()
    }

    fn evaluate(&self, ctx: &Ctx, m: &StnVsCnn) -> Result<f64> {
        Ok(gain(self.accuracies(ctx, m)?))
    }
}

/// On distorted digits, STN + CNN beats the same CNN alone by >= 2 points.
pub fn stn(ctx: &Ctx) -> Result<Outcome> {
    let data = Distorted::prepare(ctx)?;
    let fit = Fit {
        cosine: true,
        ..Fit::new(ctx.pick(10, 2), 64, 2e-3)
    };
    ctx.dev.manual_seed(2);
    let cnn = plain_cnn(&ctx.dev)?;
    let tp = train_classifier(ctx, &cnn, &data.train, fit)?;
    ctx.dev.manual_seed(2);
    let stn = Stn::new(&ctx.dev)?;
    let ts = train_classifier(ctx, &stn, &data.train, fit)?;
    let both = StnVsCnn { cnn, stn };
    let accs = data.accuracies(ctx, &both)?;
    let held_out = Snapshot::new(data.metric(), gain(accs), &both);
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
        metric: held_out.metric.clone(),
        value: held_out.value,
        target: ctx.pick(2.0, 0.0),
        higher_is_better: true,
        steps: tp.steps + ts.steps,
        first_loss: ts.first,
        last_loss: ts.last,
        checks: vec![],
        notes: vec![format!("CNN alone {:.4}, STN + CNN {:.4}", accs.0, accs.1)],
        held_out,
    })
}
