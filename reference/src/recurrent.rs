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

impl<'a> LstmWeights<'a> {
    /// The weights in a module's `parameters()` order (PyTorch's): weight_ih,
    /// weight_hh, bias_ih, bias_hh, then w_ci, w_cf, w_co when there are seven.
    pub fn of(p: &'a [Vec<f64>]) -> LstmWeights<'a> {
        LstmWeights {
            ih: &p[0],
            hh: &p[1],
            b_ih: &p[2],
            b_hh: &p[3],
            peep: (p.len() == 7).then(|| [&p[4][..], &p[5][..], &p[6][..]]),
        }
    }
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

/// Which cell a cell-level reference computes (PyTorch's formulations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    RnnTanh,
    RnnRelu,
    Lstm,
    Gru,
}

impl Cell {
    /// Gate blocks of H in the pre-activations.
    pub fn gates(self) -> usize {
        match self {
            Cell::RnnTanh | Cell::RnnRelu => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// One step's inputs, (B, gates H) pre-activations row-major: `xp` the input
/// side x W_ih^T + b_ih, `hp` the hidden side h W_hh^T + b_hh (the GRU's r
/// multiplies its n block, bias included), the previous `h` and, for the
/// LSTM, `c` (B, H).
pub struct CellStep<'a> {
    pub cell: Cell,
    pub b: usize,
    pub h: usize,
    pub xp: &'a [f64],
    pub hp: &'a [f64],
    pub h_prev: &'a [f64],
    pub c_prev: &'a [f64],
}

impl<'a> CellStep<'a> {
    /// A step of `cell` over `b` x `h` from its inputs `[xp, hp, h_prev, c_prev]`.
    pub fn of(cell: Cell, b: usize, h: usize, [xp, hp, h_prev, c_prev]: [&'a [f64]; 4]) -> Self {
        CellStep {
            cell,
            b,
            h,
            xp,
            hp,
            h_prev,
            c_prev,
        }
    }
}

/// One step's gradients: of `xp`, of `hp`, and the direct ones of the
/// previous h (the GRU's z dh') and c (the LSTM's f dc').
pub struct CellGrads {
    pub dxp: Vec<f64>,
    pub dhp: Vec<f64>,
    pub dh_prev: Vec<f64>,
    pub dc_prev: Vec<f64>,
}

/// (h', c') of one step (c' empty but for the LSTM).
pub fn cell_forward(s: &CellStep) -> (Vec<f64>, Vec<f64>) {
    let (b, h) = (s.b, s.h);
    let g = s.cell.gates() * h;
    let (mut h2, mut c2) = (vec![0.0; b * h], Vec::new());
    if s.cell == Cell::Lstm {
        c2 = vec![0.0; b * h];
    }
    for n in 0..b {
        for u in 0..h {
            let e = n * h + u;
            let at = |k: usize| n * g + k * h + u;
            let pre = |k: usize| s.xp[at(k)] + s.hp[at(k)];
            match s.cell {
                Cell::RnnTanh => h2[e] = pre(0).tanh(),
                Cell::RnnRelu => h2[e] = pre(0).max(0.0),
                Cell::Lstm => {
                    let (i, f) = (sigmoid(pre(0)), sigmoid(pre(1)));
                    let (gg, o) = (pre(2).tanh(), sigmoid(pre(3)));
                    c2[e] = f * s.c_prev[e] + i * gg;
                    h2[e] = o * c2[e].tanh();
                }
                Cell::Gru => {
                    let (r, z) = (sigmoid(pre(0)), sigmoid(pre(1)));
                    let nn = (s.xp[at(2)] + r * s.hp[at(2)]).tanh();
                    h2[e] = (1.0 - z) * nn + z * s.h_prev[e];
                }
            }
        }
    }
    (h2, c2)
}

/// The step's gradients given dh' and (LSTM) dc', by the chain rule.
pub fn cell_backward(s: &CellStep, dh: &[f64], dc: &[f64]) -> CellGrads {
    let (b, h) = (s.b, s.h);
    let g = s.cell.gates() * h;
    let mut d = CellGrads {
        dxp: vec![0.0; b * g],
        dhp: vec![0.0; b * g],
        dh_prev: vec![0.0; b * h],
        dc_prev: vec![0.0; b * h],
    };
    for n in 0..b {
        for u in 0..h {
            let e = n * h + u;
            let at = |k: usize| n * g + k * h + u;
            let pre = |k: usize| s.xp[at(k)] + s.hp[at(k)];
            let mut both = |k: usize, v: f64| {
                d.dxp[at(k)] = v;
                d.dhp[at(k)] = v;
            };
            match s.cell {
                Cell::RnnTanh => both(0, dh[e] * (1.0 - pre(0).tanh().powi(2))),
                Cell::RnnRelu => both(0, if pre(0) > 0.0 { dh[e] } else { 0.0 }),
                Cell::Lstm => {
                    let (i, f) = (sigmoid(pre(0)), sigmoid(pre(1)));
                    let (gg, o) = (pre(2).tanh(), sigmoid(pre(3)));
                    let c2 = f * s.c_prev[e] + i * gg;
                    let tc = c2.tanh();
                    let dcs = dc[e] + dh[e] * o * (1.0 - tc * tc);
                    both(0, dcs * gg * i * (1.0 - i));
                    both(1, dcs * s.c_prev[e] * f * (1.0 - f));
                    both(2, dcs * i * (1.0 - gg * gg));
                    both(3, dh[e] * tc * o * (1.0 - o));
                    d.dc_prev[e] = dcs * f;
                }
                Cell::Gru => {
                    let (r, z) = (sigmoid(pre(0)), sigmoid(pre(1)));
                    let hn = s.hp[at(2)];
                    let nn = (s.xp[at(2)] + r * hn).tanh();
                    let dn = dh[e] * (1.0 - z) * (1.0 - nn * nn);
                    both(0, dn * hn * r * (1.0 - r));
                    both(1, dh[e] * (s.h_prev[e] - nn) * z * (1.0 - z));
                    d.dxp[at(2)] = dn;
                    d.dhp[at(2)] = dn * r;
                    d.dh_prev[e] = dh[e] * z;
                }
            }
        }
    }
    d
}
