//! `lstm_step_t128_b32_h256`: the `lstm_step` bench's training step (an LSTM
//! 64 -> 256 over T 128, a linear head to 64 classes at every step, mean
//! cross-entropy, Adam lr 1e-3) as a peer workload: x [128, 32, 64] and the
//! 4096 labels uploaded per run, the loss read back. Gate: the first loss,
//! against the float64 unrolled LSTM.

use std::cell::RefCell;

use shadergrad::Result;
use shadergrad::nn::{Linear, Lstm, RecurrentOptions, Stateful};
use shadergrad::optim::Optimizer;
use shadergrad_reference::widen;

use crate::bench::measure::Ctx;
use crate::bench::peer::kernels::{host_sets, upload};
use crate::bench::peer::models::{label_sets, upload_labels};
use crate::bench::peer::{Bench, e2e};
use crate::bench::suites::models::loss_gate;
use crate::bench::suites::recurrent::{CLASSES, INPUT, reference_loss, train_step};

const T: usize = 128;
const B: usize = 32;
const H: usize = 256;

pub(crate) fn lstm_step(ctx: &mut Ctx, bench: &mut Bench) -> Result<()> {
    let workload = "lstm_step_t128_b32_h256";
    if !bench.wants(ctx, workload, "lstm_step") {
        return Ok(());
    }
    let dev = ctx.dev;
    let m = Lstm::new(dev, INPUT, H, RecurrentOptions::default())?;
    let head = Linear::new(dev, H, CLASSES)?;
    let x = host_sets(141, T * B * INPUT, -1.0, 1.0);
    let labels = label_sets(142, T * B, CLASSES);
    let loss0 = reference_loss(&m, &head, &widen(&x[0]), &labels[0], (T, B, INPUT, H))?;
    let mut params = m.parameters();
    params.extend(head.parameters());
    let opt = RefCell::new(Optimizer::adam(&params, 1e-3)?);
    let flops = 6.0 * (T * B) as f64 * (4 * H * (INPUT + H) + H * CLASSES) as f64;
    let (m, head, opt) = (&m, &head, &opt);
    let case = e2e(workload, "lstm_step", "adam", "T 128, B 32, H 256, I 64, 64 classes")
        .work(flops, 0.0)
        .note("x and labels uploaded per run; forward, backpropagation through time, Adam; the loss read back")
        .run(move |i| {
            let x = upload(dev, &x, i, &[T, B, INPUT])?;
            let l = upload_labels(dev, &labels, i)?;
            Ok(vec![train_step(m, head, &x, &l, &mut opt.borrow_mut())?])
        })
        .check(move |o| loss_gate(o, loss0));
    bench.measure(ctx, workload, case);
    Ok(())
}
