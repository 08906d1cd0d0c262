//! Attention (shaders/attention.wgsl) beside the same maths composed of engine
//! ops (a batched matmul reading K transposed in place, the softmax kernel, a
//! matmul), forward and forward+backward, batch 2, 4 heads, d 64.
//!
//! - `attention`: O = softmax(Q K^T / sqrt(d)) V. Flops B H (4 N^2 d + 5 N^2).
//! - `attention.fwd+bwd`: the forward, then dQ, dK, dV for a given dO through
//!   autodiff (the fused kernel's backward recomputes the scores from the saved
//!   log-sum-exp; the composed one keeps the N x N probabilities). Flops
//!   counted as the composed form does them, B H (12 N^2 d + 10 N^2), for both.
//!
//! Bytes: the tensors of size N x d read and written (what a fused kernel
//! needs; the composed one also writes and reads the N x N scores), which is
//! why the rows also report peak MiB: the memory the cold run held at once.

use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Case, Ctx, Method, gate};
use crate::bench::suites::grads;
use shadergrad::DType;
use shadergrad::Result;
use shadergrad::AttentionMask;
use shadergrad::Tensor;

const B: usize = 2;
const HEADS: usize = 4;
const D: usize = 64;

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
        for form in [Form::Fused, Form::Rows, Form::Composed] {
            if form != Form::Rows || rows {
                forward_form(ctx, n, form, None)?;
            }
        }
        for form in [Form::Fused, Form::Rows, Form::Composed] {
            if form != Form::Rows || rows {
                backward(ctx, n, form)?;
            }
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
    fn setup(self) -> impl Fn(&shadergrad::Device) {
        move |d| d.set_subgroup_kernels(self != Form::Rows)
    }
}

/// Row `i` of a head's (n, D) matrix at `base` dotted with each of the n
/// rows of another (scaled: the attention scores when `a` is Q and `b` is K).
fn dots(a: &[f32], b: &[f32], base: usize, i: usize, n: usize, scale: f64) -> Vec<f64> {
    let x = &a[base + i * D..base + (i + 1) * D];
    (0..n)
        .map(|j| {
            let y = &b[base + j * D..base + (j + 1) * D];
            x.iter()
                .zip(y)
                .map(|(&p, &q)| p as f64 * q as f64)
                .sum::<f64>()
                * scale
        })
        .collect()
}

/// Softmax of a row of scores, and how far each score is below the maximum
/// (a score's rounding moves its weight by that much, relatively).
fn softmax(s: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = s.iter().map(|x| (x - m).exp()).collect();
    let total: f64 = e.iter().sum();
    (
        e.iter().map(|x| x / total).collect(),
        s.iter().map(|x| 1.0 + (m - x)).collect(),
    )
}

fn engine(q: &Tensor, k: &Tensor, v: &Tensor, fused: bool) -> Result<Tensor> {
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

fn note(form: Form) -> &'static str {
    match form {
        Form::Fused => "one kernel, online softmax, no N x N buffer",
        Form::Rows => "the same, one invocation per query row (no subgroups)",
        Form::Composed => "matmul (K^T read in place), softmax, matmul",
    }
}

/// The forward at sequence length `n`; with a peer's time, the composed form
/// timed end to end beside it.
pub(crate) fn forward(ctx: &mut Ctx, n: usize, fused: bool, peer: Option<f64>) -> Result<()> {
    let form = if fused { Form::Fused } else { Form::Composed };
    forward_form(ctx, n, form, peer)
}

