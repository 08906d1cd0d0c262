//! Layer norm and RMSNorm over the last axis (shaders/layernorm.wgsl) beside
//! the same maths composed of engine reductions and elementwise ops.
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
use crate::bench::suites::{dims, grads};
use shadergrad::DType;
use shadergrad::Result;
use shadergrad::Tensor;

const EPS: f64 = 1e-5;

/// Statistics over a row of f32 values.
const TOL: Tol = Tol {
    rel: 1e-5,
    acc: 2e-5,
    abs: 1e-6,
};

/// The norm of x = s[0] with weights s[1] (and bias s[2] for layer norm),
/// by the engine's kernels or composed of engine ops.
fn engine(s: &[Tensor], rms: bool, fused: bool) -> Result<Tensor> {
    let (x, gamma) = (&s[0], &s[1]);
    match (rms, fused) {
        (false, true) => x.layer_norm(gamma, &s[2], EPS),
        (true, true) => x.rms_norm(gamma, EPS),
        (false, false) => {
            let m = x.mean(&[1], true)?;
            let d = x.sub(&m)?;
            let v = d.square()?.mean(&[1], true)?;
            d.mul(&v.add(EPS)?.rsqrt()?)?.mul(gamma)?.add(&s[2])
        }
        (true, false) => {
            let r = x.square()?.mean(&[1], true)?.add(EPS)?.rsqrt()?;
            x.mul(&r)?.mul(gamma)
        }
    }
}

/// (reference value, magnitude of its terms) of element i.
type Reference<'a> = &'a dyn Fn(usize) -> (f64, f64);

/// The forward and forward+backward cases of one norm, each beside its
/// composed form. A set holds x, the weights, then dy; `weights` is the
/// reference of the weights' gradients, one after the other.
fn cases(
    ctx: &mut Ctx,
    rms: bool,
    sets: &Sets,
    (rows, c): (usize, usize),
    (forward, dx, weights): (Reference, Reference, &[(f64, f64)]),
) {
    let (kernel, flops, composed) = if rms {
        (
            "rmsnorm",
            (4.0, 13.0),
            "mean of squares reduction, then elementwise",
        )
    } else {
        (
            "layernorm",
            (7.0, 19.0),
            "mean and variance reductions, then elementwise",
        )
    };
    let n = rows * c;
    let numel = n as f64;
    let shape = dims(&[rows, c]);
    // x and the weights get gradients; dy is last.
    let leaves = sets.t[0].len() - 1;
    for fused in [true, false] {
        ctx.case(
            Case::new(kernel, variant(fused), shape.clone(), DType::F32)
                .work(flops.0 * numel, 2.0 * numel * 4.0)
                .sets(sets.len())
                .baseline(!fused)
                .chosen(fused)
                .note(if fused {
                    "the norm's kernels"
                } else {
                    composed
                })
                .run(move |i| {
                    let _g = shadergrad::no_grad();
                    Ok(vec![engine(sets.get(i), rms, fused)?])
                })
                .check(move |o| gate(o, 1, |o| check::elements(&o[0], n, n, TOL, forward))),
        );
    }
    for fused in [true, false] {
        ctx.case(
            Case::new(
                &format!("{kernel}.fwd+bwd"),
                variant(fused),
                shape.clone(),
                DType::F32,
            )
            .work(flops.1 * numel, 3.0 * numel * 4.0)
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
                grads(engine(s, rms, fused)?, &s[leaves], &s[..leaves], kernel)
            })
            .check(move |o| {
                gate(o, leaves, |o| {
                    let all: Vec<f32> = o[1..].concat();
                    check::combine(vec![
                        ("dx", check::elements(&o[0], n, n, TOL, dx)),
                        ("weights", check::all(&all, weights, TOL)),
                    ])
                })
            }),
        );
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
    cases(ctx, false, &sets, (rows, c), (&forward, &dx, &params));
    Ok(())
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
    cases(ctx, true, &sets, (rows, c), (&forward, &dx, &dgamma));
    Ok(())
}
