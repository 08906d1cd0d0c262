//! Weight initialisation on the GPU from the device's seeded generator
//! (`Device::manual_seed` makes a run repeatable).

use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;

/// U(lo, hi), realized.
pub fn uniform(dev: &Device, shape: &[usize], lo: f64, hi: f64) -> Result<Tensor> {
    let t = Tensor::rand(dev, shape)?.mul(hi - lo)?.add(lo)?;
    t.realize()?;
    Ok(t)
}

/// N(0, std^2), realized.
pub fn normal(dev: &Device, shape: &[usize], std: f64) -> Result<Tensor> {
    let t = Tensor::randn(dev, shape)?.mul(std)?;
    t.realize()?;
    Ok(t)
}

/// (fan_in, fan_out) of a weight (out, in, kernel...).
fn fans(shape: &[usize]) -> (f64, f64) {
    let receptive: usize = shape.iter().skip(2).product();
    let fan_in = shape.get(1).copied().unwrap_or(1) * receptive;
    let fan_out = shape.first().copied().unwrap_or(1) * receptive;
    (fan_in.max(1) as f64, fan_out.max(1) as f64)
}

/// Glorot/Xavier uniform: keeps activation variance through tanh/sigmoid layers.
pub fn xavier_uniform(dev: &Device, shape: &[usize]) -> Result<Tensor> {
    let (i, o) = fans(shape);
    let a = (6.0 / (i + o)).sqrt();
    uniform(dev, shape, -a, a)
}

pub fn xavier_normal(dev: &Device, shape: &[usize]) -> Result<Tensor> {
    let (i, o) = fans(shape);
    normal(dev, shape, (2.0 / (i + o)).sqrt())
}

/// He/Kaiming normal (fan in): keeps activation variance through ReLU layers.
pub fn kaiming_normal(dev: &Device, shape: &[usize]) -> Result<Tensor> {
    let (i, _) = fans(shape);
    normal(dev, shape, (2.0 / i).sqrt())
}

pub fn kaiming_uniform(dev: &Device, shape: &[usize]) -> Result<Tensor> {
    let (i, _) = fans(shape);
    let a = (6.0 / i).sqrt();
    uniform(dev, shape, -a, a)
}
