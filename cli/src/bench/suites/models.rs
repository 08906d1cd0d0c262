//! Whole steps and composed layers: what the kernels add up to.
//!
//! - `mlp_step`: one Adam training step of a 784-256-128-10 MLP, batch 128
//!   (forward, backward, update, loss read back), with plan replay on and off
//!   (off: every step plans from scratch: the baseline), and with replay in
//!   deterministic mode (`Device::set_deterministic`). Flops: 6 x batch x
//!   the weights (2 forward, 4 backward), the elementwise work not counted.
//! - `mlp_grad`: forward + backward of a 64-256-10 MLP, batch 256, every
//!   gradient the output (its end-to-end form is a peer workload, `peer/`).

use std::cell::RefCell;
use std::time::Instant;

use shadergrad::nn::{Linear, Module, Stateful};
use shadergrad::optim::Optimizer;
use shadergrad::{DType, Device, Result, Tensor, Tuning};
use shadergrad_reference::models::{Layer, mlp_loss, mlp2_grads};
use shadergrad_reference::widen;

use crate::bench::case::{Case, Method};
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::results::CheckOutcome;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    mlp_step(ctx)?;
    mlp_grad(ctx)
}

pub(crate) fn host_layer(l: &Linear) -> Result<Layer> {
    Ok(Layer {
        w: widen(&l.weight.to_vec::<f32>()?),
        b: widen(&l.bias.as_ref().expect("a bias").to_vec::<f32>()?),
    })
}

/// A gradient `backward()` must have left.
pub(crate) fn grad(t: &Tensor) -> Result<Tensor> {
    t.grad()
        .ok_or_else(|| shadergrad::Error::Gpu("backward left no gradient".into()))
}

/// The first loss against its float64 value.
pub(crate) fn loss_gate(o: &[Vec<f32>], loss0: f64) -> CheckOutcome {
    let tol = Tol {
        rel: 0.0,
        acc: 1e-4,
        abs: 1e-6,
    };
    gate(o, 1, |o| check::all(&o[0], &[(loss0, loss0.abs())], tol))
}

/// A 2-layer MLP's four gradients against their float64 values.
pub(crate) fn mlp_grads_gate(o: &[Vec<f32>], refs: &[Vec<(f64, f64)>]) -> CheckOutcome {
    let tol = Tol {
        rel: 0.0,
        acc: 2e-5,
        abs: 1e-7,
    };
    let names = ["dW1", "db1", "dW2", "db2"];
    gate(o, 4, |o| {
        let parts = names.iter().zip(refs).zip(o);
        check::combine(
            parts
                .map(|((n, r), out)| (*n, check::all(out, r, tol)))
                .collect(),
        )
    })
}

/// An MLP of `sizes` (ReLU between layers).
pub(crate) fn forward(layers: &[Linear], x: &Tensor) -> Result<Tensor> {
    let mut h = x.clone();
    for (i, l) in layers.iter().enumerate() {
        h = l.forward(&h)?;
        if i + 1 < layers.len() {
            h = h.relu()?;
        }
    }
    Ok(h)
}

/// Ops recorded per forward + backward, and the CPU time per op: 20 steps
/// recorded, each then run outside the timer (no update: the weights stay
/// those the gate's first loss is computed from).
fn recording(
    dev: &Device,
    layers: &[Linear],
    params: &[Tensor],
    data: &Sets,
) -> Result<(f64, f64)> {
    let (steps, mut ops, mut secs) = (20, 0, 0.0);
    for i in 0..steps {
        let s = data.get(i);
        let before = dev.counters().ops_recorded;
        let t = Instant::now();
        let loss = shadergrad::loss::cross_entropy(&forward(layers, &s[0])?, &s[1])?;
        loss.backward()?;
        params.iter().for_each(Tensor::zero_grad);
        secs += t.elapsed().as_secs_f64();
        ops += dev.counters().ops_recorded - before;
        dev.realize_pending()?;
    }
    let per_step = ops as f64 / steps as f64;
    Ok((per_step, secs * 1e6 / ops.max(1) as f64))
}

