//! The workloads: each kernel beside its simplest correct baseline, in one run.

use crate::bench::{Options, Row, time};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::Result;
use crate::kernels::matmul::MatmulVariant;
use crate::tensor::Tensor;

fn wanted(opts: &Options, kernel: &str) -> bool {
    opts.filter.as_deref().is_none_or(|f| kernel.contains(f))
}

pub fn run_all(dev: &Device, opts: &Options) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    if wanted(opts, "matmul") {
        rows.extend(matmul(dev, opts)?);
    }
    if wanted(opts, "elementwise") {
        rows.extend(elementwise_chain(dev, opts)?);
    }
    if wanted(opts, "conv2d") || wanted(opts, "batchnorm") {
        rows.extend(conv(dev, opts)?);
    }
    if wanted(opts, "mlp_step") {
        rows.extend(mlp_step(dev, opts)?);
    }
    Ok(rows)
}

/// C = A x B at n^3 for each matmul version, the naive one included.
fn matmul(dev: &Device, opts: &Options) -> Result<Vec<Row>> {
    let sizes: &[usize] = if opts.quick {
        &[64, 128]
    } else {
        &[256, 512, 1024]
    };
    let (chosen, _) = MatmulVariant::choose(dev);
    let mut rows = Vec::new();
    for &n in sizes {
        // Three input pairs, used in turn.
        let inputs: Vec<(Tensor, Tensor)> = (0..3)
            .map(|_| Ok((Tensor::randn(dev, &[n, n])?, Tensor::randn(dev, &[n, n])?)))
            .collect::<Result<_>>()?;
        for (a, b) in &inputs {
            Tensor::realize_all(&[a, b])?;
        }
        for v in MatmulVariant::available(dev).into_iter().rev() {
            // The naive kernel at 1024^3 takes seconds per run on a CPU adapter.
            let slow = v == MatmulVariant::Naive && n >= 1024;
            let reps = if opts.quick || slow { 3 } else { 7 };
            dev.set_matmul_variant(Some(v));
            let t = time(dev, 1, reps, |i| {
                let (a, b) = &inputs[i % inputs.len()];
                a.matmul(b)?.realize()?;
                Ok(())
            })?;
            let flops = 2.0 * (n as f64).powi(3);
            rows.push(Row {
                kernel: "matmul".into(),
                variant: format!("{}{}", v.name(), if v == chosen { " (chosen)" } else { "" }),
                shape: format!("{n}x{n}x{n}"),
                median_ms: t.median_ms,
                min_ms: t.min_ms,
                first_ms: t.first_ms,
                gflops: Some(flops / t.median_ms / 1e6),
                gbps: None,
                note: String::new(),
            });
        }
        dev.set_matmul_variant(None);
    }
    Ok(rows)
}

/// A chain of tiny elementwise ops: one fused kernel against one kernel per op
/// (all in one submit either way), as time per op.
fn elementwise_chain(dev: &Device, opts: &Options) -> Result<Vec<Row>> {
    let ops = if opts.quick { 100 } else { 1000 };
    let n = 1024;
    let x = Tensor::rand(dev, &[n])?;
    x.realize()?;
    let mut rows = Vec::new();
    for fused in [true, false] {
        dev.set_fusion(fused);
        let t = time(dev, 1, if opts.quick { 3 } else { 7 }, |_| {
            let mut y = x.clone();
            for k in 0..ops {
                y = if k % 2 == 0 {
                    y.mul(0.999)?
                } else {
                    y.add(0.001)?
                };
            }
            y.realize()?;
            Ok(())
        })?;
        rows.push(Row {
            kernel: "elementwise".into(),
            variant: if fused {
                "fused".into()
            } else {
                "unfused".into()
            },
            shape: format!("{ops} ops on {n} f32"),
            median_ms: t.median_ms,
            min_ms: t.min_ms,
            first_ms: t.first_ms,
            gflops: None,
            gbps: Some((ops * n * DType::F32.size_bytes() * 2) as f64 / t.median_ms / 1e6),
            note: format!("{:.2} us per op", t.median_ms * 1e3 / ops as f64),
        });
    }
    dev.set_fusion(true);
    Ok(rows)
}

