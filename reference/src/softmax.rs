//! Row softmax and log-softmax, forward and backward.

use crate::Scaled;

/// The row's maximum and the sum of exp(x - max): the two statistics both
/// directions need.
fn stats(row: &[f64]) -> (f64, f64) {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum_exp = row.iter().map(|&x| (x - max).exp()).sum();
    (max, sum_exp)
}

/// p = exp(x - max) / sum exp(x - max). The scale is 0: a probability is
/// compared relative to itself (exp is a few ulp on every adapter, tiny
/// probabilities included).
pub fn softmax_row(row: &[f64]) -> Vec<Scaled> {
    let (max, sum_exp) = stats(row);
    row.iter()
        .map(|&x| ((x - max).exp() / sum_exp, 0.0))
        .collect()
}

/// x - max - ln(sum exp(x - max)); its terms are x - max and the log.
pub fn log_softmax_row(row: &[f64]) -> Vec<Scaled> {
    let (max, sum_exp) = stats(row);
    let log_sum = sum_exp.ln();
    row.iter()
        .map(|&x| (x - max - log_sum, (x - max).abs() + log_sum))
        .collect()
}

/// Softmax over every row of `cols` values.
pub fn softmax_rows(x: &[f64], cols: usize) -> Vec<f64> {
    x.chunks(cols)
        .flat_map(|row| softmax_row(row).into_iter().map(|(p, _)| p))
        .collect()
}

/// Log-softmax over every row of `cols` values.
pub fn log_softmax_rows(x: &[f64], cols: usize) -> Vec<f64> {
    x.chunks(cols)
        .flat_map(|row| log_softmax_row(row).into_iter().map(|(v, _)| v))
        .collect()
}

/// Softmax's vector-Jacobian product for one row: dx_j = p_j (dy_j - S),
/// S = sum_i dy_i p_i. The terms of dx_j are p_j |dy_j| and p_j times
/// S's own terms, sum_i |dy_i| p_i.
pub fn softmax_backward_row(row: &[f64], dy: &[f64]) -> Vec<Scaled> {
    let p: Vec<f64> = softmax_row(row).into_iter().map(|(p, _)| p).collect();
    let s: f64 = p.iter().zip(dy).map(|(p, g)| p * g).sum();
    let s_terms: f64 = p.iter().zip(dy).map(|(p, g)| p * g.abs()).sum();
    p.iter()
        .zip(dy)
        .map(|(&pj, &g)| (pj * (g - s), pj * (g.abs() + s_terms)))
        .collect()
}

/// Log-softmax's vector-Jacobian product for one row: dx_j = dy_j - p_j
/// sum_i dy_i.
pub fn log_softmax_backward_row(row: &[f64], dy: &[f64]) -> Vec<Scaled> {
    let p: Vec<f64> = softmax_row(row).into_iter().map(|(p, _)| p).collect();
    let total: f64 = dy.iter().sum();
    let total_terms: f64 = dy.iter().map(|g| g.abs()).sum();
    p.iter()
        .zip(dy)
        .map(|(&pj, &g)| (g - pj * total, g.abs() + pj * total_terms))
        .collect()
}
