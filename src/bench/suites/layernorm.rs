//! Layer norm and RMSNorm over the last axis (shaders/layernorm.wgsl: a
//! statistics kernel and a fused elementwise one each way) beside the same
//! maths composed of engine reductions and elementwise ops.
//!
//! - `layernorm`: row mean and variance, then (x - mean) / sqrt(var + eps)
//!   * gamma + beta. 7 flops per element.
//! - `layernorm.fwd+bwd`: the forward, then dx, dgamma and dbeta for a given
//!   dy through autodiff. 7 + 12 flops per element.
//! - `rmsnorm`: the row mean of x^2, then x / sqrt(ms + eps) * gamma. 4 flops
//!   per element (square, add, two scales).
//! - `rmsnorm.fwd+bwd`: the forward, then dx and dgamma for a given dy through
//!   autodiff. 4 + 9 flops per element (g = gamma dy, xhat, g xhat and its sum,
//!   dx = (g - xhat mean(g xhat)) / rms in three, dy xhat and its sum).
//!
//! Bytes: x (and dy) read once, y (dx) written once; the per-feature vectors
//! are negligible and not counted.

use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Case, Ctx, gate};
use crate::bench::suites::dims;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

const EPS: f64 = 1e-5;

/// Statistics over a row of f32 values.
const TOL: Tol = Tol {
    rel: 1e-5,
    acc: 2e-5,
    abs: 1e-6,
};

fn engine(x: &Tensor, gamma: &Tensor, beta: &Tensor, fused: bool) -> Result<Tensor> {
    if fused {
        x.layer_norm(gamma, beta, EPS)
    } else {
        let m = x.mean(&[1], true)?;
        let d = x.sub(&m)?;
        let v = d.square()?.mean(&[1], true)?;
        d.mul(&v.add(EPS)?.rsqrt()?)?.mul(gamma)?.add(beta)
    }
}

fn variant(fused: bool) -> &'static str {
    if fused { "kernel" } else { "composed" }
}

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    layer(ctx)?;
    rms(ctx)
}

fn layer(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["layernorm"]) {
        return Ok(());
    }
    // A transformer's activations: tokens x features, features not a power of two.
    let (rows, c) = if ctx.quick() { (64, 100) } else { (4096, 768) };
    let sets = Sets::rotating(
        ctx.dev,
        81,
        &[
            Spec::new(&[rows, c], -2.0, 3.0),
            Spec::new(&[c], 0.5, 1.5),
            Spec::new(&[c], -0.5, 0.5),
            Spec::new(&[rows, c], -1.0, 1.0),
        ],
    )?;
    for set in &sets.t {
        for t in &set[..3] {
            t.set_requires_grad(true)?;
        }
    }
    let (x, gamma, beta, dy) = (&sets.host[0], &sets.host[1], &sets.host[2], &sets.host[3]);
    // Per row: mean, 1/sigma, and the means of g = gamma * dy and g * xhat.
    let stats: Vec<[f64; 4]> = (0..rows)
        .map(|r| {
            let row = &x[r * c..(r + 1) * c];
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / c as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / c as f64;
            let inv = 1.0 / (var + EPS).sqrt();
            let (mut mg, mut mgx) = (0.0, 0.0);
            for j in 0..c {
                let g = gamma[j] as f64 * dy[r * c + j] as f64;
                mg += g;
                mgx += g * (x[r * c + j] as f64 - mean) * inv;
            }
            [mean, inv, mg / c as f64, mgx / c as f64]
        })
        .collect();
    let xhat = |i: usize| {
        let s = &stats[i / c];
        (x[i] as f64 - s[0]) * s[1]
    };
    // The statistics are sums over the row: their rounding scales with the
    // size of the terms relative to the spread.
    let forward = |i: usize| {
        let j = i % c;
        let xh = xhat(i);
        let y = xh * gamma[j] as f64 + beta[j] as f64;
        (y, (xh.abs() + 1.0) * gamma[j] as f64 + beta[j].abs() as f64)
    };
    let dx = |i: usize| {
        let s = &stats[i / c];
        let g = gamma[i % c] as f64 * dy[i] as f64;
        let xh = xhat(i);
        (
            s[1] * (g - s[2] - xh * s[3]),
            s[1] * (g.abs() + s[2].abs() + (xh * s[3]).abs()) * (1.0 + xh.abs()),
        )
    };
    // dgamma = sum over rows of dy * xhat, dbeta = sum of dy.
    let mut params = vec![(0.0, 0.0); 2 * c];
    for (i, &g) in dy.iter().enumerate() {
        let (j, g) = (i % c, g as f64);
        let xh = xhat(i);
        params[j].0 += g * xh;
        params[j].1 += (g * xh).abs() * (1.0 + xh.abs());
        params[c + j].0 += g;
        params[c + j].1 += g.abs();
    }
    let n = rows * c;
    let numel = n as f64;
    let shape = dims(&[rows, c]);
    let (sets, forward, dx, params) = (&sets, &forward, &dx, &params);
    for fused in [true, false] {
        ctx.case(
            Case::new("layernorm", variant(fused), shape.clone(), DType::F32)
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
                    let _g = crate::autodiff::no_grad();
                    Ok(vec![engine(&s[0], &s[1], &s[2], fused)?])
                })
                .check(move |o| gate(o, 1, |o| check::elements(&o[0], n, n, TOL, forward))),
        );
    }
    for fused in [true, false] {
        ctx.case(
            Case::new(
                "layernorm.fwd+bwd",
                variant(fused),
                shape.clone(),
                DType::F32,
            )
            .work(19.0 * numel, 3.0 * numel * 4.0)
            .sets(sets.len())
            .baseline(!fused)
            .chosen(fused)
            .note(if fused {
                "the kernels' closed-form backward"
            } else {
                "the composed forward and its autodiff backward"
            })
            .run(move |i| {
                let s = sets.get(i);
                for t in &s[..3] {
                    t.zero_grad();
                }
                engine(&s[0], &s[1], &s[2], fused)?.backward_with(&s[3])?;
                s[..3]
                    .iter()
                    .map(|t| {
                        t.grad().ok_or_else(|| {
                            Error::Gpu("layer norm backward left no gradient".into())
                        })
                    })
                    .collect()
            })
            .check(move |o| {
                gate(o, 3, |o| {
                    let mut both = o[1].clone();
                    both.extend(&o[2]);
                    check::combine(vec![
                        ("dx", check::elements(&o[0], n, n, TOL, dx)),
                        ("dgamma, dbeta", check::all(&both, params, TOL)),
                    ])
                })
            }),
        );
    }
    Ok(())
}

