//! Our side of the single-kernel workloads, end to end: matmul_512 and
//! matmul_1024 (both operands uploaded per run), conv2d_b32_32_64_32x32_3x3
//! (x uploaded per run, the weight fixed; stride 1, padding 1, no bias),
//! softmax_4096x1024, and attention_composed_n256 / _n1024 (q, k, v
//! uploaded per run; softmax(q k^T / 8) v composed, and our fused kernel
//! beside it against the same peer workload).

use shadergrad::{ConvParams, ConvVariant, DType, Device, MatmulVariant, Result, Tensor};
use shadergrad_reference::attention::Attention;
use shadergrad_reference::conv2d::Conv2d;
use shadergrad_reference::matmul::Product;
use shadergrad_reference::softmax::softmax_row;

use crate::bench::check::{self, Tol};
use crate::bench::data::Rng;
use crate::bench::measure::{Ctx, gate};
use crate::bench::peer::{Bench, e2e};
use crate::bench::suites::{attention as attn, dims, reduce};

/// Input sets a workload rotates through, uploaded inside the timed region.
pub(crate) const SETS: usize = 4;

/// `SETS` vectors of `n` values uniform in [lo, hi), seeded.
pub(crate) fn host_sets(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    (0..SETS).map(|_| rng.vec(n, lo, hi)).collect()
}

/// Uploads set `i` (mod `SETS`) of `sets` as `shape`.
pub(crate) fn upload(dev: &Device, sets: &[Vec<f32>], i: usize, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_slice(dev, &sets[i % SETS], shape)
}

pub(crate) fn matmul(ctx: &mut Ctx, bench: &mut Bench, n: usize) -> Result<()> {
    let workload = if n == 512 {
        "matmul_512"
    } else {
        "matmul_1024"
    };
    if !bench.wants(ctx, workload, "matmul") {
        return Ok(());
    }
    let dev = ctx.dev;
    let (a, b) = (
        host_sets(700 + n as u64, n * n, -1.0, 1.0),
        host_sets(701 + n as u64, n * n, -1.0, 1.0),
    );
    let (ha, hb) = (
        shadergrad_reference::widen(&a[0]),
        shadergrad_reference::widen(&b[0]),
    );
    let product = Product {
        a: &ha,
        b: &hb,
        m: n,
        k: n,
        n,
        a_transposed: false,
        b_transposed: false,
    };
    let variant = MatmulVariant::choose(dev).0;
    let nf = n as f64;
    let case = e2e(workload, "matmul", variant.name(), dims(&[n, n, n]))
        .work(2.0 * nf * nf * nf, 3.0 * nf * nf * 4.0)
        .note("A and B uploaded per run, C read back")
        .run(move |i| {
            Ok(vec![upload(dev, &a, i, &[n, n])?.matmul(&upload(
                dev,
                &b,
                i,
                &[n, n],
            )?)?])
        })
        .check(move |o| {
            gate(o, 1, |o| {
                let max = check::budget(n * n, nf);
                check::elements(&o[0], n * n, max, Tol::F32, |e| product.element(e))
            })
        });
    bench.measure(ctx, workload, case);
    Ok(())
}

pub(crate) fn conv2d(ctx: &mut Ctx, bench: &mut Bench) -> Result<()> {
    let workload = "conv2d_b32_32_64_32x32_3x3";
    if !bench.wants(ctx, workload, "conv2d") {
        return Ok(());
    }
    let dev = ctx.dev;
    let (b, cin, cout, hw) = (32, 32, 64, 32);
    let x = host_sets(731, b * cin * hw * hw, -1.0, 1.0);
    let w_host = Rng::new(732).vec(cout * cin * 9, -0.5, 0.5);
    let w = Tensor::from_slice(dev, &w_host, &[cout, cin, 3, 3])?;
    let (hx, hw_) = (
        shadergrad_reference::widen(&x[0]),
        shadergrad_reference::widen(&w_host),
    );
    let reference = Conv2d::new(b, [cin, cout], [hw, hw], [3, 3], 1);
    let p = ConvParams {
        padding: [1, 1],
        ..ConvParams::default()
    };
    let flops = 2.0 * (b * cout * hw * hw * cin * 9) as f64;
    let ny = b * cout * hw * hw;
    let bytes = ((b * cin * hw * hw + cout * cin * 9 + ny) * 4) as f64;
    let shape = format!("b{b} {cin}->{cout} {hw}x{hw} 3x3");
    let case = e2e(workload, "conv2d", ConvVariant::choose(dev).name(), shape)
        .work(flops, bytes)
        .note("x uploaded per run, the weight fixed, y read back")
        .run(move |i| {
            Ok(vec![
                upload(dev, &x, i, &[b, cin, hw, hw])?.conv2d(&w, None, p)?,
            ])
        })
        .check(move |o| {
            gate(o, 1, |o| {
                let max = check::budget(ny, (cin * 9) as f64);
                check::elements(&o[0], ny, max, Tol::F32, |e| {
                    reference.forward_at(&hx, &hw_, e)
                })
            })
        });
    bench.measure(ctx, workload, case);
    Ok(())
}

