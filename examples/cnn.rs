//! A CNN on MNIST as a model of one's own: a struct holding layers that
//! implements `Module` (forward, its named parameters, train/eval passed
//! down), trained with Adam against the public API alone.
//! `cargo run --release --example cnn`

mod common;

use shadergrad::data::{data_dir, mnist10k};
use shadergrad::nn::{BatchNorm, Conv2d, Linear, Module};
use shadergrad::optim::Optimizer;
use shadergrad::{Device, Result, Tensor};

/// conv 1->16 -> BN -> ReLU -> pool -> conv 16->32 -> ReLU -> pool -> fc 10.
struct SmallCnn {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    fc: Linear,
}

impl SmallCnn {
    fn new(dev: &Device) -> Result<SmallCnn> {
        Ok(SmallCnn {
            conv1: Conv2d::same(dev, 1, 16, 3)?,
            bn1: BatchNorm::new(dev, 16)?,
            conv2: Conv2d::same(dev, 16, 32, 3)?,
            fc: Linear::new(dev, 32 * 7 * 7, 10)?,
        })
    }
}

impl Module for SmallCnn {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self
            .bn1
            .forward(&self.conv1.forward(x)?)?
            .relu()?
            .max_pool2d(2, 2, 0)?;
        let h = self.conv2.forward(&h)?.relu()?.max_pool2d(2, 2, 0)?;
        self.fc.forward(&h.reshape(&[x.shape()[0], 32 * 7 * 7])?)
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let layers: [(&str, &dyn Module); 4] = [
            ("conv1", &self.conv1),
            ("bn1", &self.bn1),
            ("conv2", &self.conv2),
            ("fc", &self.fc),
        ];
        layers
            .iter()
            .flat_map(|(name, m)| {
                m.named_parameters()
                    .into_iter()
                    .map(move |(p, t)| (format!("{name}.{p}"), t))
            })
            .collect()
    }

    fn set_training(&self, on: bool) {
        self.bn1.set_training(on);
    }
}

fn main() -> Result<()> {
    let dev = Device::new()?;
    dev.manual_seed(0);
    let (train, test) = mnist10k(&data_dir())?.split(0.2, 2024)?;
    let model = SmallCnn::new(&dev)?;
    for (name, p) in model.named_parameters() {
        println!("{name}: {:?}", p.shape());
    }
    let mut opt = Optimizer::adam(&model.parameters(), 2e-3)?;
    for e in 0..3 {
        let loss = common::epoch(&dev, &model, &mut opt, &train, e)?;
        println!("epoch {e}: mean loss {loss:.4}");
    }
    println!(
        "test accuracy {:.4}",
        common::accuracy(&dev, &model, &test)?
    );
    Ok(())
}