/// One training step of an MLP (784-256-128-10, batch 128: forward, backward,
/// Adam, loss read back), with plan replay on and off; the CPU time to record
/// the step's ops, per op; and the submits per step.
fn mlp_step(dev: &Device, opts: &Options) -> Result<Vec<Row>> {
    use crate::nn::{Linear, Module, Relu, Sequential};
    use crate::optim::Optimizer;
    use std::time::Instant;
    let batch = 128;
    let model = Sequential::new()
        .push(Linear::new(dev, 784, 256)?)
        .push(Relu)
        .push(Linear::new(dev, 256, 128)?)
        .push(Relu)
        .push(Linear::new(dev, 128, 10)?);
    let mut opt = Optimizer::adam(&model.parameters(), 1e-3)?;
    let xs: Vec<Tensor> = (0..3)
        .map(|_| Tensor::randn(dev, &[batch, 784]))
        .collect::<Result<_>>()?;
    let labels: Vec<i32> = (0..batch as i32).map(|i| i % 10).collect();
    let y = Tensor::from_slice(dev, &labels, &[batch])?;
    for x in &xs {
        x.realize()?;
    }
    let reps = if opts.quick { 5 } else { 30 };
    let mut rows = Vec::new();
    for replay in [true, false] {
        dev.set_plan_cache(replay);
        let mut record_s = 0.0;
        let mut ops = 0;
        let before = dev.counters();
        let t = time(dev, 2, reps, |i| {
            let start = Instant::now();
            let c0 = dev.counters().ops_recorded;
            opt.zero_grad();
            let loss = crate::loss::cross_entropy(&model.forward(&xs[i % 3])?, &y)?;
            loss.backward()?;
            opt.record()?;
            record_s += start.elapsed().as_secs_f64();
            ops += dev.counters().ops_recorded - c0;
            loss.to_scalar::<f32>()?;
            Ok(())
        })?;
        let d = dev.counters() - before;
        let steps = (reps + 3) as f64;
        rows.push(Row {
            kernel: "mlp_step".into(),
            variant: if replay {
                "plan replay".into()
            } else {
                "no replay".into()
            },
            shape: format!("batch {batch}, 784-256-128-10"),
            median_ms: t.median_ms,
            min_ms: t.min_ms,
            first_ms: t.first_ms,
            gflops: Some(
                6.0 * batch as f64 * (784.0 * 256.0 + 256.0 * 128.0 + 128.0 * 10.0)
                    / t.median_ms
                    / 1e6,
            ),
            gbps: None,
            note: format!(
                "{:.0} ops/step recorded at {:.2} us/op; {:.2} submits/step",
                ops as f64 / steps,
                record_s * 1e6 / ops.max(1) as f64,
                d.submits as f64 / steps
            ),
        });
    }
    dev.set_plan_cache(true);
    Ok(rows)
}

