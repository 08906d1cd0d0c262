//! Cross-entropy (shaders/cross_entropy.wgsl): the per-row loss of logits
//! (N, C) against class labels, and its gradient dloss * (softmax - one-hot),
//! each one kernel, beside the same maths composed of engine ops (log-softmax
//! then a gather; softmax minus a one-hot).
//!
//! Flops: 5 per logit forward (max, subtract, exp, add, and the pick), 6 per
//! logit backward. Bytes: logits, labels, dloss read; loss or dlogits written.

use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Case, Ctx, gate};
use crate::bench::suites::dims;
use shadergrad::DType;
use shadergrad::Result;
use crate::graph::Op;
use shadergrad::Tensor;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["cross_entropy", "cross_entropy.grad"]) {
        return Ok(());
    }
    let (n, c) = if ctx.quick() {
        (256, 100)
    } else {
        (4096, 1000)
    };
    let sets = Sets::rotating(
        ctx.dev,
        41,
        &[
            Spec::new(&[n, c], -4.0, 4.0),
            Spec::index(&[n], c),
            Spec::new(&[n], 0.5, 1.5),
        ],
    )?;
    let (x, labels, dl) = (&sets.host[0], &sets.host[1], &sets.host[2]);
    // Per row: the max, the sum of exp(x - max).
    let stats: Vec<(f64, f64)> = (0..n)
        .map(|r| {
            let row = &x[r * c..(r + 1) * c];
            let m = row.iter().fold(f64::NEG_INFINITY, |a, &v| a.max(v as f64));
            (m, row.iter().map(|&v| (v as f64 - m).exp()).sum())
        })
        .collect();
    let forward: Vec<(f64, f64)> = (0..n)
        .map(|r| {
            let (m, s) = stats[r];
            let picked = x[r * c + labels[r] as usize] as f64;
            (m + s.ln() - picked, (m + s.ln()).abs() + picked.abs())
        })
        .collect();
    let backward = |e: usize| {
        let (r, j) = (e / c, e % c);
        let (m, s) = stats[r];
        let p = (x[e] as f64 - m).exp() / s;
        let hot = if labels[r] as usize == j { 1.0 } else { 0.0 };
        (dl[r] as f64 * (p - hot), dl[r] as f64 * (p + hot))
    };
    let shape = dims(&[n, c]);
    let nc = (n * c) as f64;
    for fused in [true, false] {
        let (sets, forward) = (&sets, &forward);
        ctx.case(
            Case::new(
                "cross_entropy",
                if fused { "kernel" } else { "composed" },
                shape.clone(),
                DType::F32,
            )
            .work(5.0 * nc, (nc + 2.0 * n as f64) * 4.0)
            .sets(sets.len())
            .baseline(!fused)
            .chosen(fused)
            .note(if fused {
                "per-row loss (the mean is a separate reduction)"
            } else {
                "log_softmax, then gather the label"
            })
            .run(move |i| {
                let s = sets.get(i);
                let loss = if fused {
                    Tensor::record(
                        s[0].device(),
                        vec![n],
                        DType::F32,
                        Op::CrossEntropy {
                            ignore: None,
                            smoothing: 0.0,
                        },
                        vec![s[0].clone(), s[1].clone()],
                    )
                } else {
                    s[0].log_softmax(-1)?
                        .gather(1, &s[1].reshape(&[n, 1])?)?
                        .neg()?
                        .reshape(&[n])?
                };
                Ok(vec![loss])
            })
            .check(move |o| gate(o, 1, |o| check::all(&o[0], forward, Tol::F32_MATH))),
        );
    }
    for fused in [true, false] {
        let (sets, backward) = (&sets, &backward);
        ctx.case(
            Case::new(
                "cross_entropy.grad",
                if fused { "kernel" } else { "composed" },
                shape.clone(),
                DType::F32,
            )
            .work(6.0 * nc, (2.0 * nc + 2.0 * n as f64) * 4.0)
            .sets(sets.len())
            .baseline(!fused)
            .chosen(fused)
            .note(if fused {
                ""
            } else {
                "softmax, minus one_hot, times dloss"
            })
            .run(move |i| {
                let s = sets.get(i);
                let d = if fused {
                    Tensor::record(
                        s[0].device(),
                        vec![n, c],
                        DType::F32,
                        Op::CrossEntropyGrad {
                            ignore: None,
                            smoothing: 0.0,
                        },
                        vec![s[0].clone(), s[1].clone(), s[2].clone()],
                    )
                } else {
                    s[0].softmax(-1)?
                        .sub(&s[1].one_hot(c)?)?
                        .mul(&s[2].reshape(&[n, 1])?)?
                };
                Ok(vec![d])
            })
            .check(move |o| {
                gate(o, 1, |o| {
                    check::elements(&o[0], n * c, n * c, Tol::F32_MATH, backward)
                })
            }),
        );
    }
    Ok(())
}