fn mlp_step(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["mlp_step"]) {
        return Ok(());
    }
    let (dev, batch, sizes) = (ctx.dev, 128, [784, 256, 128, 10]);
    let spec = [
        Spec::new(&[batch, 784], -1.0, 1.0),
        Spec::index(&[batch], 10),
    ];
    let data = Sets::new(dev, 4, 101, &spec)?;
    let flops = 6.0 * batch as f64 * sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>();
    // (plan replay, deterministic mode)
    for (replay, det) in [(true, false), (false, false), (true, true)] {
        // A fresh model per variant: the steps before change the weights.
        let layers: Vec<Linear> = sizes
            .windows(2)
            .map(|w| Linear::new(dev, w[0], w[1]))
            .collect::<Result<_>>()?;
        let host: Vec<Layer> = layers.iter().map(host_layer).collect::<Result<_>>()?;
        let loss0 = mlp_loss(&host, &data.host[0], &data.labels(1));
        let params: Vec<Tensor> = layers.iter().flat_map(Stateful::parameters).collect();
        let (ops, us_per_op) = recording(dev, &layers, &params, &data)?;
        let opt = RefCell::new(Optimizer::adam(&params, 1e-3)?);
        let (opt, layers, data) = (&opt, &layers, &data);
        ctx.case(
            Case::new(
                "mlp_step",
                match (replay, det) {
                    (true, false) => "plan replay",
                    (false, _) => "no replay",
                    (true, true) => "plan replay, deterministic",
                },
                format!("batch {batch}, 784-256-128-10, adam"),
                DType::F32,
            )
            .work(flops, 0.0)
            .sets(data.len())
            .baseline(!replay)
            .chosen(replay && !det)
            .group("mlp_step")
            .method(Method::Wall)
            .note(format!(
                "wall clock: replay saves CPU time; {ops:.0} ops recorded per step at \
                 {us_per_op:.2} us/op; gate: the first loss"
            ))
            .setup(move |d| {
                d.set_tuning(Tuning {
                    plan_cache: replay,
                    ..d.tuning()
                });
                d.set_deterministic(det);
            })
            .run(move |i| {
                let s = data.get(i);
                let mut opt = opt.borrow_mut();
                opt.zero_grad();
                let loss = shadergrad::loss::cross_entropy(&forward(layers, &s[0])?, &s[1])?;
                loss.backward()?;
                opt.record()?;
                Ok(vec![loss])
            })
            .check(move |o| loss_gate(o, loss0)),
        );
    }
    Ok(())
}

/// Forward and backward of a 64-256-10 MLP (ReLU, cross-entropy), batch
/// 256, every gradient an output.
fn mlp_grad(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["mlp_grad"]) {
        return Ok(());
    }
    let (dev, (n, din, hid, dout)) = (ctx.dev, (256, 64, 256, 10));
    let layers = [Linear::new(dev, din, hid)?, Linear::new(dev, hid, dout)?];
    let spec = [Spec::new(&[n, din], -1.0, 1.0), Spec::index(&[n], dout)];
    let data = Sets::new(dev, 8, 111, &spec)?;
    let (h1, h2) = (host_layer(&layers[0])?, host_layer(&layers[1])?);
    let refs = mlp2_grads(&h1, &h2, &data.host[0], &data.labels(1));
    let params: Vec<Tensor> = layers.iter().flat_map(Stateful::parameters).collect();
    let flops = 6.0 * n as f64 * (din * hid + hid * dout) as f64;
    let (data, layers, params, refs) = (&data, &layers, &params, &refs);
    ctx.case(
        Case::new(
            "mlp_grad",
            "forward+backward",
            format!("batch {n}, {din}-{hid}-{dout}"),
            DType::F32,
        )
        .work(flops, 0.0)
        .sets(data.len())
        .chosen(true)
        .note("gradients of both layers are the outputs")
        .run(move |i| {
            let s = data.get(i);
            params.iter().for_each(Tensor::zero_grad);
            shadergrad::loss::cross_entropy(&forward(layers, &s[0])?, &s[1])?.backward()?;
            params.iter().map(grad).collect()
        })
        .check(move |o| mlp_grads_gate(o, refs)),
    );
    Ok(())
}
