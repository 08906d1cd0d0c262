//! Layer norm and RMSNorm: forward against float64, and the closed-form
//! gradients (input, weight, bias) against finite differences of the float64
//! forward, on odd row lengths, in every kernel form.

use crate::common::*;
use shadergrad::{Device, Tensor};

fn norm_ref(x: &[f64], g: &[f64], b: Option<&[f64]>, c: usize, rms: bool) -> Vec<f64> {
    x.chunks(c)
        .flat_map(|row| {
            let n = c as f64;
            let mean = if rms {
                0.0
            } else {
                row.iter().sum::<f64>() / n
            };
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            let r = 1.0 / (var + 1e-5).sqrt();
            row.iter()
                .enumerate()
                .map(move |(j, v)| (v - mean) * r * g[j] + b.map_or(0.0, |b| b[j]))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn forward_and_closed_form_backward() {
    // 0: as the engine picks (one kernel each way on a software adapter with
    // subgroups); 1: subgroups off when recorded (the GPUs' statistics kernel
    // and fused elementwise ones); 2: recorded with them, run without (the
    // one-kernel forms' row-per-invocation fallback).
    for form in 0..3 {
        let d = Device::new().unwrap();
        d.set_poison_outputs(true);
        d.set_subgroup_kernels(form != 1);
        every_shape(&d, form == 2);
    }
}

fn every_shape(d: &Device, fall_back: bool) {
    let tensor = |v: &[f32], s: &[usize]| Tensor::from_slice(d, v, s).unwrap();
    let mut r = rng(95);
    for rms in [false, true] {
        for &(rows, c) in &[(1usize, 1usize), (7, 33), (65, 17), (130, 21)] {
            let vals = |r: &mut rand::rngs::StdRng, n: usize, lo: f32, hi: f32| -> Vec<f64> {
                uniform(r, n, lo, hi).iter().map(|&v| v as f64).collect()
            };
            let x = vals(&mut r, rows * c, -2.0, 2.0);
            let g = vals(&mut r, c, 0.5, 1.5);
            let b = vals(&mut r, c, -0.5, 0.5);
            let u = vals(&mut r, rows * c, -1.0, 1.0);
            let bias = (!rms).then_some(&b[..]);
            let y = norm_ref(&x, &g, bias, c, rms);
            let loss = |x: &[f64], g: &[f64], b: &[f64]| {
                norm_ref(x, g, (!rms).then_some(b), c, rms)
                    .iter()
                    .zip(&u)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            };
            let fd = |f: &dyn Fn(usize, f64) -> f64, n: usize| -> Vec<f64> {
                (0..n).map(|j| (f(j, 1e-6) - f(j, -1e-6)) / 2e-6).collect()
            };
            let dx = fd(
                &|j, h| {
                    let mut a = x.clone();
                    a[j] += h;
                    loss(&a, &g, &b)
                },
                x.len(),
            );
            let dg = fd(
                &|j, h| {
                    let mut a = g.clone();
                    a[j] += h;
                    loss(&x, &a, &b)
                },
                c,
            );
            let db = fd(
                &|j, h| {
                    let mut a = b.clone();
                    a[j] += h;
                    loss(&x, &g, &a)
                },
                c,
            );
            let f = |v: &[f64]| v.iter().map(|&e| e as f32).collect::<Vec<_>>();
            let tx = shadergrad::nn::parameter(tensor(&f(&x), &[rows, c])).unwrap();
            let tg = shadergrad::nn::parameter(tensor(&f(&g), &[c])).unwrap();
            let tb = shadergrad::nn::parameter(tensor(&f(&b), &[c])).unwrap();
            let ty = if rms {
                tx.rms_norm(&tg, 1e-5)
            } else {
                tx.layer_norm(&tg, &tb, 1e-5)
            }
            .unwrap();
            let name = format!("{} {rows}x{c}", if rms { "rms_norm" } else { "layer_norm" });
            ty.mul(&tensor(&f(&u), &[rows, c]))
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            if fall_back {
                d.set_subgroup_kernels(false);
            }
            assert_close(&name, &read(&ty), &y, 1e-4, 1e-5);
            // A one-feature row has no spread: its gradient is all rounding.
            let atol = if c == 1 { 1e-2 } else { 2e-4 };
            assert_close(
                &format!("{name} dx"),
                &read(&tx.grad().unwrap()),
                &dx,
                2e-3,
                atol,
            );
            assert_close(
                &format!("{name} dgamma"),
                &read(&tg.grad().unwrap()),
                &dg,
                1e-3,
                1e-4,
            );
            if !rms {
                assert_close(
                    &format!("{name} dbeta"),
                    &read(&tb.grad().unwrap()),
                    &db,
                    1e-3,
                    1e-4,
                );
            }
            if fall_back {
                d.set_subgroup_kernels(true);
            }
        }
    }
}

#[test]
fn bad_weights_are_typed_errors() {
    let x = tensor(&[0.0; 12], &[3, 4]);
    let w = tensor(&[1.0; 3], &[3]);
    let e = x.layer_norm(&w, &w, 1e-5).unwrap_err();
    assert!(
        e.to_string().contains("layer_norm") && e.to_string().contains("[3, 4]"),
        "{e}"
    );
    assert!(x.rms_norm(&w, 1e-5).is_err());
}
