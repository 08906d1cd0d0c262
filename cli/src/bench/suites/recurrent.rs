//! Recurrent networks (src/nn/recurrent/): one Adam training step of an LSTM
//! language-model shape (input 64, a linear head to 64 classes at every
//! step, mean cross-entropy) over T steps: forward, backpropagation through
//! time and the update, one submit replayed from the cached plan. Rows at
//! T = 32, 128, 256 (B 32, H 256; quick: T 8, B 4, H 32). The note gives the
//! ops recorded per step and the CPU time recording them, and the first
//! step's time (the plan built, pipelines compiled). Flops: 6 x T x B x
//! (4H (I + H) + H V), matmuls only. `lstm_step` runs with the cell kernels
//! forced and, beside it, with the composed cell forced (a `Tuning`).
//!
//! The cells (`lstm_cell`, `gru_cell`, `rnn_cell`, and `.fwd+bwd`): one
//! step, h W_hh^T (the matmul) then the gate maths, as the cell's kernels
//! (`kernel`) or composed of elementwise ops the planner fuses
//! (`composed`), at B 1, 32, 256 and H 64, 256 (quick: B 4, H 32). The
//! backward rows take dh' and give the gradients of xp, h (c), W_hh, b_hh.
//! Flops: the matmul's 2 B H G (G = gates H), three times with the backward.

use std::cell::RefCell;
use std::time::Instant;

use shadergrad::nn::{CellKind, Linear, Lstm, Module, RecurrentOptions, Stateful, cell_step};
use shadergrad::optim::Optimizer;
use shadergrad::{DType, Result, Tensor, Tuning};
use shadergrad_reference::cross_entropy::CrossEntropy;
use shadergrad_reference::models::mlp_logits;
use shadergrad_reference::recurrent::{
    Cell, CellStep, LstmWeights, cell_backward, cell_forward, lstm,
};
use shadergrad_reference::widen;

use crate::bench::case::{Case, Method};
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::suites::models::{host_layer, loss_gate};
use crate::bench::suites::{dims, grads};

pub(crate) const INPUT: usize = 64;
pub(crate) const CLASSES: usize = 64;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    cells(ctx)?;
    if !ctx.wants(&["lstm_step"]) {
        return Ok(());
    }
    let (lengths, b, h): (&[usize], usize, usize) = match ctx.quick() {
        true => (&[8], 4, 32),
        false => (&[32, 128, 256], 32, 256),
    };
    for &t in lengths {
        for composed in [false, true] {
            lstm_step(ctx, t, b, h, composed)?;
        }
    }
    Ok(())
}

/// One Adam step of the LSTM and its head on x (T, B, I) and the T x B
/// labels: the loss, with the update recorded (read it to run the step).
pub(crate) fn train_step(
    m: &Lstm,
    head: &Linear,
    x: &Tensor,
    labels: &Tensor,
    opt: &mut Optimizer,
) -> Result<Tensor> {
    opt.zero_grad();
    let (t, b, h) = (x.shape()[0], x.shape()[1], head.weight.shape()[1]);
    let out = m.forward(x)?.reshape(&[t * b, h])?;
    let loss = shadergrad::loss::cross_entropy(&head.forward(&out)?, labels)?;
    loss.backward()?;
    opt.record()?;
    Ok(loss)
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
    let w = LstmWeights::of(&p);
    let hs = lstm(&w, x, dims);
    let logits = mlp_logits(&[host_layer(head)?], &hs, hs.len() / dims.3);
    Ok(CrossEntropy::new(CLASSES).mean(&logits, labels).0)
}

