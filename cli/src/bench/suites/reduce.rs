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

use shadergrad::{DType, Result, Tensor};
use shadergrad_reference::reduce;
use shadergrad_reference::softmax::{log_softmax_row, softmax_backward_row, softmax_row};

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::suites::{dims, grads};

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
    // (kernel, the reference of every output element)
    let shape2 = [r, c];
    let cases = [
        ("reduce.sum_rows", reduce::sum(h, &shape2, &[1])),
        ("reduce.sum_cols", reduce::sum(h, &shape2, &[0])),
        ("reduce.sum_all", reduce::sum(h, &shape2, &[0, 1])),
        ("reduce.max_rows", reduce::max(h, &shape2, &[1])),
    ];
    for (kernel, reference) in cases {
        let (sets, outputs) = (&sets, reference.len());
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
                .check(move |o| gate(o, 1, |o| check::all(&o[0], &reference, Tol::F32))),
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
        softmax(ctx, s, false, DType::F32)?;
    }
    let main = if ctx.quick() {
        [256, 256]
    } else {
        [4096, 1024]
    };
    if ctx.dev.caps().f16 {
        softmax(ctx, main, false, DType::F16)?;
    }
    softmax(ctx, main, true, DType::F32)?;
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

/// The forward's tolerance: exp and log are a few ulp on every adapter;
/// softmax values are compared relative to themselves (tiny ones included),
/// log-softmax to its terms.
pub(crate) fn softmax_tol(log: bool, dtype: DType) -> Tol {
    match (log, dtype) {
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
    }
}

/// Softmax (or log-softmax) of (rows, cols): the fused kernel and the
/// three-pass baseline (f16: the kernel alone).
fn softmax(ctx: &mut Ctx, [r, c]: [usize; 2], log: bool, dtype: DType) -> Result<()> {
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
    let row_ref = |i: usize| {
        let row = &h[i * c..(i + 1) * c];
        if log {
            log_softmax_row(row)
        } else {
            softmax_row(row)
        }
    };
    let tol = softmax_tol(log, dtype);
    let numel = (r * c) as f64;
    let size = dtype.size_bytes() as f64;
    let variants: &[bool] = if dtype == DType::F16 {
        &[true]
    } else {
        &[true, false]
    };
    for &fused in variants {
        let (sets, row_ref) = (&sets, &row_ref);
        ctx.case(
            Case::new(
                kernel,
                if fused { "kernel" } else { "three-pass" },
                dims(&[r, c]),
                dtype,
            )
            .work(5.0 * numel, 2.0 * numel * size)
            .sets(sets.len())
            .baseline(!fused)
            .chosen(fused)
            .note(if fused {
                ""
            } else {
                "composed: max, sum of exp, normalise"
            })
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
                    let max = check::budget(r, 6.0 * c as f64);
                    check::rows(&o[0], r, c, max, tol, row_ref)
                })
            }),
        );
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
    // dx_i = p_i (dy_i - S), S = sum dy p (the reference's terms). The
    // three passes also send dm, zero but rounded from two row sums of size
    // T = sum |dy| p, to the row's max.
    let row_ref = |i: usize, fused: bool| -> Vec<(f64, f64)> {
        let (row, g) = (&h[i * c..(i + 1) * c], &dy[i * c..(i + 1) * c]);
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let p = softmax_row(row);
        let t: f64 = p.iter().zip(g).map(|(p, g)| p.0 * g.abs()).sum();
        let mut dx = softmax_backward_row(row, g);
        for (j, d) in dx.iter_mut().enumerate() {
            if !fused && row[j] == m {
                d.1 += 2.0 * t;
            }
        }
        dx
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
