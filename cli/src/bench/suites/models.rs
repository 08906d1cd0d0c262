//! Whole steps and composed layers: what the kernels add up to.
//!
//! - `mlp_step`: one Adam training step of a 784-256-128-10 MLP, batch 128
//!   (forward, backward, update, loss read back), with plan replay on and off
//!   (off: every step plans from scratch: the baseline). Flops: 6 x batch x
//!   the weights (2 forward, 4 backward), the elementwise work not counted.
//! - `mlp_grad`: forward + backward of a 64-256-10 MLP, batch 256, every
//!   gradient read back: the burn comparison's step.

use std::time::Instant;

use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Case, Ctx, Method, gate};
use shadergrad::DType;
use shadergrad::Result;
use shadergrad::nn::{Linear, Module};
use shadergrad::optim::Optimizer;
use shadergrad::Tensor;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    mlp_step(ctx)?;
    mlp_grad(ctx, None)?;
    Ok(())
}

/// A (rows, inputs) x (outputs, inputs)^T + bias layer in float64.
fn linear(x: &[f64], rows: usize, w: &[f32], b: &[f32], inputs: usize, outputs: usize) -> Vec<f64> {
    let mut y = vec![0.0; rows * outputs];
    for r in 0..rows {
        for o in 0..outputs {
            let mut s = b[o] as f64;
            for i in 0..inputs {
                s += x[r * inputs + i] * w[o * inputs + i] as f64;
            }
            y[r * outputs + o] = s;
        }
    }
    y
}

/// Mean softmax cross-entropy of logits (rows, classes), and its gradient.
fn cross_entropy(z: &[f64], labels: &[f32], classes: usize) -> (f64, Vec<f64>) {
    let rows = labels.len();
    let mut loss = 0.0;
    let mut dz = vec![0.0; z.len()];
    for r in 0..rows {
        let row = &z[r * classes..(r + 1) * classes];
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = row.iter().map(|v| (v - m).exp()).sum();
        let label = labels[r] as usize;
        loss += m + s.ln() - row[label];
        for c in 0..classes {
            let hot = if c == label { 1.0 } else { 0.0 };
            dz[r * classes + c] = ((row[c] - m).exp() / s - hot) / rows as f64;
        }
    }
    (loss / rows as f64, dz)
}

