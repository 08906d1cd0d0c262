//! Batch norm in training mode (shaders/batchnorm.wgsl plus fused elementwise
//! kernels), forward and backward, beside the same maths composed of engine
//! reductions and elementwise ops.
//!
//! - `batchnorm`: per-channel mean and variance, then the normalisation.
//!   7 flops per element (sum, square, add; subtract, two products, add).
//! - `batchnorm.grad`: per-channel sums of dy and dy * xhat, then the
//!   closed-form dx. 10 flops per element. The kernel row is batch_norm_train
//!   and `backward_with(dy)` run as one step; its timer sums only the
//!   `batchnorm.grad_sums` dispatches (the closed-form dx is a fused
//!   elementwise kernel the profile cannot tell from the forward's). The
//!   composed baseline (the closed form from the forward's statistics,
//!   composed of engine ops) is timed the same way: its two reductions.
//!
//! Bytes: x (and dy) read once, y (dx) written once; the per-channel vectors
//! are negligible and not counted.

use shadergrad::{DType, Result, Tensor};
use shadergrad_reference::batchnorm::BatchNorm;

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::suites::{dims, grads};

const EPS: f64 = 1e-5;

/// Statistics over b*h*w values in f32.
const TOL: Tol = Tol {
    rel: 1e-5,
    acc: 2e-5,
    abs: 1e-6,
};

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["batchnorm", "batchnorm.grad"]) {
        return Ok(());
    }
    let (b, c, hw) = if ctx.quick() {
        (4, 16, 16)
    } else {
        (32, 64, 32)
    };
    let sets = Sets::rotating(
        ctx.dev,
        71,
        &[
            Spec::new(&[b, c, hw, hw], -2.0, 3.0),
            Spec::new(&[b, c, hw, hw], -1.0, 1.0),
            Spec::new(&[c], 0.5, 1.5),
            Spec::new(&[c], -0.5, 0.5),
        ],
    )?;
    let layer = BatchNorm {
        batch: b,
        channels: c,
        spatial: hw * hw,
        eps: EPS,
    };
    let (x, dy, gamma, beta) = (&sets.host[0], &sets.host[1], &sets.host[2], &sets.host[3]);
    let forward = layer.forward(x, gamma, beta);
    let g = layer.backward(x, gamma, dy);
    forward_cases(ctx, &sets, [b, c, hw], &forward);
    backward_cases(ctx, &sets, [b, c, hw], [&g.dx, &g.dgamma, &g.dbeta])
}

fn variant(fused: bool) -> &'static str {
    if fused { "kernel" } else { "composed" }
}

fn forward_cases(ctx: &mut Ctx, sets: &Sets, [b, c, hw]: [usize; 3], forward: &[(f64, f64)]) {
    let numel = (b * c * hw * hw) as f64;
    for fused in [true, false] {
        ctx.case(
            Case::new(
                "batchnorm",
                variant(fused),
                dims(&[b, c, hw, hw]),
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
            .check(move |o| gate(o, 1, |o| check::all(&o[0], forward, TOL))),
        );
    }
}

/// The closed form composed of engine ops from the forward's statistics
/// `st` (2, C): (dx, dgamma, dbeta).
fn composed_grad(s: &[Tensor], st: &Tensor, c: usize, per: f64) -> Result<Vec<Tensor>> {
    let (x, dy, gamma) = (&s[0], &s[1], &s[2]);
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
    Ok(vec![dx, sdyx.reshape(&[c])?, sdy.reshape(&[c])?])
}

fn backward_cases(
    ctx: &mut Ctx,
    sets: &Sets,
    [b, c, hw]: [usize; 3],
    [dx, dgamma, dbeta]: [&[(f64, f64)]; 3],
) -> Result<()> {
    // The composed baseline reads the statistics the forward computed.
    let stats: Vec<Tensor> = (0..sets.len())
        .map(|i| {
            let s = sets.get(i);
            Ok(s[0].batch_norm_train(&s[2], &s[3], EPS)?.1)
        })
        .collect::<Result<_>>()?;
    Tensor::realize_all(&stats.iter().collect::<Vec<_>>())?;
    for set in &sets.t {
        for t in [&set[0], &set[2], &set[3]] {
            t.set_requires_grad(true)?;
        }
    }
    let (numel, per) = ((b * c * hw * hw) as f64, (b * hw * hw) as f64);
    for fused in [true, false] {
        let stats = &stats;
        ctx.case(
            Case::new(
                "batchnorm.grad",
                variant(fused),
                dims(&[b, c, hw, hw]),
                DType::F32,
            )
            .work(10.0 * numel, 3.0 * numel * 4.0)
            .sets(sets.len())
            .baseline(!fused)
            .chosen(fused)
            .profile(if fused {
                &["batchnorm.grad_sums", "backward:elementwise"]
            } else {
                &["reduce", "elementwise"]
            })
            .note(if fused {
                "backward of batch_norm_train: the sums kernel, then the fused closed-form dx"
            } else {
                "two reductions, then elementwise"
            })
            .run(move |i| {
                let s = sets.get(i);
                if fused {
                    let y = s[0].batch_norm_train(&s[2], &s[3], EPS)?.0;
                    grads(
                        y,
                        &s[1],
                        &[s[0].clone(), s[2].clone(), s[3].clone()],
                        "batch norm",
                    )
                } else {
                    let _g = shadergrad::no_grad();
                    composed_grad(s, &stats[i % stats.len()], c, per)
                }
            })
            .check(move |o| {
                gate(o, 3, |o| {
                    check::combine(vec![
                        ("dx", check::all(&o[0], dx, TOL)),
                        ("dgamma", check::all(&o[1], dgamma, TOL)),
                        ("dbeta", check::all(&o[2], dbeta, TOL)),
                    ])
                })
            }),
        );
    }
    Ok(())
}
