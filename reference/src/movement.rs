//! Ops that move elements without arithmetic, each with its vector-Jacobian
//! product: every output element is one input element, so each backward
//! routes the output's gradient back along the same map.

use crate::{coords, strides};

/// Flat index of coordinates `c` in a row-major `shape`.
fn flat(c: &[usize], shape: &[usize]) -> usize {
    c.iter().zip(strides(shape)).map(|(a, s)| a * s).sum()
}

/// The elements in reverse order along each of `axes`. It is its own
/// inverse, so it is also its backward.
pub fn flip(x: &[f64], shape: &[usize], axes: &[usize]) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            let mut c = coords(i, shape);
            for &a in axes {
                c[a] = shape[a] - 1 - c[a];
            }
            x[flat(&c, shape)]
        })
        .collect()
}
