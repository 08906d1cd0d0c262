//! A CNN on MNIST as a model of one's own: a struct holding layers, whose
//! named parameters, buffers, state dict and train/eval come from
//! `#[derive(Stateful)]` and whose `forward` is written by hand; trained with
//! Adam against the public API alone, saved, and reloaded into a new model.
//! `cargo run --release --example cnn`

mod common;

use shadergrad::data::{data_dir, mnist10k};
use shadergrad::nn::{BatchNorm, Conv2d, Linear, Module, Stateful};
use shadergrad::optim::Optimizer;
use shadergrad::{Device, Result, Tensor};

/// conv 1->16 -> BN -> ReLU -> pool -> conv 16->32 -> ReLU -> pool -> fc 10.
#[derive(Stateful)]
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
    let accuracy = common::accuracy(&dev, &model, &test)?;
    println!("test accuracy {accuracy:.4}");
    // PyTorch's names (conv1.weight, bn1.running_mean, ...), in a file
    // `torch.nn.Module.load_state_dict` reads; then into a new model.
    let path = std::env::temp_dir().join("small-cnn.safetensors");
    let state = model.state_dict();
    let named: Vec<(&str, &Tensor)> = state.iter().map(|(n, t)| (n.as_str(), t)).collect();
    shadergrad::checkpoint::save(&path, &named, &[("model", "SmallCnn")])?;
    let reloaded = SmallCnn::new(&dev)?;
    reloaded.load_state_dict(&shadergrad::checkpoint::load(&dev, &path)?.tensors, true)?;
    let again = common::accuracy(&dev, &reloaded, &test)?;
    println!("reloaded from {}: test accuracy {again:.4}", path.display());
    Ok(())
}
