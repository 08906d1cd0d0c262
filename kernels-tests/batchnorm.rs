//! Batch norm: training statistics, the closed-form gradient (checked against
//! a float64 reference that finite differences check in turn), running
//! averages, and evaluation mode.

use crate::common::*;
use shadergrad::Tensor;
use shadergrad::nn::{Module, Stateful};
use shadergrad_reference::batchnorm::BatchNorm;
use shadergrad_reference::values;

/// Reference forward over (B, C, S).
fn bn_ref(x: &[f64], g: &[f64], be: &[f64], b: usize, c: usize, s: usize) -> Vec<f64> {
    values(&layer(b, c, s).forward(x, g, be))
}

fn layer(batch: usize, channels: usize, spatial: usize) -> BatchNorm {
    BatchNorm {
        batch,
        channels,
        spatial,
        eps: 1e-5,
    }
}

#[test]
fn training_forward_and_closed_form_backward() {
    let mut r = rng(70);
    for &(b, c, s) in &[(4usize, 3usize, 1usize), (2, 3, 35), (1, 5, 7)] {
        let shape: Vec<usize> = match s {
            1 => vec![b, c],
            35 => vec![b, c, 5, 7],
            _ => vec![b, c, s],
        };
        let x: Vec<f64> = uniform(&mut r, b * c * s, -2.0, 2.0)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let g: Vec<f64> = uniform(&mut r, c, 0.5, 1.5)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let be: Vec<f64> = uniform(&mut r, c, -0.5, 0.5)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let u: Vec<f64> = uniform(&mut r, x.len(), -1.0, 1.0)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let y = bn_ref(&x, &g, &be, b, c, s);
        let loss = |x: &[f64], g: &[f64], be: &[f64]| {
            bn_ref(x, g, be, b, c, s)
                .iter()
                .zip(&u)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        // The reference's closed form against finite differences of the
        // float64 forward; the GPU's must match it.
        let fd = finite_differences(&[&x, &g, &be], |v| loss(&v[0], &v[1], &v[2]));
        let closed = layer(b, c, s).backward(&x, &g, &u);
        let (dx, dg, db) = (
            &values(&closed.dx),
            &values(&closed.dgamma),
            &values(&closed.dbeta),
        );
        for (name, analytic, fd) in [
            ("dx", dx, &fd[0]),
            ("dgamma", dg, &fd[1]),
            ("dbeta", db, &fd[2]),
        ] {
            assert_matches_differences(&format!("batch norm {name}"), analytic, fd);
        }
        let f = |v: &[f64]| v.iter().map(|&e| e as f32).collect::<Vec<_>>();
        let tx = shadergrad::nn::parameter(tensor(&f(&x), &shape)).unwrap();
        let tg = shadergrad::nn::parameter(tensor(&f(&g), &[c])).unwrap();
        let tb = shadergrad::nn::parameter(tensor(&f(&be), &[c])).unwrap();
        let (ty, _) = tx.batch_norm_train(&tg, &tb, 1e-5).unwrap();
        let label = format!("batch norm {shape:?}");
        assert_close(&label, &read(&ty), &y, 1e-4, 1e-5);
        ty.mul(&tensor(&f(&u), &shape))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_close(
            &format!("{label} dx"),
            &read(&tx.grad().unwrap()),
            dx,
            2e-3,
            2e-4,
        );
        assert_close(
            &format!("{label} dgamma"),
            &read(&tg.grad().unwrap()),
            dg,
            1e-3,
            1e-4,
        );
        assert_close(
            &format!("{label} dbeta"),
            &read(&tb.grad().unwrap()),
            db,
            1e-3,
            1e-4,
        );
    }
}

#[test]
fn running_statistics_and_evaluation_mode() {
    let d = shadergrad::Device::new().unwrap();
    let bn = shadergrad::nn::BatchNorm::new(&d, 2).unwrap();
    // Channel 0 holds 1..4 (mean 2.5, unbiased var 5/3); channel 1 is 10 + 2 * that.
    let v = [1.0f32, 10.0, 2.0, 12.0, 3.0, 14.0, 4.0, 16.0];
    let x = Tensor::from_slice(&d, &v, &[4, 2]).unwrap();
    bn.forward(&x).unwrap().realize().unwrap();
    let rm = bn.running_mean.to_vec::<f32>().unwrap();
    let rv = bn.running_var.to_vec::<f32>().unwrap();
    assert_close("running mean", &rm, &[0.25, 0.1 * 13.0], 1e-5, 1e-6);
    assert_close(
        "running var",
        &rv,
        &[0.9 + 0.1 * 5.0 / 3.0, 0.9 + 0.1 * 20.0 / 3.0],
        1e-5,
        1e-6,
    );
    bn.set_training(false);
    let y = bn.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let want: Vec<f64> = v
        .iter()
        .enumerate()
        .map(|(i, &e)| (e as f64 - rm[i % 2] as f64) / (rv[i % 2] as f64 + 1e-5).sqrt())
        .collect();
    assert_close("eval", &y, &want, 1e-5, 1e-6);
    // A batch of one in training mode has no variance: a typed error.
    bn.set_training(true);
    let one = Tensor::from_slice(&d, &[1.0f32, 2.0], &[1, 2]).unwrap();
    let e = bn.forward(&one).expect_err("an error");
    assert!(
        e.to_string().contains("batch_norm") && e.to_string().contains("[1, 2]"),
        "{e}"
    );
}