fn forward_form(ctx: &mut Ctx, n: usize, form: Form, peer: Option<f64>) -> Result<()> {
    let fused = form.fused();
    if !ctx.wants(&["attention"]) {
        return Ok(());
    }
    let spec = Spec::new(&[B, HEADS, n, D], -1.0, 1.0);
    let sets = Sets::rotating(ctx.dev, 121 + n as u64, &[spec.clone(), spec.clone(), spec])?;
    let (q, k, v) = (&sets.host[0], &sets.host[1], &sets.host[2]);
    // Row (batch-head bh, query i): scores, softmax, the weighted values.
    let row = |r: usize| -> Vec<(f64, f64)> {
        let (bh, i) = (r / n, r % n);
        let base = bh * n * D;
        let (p, far) = softmax(&dots(q, k, base, i, n, 1.0 / (D as f64).sqrt()));
        (0..D)
            .map(|e| {
                let (mut o, mut a) = (0.0, 0.0);
                for j in 0..n {
                    let t = p[j] * v[base + j * D + e] as f64;
                    o += t;
                    a += t.abs() * far[j];
                }
                (o, a)
            })
            .collect()
    };
    let rows = B * HEADS * n;
    let nn = (n * n) as f64;
    let bh = (B * HEADS) as f64;
    let (sets, row) = (&sets, &row);
    let mut case = Case::new(
        "attention",
        form.variant(),
        format!("b{B} h{HEADS} n{n} d{D}"),
        DType::F32,
    )
    .work(
        bh * (4.0 * nn * D as f64 + 5.0 * nn),
        bh * 4.0 * (n * D) as f64 * 4.0,
    )
    .sets(sets.len())
    .baseline(!fused && peer.is_none())
    .chosen(form == Form::Fused)
    .note(note(form))
    .setup(form.setup())
    .run(move |i| {
        let s = sets.get(i);
        Ok(vec![engine(&s[0], &s[1], &s[2], fused)?])
    })
    .check(move |o| {
        gate(o, 1, |o| {
            check::rows(
                &o[0],
                rows,
                D,
                check::budget(rows, (3 * n * D) as f64),
                Tol {
                    rel: 0.0,
                    acc: 2e-5,
                    abs: 1e-6,
                },
                row,
            )
        })
    });
    if let Some(ms) = peer {
        case = case
            .method(Method::EndToEnd)
            .peer("burn 0.22", ms)
            .group(format!("vs burn attention n{n}"));
    }
    ctx.case(case);
    Ok(())
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
    let (q, k, v, g) = (&sets.host[0], &sets.host[1], &sets.host[2], &sets.host[3]);
    let scale = 1.0 / (D as f64).sqrt();
    // The reference for one batch-head (whose rows start at `base`):
    // probabilities P, dP = dO V^T, and D_i = sum_j P dP.
    let reference = |base: usize| -> [Vec<(f64, f64)>; 3] {
        let (mut p, mut far, mut dp) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let (pi, fi) = softmax(&dots(q, k, base, i, n, scale));
            p.push(pi);
            far.push(fi);
            dp.push(dots(g, v, base, i, n, 1.0));
        }
        let rowsum: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| p[i][j] * dp[i][j]).sum())
            .collect();
        let (mut dq, mut dk, mut dv) = (
            vec![(0.0, 0.0); n * D],
            vec![(0.0, 0.0); n * D],
            vec![(0.0, 0.0); n * D],
        );
        for i in 0..n {
            for j in 0..n {
                let ds = p[i][j] * (dp[i][j] - rowsum[i]);
                // How large dS's terms are, and how far rounding moves them.
                let ds_a = p[i][j] * (dp[i][j].abs() + rowsum[i].abs()) * far[i][j];
                for e in 0..D {
                    let (qe, ke, ge) = (
                        q[base + i * D + e] as f64,
                        k[base + j * D + e] as f64,
                        g[base + i * D + e] as f64,
                    );
                    dq[i * D + e].0 += scale * ds * ke;
                    dq[i * D + e].1 += scale * ds_a * ke.abs();
                    dk[j * D + e].0 += scale * ds * qe;
                    dk[j * D + e].1 += scale * ds_a * qe.abs();
                    dv[j * D + e].0 += p[i][j] * ge;
                    dv[j * D + e].1 += p[i][j] * far[i][j] * ge.abs();
                }
            }
        }
        [dq, dk, dv]
    };
    let nn = (n * n) as f64;
    let bh = (B * HEADS) as f64;
    let sets = &sets;
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
        .check(move |o| {
            gate(o, 3, |o| {
                // The backward's sums run over N terms twice (dP, then dS).
                let tol = Tol {
                    rel: 0.0,
                    acc: 5e-5,
                    abs: 1e-6,
                };
                // The first and the last batch-head are compared (the others
                // run the same code at offsets between them).
                let last = B * HEADS - 1;
                let mut parts = Vec::new();
                for (bh, name) in [(0, ["dQ", "dK", "dV"]), (last, ["dQ'", "dK'", "dV'"])] {
                    let base = bh * n * D;
                    let r = reference(base);
                    for w in 0..3 {
                        parts.push((
                            name[w],
                            crate::bench::CheckOutcome {
                                total: o[w].len(),
                                ..check::all(&o[w][base..base + n * D], &r[w], tol)
                            },
                        ));
                    }
                }
                let mut c = check::combine(parts);
                if c.passed {
                    c.detail = format!("batch-heads 0 and {last} of {} compared", B * HEADS);
                }
                c
            })
        }),
    );
    Ok(())
}
