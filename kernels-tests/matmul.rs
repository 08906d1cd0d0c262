//! matmul: every version against float64, on odd shapes, batched with
//! broadcasting, and with transposed operands read in place (no copy).

use crate::common::*;
use shadergrad::{Device, MatmulVariant, Tensor, Tuning};
use shadergrad_reference::matmul::matmul;
use shadergrad_reference::widen;

/// C = A x B in float64 for row-major (batch, m, k) x (batch, k, n).
fn matmul_ref(a: &[f32], b: &[f32], batch: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
    matmul(&widen(a), &widen(b), batch, m, k, n)
}

fn transpose(v: &[f32], r: usize, c: usize) -> Vec<f32> {
    (0..c * r).map(|i| v[(i % r) * c + i / r]).collect()
}

fn device_with(variant: MatmulVariant) -> Device {
    let d = Device::new().unwrap();
    d.set_tuning(Tuning {
        poison: true,
        ..d.tuning()
    });
    d.set_tuning(Tuning {
        matmul: Some(variant),
        ..d.tuning()
    });
    d
}

fn check_shapes(d: &Device, label: &str) {
    let mut r = rng(20);
    for &(m, k, n) in &[
        (1, 1, 1),
        (7, 3, 5),
        (33, 17, 65),
        (130, 65, 17),
        (64, 64, 64),
        (5, 130, 3),
    ] {
        let a = uniform(&mut r, m * k, -1.0, 1.0);
        let b = uniform(&mut r, k * n, -1.0, 1.0);
        let ta = Tensor::from_slice(d, &a, &[m, k]).unwrap();
        let tb = Tensor::from_slice(d, &b, &[k, n]).unwrap();
        let want = matmul_ref(&a, &b, 1, m, k, n);
        let c = ta.matmul(&tb).unwrap().to_vec::<f32>().unwrap();
        assert_close(&format!("{label} {m}x{k}x{n}"), &c, &want, 1e-4, 1e-5);
        // Transposed operands, stored the other way round and read through strides.
        let at = Tensor::from_slice(d, &transpose(&a, m, k), &[k, m]).unwrap();
        let bt = Tensor::from_slice(d, &transpose(&b, k, n), &[n, k]).unwrap();
        let c = at
            .t()
            .unwrap()
            .matmul(&bt.t().unwrap())
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert_close(
            &format!("{label} {m}x{k}x{n} (A^T B^T)"),
            &c,
            &want,
            1e-4,
            1e-5,
        );
    }
}

#[test]
fn register_version_matches_float64() {
    check_shapes(&device_with(MatmulVariant::Register), "register");
}

#[test]
fn tiled_version_matches_float64() {
    check_shapes(&device_with(MatmulVariant::Tiled), "tiled");
}

#[test]
fn lanes_version_matches_float64() {
    let d = Device::new().unwrap();
    if !MatmulVariant::available(&d).contains(&MatmulVariant::Lanes) {
        return; // no fixed-width subgroups on this adapter
    }
    check_shapes(&device_with(MatmulVariant::Lanes), "lanes");
    // The vec4 path: n and the strides multiples of 4, batched, and A^T with
    // B^T (computed as C^T = B^T A^T), all with ragged m and k.
    let d = device_with(MatmulVariant::Lanes);
    let mut r = rng(23);
    for &(m, k, n) in &[(13, 19, 36), (12, 9, 4), (65, 33, 132)] {
        let a = uniform(&mut r, m * k, -1.0, 1.0);
        let b = uniform(&mut r, k * n, -1.0, 1.0);
        let want = matmul_ref(&a, &b, 1, m, k, n);
        let ta = Tensor::from_slice(&d, &a, &[m, k]).unwrap();
        let tb = Tensor::from_slice(&d, &b, &[k, n]).unwrap();
        let c = ta.matmul(&tb).unwrap().to_vec::<f32>().unwrap();
        assert_close(&format!("lanes vec4 {m}x{k}x{n}"), &c, &want, 1e-4, 1e-5);
        let at = Tensor::from_slice(&d, &transpose(&a, m, k), &[k, m]).unwrap();
        let bt = Tensor::from_slice(&d, &transpose(&b, k, n), &[n, k]).unwrap();
        let c = at
            .t()
            .unwrap()
            .matmul(&bt.t().unwrap())
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert_close(&format!("lanes swapped {m}x{k}x{n}"), &c, &want, 1e-4, 1e-5);
    }
}

#[test]
fn naive_version_matches_float64() {
    check_shapes(&device_with(MatmulVariant::Naive), "naive");
}

