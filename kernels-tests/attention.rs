//! Fused attention against the float64 reference (shadergrad-reference),
//! which DOES materialise the N x N scores, for every mask, odd lengths (1, 7, 33, 100), Nq < Nk and
//! Nq > Nk, head dims 16, 18, 24, 64, 128 and Dv != D; the reference's
//! gradients checked by finite differences; both kernel forms; and no N x N
//! buffer at N = 4096.

use crate::common::*;
use shadergrad::{AttentionMask, Device, Tensor, Tuning};
use shadergrad_reference::attention::Attention;
use shadergrad_reference::values;

#[derive(Clone, Copy)]
struct Case {
    b: usize,
    h: usize,
    nq: usize,
    nk: usize,
    d: usize,
    dv: usize,
    causal: bool,
    window: Option<usize>,
    padded: bool,
}

fn lens(c: &Case) -> Vec<i32> {
    (0..c.b)
        .map(|b| (c.nk as i32 - 2 * b as i32 - 1).max(1))
        .collect()
}

/// The float64 reference of a case (it materialises the N x N scores).
fn reference(c: &Case) -> Attention {
    Attention {
        batch: c.b,
        heads: c.h,
        nq: c.nq,
        nk: c.nk,
        d: c.d,
        dv: c.dv,
        causal: c.causal,
        window: c.window,
        key_lengths: c
            .padded
            .then(|| lens(c).iter().map(|&l| l as usize).collect()),
    }
}

/// Reference forward: O.
fn forward(c: &Case, q: &[f64], k: &[f64], v: &[f64]) -> Vec<f64> {
    values(&reference(c).forward(q, k, v))
}

/// Reference backward through the materialised P: (dq, dk, dv).
fn backward(c: &Case, q: &[f64], k: &[f64], v: &[f64], go: &[f64]) -> [Vec<f64>; 3] {
    reference(c).backward(q, k, v, go).map(|g| values(&g))
}

fn random(r: &mut rand::rngs::StdRng, n: usize) -> Vec<f64> {
    uniform(r, n, -1.0, 1.0).iter().map(|&v| v as f64).collect()
}

fn masks(b: usize, nq: usize, nk: usize, d: usize) -> Vec<Case> {
    let base = Case {
        b,
        h: 2,
        nq,
        nk,
        d,
        dv: d,
        causal: false,
        window: None,
        padded: false,
    };
    vec![
        base,
        Case {
            causal: true,
            ..base
        },
        Case {
            padded: true,
            ..base
        },
        Case {
            window: Some(3),
            ..base
        },
        Case {
            causal: true,
            window: Some(2),
            padded: true,
            ..base
        },
    ]
}

