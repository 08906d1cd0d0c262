//! flip against the float64 reference: any set of axes, folded with other
//! views (slices, transposes, reshapes, broadcasts), inside fused elementwise
//! chains and reductions, as a matmul and gather operand (copied first), and
//! its gradient (the flip of the output's), checked by finite differences.

use crate::common::*;
use shadergrad::{Error, Tensor};
use shadergrad_reference::movement::flip;
use shadergrad_reference::widen;

#[test]
fn flips_any_axes_and_its_gradient_is_the_flip() {
    let mut r = rng(310);
    let shape = [3, 4, 5];
    let v = uniform(&mut r, 60, -1.0, 1.0);
    let cases: [&[isize]; 6] = [&[0], &[1], &[-1], &[0, 2], &[2, 0, 1], &[]];
    for axes in cases {
        let x = shadergrad::nn::parameter(tensor(&v, &shape)).unwrap();
        let y = x.flip(axes).unwrap();
        let ax: Vec<usize> = axes.iter().map(|&a| a.rem_euclid(3) as usize).collect();
        let what = format!("flip {axes:?}");
        assert_close(&what, &read(&y), &flip(&widen(&v), &shape, &ax), 0.0, 0.0);
        let u = uniform(&mut r, 60, -1.0, 1.0);
        y.backward_with(&tensor(&u, &shape)).unwrap();
        let g = read(&x.grad().unwrap());
        let want = flip(&widen(&u), &shape, &ax);
        assert_close(&format!("{what} gradient"), &g, &want, 0.0, 0.0);
    }
}

#[test]
fn a_flip_folds_with_other_views_and_fuses() {
    let mut r = rng(311);
    let v = uniform(&mut r, 7 * 9, -1.0, 1.0);
    let x = tensor(&v, &[7, 9]);
    let w = widen(&v);
    let at = |i: usize, j: usize| w[i * 9 + j];
    // Rows 6, 4, 2, 0 (a backwards step-2 slice), columns reversed, transposed.
    let y = x
        .flip(&[0, 1])
        .unwrap()
        .slice(0, 0, 7, 2)
        .unwrap()
        .t()
        .unwrap();
    let want: Vec<f64> = (0..9)
        .flat_map(|j| [6, 4, 2, 0].map(|i| at(i, 8 - j)))
        .collect();
    assert_close("flip, slice, t", &read(&y), &want, 0.0, 0.0);
    // A reshape of a flip reads in the flipped order; then an elementwise op
    // and a broadcast add of a flipped row.
    let row = tensor(&[1.0, 2.0, 3.0], &[3]);
    let z = x
        .flip(&[1])
        .unwrap()
        .reshape(&[21, 3])
        .unwrap()
        .mul(2.0)
        .unwrap()
        .add(&row.flip(&[0]).unwrap())
        .unwrap();
    let flipped = flip(&w, &[7, 9], &[1]);
    let want: Vec<f64> = (0..63)
        .map(|i| 2.0 * flipped[i] + [3.0, 2.0, 1.0][i % 3])
        .collect();
    assert_close("flip, reshape, fused", &read(&z), &want, 1e-6, 1e-6);
    // A reduction reading a flip; a flip of a flip is the tensor again.
    let s = x.flip(&[0]).unwrap().sum(&[1], false).unwrap();
    let want: Vec<f64> = (0..7).map(|i| (0..9).map(|j| at(6 - i, j)).sum()).collect();
    assert_close("sum of flip", &read(&s), &want, 1e-5, 1e-6);
    let back = x.flip(&[1]).unwrap().flip(&[1]).unwrap();
    assert_close("flip twice", &read(&back), &w, 0.0, 0.0);
}

#[test]
fn matmul_and_gather_read_a_flipped_operand() {
    let mut r = rng(312);
    let (m, k, n) = (5, 3, 6);
    let a = uniform(&mut r, m * k, -1.0, 1.0);
    let b = uniform(&mut r, k * n, -1.0, 1.0);
    let (ta, tb) = (tensor(&a, &[m, k]), tensor(&b, &[k, n]));
    let p = ta
        .flip(&[0])
        .unwrap()
        .matmul(&tb.flip(&[1]).unwrap())
        .unwrap();
    let want: Vec<f64> = (0..m * n)
        .map(|e| {
            let (i, j) = (e / n, e % n);
            (0..k)
                .map(|l| a[(m - 1 - i) * k + l] as f64 * b[l * n + (n - 1 - j)] as f64)
                .sum()
        })
        .collect();
    assert_close("matmul of flips", &read(&p), &want, 1e-5, 1e-6);
    let idx = Tensor::from_slice(dev(), &[2i32, 0, 1, 1], &[1, 4]).unwrap();
    let g = ta.t().unwrap().flip(&[1]).unwrap().gather(1, &idx).unwrap();
    // Row 0 of a^T flipped is a[m-1-c][0].
    let want: Vec<f64> = [2, 0, 1, 1]
        .iter()
        .map(|&c| a[(m - 1 - c) * k] as f64)
        .collect();
    assert_close("gather of a flip", &read(&g), &want, 0.0, 0.0);
}

#[test]
fn the_reference_gradient_matches_finite_differences() {
    let mut r = rng(313);
    let shape = [2, 3, 2];
    let x = widen(&uniform(&mut r, 12, -1.0, 1.0));
    let u = widen(&uniform(&mut r, 12, -1.0, 1.0));
    let loss = |v: &[Vec<f64>]| -> f64 {
        let y = flip(&v[0], &shape, &[0, 1]);
        y.iter().zip(&u).map(|(a, b)| a * b).sum()
    };
    let fd = finite_differences(&[&x], loss);
    assert_matches_differences("flip", &flip(&u, &shape, &[0, 1]), &fd[0]);
}

#[test]
fn bad_axes_are_typed_errors() {
    let x = tensor(&[0.0; 6], &[2, 3]);
    assert!(matches!(
        x.flip(&[2]),
        Err(Error::InvalidAxis { op: "flip", .. })
    ));
    assert!(matches!(
        x.flip(&[1, -1]),
        Err(Error::InvalidArgument { op: "flip", .. })
    ));
    // Empty dims and a dim of one are their own flips.
    let e = Tensor::zeros(dev(), &[0, 3], shadergrad::DType::F32).unwrap();
    assert_eq!(e.flip(&[0, 1]).unwrap().shape(), &[0, 3]);
    let one = tensor(&[1.0, 2.0], &[1, 2]);
    assert_eq!(read(&one.flip(&[0]).unwrap()), vec![1.0, 2.0]);
}
