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

use shadergrad::{DType, Result, Tensor};
use shadergrad_reference::layernorm::Norm;

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::suites::{dims, grads};

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

/// The forward and forward+backward cases of one norm, each beside its
/// composed form. A set holds x, the weights, then dy.
fn cases(ctx: &mut Ctx, rms: bool, sets: &Sets, (rows, c): (usize, usize)) {
    let norm = Norm {
        cols: c,
        rms,
        eps: EPS,
    };
    let (x, gamma) = (&sets.host[0], &sets.host[1]);
    let beta = (!rms).then(|| &sets.host[2][..]);
    let forward = norm.forward(x, gamma, beta);
    let g = norm.backward(x, gamma, sets.host.last().expect("dy"));
    // The weights' gradients one after the other, as the case's outputs are.
    let weights: Vec<(f64, f64)> = g.dgamma.iter().chain(&g.dbeta).copied().collect();
    let (forward, dx, weights) = (&forward, &g.dx, &weights);
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
                .check(move |o| gate(o, 1, |o| check::all(&o[0], forward, TOL))),
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
                        ("dx", check::all(&o[0], dx, TOL)),
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
    cases(ctx, false, &sets, (rows, c));
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
    cases(ctx, true, &sets, (rows, c));
    Ok(())
}
