//! Reductions over any axes with keepdim, both kernel entry points (one
//! invocation per row, one workgroup per row), fused prologues, NaN and ties.

use crate::common::*;
use shadergrad::{DType, Tensor};
use shadergrad_reference::reduce::reduce;
use shadergrad_reference::widen;

/// Float64 reduction of `v` (shape `shape`) over `axes`, by `f` from `init`.
fn reduce_ref(
    v: &[f32],
    shape: &[usize],
    axes: &[usize],
    init: f64,
    f: fn(f64, f64) -> f64,
) -> Vec<f64> {
    reduce(&widen(v), shape, axes, init, f)
}

#[test]
fn sum_max_min_over_axis_sets() {
    let mut r = rng(10);
    let shape = [3, 17, 5];
    let v = uniform(&mut r, 255, -2.0, 2.0);
    let x = tensor(&v, &shape);
    for axes in [vec![0usize], vec![1], vec![2], vec![0, 2], vec![0, 1, 2]] {
        let ia: Vec<isize> = axes.iter().map(|&a| a as isize).collect();
        let s = x.sum(&ia, true).unwrap();
        assert_close(
            &format!("sum {axes:?}"),
            &read(&s),
            &reduce_ref(&v, &shape, &axes, 0.0, |a, b| a + b),
            1e-5,
            1e-5,
        );
        let m = x.max(&ia, false).unwrap();
        assert_close(
            &format!("max {axes:?}"),
            &read(&m),
            &reduce_ref(&v, &shape, &axes, f64::MIN, f64::max),
            0.0,
            0.0,
        );
        let m = x.min(&ia, false).unwrap();
        assert_close(
            &format!("min {axes:?}"),
            &read(&m),
            &reduce_ref(&v, &shape, &axes, f64::MAX, f64::min),
            0.0,
            0.0,
        );
    }
    assert_eq!(x.sum(&[1], true).unwrap().shape(), &[3, 1, 5]);
    assert_eq!(x.sum(&[1], false).unwrap().shape(), &[3, 5]);
    assert_eq!(x.sum_all().unwrap().shape(), &[] as &[usize]);
}

#[test]
fn long_rows_use_a_workgroup_per_row() {
    // 3 rows of 5000: the workgroup-per-row entry point with its tree.
    let mut r = rng(11);
    let v = uniform(&mut r, 15000, -1.0, 1.0);
    let x = tensor(&v, &[3, 5000]);
    let want = reduce_ref(&v, &[3, 5000], &[1], 0.0, |a, b| a + b);
    assert_close(
        "sum",
        &read(&x.sum(&[1], false).unwrap()),
        &want,
        1e-4,
        1e-4,
    );
    let want = reduce_ref(&v, &[3, 5000], &[1], f64::MIN, f64::max);
    assert_close("max", &read(&x.max(&[-1], false).unwrap()), &want, 0.0, 0.0);
    let am = x.argmax(1, false).unwrap().to_vec::<i32>().unwrap();
    for (row, &j) in am.iter().enumerate() {
        assert_eq!(
            v[row * 5000 + j as usize] as f64,
            want[row],
            "argmax row {row}"
        );
    }
}

#[test]
fn argmax_and_argmin_take_the_first_tie() {
    let v = [1.0f32, 3.0, 3.0, -1.0, -1.0, 2.0, 0.0, 0.0, 0.0];
    let x = tensor(&v, &[3, 3]);
    assert_eq!(
        x.argmax(1, false).unwrap().to_vec::<i32>().unwrap(),
        vec![1, 2, 0]
    );
    assert_eq!(
        x.argmin(1, false).unwrap().to_vec::<i32>().unwrap(),
        vec![0, 0, 0]
    );
    assert_eq!(x.argmax(0, true).unwrap().shape(), &[1, 3]);
    assert_eq!(
        x.argmax(0, true).unwrap().to_vec::<i32>().unwrap(),
        vec![0, 0, 0]
    );
    assert_eq!(
        x.argmin(0, false).unwrap().to_vec::<i32>().unwrap(),
        vec![1, 1, 2]
    );
}