pub(crate) fn softmax(ctx: &mut Ctx, bench: &mut Bench) -> Result<()> {
    let workload = "softmax_4096x1024";
    if !bench.wants(ctx, workload, "softmax") {
        return Ok(());
    }
    let dev = ctx.dev;
    let (r, c) = (4096, 1024);
    let x = host_sets(741, r * c, -4.0, 4.0);
    let hx = shadergrad_reference::widen(&x[0]);
    let numel = (r * c) as f64;
    let case = e2e(workload, "softmax", "kernel", dims(&[r, c]))
        .work(5.0 * numel, 2.0 * numel * 4.0)
        .note("x uploaded per run, y read back")
        .run(move |i| Ok(vec![upload(dev, &x, i, &[r, c])?.softmax(-1)?]))
        .check(move |o| {
            gate(o, 1, |o| {
                let max = check::budget(r, 6.0 * c as f64);
                let tol = reduce::softmax_tol(false, DType::F32);
                check::rows(&o[0], r, c, max, tol, |i| {
                    softmax_row(&hx[i * c..(i + 1) * c])
                })
            })
        });
    bench.measure(ctx, workload, case);
    Ok(())
}

/// The composed form (the peer's workload) and our fused kernel, each
/// alternating with the peer.
pub(crate) fn attention(ctx: &mut Ctx, bench: &mut Bench, n: usize) -> Result<()> {
    let workload = if n == 256 {
        "attention_composed_n256"
    } else {
        "attention_composed_n1024"
    };
    if !bench.wants(ctx, workload, "attention") {
        return Ok(());
    }
    let dev = ctx.dev;
    let shape = [attn::B, attn::HEADS, n, attn::D];
    let numel = shape.iter().product();
    let qkv: Vec<Vec<Vec<f32>>> = (0..3)
        .map(|k| host_sets(751 + k + n as u64, numel, -1.0, 1.0))
        .collect();
    let host: Vec<Vec<f64>> = qkv
        .iter()
        .map(|s| shadergrad_reference::widen(&s[0]))
        .collect();
    let reference = Attention::new(attn::B, attn::HEADS, n, attn::D);
    let rows = attn::B * attn::HEADS * n;
    let (qkv, host, reference) = (&qkv, &host, &reference);
    for fused in [false, true] {
        let variant = if fused { "fused" } else { "composed" };
        let case = e2e(
            workload,
            "attention",
            variant,
            format!("b{} h{} n{n} d{}", attn::B, attn::HEADS, attn::D),
        )
        .work(attn::forward_flops(n), attn::forward_bytes(n))
        .chosen(fused)
        .note(format!(
            "q, k, v uploaded per run, O read back; {}",
            attn::note(fused)
        ))
        .run(move |i| {
            let [q, k, v] = [0, 1, 2].map(|j| upload(dev, &qkv[j], i, &shape));
            Ok(vec![attn::engine(&q?, &k?, &v?, fused)?])
        })
        .check(move |o| {
            gate(o, 1, |o| {
                let max = check::budget(rows, (3 * n * attn::D) as f64);
                check::rows(&o[0], rows, attn::D, max, attn::TOL, |r| {
                    reference.row(&host[0], &host[1], &host[2], r)
                })
            })
        });
        bench.measure(ctx, workload, case);
    }
    Ok(())
}