fn mlp_step(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["mlp_step"]) {
        return Ok(());
    }
    let dev = ctx.dev;
    let batch = 128;
    let sizes = [784, 256, 128, 10];
    let data = Sets::new(
        dev,
        4,
        101,
        &[
            Spec::new(&[batch, 784], -1.0, 1.0),
            Spec::index(&[batch], 10),
        ],
    )?;
    let flops = 6.0 * batch as f64 * sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum::<f64>();
    let mut recording: Option<(f64, f64)> = None;
    for replay in [true, false] {
        // A fresh model per variant: the steps before change the weights.
        let layers: Vec<Linear> = sizes
            .windows(2)
            .map(|w| Linear::new(dev, w[0], w[1]))
            .collect::<Result<_>>()?;
        let params: Vec<Vec<f32>> = layers
            .iter()
            .flat_map(|l| [l.weight.clone(), l.bias.clone().expect("bias")])
            .map(|t| t.to_vec::<f32>())
            .collect::<Result<_>>()?;
        // The first step's loss, from the initial weights, in float64.
        let mut h: Vec<f64> = data.host[0].iter().map(|&v| v as f64).collect();
        for (l, w) in sizes.windows(2).enumerate() {
            h = linear(&h, batch, &params[2 * l], &params[2 * l + 1], w[0], w[1]);
            if l < 2 {
                h.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
        let (loss0, _) = cross_entropy(&h, &data.host[1], 10);
        let opt = Optimizer::adam(
            &layers
                .iter()
                .flat_map(|l| l.named_parameters())
                .map(|(_, t)| t)
                .collect::<Vec<_>>(),
            1e-3,
        )?;
        let forward = |x: &Tensor| -> Result<Tensor> {
            let h = layers[0].forward(x)?.relu()?;
            let h = layers[1].forward(&h)?.relu()?;
            layers[2].forward(&h)
        };
        // Recording alone: ops per step and the CPU time per op.
        let (ops, us_per_op) = match recording {
            Some(r) => r,
            None => {
                let before = dev.counters().ops_recorded;
                let t = Instant::now();
                let steps = 20;
                for i in 0..steps {
                    let s = data.get(i);
                    let loss = shadergrad::loss::cross_entropy(&forward(&s[0])?, &s[1])?;
                    loss.backward()?;
                    opt.zero_grad();
                    drop(dev.take_pending());
                }
                let ops = (dev.counters().ops_recorded - before) as f64 / steps as f64;
                let r = (ops, t.elapsed().as_secs_f64() * 1e6 / (ops * steps as f64));
                recording = Some(r);
                r
            }
        };
        let opt = std::cell::RefCell::new(opt);
        let (data, opt, forward) = (&data, &opt, &forward);
        ctx.case(
            Case::new(
                "mlp_step",
                if replay { "plan replay" } else { "no replay" },
                format!("batch {batch}, 784-256-128-10, adam"),
                DType::F32,
            )
            .work(flops, 0.0)
            .sets(data.len())
            .baseline(!replay)
            .chosen(replay)
            .group("mlp_step")
            .method(Method::Wall)
            .note(format!(
                "wall clock: replay saves CPU time; {ops:.0} ops recorded per step at \
                 {us_per_op:.2} us/op; gate: the first loss"
            ))
            .setup(move |d| d.set_plan_cache(replay))
            .run(move |i| {
                let s = data.get(i);
                let mut opt = opt.borrow_mut();
                opt.zero_grad();
                let loss = shadergrad::loss::cross_entropy(&forward(&s[0])?, &s[1])?;
                loss.backward()?;
                opt.record()?;
                Ok(vec![loss])
            })
            .check(move |o| {
                gate(o, 1, |o| {
                    check::all(
                        &o[0],
                        &[(loss0, loss0.abs())],
                        Tol {
                            rel: 0.0,
                            acc: 1e-4,
                            abs: 1e-6,
                        },
                    )
                })
            }),
        );
    }
    Ok(())
}

/// Forward and backward of a 64-256-10 MLP (ReLU, cross-entropy), batch
/// 256, every gradient read back; with a peer time, timed end to end.
pub(crate) fn mlp_grad(ctx: &mut Ctx, peer: Option<f64>) -> Result<()> {
    if !ctx.wants(&["mlp_grad"]) {
        return Ok(());
    }
    let dev = ctx.dev;
    let (n, din, hid, dout) = (256, 64, 256, 10);
    let l1 = Linear::new(dev, din, hid)?;
    let l2 = Linear::new(dev, hid, dout)?;
    let params = [
        &l1.weight,
        l1.bias.as_ref().expect("bias"),
        &l2.weight,
        l2.bias.as_ref().expect("bias"),
    ];
    let host: Vec<Vec<f32>> = params
        .iter()
        .map(|t| t.to_vec::<f32>())
        .collect::<Result<_>>()?;
    let data = Sets::new(
        dev,
        8,
        111,
        &[Spec::new(&[n, din], -1.0, 1.0), Spec::index(&[n], dout)],
    )?;
    // float64 forward and backward of set 0. Each gradient element comes with
    // the sum of its terms' magnitudes; a ReLU input within rounding of 0 may
    // fall either side, so its term counts as uncertain.
    let x: Vec<f64> = data.host[0].iter().map(|&v| v as f64).collect();
    let pre = linear(&x, n, &host[0], &host[1], din, hid);
    let h: Vec<f64> = pre.iter().map(|v| v.max(0.0)).collect();
    let z = linear(&h, n, &host[2], &host[3], hid, dout);
    let (_, dz) = cross_entropy(&z, &data.host[1], dout);
    let mut dw2 = vec![(0.0, 0.0); dout * hid];
    let mut db2 = vec![(0.0, 0.0); dout];
    let mut dpre = vec![(0.0, 0.0); n * hid];
    for r in 0..n {
        for o in 0..dout {
            let g = dz[r * dout + o];
            db2[o].0 += g;
            db2[o].1 += g.abs();
            for j in 0..hid {
                let t = g * h[r * hid + j];
                dw2[o * hid + j].0 += t;
                dw2[o * hid + j].1 += t.abs();
            }
        }
        for j in 0..hid {
            let (mut s, mut a) = (0.0, 0.0);
            for o in 0..dout {
                let t = dz[r * dout + o] * host[2][o * hid + j] as f64;
                s += t;
                a += t.abs();
            }
            let p = pre[r * hid + j];
            let pre_scale: f64 = (0..din)
                .map(|i| (x[r * din + i] * host[0][j * din + i] as f64).abs())
                .sum::<f64>()
                + (host[1][j] as f64).abs();
            dpre[r * hid + j] = if p.abs() < 1e-5 * pre_scale {
                (if p > 0.0 { s } else { 0.0 }, a + s.abs() * 1e6)
            } else if p > 0.0 {
                (s, a)
            } else {
                (0.0, 0.0)
            };
        }
    }
    let mut dw1 = vec![(0.0, 0.0); hid * din];
    let mut db1 = vec![(0.0, 0.0); hid];
    for r in 0..n {
        for j in 0..hid {
            let (g, a) = dpre[r * hid + j];
            db1[j].0 += g;
            db1[j].1 += a;
            for i in 0..din {
                let xv = x[r * din + i];
                dw1[j * din + i].0 += g * xv;
                dw1[j * din + i].1 += a * xv.abs();
            }
        }
    }
    let refs = [dw1, db1, dw2, db2];
    let flops = 6.0 * n as f64 * (din * hid + hid * dout) as f64;
    let (data, l1, l2, refs) = (&data, &l1, &l2, &refs);
    let mut case = Case::new(
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
        for p in [&l1.weight, &l2.weight] {
            p.zero_grad();
        }
        for b in [&l1.bias, &l2.bias].into_iter().flatten() {
            b.zero_grad();
        }
        let z = l2.forward(&l1.forward(&s[0])?.relu()?)?;
        shadergrad::loss::cross_entropy(&z, &s[1])?.backward()?;
        let grad = |t: &Tensor| {
            t.grad()
                .ok_or_else(|| shadergrad::Error::Gpu("no gradient".into()))
        };
        Ok(vec![
            grad(&l1.weight)?,
            grad(l1.bias.as_ref().expect("bias"))?,
            grad(&l2.weight)?,
            grad(l2.bias.as_ref().expect("bias"))?,
        ])
    })
    .check(move |o| {
        gate(o, 4, |o| {
            let tol = Tol {
                rel: 0.0,
                acc: 2e-5,
                abs: 1e-7,
            };
            check::combine(
                ["dW1", "db1", "dW2", "db2"]
                    .iter()
                    .zip(refs)
                    .zip(o)
                    .map(|((name, r), out)| (*name, check::all(out, r, tol)))
                    .collect(),
            )
        })
    });
    if let Some(ms) = peer {
        case = case
            .method(Method::EndToEnd)
            .peer("burn 0.22", ms)
            .group("vs burn mlp_grad");
    }
    ctx.case(case);
    Ok(())
}