#[test]
fn max_propagates_nan_and_argmax_finds_it() {
    let x = tensor(&[1.0, f32::NAN, 5.0, 2.0, 3.0, 4.0], &[2, 3]);
    let m = read(&x.max(&[1], false).unwrap());
    assert!(m[0].is_nan() && m[1] == 4.0, "{m:?}");
    assert_eq!(
        x.argmax(1, false).unwrap().to_vec::<i32>().unwrap(),
        vec![1, 2]
    );
}

#[test]
fn mean_var_and_a_fused_prologue() {
    let mut r = rng(12);
    let shape = [7, 33];
    let v = uniform(&mut r, 231, -3.0, 3.0);
    let x = tensor(&v, &shape);
    let mean = reduce_ref(&v, &shape, &[1], 0.0, |a, b| a + b)
        .iter()
        .map(|s| s / 33.0)
        .collect::<Vec<_>>();
    assert_close(
        "mean",
        &read(&x.mean(&[1], false).unwrap()),
        &mean,
        1e-5,
        1e-6,
    );
    let var: Vec<f64> = (0..7)
        .map(|i| {
            (0..33)
                .map(|j| (v[i * 33 + j] as f64 - mean[i]).powi(2))
                .sum::<f64>()
                / 32.0
        })
        .collect();
    assert_close(
        "var",
        &read(&x.var(&[1], 1, false).unwrap()),
        &var,
        1e-4,
        1e-6,
    );
    // exp(x/2) summed over axis 0: computed inside the reduction, no buffer for exp.
    let s = x.mul(0.5).unwrap().exp().unwrap().sum(&[0], false).unwrap();
    let want: Vec<f64> = (0..33)
        .map(|j| (0..7).map(|i| (v[i * 33 + j] as f64 * 0.5).exp()).sum())
        .collect();
    assert_close("sum(exp)", &read(&s), &want, 1e-5, 1e-6);
}

#[test]
fn integer_and_empty_reductions() {
    let x = Tensor::from_slice(dev(), &[1i32, -2, 3, 4, 5, 6], &[2, 3]).unwrap();
    assert_eq!(
        x.sum(&[1], false).unwrap().to_vec::<i32>().unwrap(),
        vec![2, 15]
    );
    assert_eq!(
        x.max(&[0], false).unwrap().to_vec::<i32>().unwrap(),
        vec![4, 5, 6]
    );
    let e = Tensor::zeros(dev(), &[3, 0], DType::F32).unwrap();
    assert_eq!(read(&e.sum(&[1], false).unwrap()), vec![0.0; 3]);
    assert!(
        read(&e.mean(&[1], false).unwrap())
            .iter()
            .all(|v| v.is_nan())
    );
    assert!(matches!(
        e.max(&[1], false),
        Err(shadergrad::Error::EmptyReduction { .. })
    ));
}

#[test]
fn many_rows_use_one_invocation_per_row() {
    let mut r = rng(13);
    let v = uniform(&mut r, 5000 * 3, -1.0, 1.0);
    let x = tensor(&v, &[5000, 3]);
    let want = reduce_ref(&v, &[5000, 3], &[1], 0.0, |a, b| a + b);
    assert_close(
        "sum rows",
        &read(&x.sum(&[1], false).unwrap()),
        &want,
        1e-5,
        1e-6,
    );
    let want = reduce_ref(&v, &[5000, 3], &[0], 0.0, |a, b| a + b);
    assert_close(
        "sum cols",
        &read(&x.sum(&[0], false).unwrap()),
        &want,
        1e-4,
        1e-4,
    );
}

/// Relative error of a GPU scalar against a float64 value.
fn rel(gpu: &Tensor, want: f64) -> f64 {
    let got = gpu.to_scalar::<f32>().unwrap() as f64;
    ((got - want) / want).abs()
}

