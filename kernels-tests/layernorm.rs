//! Layer norm and RMSNorm: forward against float64, and the closed-form
//! gradients (input, weight, bias) against finite differences of the float64
//! forward, on odd row lengths, in every kernel form.

use crate::common::*;
use shadergrad::{Device, Tensor, Tuning};
use shadergrad_reference::layernorm::Norm;
use shadergrad_reference::values;

fn norm(c: usize, rms: bool) -> Norm {
    Norm {
        cols: c,
        rms,
        eps: 1e-5,
    }
}

fn norm_ref(x: &[f64], g: &[f64], b: Option<&[f64]>, c: usize, rms: bool) -> Vec<f64> {
    values(&norm(c, rms).forward(x, g, b))
}

#[test]
fn forward_and_closed_form_backward() {
    // Every form, on one device each: as the engine picks (one kernel each way
    // on a software adapter with subgroups); subgroups off when recorded (the
    // GPUs' statistics kernel and fused elementwise ones); and recorded with
    // them but run without (the one-kernel forms' row-per-invocation fallback).
    let forms: Vec<(Device, bool)> = (0..3)
        .map(|form| {
            let d = Device::new().unwrap();
            d.set_tuning(Tuning {
                poison: true,
                ..d.tuning()
            });
            d.set_tuning(Tuning {
                subgroups: form != 1,
                ..d.tuning()
            });
            (d, form == 2)
        })
        .collect();
    let mut r = rng(95);
    let mut vals = |n: usize, lo: f32, hi: f32| -> Vec<f64> {
        uniform(&mut r, n, lo, hi)
            .iter()
            .map(|&v| v as f64)
            .collect()
    };
    for rms in [false, true] {
        for &(rows, c) in &[(1usize, 1usize), (7, 33), (65, 17), (130, 21)] {
            let (x, g, b) = (
                vals(rows * c, -2.0, 2.0),
                vals(c, 0.5, 1.5),
                vals(c, -0.5, 0.5),
            );
            let u = vals(rows * c, -1.0, 1.0);
            let y = norm_ref(&x, &g, (!rms).then_some(&b[..]), c, rms);
            let grads = finite_differences(&[&x, &g, &b], |v| {
                norm_ref(&v[0], &v[1], (!rms).then_some(&v[2][..]), c, rms)
                    .iter()
                    .zip(&u)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            });
            // The reference's closed form against the differences; the GPU's
            // forms are checked against it.
            let closed = norm(c, rms).backward(&x, &g, &u);
            let closed = vec![
                values(&closed.dx),
                values(&closed.dgamma),
                values(&closed.dbeta),
            ];
            let name = if rms { "rms_norm" } else { "layer_norm" };
            for (k, what) in
                ["dx", "dgamma", "dbeta"]
                    .iter()
                    .enumerate()
                    .take(if rms { 2 } else { 3 })
            {
                assert_matches_differences(
                    &format!("reference {name} {rows}x{c} {what}"),
                    &closed[k],
                    &grads[k],
                );
            }
            for (d, fall_back) in &forms {
                check(d, *fall_back, rms, (rows, c), [&x, &g, &b, &u], &y, &closed);
            }
        }
    }
}

/// The norm of x with weights g (and bias b) on `d`, backward from u, against
/// the float64 forward `y` and the reference gradients.
fn check(
    d: &Device,
    fall_back: bool,
    rms: bool,
    (rows, c): (usize, usize),
    [x, g, b, u]: [&[f64]; 4],
    y: &[f64],
    grads: &[Vec<f64>],
) {
    let name = &format!("{} {rows}x{c}", if rms { "rms_norm" } else { "layer_norm" });
    let t = |v: &[f64], s: &[usize]| {
        let v: Vec<f32> = v.iter().map(|&e| e as f32).collect();
        Tensor::from_slice(d, &v, s).unwrap()
    };
    let tx = shadergrad::nn::parameter(t(x, &[rows, c])).unwrap();
    let tg = shadergrad::nn::parameter(t(g, &[c])).unwrap();
    let tb = shadergrad::nn::parameter(t(b, &[c])).unwrap();
    let ty = if rms {
        tx.rms_norm(&tg, 1e-5)
    } else {
        tx.layer_norm(&tg, &tb, 1e-5)
    }
    .unwrap();
    ty.mul(&t(u, &[rows, c]))
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    if fall_back {
        d.set_tuning(Tuning {
            subgroups: false,
            ..d.tuning()
        });
    }
    assert_close(name, &read(&ty), y, 1e-4, 1e-5);
    // A one-feature row has no spread: its gradient is all rounding.
    let atol = if c == 1 { 1e-2 } else { 2e-4 };
    assert_close(
        &format!("{name} dx"),
        &read(&tx.grad().unwrap()),
        &grads[0],
        2e-3,
        atol,
    );
    assert_close(
        &format!("{name} dgamma"),
        &read(&tg.grad().unwrap()),
        &grads[1],
        1e-3,
        1e-4,
    );
    if !rms {
        assert_close(
            &format!("{name} dbeta"),
            &read(&tb.grad().unwrap()),
            &grads[2],
            1e-3,
            1e-4,
        );
    }
    if fall_back {
        d.set_tuning(Tuning {
            subgroups: true,
            ..d.tuning()
        });
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