/// One training step, the cell kernels forced, or with `composed` the composed cell.
fn lstm_step(ctx: &mut Ctx, t: usize, b: usize, h: usize, composed: bool) -> Result<()> {
    let dev = ctx.dev;
    let cells = Some(!composed);
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
    let train = move |s: &[Tensor], opt: &mut Optimizer| train_step(&m, &head, &s[0], &s[1], opt);
    let step = move |s: &[Tensor], opt: &mut Optimizer| -> Result<Tensor> {
        let d = s[0].device();
        let before = d.tuning();
        d.set_tuning(Tuning { cells, ..before });
        let out = train(s, opt);
        d.set_tuning(before);
        out
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
            if composed {
                "composed cell"
            } else {
                "cell kernels"
            },
            format!("T {t}, B {b}, H {h}, I {INPUT}, {CLASSES} classes, adam"),
            DType::F32,
        )
        .work(flops, 0.0)
        .sets(data.len())
        // The module's own choice at this shape (src/nn/recurrent/cell.rs).
        .chosen(composed != (h <= 64 || b == 1))
        .baseline(composed)
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

/// The cells' rows: each cell, B and H, forward and forward+backward, the
/// kernels beside the composed form.
fn cells(ctx: &mut Ctx) -> Result<()> {
    let kinds = [
        (CellKind::Lstm, Cell::Lstm, "lstm_cell"),
        (CellKind::Gru, Cell::Gru, "gru_cell"),
        (CellKind::RnnTanh, Cell::RnnTanh, "rnn_cell"),
    ];
    let (bs, hs): (&[usize], &[usize]) = match ctx.quick() {
        true => (&[4], &[32]),
        false => (&[1, 32, 256], &[64, 256]),
    };
    for (kind, cell, name) in kinds {
        if !ctx.wants(&[name]) {
            continue;
        }
        for &h in hs {
            for &b in bs {
                cell_cases(ctx, (kind, cell, name), b, h)?;
            }
        }
    }
    Ok(())
}

/// The float64 step of set 0: h' and the gradient of xp for dh' = dy.
fn cell_reference(cell: Cell, host: &[Vec<f64>], b: usize, h: usize) -> (Vec<f64>, Vec<f64>) {
    let g = cell.gates() * h;
    let (xp, hv, cv, w, bh, dy) = (&host[0], &host[1], &host[2], &host[3], &host[4], &host[5]);
    let hp: Vec<f64> = (0..b * g)
        .map(|e| {
            (0..h)
                .map(|k| hv[e / g * h + k] * w[k * g + e % g])
                .sum::<f64>()
                + bh[e % g]
        })
        .collect();
    let s = CellStep {
        cell,
        b,
        h,
        xp,
        hp: &hp,
        h_prev: hv,
        c_prev: cv,
    };
    let d = cell_backward(&s, dy, &vec![0.0; b * h]);
    (cell_forward(&s).0, d.dxp)
}

fn cell_cases(
    ctx: &mut Ctx,
    (kind, cell, name): (CellKind, Cell, &'static str),
    b: usize,
    h: usize,
) -> Result<()> {
    let g = cell.gates() * h;
    let spec = [
        Spec::new(&[b, g], -2.0, 2.0),
        Spec::new(&[b, h], -1.0, 1.0),
        Spec::new(&[b, h], -1.0, 1.0),
        Spec::new(&[h, g], -0.1, 0.1),
        Spec::new(&[g], -0.1, 0.1),
        Spec::new(&[b, h], -1.0, 1.0),
    ];
    let sets = Sets::rotating(ctx.dev, 211, &spec)?;
    for s in &sets.t {
        for t in &s[..5] {
            t.set_requires_grad(true)?;
        }
    }
    let (fwd, dxp) = cell_reference(cell, &sets.host, b, h);
    // Terms of a pre-activation: H products of at most 0.1 in magnitude.
    let scale = 0.1 * h as f64 + 2.0;
    let pairs = |v: &[f64]| v.iter().map(|&v| (v, scale)).collect::<Vec<_>>();
    let (fwd, dxp) = (pairs(&fwd), pairs(&dxp));
    let tol = Tol {
        rel: 1e-5,
        acc: 1e-6,
        abs: 1e-6,
    };
    let lstm = kind == CellKind::Lstm;
    // The modules' choice at this shape (src/nn/recurrent/cell.rs).
    let picks = match kind {
        CellKind::Lstm => h <= 64 || b == 1,
        CellKind::Gru => h <= 64,
        _ => false,
    };
    let run = move |s: &[Tensor], fused: bool| {
        let c = lstm.then_some(&s[2]);
        cell_step(kind, &s[0], &s[1], c, &s[3], Some(&s[4]), fused)
    };
    let flops = 2.0 * (b * h * g) as f64;
    let bytes = 4.0 * (2 * b * g + h * g + 3 * b * h) as f64;
    let shape = format!("B {b}, H {h} ({})", dims(&[b, g]));
    let sets = std::rc::Rc::new(sets);
    for fused in [true, false] {
        let (sets, fwd) = (sets.clone(), fwd.clone());
        let variant = if fused { "kernel" } else { "composed" };
        ctx.case(
            Case::new(name, variant, shape.clone(), DType::F32)
                .work(flops, bytes)
                .sets(sets.len())
                .baseline(!fused)
                .chosen(fused == picks)
                .group(format!("{name} B {b} H {h}"))
                .note(if fused {
                    "matmul, then the cell's kernel"
                } else {
                    "matmul, then the gate maths composed"
                })
                .run(move |i| {
                    let _g = shadergrad::no_grad();
                    Ok(vec![run(sets.get(i), fused)?.0])
                })
                .check(move |o| gate(o, 1, |o| check::all(&o[0], &fwd, tol))),
        );
    }
    for fused in [true, false] {
        let (sets, dxp) = (sets.clone(), dxp.clone());
        let variant = if fused { "kernel" } else { "composed" };
        let leaves: &[usize] = if lstm {
            &[0, 1, 2, 3, 4]
        } else {
            &[0, 1, 3, 4]
        };
        ctx.case(
            Case::new(
                &format!("{name}.fwd+bwd"),
                variant,
                shape.clone(),
                DType::F32,
            )
            .work(3.0 * flops, 2.0 * bytes)
            .sets(sets.len())
            .baseline(!fused)
            .chosen(fused == picks)
            .group(format!("{name}.fwd+bwd B {b} H {h}"))
            .note(if fused {
                "the kernels' backward, then the matmuls'"
            } else {
                "the composed form's autodiff backward"
            })
            .run(move |i| {
                let s = sets.get(i);
                let ls: Vec<Tensor> = leaves.iter().map(|&k| s[k].clone()).collect();
                grads(run(s, fused)?.0, &s[5], &ls, name)
            })
            .check(move |o| gate(o, leaves.len(), |o| check::all(&o[0], &dxp, tol))),
        );
    }
    Ok(())
}
