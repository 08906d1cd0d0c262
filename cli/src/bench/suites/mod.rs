//! The workloads, one file per kernel family. Each suite builds its inputs
//! (rotating sets, see data.rs), then hands `Ctx::case` one `Case` per
//! variant and shape, with the flops and bytes of one run and the reference
//! its output is checked against.
//!
//! Counting, everywhere: an add, a multiply, a compare or a transcendental is
//! one flop, an FMA two; bytes are each input read once plus each output
//! written once (the traffic a perfect kernel would need), so GB/s is a lower
//! bound on what the kernel really moved.

pub(crate) mod attention;
mod checkpoint;
mod conv;
mod cumsum;
mod decode;
mod elementwise;
mod index;
mod layernorm;
mod loss;
mod matmul;
pub(crate) mod models;
mod norm;
mod optim;
pub(crate) mod recurrent;
pub(crate) mod reduce;
mod sample;
pub(crate) mod transformer;

use shadergrad::{Error, Result, Tensor};

use crate::bench::measure::Ctx;

/// A kernel row's variant: the default form, or deterministic mode's
/// (`Device::set_deterministic`, which the case's setup sets).
pub(crate) fn variant(deterministic: bool) -> &'static str {
    if deterministic {
        "deterministic"
    } else {
        "kernel"
    }
}

/// Every suite, in table order; a suite the filter excludes builds nothing.
pub(crate) fn run_all(ctx: &mut Ctx) -> Result<()> {
    let suites: &[fn(&mut Ctx) -> Result<()>] = &[
        matmul::run,
        elementwise::run,
        reduce::run,
        reduce::run_softmax,
        cumsum::run,
        index::run,
        loss::run,
        conv::run,
        conv::run_pool,
        norm::run,
        layernorm::run,
        sample::run,
        optim::run,
        models::run,
        attention::run,
        recurrent::run,
        transformer::run,
        decode::run,
        checkpoint::run,
    ];
    for suite in suites {
        suite(ctx)?;
        ctx.trim();
    }
    Ok(())
}

/// The gradients of `leaves` when `y` is handed the gradient `dy` through
/// `backward_with` (zeroed first, so each run measures one backward): a
/// forward + backward case's outputs. The next realize runs the forward and
/// the backward in one submit, as a training step does.
pub(crate) fn grads(y: Tensor, dy: &Tensor, leaves: &[Tensor], what: &str) -> Result<Vec<Tensor>> {
    for t in leaves {
        t.zero_grad();
    }
    y.backward_with(dy)?;
    leaves
        .iter()
        .map(|t| {
            t.grad()
                .ok_or_else(|| Error::Gpu(format!("{what} backward left no gradient")))
        })
        .collect()
}

/// The label shared by the variants of a workload: "512x512x512".
pub(crate) fn dims(d: &[usize]) -> String {
    d.iter().map(usize::to_string).collect::<Vec<_>>().join("x")
}
