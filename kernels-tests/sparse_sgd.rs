//! The sparse gradient of an embedding table and its SGD update
//! (optim.wgsl's `sparse_sgd`): against a float64 reference with repeated
//! ids and odd shapes, and against the dense path, which it matches while
//! never holding a dense V x d gradient.

use crate::common::*;
use rand::Rng;
use shadergrad::nn::{Embedding, Module};
use shadergrad::optim::Optimizer;
use shadergrad::{Device, DeviceOptions, Error, Tensor, Tuning};
use shadergrad_reference::optim::{Adam, sparse_adam, sparse_sgd};
use shadergrad_reference::widen;

/// loss = sum(lookup(ids) * c): each looked-up row's gradient is its row of c.
fn step(emb: &Embedding, ids: &[i32], shape: &[usize], c: &Tensor, opt: &mut Optimizer) {
    opt.zero_grad();
    let rows = emb.lookup_ids(ids, shape).unwrap();
    rows.mul(c).unwrap().sum_all().unwrap().backward().unwrap();
    opt.step().unwrap();
}

#[test]
fn sparse_sgd_matches_float64_with_repeated_ids() {
    let (v, dim, shape) = (37, 13, [5usize, 11]);
    let n = shape[0] * shape[1];
    let mut r = rng(71);
    let w0 = uniform(&mut r, v * dim, -1.0, 1.0);
    // Ids repeat within the batch (0 and 36 many times) and leave rows unread.
    let ids: Vec<i32> = (0..n)
        .map(|i| match i % 7 {
            0 => 0,
            3 => 36,
            _ => r.random_range(0..v as i32),
        })
        .collect();
    let c0 = uniform(&mut r, n * dim, -1.0, 1.0);
    let emb = Embedding::from_table(tensor(&w0, &[v, dim]))
        .unwrap()
        .with_sparse_grad(true)
        .unwrap();
    let c = tensor(&c0, &[shape[0], shape[1], dim]);
    let mut opt = Optimizer::sgd(std::slice::from_ref(&emb.table), 0.1, 0.0).unwrap();
    let mut want = widen(&w0);
    let used: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
    for lr in [0.1, 0.03] {
        opt.set_lr(lr);
        step(&emb, &ids, &shape, &c, &mut opt);
        sparse_sgd(lr, &mut want, dim, &used, &widen(&c0));
    }
    assert!(emb.table.grad().is_none(), "no dense gradient");
    let g = emb.table.sparse_grad().expect("a sparse gradient");
    assert_eq!(g.indices().shape(), &[n]);
    assert_eq!(g.values().shape(), &[n, dim]);
    assert_close("sparse sgd", &read(&emb.table), &want, 1e-5, 1e-6);
}

/// Sparse Adam over three steps on `d`, against float64.
fn sparse_adam_on(d: &Device) {
    let (v, dim, shape) = (41, 7, [3usize, 13]);
    let n = shape[0] * shape[1];
    let mut r = rng(73);
    let w0 = uniform(&mut r, v * dim, -1.0, 1.0);
    let table = Tensor::from_slice(d, &w0, &[v, dim]).unwrap();
    let emb = Embedding::from_table(table)
        .unwrap()
        .with_sparse_grad(true)
        .unwrap();
    let mut opt = Optimizer::adam(std::slice::from_ref(&emb.table), 0.1).unwrap();
    let mut want = widen(&w0);
    let (mut m, mut mv) = (vec![0.0; v * dim], vec![0.0; v * dim]);
    // Three steps over different rows: a row read at step 1 and not at step
    // 2 keeps its value and moments (torch's SparseAdam, not dense Adam).
    for (t, (lr, hi)) in [(0.1, 20), (0.05, 41), (0.02, 9)].into_iter().enumerate() {
        let ids: Vec<i32> = (0..n)
            .map(|i| if i % 5 == 0 { 3 } else { r.random_range(0..hi) })
            .collect();
        let c0 = uniform(&mut r, n * dim, -1.0, 1.0);
        let c = Tensor::from_slice(d, &c0, &[shape[0], shape[1], dim]).unwrap();
        opt.set_lr(lr);
        step(&emb, &ids, &shape, &c, &mut opt);
        let used: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
        let moments = (&mut m[..], &mut mv[..]);
        sparse_adam(
            &Adam::default(),
            lr,
            t as i32 + 1,
            &mut want,
            moments,
            dim,
            &used,
            &widen(&c0),
        );
    }
    assert_close("sparse adam", &read(&emb.table), &want, 1e-5, 1e-6);
}

#[test]
fn sparse_adam_matches_float64_with_repeated_ids_and_leaves_unread_rows() {
    sparse_adam_on(dev());
    // Its two passes bind four storage buffers each: a small device runs it.
    let small = Device::with_options(&DeviceOptions {
        limits: Some(shadergrad::wgpu::Limits::downlevel_defaults()),
        ..Default::default()
    })
    .unwrap();
    sparse_adam_on(&small);
}

