//! masked_fill against the float64 reference: masks broadcast to the
//! tensor's shape, a number or a 0-d tensor as the value, the gradients of
//! both (zero where masked; the masked sum for the value), checked by finite
//! differences, and typed errors.

use crate::common::*;
use shadergrad::{DType, Error, Tensor};
use shadergrad_reference::masked_fill::{masked_fill, masked_fill_backward};
use shadergrad_reference::widen;

fn mask(bits: &[bool], shape: &[usize]) -> Tensor {
    let v: Vec<f32> = bits.iter().map(|&b| b as u8 as f32).collect();
    tensor(&v, shape).gt(0.5).unwrap()
}

#[test]
fn broadcast_masks_and_both_gradients() {
    let mut r = rng(330);
    let shape = [3, 4, 5];
    let v = uniform(&mut r, 60, -1.0, 1.0);
    let masks: [&[usize]; 4] = [&[3, 4, 5], &[4, 1], &[5], &[3, 1, 1]];
    for mshape in masks {
        let n: usize = mshape.iter().product();
        let bits: Vec<bool> = uniform(&mut r, n, 0.0, 1.0)
            .iter()
            .map(|&b| b < 0.4)
            .collect();
        let x = shadergrad::nn::parameter(tensor(&v, &shape)).unwrap();
        let value = shadergrad::nn::parameter(tensor(&[-2.5], &[])).unwrap();
        let m = mask(&bits, mshape);
        let what = format!("masked_fill mask {mshape:?}");
        // A number, then a 0-d tensor that takes a gradient.
        let y = x.masked_fill(&m, 9.0).unwrap();
        let want = masked_fill(&widen(&v), &shape, &bits, mshape, 9.0);
        assert_close(&what, &read(&y), &want, 0.0, 0.0);
        let y = x.masked_fill(&m, &value).unwrap();
        let want = masked_fill(&widen(&v), &shape, &bits, mshape, -2.5);
        assert_close(&format!("{what} by a tensor"), &read(&y), &want, 0.0, 0.0);
        let u = uniform(&mut r, 60, -1.0, 1.0);
        y.backward_with(&tensor(&u, &shape)).unwrap();
        let (dx, dvalue) = masked_fill_backward(&widen(&u), &shape, &bits, mshape);
        assert_close(
            &format!("{what} d/dx"),
            &read(&x.grad().unwrap()),
            &dx,
            0.0,
            0.0,
        );
        let dv = read(&value.grad().unwrap());
        assert_close(&format!("{what} d/dvalue"), &dv, &[dvalue], 1e-5, 1e-6);
    }
}

#[test]
fn the_reference_gradients_match_finite_differences() {
    let mut r = rng(331);
    let (shape, mshape) = ([2, 3], [3]);
    let bits = [true, false, true];
    let x = widen(&uniform(&mut r, 6, -1.0, 1.0));
    let u = widen(&uniform(&mut r, 6, -1.0, 1.0));
    let loss = |v: &[Vec<f64>]| -> f64 {
        let y = masked_fill(&v[0], &shape, &bits, &mshape, v[1][0]);
        y.iter().zip(&u).map(|(a, b)| a * b).sum()
    };
    let fd = finite_differences(&[&x, &[0.3]], loss);
    let (dx, dvalue) = masked_fill_backward(&u, &shape, &bits, &mshape);
    assert_matches_differences("masked_fill d/dx", &dx, &fd[0]);
    assert_matches_differences("masked_fill d/dvalue", &[dvalue], &fd[1]);
}

#[test]
fn other_dtypes_and_bad_arguments() {
    let i = Tensor::from_slice(dev(), &[1i32, 2, 3, 4], &[2, 2]).unwrap();
    let m = mask(&[false, true], &[2]);
    let y = i.masked_fill(&m, -1.0).unwrap();
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, -1, 3, -1]);
    // A float value tensor is cast to the tensor's dtype, as PyTorch does.
    let y = i.masked_fill(&m, &tensor(&[5.0], &[])).unwrap();
    assert_eq!(y.to_vec::<i32>().unwrap(), vec![1, 5, 3, 5]);
    let x = tensor(&[0.0; 6], &[2, 3]);
    // The mask broadcasts to the tensor, never the tensor to the mask.
    let big = mask(&[true; 12], &[2, 2, 3]);
    let err = x.masked_fill(&big, 1.0).unwrap_err();
    assert!(
        matches!(&err, Error::ShapeMismatch { op: "masked_fill", lhs, rhs, .. } if lhs == &[2, 3] && rhs == &[2, 2, 3]),
        "{err}"
    );
    assert!(matches!(
        x.masked_fill(&mask(&[true; 2], &[2]), 1.0),
        Err(Error::ShapeMismatch {
            op: "masked_fill",
            ..
        })
    ));
    assert!(matches!(
        x.masked_fill(&x, 1.0),
        Err(Error::UnsupportedDType {
            op: "masked_fill",
            dtype: DType::F32,
            ..
        })
    ));
    assert!(matches!(
        x.masked_fill(&mask(&[true], &[1]), &tensor(&[1.0, 2.0], &[2])),
        Err(Error::ShapeMismatch {
            op: "masked_fill",
            ..
        })
    ));
}