#[test]
fn reference_gradients_match_finite_differences() {
    let mut r = rng(90);
    for c in masks(2, 5, 6, 4) {
        let (q, k, v) = (
            random(&mut r, 2 * 2 * 5 * 4),
            random(&mut r, 2 * 2 * 6 * 4),
            random(&mut r, 2 * 2 * 6 * 4),
        );
        let go = random(&mut r, 2 * 2 * 5 * 4);
        let grads = backward(&c, &q, &k, &v, &go);
        let loss = |q: &[f64], k: &[f64], v: &[f64]| {
            forward(&c, q, k, v)
                .iter()
                .zip(&go)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        let h = 1e-6;
        for which in 0..3 {
            let x = [&q, &k, &v][which];
            for j in 0..x.len() {
                let mut a = [q.clone(), k.clone(), v.clone()];
                let mut b = [q.clone(), k.clone(), v.clone()];
                a[which][j] += h;
                b[which][j] -= h;
                let fd = (loss(&a[0], &a[1], &a[2]) - loss(&b[0], &b[1], &b[2])) / (2.0 * h);
                assert!(
                    (fd - grads[which][j]).abs() < 1e-6,
                    "d input {which}[{j}]: {} vs {fd}",
                    grads[which][j]
                );
            }
        }
    }
}

fn check(d: &Device, label: &str, c: Case, r: &mut rand::rngs::StdRng) {
    let (qn, kn, vn) = (
        c.b * c.h * c.nq * c.d,
        c.b * c.h * c.nk * c.d,
        c.b * c.h * c.nk * c.dv,
    );
    let (q, k, v) = (random(r, qn), random(r, kn), random(r, vn));
    let go = random(r, c.b * c.h * c.nq * c.dv);
    let f = |x: &[f64]| x.iter().map(|&e| e as f32).collect::<Vec<_>>();
    let p = |x: &[f64], s: &[usize]| {
        shadergrad::nn::parameter(Tensor::from_slice(d, &f(x), s).unwrap()).unwrap()
    };
    let tq = p(&q, &[c.b, c.h, c.nq, c.d]);
    let tk = p(&k, &[c.b, c.h, c.nk, c.d]);
    let tv = p(&v, &[c.b, c.h, c.nk, c.dv]);
    let lt = Tensor::from_slice(d, &lens(&c), &[c.b]).unwrap();
    let mask = AttentionMask {
        causal: c.causal,
        window: c.window,
        key_lengths: c.padded.then_some(&lt),
    };
    let o = Tensor::attention(&tq, &tk, &tv, mask, None).unwrap();
    assert_eq!(o.shape(), &[c.b, c.h, c.nq, c.dv]);
    let name = format!(
        "{label} attention b{} h{} nq{} nk{} d{} dv{} causal={} window={:?} padded={}",
        c.b, c.h, c.nq, c.nk, c.d, c.dv, c.causal, c.window, c.padded
    );
    let gt = Tensor::from_slice(d, &f(&go), o.shape()).unwrap();
    o.mul(&gt).unwrap().sum_all().unwrap().backward().unwrap();
    assert_close(
        &name,
        &o.to_vec::<f32>().unwrap(),
        &forward(&c, &q, &k, &v),
        1e-4,
        1e-5,
    );
    let [dq, dk, dv] = backward(&c, &q, &k, &v, &go);
    assert_close(
        &format!("{name} dq"),
        &tq.grad().unwrap().to_vec::<f32>().unwrap(),
        &dq,
        1e-3,
        1e-5,
    );
    assert_close(
        &format!("{name} dk"),
        &tk.grad().unwrap().to_vec::<f32>().unwrap(),
        &dk,
        1e-3,
        1e-5,
    );
    assert_close(
        &format!("{name} dv"),
        &tv.grad().unwrap().to_vec::<f32>().unwrap(),
        &dv,
        1e-3,
        1e-5,
    );
}

fn run(lanes: bool) {
    let d = Device::new().unwrap();
    d.set_tuning(Tuning {
        poison: true,
        ..d.tuning()
    });
    d.set_tuning(Tuning {
        subgroups: lanes,
        ..d.tuning()
    });
    let label = if lanes { "lanes" } else { "rows" };
    let mut r = rng(91);
    // Every mask at odd lengths, self and cross attention.
    for (nq, nk, hd) in [
        (7, 7, 16),
        (33, 33, 24),
        (7, 33, 16),
        (33, 7, 16),
        (100, 100, 64),
    ] {
        for c in masks(2, nq, nk, hd) {
            check(&d, label, c, &mut r);
        }
    }
    // Value dims other than the key dims, the largest head dim, and a head
    // dim that is not whole vec4s (the lanes launcher falls back to rows).
    for (nq, nk, hd, dv) in [(17, 20, 24, 16), (9, 13, 128, 128), (11, 11, 18, 18)] {
        for c in [masks(1, nq, nk, hd)[1], masks(1, nq, nk, hd)[4]] {
            check(&d, label, Case { dv, ..c }, &mut r);
        }
    }
    // Lengths 1 and 100, head dim 64, one mask each.
    check(
        &d,
        label,
        Case {
            b: 1,
            h: 1,
            nq: 1,
            nk: 1,
            d: 64,
            dv: 64,
            causal: true,
            window: None,
            padded: false,
        },
        &mut r,
    );
    check(
        &d,
        label,
        Case {
            b: 1,
            h: 2,
            nq: 100,
            nk: 100,
            d: 64,
            dv: 64,
            causal: true,
            window: None,
            padded: false,
        },
        &mut r,
    );
}

#[test]
fn lanes_form_matches_the_materialised_reference() {
    if !shadergrad::MatmulVariant::available(&Device::new().unwrap())
        .contains(&shadergrad::MatmulVariant::Lanes)
    {
        return;
    }
    run(true);
}

#[test]
fn row_form_matches_the_materialised_reference() {
    run(false);
}

#[test]
fn no_n_by_n_buffer_at_4096() {
    let d = Device::new().unwrap();
    let n = 4096;
    let make = |s: &[usize]| shadergrad::nn::parameter(Tensor::randn(&d, s).unwrap()).unwrap();
    let (q, k, v) = (
        make(&[1, 1, n, 16]),
        make(&[1, 1, n, 16]),
        make(&[1, 1, n, 16]),
    );
    d.reset_peak_bytes();
    let before = d.counters();
    let o = Tensor::attention(
        &q,
        &k,
        &v,
        AttentionMask {
            causal: true,
            ..Default::default()
        },
        None,
    )
    .unwrap();
    o.sum_all().unwrap().backward().unwrap();
    d.realize_pending().unwrap();
    let delta = d.counters() - before;
    let nn = (n * n * 4) as u64;
    assert!(
        delta.bytes_allocated < nn / 8,
        "allocated {} bytes; N*N floats are {nn}",
        delta.bytes_allocated
    );
    assert!(
        delta.peak_bytes_live < nn / 8,
        "peak {} bytes; N*N floats are {nn}",
        delta.peak_bytes_live
    );
    assert!(
        q.grad()
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
            .iter()
            .all(|g| g.is_finite())
    );
}

#[test]
fn bad_shapes_are_typed_errors() {
    let t = |s: &[usize]| Tensor::zeros(dev(), s, shadergrad::DType::F32).unwrap();
    let m = AttentionMask::default();
    // Each case: q, k, v shapes and a phrase of the message.
    type Shape = [usize; 4];
    let cases: [(Shape, Shape, Shape, &str); 5] = [
        (
            [1, 2, 5, 16],
            [1, 2, 5, 8],
            [1, 2, 5, 16],
            "head dims differ",
        ),
        (
            [1, 2, 5, 16],
            [1, 2, 6, 16],
            [1, 2, 5, 16],
            "keys but v has",
        ),
        (
            [1, 2, 5, 256],
            [1, 2, 5, 256],
            [1, 2, 5, 16],
            "must be in 1..=128",
        ),
        (
            [2, 2, 5, 16],
            [1, 2, 5, 16],
            [2, 2, 5, 16],
            "batch and heads differ",
        ),
        (
            [65536, 1, 2, 4],
            [65536, 1, 2, 4],
            [65536, 1, 2, 4],
            "at most 65535",
        ),
    ];
    for (qs, ks, vs, phrase) in cases {
        let e = Tensor::attention(&t(&qs), &t(&ks), &t(&vs), m, None).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(
                e,
                shadergrad::Error::ShapeMismatch {
                    op: "attention",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(msg.contains(phrase), "{msg}");
        assert!(msg.contains(&format!("{qs:?}")), "{msg}");
    }
    // A sequence longer than one dispatch can hold.
    let long = [1, 1, 4 * 65535 + 1, 1];
    let e = Tensor::attention(&t(&long), &t(&long), &t(&long), m, None).unwrap_err();
    assert!(e.to_string().contains("lengths at most 262140"), "{e}");
    let bad_lens = Tensor::from_slice(dev(), &[3i32, 4], &[2]).unwrap();
    let mm = AttentionMask {
        key_lengths: Some(&bad_lens),
        ..m
    };
    let x = t(&[1, 2, 5, 16]);
    let e = Tensor::attention(&x, &x, &x, mm, None).unwrap_err();
    assert!(
        e.to_string().contains("key lengths must be i32 (1)") && e.to_string().contains("[2]"),
        "{e}"
    );
}

#[test]
fn sinusoidal_positions_follow_the_notes_formula() {
    let (n, d) = (7, 10);
    let pe = shadergrad::nn::sinusoidal(n, d);
    for i in 0..n {
        for j in 0..d / 2 {
            let a = i as f64 / 10000f64.powf(2.0 * j as f64 / d as f64);
            assert!((pe[i * d + 2 * j] as f64 - a.sin()).abs() < 1e-6);
            assert!((pe[i * d + 2 * j + 1] as f64 - a.cos()).abs() < 1e-6);
        }
    }
}

#[test]
fn multi_head_attention_matches_a_float64_reference() {
    use shadergrad::nn::{MultiHeadAttention, Stateful};
    let d = Device::new().unwrap();
    let (b, nq, nk, e, h) = (2, 5, 3, 8, 2);
    let mha = MultiHeadAttention::new(&d, e, h).unwrap();
    let mut r = rng(92);
    let x = uniform(&mut r, b * nq * e, -1.0, 1.0);
    let m = uniform(&mut r, b * nk * e, -1.0, 1.0);
    let tx = Tensor::from_slice(&d, &x, &[b, nq, e]).unwrap();
    let tm = Tensor::from_slice(&d, &m, &[b, nk, e]).unwrap();
    let got = mha
        .attend(&tx, &tm, AttentionMask::default())
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    // The same in float64 from the module's weights: per head, softmax(q k^T / sqrt(dh)) v.
    let f = |t: &Tensor| {
        t.to_vec::<f32>()
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .collect::<Vec<_>>()
    };
    // Projection `p` (0 q, 1 k, 2 v): rows p*e.. of PyTorch's stacked in_proj.
    let (wi, bi) = (f(&mha.in_proj_weight), f(&mha.in_proj_bias));
    let w = |p: usize| -> (Vec<f64>, Vec<f64>) {
        (
            wi[p * e * e..(p + 1) * e * e].to_vec(),
            bi[p * e..(p + 1) * e].to_vec(),
        )
    };
    let lin = |inp: &[f32], rows: usize, (wt, bs): &(Vec<f64>, Vec<f64>)| -> Vec<f64> {
        (0..rows * e)
            .map(|k| {
                let (r, o) = (k / e, k % e);
                bs[o]
                    + (0..e)
                        .map(|i| inp[r * e + i] as f64 * wt[o * e + i])
                        .sum::<f64>()
            })
            .collect()
    };
    let (q, k, v) = (
        lin(&x, b * nq, &w(0)),
        lin(&m, b * nk, &w(1)),
        lin(&m, b * nk, &w(2)),
    );
    let dh = e / h;
    let mut o = vec![0.0f32; b * nq * e];
    for bi in 0..b {
        for hi in 0..h {
            for i in 0..nq {
                let s: Vec<f64> = (0..nk)
                    .map(|j| {
                        (0..dh)
                            .map(|c| {
                                q[(bi * nq + i) * e + hi * dh + c]
                                    * k[(bi * nk + j) * e + hi * dh + c]
                            })
                            .sum::<f64>()
                            / (dh as f64).sqrt()
                    })
                    .collect();
                let mx = s.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = s.iter().map(|v| (v - mx).exp()).sum();
                for c in 0..dh {
                    o[(bi * nq + i) * e + hi * dh + c] = (0..nk)
                        .map(|j| (s[j] - mx).exp() / z * v[(bi * nk + j) * e + hi * dh + c])
                        .sum::<f64>()
                        as f32;
                }
            }
        }
    }
    let out = &mha.out_proj;
    let want = lin(&o, b * nq, &(f(&out.weight), f(out.bias.as_ref().unwrap())));
    assert_close("multi-head attention", &got, &want, 1e-4, 1e-5);
    let names: Vec<String> = mha.state_dict().into_iter().map(|(n, _)| n).collect();
    // torch.nn.MultiheadAttention's names and shapes.
    assert_eq!(
        names,
        [
            "in_proj_weight",
            "in_proj_bias",
            "out_proj.weight",
            "out_proj.bias"
        ]
    );
    assert_eq!(mha.in_proj_weight.shape(), [3 * e, e]);
}

#[test]
fn decoder_block_is_causal_and_ignores_padded_memory() {
    use shadergrad::nn::{DecoderBlock, Stateful};
    let d = Device::new().unwrap();
    let blk = DecoderBlock::new(&d, 8, 2, 16, 0.0).unwrap();
    blk.set_training(false);
    let mut r = rng(93);
    let x = uniform(&mut r, 6 * 8, -1.0, 1.0);
    let m = uniform(&mut r, 5 * 8, -1.0, 1.0);
    let lens = Tensor::from_slice(&d, &[3i32], &[1]).unwrap();
    let run = |x: &[f32], m: &[f32]| {
        let tx = Tensor::from_slice(&d, x, &[1, 6, 8]).unwrap();
        let tm = Tensor::from_slice(&d, m, &[1, 5, 8]).unwrap();
        blk.decode(&tx, &tm, Some(&lens))
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
    };
    let base = run(&x, &m);
    // A later decoder token cannot change an earlier position's output.
    let mut x2 = x.clone();
    for v in &mut x2[5 * 8..] {
        *v += 1.0;
    }
    let changed = run(&x2, &m);
    assert_eq!(&base[..5 * 8], &changed[..5 * 8]);
    assert_ne!(&base[5 * 8..], &changed[5 * 8..]);
    // Memory beyond its length (3) is padding: changing it changes nothing.
    let mut m2 = m.clone();
    for v in &mut m2[3 * 8..] {
        *v -= 2.0;
    }
    assert_eq!(base, run(&x, &m2));
}
