//! sort, argsort and topk against a stable float64 sort: ties, NaN, both
//! directions, other axes, i32, the values' gradient (checked by finite
//! differences on the reference), and bad arguments.

use crate::common::*;
use shadergrad::{DType, Tensor};
use shadergrad_reference::sort::{argsort_rows, sort_backward_rows};
use shadergrad_reference::widen;

fn indices(t: &Tensor) -> Vec<usize> {
    t.to_vec::<i32>()
        .unwrap()
        .iter()
        .map(|&i| i as usize)
        .collect()
}

/// Values on a coarse grid, so rows have ties, and a NaN now and then.
fn tied(r: &mut rand::rngs::StdRng, n: usize, nan_every: usize) -> Vec<f32> {
    let mut v: Vec<f32> = uniform(r, n, -3.0, 3.0).iter().map(|x| x.round()).collect();
    for i in (0..n).step_by(nan_every.max(1)).skip(1) {
        v[i] = f32::NAN;
    }
    v
}

#[test]
fn rows_with_ties_and_nan_sort_stably_both_ways() {
    let mut r = rng(90);
    for &(rows, cols) in &[(1, 1), (3, 17), (4, 130), (2, 301)] {
        let v = tied(&mut r, rows * cols, 7);
        let x = tensor(&v, &[rows, cols]);
        for descending in [false, true] {
            let (vals, idx) = x.sort(-1, descending).unwrap();
            let want = argsort_rows(&widen(&v), cols, descending);
            let what = format!("sort {rows}x{cols} descending {descending}");
            assert_eq!(indices(&idx), want, "{what}");
            let got = read(&vals);
            for (p, (g, &i)) in got.iter().zip(&want).enumerate() {
                let e = v[(p / cols) * cols + i];
                assert!(
                    g.to_bits() == e.to_bits() || (g.is_nan() && e.is_nan()),
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn other_axes_integers_and_topk() {
    let mut r = rng(91);
    // Axis 0 of (13, 3): the columns sort.
    let v = tied(&mut r, 39, 100);
    let idx = tensor(&v, &[13, 3]).argsort(0, false).unwrap();
    let cols: Vec<f64> = (0..3)
        .flat_map(|c| (0..13).map(move |i| (i, c)))
        .map(|(i, c)| v[i * 3 + c] as f64)
        .collect();
    let want = argsort_rows(&cols, 13, false);
    let got = indices(&idx);
    for c in 0..3 {
        let col: Vec<usize> = (0..13).map(|p| got[p * 3 + c]).collect();
        assert_eq!(col, want[c * 13..(c + 1) * 13], "column {c}");
    }
    // i32 values sort exactly.
    let d = dev();
    let ints = Tensor::from_slice(d, &[5i32, -2, 7, -2, 0, 9], &[6]).unwrap();
    let (s, i) = ints.sort(0, true).unwrap();
    assert_eq!(s.to_vec::<i32>().unwrap(), [9, 7, 5, 0, -2, -2]);
    assert_eq!(i.to_vec::<i32>().unwrap(), [5, 2, 0, 4, 1, 3]);
    // topk: the k largest in order, or the k smallest.
    let v = uniform(&mut r, 2 * 50, -1.0, 1.0);
    let x = tensor(&v, &[2, 50]);
    for largest in [true, false] {
        let (vals, idx) = x.topk(5, 1, largest).unwrap();
        assert_eq!(vals.shape(), &[2, 5]);
        let all = argsort_rows(&widen(&v), 50, largest);
        let want: Vec<usize> = all.chunks(50).flat_map(|row| row[..5].to_vec()).collect();
        assert_eq!(indices(&idx), want, "topk largest {largest}");
        let wv: Vec<f64> = want
            .iter()
            .enumerate()
            .map(|(p, &i)| v[(p / 5) * 50 + i] as f64)
            .collect();
        assert_close("topk values", &read(&vals), &wv, 0.0, 0.0);
    }
}

#[test]
fn the_sorted_values_gradient_goes_back_to_where_they_came_from() {
    let mut r = rng(92);
    let (rows, cols) = (3, 29);
    let v = uniform(&mut r, rows * cols, -1.0, 1.0);
    let g = uniform(&mut r, rows * cols, -1.0, 1.0);
    let x = shadergrad::nn::parameter(tensor(&v, &[rows, cols])).unwrap();
    let (vals, _) = x.sort(1, true).unwrap();
    vals.backward_with(&tensor(&g, &[rows, cols])).unwrap();
    let index = argsort_rows(&widen(&v), cols, true);
    let want = sort_backward_rows(&widen(&g), &index, cols);
    assert_close(
        "sort gradient",
        &read(&x.grad().unwrap()),
        &want,
        1e-6,
        1e-7,
    );
    // topk's gradient: only the k picked elements receive any.
    let x = shadergrad::nn::parameter(tensor(&v, &[rows, cols])).unwrap();
    let (top, _) = x.topk(4, 1, true).unwrap();
    top.sum_all().unwrap().backward().unwrap();
    let dx = read(&x.grad().unwrap());
    let mut want = vec![0.0; rows * cols];
    for (p, &i) in index.iter().enumerate() {
        if p % cols < 4 {
            want[(p / cols) * cols + i] = 1.0;
        }
    }
    assert_close("topk gradient", &dx, &want, 0.0, 0.0);
}

#[test]
fn the_reference_gradient_matches_finite_differences() {
    let mut r = rng(93);
    let cols = 9;
    // Distinct values: the sort is locally a fixed permutation.
    let x = widen(&uniform(&mut r, 2 * cols, -1.0, 1.0));
    let w = widen(&uniform(&mut r, 2 * cols, -1.0, 1.0));
    let loss = |v: &[Vec<f64>]| -> f64 {
        let idx = argsort_rows(&v[0], cols, false);
        idx.iter()
            .enumerate()
            .map(|(p, &i)| w[p] * v[0][(p / cols) * cols + i])
            .sum()
    };
    let fd = finite_differences(&[&x], loss);
    let want = sort_backward_rows(&w, &argsort_rows(&x, cols, false), cols);
    assert_matches_differences("sort backward", &want, &fd[0]);
}

#[test]
fn bad_arguments_are_typed_errors() {
    let x = tensor(&[1.0, 2.0, 3.0], &[3]);
    let e = x.topk(4, 0, true).unwrap_err().to_string();
    assert!(e.contains("topk") && e.contains("k = 4"), "{e}");
    assert!(x.argsort(1, false).is_err());
    let b = x.gt(1.0).unwrap();
    assert!(
        b.sort(0, false)
            .unwrap_err()
            .to_string()
            .contains("argsort")
    );
    // A row whose n x n comparisons pass what a lazy tensor may hold (256
    // slices a kernel can index) is refused when recorded; under that, the
    // comparisons are summed in slices.
    let long = Tensor::zeros(dev(), &[1_100_000], DType::F32).unwrap();
    let e = long.argsort(0, false).unwrap_err().to_string();
    assert!(e.contains("lazy"), "{e}");
}
