//! Reductions over any set of axes (the output keeps a 1 where an axis was
//! reduced, as keepdim does; drop those dims for keepdim = false).

use crate::{Scaled, coords, strides};

/// `f`-reduction from `init` of `v` (shape `shape`) over `axes`.
pub fn reduce(
    v: &[f64],
    shape: &[usize],
    axes: &[usize],
    init: f64,
    f: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let out_shape: Vec<usize> = (0..shape.len())
        .map(|d| if axes.contains(&d) { 1 } else { shape[d] })
        .collect();
    let n: usize = out_shape.iter().product();
    let os = strides(&out_shape);
    let mut out = vec![init; n];
    for (i, &x) in v.iter().enumerate() {
        let c = coords(i, shape);
        let o: usize = (0..shape.len())
            .map(|d| if axes.contains(&d) { 0 } else { c[d] * os[d] })
            .sum();
        out[o] = f(out[o], x);
    }
    out
}

/// Sums over `axes`; the scale is the sum of the magnitudes summed.
pub fn sum(v: &[f64], shape: &[usize], axes: &[usize]) -> Vec<Scaled> {
    let total = reduce(v, shape, axes, 0.0, |a, b| a + b);
    let magnitude = reduce(v, shape, axes, 0.0, |a, b| a + b.abs());
    total.into_iter().zip(magnitude).collect()
}

/// Maxima over `axes`: exact (one of the inputs), so the scale is 0.
pub fn max(v: &[f64], shape: &[usize], axes: &[usize]) -> Vec<Scaled> {
    reduce(v, shape, axes, f64::NEG_INFINITY, f64::max)
        .into_iter()
        .map(|m| (m, 0.0))
        .collect()
}
