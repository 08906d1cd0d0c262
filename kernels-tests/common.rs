//! Shared by every conformance test: one device (outputs poisoned with NaN
//! before each kernel runs), seeded inputs, and the float64 comparison.

use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shadergrad::{Device, Tensor, Tuning};

/// One device for the whole binary: pipelines compile once and are shared.
pub fn dev() -> &'static Device {
    static DEV: OnceLock<Device> = OnceLock::new();
    DEV.get_or_init(|| {
        let d = Device::new().expect("a GPU adapter (lavapipe on machines without a GPU)");
        d.set_tuning(Tuning {
            poison: true,
            ..d.tuning()
        });
        d
    })
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// `n` values uniform in [lo, hi).
pub fn uniform(r: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

pub fn tensor(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(dev(), data, shape).expect("upload")
}

pub fn read(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().expect("readback")
}

/// |gpu - ref| <= atol + rtol * |ref| everywhere; NaN only where the reference is NaN.
#[track_caller]
pub fn assert_close(what: &str, gpu: &[f32], reference: &[f64], rtol: f64, atol: f64) {
    assert_eq!(gpu.len(), reference.len(), "{what}: length");
    let mut worst: Option<(usize, f64)> = None;
    for (i, (&g, &r)) in gpu.iter().zip(reference).enumerate() {
        let g = g as f64;
        if r.is_nan() {
            assert!(g.is_nan(), "{what}[{i}]: expected NaN, got {g}");
            continue;
        }
        if r.is_infinite() {
            assert_eq!(g, r, "{what}[{i}]");
            continue;
        }
        let err = (g - r).abs();
        let excess = err - (atol + rtol * r.abs());
        if (excess > 0.0 || excess.is_nan())
            && worst.is_none_or(|(_, w)| excess > w || excess.is_nan())
        {
            worst = Some((i, excess));
        }
    }
    if let Some((i, _)) = worst {
        panic!(
            "{what}: element {i} is {} but the float64 reference is {} (rtol {rtol}, atol {atol})",
            gpu[i], reference[i]
        );
    }
}

/// Central finite differences (step 1e-6) of `loss` with respect to every
/// element of every input: the float64 gradients a closed form must match.
pub fn finite_differences(inputs: &[&[f64]], loss: impl Fn(&[Vec<f64>]) -> f64) -> Vec<Vec<f64>> {
    let mut at: Vec<Vec<f64>> = inputs.iter().map(|v| v.to_vec()).collect();
    (0..inputs.len())
        .map(|k| {
            (0..inputs[k].len())
                .map(|j| {
                    let x = at[k][j];
                    at[k][j] = x + 1e-6;
                    let up = loss(&at);
                    at[k][j] = x - 1e-6;
                    let down = loss(&at);
                    at[k][j] = x;
                    (up - down) / 2e-6
                })
                .collect()
        })
        .collect()
}

/// A reference's analytic gradient against finite differences of its
/// forward (the tolerance of the gradient checks in grad.rs).
#[track_caller]
pub fn assert_matches_differences(what: &str, analytic: &[f64], fd: &[f64]) {
    assert_eq!(analytic.len(), fd.len(), "{what}: length");
    for (j, (&a, &f)) in analytic.iter().zip(fd).enumerate() {
        assert!(
            (a - f).abs() <= 1e-6 + 1e-5 * f.abs(),
            "{what}[{j}]: the reference says {a}, finite differences {f}"
        );
    }
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Coordinates of flat index `i` in `shape`.
pub fn coords(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut c = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        c[d] = i % shape[d];
        i /= shape[d];
    }
    c
}