#[test]
fn batched_with_broadcast_batch_dims() {
    let mut r = rng(21);
    // (2, 1, 7, 5) x (3, 5, 4) -> (2, 3, 7, 4): A repeats over the 3, B over the 2.
    let a = uniform(&mut r, 2 * 7 * 5, -1.0, 1.0);
    let b = uniform(&mut r, 3 * 5 * 4, -1.0, 1.0);
    let c = tensor(&a, &[2, 1, 7, 5])
        .matmul(&tensor(&b, &[3, 5, 4]))
        .unwrap();
    assert_eq!(c.shape(), &[2, 3, 7, 4]);
    let mut want = Vec::new();
    for z0 in 0..2 {
        for z1 in 0..3 {
            want.extend(matmul_ref(
                &a[z0 * 35..(z0 + 1) * 35],
                &b[z1 * 20..(z1 + 1) * 20],
                1,
                7,
                5,
                4,
            ));
        }
    }
    assert_close("batched", &read(&c), &want, 1e-4, 1e-5);
}

#[test]
fn a_b_the_vec4_kernel_cannot_read_is_packed_per_distinct_batch() {
    // (2, 1, 9, 5) x (3, 5, 6): n = 6 is not a multiple of 4, and B repeats
    // over the 2; then the same B stored transposed, (3, 6, 5) read as its .t().
    let mut r = rng(22);
    let a = uniform(&mut r, 2 * 9 * 5, -1.0, 1.0);
    let b = uniform(&mut r, 3 * 5 * 6, -1.0, 1.0);
    let bt: Vec<f32> = (0..3)
        .flat_map(|z| transpose(&b[z * 30..(z + 1) * 30], 5, 6))
        .collect();
    let mut want = Vec::new();
    for z0 in 0..2 {
        for z1 in 0..3 {
            let (a, b) = (&a[z0 * 45..(z0 + 1) * 45], &b[z1 * 30..(z1 + 1) * 30]);
            want.extend(matmul_ref(a, b, 1, 9, 5, 6));
        }
    }
    // A device of its own: the profile is per device.
    let d = Device::new().unwrap();
    d.set_tuning(Tuning {
        poison: true,
        ..d.tuning()
    });
    d.set_profiling(true);
    let up = |v: &[f32], shape: &[usize]| Tensor::from_slice(&d, v, shape).unwrap();
    let ta = up(&a, &[2, 1, 9, 5]);
    for (what, tb) in [
        ("n = 6", up(&b, &[3, 5, 6])),
        ("B^T", up(&bt, &[3, 6, 5]).transpose(1, 2).unwrap()),
    ] {
        let c = ta.matmul(&tb).unwrap();
        assert_eq!(c.shape(), &[2, 3, 9, 6]);
        assert_close(what, &read(&c), &want, 1e-4, 1e-5);
        let entries: Vec<_> = d.last_profile().iter().map(|k| k.entry).collect();
        if d.lanes().is_some() && d.caps().timestamps {
            assert!(entries.contains(&"matmul_pack_b"), "{what}: {entries:?}");
        }
    }
}

#[test]
fn vectors_follow_numpy_rules() {
    let a = tensor(&[1.0, 2.0, 3.0], &[3]);
    let m = tensor(&[1.0, 0.0, 0.0, 1.0, 2.0, 2.0], &[3, 2]);
    let v = a.matmul(&m).unwrap();
    assert_eq!(v.shape(), &[2]);
    assert_eq!(read(&v), vec![7.0, 8.0]);
    let dot = a.matmul(&a).unwrap();
    assert_eq!(dot.shape(), &[] as &[usize]);
    assert_eq!(read(&dot), vec![14.0]);
    let mv = m.t().unwrap().matmul(&a).unwrap();
    assert_eq!(read(&mv), vec![7.0, 8.0]);
}

#[test]
fn inner_dim_zero_gives_zeros() {
    let a = Tensor::zeros(dev(), &[3, 0], shadergrad::DType::F32).unwrap();
    let b = Tensor::zeros(dev(), &[0, 2], shadergrad::DType::F32).unwrap();
    assert_eq!(read(&a.matmul(&b).unwrap()), vec![0.0; 6]);
}

#[test]
fn f16_operands_accumulate_in_f32() {
    if !dev().caps().f16 {
        return;
    }
    let mut r = rng(22);
    let (m, k, n) = (9, 33, 7);
    let a: Vec<f32> = uniform(&mut r, m * k, -1.0, 1.0)
        .iter()
        .map(|&x| shadergrad::f16::from_f32(x).to_f32())
        .collect();
    let b: Vec<f32> = uniform(&mut r, k * n, -1.0, 1.0)
        .iter()
        .map(|&x| shadergrad::f16::from_f32(x).to_f32())
        .collect();
    let h = |v: &[f32], s: &[usize]| tensor(v, s).cast(shadergrad::DType::F16).unwrap();
    let c = h(&a, &[m, k])
        .matmul(&h(&b, &[k, n]))
        .unwrap()
        .cast(shadergrad::DType::F32)
        .unwrap();
    // Inputs are exact in f16; only the output rounding (2^-11 relative) remains.
    assert_close(
        "f16 matmul",
        &read(&c),
        &matmul_ref(&a, &b, 1, m, k, n),
        1e-3,
        1e-3,
    );
}
