//! Plain float64 CPU references of every shadergrad kernel family, written
//! for clarity rather than speed: the one set that the conformance tests
//! (`kernels-tests/`) and the benchmark suite's correctness gate
//! (`cli/src/bench/check.rs`) both compare the GPU against. This is llm.c's
//! arrangement: the CPU reference beside a kernel is the one its check and its
//! benchmark both use, so the two can never drift apart.
//!
//! One file per kernel family. Inputs are `f64` slices in the engine's
//! row-major layouts (NCHW for images). Where the benchmark gate needs it a
//! reference returns [`Scaled`] pairs, (value, scale): the scale is the sum of
//! the magnitudes of the terms that made the value, so a tolerance of
//! `acc * scale` admits any f32 summation order while a missed term (the size
//! of a term) fails. Every backward here is checked against central finite
//! differences of its forward by kernels-tests, so a reference cannot share
//! the GPU's mistake.

pub mod activation;
pub mod attention;
pub mod batchnorm;
pub mod conv2d;
pub mod cross_entropy;
pub mod cumsum;
pub mod elementwise;
pub mod gather;
pub mod grid_sample;
pub mod layernorm;
pub mod masked_fill;
pub mod matmul;
pub mod models;
pub mod movement;
pub mod optim;
pub mod pool2d;
pub mod recurrent;
pub mod reduce;
pub mod softmax;
pub mod sort;
pub mod transformer;

/// A reference value and the sum of the magnitudes of its terms.
pub type Scaled = (f64, f64);

/// The sum of `terms` and the sum of their magnitudes.
pub fn sum_terms(terms: impl IntoIterator<Item = f64>) -> Scaled {
    terms
        .into_iter()
        .fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()))
}

/// Adds one term to a running (sum, sum of magnitudes).
pub(crate) fn add_term(acc: &mut Scaled, term: f64) {
    acc.0 += term;
    acc.1 += term.abs();
}

/// The values of scaled pairs, for comparisons that need no scale.
pub fn values(v: &[Scaled]) -> Vec<f64> {
    v.iter().map(|&(x, _)| x).collect()
}

/// f32 data (what was uploaded) as the f64 the references take.
pub fn widen(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Row-major strides of `shape`.
pub(crate) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Coordinates of flat index `i` in `shape`.
pub(crate) fn coords(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut c = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        c[d] = i % shape[d];
        i /= shape[d];
    }
    c
}
