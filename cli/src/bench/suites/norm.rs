//! Batch norm in training mode (shaders/batchnorm.wgsl plus fused elementwise
//! kernels), forward and backward, beside the same maths composed of engine
//! reductions and elementwise ops.
//!
//! - `batchnorm`: per-channel mean and variance, then the normalisation.
//!   7 flops per element (sum, square, add; subtract, two products, add).
//! - `batchnorm.grad`: per-channel sums of dy and dy * xhat, then the
//!   closed-form dx. 10 flops per element.
//!
//! Bytes: x (and dy) read once, y (dx) written once; the per-channel vectors
//! are negligible and not counted.

use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Case, Ctx, gate};
use crate::bench::suites::dims;
use shadergrad::DType;
use shadergrad::Result;
use crate::graph::Op;
use shadergrad::Tensor;

const EPS: f64 = 1e-5;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["batchnorm", "batchnorm.grad"]) {
        return Ok(());
    }
    let (b, c, hw) = if ctx.quick() {
        (4, 16, 16)
    } else {
        (32, 64, 32)
    };
    let dev = ctx.dev;
    let sets = Sets::rotating(
        dev,
        71,
        &[
            Spec::new(&[b, c, hw, hw], -2.0, 3.0),
            Spec::new(&[b, c, hw, hw], -1.0, 1.0),
            Spec::new(&[c], 0.5, 1.5),
            Spec::new(&[c], -0.5, 0.5),
        ],
    )?;
    let (x, dy, gamma, beta) = (&sets.host[0], &sets.host[1], &sets.host[2], &sets.host[3]);
    let plane = hw * hw;
    let per = (b * plane) as f64;
    let at = |bi: usize, ci: usize, p: usize| (bi * c + ci) * plane + p;
    // Per channel: mean, biased variance, and the sums of dy and dy * xhat.
    let mut mean = vec![0.0; c];
    let mut var = vec![0.0; c];
    let mut sum_dy = vec![(0.0, 0.0); c];
    let mut sum_dyx = vec![(0.0, 0.0); c];
    for ci in 0..c {
        let vals = || (0..b).flat_map(move |bi| (0..plane).map(move |p| at(bi, ci, p)));
        mean[ci] = vals().map(|i| x[i] as f64).sum::<f64>() / per;
        var[ci] = vals()
            .map(|i| (x[i] as f64 - mean[ci]).powi(2))
            .sum::<f64>()
            / per;
        let inv = 1.0 / (var[ci] + EPS).sqrt();
        for i in vals() {
            let g = dy[i] as f64;
            let xh = (x[i] as f64 - mean[ci]) * inv;
            sum_dy[ci].0 += g;
            sum_dy[ci].1 += g.abs();
            sum_dyx[ci].0 += g * xh;
            sum_dyx[ci].1 += (g * xh).abs();
        }
    }
    let chan = |i: usize| (i / plane) % c;
    let forward = |i: usize| {
        let ci = chan(i);
        let inv = 1.0 / (var[ci] + EPS).sqrt();
        let xh = (x[i] as f64 - mean[ci]) * inv;
        let y = xh * gamma[ci] as f64 + beta[ci] as f64;
        // The statistics are sums over the channel: their rounding scales
        // with the size of the terms relative to the spread.
        (
            y,
            (xh.abs() + 1.0) * gamma[ci] as f64 + beta[ci].abs() as f64,
        )
    };
    let backward = |i: usize| {
        let ci = chan(i);
        let inv = 1.0 / (var[ci] + EPS).sqrt();
        let xh = (x[i] as f64 - mean[ci]) * inv;
        let k = gamma[ci] as f64 * inv / per;
        let g = dy[i] as f64;
        let v = k * (per * g - sum_dy[ci].0 - xh * sum_dyx[ci].0);
        (
            v,
            k * (per * g.abs() + sum_dy[ci].1 + xh.abs() * sum_dyx[ci].1),
        )
    };
    let sums: Vec<(f64, f64)> = sum_dy.iter().chain(&sum_dyx).copied().collect();
    let numel = (b * c * plane) as f64;
    let shape = dims(&[b, c, hw, hw]);
    // Tolerances: statistics over b*h*w values in f32.
    let tol = Tol {
        rel: 1e-5,
        acc: 2e-5,
        abs: 1e-6,
    };
    let nx = b * c * plane;
    for fused in [true, false] {
        let (sets, forward) = (&sets, &forward);
        ctx.case(
            Case::new(
                "batchnorm",
                if fused { "kernel" } else { "composed" },
                shape.clone(),
                DType::F32,
            )
            .work(7.0 * numel, 2.0 * numel * 4.0)
            .sets(sets.len())
            .baseline(!fused)
            .chosen(fused)
            .note(if fused {
                "statistics kernel + fused normalisation"
            } else {
                "mean and variance reductions, then elementwise"
            })
            .run(move |i| {
                let s = sets.get(i);
                let (x, gamma, beta) = (&s[0], &s[2], &s[3]);
                Ok(vec![if fused {
                    x.batch_norm_train(gamma, beta, EPS)?.0
                } else {
                    let shape = [1, c, 1, 1];
                    let m = x.mean(&[0, 2, 3], true)?;
                    let d = x.sub(&m)?;
                    let v = d.square()?.mean(&[0, 2, 3], true)?;
                    d.mul(&v.add(EPS)?.rsqrt()?)?
                        .mul(&gamma.reshape(&shape)?)?
                        .add(&beta.reshape(&shape)?)?
                }])
            })
            .check(move |o| gate(o, 1, |o| check::elements(&o[0], nx, nx, tol, forward))),
        );
    }
    // The backward reads the batch statistics the forward computed.
    let stats: Vec<Tensor> = (0..sets.len())
        .map(|i| {
            Tensor::record(
                dev,
                vec![2, c],
                DType::F32,
                Op::BnStats,
                vec![sets.get(i)[0].clone()],
            )
        })
        .collect();
    Tensor::realize_all(&stats.iter().collect::<Vec<_>>())?;
    for fused in [true, false] {
        let (sets, stats, backward, sums) = (&sets, &stats, &backward, &sums);
        ctx.case(
            Case::new(
                "batchnorm.grad",
                if fused { "kernel" } else { "composed" },
                shape.clone(),
                DType::F32,
            )
            .work(10.0 * numel, 3.0 * numel * 4.0)
            .sets(sets.len())
            .baseline(!fused)
            .chosen(fused)
            .note(if fused {
                "sums kernel + fused closed-form dx; outputs dx and the sums"
            } else {
                "two reductions, then elementwise"
            })
            .run(move |i| {
                let s = sets.get(i);
                let (x, dy, gamma) = (&s[0], &s[1], &s[2]);
                let st = &stats[i % stats.len()];
                let dev = x.device();
                if fused {
                    let eps = EPS as f32;
                    let sums = Tensor::record(
                        dev,
                        vec![2, c],
                        DType::F32,
                        Op::BnGradReduce { eps },
                        vec![x.clone(), dy.clone(), st.clone()],
                    );
                    let dx = Tensor::record(
                        dev,
                        x.shape().to_vec(),
                        DType::F32,
                        Op::BnGradInput { eps },
                        vec![
                            x.clone(),
                            dy.clone(),
                            gamma.clone(),
                            st.clone(),
                            sums.clone(),
                        ],
                    );
                    Ok(vec![dx, sums])
                } else {
                    let shape = [1, c, 1, 1];
                    let m = st.narrow(0, 0, 1)?.reshape(&shape)?;
                    let inv = st.narrow(0, 1, 1)?.reshape(&shape)?.add(EPS)?.rsqrt()?;
                    let xh = x.sub(&m)?.mul(&inv)?;
                    let sdy = dy.sum(&[0, 2, 3], true)?;
                    let sdyx = dy.mul(&xh)?.sum(&[0, 2, 3], true)?;
                    let dx = dy
                        .mul(per)?
                        .sub(&sdy)?
                        .sub(&xh.mul(&sdyx)?)?
                        .mul(&gamma.reshape(&shape)?.mul(&inv)?.div(per)?)?;
                    let sums = Tensor::cat(&[&sdy.reshape(&[1, c])?, &sdyx.reshape(&[1, c])?], 0)?;
                    Ok(vec![dx, sums])
                }
            })
            .check(move |o| {
                gate(o, 2, |o| {
                    check::combine(vec![
                        ("dx", check::elements(&o[0], nx, nx, tol, backward)),
                        ("sums", check::all(&o[1], sums, tol)),
                    ])
                })
            }),
        );
    }
    Ok(())
}
