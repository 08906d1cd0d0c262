//! Optimizer updates (shaders/optim.wgsl): one parameter of millions of
//! values updated in place, its state with it, the gradient rotating between
//! sets (handed to the parameter by `backward_with`, as a leaf's gradient is
//! its seed: no kernel runs for it). The gate checks the first step against
//! the update rule in float64.
//!
//! - `optim.sgd`: momentum 0.9. 6 flops per element; bytes: parameter,
//!   gradient and momentum read, parameter and momentum written (5 x 4).
//! - `optim.adam`: 16 flops per element; parameter, gradient and two moments
//!   read, parameter and moments written (7 x 4).
//! - `optim.sparse_sgd`: plain SGD on a sparse table (an embedding's
//!   gradient as rows: N ids on the GPU, about 4 reads of each row read), in
//!   the default form (compare-and-swap adds) and in deterministic mode
//!   (`deterministic`: the rows grouped by id, each group added in order).
//!   The timer sums the update's dispatches. 2 flops per gradient element;
//!   bytes: the gradient rows and their ids read, the rows read and written.

use shadergrad::optim::Optimizer;
use shadergrad::{DType, Result, Tensor};
use shadergrad_reference::optim::{Adam, Sgd, sparse_sgd};

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Rng, Sets, Spec, upload};
use crate::bench::measure::{Ctx, gate};

const LR: f64 = 1e-2;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    for det in [false, true] {
        sparse(ctx, det)?;
    }
    if !ctx.wants(&["optim.sgd", "optim.adam"]) {
        return Ok(());
    }
    let n = if ctx.quick() { 1 << 16 } else { 1 << 22 };
    let dev = ctx.dev;
    let grads = Sets::rotating(dev, 91, &[Spec::new(&[n], -1.0, 1.0)])?;
    for adam in [false, true] {
        let kernel = if adam { "optim.adam" } else { "optim.sgd" };
        if !ctx.wants(&[kernel]) {
            continue;
        }
        let mut p0 = Rng::new(92).vec(n, -1.0, 1.0);
        let param = shadergrad::nn::parameter(upload(dev, &mut p0, &[n], DType::F32)?)?;
        let mut opt = if adam {
            Optimizer::adam(std::slice::from_ref(&param), LR)?
        } else {
            Optimizer::sgd(std::slice::from_ref(&param), LR, 0.9)?
        };
        // Step 1 from zero state, by the float64 rule; its terms are the
        // weight and the step.
        let start = shadergrad_reference::widen(&p0);
        let mut after = start.clone();
        let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
        if adam {
            Adam::default().step(LR, 1, &mut after, &grads.host[0], &mut m, &mut v);
        } else {
            let rule = Sgd {
                momentum: 0.9,
                weight_decay: 0.0,
            };
            rule.step(LR, &mut after, &grads.host[0], &mut m);
        }
        let reference: Vec<(f64, f64)> = start
            .iter()
            .zip(&after)
            .map(|(&p, &q)| (q, p.abs() + (q - p).abs()))
            .collect();
        let (grads, param, reference) = (&grads, &param, &reference);
        let (flops, words) = if adam { (16.0, 7.0) } else { (6.0, 5.0) };
        ctx.case(
            Case::new(kernel, "kernel", format!("{n}"), DType::F32)
                .work(flops * n as f64, words * 4.0 * n as f64)
                .sets(grads.len())
                .chosen(true)
                .note("in place; the parameter is the output")
                .run(move |i| {
                    let g: &Tensor = &grads.get(i)[0];
                    param.zero_grad();
                    param.backward_with(g)?;
                    opt.record()?;
                    Ok(vec![param.clone()])
                })
                .check(move |o| {
                    gate(o, 1, |o| {
                        check::all(
                            &o[0],
                            reference,
                            Tol {
                                rel: 0.0,
                                acc: 1e-6,
                                abs: 1e-7,
                            },
                        )
                    })
                }),
        );
    }
    Ok(())
}

/// Plain SGD on a sparse (V, D) table read at N ids on the GPU (in
/// deterministic mode: `det`); the gate checks the first step in float64.
fn sparse(ctx: &mut Ctx, det: bool) -> Result<()> {
    if !ctx.wants(&["optim.sparse_sgd"]) {
        return Ok(());
    }
    let (v, d, n) = if ctx.quick() {
        (1024, 32, 2048)
    } else {
        (32768, 128, 16384)
    };
    let dev = ctx.dev;
    let sets = Sets::rotating(
        dev,
        93,
        &[Spec::new(&[n, d], -1.0, 1.0), Spec::index(&[n], n / 4)],
    )?;
    let mut t0 = Rng::new(94).vec(v * d, -1.0, 1.0);
    let table = shadergrad::nn::parameter(upload(dev, &mut t0, &[v, d], DType::F32)?)?;
    table.set_sparse_grad(true)?;
    let mut opt = Optimizer::sgd(std::slice::from_ref(&table), LR, 0.0)?;
    // Step 1 by the float64 rule; its terms are the row and every add.
    let (ids, start) = (sets.indices(1), shadergrad_reference::widen(&t0));
    let mut after = start.clone();
    sparse_sgd(LR, &mut after, d, &ids, &sets.host[0]);
    let mut scale: Vec<f64> = start.iter().map(|p| p.abs()).collect();
    let magnitudes: Vec<f64> = sets.host[0].iter().map(|g| -g.abs()).collect();
    sparse_sgd(LR, &mut scale, d, &ids, &magnitudes);
    let reference: Vec<(f64, f64)> = after.into_iter().zip(scale).collect();
    let (sets, table, reference) = (&sets, &table, &reference);
    ctx.case(
        Case::new(
            "optim.sparse_sgd",
            super::variant(det),
            format!("{n} rows into {v}x{d}"),
            DType::F32,
        )
        .work(2.0 * (n * d) as f64, (3 * n * d * 4 + n * 4) as f64)
        .sets(sets.len())
        .chosen(!det)
        .setup(move |dev| dev.set_deterministic(det))
        .profile(&["update"])
        .note("in place; the table is the output; ~4 reads per row read")
        .run(move |i| {
            let s = sets.get(i);
            opt.zero_grad();
            table.index_select(0, &s[1])?.backward_with(&s[0])?;
            opt.record()?;
            Ok(vec![table.clone()])
        })
        .check(move |o| gate(o, 1, |o| check::all(&o[0], reference, Tol::F32))),
    );
    Ok(())
}
