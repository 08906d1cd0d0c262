//! Recurrent networks (src/nn/recurrent/): one Adam training step of an LSTM
//! language-model shape (input 64, a linear head to 64 classes at every
//! step, mean cross-entropy) over T steps: forward, backpropagation through
//! time and the update, one submit replayed from the cached plan. Rows at
//! T = 32, 128, 256 (B 32, H 256; quick: T 8, B 4, H 32). The note gives the
//! ops recorded per step and the CPU time recording them, and the first
//! step's time (the plan built, pipelines compiled). Flops: 6 x T x B x
//! (4H (I + H) + H V), matmuls only.

use std::cell::RefCell;
use std::time::Instant;

use shadergrad::nn::{Linear, Lstm, Module, RecurrentOptions, Stateful};
use shadergrad::optim::Optimizer;
use shadergrad::{DType, Result, Tensor};
use shadergrad_reference::cross_entropy::CrossEntropy;
use shadergrad_reference::models::mlp_logits;
use shadergrad_reference::recurrent::{LstmWeights, lstm};
use shadergrad_reference::widen;

use crate::bench::case::{Case, Method};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::Ctx;
use crate::bench::suites::models::{host_layer, loss_gate};

pub(crate) const INPUT: usize = 64;
pub(crate) const CLASSES: usize = 64;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["lstm_step"]) {
        return Ok(());
    }
    let (lengths, b, h): (&[usize], usize, usize) = match ctx.quick() {
        true => (&[8], 4, 32),
        false => (&[32, 128, 256], 32, 256),
    };
    for &t in lengths {
        lstm_step(ctx, t, b, h)?;
    }
    Ok(())
}

/// The model's first loss in float64, from its own weights.
pub(crate) fn reference_loss(
    m: &Lstm,
    head: &Linear,
    x: &[f64],
    labels: &[i32],
    dims: (usize, usize, usize, usize),
) -> Result<f64> {
    let p: Vec<Vec<f64>> = m
        .parameters()
        .iter()
        .map(|p| Ok(widen(&p.to_vec::<f32>()?)))
        .collect::<Result<_>>()?;
    let w = LstmWeights {
        ih: &p[0],
        hh: &p[1],
        b_ih: &p[2],
        b_hh: &p[3],
        peep: None,
    };
    let hs = lstm(&w, x, dims);
    let logits = mlp_logits(&[host_layer(head)?], &hs, hs.len() / dims.3);
    Ok(CrossEntropy::new(CLASSES).mean(&logits, labels).0)
}

fn lstm_step(ctx: &mut Ctx, t: usize, b: usize, h: usize) -> Result<()> {
    let dev = ctx.dev;
    let spec = [
        Spec::new(&[t, b, INPUT], -1.0, 1.0),
        Spec::index(&[t * b], CLASSES),
    ];
    let data = Sets::new(dev, 2, 131, &spec)?;
    let m = Lstm::new(dev, INPUT, h, RecurrentOptions::default())?;
    let head = Linear::new(dev, h, CLASSES)?;
    let loss0 = reference_loss(&m, &head, &data.host[0], &data.labels(1), (t, b, INPUT, h))?;
    let mut params = m.parameters();
    params.extend(head.parameters());
    let opt = RefCell::new(Optimizer::adam(&params, 1e-3)?);
    let step = move |s: &[Tensor], opt: &mut Optimizer| -> Result<Tensor> {
        opt.zero_grad();
        let out = m.forward(&s[0])?.reshape(&[t * b, h])?;
        let loss = shadergrad::loss::cross_entropy(&head.forward(&out)?, &s[1])?;
        loss.backward()?;
        opt.record()?;
        Ok(loss)
    };
    // Recording alone (a step run outside the timer, its updates kept out):
    // ops per step and CPU time.
    let before = dev.counters().ops_recorded;
    let clock = Instant::now();
    let probe = step(data.get(1), &mut Optimizer::sgd(&params, 0.0, 0.0)?)?;
    let record_ms = clock.elapsed().as_secs_f64() * 1e3;
    let ops = dev.counters().ops_recorded - before;
    let clock = Instant::now();
    probe.to_vec::<f32>()?;
    let first_ms = clock.elapsed().as_secs_f64() * 1e3;
    let flops = 6.0 * (t * b) as f64 * (4 * h * (INPUT + h) + h * CLASSES) as f64;
    let (data, opt) = (&data, &opt);
    ctx.case(
        Case::new(
            "lstm_step",
            "composed cell",
            format!("T {t}, B {b}, H {h}, I {INPUT}, {CLASSES} classes, adam"),
            DType::F32,
        )
        .work(flops, 0.0)
        .sets(data.len())
        .chosen(true)
        .group(format!("lstm_step T {t}"))
        .method(Method::Wall)
        .note(format!(
            "{ops} ops recorded per step in {record_ms:.1} ms of CPU; the first step (plan \
             built, pipelines compiled) ran in {first_ms:.0} ms; gate: the first loss"
        ))
        .run(move |i| Ok(vec![step(data.get(i), &mut opt.borrow_mut())?]))
        .check(move |o| loss_gate(o, loss0)),
    );
    Ok(())
}
