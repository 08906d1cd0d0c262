//! The LSTM of the notes in float64: PyTorch's gate order (i, f, g, o),
//! c' = f c + i g, h' = o tanh(c'), with the notes' optional peepholes (the
//! input and forget gates see c_{t-1}, the output gate c_t). One layer, one
//! direction, from zero states; the engine's multi-layer, bidirectional and
//! packed forms are matched against PyTorch itself (tests/torch_recurrent.rs).

/// The weights, in the engine's layouts: `ih` (4H, I), `hh` (4H, H), the two
/// biases (4H), and the peepholes `ci`, `cf`, `co` (H) when present.
pub struct LstmWeights<'a> {
    pub ih: &'a [f64],
    pub hh: &'a [f64],
    pub b_ih: &'a [f64],
    pub b_hh: &'a [f64],
    pub peep: Option<[&'a [f64]; 3]>,
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Every step's h for x (T, B, I): (T, B, H), row-major.
pub fn lstm(w: &LstmWeights, x: &[f64], (t, b, i, h): (usize, usize, usize, usize)) -> Vec<f64> {
    let (mut hs, mut cs) = (vec![0.0; b * h], vec![0.0; b * h]);
    let mut out = Vec::with_capacity(t * b * h);
    let peep = |k: usize, u: usize| w.peep.map_or(0.0, |p| p[k][u]);
    for s in 0..t {
        let (mut h2, mut c2) = (vec![0.0; b * h], vec![0.0; b * h]);
        for n in 0..b {
            let pre = |g: usize, u: usize| {
                let r = g * h + u;
                let xi: f64 = (0..i)
                    .map(|k| x[(s * b + n) * i + k] * w.ih[r * i + k])
                    .sum();
                let hh: f64 = (0..h).map(|k| hs[n * h + k] * w.hh[r * h + k]).sum();
                xi + hh + w.b_ih[r] + w.b_hh[r]
            };
            for u in 0..h {
                let c = cs[n * h + u];
                let ig = sigmoid(pre(0, u) + peep(0, u) * c);
                let fg = sigmoid(pre(1, u) + peep(1, u) * c);
                let cn = fg * c + ig * pre(2, u).tanh();
                let og = sigmoid(pre(3, u) + peep(2, u) * cn);
                c2[n * h + u] = cn;
                h2[n * h + u] = og * cn.tanh();
            }
        }
        out.extend(&h2);
        (hs, cs) = (h2, c2);
    }
    out
}