fn rms_engine(x: &Tensor, gamma: &Tensor, fused: bool) -> Result<Tensor> {
    if fused {
        x.rms_norm(gamma, EPS)
    } else {
        let r = x.square()?.mean(&[1], true)?.add(EPS)?.rsqrt()?;
        x.mul(&r)?.mul(gamma)
    }
}

fn rms(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["rmsnorm"]) {
        return Ok(());
    }
    // The layer norm's shapes, so the two rows compare.
    let (rows, c) = if ctx.quick() { (64, 100) } else { (4096, 768) };
    let sets = Sets::rotating(
        ctx.dev,
        83,
        &[
            Spec::new(&[rows, c], -2.0, 3.0),
            Spec::new(&[c], 0.5, 1.5),
            Spec::new(&[rows, c], -1.0, 1.0),
        ],
    )?;
    for set in &sets.t {
        for t in &set[..2] {
            t.set_requires_grad(true)?;
        }
    }
    let (x, gamma, dy) = (&sets.host[0], &sets.host[1], &sets.host[2]);
    // Per row: 1/rms, and the mean of g * xhat (g = gamma * dy) with the mean
    // of its magnitudes.
    let stats: Vec<[f64; 3]> = (0..rows)
        .map(|r| {
            let row = &x[r * c..(r + 1) * c];
            let ms = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / c as f64;
            let inv = 1.0 / (ms + EPS).sqrt();
            let (mut m, mut a) = (0.0, 0.0);
            for j in 0..c {
                let t = gamma[j] as f64 * dy[r * c + j] as f64 * x[r * c + j] as f64 * inv;
                m += t;
                a += t.abs();
            }
            [inv, m / c as f64, a / c as f64]
        })
        .collect();
    let xhat = |i: usize| x[i] as f64 * stats[i / c][0];
    // The mean of squares sums positive terms: its rounding is relative, and
    // so is every output's.
    let forward = |i: usize| {
        let y = xhat(i) * gamma[i % c] as f64;
        (y, y.abs())
    };
    // dx = (g - xhat * mean(g * xhat)) / rms; the mean's rounding scales with
    // the magnitudes it sums.
    let dx = |i: usize| {
        let s = &stats[i / c];
        let g = gamma[i % c] as f64 * dy[i] as f64;
        let xh = xhat(i);
        (s[0] * (g - xh * s[1]), s[0] * (g.abs() + xh.abs() * s[2]))
    };
    // dgamma = sum over rows of dy * xhat.
    let mut dgamma = vec![(0.0, 0.0); c];
    for (i, &g) in dy.iter().enumerate() {
        let t = g as f64 * xhat(i);
        dgamma[i % c].0 += t;
        dgamma[i % c].1 += t.abs();
    }
    let n = rows * c;
    let numel = n as f64;
    let shape = dims(&[rows, c]);
    let (sets, forward, dx, dgamma) = (&sets, &forward, &dx, &dgamma);
    for fused in [true, false] {
        ctx.case(
            Case::new("rmsnorm", variant(fused), shape.clone(), DType::F32)
                .work(4.0 * numel, 2.0 * numel * 4.0)
                .sets(sets.len())
                .baseline(!fused)
                .chosen(fused)
                .note(if fused {
                    "statistics kernel + fused normalisation"
                } else {
                    "mean of squares reduction, then elementwise"
                })
                .run(move |i| {
                    let s = sets.get(i);
                    let _g = crate::autodiff::no_grad();
                    Ok(vec![rms_engine(&s[0], &s[1], fused)?])
                })
                .check(move |o| gate(o, 1, |o| check::elements(&o[0], n, n, TOL, forward))),
        );
    }
    for fused in [true, false] {
        ctx.case(
            Case::new("rmsnorm.fwd+bwd", variant(fused), shape.clone(), DType::F32)
                .work(13.0 * numel, 3.0 * numel * 4.0)
                .sets(sets.len())
                .baseline(!fused)
                .chosen(fused)
                .note(if fused {
                    "the kernels' closed-form backward"
                } else {
                    "the composed forward and its autodiff backward"
                })
                .run(move |i| {
                    let s = sets.get(i);
                    for t in &s[..2] {
                        t.zero_grad();
                    }
                    rms_engine(&s[0], &s[1], fused)?.backward_with(&s[2])?;
                    s[..2]
                        .iter()
                        .map(|t| {
                            t.grad().ok_or_else(|| {
                                Error::Gpu("RMSNorm backward left no gradient".into())
                            })
                        })
                        .collect()
                })
                .check(move |o| {
                    gate(o, 2, |o| {
                        check::combine(vec![
                            ("dx", check::elements(&o[0], n, n, TOL, dx)),
                            ("dgamma", check::all(&o[1], dgamma, TOL)),
                        ])
                    })
                }),
        );
    }
    Ok(())
}
