//! Indexing: torch.gather along any axis, index_select of rows (an
//! embedding lookup), and index_select's gradient, the scatter-add of rows.

use crate::{Scaled, coords, strides};

/// out[c] = data[c with c[axis] replaced by index[c]] for every coordinate c
/// of the index's shape (torch.gather). Exact: a copy.
pub fn gather(
    data: &[f64],
    shape: &[usize],
    axis: usize,
    index: &[usize],
    index_shape: &[usize],
) -> Vec<f64> {
    let s = strides(shape);
    (0..index.len())
        .map(|i| {
            let mut c = coords(i, index_shape);
            c[axis] = index[i];
            data[c.iter().zip(&s).map(|(a, b)| a * b).sum::<usize>()]
        })
        .collect()
}

/// The gradient of `gather`: zeros of `shape` with values[c] added at c with
/// c[axis] replaced by index[c], for every coordinate c of the index's shape
/// (torch.scatter_add). The scale is the sum of the magnitudes added.
pub fn scatter_add(
    values: &[f64],
    shape: &[usize],
    axis: usize,
    index: &[usize],
    index_shape: &[usize],
) -> Vec<Scaled> {
    let s = strides(shape);
    let mut out = vec![(0.0, 0.0); shape.iter().product()];
    for (i, &v) in values.iter().enumerate() {
        let mut c = coords(i, index_shape);
        c[axis] = index[i];
        let t: usize = c.iter().zip(&s).map(|(a, b)| a * b).sum();
        out[t].0 += v;
        out[t].1 += v.abs();
    }
    out
}

/// Rows `ids` of a (rows, dim) table, one after the other. Exact.
pub fn index_select_rows(table: &[f64], dim: usize, ids: &[usize]) -> Vec<f64> {
    ids.iter()
        .flat_map(|&r| table[r * dim..(r + 1) * dim].iter().copied())
        .collect()
}

/// The gradient of `index_select_rows` for a (rows, dim) table: row t of dy
/// added into row ids[t] of zeros. Repeated ids sum; the scale is the sum of
/// the magnitudes added.
pub fn scatter_add_rows(dy: &[f64], dim: usize, ids: &[usize], rows: usize) -> Vec<Scaled> {
    let mut out = vec![(0.0, 0.0); rows * dim];
    for (t, &r) in ids.iter().enumerate() {
        for j in 0..dim {
            let g = dy[t * dim + j];
            out[r * dim + j].0 += g;
            out[r * dim + j].1 += g.abs();
        }
    }
    out
}
