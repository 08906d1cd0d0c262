//! An MLP on MNIST (the first 10,000 images), written against the public API
//! alone: the data set, a model, Adam, mini-batches (one submit a training
//! step), and the held-out accuracy in evaluation mode.
//! `cargo run --release --example mlp`

mod common;

use shadergrad::data::{data_dir, mnist10k};
use shadergrad::nn::{Dropout, Flatten, Linear, Relu, Sequential, Stateful};
use shadergrad::optim::Optimizer;
use shadergrad::{Device, Result};

fn main() -> Result<()> {
    let dev = Device::new()?;
    dev.manual_seed(0);
    let (train, test) = mnist10k(&data_dir())?.split(0.2, 2024)?;
    let model = Sequential::new()
        .push(Flatten)
        .push(Linear::new(&dev, 784, 256)?)
        .push(Relu)
        .push(Dropout::new(0.1)?)
        .push(Linear::new(&dev, 256, 10)?);
    let mut opt = Optimizer::adam(&model.parameters(), 1e-3)?;
    for e in 0..8 {
        let loss = common::epoch(&dev, &model, &mut opt, &train, e)?;
        println!("epoch {e}: mean loss {loss:.4}");
    }
    println!(
        "test accuracy {:.4}",
        common::accuracy(&dev, &model, &test)?
    );
    Ok(())
}
