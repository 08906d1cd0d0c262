//! Batch norm (`shaders/batchnorm.wgsl`): the per-channel statistics and the
//! two sums of the closed-form gradient are kernels; the normalisation and
//! the input gradient are elementwise, composed here and fused by the planner
//! (with the ReLU that usually follows). The forward carries the closed-form
//! backward as its gradient rule.

use crate::autodiff::no_grad;
use crate::dtype::DType;
use crate::error::Result;
use crate::graph::GradRule;
use crate::kernels::{Arg, Call, Desc, Kernel, Launch, grid, no_second_order, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::tensor::Tensor;

const WG: u32 = 64;

/// Per-channel mean and biased variance of x (B, C, ...): -> (2, C).
pub(crate) struct BnStats;

/// Per-channel sums of dy and dy * xhat: inputs [x, dy, stats] -> (2, C).
pub(crate) struct BnGradReduce {
    pub eps: f32,
}

/// The one launch of `entry` over x (B, C, ...), binding `inputs` after out.
fn launch(entry: &'static str, x: &[usize], inputs: usize) -> Launch {
    let (b, c) = (x[0], x[1]);
    let s: usize = x[2..].iter().product();
    let mut layout = vec![BindKind::ReadWrite];
    layout.extend(std::iter::repeat_n(BindKind::Read, inputs));
    let mut args = vec![Arg::Out];
    args.extend((0..inputs).map(Arg::In));
    if inputs > 1 {
        layout.push(BindKind::Uniform);
        args.push(Arg::Scalars);
    }
    let mut src = KernelSource::new("batchnorm", shader("batchnorm").into(), entry, layout);
    for (name, v) in [("B", b), ("C", c), ("S", s), ("WG", WG as usize)] {
        src = src.with(name, v as f64);
    }
    let l = Launch::new(src, args, grid(c as u64));
    if inputs > 1 { l.scalars(vec![0]) } else { l }
}

impl Kernel for BnStats {
    fn name(&self) -> &'static str {
        "batchnorm.stats"
    }

    fn key(&self, _: &mut Vec<u64>) {}

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((vec![2, inputs[0].shape[1]], DType::F32))
    }

    fn launch(&self, c: &Call) -> Result<Vec<Launch>> {
        Ok(vec![launch("bn_stats", c.inputs[0].shape, 1)])
    }

    fn backward(&self, src: &[Tensor], _: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        // Only read under the closed form, which accounts for it.
        Ok(vec![None; src.len()])
    }
}

impl Kernel for BnGradReduce {
    fn name(&self) -> &'static str {
        "batchnorm.grad_sums"
    }

    fn key(&self, _: &mut Vec<u64>) {}

    fn scalars(&self) -> Vec<u32> {
        vec![self.eps.to_bits()]
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((vec![2, inputs[0].shape[1]], DType::F32))
    }

    fn launch(&self, c: &Call) -> Result<Vec<Launch>> {
        Ok(vec![launch("bn_grad_reduce", c.inputs[0].shape, 3)])
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}

/// Row `row` of a (2, C) per-channel tensor, shaped to broadcast against x.
fn channel(t: &Tensor, row: usize, x: &Tensor) -> Result<Tensor> {
    let mut shape = vec![1; x.rank()];
    shape[1] = x.shape()[1];
    t.narrow(0, row, 1)?.reshape(&shape)
}

/// A (C) parameter shaped to broadcast against x.
fn per_channel(t: &Tensor, x: &Tensor) -> Result<Tensor> {
    let mut shape = vec![1; x.rank()];
    shape[1] = x.shape()[1];
    t.reshape(&shape)
}

/// Batch norm with this batch's statistics: (y, stats (2, C)). x must be f32
/// (B, C, ...) with more than one value per channel, gamma and beta (C).
pub(crate) fn train(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor)> {
    let guard = no_grad();
    let stats = Tensor::apply(BnStats, &[x])?;
    let (mean, var) = (channel(&stats, 0, x)?, channel(&stats, 1, x)?);
    let y = x
        .sub(&mean)?
        .mul(&var.add(eps)?.rsqrt()?)?
        .mul(&per_channel(gamma, x)?)?
        .add(&per_channel(beta, x)?)?;
    let rule = BatchNormGrad { eps: eps as f32 };
    drop(guard);
    let y = Tensor::custom_grad(y, rule, &[x, gamma, beta, &stats]);
    Ok((y, stats))
}

/// The closed-form gradient of `train`'s output: with sums = (sum dy,
/// sum dy xhat) per channel, dx = gamma invstd / N (N dy - sum dy - xhat
/// sum dy xhat), dgamma = sum dy xhat, dbeta = sum dy.
struct BatchNormGrad {
    eps: f32,
}

impl GradRule for BatchNormGrad {
    fn backward(&self, src: &[Tensor], _: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, gamma, stats) = (&src[0], &src[1], &src[3]);
        let c = gamma.numel();
        let n = (x.numel() / c) as f64;
        let sums = Tensor::apply(BnGradReduce { eps: self.eps }, &[x, g, stats])?;
        let inv = channel(stats, 1, x)?.add(self.eps as f64)?.rsqrt()?;
        let xhat = x.sub(&channel(stats, 0, x)?)?.mul(&inv)?;
        let inner = g
            .mul(n)?
            .sub(&channel(&sums, 0, x)?)?
            .sub(&xhat.mul(&channel(&sums, 1, x)?)?)?;
        let dx = per_channel(gamma, x)?
            .mul(&inv)?
            .mul(1.0 / n)?
            .mul(&inner)?;
        let dbeta = sums.narrow(0, 0, 1)?.reshape(&[c])?;
        let dgamma = sums.narrow(0, 1, 1)?.reshape(&[c])?;
        Ok(vec![Some(dx), Some(dgamma), Some(dbeta), None])
    }
}
