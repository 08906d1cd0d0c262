//! The fused elementwise kernel (WGSL the planner generates), beside the same
//! ops with fusion off (one kernel per op, all in one submit: the baseline).
//!
//! - `elementwise.chain`: a chain of tiny ops (x * 0.999, + 0.001, ...) on
//!   1024 values: what fusion saves per op. Flops: one per op per element;
//!   bytes: the fused kernel's one read and one write.
//! - `elementwise.add_mul`: x * y + z over millions of values, bound by
//!   memory: 2 flops, 4 values moved per element. f32 and f16.
//! - `elementwise.gelu_tanh`: a transcendental-heavy unary; 9 flops per
//!   element (x^2, x^3, two scalings, an add, tanh, +1, two products).
//! - `elementwise.permuted_add`: x (64, 96, 130) permuted to (130, 64, 96)
//!   plus a broadcast (64, 1): index decoding by division, with the sizes as
//!   constants (a structure's first shapes) or from a uniform (every shape
//!   after: see src/plan/specialize.rs). One flop, 2 values moved per element.

use shadergrad::{DType, Device, Result, Tuning};
use shadergrad_reference::elementwise::{chain as chain_ref, gelu_tanh_scaled, mul_add};

use crate::bench::case::{Case, Method};
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};

/// Fusion on (the engine's way) or off (one kernel per op: the baseline).
fn fusion(d: &Device, on: bool) {
    d.set_tuning(Tuning {
        fusion: on,
        ..d.tuning()
    });
}

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&[
        "elementwise.chain",
        "elementwise.add_mul",
        "elementwise.gelu_tanh",
        "elementwise.permuted_add",
    ]) {
        return Ok(());
    }
    chain(ctx)?;
    let n = if ctx.quick() { 1 << 18 } else { 1 << 22 };
    add_mul(ctx, n, DType::F32)?;
    if ctx.dev.caps().f16 {
        add_mul(ctx, n, DType::F16)?;
    }
    gelu(ctx, n)?;
    permuted_add(ctx)?;
    Ok(())
}

fn permuted_add(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["elementwise.permuted_add"]) {
        return Ok(());
    }
    let [a, b, c] = if ctx.quick() {
        [16, 24, 33]
    } else {
        [64, 96, 130]
    };
    let specs = [
        Spec::new(&[a, b, c], -1.0, 1.0),
        Spec::new(&[a, 1], -1.0, 1.0),
    ];
    let sets = Sets::rotating(ctx.dev, 14, &specs)?;
    let (x, y) = (&sets.host[0], &sets.host[1]);
    let n = a * b * c;
    // out (c, a, b) [k, i, j] = x[i, j, k] + y[i].
    let reference = |e: usize| {
        let (k, i, j) = (e / (a * b), e / b % a, e % b);
        let (u, v) = (x[(i * b + j) * c + k], y[i]);
        (u + v, u.abs() + v.abs())
    };
    for uniform in [false, true] {
        let (sets, reference) = (&sets, &reference);
        ctx.case(
            Case::new(
                "elementwise.permuted_add",
                if uniform {
                    "uniform sizes"
                } else {
                    "constant sizes"
                },
                format!("{a}x{b}x{c}"),
                DType::F32,
            )
            .work(n as f64, (2 * n * 4) as f64)
            .sets(sets.len())
            .baseline(!uniform)
            .chosen(!uniform)
            .note(if uniform {
                "sizes read from a uniform: what every shape of a structure after its 4th runs"
            } else {
                ""
            })
            .setup(move |d| {
                d.set_tuning(Tuning {
                    shape_constants: if uniform { 0 } else { usize::MAX },
                    ..d.tuning()
                })
            })
            .run(move |i| {
                let s = sets.get(i);
                Ok(vec![s[0].permute(&[2, 0, 1])?.add(&s[1])?])
            })
            .check(move |o| gate(o, 1, |o| check::elements(&o[0], n, n, Tol::F32, reference))),
        );
    }
    Ok(())
}