#[test]
fn sparse_adam_refuses_a_table_read_twice_in_a_step() {
    let emb = Embedding::sparse(dev(), 10, 4).unwrap();
    let mut opt = Optimizer::adam(std::slice::from_ref(&emb.table), 0.1).unwrap();
    let before = read(&emb.table);
    // Two host lookups in one step join into rows that may repeat.
    opt.zero_grad();
    let a = emb.lookup_ids(&[1, 2], &[2]).unwrap();
    let b = emb.lookup_ids(&[2, 5], &[2]).unwrap();
    a.add(&b).unwrap().sum_all().unwrap().backward().unwrap();
    let err = opt.step().expect_err("refused");
    assert!(err.to_string().contains("each row once"), "{err}");
    assert_eq!(read(&emb.table), before, "a refused step leaves the table");
}

/// The same step through a dense and a sparse table of `v` rows, each on a
/// fresh device (so its peak counts only this step): the tables after it,
/// and the peak bytes each device held.
fn one_step(sparse: bool, v: usize, dim: usize, ids: &[i32], c0: &[f32]) -> (Vec<f32>, u64) {
    let d = Device::new().unwrap();
    d.set_tuning(Tuning {
        poison: true,
        ..d.tuning()
    });
    let w0: Vec<f32> = (0..v * dim)
        .map(|i| ((i % 97) as f32 - 48.0) / 64.0)
        .collect();
    let table = Tensor::from_slice(&d, &w0, &[v, dim]).unwrap();
    let emb = Embedding::from_table(table)
        .unwrap()
        .with_sparse_grad(sparse)
        .unwrap();
    let c = Tensor::from_slice(&d, c0, &[ids.len(), dim]).unwrap();
    let mut opt = Optimizer::sgd(std::slice::from_ref(&emb.table), 0.5, 0.0).unwrap();
    step(&emb, ids, &[ids.len()], &c, &mut opt);
    // The peak before reading the table back (its staging copy is table-sized).
    let peak = d.counters().peak_bytes_live;
    (emb.table.to_vec::<f32>().unwrap(), peak)
}

#[test]
fn the_sparse_path_holds_no_dense_gradient_and_matches_the_dense_one() {
    let (v, dim, n) = (20_011, 33, 301);
    let mut r = rng(5);
    let ids: Vec<i32> = (0..n)
        .map(|i| r.random_range(0..v as i32 / 50) * (1 + i as i32 % 3))
        .collect();
    let c0 = uniform(&mut r, n * dim, -1.0, 1.0);
    let (dense, dense_peak) = one_step(false, v, dim, &ids, &c0);
    let (sparse, sparse_peak) = one_step(true, v, dim, &ids, &c0);
    let table = (v * dim * 4) as u64;
    // The dense step holds the table and a gradient of its size; the sparse
    // one the table and buffers the size of the batch.
    assert!(
        dense_peak >= 2 * table,
        "dense peak {dense_peak} of a {table}-byte table"
    );
    assert!(
        sparse_peak < table + table / 4,
        "sparse peak {sparse_peak} of a {table}-byte table"
    );
    let reference: Vec<f64> = widen(&dense);
    assert_close("sparse against dense", &sparse, &reference, 1e-5, 1e-6);
}

#[test]
fn a_token_outside_the_vocabulary_is_a_typed_error() {
    let emb = Embedding::sparse(dev(), 10, 4).unwrap();
    let err = emb
        .lookup_ids(&[1, 2, 10, 3], &[2, 2])
        .expect_err("refused");
    match &err {
        Error::TokenOutOfRange {
            module,
            ids,
            table,
            index,
            id,
        } => {
            assert_eq!(
                (*module, ids.as_slice(), table.as_slice()),
                ("Embedding", &[2, 2][..], &[10, 4][..])
            );
            assert_eq!((*index, *id), (2, 10));
        }
        other => panic!("wrong error: {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("Embedding") && msg.contains("[2, 2]") && msg.contains("[10, 4]"),
        "{msg}"
    );
}

#[test]
fn a_sparse_table_refuses_other_uses_and_other_optimizers() {
    let emb = Embedding::sparse(dev(), 10, 4).unwrap();
    // A dense read of the table: no sparse gradient can express it.
    let err = emb
        .table
        .sum_all()
        .unwrap()
        .backward()
        .expect_err("refused");
    assert!(err.to_string().contains("sparse gradient"), "{err}");
    let ids = Tensor::from_slice(dev(), &[1i32, 1, 3], &[3]).unwrap();
    emb.forward(&ids)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let mut opt = Optimizer::sgd(std::slice::from_ref(&emb.table), 0.1, 0.9).unwrap();
    let err = opt.step().expect_err("momentum refused");
    assert!(err.to_string().contains("plain SGD"), "{err}");
    // Ids on the GPU are not coalesced: a row read twice would race.
    let mut opt = Optimizer::adam(std::slice::from_ref(&emb.table), 0.1).unwrap();
    let err = opt.step().expect_err("repeatable rows refused");
    assert!(err.to_string().contains("each row once"), "{err}");
    let mut opt = opt.with_clip_grad_norm(1.0);
    let err = opt.step().expect_err("clipping refused");
    assert!(err.to_string().contains("clipping"), "{err}");
}