/// conv2d (batch 32, 32 -> 64 channels, 32x32, 3x3, padding 1) forward, input
/// gradient and weight gradient, for each version, beside a matmul of the
/// same FLOPs; batch norm forward + backward as GB/s.
fn conv(dev: &Device, opts: &Options) -> Result<Vec<Row>> {
    use crate::graph::{ConvParams, Op};
    use crate::kernels::conv2d::ConvVariant;
    let (b, cin, cout, hw) = if opts.quick {
        (4, 8, 16, 16)
    } else {
        (32, 32, 64, 32)
    };
    let p = ConvParams {
        padding: [1, 1],
        ..ConvParams::default()
    };
    let xs: Vec<Tensor> = (0..3)
        .map(|_| Tensor::randn(dev, &[b, cin, hw, hw]))
        .collect::<Result<_>>()?;
    let w = Tensor::randn(dev, &[cout, cin, 3, 3])?;
    let dy = Tensor::randn(dev, &[b, cout, hw, hw])?;
    let mut all: Vec<&Tensor> = xs.iter().collect();
    all.extend([&w, &dy]);
    Tensor::realize_all(&all)?;
    let flops = 2.0 * (b * cout * hw * hw * cin * 9) as f64;
    let shape = format!("b{b} {cin}->{cout} {hw}x{hw} 3x3");
    let mut rows = Vec::new();
    let mut variants = vec![ConvVariant::Tiled, ConvVariant::Direct];
    if crate::kernels::matmul::lanes(dev).is_some() {
        variants.insert(0, ConvVariant::Lanes);
    }
    let chosen = ConvVariant::choose(dev);
    let reps = if opts.quick { 3 } else { 5 };
    for v in variants {
        dev.set_conv_variant(Some(v));
        for (pass, name) in [(0, "forward"), (1, "grad input"), (2, "grad weight")] {
            let t = time(dev, 1, reps, |i| {
                let x = &xs[i % 3];
                let y = match pass {
                    0 => x.conv2d(&w, None, p)?,
                    1 => Tensor::record(
                        dev,
                        x.shape().to_vec(),
                        DType::F32,
                        Op::Conv2dGradInput(p),
                        vec![dy.clone(), w.clone()],
                    ),
                    _ => {
                        let splits = crate::kernels::conv2d::weight_grad_splits(b, hw, hw);
                        let mut s = vec![splits];
                        s.extend_from_slice(w.shape());
                        Tensor::record(
                            dev,
                            s,
                            DType::F32,
                            Op::Conv2dGradWeight { params: p, splits },
                            vec![dy.clone(), x.clone()],
                        )
                        .sum(&[0], false)?
                    }
                };
                y.realize()?;
                Ok(())
            })?;
            rows.push(Row {
                kernel: "conv2d".into(),
                variant: format!("{} {name}{}", v.name(), if v == chosen { " *" } else { "" }),
                shape: shape.clone(),
                median_ms: t.median_ms,
                min_ms: t.min_ms,
                first_ms: t.first_ms,
                gflops: Some(flops / t.median_ms / 1e6),
                gbps: None,
                note: String::new(),
            });
        }
    }
    dev.set_conv_variant(None);
    // A matmul of the same FLOPs: (b*hw*hw) x (cin*9) x cout.
    let a = Tensor::randn(dev, &[b * hw * hw, cin * 9])?;
    let bm = Tensor::randn(dev, &[cin * 9, cout])?;
    Tensor::realize_all(&[&a, &bm])?;
    let t = time(dev, 1, reps, |_| {
        a.matmul(&bm)?.realize()?;
        Ok(())
    })?;
    rows.push(Row {
        kernel: "conv2d".into(),
        variant: "matmul, same FLOPs".into(),
        shape: format!("{}x{}x{}", b * hw * hw, cin * 9, cout),
        median_ms: t.median_ms,
        min_ms: t.min_ms,
        first_ms: t.first_ms,
        gflops: Some(flops / t.median_ms / 1e6),
        gbps: None,
        note: String::new(),
    });
    // Batch norm, training: stats, normalise, and the closed-form backward.
    let gamma = crate::nn::parameter(Tensor::ones(dev, &[cout], DType::F32)?)?;
    let beta = crate::nn::parameter(Tensor::zeros(dev, &[cout], DType::F32)?)?;
    let xb = crate::nn::parameter(Tensor::randn(dev, &[b, cout, hw, hw])?)?;
    let t = time(dev, 1, reps, |_| {
        xb.zero_grad();
        let (y, _) = xb.batch_norm_train(&gamma, &beta, 1e-5)?;
        y.mul(&dy)?.sum_all()?.backward()?;
        dev.realize_pending()?;
        Ok(())
    })?;
    // Bytes: stats read x; forward reads x, writes y; backward reads x, dy twice, writes dx.
    let bytes = (b * cout * hw * hw * 4) as f64 * 7.0;
    rows.push(Row {
        kernel: "batchnorm".into(),
        variant: "forward+backward".into(),
        shape: format!("b{b} c{cout} {hw}x{hw}"),
        median_ms: t.median_ms,
        min_ms: t.min_ms,
        first_ms: t.first_ms,
        gflops: None,
        gbps: Some(bytes / t.median_ms / 1e6),
        note: "includes y.mul(dy).sum() to seed the backward".into(),
    });
    Ok(rows)
}
