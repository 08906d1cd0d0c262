//! Ops that move elements without arithmetic: stack, split, flip and constant
//! padding, each with its vector-Jacobian product. Every output element is
//! one input element (or the padding value), so each backward routes the
//! output's gradient back along the same map.

use crate::{coords, strides};

/// Flat index of coordinates `c` in a row-major `shape`.
fn flat(c: &[usize], shape: &[usize]) -> usize {
    c.iter().zip(strides(shape)).map(|(a, s)| a * s).sum()
}

/// Inputs of one `shape` joined along a new axis `axis` (0..=rank).
pub fn stack(inputs: &[&[f64]], shape: &[usize], axis: usize) -> Vec<f64> {
    let mut out_shape = shape.to_vec();
    out_shape.insert(axis, inputs.len());
    let n: usize = out_shape.iter().product();
    (0..n)
        .map(|i| {
            let mut c = coords(i, &out_shape);
            let k = c.remove(axis);
            inputs[k][flat(&c, shape)]
        })
        .collect()
}

/// stack's backward: the gradient of input k is slice k of `g` along `axis`.
pub fn stack_backward(g: &[f64], shape: &[usize], count: usize, axis: usize) -> Vec<Vec<f64>> {
    let mut out_shape = shape.to_vec();
    out_shape.insert(axis, count);
    let n: usize = shape.iter().product();
    (0..count)
        .map(|k| {
            (0..n)
                .map(|i| {
                    let mut c = coords(i, shape);
                    c.insert(axis, k);
                    g[flat(&c, &out_shape)]
                })
                .collect()
        })
        .collect()
}

/// Consecutive pieces of `sizes` elements along `axis`.
pub fn split(x: &[f64], shape: &[usize], axis: usize, sizes: &[usize]) -> Vec<Vec<f64>> {
    let mut start = 0;
    sizes
        .iter()
        .map(|&len| {
            let mut piece = shape.to_vec();
            piece[axis] = len;
            let n: usize = piece.iter().product();
            let out = (0..n)
                .map(|i| {
                    let mut c = coords(i, &piece);
                    c[axis] += start;
                    x[flat(&c, shape)]
                })
                .collect();
            start += len;
            out
        })
        .collect()
}

/// split's backward: each piece's gradient put back where the piece was read,
/// zeros for a piece with no gradient (`None`: it reached no loss).
pub fn split_backward(
    grads: &[Option<Vec<f64>>],
    shape: &[usize],
    axis: usize,
    sizes: &[usize],
) -> Vec<f64> {
    let mut dx = vec![0.0; shape.iter().product()];
    let mut start = 0;
    for (g, &len) in grads.iter().zip(sizes) {
        let mut piece = shape.to_vec();
        piece[axis] = len;
        if let Some(g) = g {
            for (i, &v) in g.iter().enumerate() {
                let mut c = coords(i, &piece);
                c[axis] += start;
                dx[flat(&c, shape)] += v;
            }
        }
        start += len;
    }
    dx
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

/// The shape `pad` gives: F.pad's order, `pads[0]` for the last axis.
pub fn padded_shape(shape: &[usize], pads: &[(isize, isize)]) -> Vec<usize> {
    let mut out = shape.to_vec();
    for (i, &(before, after)) in pads.iter().enumerate() {
        let d = shape.len() - 1 - i;
        out[d] = (shape[d] as isize + before + after) as usize;
    }
    out
}

/// The input coordinate output coordinate `c` reads, if any (else padding).
fn pad_source(c: &[usize], shape: &[usize], pads: &[(isize, isize)]) -> Option<Vec<usize>> {
    let mut src = c.to_vec();
    for (i, &(before, _)) in pads.iter().enumerate() {
        let d = shape.len() - 1 - i;
        let s = c[d] as isize - before;
        if s < 0 || s >= shape[d] as isize {
            return None;
        }
        src[d] = s as usize;
    }
    Some(src)
}

/// Constant padding (negative amounts crop), as F.pad's constant mode.
pub fn pad(x: &[f64], shape: &[usize], pads: &[(isize, isize)], value: f64) -> Vec<f64> {
    let out_shape = padded_shape(shape, pads);
    let n: usize = out_shape.iter().product();
    (0..n)
        .map(|i| match pad_source(&coords(i, &out_shape), shape, pads) {
            Some(src) => x[flat(&src, shape)],
            None => value,
        })
        .collect()
}

/// pad's backward: each input element's gradient is that of the output
/// element it became; zero where it was cropped.
pub fn pad_backward(g: &[f64], shape: &[usize], pads: &[(isize, isize)]) -> Vec<f64> {
    let out_shape = padded_shape(shape, pads);
    let mut dx = vec![0.0; shape.iter().product()];
    for (i, &v) in g.iter().enumerate() {
        if let Some(src) = pad_source(&coords(i, &out_shape), shape, pads) {
            dx[flat(&src, shape)] += v;
        }
    }
    dx
}
