//! Optimizer updates (shaders/optim.wgsl): one parameter of millions of
//! values updated in place, its state with it, the gradient rotating between
//! sets. The gate checks the first step against the update rule in float64.
//!
//! - `optim.sgd`: momentum 0.9. 6 flops per element; bytes: parameter,
//!   gradient and momentum read, parameter and momentum written (5 x 4).
//! - `optim.adam`: 16 flops per element; parameter, gradient and two moments
//!   read, parameter and moments written (7 x 4).

use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec, upload};
use crate::bench::measure::{Case, Ctx, gate};
use shadergrad::DType;
use shadergrad::Result;
use shadergrad::optim::Optimizer;
use shadergrad::Tensor;

const LR: f64 = 1e-2;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
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
        let mut p0 = crate::bench::data::Rng::new(92).vec(n, -1.0, 1.0);
        let param = shadergrad::nn::parameter(upload(dev, &mut p0, &[n], DType::F32)?)?;
        let mut opt = if adam {
            Optimizer::adam(std::slice::from_ref(&param), LR)?
        } else {
            Optimizer::sgd(std::slice::from_ref(&param), LR, 0.9)?
        };
        // Step 1 from zero state: SGD moves by lr * g, Adam by lr * g / (|g| + eps).
        let g0 = &grads.host[0];
        let reference: Vec<(f64, f64)> = p0
            .iter()
            .zip(g0)
            .map(|(&p, &g)| {
                let (p, g) = (p as f64, g as f64);
                let step = if adam { g / (g.abs() + 1e-8) } else { g };
                (p - LR * step, p.abs() + LR * step.abs())
            })
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
                    *param.0.grad.lock().unwrap_or_else(|e| e.into_inner()) = Some(g.clone());
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
