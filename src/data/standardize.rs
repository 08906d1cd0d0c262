//! Per-feature standardization, fitted on training data only.

use super::dataset::Dataset;
use crate::error::Error;

/// Per-feature mean and standard deviation. Fit it on the training split and
/// apply it to both splits, so no test statistics leak into training.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    /// Population standard deviation; 1 for a constant feature, so that
    /// feature maps to 0 instead of dividing by zero (MNIST's corner pixels).
    pub std: Vec<f32>,
}

impl Standardizer {
    pub fn fit(train: &Dataset) -> Standardizer {
        let f = train.features();
        let n = train.len();
        if n == 0 || f == 0 {
            return Standardizer {
                mean: vec![0.0; f],
                std: vec![1.0; f],
            };
        }
        // f64 sums, two passes: f32 one-pass variance loses most digits on
        // features like breast cancer's areas (~1000) with small spread.
        let mut sum = vec![0.0f64; f];
        for row in train.x.chunks_exact(f) {
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
        let mut sq = vec![0.0f64; f];
        for row in train.x.chunks_exact(f) {
            for ((s, &v), m) in sq.iter_mut().zip(row).zip(&mean) {
                let d = v as f64 - m;
                *s += d * d;
            }
        }
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| {
                let std = (s / n as f64).sqrt();
                // A constant feature leaves only rounding noise, relative to its magnitude.
                if std <= 1e-7 * m.abs() || std == 0.0 {
                    1.0
                } else {
                    std as f32
                }
            })
            .collect();
        Standardizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        }
    }

    /// Replaces every feature `v` with `(v - mean) / std`; data with another
    /// number of features than it was fitted on is an error.
    pub fn apply(&self, d: &mut Dataset) -> Result<(), Error> {
        let f = d.features();
        if f != self.mean.len() {
            return Err(Error::InvalidArgument {
                op: "standardize",
                shape: vec![d.len(), f],
                msg: format!("fitted on {} features, applied to {f}", self.mean.len()),
            });
        }
        if f == 0 {
            return Ok(());
        }
        let inv: Vec<f32> = self.std.iter().map(|s| 1.0 / s).collect();
        for row in d.x.chunks_exact_mut(f) {
            for ((v, m), k) in row.iter_mut().zip(&self.mean).zip(&inv) {
                *v = (*v - m) * k;
            }
        }
        Ok(())
    }
}
