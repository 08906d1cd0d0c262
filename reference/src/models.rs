//! Whole models the benchmark times end to end, composed of the references
//! above: an MLP of linear layers with ReLU between them, and a small CNN,
//! each under a mean cross-entropy loss.

use crate::conv2d::Conv2d;
use crate::cross_entropy::CrossEntropy;
use crate::matmul::linear;
use crate::pool2d::Pool2d;
use crate::{Scaled, values};

/// A linear layer's weight (outputs, inputs) and bias.
pub struct Layer {
    pub w: Vec<f64>,
    pub b: Vec<f64>,
}

impl Layer {
    fn inputs(&self) -> usize {
        self.w.len() / self.b.len()
    }
}

fn relu(v: &mut [f64]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

/// The logits of an MLP (ReLU after every layer but the last).
pub fn mlp_logits(layers: &[Layer], x: &[f64], rows: usize) -> Vec<f64> {
    let mut h = x.to_vec();
    for (l, layer) in layers.iter().enumerate() {
        h = values(&linear(&h, rows, &layer.w, &layer.b, layer.inputs()));
        if l + 1 < layers.len() {
            relu(&mut h);
        }
    }
    h
}

/// The MLP's mean cross-entropy on `labels`.
pub fn mlp_loss(layers: &[Layer], x: &[f64], labels: &[i32]) -> f64 {
    let classes = layers.last().map_or(1, |l| l.b.len());
    CrossEntropy::new(classes)
        .mean(&mlp_logits(layers, x, labels.len()), labels)
        .0
}

/// The gradients (dW1, db1, dW2, db2) of a two-layer MLP's mean
/// cross-entropy. A ReLU input within rounding of 0 (1e-5 of its terms) may
/// fall either side of it on the GPU, so what flows through it counts as
/// uncertain (a huge scale) rather than failing the gate.
pub fn mlp2_grads(l1: &Layer, l2: &Layer, x: &[f64], labels: &[i32]) -> [Vec<Scaled>; 4] {
    let (n, din, hid, dout) = (labels.len(), l1.inputs(), l1.b.len(), l2.b.len());
    let pre = linear(x, n, &l1.w, &l1.b, din);
    let h: Vec<f64> = pre.iter().map(|&(p, _)| p.max(0.0)).collect();
    let z = values(&linear(&h, n, &l2.w, &l2.b, hid));
    let dz = values(&CrossEntropy::new(dout).mean_grad(&z, labels));
    let (mut dw2, mut db2) = (vec![(0.0, 0.0); dout * hid], vec![(0.0, 0.0); dout]);
    let mut dpre = vec![(0.0, 0.0); n * hid];
    for r in 0..n {
        for o in 0..dout {
            let g = dz[r * dout + o];
            crate::add_term(&mut db2[o], g);
            for j in 0..hid {
                crate::add_term(&mut dw2[o * hid + j], g * h[r * hid + j]);
            }
        }
        for j in 0..hid {
            let (s, a) = crate::sum_terms((0..dout).map(|o| dz[r * dout + o] * l2.w[o * hid + j]));
            let (p, p_terms) = pre[r * hid + j];
            dpre[r * hid + j] = if p.abs() < 1e-5 * p_terms {
                (if p > 0.0 { s } else { 0.0 }, a + s.abs() * 1e6)
            } else if p > 0.0 {
                (s, a)
            } else {
                (0.0, 0.0)
            };
        }
    }
    let (mut dw1, mut db1) = (vec![(0.0, 0.0); hid * din], vec![(0.0, 0.0); hid]);
    for r in 0..n {
        for j in 0..hid {
            let (g, a) = dpre[r * hid + j];
            db1[j].0 += g;
            db1[j].1 += a;
            for i in 0..din {
                let xv = x[r * din + i];
                dw1[j * din + i].0 += g * xv;
                dw1[j * din + i].1 += a * xv.abs();
            }
        }
    }
    [dw1, db1, dw2, db2]
}

/// A conv layer's weight (Cout, Cin, K, K) and bias.
pub struct ConvLayer {
    pub w: Vec<f64>,
    pub b: Vec<f64>,
}

/// conv (padding k / 2, stride 1) + bias, ReLU, 2x2 max pool of (B, C, H, W).
fn conv_relu_pool(
    x: &[f64],
    batch: usize,
    [cin, h, w]: [usize; 3],
    layer: &ConvLayer,
    k: usize,
) -> Vec<f64> {
    let cout = layer.b.len();
    let conv = Conv2d::new(batch, [cin, cout], [h, w], [k, k], k / 2);
    let plane = h * w;
    let mut y: Vec<f64> = conv
        .forward(x, &layer.w)
        .iter()
        .enumerate()
        .map(|(i, &(v, _))| v + layer.b[(i / plane) % cout])
        .collect();
    relu(&mut y);
    let pool = Pool2d::square(true, 2, 2, 0);
    values(&pool.forward(&y, batch * cout, h, w).y)
}

/// The mean cross-entropy of a CNN: two (conv, ReLU, 2x2 max pool) stages
/// on (B, C, H, W) images, flattened into an MLP.
pub fn cnn_loss(
    convs: &[ConvLayer; 2],
    k: usize,
    mlp: &[Layer],
    x: &[f64],
    image: [usize; 3],
    labels: &[i32],
) -> f64 {
    let batch = labels.len();
    let [c0, h, w] = image;
    let c1 = convs[0].b.len();
    let h1 = conv_relu_pool(x, batch, [c0, h, w], &convs[0], k);
    let h2 = conv_relu_pool(&h1, batch, [c1, h / 2, w / 2], &convs[1], k);
    mlp_loss(mlp, &h2, labels)
}
