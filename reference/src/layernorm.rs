//! Layer norm and RMSNorm over the last axis of (rows, C) data, forward and
//! the closed-form backward. With g = gamma dy and xhat the normalised x:
//!
//! - layer norm: xhat = (x - mean) / sqrt(var + eps), y = xhat gamma + beta,
//!   dx = invstd (g - mean(g) - xhat mean(g xhat));
//! - RMSNorm: xhat = x / sqrt(mean(x^2) + eps), y = xhat gamma,
//!   dx = invrms (g - xhat mean(g xhat));
//! - dgamma = sum over rows of dy xhat, dbeta = sum of dy.

use crate::{Scaled, add_term};

/// A norm's row length, kind and epsilon (the rows are x's length over it).
#[derive(Clone, Copy, Debug)]
pub struct Norm {
    pub cols: usize,
    /// RMSNorm (no mean, no bias) instead of layer norm.
    pub rms: bool,
    pub eps: f64,
}

/// The gradients of x, gamma and beta (empty for RMSNorm).
pub struct Grads {
    pub dx: Vec<Scaled>,
    pub dgamma: Vec<Scaled>,
    pub dbeta: Vec<Scaled>,
}

impl Norm {
    /// Per row: the mean (0 for RMSNorm) and 1 / sqrt(var + eps) (var the
    /// mean square for RMSNorm).
    fn stats(&self, x: &[f64]) -> Vec<(f64, f64)> {
        let n = self.cols as f64;
        x.chunks(self.cols)
            .map(|row| {
                let mean = if self.rms {
                    0.0
                } else {
                    row.iter().sum::<f64>() / n
                };
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                (mean, 1.0 / (var + self.eps).sqrt())
            })
            .collect()
    }

    fn xhat(&self, x: &[f64]) -> Vec<f64> {
        let stats = self.stats(x);
        (0..x.len())
            .map(|i| {
                let (mean, inv) = stats[i / self.cols];
                (x[i] - mean) * inv
            })
            .collect()
    }

    /// y. Layer norm's statistics are sums over the row: their rounding
    /// scales with xhat's size (plus one, the mean's). RMSNorm's mean of
    /// squares sums positive terms, so its rounding is relative to y.
    pub fn forward(&self, x: &[f64], gamma: &[f64], beta: Option<&[f64]>) -> Vec<Scaled> {
        self.xhat(x)
            .iter()
            .enumerate()
            .map(|(i, &xh)| {
                let j = i % self.cols;
                let y = xh * gamma[j] + beta.map_or(0.0, |b| b[j]);
                if self.rms {
                    (y, y.abs())
                } else {
                    let b = beta.map_or(0.0, |b| b[j].abs());
                    (y, (xh.abs() + 1.0) * gamma[j].abs() + b)
                }
            })
            .collect()
    }

    /// The closed-form gradients for upstream dy.
    pub fn backward(&self, x: &[f64], gamma: &[f64], dy: &[f64]) -> Grads {
        let (c, stats, xhat) = (self.cols, self.stats(x), self.xhat(x));
        let mut dx = Vec::with_capacity(x.len());
        for (r, &(_, inv)) in stats.iter().enumerate() {
            let at = |j: usize| r * c + j;
            let g: Vec<f64> = (0..c).map(|j| gamma[j] * dy[at(j)]).collect();
            let mean_g = if self.rms {
                0.0
            } else {
                g.iter().sum::<f64>() / c as f64
            };
            let gx: Vec<f64> = (0..c).map(|j| g[j] * xhat[at(j)]).collect();
            let mean_gx = gx.iter().sum::<f64>() / c as f64;
            let mean_gx_size = gx.iter().map(|t| t.abs()).sum::<f64>() / c as f64;
            for j in 0..c {
                let xh = xhat[at(j)];
                let value = inv * (g[j] - mean_g - xh * mean_gx);
                let size = if self.rms {
                    inv * (g[j].abs() + xh.abs() * mean_gx_size)
                } else {
                    inv * (g[j].abs() + mean_g.abs() + (xh * mean_gx).abs()) * (1.0 + xh.abs())
                };
                dx.push((value, size));
            }
        }
        let mut dgamma = vec![(0.0, 0.0); c];
        let mut dbeta = vec![(0.0, 0.0); if self.rms { 0 } else { c }];
        for (i, &g) in dy.iter().enumerate() {
            let (j, xh) = (i % c, xhat[i]);
            // Layer norm's xhat carries the statistics' rounding, which
            // grows with its size.
            let grow = if self.rms { 1.0 } else { 1.0 + xh.abs() };
            dgamma[j].0 += g * xh;
            dgamma[j].1 += (g * xh).abs() * grow;
            if !self.rms {
                add_term(&mut dbeta[j], g);
            }
        }
        Grads { dx, dgamma, dbeta }
    }
}
