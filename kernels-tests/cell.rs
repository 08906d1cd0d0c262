//! The recurrent cells' kernels (src/kernels/cell.rs): one step forward and
//! backward of the LSTM, GRU and tanh/relu RNN cells, both the kernels and
//! the composed form, against a float64 reference whose backward finite
//! differences check; odd sizes, outputs poisoned with NaN first; bad shapes
//! as typed errors naming the op. One-step modules (T = 1) against the
//! reference LSTM.

use crate::common::{
    assert_close, assert_matches_differences, dev, finite_differences, read, rng, tensor, uniform,
};
use shadergrad::nn::{CellKind, Lstm, RecurrentOptions, Stateful, cell_step};
use shadergrad::{Error, Tensor};
use shadergrad_reference::recurrent::{
    Cell, CellStep, LstmWeights, cell_backward, cell_forward, lstm,
};

const KINDS: [(CellKind, Cell); 4] = [
    (CellKind::RnnTanh, Cell::RnnTanh),
    (CellKind::RnnRelu, Cell::RnnRelu),
    (CellKind::Lstm, Cell::Lstm),
    (CellKind::Gru, Cell::Gru),
];

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&v| v as f64).collect()
}

fn leaf(v: &[f32], shape: &[usize]) -> Tensor {
    let t = tensor(v, shape);
    t.set_requires_grad(true).unwrap();
    t
}

/// One step at (b, h) with and without b_hh, both forms, against the
/// reference: h', c' and the gradients of xp, h, c, W_hh^T and b_hh for the
/// loss sum(h' wh) + sum(c' wc).
fn check_step(kind: CellKind, cell: Cell, b: usize, h: usize, bias: bool, fused: bool) {
    let g = cell.gates() * h;
    let mut r = rng((b * 131 + h * 7 + g) as u64);
    let (xp, hv, cv) = (
        uniform(&mut r, b * g, -2.0, 2.0),
        uniform(&mut r, b * h, -1.0, 1.0),
        uniform(&mut r, b * h, -2.0, 2.0),
    );
    let (w, bh) = (
        uniform(&mut r, h * g, -1.0, 1.0),
        uniform(&mut r, g, -1.0, 1.0),
    );
    let (wh, wc) = (
        uniform(&mut r, b * h, -1.0, 1.0),
        uniform(&mut r, b * h, -1.0, 1.0),
    );
    let lstm = kind == CellKind::Lstm;
    let (txp, th, tc, tw, tb) = (
        leaf(&xp, &[b, g]),
        leaf(&hv, &[b, h]),
        leaf(&cv, &[b, h]),
        leaf(&w, &[h, g]),
        leaf(&bh, &[g]),
    );
    let (h2, c2) = cell_step(
        kind,
        &txp,
        &th,
        lstm.then_some(&tc),
        &tw,
        bias.then_some(&tb),
        fused,
    )
    .unwrap();
    let mut loss = h2.mul(&tensor(&wh, &[b, h])).unwrap().sum_all().unwrap();
    if let Some(c2) = &c2 {
        let lc = c2.mul(&tensor(&wc, &[b, h])).unwrap().sum_all().unwrap();
        loss = loss.add(&lc).unwrap();
    }
    loss.backward().unwrap();
    // The reference: hp = h W + b in float64, then the cell.
    let (xp, hv, cv, w, bh) = (f64s(&xp), f64s(&hv), f64s(&cv), f64s(&w), f64s(&bh));
    let bias_at = |j: usize| if bias { bh[j] } else { 0.0 };
    let hp: Vec<f64> = (0..b * g)
        .map(|e| {
            (0..h)
                .map(|k| hv[e / g * h + k] * w[k * g + e % g])
                .sum::<f64>()
                + bias_at(e % g)
        })
        .collect();
    let s = CellStep::of(cell, b, h, [&xp, &hp, &hv, &cv]);
    let what = format!("{kind:?} b {b} h {h} bias {bias} fused {fused}");
    let (rh, rc) = cell_forward(&s);
    assert_close(&format!("{what}: h'"), &read(&h2), &rh, 1e-4, 1e-5);
    if let Some(c2) = &c2 {
        assert_close(&format!("{what}: c'"), &read(c2), &rc, 1e-4, 1e-5);
    }
    let wcs = if lstm { f64s(&wc) } else { vec![0.0; b * h] };
    let d = cell_backward(&s, &f64s(&wh), &wcs);
    let dh: Vec<f64> = (0..b * h)
        .map(|e| {
            (0..g)
                .map(|j| d.dhp[e / h * g + j] * w[e % h * g + j])
                .sum::<f64>()
                + d.dh_prev[e]
        })
        .collect();
    let dw: Vec<f64> = (0..h * g)
        .map(|e| {
            (0..b)
                .map(|n| hv[n * h + e / g] * d.dhp[n * g + e % g])
                .sum()
        })
        .collect();
    let db: Vec<f64> = (0..g)
        .map(|j| (0..b).map(|n| d.dhp[n * g + j]).sum())
        .collect();
    let grad = |t: &Tensor| read(&t.grad().expect("a gradient"));
    assert_close(&format!("{what}: dxp"), &grad(&txp), &d.dxp, 1e-4, 1e-5);
    assert_close(&format!("{what}: dh"), &grad(&th), &dh, 1e-4, 1e-5);
    assert_close(&format!("{what}: dW"), &grad(&tw), &dw, 1e-4, 1e-5);
    if lstm {
        assert_close(&format!("{what}: dc"), &grad(&tc), &d.dc_prev, 1e-4, 1e-5);
    }
    if bias {
        assert_close(&format!("{what}: db"), &grad(&tb), &db, 1e-4, 1e-5);
    }
}

