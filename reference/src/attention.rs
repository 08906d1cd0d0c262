//! Scaled dot-product attention, materialising the N x N scores the fused
//! kernel never writes: O = softmax(Q K^T / sqrt(d) + mask) V per batch and
//! head, for causal, local-window and padding (key length) masks; and its
//! backward through the probabilities P:
//!
//!   dP = dO V^T, D_i = sum_j P_ij dP_ij, dS = P (dP - D),
//!   dQ = dS K / sqrt(d), dK = dS^T Q / sqrt(d), dV = P^T dO.
//!
//! Q is (B, H, Nq, d), K (B, H, Nk, d), V (B, H, Nk, dv), all row-major.

use crate::Scaled;

/// Attention's shapes and mask.
#[derive(Clone, Debug)]
pub struct Attention {
    pub batch: usize,
    pub heads: usize,
    pub nq: usize,
    pub nk: usize,
    pub d: usize,
    pub dv: usize,
    pub causal: bool,
    /// Keys at most this far from the query (either side) are visible.
    pub window: Option<usize>,
    /// Per batch: keys at or past this index are padding.
    pub key_lengths: Option<Vec<usize>>,
}

/// One query row's probabilities, and for each key how far its score sits
/// below the row's maximum plus one: rounding a score moves its weight by
/// that much, relatively, so the gate's scales grow with it.
struct Row {
    p: Vec<f64>,
    far: Vec<f64>,
}

impl Attention {
    /// No mask, d = dv.
    pub fn new(batch: usize, heads: usize, n: usize, d: usize) -> Attention {
        Attention {
            batch,
            heads,
            nq: n,
            nk: n,
            d,
            dv: d,
            causal: false,
            window: None,
            key_lengths: None,
        }
    }

    /// Whether query i of batch b sees key j.
    pub fn visible(&self, b: usize, i: usize, j: usize) -> bool {
        (!self.causal || j <= i)
            && self.window.is_none_or(|w| i.abs_diff(j) <= w)
            && self.key_lengths.as_ref().is_none_or(|l| j < l[b])
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    /// Softmax over the visible keys of query i in batch-head bh.
    fn row_probabilities(&self, q: &[f64], k: &[f64], bh: usize, i: usize) -> Row {
        let (d, scale) = (self.d, 1.0 / (self.d as f64).sqrt());
        let qi = &q[(bh * self.nq + i) * d..(bh * self.nq + i + 1) * d];
        let scores: Vec<Option<f64>> = (0..self.nk)
            .map(|j| {
                let kj = &k[(bh * self.nk + j) * d..(bh * self.nk + j + 1) * d];
                self.visible(bh / self.heads, i, j)
                    .then(|| Attention::dot(qi, kj) * scale)
            })
            .collect();
        let max = scores
            .iter()
            .flatten()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = scores.iter().flatten().map(|s| (s - max).exp()).sum();
        Row {
            p: scores
                .iter()
                .map(|s| s.map_or(0.0, |s| (s - max).exp() / z))
                .collect(),
            far: scores
                .iter()
                .map(|s| s.map_or(1.0, |s| 1.0 + (max - s)))
                .collect(),
        }
    }

    /// Output row r = bh Nq + i: sum_j P_ij V_j, scaled by how far each
    /// weight may move.
    pub fn row(&self, q: &[f64], k: &[f64], v: &[f64], r: usize) -> Vec<Scaled> {
        let (bh, i) = (r / self.nq, r % self.nq);
        let row = self.row_probabilities(q, k, bh, i);
        (0..self.dv)
            .map(|e| {
                let (mut o, mut size) = (0.0, 0.0);
                for j in 0..self.nk {
                    let term = row.p[j] * v[(bh * self.nk + j) * self.dv + e];
                    o += term;
                    size += term.abs() * row.far[j];
                }
                (o, size)
            })
            .collect()
    }

    /// Every output row, one after the other.
    pub fn forward(&self, q: &[f64], k: &[f64], v: &[f64]) -> Vec<Scaled> {
        (0..self.batch * self.heads * self.nq)
            .flat_map(|r| self.row(q, k, v, r))
            .collect()
    }

    /// dQ, dK and dV of batch-head bh (its rows only) for upstream dO.
    pub fn backward_head(&self, [q, k, v, go]: [&[f64]; 4], bh: usize) -> [Vec<Scaled>; 3] {
        let (nq, nk, d, dv) = (self.nq, self.nk, self.d, self.dv);
        let scale = 1.0 / (d as f64).sqrt();
        let (mut dq, mut dk, mut dvv) = (
            vec![(0.0, 0.0); nq * d],
            vec![(0.0, 0.0); nk * d],
            vec![(0.0, 0.0); nk * dv],
        );
        for i in 0..nq {
            let row = self.row_probabilities(q, k, bh, i);
            let go_i = &go[(bh * nq + i) * dv..(bh * nq + i + 1) * dv];
            let dp: Vec<f64> = (0..nk)
                .map(|j| Attention::dot(go_i, &v[(bh * nk + j) * dv..(bh * nk + j + 1) * dv]))
                .collect();
            let rowsum: f64 = row.p.iter().zip(&dp).map(|(p, g)| p * g).sum();
            for j in 0..nk {
                let ds = row.p[j] * (dp[j] - rowsum);
                // How large dS's terms are, and how far rounding moves them.
                let ds_size = row.p[j] * (dp[j].abs() + rowsum.abs()) * row.far[j];
                for e in 0..d {
                    let (qe, ke) = (q[(bh * nq + i) * d + e], k[(bh * nk + j) * d + e]);
                    dq[i * d + e].0 += scale * ds * ke;
                    dq[i * d + e].1 += scale * ds_size * ke.abs();
                    dk[j * d + e].0 += scale * ds * qe;
                    dk[j * d + e].1 += scale * ds_size * qe.abs();
                }
                for e in 0..dv {
                    dvv[j * dv + e].0 += row.p[j] * go_i[e];
                    dvv[j * dv + e].1 += row.p[j] * row.far[j] * go_i[e].abs();
                }
            }
        }
        [dq, dk, dvv]
    }

    /// dQ, dK and dV of every batch-head.
    pub fn backward(&self, q: &[f64], k: &[f64], v: &[f64], go: &[f64]) -> [Vec<Scaled>; 3] {
        let mut out: [Vec<Scaled>; 3] = Default::default();
        for bh in 0..self.batch * self.heads {
            for (all, head) in out.iter_mut().zip(self.backward_head([q, k, v, go], bh)) {
                all.extend(head);
            }
        }
        out
    }
}
