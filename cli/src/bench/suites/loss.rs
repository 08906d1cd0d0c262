//! Cross-entropy (shaders/cross_entropy.wgsl): the per-row loss of logits
//! (N, C) against class labels and its gradient softmax - one-hot, each one
//! kernel, beside the same maths composed of engine ops (log-softmax then a
//! gather; softmax minus a one-hot).
//!
//! The kernels are timed as a user runs them: `loss::cross_entropy` (the
//! per-row kernel and the mean over rows), and its `backward()` (the
//! gradient kernel, seeded by the mean's 1 / N per row), each timer summing
//! only its kernel's dispatches. The forward's gate is the mean loss (the
//! per-row losses are not an output of the public API); the gradient's every
//! element.
//!
//! Flops: 5 per logit forward (max, subtract, exp, add, and the pick), 6 per
//! logit backward. Bytes: logits, labels, dloss read; loss or dlogits written.

use shadergrad::{DType, Result};
use shadergrad_reference::cross_entropy::CrossEntropy;

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::suites::dims;

/// The mean of N rows: each row's rounding (a few ulp of its terms) shrinks
/// by the average, a wrong row's error by only 1 / N.
const MEAN_TOL: Tol = Tol {
    rel: 0.0,
    acc: 2e-6,
    abs: 1e-7,
};

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["cross_entropy", "cross_entropy.grad"]) {
        return Ok(());
    }
    let (n, c) = if ctx.quick() {
        (256, 100)
    } else {
        (4096, 1000)
    };
    // The composed gradient multiplies by a per-row dloss: the mean's 1 / N.
    let dloss = 1.0 / n as f32;
    let sets = Sets::rotating(
        ctx.dev,
        41,
        &[
            Spec::new(&[n, c], -4.0, 4.0),
            Spec::index(&[n], c),
            Spec::new(&[n], dloss, dloss),
        ],
    )?;
    let loss = CrossEntropy::new(c);
    let labels = sets.labels(1);
    let mean = loss.mean(&sets.host[0], &labels);
    let rows: Vec<(f64, f64)> = loss
        .rows(&sets.host[0], &labels)
        .into_iter()
        .flatten()
        .collect();
    let backward = loss.grad(&sets.host[0], &labels, &sets.host[2]);
    forward_cases(ctx, &sets, (n, c), (mean, &rows))?;
    grad_cases(ctx, &sets, (n, c), &backward)
}

/// The kernel through loss::cross_entropy (gated on the mean), the composed
/// per-row loss (gated on every row).
fn forward_cases(
    ctx: &mut Ctx,
    sets: &Sets,
    (n, c): (usize, usize),
    (mean, rows): ((f64, f64), &[(f64, f64)]),
) -> Result<()> {
    let nc = (n * c) as f64;
    for fused in [true, false] {
        let case = Case::new(
            "cross_entropy",
            if fused { "kernel" } else { "composed" },
            dims(&[n, c]),
            DType::F32,
        )
        .work(5.0 * nc, (nc + 2.0 * n as f64) * 4.0)
        .sets(sets.len())
        .baseline(!fused)
        .chosen(fused);
        ctx.case(if fused {
            case.profile(&["cross_entropy"])
                .note(
                    "the per-row kernel of loss::cross_entropy (the mean is a separate reduction)",
                )
                .run(move |i| {
                    let s = sets.get(i);
                    Ok(vec![shadergrad::loss::cross_entropy(&s[0], &s[1])?])
                })
                .check(move |o| gate(o, 1, |o| check::all(&o[0], &[mean], MEAN_TOL)))
        } else {
            case.note("log_softmax, then gather the label")
                .run(move |i| {
                    let s = sets.get(i);
                    let picked = s[0].log_softmax(-1)?.gather(1, &s[1].reshape(&[n, 1])?)?;
                    Ok(vec![picked.neg()?.reshape(&[n])?])
                })
                .check(move |o| gate(o, 1, |o| check::all(&o[0], rows, Tol::F32_MATH)))
        });
    }
    Ok(())
}

fn grad_cases(
    ctx: &mut Ctx,
    sets: &Sets,
    (n, c): (usize, usize),
    backward: &[(f64, f64)],
) -> Result<()> {
    for set in &sets.t {
        set[0].set_requires_grad(true)?;
    }
    let nc = (n * c) as f64;
    for fused in [true, false] {
        let mut case = Case::new(
            "cross_entropy.grad",
            if fused { "kernel" } else { "composed" },
            dims(&[n, c]),
            DType::F32,
        )
        .work(6.0 * nc, (2.0 * nc + 2.0 * n as f64) * 4.0)
        .sets(sets.len())
        .baseline(!fused)
        .chosen(fused)
        .run(move |i| {
            let s = sets.get(i);
            if fused {
                s[0].zero_grad();
                shadergrad::loss::cross_entropy(&s[0], &s[1])?.backward()?;
                Ok(vec![
                    s[0].grad().expect("backward gives the logits a gradient"),
                ])
            } else {
                let _g = shadergrad::no_grad();
                let d = s[0].softmax(-1)?.sub(&s[1].one_hot(c)?)?;
                Ok(vec![d.mul(&s[2].reshape(&[n, 1])?)?])
            }
        })
        .check(move |o| gate(o, 1, |o| check::all(&o[0], backward, Tol::F32_MATH)));
        case = if fused {
            case.profile(&["cross_entropy.grad"])
                .note("the gradient kernel of loss::cross_entropy's backward")
        } else {
            case.note("softmax, minus one_hot, times dloss")
        };
        ctx.case(case);
    }
    Ok(())
}
