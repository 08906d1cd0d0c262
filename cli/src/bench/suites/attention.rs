//! Attention (shaders/attention.wgsl) beside the same maths composed of engine
//! ops (a batched matmul reading K transposed in place, the softmax kernel, a
//! matmul), forward and forward+backward, batch 2, 4 heads, d 64.
//!
//! - `attention`: O = softmax(Q K^T / sqrt(d)) V. Flops B H (4 N^2 d + 5 N^2).
//! - `attention.fwd+bwd`: the forward, then dQ, dK, dV for a given dO through
//!   autodiff (the fused kernel's backward recomputes the scores from the saved
//!   log-sum-exp; the composed one keeps the N x N probabilities), the whole
//!   step timed. Flops counted as the composed form does them,
//!   B H (12 N^2 d + 10 N^2), for both.
//!
//! Bytes: the tensors of size N x d read and written (what a fused kernel
//! needs; the composed one also writes and reads the N x N scores), which is
//! why the rows also report peak MiB: the memory the cold run held at once.

use shadergrad::{AttentionMask, DType, Device, Result, Tensor, Tuning};
use shadergrad_reference::attention::Attention;

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::results::CheckOutcome;
use crate::bench::suites::grads;

pub(crate) const B: usize = 2;
pub(crate) const HEADS: usize = 4;
pub(crate) const D: usize = 64;

/// The forward's tolerance: the scores' rounding, weighted by how far below
/// the row's maximum each sits (the reference's scales).
pub(crate) const TOL: Tol = Tol {
    rel: 0.0,
    acc: 2e-5,
    abs: 1e-6,
};

pub(crate) fn forward_flops(n: usize) -> f64 {
    let nn = (n * n) as f64;
    (B * HEADS) as f64 * (4.0 * nn * D as f64 + 5.0 * nn)
}

pub(crate) fn forward_bytes(n: usize) -> f64 {
    (B * HEADS) as f64 * 4.0 * (n * D) as f64 * 4.0
}

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["attention"]) {
        return Ok(());
    }
    let sizes: &[usize] = if ctx.quick() {
        &[64]
    } else {
        &[128, 512, 2048]
    };
    // Where the engine picks the subgroup (lanes) kernels, the plain row form
    // (the GPUs' one) is measured beside them, up to the size a software
    // adapter runs it in reasonable time.
    let rows_too = ctx.dev.lanes().is_some();
    for &n in sizes {
        let rows = rows_too && (n <= 512 || !ctx.dev.is_cpu());
        if rows_too && !rows {
            ctx.skip(format!("attention rows form at n{n}"));
        }
        let forms = [Form::Fused, Form::Rows, Form::Composed];
        for &form in forms.iter().filter(|&&f| f != Form::Rows || rows) {
            forward(ctx, n, form)?;
        }
        for &form in forms.iter().filter(|&&f| f != Form::Rows || rows) {
            backward(ctx, n, form)?;
        }
    }
    Ok(())
}

/// The fused kernels as the engine picks them, their plain row form, or the
/// composed baseline.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Fused,
    Rows,
    Composed,
}

impl Form {
    fn fused(self) -> bool {
        self != Form::Composed
    }

    fn variant(self) -> &'static str {
        match self {
            Form::Fused => "fused",
            Form::Rows => "fused rows",
            Form::Composed => "composed",
        }
    }

    /// The row form is the lanes kernels' fallback: subgroups off for the case.
    fn setup(self) -> impl Fn(&Device) {
        move |d| {
            d.set_tuning(Tuning {
                subgroups: self != Form::Rows,
                ..d.tuning()
            })
        }
    }
}

/// The fused kernel, or softmax(Q K^T / sqrt(d)) V composed.
pub(crate) fn engine(q: &Tensor, k: &Tensor, v: &Tensor, fused: bool) -> Result<Tensor> {
    if fused {
        Tensor::attention(q, k, v, AttentionMask::default(), None)
    } else {
        let scale = 1.0 / (D as f64).sqrt();
        q.mul(scale)?
            .matmul(&k.transpose(2, 3)?)?
            .softmax(-1)?
            .matmul(v)
    }
}

/// What the fused or composed form does.
pub(crate) fn note(fused: bool) -> &'static str {
    if fused {
        "one kernel, online softmax, no N x N buffer"
    } else {
        "matmul (K^T read in place), softmax, matmul"
    }
}

