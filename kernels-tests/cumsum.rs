//! cumsum against the float64 references: both forms (a row per invocation; a workgroup per
//! long row), other axes, i32 exactly, and the gradient (the reversed sum),
//! whose reference is checked by finite differences.

use crate::common::*;
use shadergrad::{DType, Tensor};
use shadergrad_reference::cumsum::{cumsum_backward_rows, cumsum_rows};
use shadergrad_reference::widen;

/// The values of a reference's (value, scale) pairs.
fn values(v: Vec<(f64, f64)>) -> Vec<f64> {
    v.into_iter().map(|(x, _)| x).collect()
}

fn cumsum_ref(v: &[f64], cols: usize) -> Vec<f64> {
    values(cumsum_rows(v, cols))
}

fn cumsum_grad_ref(g: &[f64], cols: usize) -> Vec<f64> {
    values(cumsum_backward_rows(g, cols))
}

#[test]
fn rows_of_every_length_and_their_gradient() {
    let mut r = rng(80);
    // Short rows, many rows, and few long rows (the workgroup-per-row form,
    // with a last chunk shorter than the others).
    for &(rows, cols) in &[(1, 1), (7, 3), (300, 17), (3, 1000), (2, 4099)] {
        let v = uniform(&mut r, rows * cols, -1.0, 1.0);
        let g = uniform(&mut r, rows * cols, -1.0, 1.0);
        let x = shadergrad::nn::parameter(tensor(&v, &[rows, cols])).unwrap();
        let y = x.cumsum(1).unwrap();
        y.backward_with(&tensor(&g, &[rows, cols])).unwrap();
        let what = format!("cumsum {rows}x{cols}");
        // Each output sums up to `cols` terms of magnitude <= 1.
        let tol = 1e-6 * cols as f64;
        assert_close(&what, &read(&y), &cumsum_ref(&widen(&v), cols), 1e-5, tol);
        let dx = read(&x.grad().unwrap());
        let want = cumsum_grad_ref(&widen(&g), cols);
        assert_close(&format!("{what} gradient"), &dx, &want, 1e-5, tol);
    }
}

#[test]
fn the_reference_gradient_matches_finite_differences() {
    let mut r = rng(81);
    let (rows, cols) = (3, 7);
    let x = widen(&uniform(&mut r, rows * cols, -1.0, 1.0));
    let w = widen(&uniform(&mut r, rows * cols, -1.0, 1.0));
    // loss = sum(w * cumsum(x)): its gradient is cumsum's backward of w.
    let loss = |v: &[Vec<f64>]| -> f64 {
        cumsum_ref(&v[0], cols)
            .iter()
            .zip(&w)
            .map(|(a, b)| a * b)
            .sum()
    };
    let fd = finite_differences(&[&x], loss);
    let want = cumsum_grad_ref(&w, cols);
    for (a, b) in fd[0].iter().zip(&want) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn other_axes_integers_and_scalars() {
    let mut r = rng(82);
    let v = uniform(&mut r, 4 * 5 * 6, -1.0, 1.0);
    let x = tensor(&v, &[4, 5, 6]);
    // Along axis 1: permute the reference the same way.
    let got = read(&x.cumsum(1).unwrap());
    let mut want = vec![0.0; v.len()];
    for a in 0..4 {
        for c in 0..6 {
            let mut s = 0.0;
            for b in 0..5 {
                s += v[(a * 5 + b) * 6 + c] as f64;
                want[(a * 5 + b) * 6 + c] = s;
            }
        }
    }
    assert_close("cumsum axis 1", &got, &want, 1e-5, 1e-6);
    // i32: exact.
    let ints: Vec<i32> = (0..1000).map(|i| (i * 7919 % 201) - 100).collect();
    let t = Tensor::from_slice(dev(), &ints, &[1000]).unwrap();
    let got = t.cumsum(0).unwrap().to_vec::<i32>().unwrap();
    let want: Vec<i32> = ints
        .iter()
        .scan(0, |s, &x| {
            *s += x;
            Some(*s)
        })
        .collect();
    assert_eq!(got, want);
    // A 0-d tensor is its own sum; bool and f16 are refused by name.
    assert_eq!(read(&tensor(&[2.5], &[]).cumsum(0).unwrap()), vec![2.5]);
    let b = tensor(&[1.0], &[1]).gt(0.0).unwrap();
    let e = b.cumsum(0).unwrap_err();
    assert!(e.to_string().contains("cumsum"), "{e}");
    assert_eq!(
        Tensor::zeros(dev(), &[0, 3], DType::F32)
            .unwrap()
            .cumsum(1)
            .unwrap()
            .shape(),
        &[0, 3]
    );
}
