//! Our side of the training workloads, end to end with the public API:
//!
//! - `mlp_grad_b256_64_256_10`: nn::Linear 64 -> 256, ReLU, Linear 256 -> 10,
//!   cross-entropy on labels; x and labels uploaded per run; all four
//!   gradients read back; no optimizer. Gate: the gradients.
//! - `mlp_step_b256_64_256_10`: the same plus an Adam step (lr 1e-3); the
//!   loss read back. Gate: the first loss.
//! - `cnn_step_b64`: conv 1 -> 16 3x3 pad 1, ReLU, max pool 2, conv 16 -> 32,
//!   ReLU, max pool 2, flatten (1568), Linear -> 128, ReLU, Linear -> 10,
//!   cross-entropy, Adam lr 1e-3, a [64, 1, 28, 28] batch in [0, 1); one
//!   step per run, the loss read back. Gate: the first loss.
//!
//! Flops: 6 x batch x the weights' multiply-adds (2 forward, 4 backward).

use std::cell::RefCell;

use shadergrad::nn::{Conv2d, Linear, MaxPool2d, Module, Stateful};
use shadergrad::optim::Optimizer;
use shadergrad::{Device, Result, Tensor};
use shadergrad_reference::models::{ConvLayer, Layer, cnn_loss, mlp_loss, mlp2_grads};
use shadergrad_reference::widen;

use crate::bench::data::Rng;
use crate::bench::measure::Ctx;
use crate::bench::peer::kernels::{SETS, host_sets, upload};
use crate::bench::peer::{Bench, e2e};
use crate::bench::suites::models::{forward, grad, host_layer, loss_gate, mlp_grads_gate};

/// `SETS` label vectors of `n` classes in [0, classes).
pub(crate) fn label_sets(seed: u64, n: usize, classes: usize) -> Vec<Vec<i32>> {
    let mut rng = Rng::new(seed);
    (0..SETS)
        .map(|_| (0..n).map(|_| rng.below(classes) as i32).collect())
        .collect()
}

pub(crate) fn upload_labels(dev: &Device, sets: &[Vec<i32>], i: usize) -> Result<Tensor> {
    let l = &sets[i % SETS];
    Tensor::from_slice(dev, l, &[l.len()])
}

const MLP: (usize, usize, usize, usize) = (256, 64, 256, 10);

pub(crate) fn mlp_grad(ctx: &mut Ctx, bench: &mut Bench) -> Result<()> {
    let workload = "mlp_grad_b256_64_256_10";
    if !bench.wants(ctx, workload, "mlp_grad") {
        return Ok(());
    }
    let (dev, (n, din, hid, dout)) = (ctx.dev, MLP);
    let layers = [Linear::new(dev, din, hid)?, Linear::new(dev, hid, dout)?];
    let x = host_sets(111, n * din, -1.0, 1.0);
    let labels = label_sets(112, n, dout);
    let refs = mlp2_grads(
        &host_layer(&layers[0])?,
        &host_layer(&layers[1])?,
        &widen(&x[0]),
        &labels[0],
    );
    let params: Vec<Tensor> = layers.iter().flat_map(Stateful::parameters).collect();
    let flops = 6.0 * n as f64 * (din * hid + hid * dout) as f64;
    let (layers, params, refs) = (&layers, &params, &refs);
    let case = e2e(
        workload,
        "mlp_grad",
        "forward+backward",
        "batch 256, 64-256-10",
    )
    .work(flops, 0.0)
    .note("x and labels uploaded per run; the four gradients read back")
    .run(move |i| {
        params.iter().for_each(Tensor::zero_grad);
        let z = forward(layers, &upload(dev, &x, i, &[n, din])?)?;
        shadergrad::loss::cross_entropy(&z, &upload_labels(dev, &labels, i)?)?.backward()?;
        params.iter().map(grad).collect()
    })
    .check(move |o| mlp_grads_gate(o, refs));
    bench.measure(ctx, workload, case);
    Ok(())
}

pub(crate) fn mlp_step(ctx: &mut Ctx, bench: &mut Bench) -> Result<()> {
    let workload = "mlp_step_b256_64_256_10";
    if !bench.wants(ctx, workload, "mlp_step") {
        return Ok(());
    }
    let (dev, (n, din, hid, dout)) = (ctx.dev, MLP);
    let layers = [Linear::new(dev, din, hid)?, Linear::new(dev, hid, dout)?];
    let x = host_sets(121, n * din, -1.0, 1.0);
    let labels = label_sets(122, n, dout);
    let loss0 = mlp_loss(
        &[host_layer(&layers[0])?, host_layer(&layers[1])?],
        &widen(&x[0]),
        &labels[0],
    );
    let params: Vec<Tensor> = layers.iter().flat_map(Stateful::parameters).collect();
    let opt = RefCell::new(Optimizer::adam(&params, 1e-3)?);
    let flops = 6.0 * n as f64 * (din * hid + hid * dout) as f64;
    let (layers, opt) = (&layers, &opt);
    let case = e2e(workload, "mlp_step", "adam", "batch 256, 64-256-10")
        .work(flops, 0.0)
        .note("x and labels uploaded per run; forward, backward, Adam; the loss read back")
        .run(move |i| {
            let mut opt = opt.borrow_mut();
            opt.zero_grad();
            let z = forward(layers, &upload(dev, &x, i, &[n, din])?)?;
            let loss = shadergrad::loss::cross_entropy(&z, &upload_labels(dev, &labels, i)?)?;
            loss.backward()?;
            opt.record()?;
            Ok(vec![loss])
        })
        .check(move |o| loss_gate(o, loss0));
    bench.measure(ctx, workload, case);
    Ok(())
}

