//! Softmax and log-softmax against the float64 references: both entry points, large
//! magnitudes (stability), other axes, and a row with -inf.

use crate::common::*;
use shadergrad::Tuning;
use shadergrad_reference::softmax::{log_softmax_rows, softmax_rows};
use shadergrad_reference::widen;

fn softmax_ref(v: &[f32], cols: usize, log: bool) -> Vec<f64> {
    if log {
        log_softmax_rows(&widen(v), cols)
    } else {
        softmax_rows(&widen(v), cols)
    }
}

#[test]
fn rows_of_every_length() {
    // Each form: the subgroup one where the adapter has it, and the plain
    // ones (a row per invocation; a workgroup per long row).
    for lanes in [true, false] {
        let d = shadergrad::Device::new().unwrap();
        d.set_tuning(Tuning {
            poison: true,
            ..d.tuning()
        });
        d.set_tuning(Tuning {
            subgroups: lanes,
            ..d.tuning()
        });
        every_length(&d);
    }
}

fn every_length(d: &shadergrad::Device) {
    let mut r = rng(30);
    // (1, 1), short rows, long rows (the workgroup-per-row entry), and enough
    // rows for several per workgroup.
    for &(rows, cols) in &[(1, 1), (7, 3), (33, 130), (3, 1000), (1100, 5), (611, 37)] {
        let v = uniform(&mut r, rows * cols, -8.0, 8.0);
        let x = shadergrad::Tensor::from_slice(d, &v, &[rows, cols]).unwrap();
        assert_close(
            &format!("softmax {rows}x{cols}"),
            &read(&x.softmax(-1).unwrap()),
            &softmax_ref(&v, cols, false),
            1e-4,
            1e-7,
        );
        assert_close(
            &format!("log_softmax {rows}x{cols}"),
            &read(&x.log_softmax(1).unwrap()),
            &softmax_ref(&v, cols, true),
            1e-4,
            1e-5,
        );
    }
}

#[test]
fn huge_logits_do_not_overflow() {
    let v = [1000.0f32, 1001.0, 999.0, -1000.0, -1002.0, -1001.0];
    let x = tensor(&v, &[2, 3]);
    assert_close(
        "stable",
        &read(&x.softmax(-1).unwrap()),
        &softmax_ref(&v, 3, false),
        1e-5,
        1e-7,
    );
    assert_close(
        "stable log",
        &read(&x.log_softmax(-1).unwrap()),
        &softmax_ref(&v, 3, true),
        1e-5,
        1e-5,
    );
    // A masked entry first in its row (as in causal attention) must not poison it.
    let mv = [f32::NEG_INFINITY, 0.0, 1.0, 2.0, f32::NEG_INFINITY, 1.0];
    let p = read(&tensor(&mv, &[2, 3]).softmax(-1).unwrap());
    assert_eq!((p[0], p[4]), (0.0, 0.0));
    assert_close("masked", &p, &softmax_ref(&mv, 3, false), 1e-5, 1e-7);
    let all = read(
        &tensor(&[f32::NEG_INFINITY; 2], &[1, 2])
            .softmax(-1)
            .unwrap(),
    );
    assert!(
        all.iter().all(|v| v.is_nan()),
        "a fully masked row is NaN, as in PyTorch"
    );
}

#[test]
fn along_the_first_axis() {
    let mut r = rng(31);
    let v = uniform(&mut r, 5 * 4, -2.0, 2.0);
    let x = tensor(&v, &[5, 4]);
    let y = read(&x.softmax(0).unwrap());
    let t: Vec<f32> = (0..20).map(|i| v[(i % 5) * 4 + i / 5]).collect();
    let want_t = softmax_ref(&t, 5, false);
    let want: Vec<f64> = (0..20).map(|i| want_t[(i % 4) * 5 + i / 4]).collect();
    assert_close("softmax axis 0", &y, &want, 1e-4, 1e-7);
}
