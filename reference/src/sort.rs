//! Stable sorts of rows (NaN the largest, as PyTorch orders it), and the
//! gradient of the sorted values: each output's gradient goes back to the
//! element it came from.

use std::cmp::Ordering;

/// a against b with NaN above everything and equal to itself.
fn order(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// The indices that sort each row of `cols` values (stable).
pub fn argsort_rows(x: &[f64], cols: usize, descending: bool) -> Vec<usize> {
    x.chunks(cols)
        .flat_map(|row| {
            let mut idx: Vec<usize> = (0..row.len()).collect();
            idx.sort_by(|&a, &b| {
                let o = order(row[a], row[b]);
                if descending { o.reverse() } else { o }
            });
            idx
        })
        .collect()
}

/// d(sorted)/dx applied to `dy`: dx[index[p]] += dy[p], row by row.
pub fn sort_backward_rows(dy: &[f64], index: &[usize], cols: usize) -> Vec<f64> {
    let mut dx = vec![0.0; dy.len()];
    for (r, (g, ix)) in dy.chunks(cols).zip(index.chunks(cols)).enumerate() {
        for (p, &i) in ix.iter().enumerate() {
            dx[r * cols + i] += g[p];
        }
    }
    dx
}
