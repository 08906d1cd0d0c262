//! What the examples share: a batch on the device, and the held-out accuracy.

use shadergrad::data::{BatchTarget, Dataset};
use shadergrad::nn::Module;
use shadergrad::{DType, Device, Result, Tensor, without_grad};

/// The batch's samples (B, sample shape...) and labels (B) on the device.
pub fn tensors(
    dev: &Device,
    d: &Dataset,
    x: &[f32],
    y: &BatchTarget,
    n: usize,
) -> Result<(Tensor, Tensor)> {
    let mut shape = vec![n];
    shape.extend(&d.sample_shape);
    let BatchTarget::Classes(labels) = y else {
        unreachable!("a classification set")
    };
    Ok((
        Tensor::from_slice(dev, x, &shape)?,
        Tensor::from_slice(dev, labels, &[n])?,
    ))
}

/// The share of `d` the model classifies right, in evaluation mode.
pub fn accuracy(dev: &Device, model: &impl Module, d: &Dataset) -> Result<f64> {
    model.eval();
    let mut hits = 0;
    for b in d.batches(500, None)? {
        let (x, y) = tensors(dev, d, &b.x, &b.y, b.len)?;
        let right = without_grad(|| -> Result<f32> {
            let pred = model.forward(&x)?.argmax(-1, false)?;
            pred.eq(&y)?.cast(DType::F32)?.sum_all()?.item()
        })?;
        hits += right as usize;
    }
    model.train();
    Ok(hits as f64 / d.len() as f64)
}

/// One epoch of `model` on `train` with `opt`, one submit a step (`record()`
/// queues the update; reading the loss runs forward, backward and update);
/// the mean loss.
pub fn epoch(
    dev: &Device,
    model: &impl Module,
    opt: &mut shadergrad::optim::Optimizer,
    train: &Dataset,
    seed: u64,
) -> Result<f32> {
    let (mut total, mut steps) = (0.0, 0);
    for b in train.batches(64, Some(seed))? {
        let (x, y) = tensors(dev, train, &b.x, &b.y, b.len)?;
        opt.zero_grad();
        let loss = shadergrad::loss::cross_entropy(&model.forward(&x)?, &y)?;
        loss.backward()?;
        opt.record()?;
        total += loss.item::<f32>()?;
        steps += 1;
    }
    Ok(total / steps.max(1) as f32)
}
