//! masked_fill: a value where a (broadcast) mask is true, and its gradients.

use crate::coords;

/// Whether the mask (of `mask_shape`, broadcast numpy-style to `shape`) is
/// true at element `i` of `shape`.
fn masked(i: usize, shape: &[usize], mask: &[bool], mask_shape: &[usize]) -> bool {
    let c = coords(i, shape);
    let lead = shape.len() - mask_shape.len();
    let mut at = 0;
    for (d, &m) in mask_shape.iter().enumerate() {
        at = at * m + if m == 1 { 0 } else { c[lead + d] };
    }
    mask[at]
}

/// `value` where the mask is true, `x` elsewhere.
pub fn masked_fill(
    x: &[f64],
    shape: &[usize],
    mask: &[bool],
    mask_shape: &[usize],
    value: f64,
) -> Vec<f64> {
    (0..x.len())
        .map(|i| {
            if masked(i, shape, mask, mask_shape) {
                value
            } else {
                x[i]
            }
        })
        .collect()
}

/// Its backward: (dx, dvalue). x's gradient is g where unmasked and zero where
/// masked; the value's is the sum of g over the masked elements.
pub fn masked_fill_backward(
    g: &[f64],
    shape: &[usize],
    mask: &[bool],
    mask_shape: &[usize],
) -> (Vec<f64>, f64) {
    let mut dvalue = 0.0;
    let dx = (0..g.len())
        .map(|i| {
            if masked(i, shape, mask, mask_shape) {
                dvalue += g[i];
                0.0
            } else {
                g[i]
            }
        })
        .collect();
    (dx, dvalue)
}