#[test]
fn cells_match_a_float64_reference_forward_and_backward() {
    for (kind, cell) in KINDS {
        for (b, h) in [(1, 1), (3, 5), (1, 33), (3, 33)] {
            for fused in [true, false] {
                check_step(kind, cell, b, h, true, fused);
            }
        }
        check_step(kind, cell, 3, 5, false, true);
    }
}

#[test]
fn the_reference_cell_backward_matches_finite_differences() {
    let (b, h) = (2, 3);
    for (_, cell) in KINDS {
        let g = cell.gates() * h;
        let mut r = rng(17 + g as u64);
        let mut draw = |n: usize| f64s(&uniform(&mut r, n, -1.5, 1.5));
        let (xp, hp, hv, cv) = (draw(b * g), draw(b * g), draw(b * h), draw(b * h));
        let (wh, wc) = (draw(b * h), draw(b * h));
        let loss = |v: &[Vec<f64>]| {
            let s = CellStep::of(cell, b, h, [&v[0], &v[1], &v[2], &v[3]]);
            let (h2, c2) = cell_forward(&s);
            let lh: f64 = h2.iter().zip(&wh).map(|(a, w)| a * w).sum();
            lh + c2.iter().zip(&wc).map(|(a, w)| a * w).sum::<f64>()
        };
        let fd = finite_differences(&[&xp, &hp, &hv, &cv], loss);
        let s = CellStep::of(cell, b, h, [&xp, &hp, &hv, &cv]);
        let d = cell_backward(&s, &wh, &wc);
        let what = format!("{cell:?}");
        assert_matches_differences(&format!("{what} dxp"), &d.dxp, &fd[0]);
        assert_matches_differences(&format!("{what} dhp"), &d.dhp, &fd[1]);
        assert_matches_differences(&format!("{what} dh"), &d.dh_prev, &fd[2]);
        assert_matches_differences(&format!("{what} dc"), &d.dc_prev, &fd[3]);
    }
}

#[test]
fn bad_cell_shapes_are_typed_errors_naming_the_op() {
    let z = |s: &[usize]| Tensor::zeros(dev(), s, shadergrad::DType::F32).unwrap();
    let (h, w) = (z(&[2, 5]), z(&[5, 20]));
    // xp of the wrong width, a c of the wrong shape, a b_hh of the wrong size.
    let cases = [
        cell_step(CellKind::Lstm, &z(&[2, 19]), &h, Some(&h), &w, None, true),
        cell_step(
            CellKind::Lstm,
            &z(&[2, 20]),
            &h,
            Some(&z(&[3, 5])),
            &w,
            None,
            true,
        ),
        cell_step(
            CellKind::Lstm,
            &z(&[2, 20]),
            &h,
            Some(&h),
            &w,
            Some(&z(&[7])),
            false,
        ),
        cell_step(CellKind::Lstm, &z(&[2, 20]), &h, None, &w, None, true),
    ];
    for r in cases {
        match r {
            Err(Error::InvalidArgument {
                op: "lstm_cell", ..
            }) => {}
            other => panic!("expected a typed lstm_cell error, got {:?}", other.err()),
        }
    }
    let gw = z(&[5, 15]);
    match cell_step(CellKind::Gru, &z(&[3, 15]), &h, None, &gw, None, true) {
        Err(Error::InvalidArgument {
            op: "gru_cell",
            msg,
            ..
        }) => {
            assert!(msg.contains("[2, 15]"), "{msg}")
        }
        other => panic!("expected a typed gru_cell error, got {:?}", other.err()),
    }
}

#[test]
fn one_step_lstm_modules_match_the_reference() {
    for (t, b, h) in [(1, 1, 1), (1, 3, 33), (4, 3, 5)] {
        let i = 3;
        let m = Lstm::new(dev(), i, h, RecurrentOptions::default()).unwrap();
        let mut r = rng(5 + t as u64);
        let x = uniform(&mut r, t * b * i, -1.0, 1.0);
        let out = m.forward_with(&tensor(&x, &[t, b, i]), None, None).unwrap();
        let p: Vec<Vec<f64>> = m.parameters().iter().map(|p| f64s(&read(p))).collect();
        let w = LstmWeights::of(&p);
        let want = lstm(&w, &f64s(&x), (t, b, i, h));
        assert_close(
            &format!("lstm T {t} B {b} H {h}"),
            &read(&out.output),
            &want,
            1e-4,
            1e-5,
        );
    }
}
