//! Matrix products: C = A B with either operand stored transposed (as the
//! backward's dA = dC B^T and dB = A^T dC read them, in place), batches, and
//! the linear layer y = x W^T + b.

use crate::{Scaled, sum_terms};

/// C (m x n) = op(A) op(B) with inner dimension k. A is stored (m, k), or
/// (k, m) when `a_transposed`; B is (k, n), or (n, k) when `b_transposed`.
#[derive(Clone, Copy, Debug)]
pub struct Product<'a> {
    pub a: &'a [f64],
    pub b: &'a [f64],
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub a_transposed: bool,
    pub b_transposed: bool,
}

impl Product<'_> {
    fn a_at(&self, i: usize, kk: usize) -> f64 {
        if self.a_transposed {
            self.a[kk * self.m + i]
        } else {
            self.a[i * self.k + kk]
        }
    }

    fn b_at(&self, kk: usize, j: usize) -> f64 {
        if self.b_transposed {
            self.b[j * self.k + kk]
        } else {
            self.b[kk * self.n + j]
        }
    }

    /// C[i, j] = sum_k A[i, k] B[k, j]; flat index `e` = i n + j.
    pub fn element(&self, e: usize) -> Scaled {
        let (i, j) = (e / self.n, e % self.n);
        sum_terms((0..self.k).map(|kk| self.a_at(i, kk) * self.b_at(kk, j)))
    }

    /// Every element of C.
    pub fn all(&self) -> Vec<Scaled> {
        (0..self.m * self.n).map(|e| self.element(e)).collect()
    }
}

/// C[z] = A[z] B[z] for row-major (batch, m, k) x (batch, k, n).
pub fn matmul(a: &[f64], b: &[f64], batch: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
    (0..batch)
        .flat_map(|z| {
            let p = Product {
                a: &a[z * m * k..(z + 1) * m * k],
                b: &b[z * k * n..(z + 1) * k * n],
                m,
                k,
                n,
                a_transposed: false,
                b_transposed: false,
            };
            p.all().into_iter().map(|(c, _)| c)
        })
        .collect()
}

/// A linear layer: y = x W^T + bias for x (rows, inputs) and W stored
/// (outputs, inputs), as nn::Linear keeps it. Each output's scale counts the
/// bias as a term.
pub fn linear(x: &[f64], rows: usize, w: &[f64], bias: &[f64], inputs: usize) -> Vec<Scaled> {
    let outputs = bias.len();
    (0..rows * outputs)
        .map(|e| {
            let (r, o) = (e / outputs, e % outputs);
            let products = (0..inputs).map(|i| x[r * inputs + i] * w[o * inputs + i]);
            sum_terms(products.chain(std::iter::once(bias[o])))
        })
        .collect()
}