/// The forward at sequence length `n`.
fn forward(ctx: &mut Ctx, n: usize, form: Form) -> Result<()> {
    let fused = form.fused();
    let spec = Spec::new(&[B, HEADS, n, D], -1.0, 1.0);
    let sets = Sets::rotating(ctx.dev, 121 + n as u64, &[spec.clone(), spec.clone(), spec])?;
    let reference = Attention::new(B, HEADS, n, D);
    let rows = B * HEADS * n;
    let (sets, reference) = (&sets, &reference);
    ctx.case(
        Case::new(
            "attention",
            form.variant(),
            format!("b{B} h{HEADS} n{n} d{D}"),
            DType::F32,
        )
        .work(forward_flops(n), forward_bytes(n))
        .sets(sets.len())
        .baseline(!fused)
        .chosen(form == Form::Fused)
        .note(match form {
            Form::Rows => "the same, one invocation per query row (no subgroups)",
            _ => note(fused),
        })
        .setup(form.setup())
        .run(move |i| {
            let s = sets.get(i);
            Ok(vec![engine(&s[0], &s[1], &s[2], fused)?])
        })
        .check(move |o| {
            gate(o, 1, |o| {
                let max = check::budget(rows, (3 * n * D) as f64);
                let h = &sets.host;
                check::rows(&o[0], rows, D, max, TOL, |r| {
                    reference.row(&h[0], &h[1], &h[2], r)
                })
            })
        }),
    );
    Ok(())
}

/// The first and the last batch-head of dQ, dK, dV against the reference
/// (the others run the same code at offsets between them).
fn check_heads(o: &[Vec<f32>], reference: &Attention, host: &[Vec<f64>], n: usize) -> CheckOutcome {
    // The backward's sums run over N terms twice (dP, then dS).
    let tol = Tol {
        rel: 0.0,
        acc: 5e-5,
        abs: 1e-6,
    };
    let last = B * HEADS - 1;
    let inputs = [&host[0][..], &host[1], &host[2], &host[3]];
    let mut parts = Vec::new();
    for (bh, name) in [(0, ["dQ", "dK", "dV"]), (last, ["dQ'", "dK'", "dV'"])] {
        let base = bh * n * D;
        let r = reference.backward_head(inputs, bh);
        for w in 0..3 {
            let c = check::all(&o[w][base..base + n * D], &r[w], tol);
            parts.push((
                name[w],
                CheckOutcome {
                    total: o[w].len(),
                    ..c
                },
            ));
        }
    }
    let mut c = check::combine(parts);
    if c.passed {
        c.detail = format!("batch-heads 0 and {last} of {} compared", B * HEADS);
    }
    c
}

/// Forward and backward at sequence length `n`: dQ, dK, dV for a seeded dO.
fn backward(ctx: &mut Ctx, n: usize, form: Form) -> Result<()> {
    let fused = form.fused();
    let spec = Spec::new(&[B, HEADS, n, D], -1.0, 1.0);
    let sets = Sets::rotating(
        ctx.dev,
        131 + n as u64,
        &[spec.clone(), spec.clone(), spec.clone(), spec],
    )?;
    for set in &sets.t {
        for t in &set[..3] {
            t.set_requires_grad(true)?;
        }
    }
    let reference = Attention::new(B, HEADS, n, D);
    let nn = (n * n) as f64;
    let bh = (B * HEADS) as f64;
    let (sets, reference) = (&sets, &reference);
    ctx.case(
        Case::new(
            "attention.fwd+bwd",
            form.variant(),
            format!("b{B} h{HEADS} n{n} d{D}"),
            DType::F32,
        )
        .work(
            bh * (12.0 * nn * D as f64 + 10.0 * nn),
            bh * 8.0 * (n * D) as f64 * 4.0,
        )
        .sets(sets.len())
        .baseline(!fused)
        .chosen(form == Form::Fused)
        .note(match form {
            Form::Fused => "forward, D = rowsum(dO O), dQ kernel, dK dV kernel",
            Form::Rows => "the same kernels in their row form (no subgroups)",
            Form::Composed => "the composed forward and its autodiff backward",
        })
        .setup(form.setup())
        .run(move |i| {
            let s = sets.get(i);
            grads(
                engine(&s[0], &s[1], &s[2], fused)?,
                &s[3],
                &s[..3],
                "attention",
            )
        })
        .check(move |o| gate(o, 3, |o| check_heads(o, reference, &sets.host, n))),
    );
    Ok(())
}
