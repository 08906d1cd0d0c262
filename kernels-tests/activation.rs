//! ELU, SELU and softplus (with beta and threshold) against the float64
//! references, across both branches and PyTorch's side at 0, their gradients
//! (references checked by finite differences), no NaN from the branch not
//! taken at large inputs, the nn modules, and typed errors.

use crate::common::*;
use shadergrad::nn::{Elu, Module, Selu, Sequential, Softplus};
use shadergrad::{Error, Result, Tensor};
use shadergrad_reference::activation::{elu, elu_grad, selu, selu_grad, softplus, softplus_grad};
use shadergrad_reference::widen;

type Op = Box<dyn Fn(&Tensor) -> Result<Tensor>>;
type Scalar = Box<dyn Fn(f64) -> f64>;

/// (name, GPU op, f, f')
fn cases() -> Vec<(String, Op, Scalar, Scalar)> {
    let mut out: Vec<(String, Op, Scalar, Scalar)> = Vec::new();
    for alpha in [1.0, 0.3] {
        out.push((
            format!("elu({alpha})"),
            Box::new(move |x| x.elu(alpha)),
            Box::new(move |x| elu(x, alpha)),
            Box::new(move |x| elu_grad(x, alpha)),
        ));
    }
    out.push((
        "selu".into(),
        Box::new(|x| x.selu()),
        Box::new(selu),
        Box::new(selu_grad),
    ));
    for (beta, threshold) in [(1.0, 20.0), (2.0, 3.0), (0.5, 1.0)] {
        out.push((
            format!("softplus({beta}, {threshold})"),
            Box::new(move |x| x.softplus(beta, threshold)),
            Box::new(move |x| softplus(x, beta, threshold)),
            Box::new(move |x| softplus_grad(x, beta, threshold)),
        ));
    }
    out
}

#[test]
fn values_and_gradients_match_float64() {
    let mut r = rng(340);
    // 3 x 43 values across both branches (and each softplus threshold), with
    // 0 itself, where ELU's gradient takes its negative side as PyTorch's does.
    let mut v = uniform(&mut r, 129, -6.0, 6.0);
    v[5] = 0.0;
    for (name, op, f, df) in cases() {
        let x = shadergrad::nn::parameter(tensor(&v, &[3, 43])).unwrap();
        let y = op(&x).unwrap();
        let want: Vec<f64> = v.iter().map(|&a| f(a as f64)).collect();
        assert_close(&name, &read(&y), &want, 1e-5, 1e-6);
        let u = uniform(&mut r, 129, -1.0, 1.0);
        y.backward_with(&tensor(&u, &[3, 43])).unwrap();
        let want: Vec<f64> = v
            .iter()
            .zip(&u)
            .map(|(&a, &g)| g as f64 * df(a as f64))
            .collect();
        assert_close(
            &format!("{name} gradient"),
            &read(&x.grad().unwrap()),
            &want,
            1e-5,
            1e-6,
        );
    }
}

#[test]
fn large_inputs_give_finite_gradients() {
    // exp(100) overflows f32: the branch not taken must not turn into NaN.
    let v = [100.0f32, -100.0, 50.0, -0.0];
    for (name, op, _, df) in cases() {
        let x = shadergrad::nn::parameter(tensor(&v, &[4])).unwrap();
        let y = op(&x).unwrap();
        y.sum_all().unwrap().backward().unwrap();
        let want: Vec<f64> = v.iter().map(|&a| df(a as f64)).collect();
        assert_close(
            &format!("{name} at large x"),
            &read(&x.grad().unwrap()),
            &want,
            1e-5,
            1e-6,
        );
    }
}

#[test]
fn the_reference_gradients_match_finite_differences() {
    let mut r = rng(341);
    // Clear of the kinks at 0 and at each threshold, where differences are meaningless.
    let x: Vec<f64> = widen(&uniform(&mut r, 40, -4.0, 4.0))
        .into_iter()
        .map(|a| if a.abs() < 0.05 { a + 0.1 } else { a })
        .filter(|&a| {
            [(2.0, 3.0), (0.5, 1.0)]
                .iter()
                .all(|(b, t)| (b * a - t).abs() > 1e-3)
        })
        .collect();
    for (name, _, f, df) in cases() {
        let loss = |v: &[Vec<f64>]| v[0].iter().map(|&a| f(a)).sum::<f64>();
        let fd = finite_differences(&[&x], loss);
        let want: Vec<f64> = x.iter().map(|&a| df(a)).collect();
        assert_matches_differences(&name, &want, &fd[0]);
    }
}

#[test]
fn modules_have_pytorchs_defaults() {
    let v = [-2.0f32, -0.5, 0.0, 0.7, 25.0];
    let x = tensor(&v, &[5]);
    let net = Sequential::new()
        .push(Elu::default())
        .push(Selu)
        .push(Softplus::default());
    let got = read(&net.forward(&x).unwrap());
    let want: Vec<f64> = v
        .iter()
        .map(|&a| softplus(selu(elu(a as f64, 1.0)), 1.0, 20.0))
        .collect();
    assert_close("elu, selu, softplus modules", &got, &want, 1e-5, 1e-6);
    let e = read(&Elu::new(0.5).forward(&x).unwrap());
    let want: Vec<f64> = v.iter().map(|&a| elu(a as f64, 0.5)).collect();
    assert_close("Elu::new(0.5)", &e, &want, 1e-5, 1e-6);
    let s = read(&Softplus::new(2.0, 1.0).forward(&x).unwrap());
    let want: Vec<f64> = v.iter().map(|&a| softplus(a as f64, 2.0, 1.0)).collect();
    assert_close("Softplus::new(2, 1)", &s, &want, 1e-5, 1e-6);
}

#[test]
fn bad_parameters_and_dtypes_are_typed_errors() {
    let x = tensor(&[1.0, -1.0], &[2]);
    let invalid = |r: Result<Tensor>, op: &str| match r {
        Err(Error::InvalidArgument { op: o, shape, .. }) => {
            assert_eq!((o, shape.as_slice()), (op, &[2usize][..]))
        }
        other => panic!("{op}: expected InvalidArgument, got {other:?}"),
    };
    invalid(x.elu(f64::NAN), "elu");
    invalid(x.elu(f64::INFINITY), "elu");
    invalid(x.softplus(0.0, 20.0), "softplus");
    invalid(x.softplus(-1.0, 20.0), "softplus");
    invalid(x.softplus(1.0, f64::NAN), "softplus");
    let i = Tensor::from_slice(dev(), &[1i32, 2], &[2]).unwrap();
    for (op, r) in [
        ("elu", i.elu(1.0)),
        ("selu", i.selu()),
        ("softplus", i.softplus(1.0, 20.0)),
    ] {
        assert!(
            matches!(&r, Err(Error::UnsupportedDType { op: o, .. }) if *o == op),
            "{op}: {r:?}"
        );
    }
}