#[test]
fn long_sums_keep_f32_precision() {
    let d = dev();
    // 9M ones: a sum that one f32 accumulator per lane rounds away.
    let m = Tensor::ones(d, &[3000 * 3000], DType::F32)
        .unwrap()
        .mean_all()
        .unwrap();
    assert!(rel(&m, 1.0) < 1e-6, "mean of 9M ones: {m}");
    // 2^31 terms: each lane's plain f32 sum would stop growing at 2^24.
    let n = 1usize << 31;
    let ones = Tensor::zeros(d, &[n], DType::F32)
        .unwrap()
        .add(1.0)
        .unwrap();
    let s = ones.sum_all().unwrap();
    assert!(rel(&s, n as f64) < 1e-6, "sum of 2^31 ones: {s}");
    // A mean over a lazy 4000 x 4000 broadcast, against float64.
    let mut r = rng(12);
    let (a, b) = (
        uniform(&mut r, 4000, -1.0, 1.0),
        uniform(&mut r, 4000, -1.0, 1.0),
    );
    let want = a.iter().map(|&x| {
        b.iter()
            .map(|&y| (x as f64 - y as f64).powi(2))
            .sum::<f64>()
    });
    let want = want.sum::<f64>() / 16e6;
    let ta = tensor(&a, &[4000, 1]);
    let tb = tensor(&b, &[1, 4000]);
    let got = ta.sub(&tb).unwrap().square().unwrap().mean_all().unwrap();
    assert!(
        rel(&got, want) < 1e-6,
        "mean((a_i - b_j)^2): {got} against {want}"
    );
    // Column sums of a tall matrix: long rows in the other orientation.
    let v = uniform(&mut r, 300_000 * 3, 0.0, 1.0);
    let col = tensor(&v, &[300_000, 3]).sum(&[0], false).unwrap();
    let want = reduce_ref(&v, &[300_000, 3], &[0], 0.0, |a, b| a + b);
    assert_close("column sums of 300000 x 3", &read(&col), &want, 1e-6, 0.0);
}

#[test]
fn compensated_sums_keep_infinity_and_nan() {
    for n in [3usize, 10_000] {
        let mut v = vec![1.0f32; n];
        v[n / 2] = f32::INFINITY;
        assert_eq!(read(&tensor(&v, &[n]).sum_all().unwrap()), [f32::INFINITY]);
        v[n - 1] = f32::NEG_INFINITY;
        assert!(read(&tensor(&v, &[n]).sum_all().unwrap())[0].is_nan());
        // Finite terms whose sum overflows: +inf, not NaN.
        let big = vec![3e38f32; n];
        assert_eq!(
            read(&tensor(&big, &[n]).sum_all().unwrap()),
            [f32::INFINITY]
        );
    }
}

#[test]
fn element_counts_past_32_bits_are_reduced_in_slices() {
    let d = dev();
    // 2^32 + 3 ones: three slices, each within a kernel's 32-bit index.
    let n = (1usize << 32) + 3;
    let s = Tensor::ones(d, &[n], DType::F32)
        .unwrap()
        .sum_all()
        .unwrap();
    assert!(rel(&s, n as f64) < 1e-6, "sum of 2^32 + 3 ones: {s}");
    // A mean and a max over a lazy 66000 x 66000 broadcast (4.4e9 terms),
    // against float64 closed forms: the sliced expression is never whole.
    let m = 66_000;
    let mut r = rng(21);
    let (a, b) = (uniform(&mut r, m, -1.0, 1.0), uniform(&mut r, m, -1.0, 1.0));
    let (a64, b64) = (widen(&a), widen(&b));
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    let sq = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
    let mm = m as f64;
    let want_mean = (mm * sq(&a64) - 2.0 * sum(&a64) * sum(&b64) + mm * sq(&b64)) / (mm * mm);
    let ta = tensor(&a, &[m, 1]);
    ta.set_requires_grad(true).unwrap();
    let tb = tensor(&b, &[1, m]);
    let sqd = ta.sub(&tb).unwrap().square().unwrap();
    let mean = sqd.mean_all().unwrap();
    assert!(
        rel(&mean, want_mean) < 1e-6,
        "mean((a_i - b_j)^2): {mean} against {want_mean}"
    );
    let fold = |v: &[f64], f: fn(f64, f64) -> f64| v.iter().copied().reduce(f).unwrap();
    let (amax, amin) = (fold(&a64, f64::max), fold(&a64, f64::min));
    let (bmax, bmin) = (fold(&b64, f64::max), fold(&b64, f64::min));
    let want_max = (amax - bmin).max(bmax - amin).powi(2);
    let max = sqd.max(&[], false).unwrap();
    assert!(rel(&max, want_max) < 1e-6, "max: {max} against {want_max}");
    // Its gradient: d/da_i = 2 (m a_i - sum b) / m^2, through every slice.
    mean.backward().unwrap();
    let g = read(&ta.grad().unwrap());
    let want: Vec<f64> = a64
        .iter()
        .map(|&x| 2.0 * (mm * x - sum(&b64)) / (mm * mm))
        .collect();
    assert_close("d mean / d a", &g, &want, 1e-5, 1e-9);
    // Over one axis: slices along a kept axis are joined, not combined.
    let rows = read(&sqd.sum(&[1], false).unwrap());
    let want: Vec<f64> = a64
        .iter()
        .map(|&x| mm * x * x - 2.0 * x * sum(&b64) + sq(&b64))
        .collect();
    assert_close("row sums of (a_i - b_j)^2", &rows, &want, 1e-5, 1e-3);
}

