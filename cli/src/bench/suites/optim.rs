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

use shadergrad::optim::Optimizer;
use shadergrad::{DType, Result, Tensor};
use shadergrad_reference::optim::{Adam, Sgd};

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Rng, Sets, Spec, upload};
use crate::bench::measure::{Ctx, gate};

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
