//! The optimizers' update rules as PyTorch states them, one step at a time.

/// SGD with momentum and (coupled) weight decay, no dampening:
/// g' = g + wd w; buf = momentum buf + g'; w -= lr buf. The buffer starts at
/// zero, so the first step's buffer is g' (as PyTorch's clone of it).
#[derive(Clone, Copy, Debug)]
pub struct Sgd {
    pub momentum: f64,
    pub weight_decay: f64,
}

impl Sgd {
    pub fn step(&self, lr: f64, w: &mut [f64], g: &[f64], buf: &mut [f64]) {
        for i in 0..w.len() {
            let grad = g[i] + self.weight_decay * w[i];
            buf[i] = self.momentum * buf[i] + grad;
            w[i] -= lr * buf[i];
        }
    }
}

/// Adam (coupled weight decay) or AdamW (decoupled):
/// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
#[derive(Clone, Copy, Debug)]
pub struct Adam {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW: the decay shrinks the weight directly, not through the gradient.
    pub decoupled: bool,
}

impl Default for Adam {
    /// PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, no decay.
    fn default() -> Adam {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
}

impl Adam {
    /// Step `t` (from 1) with moments m and v (zero before the first step).
    pub fn step(&self, lr: f64, t: i32, w: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64]) {
        let (b1, b2) = (self.beta1, self.beta2);
        for i in 0..w.len() {
            let mut grad = g[i];
            if self.decoupled {
                w[i] -= lr * self.weight_decay * w[i];
            } else {
                grad += self.weight_decay * w[i];
            }
            m[i] = b1 * m[i] + (1.0 - b1) * grad;
            v[i] = b2 * v[i] + (1.0 - b2) * grad * grad;
            let m_hat = m[i] / (1.0 - b1.powi(t));
            let v_hat = v[i] / (1.0 - b2.powi(t));
            w[i] -= lr * m_hat / (v_hat.sqrt() + self.eps);
        }
    }
}

/// Plain SGD of a sparse gradient: row t of `rows` (N, dim) subtracted, times
/// lr, from row ids[t] of the (V, dim) table; a repeated id subtracts each.
pub fn sparse_sgd(lr: f64, table: &mut [f64], dim: usize, ids: &[usize], rows: &[f64]) {
    for (t, &r) in ids.iter().enumerate() {
        for j in 0..dim {
            table[r * dim + j] -= lr * rows[t * dim + j];
        }
    }
}

/// torch's SparseAdam at step `t`: the gradient rows (N, dim) summed per id
/// (coalesced), then Adam on just the rows read and their moments; a row not
/// read keeps its value and its moments.
#[allow(clippy::too_many_arguments)]
pub fn sparse_adam(
    adam: &Adam,
    lr: f64,
    t: i32,
    table: &mut [f64],
    (m, v): (&mut [f64], &mut [f64]),
    dim: usize,
    ids: &[usize],
    rows: &[f64],
) {
    let mut summed: std::collections::BTreeMap<usize, Vec<f64>> = Default::default();
    for (k, &r) in ids.iter().enumerate() {
        let g = summed.entry(r).or_insert_with(|| vec![0.0; dim]);
        for j in 0..dim {
            g[j] += rows[k * dim + j];
        }
    }
    for (r, g) in summed {
        let at = r * dim..(r + 1) * dim;
        adam.step(
            lr,
            t,
            &mut table[at.clone()],
            &g,
            &mut m[at.clone()],
            &mut v[at],
        );
    }
}
