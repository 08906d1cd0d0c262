//! Reductions (shaders/reduce.wgsl) and row softmax / log-softmax
//! (shaders/softmax.wgsl).
//!
//! - `reduce.sum_rows`, `reduce.max_rows`: along the contiguous axis;
//!   `reduce.sum_cols`: across it; `reduce.sum_all`: everything to one value.
//!   Flops: one per element read. Bytes: input plus output.
//! - `softmax`, `log_softmax`: the one-kernel version beside the three-pass
//!   composition of engine ops (a max reduction, a sum reduction of exp(x - max)
//!   and the normalising elementwise kernel: the textbook three passes). Flops:
//!   5 per element (compare, subtract, exp, add, scale). Bytes: x read, y written.
//! - `softmax.fwd+bwd`: the forward, then dx for a given dy through autodiff,
//!   dx = p * (dy - sum(dy * p)), after the fused kernel or the three passes.
//!   Flops: 5 + 4 per element (multiply, add, subtract, scale). Bytes: x and
//!   dy read, dx written.

use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Case, Ctx, Method, gate};
use crate::bench::suites::{dims, grads};
use shadergrad::DType;
use shadergrad::Result;
use shadergrad::Tensor;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&[
        "reduce.sum_rows",
        "reduce.sum_cols",
        "reduce.sum_all",
        "reduce.max_rows",
    ]) {
        return Ok(());
    }
    let [r, c] = if ctx.quick() {
        [256, 512]
    } else {
        [4096, 1024]
    };
    let sets = Sets::rotating(ctx.dev, 21, &[Spec::new(&[r, c], -1.0, 1.0)])?;
    let h = &sets.host[0];
    let shape = dims(&[r, c]);
    let numel = (r * c) as f64;
    // (kernel, output elements, reference of output element i)
    type Reference<'a> = Box<dyn Fn(usize) -> (f64, f64) + 'a>;
    let cases: Vec<(&str, usize, Reference)> = vec![
        (
            "reduce.sum_rows",
            r,
            Box::new(|i| {
                let row = &h[i * c..(i + 1) * c];
                let s: f64 = row.iter().map(|&x| x as f64).sum();
                (s, row.iter().map(|&x| (x as f64).abs()).sum())
            }),
        ),
        (
            "reduce.sum_cols",
            c,
            Box::new(|j| {
                let col = (0..r).map(|i| h[i * c + j] as f64);
                (col.clone().sum(), col.map(f64::abs).sum())
            }),
        ),
        (
            "reduce.sum_all",
            1,
            Box::new(|_| {
                let s: f64 = h.iter().map(|&x| x as f64).sum();
                (s, h.iter().map(|&x| (x as f64).abs()).sum())
            }),
        ),
        (
            "reduce.max_rows",
            r,
            Box::new(|i| {
                let m = h[i * c..(i + 1) * c]
                    .iter()
                    .fold(f64::NEG_INFINITY, |a, &x| a.max(x as f64));
                (m, 0.0)
            }),
        ),
    ];
    for (kernel, outputs, reference) in cases {
        let sets = &sets;
        ctx.case(
            Case::new(kernel, "kernel", shape.clone(), DType::F32)
                .work(numel, (numel + outputs as f64) * 4.0)
                .sets(sets.len())
                .chosen(true)
                .run(move |i| {
                    let x = &sets.get(i)[0];
                    Ok(vec![match kernel {
                        "reduce.sum_rows" => x.sum(&[1], false)?,
                        "reduce.sum_cols" => x.sum(&[0], false)?,
                        "reduce.sum_all" => x.sum_all()?,
                        _ => x.max(&[1], false)?,
                    }])
                })
                .check(move |o| {
                    gate(o, 1, |o| {
                        check::elements(&o[0], outputs, outputs, Tol::F32, reference)
                    })
                }),
        );
    }
    Ok(())
}

pub(crate) fn run_softmax(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["softmax", "log_softmax", "softmax.fwd+bwd"]) {
        return Ok(());
    }
    let shapes: &[[usize; 2]] = if ctx.quick() {
        &[[256, 256]]
    } else {
        &[[4096, 128], [4096, 1024], [128, 32768]]
    };
    for &s in shapes {
        softmax(ctx, s, false, DType::F32, None)?;
    }
    let main = if ctx.quick() {
        [256, 256]
    } else {
        [4096, 1024]
    };
    if ctx.dev.caps().f16 {
        softmax(ctx, main, false, DType::F16, None)?;
    }
    softmax(ctx, main, true, DType::F32, None)?;
    for &s in shapes {
        softmax_grad(ctx, s)?;
    }
    Ok(())
}

/// Three passes composed of engine ops: max, sum of exp(x - max), normalise.
/// Each exp(x - max) is recorded twice on purpose, so each pass computes it
/// inline (one shared node would be materialized as a fourth kernel).
fn three_pass(x: &Tensor, log: bool) -> Result<Tensor> {
    let m = x.max(&[-1], true)?;
    let s = x.sub(&m)?.exp()?.sum(&[-1], true)?;
    if log {
        x.sub(&m)?.sub(&s.log()?)
    } else {
        x.sub(&m)?.exp()?.div(&s)
    }
}