fn chain(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["elementwise.chain"]) {
        return Ok(());
    }
    let ops = if ctx.quick() { 100 } else { 1000 };
    let n = 1024;
    let sets = Sets::new(ctx.dev, 4, 11, &[Spec::new(&[n], 0.0, 1.0)])?;
    let host = &sets.host[0];
    let reference: Vec<(f64, f64)> = host.iter().map(|&x| chain_ref(x, ops)).collect();
    // Each f32 op may round by half an ulp.
    let tol = Tol {
        rel: 0.0,
        acc: 1.2e-7 * ops as f64 + 1e-6,
        abs: 1e-7,
    };
    for fused in [true, false] {
        let (sets, reference) = (&sets, &reference);
        ctx.case(
            Case::new(
                "elementwise.chain",
                if fused { "fused" } else { "unfused" },
                format!("{ops} ops on {n}"),
                DType::F32,
            )
            .work((ops * n) as f64, (2 * n * 4) as f64)
            .sets(sets.len())
            // Timestamps around each of a thousand tiny dispatches cost more
            // than the dispatches on a software adapter: time both forms by
            // the wall clock, record to GPU idle.
            .method(Method::Wall)
            .baseline(!fused)
            .chosen(fused)
            .note(if fused {
                String::new()
            } else {
                "one kernel per op, one submit".into()
            })
            .setup(move |d| fusion(d, fused))
            .run(move |i| {
                let mut y = sets.get(i)[0].clone();
                for k in 0..ops {
                    y = if k % 2 == 0 {
                        y.mul(0.999)?
                    } else {
                        y.add(0.001)?
                    };
                }
                Ok(vec![y])
            })
            .check(move |o| gate(o, 1, |o| check::all(&o[0], reference, tol))),
        );
    }
    Ok(())
}

fn add_mul(ctx: &mut Ctx, n: usize, dtype: DType) -> Result<()> {
    if !ctx.wants(&["elementwise.add_mul"]) {
        return Ok(());
    }
    let spec = Spec::new(&[n], -1.0, 1.0).dtype(dtype);
    let sets = Sets::rotating(ctx.dev, 12, &[spec.clone(), spec.clone(), spec])?;
    let h = &sets.host;
    let reference = |i: usize| mul_add(h[0][i], h[1][i], h[2][i]);
    let size = dtype.size_bytes();
    for fused in [true, false] {
        let (sets, reference) = (&sets, &reference);
        ctx.case(
            Case::new(
                "elementwise.add_mul",
                if fused { "fused" } else { "unfused" },
                format!("{n}"),
                dtype,
            )
            .work(2.0 * n as f64, (4 * n * size) as f64)
            .sets(sets.len())
            .baseline(!fused)
            .chosen(fused)
            .setup(move |d| fusion(d, fused))
            .run(move |i| {
                let s = sets.get(i);
                Ok(vec![s[0].mul(&s[1])?.add(&s[2])?])
            })
            .check(move |o| {
                gate(o, 1, |o| {
                    check::elements(&o[0], n, n, Tol::for_dtype(dtype), reference)
                })
            }),
        );
    }
    Ok(())
}

fn gelu(ctx: &mut Ctx, n: usize) -> Result<()> {
    if !ctx.wants(&["elementwise.gelu_tanh"]) {
        return Ok(());
    }
    let sets = Sets::rotating(ctx.dev, 13, &[Spec::new(&[n], -4.0, 4.0)])?;
    let h = &sets.host[0];
    let reference = |i: usize| gelu_tanh_scaled(h[i]);
    let sets = &sets;
    ctx.case(
        Case::new("elementwise.gelu_tanh", "fused", format!("{n}"), DType::F32)
            .work(9.0 * n as f64, (2 * n * 4) as f64)
            .sets(sets.len())
            .chosen(true)
            .run(move |i| Ok(vec![sets.get(i)[0].gelu_tanh()?]))
            .check(move |o| {
                gate(o, 1, |o| {
                    check::elements(&o[0], n, n, Tol::F32_MATH, reference)
                })
            }),
    );
    Ok(())
}
