//! Inclusive cumulative sums along rows, and their gradient.

use crate::Scaled;

/// Running (sum, sum of magnitudes) over `row` in order.
fn running(row: impl Iterator<Item = f64>) -> Vec<Scaled> {
    row.scan((0.0, 0.0), |(s, a), x| {
        *s += x;
        *a += x.abs();
        Some((*s, *a))
    })
    .collect()
}

/// Prefix sums of each row of `cols` values: out[c] = sum_{j <= c} x[j].
pub fn cumsum_rows(x: &[f64], cols: usize) -> Vec<Scaled> {
    x.chunks(cols)
        .flat_map(|row| running(row.iter().copied()))
        .collect()
}

/// Its vector-Jacobian product: dx[c] = sum_{j >= c} dy[j], the reversed sum.
pub fn cumsum_backward_rows(dy: &[f64], cols: usize) -> Vec<Scaled> {
    dy.chunks(cols)
        .flat_map(|row| {
            let mut r = running(row.iter().rev().copied());
            r.reverse();
            r
        })
        .collect()
}