/// Softmax (or log-softmax) of (rows, cols), fused kernel and three-pass
/// baseline; with a peer time, the fused kernel alone, end to end.
pub(crate) fn softmax(
    ctx: &mut Ctx,
    [r, c]: [usize; 2],
    log: bool,
    dtype: DType,
    peer: Option<f64>,
) -> Result<()> {
    let kernel = if log { "log_softmax" } else { "softmax" };
    if !ctx.wants(&[kernel]) {
        return Ok(());
    }
    let sets = Sets::rotating(
        ctx.dev,
        (r * 3 + c) as u64,
        &[Spec::new(&[r, c], -4.0, 4.0).dtype(dtype)],
    )?;
    let h = &sets.host[0];
    let row_ref = |i: usize| -> Vec<(f64, f64)> {
        let row: Vec<f64> = h[i * c..(i + 1) * c].iter().map(|&x| x as f64).collect();
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|&x| (x - m).exp()).sum();
        row.iter()
            .map(|&x| {
                if log {
                    (x - m - s.ln(), (x - m).abs() + s.ln())
                } else {
                    ((x - m).exp() / s, 0.0)
                }
            })
            .collect()
    };
    // exp and log are a few ulp on every adapter; softmax values are compared
    // relative to themselves (tiny ones included), log-softmax to its terms.
    let tol = match (log, dtype) {
        (_, DType::F16) => Tol {
            rel: 4e-3,
            acc: 4e-3,
            abs: 1e-6,
        },
        (false, _) => Tol {
            rel: 3e-5,
            acc: 0.0,
            abs: 1e-9,
        },
        (true, _) => Tol {
            rel: 0.0,
            acc: 4e-6,
            abs: 1e-6,
        },
    };
    let numel = (r * c) as f64;
    let size = dtype.size_bytes() as f64;
    let variants: &[bool] = if peer.is_some() || dtype == DType::F16 {
        &[true]
    } else {
        &[true, false]
    };
    for &fused in variants {
        let (sets, row_ref) = (&sets, &row_ref);
        let mut case = Case::new(
            kernel,
            if fused { "kernel" } else { "three-pass" },
            dims(&[r, c]),
            dtype,
        )
        .work(5.0 * numel, 2.0 * numel * size)
        .sets(sets.len())
        .baseline(!fused)
        .chosen(fused)
        .run(move |i| {
            let x = &sets.get(i)[0];
            Ok(vec![match (fused, log) {
                (true, false) => x.softmax(-1)?,
                (true, true) => x.log_softmax(-1)?,
                (false, _) => three_pass(x, log)?,
            }])
        })
        .check(move |o| {
            gate(o, 1, |o| {
                check::rows(&o[0], r, c, check::budget(r, 6.0 * c as f64), tol, row_ref)
            })
        });
        if !fused {
            case = case.note("composed: max, sum of exp, normalise");
        }
        if let Some(ms) = peer {
            case = case
                .method(Method::EndToEnd)
                .peer("burn 0.22", ms)
                .group(format!("vs burn {kernel} {}", dims(&[r, c])));
        }
        ctx.case(case);
    }
    Ok(())
}

/// Softmax of (rows, cols) and dx for a given dy through autodiff, after the
/// fused kernel and after the three passes.
fn softmax_grad(ctx: &mut Ctx, [r, c]: [usize; 2]) -> Result<()> {
    let kernel = "softmax.fwd+bwd";
    if !ctx.wants(&[kernel]) {
        return Ok(());
    }
    let sets = Sets::rotating(
        ctx.dev,
        (r * 3 + c + 1) as u64,
        &[Spec::new(&[r, c], -4.0, 4.0), Spec::new(&[r, c], -1.0, 1.0)],
    )?;
    for set in &sets.t {
        set[0].set_requires_grad(true)?;
    }
    let (h, dy) = (&sets.host[0], &sets.host[1]);
    // dx_i = p_i (dy_i - S), S = sum dy p; its terms are p_i |dy_i| and p_i
    // times T = sum |dy| p (S's terms). The three passes also send dm, zero
    // but rounded from two row sums of size T, to the row's max.
    let row_ref = |i: usize, fused: bool| -> Vec<(f64, f64)> {
        let row: Vec<f64> = h[i * c..(i + 1) * c].iter().map(|&x| x as f64).collect();
        let g: Vec<f64> = dy[i * c..(i + 1) * c].iter().map(|&x| x as f64).collect();
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = row.iter().map(|&x| (x - m).exp()).sum();
        let p: Vec<f64> = row.iter().map(|&x| (x - m).exp() / z).collect();
        let s: f64 = p.iter().zip(&g).map(|(p, g)| p * g).sum();
        let t: f64 = p.iter().zip(&g).map(|(p, g)| p * g.abs()).sum();
        (0..c)
            .map(|j| {
                let dm = if !fused && row[j] == m { 2.0 * t } else { 0.0 };
                (p[j] * (g[j] - s), p[j] * (g[j].abs() + t) + dm)
            })
            .collect()
    };
    // The exps are a few ulp, like the forward's; the rest is sums.
    let tol = Tol {
        rel: 0.0,
        acc: 3e-5,
        abs: 1e-9,
    };
    let numel = (r * c) as f64;
    for fused in [true, false] {
        let (sets, row_ref) = (&sets, &row_ref);
        ctx.case(
            Case::new(
                kernel,
                if fused { "kernel" } else { "three-pass" },
                dims(&[r, c]),
                DType::F32,
            )
            .work(9.0 * numel, 3.0 * numel * 4.0)
            .sets(sets.len())
            .baseline(!fused)
            .chosen(fused)
            .note(if fused {
                "the fused forward, then p * (dy - sum(dy * p))"
            } else {
                "the three passes and their autodiff backward"
            })
            .run(move |i| {
                let s = sets.get(i);
                let y = if fused {
                    s[0].softmax(-1)?
                } else {
                    three_pass(&s[0], false)?
                };
                grads(y, &s[1], &s[..1], "softmax")
            })
            .check(move |o| {
                gate(o, 1, |o| {
                    check::rows(&o[0], r, c, check::budget(r, 10.0 * c as f64), tol, |i| {
                        row_ref(i, fused)
                    })
                })
            }),
        );
    }
    Ok(())
}
