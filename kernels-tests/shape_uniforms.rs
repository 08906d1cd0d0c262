//! The uniform form of the generated kernels (sizes and strides read from a
//! uniform, one pipeline for every shape of a structure) computes exactly
//! what the constant form does, on views, broadcasts, flips, concats, pads,
//! index checks, chunked sums and gradients; and a new shape of a structure
//! seen before compiles nothing.

use crate::common::*;
use shadergrad::{Device, Tensor, Tuning};

/// A device whose generated kernels bake `constants` shapes each.
fn device(constants: usize) -> Device {
    device_with(constants, true)
}

fn device_with(constants: usize, subgroups: bool) -> Device {
    let d = Device::new().unwrap();
    d.set_tuning(Tuning {
        poison: true,
        shape_constants: constants,
        subgroups,
        ..d.tuning()
    });
    d
}

/// Hand-written kernels with size overrides (attention's lengths, the norms'
/// and cumsum's rows), forward and backward, at sequence length `n`.
fn sized_kernels(d: &Device, n: usize) -> Vec<Vec<f32>> {
    let mut r = rng(950 + n as u64);
    let mut p = |shape: &[usize]| {
        let v = uniform(&mut r, shape.iter().product(), -1.0, 1.0);
        shadergrad::nn::parameter(Tensor::from_slice(d, &v, shape).unwrap()).unwrap()
    };
    let (q, k, v) = (p(&[2, 2, n, 4]), p(&[2, 2, n + 1, 4]), p(&[2, 2, n + 1, 4]));
    let (gamma, beta, h) = (p(&[6]), p(&[6]), p(&[2, n, 6]));
    let lens = Tensor::from_slice(d, &[n as i32, 1], &[2]).unwrap();
    let mask = shadergrad::AttentionMask {
        causal: true,
        key_lengths: Some(&lens),
        ..Default::default()
    };
    let o = Tensor::attention(&q, &k, &v, mask, None).unwrap();
    let ln = h.layer_norm(&gamma, &beta, 1e-5).unwrap();
    let rms = h.rms_norm(&gamma, 1e-6).unwrap();
    let cs = h.cumsum(1).unwrap();
    let loss = [&o, &ln, &rms, &cs]
        .iter()
        .map(|t| t.square().unwrap().sum_all().unwrap())
        .reduce(|a, b| a.add(&b).unwrap())
        .unwrap();
    loss.backward().unwrap();
    let mut out: Vec<Vec<f32>> = [&o, &ln, &rms, &cs].iter().map(|t| read(t)).collect();
    out.extend(
        [&q, &k, &v, &gamma, &beta, &h]
            .iter()
            .map(|t| read(&t.grad().unwrap())),
    );
    out
}

/// Results of a program touching every index form the codegen emits, at row
/// count `n`.
fn program(d: &Device, n: usize) -> Vec<Vec<f32>> {
    let mut r = rng(900 + n as u64);
    let v = uniform(&mut r, n * 6 * 5, -2.0, 2.0);
    let x = shadergrad::nn::parameter(Tensor::from_slice(d, &v, &[n, 6, 5]).unwrap()).unwrap();
    let b = Tensor::from_slice(d, &uniform(&mut r, 6, -1.0, 1.0), &[6, 1]).unwrap();
    let flipped = x.flip(&[0, 2]).unwrap().slice(1, 1, 6, 2).unwrap();
    let joined = Tensor::cat(&[&flipped, &x.narrow(1, 0, 2).unwrap()], 1).unwrap();
    let padded = joined.pad(&[(1, 2), (0, 0), (2, -1)], 0.5).unwrap();
    let y = x
        .permute(&[2, 0, 1])
        .unwrap()
        .add(&b.reshape(&[6]).unwrap())
        .unwrap();
    let loss = padded
        .square()
        .unwrap()
        .sum_all()
        .unwrap()
        .add(&y.sum_all().unwrap())
        .unwrap();
    loss.backward().unwrap();
    let long = Tensor::from_slice(
        d,
        &uniform(&mut r, 3 * (4100 + n), -1.0, 1.0),
        &[3, 4100 + n],
    )
    .unwrap();
    let labels: Vec<i32> = (0..n).map(|i| (i * 7 % 5) as i32).collect();
    let idx = Tensor::from_slice(d, &labels, &[n]).unwrap();
    let picked = x.reshape(&[n, 30]).unwrap().index_select(1, &idx).unwrap();
    vec![
        read(&padded),
        read(&y.sum(&[1], false).unwrap()),
        read(&x.grad().unwrap()),
        read(&long.sum(&[1], false).unwrap()),
        read(&long.mean_all().unwrap()),
        read(
            &x.argmax(1, false)
                .unwrap()
                .cast(shadergrad::DType::F32)
                .unwrap(),
        ),
        read(&picked),
    ]
}

#[test]
fn uniform_sizes_compute_what_constant_sizes_do() {
    let (uniform_form, constant_form) = (device(0), device(usize::MAX));
    for n in [1, 3, 7, 12] {
        let (a, b) = (program(&uniform_form, n), program(&constant_form, n));
        for (j, (a, b)) in a.iter().zip(&b).enumerate() {
            let same =
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(
                same,
                "result {j} at n = {n}: uniform form {a:?}, constant form {b:?}"
            );
        }
    }
}

#[test]
fn sized_hand_written_kernels_read_their_sizes_from_a_uniform_alike() {
    for subgroups in [true, false] {
        let (a_dev, b_dev) = (
            device_with(0, subgroups),
            device_with(usize::MAX, subgroups),
        );
        for n in [1, 3, 6, 9] {
            let (a, b) = (sized_kernels(&a_dev, n), sized_kernels(&b_dev, n));
            for (j, (a, b)) in a.iter().zip(&b).enumerate() {
                // Equal values (a zero's sign may differ where the constant
                // form folds an expression).
                let same = a.iter().zip(b).all(|(x, y)| x == y);
                assert!(
                    same,
                    "result {j} at n = {n}, subgroups {subgroups}: {a:?} vs {b:?}"
                );
            }
        }
        // The uniform form compiled its kernels once for the four lengths.
        let warm = a_dev.counters();
        sized_kernels(&a_dev, 13);
        assert_eq!((a_dev.counters() - warm).pipelines_compiled, 0);
    }
}

#[test]
fn past_four_shapes_a_structure_compiles_nothing_new() {
    let d = Device::new().unwrap();
    let step = |len: usize| {
        let x = Tensor::randn(&d, &[len, 5]).unwrap();
        let b = Tensor::randn(&d, &[5]).unwrap();
        x.add(&b)
            .unwrap()
            .exp()
            .unwrap()
            .sum(&[1], false)
            .unwrap()
            .to_vec::<f32>()
            .unwrap()
    };
    // Lengths 1-4 get constant forms (length 1 is a structure of its own: its
    // unit dim folds away); 5 and 6 compile the uniform forms of the random
    // fill and the fused sum, and every later length uses them.
    for len in 1..=4 {
        step(len);
    }
    let warm = d.counters();
    for len in 5..=6 {
        step(len);
    }
    assert_eq!((d.counters() - warm).pipelines_compiled, 2);
    let warm = d.counters();
    for len in 7..=40 {
        step(len);
    }
    let c = d.counters() - warm;
    assert_eq!(c.pipelines_compiled, 0, "{c:?}");
    assert_eq!(c.plans_built, 34, "{c:?}");
    // A shape given constants before still gets them.
    let warm = d.counters();
    step(3);
    assert_eq!((d.counters() - warm).pipelines_compiled, 0);
}