/// The CNN's layers, and its parameters in order.
struct Cnn {
    convs: [Conv2d; 2],
    fcs: [Linear; 2],
}

impl Cnn {
    fn new(dev: &Device) -> Result<Cnn> {
        Ok(Cnn {
            convs: [Conv2d::same(dev, 1, 16, 3)?, Conv2d::same(dev, 16, 32, 3)?],
            fcs: [
                Linear::new(dev, 32 * 7 * 7, 128)?,
                Linear::new(dev, 128, 10)?,
            ],
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let pool = MaxPool2d::new(2);
        let h = pool.forward(&self.convs[0].forward(x)?.relu()?)?;
        let h = pool.forward(&self.convs[1].forward(&h)?.relu()?)?;
        let h = self.fcs[0].forward(&h.flatten(1, -1)?)?.relu()?;
        self.fcs[1].forward(&h)
    }

    fn parameters(&self) -> Vec<Tensor> {
        let convs = self.convs.iter().flat_map(Stateful::parameters);
        convs
            .chain(self.fcs.iter().flat_map(Stateful::parameters))
            .collect()
    }

    /// The weights on the CPU, for the reference.
    fn host(&self) -> Result<([ConvLayer; 2], Vec<Layer>)> {
        let conv = |c: &Conv2d| -> Result<ConvLayer> {
            Ok(ConvLayer {
                w: widen(&c.weight.to_vec::<f32>()?),
                b: widen(&c.bias.as_ref().expect("a bias").to_vec::<f32>()?),
            })
        };
        let fcs = self.fcs.iter().map(host_layer).collect::<Result<_>>()?;
        Ok(([conv(&self.convs[0])?, conv(&self.convs[1])?], fcs))
    }
}

/// The CNN step, and the same step in deterministic mode (our row only: the
/// peer has no such mode to compare with).
pub(crate) fn cnn_step(ctx: &mut Ctx, bench: &mut Bench) -> Result<()> {
    let workload = "cnn_step_b64";
    if !bench.wants(ctx, workload, "cnn_step") {
        return Ok(());
    }
    for det in [false, true] {
        cnn_step_in(ctx, bench, det)?;
    }
    Ok(())
}

fn cnn_step_in(ctx: &mut Ctx, bench: &mut Bench, det: bool) -> Result<()> {
    let workload = "cnn_step_b64";
    let (dev, batch) = (ctx.dev, 64);
    // A fresh model per mode: the steps before change the weights.
    let cnn = Cnn::new(dev)?;
    let x = host_sets(131, batch * 28 * 28, 0.0, 1.0);
    let labels = label_sets(132, batch, 10);
    let (convs, fcs) = cnn.host()?;
    let loss0 = cnn_loss(&convs, 3, &fcs, &widen(&x[0]), [1, 28, 28], &labels[0]);
    let opt = RefCell::new(Optimizer::adam(&cnn.parameters(), 1e-3)?);
    let macs = 28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 1568 * 128 + 128 * 10;
    let (cnn, opt) = (&cnn, &opt);
    let variant = if det { "adam, deterministic" } else { "adam" };
    let case = e2e(workload, "cnn_step", variant, "batch 64, 1x28x28")
        .work(6.0 * (batch * macs) as f64, 0.0)
        .note("x and labels uploaded per run; forward, backward, Adam; the loss read back")
        .chosen(!det)
        .setup(move |d| d.set_deterministic(det))
        .run(move |i| {
            let mut opt = opt.borrow_mut();
            opt.zero_grad();
            let z = cnn.forward(&upload(dev, &x, i, &[batch, 1, 28, 28])?)?;
            let loss = shadergrad::loss::cross_entropy(&z, &upload_labels(dev, &labels, i)?)?;
            loss.backward()?;
            opt.record()?;
            Ok(vec![loss])
        })
        .check(move |o| loss_gate(o, loss0));
    if det {
        ctx.case(case);
    } else {
        bench.measure(ctx, workload, case);
    }
    Ok(())
}
