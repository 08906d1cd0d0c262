//! Batch norm in training mode over (B, C, S) data (S: the spatial size,
//! H W for images): per-channel statistics over the batch and the spatial
//! positions, and the closed-form gradient
//!
//!   dx = gamma invstd / N (N dy - sum dy - xhat sum(dy xhat)),
//!   dgamma = sum dy xhat, dbeta = sum dy
//!
//! with N = B S and the sums per channel.

use crate::Scaled;

/// A batch-norm layer's shape and epsilon.
#[derive(Clone, Copy, Debug)]
pub struct BatchNorm {
    pub batch: usize,
    pub channels: usize,
    pub spatial: usize,
    pub eps: f64,
}

/// The gradients of the three inputs.
pub struct Grads {
    pub dx: Vec<Scaled>,
    pub dgamma: Vec<Scaled>,
    pub dbeta: Vec<Scaled>,
}

impl BatchNorm {
    /// The flat indices of channel `c`'s values.
    fn channel(&self, c: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.batch).flat_map(move |b| {
            (0..self.spatial).map(move |s| (b * self.channels + c) * self.spatial + s)
        })
    }

    fn count(&self) -> f64 {
        (self.batch * self.spatial) as f64
    }

    /// Per channel: the mean and the biased variance.
    pub fn stats(&self, x: &[f64]) -> Vec<(f64, f64)> {
        (0..self.channels)
            .map(|c| {
                let mean = self.channel(c).map(|i| x[i]).sum::<f64>() / self.count();
                let var =
                    self.channel(c).map(|i| (x[i] - mean).powi(2)).sum::<f64>() / self.count();
                (mean, var)
            })
            .collect()
    }

    /// xhat = (x - mean) / sqrt(var + eps) of every element.
    fn xhat(&self, x: &[f64]) -> Vec<f64> {
        let stats = self.stats(x);
        (0..x.len())
            .map(|i| {
                let (mean, var) = stats[(i / self.spatial) % self.channels];
                (x[i] - mean) / (var + self.eps).sqrt()
            })
            .collect()
    }

    /// y = xhat gamma + beta. The statistics are sums over the channel, so
    /// their rounding scales with xhat's size (plus one for the mean's).
    pub fn forward(&self, x: &[f64], gamma: &[f64], beta: &[f64]) -> Vec<Scaled> {
        self.xhat(x)
            .iter()
            .enumerate()
            .map(|(i, &xh)| {
                let c = (i / self.spatial) % self.channels;
                (
                    xh * gamma[c] + beta[c],
                    (xh.abs() + 1.0) * gamma[c].abs() + beta[c].abs(),
                )
            })
            .collect()
    }

    /// The closed-form gradients for upstream dy.
    pub fn backward(&self, x: &[f64], gamma: &[f64], dy: &[f64]) -> Grads {
        let (n, xhat, stats) = (self.count(), self.xhat(x), self.stats(x));
        let mut dgamma = vec![(0.0, 0.0); self.channels];
        let mut dbeta = vec![(0.0, 0.0); self.channels];
        for c in 0..self.channels {
            for i in self.channel(c) {
                crate::add_term(&mut dgamma[c], dy[i] * xhat[i]);
                crate::add_term(&mut dbeta[c], dy[i]);
            }
        }
        let dx = (0..x.len())
            .map(|i| {
                let c = (i / self.spatial) % self.channels;
                let k = gamma[c] / (stats[c].1 + self.eps).sqrt() / n;
                let (term1, term2, term3) = (n * dy[i], dbeta[c].0, xhat[i] * dgamma[c].0);
                let size = n * dy[i].abs() + dbeta[c].1 + xhat[i].abs() * dgamma[c].1;
                (k * (term1 - term2 - term3), k.abs() * size)
            })
            .collect();
        Grads { dx, dgamma, dbeta }
    }
}