#[test]
fn element_counts_past_what_slices_reach_are_typed_errors() {
    let d = dev();
    let err = |r: shadergrad::Result<Tensor>| match r {
        Err(e) => e.to_string(),
        Ok(t) => panic!("a tensor of {:?} recorded", t.shape()),
    };
    // A count that overflows usize names the shape, not a saturated count.
    let e = err(Tensor::zeros(d, &[1 << 62, 4], DType::F32));
    assert!(e.contains("4611686018427387904, 4"), "{e}");
    // Past 256 kernel-sized slices a lazy tensor is refused when recorded.
    let col = Tensor::ones(d, &[1 << 20, 1], DType::F32).unwrap();
    let row = Tensor::ones(d, &[1, 1 << 21], DType::F32).unwrap();
    let e = err(col.add(&row));
    assert!(e.contains("add") && e.contains("lazy"), "{e}");
    let e = err(col.broadcast_to(&[1 << 20, 1 << 21]));
    assert!(e.contains("broadcast_to"), "{e}");
    // Under it, a tensor past 2^32 elements records, but only a reduction
    // computes it: realizing it whole is refused before anything runs.
    let big = col
        .add(&Tensor::ones(d, &[1, 1 << 12], DType::F32).unwrap())
        .unwrap();
    let e = big.realize().map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("4294967295") && e.contains("32-bit"), "{e}");
    // An arg-reduction whose indices would span slices cannot combine them.
    let flat = Tensor::ones(d, &[1 << 33], DType::F32).unwrap();
    let e = err(flat.argmax(0, false));
    assert!(e.contains("argmax"), "{e}");
}

#[test]
fn f16_sums_past_a_chunk_accumulate_in_f32() {
    if !dev().caps().f16 {
        return; // the adapter has no SHADER_F16: nothing to test
    }
    // 10000 halves of 0.5 (and a row of 300 per column): both passes of the
    // split sum, read from f16 and stored as f16.
    let h = Tensor::full(dev(), &[10_000], 0.5, DType::F32)
        .unwrap()
        .cast(DType::F16)
        .unwrap();
    let s = h.sum_all().unwrap();
    assert_eq!(s.dtype(), DType::F16);
    assert_eq!(
        s.cast(DType::F32).unwrap().to_vec::<f32>().unwrap(),
        [5000.0]
    );
    let cols = Tensor::ones(dev(), &[9000, 2], DType::F16)
        .unwrap()
        .sum(&[0], false)
        .unwrap();
    assert_eq!(
        cols.cast(DType::F32).unwrap().to_vec::<f32>().unwrap(),
        [9000.0, 9000.0]
    );
}
