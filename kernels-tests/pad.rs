//! Constant padding against the float64 reference: F.pad's order of
//! (before, after) pairs from the last axis, asymmetric amounts, negative
//! amounts that crop, padding fused into the op that reads it, the gradient
//! (the output's, cropped back), checked by finite differences, and errors.

use crate::common::*;
use shadergrad::{DType, Error, Tensor};
use shadergrad_reference::movement::{pad, pad_backward, padded_shape};
use shadergrad_reference::widen;

#[test]
fn pads_and_crops_like_f_pad_with_its_gradient() {
    let mut r = rng(320);
    let shape = [2, 3, 5];
    let v = uniform(&mut r, 30, -1.0, 1.0);
    let cases: [(&[(isize, isize)], f64); 7] = [
        (&[(1, 2)], 0.0),
        (&[(0, 3), (2, 0)], -1.5),
        (&[(1, 1), (1, 1), (1, 1)], 7.0),
        (&[(-1, 2)], 0.0),
        (&[(-2, -1), (1, -2)], 0.5),
        (&[(-5, 1)], 0.0),
        (&[], 0.0),
    ];
    for (pads, value) in cases {
        let x = shadergrad::nn::parameter(tensor(&v, &shape)).unwrap();
        let y = x.pad(pads, value).unwrap();
        let what = format!("pad {pads:?} with {value}");
        assert_eq!(y.shape(), padded_shape(&shape, pads), "{what}");
        let want = pad(&widen(&v), &shape, pads, value);
        assert_close(&what, &read(&y), &want, 0.0, 0.0);
        let u = uniform(&mut r, y.numel(), -1.0, 1.0);
        let want = pad_backward(&widen(&u), &shape, pads);
        if !y.requires_grad() {
            // Every element cropped: the output is the value alone and
            // depends on nothing (PyTorch would give zeros).
            assert!(want.iter().all(|&g| g == 0.0), "{what}");
            continue;
        }
        y.backward_with(&tensor(&u, y.shape())).unwrap();
        let g = read(&x.grad().unwrap());
        assert_close(&format!("{what} gradient"), &g, &want, 0.0, 0.0);
    }
}

#[test]
fn padding_fuses_into_what_reads_it_and_keeps_integers() {
    let x = tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
    // exp of a padded tensor, padded again: one chain of views and concats.
    let y = x
        .pad(&[(1, 0)], 0.0)
        .unwrap()
        .exp()
        .unwrap()
        .pad(&[(0, 1), (1, 0)], 2.0)
        .unwrap();
    assert_eq!(y.shape(), &[3, 5]);
    let e = |v: f64| v.exp();
    let want = vec![
        2.0,
        2.0,
        2.0,
        2.0,
        2.0, //
        1.0,
        e(1.0),
        e(2.0),
        e(3.0),
        2.0, //
        1.0,
        e(4.0),
        e(5.0),
        e(6.0),
        2.0,
    ];
    assert_close("pad, exp, pad", &read(&y), &want, 1e-6, 1e-6);
    let i = Tensor::from_slice(dev(), &[1i32, 2, 3], &[3]).unwrap();
    let p = i.pad(&[(2, -1)], -7.0).unwrap();
    assert_eq!(p.dtype(), DType::I32);
    assert_eq!(p.to_vec::<i32>().unwrap(), vec![-7, -7, 1, 2]);
}

#[test]
fn the_reference_gradient_matches_finite_differences() {
    let mut r = rng(321);
    let shape = [3, 4];
    let pads: &[(isize, isize)] = &[(-1, 2), (1, -1)];
    let x = widen(&uniform(&mut r, 12, -1.0, 1.0));
    let n: usize = padded_shape(&shape, pads).iter().product();
    let u = widen(&uniform(&mut r, n, -1.0, 1.0));
    let loss = |v: &[Vec<f64>]| -> f64 {
        let y = pad(&v[0], &shape, pads, 0.25);
        y.iter().zip(&u).map(|(a, b)| a * b).sum()
    };
    let fd = finite_differences(&[&x], loss);
    assert_matches_differences("pad", &pad_backward(&u, &shape, pads), &fd[0]);
}

#[test]
fn bad_padding_is_a_typed_error() {
    let x = tensor(&[0.0; 6], &[2, 3]);
    let bad = |pads: &[(isize, isize)]| match x.pad(pads, 0.0) {
        Err(Error::InvalidArgument {
            op: "pad", shape, ..
        }) => assert_eq!(shape, [2, 3]),
        other => panic!("pad {pads:?}: expected InvalidArgument, got {other:?}"),
    };
    bad(&[(0, 0), (0, 0), (1, 1)]);
    bad(&[(-2, -2)]);
    bad(&[(-4, 5)]);
    bad(&[(0, 0), (-3, 0)]);
    // Cropping a whole axis is allowed (as in PyTorch): an empty tensor.
    assert_eq!(x.pad(&[(-1, -2)], 0.0).unwrap().shape(), &[2, 0]);
}
