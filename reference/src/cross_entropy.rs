//! Softmax cross-entropy of logits (N, C) against class labels, with label
//! smoothing and an ignored label (PyTorch's options), per row, averaged,
//! and its gradient softmax - target.

use crate::Scaled;
use crate::softmax::softmax_row;

/// The loss's options.
#[derive(Clone, Copy, Debug, Default)]
pub struct CrossEntropy {
    pub classes: usize,
    /// The target mixes the one-hot with a uniform one: (1 - eps) onehot + eps / C.
    pub smoothing: f64,
    /// Rows with this label add no loss and no gradient, and are not counted.
    pub ignore: Option<i32>,
}

impl CrossEntropy {
    /// Plain cross-entropy over `classes`: no smoothing, nothing ignored.
    pub fn new(classes: usize) -> CrossEntropy {
        CrossEntropy {
            classes,
            ..CrossEntropy::default()
        }
    }

    fn kept(&self, label: i32) -> bool {
        Some(label) != self.ignore
    }

    /// Target probability of class j for a row labelled `label`.
    fn target(&self, label: i32, j: usize) -> f64 {
        let hot = if j == label as usize { 1.0 } else { 0.0 };
        (1.0 - self.smoothing) * hot + self.smoothing / self.classes as f64
    }

    /// Per row: -sum_j target_j log p_j = logsumexp(x) - sum_j target_j x_j,
    /// with the terms' magnitudes; None for an ignored row.
    pub fn rows(&self, x: &[f64], labels: &[i32]) -> Vec<Option<Scaled>> {
        let c = self.classes;
        labels
            .iter()
            .enumerate()
            .map(|(r, &label)| {
                let row = &x[r * c..(r + 1) * c];
                let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let log_sum_exp = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                let picked: Vec<f64> = (0..c).map(|j| self.target(label, j) * row[j]).collect();
                let loss = log_sum_exp - picked.iter().sum::<f64>();
                let terms = log_sum_exp.abs() + picked.iter().map(|t| t.abs()).sum::<f64>();
                self.kept(label).then_some((loss, terms))
            })
            .collect()
    }

    /// The mean over the rows kept; its scale is the mean of theirs.
    pub fn mean(&self, x: &[f64], labels: &[i32]) -> Scaled {
        let kept: Vec<Scaled> = self.rows(x, labels).into_iter().flatten().collect();
        let n = kept.len().max(1) as f64;
        kept.iter()
            .fold((0.0, 0.0), |(s, a), &(l, t)| (s + l / n, a + t / n))
    }

    /// d/dx of sum_r dloss_r loss_r: dloss_r (p - target) per row (zero for
    /// an ignored row); the terms are dloss_r p and dloss_r target.
    pub fn grad(&self, x: &[f64], labels: &[i32], dloss: &[f64]) -> Vec<Scaled> {
        let c = self.classes;
        let mut out = vec![(0.0, 0.0); x.len()];
        for (r, &label) in labels.iter().enumerate() {
            if !self.kept(label) {
                continue;
            }
            let p = softmax_row(&x[r * c..(r + 1) * c]);
            for j in 0..c {
                let (pj, q) = (p[j].0, self.target(label, j));
                out[r * c + j] = (dloss[r] * (pj - q), (dloss[r] * (pj + q)).abs());
            }
        }
        out
    }

    /// The gradient of `mean`: dloss = 1 / (rows kept) for every row.
    pub fn mean_grad(&self, x: &[f64], labels: &[i32]) -> Vec<Scaled> {
        let kept = labels.iter().filter(|&&l| self.kept(l)).count().max(1);
        self.grad(x, labels, &vec![1.0 / kept as f64; labels.len()])
    }
}
