//! Deterministic mode (`Device::set_deterministic`): the fixed-order forms of
//! the scatter-adds (gather's and index_select's gradient, grid_sample's input
//! gradient, and sparse SGD's row adds) against float64, bit-identical run to
//! run where many sources land on one target, and equal to the default
//! (atomic) form to float tolerance.

use std::sync::OnceLock;

use crate::common::*;
use shadergrad::{Device, DeviceOptions, Error, Tensor, Tuning};
use shadergrad_reference::gather as reference;
use shadergrad_reference::grid_sample::GridSample;
use shadergrad_reference::optim::sparse_sgd;
use shadergrad_reference::{Scaled, widen};

/// A device of this file's own in deterministic mode (the shared one stays in
/// the default mode: tests run in parallel), outputs poisoned as everywhere.
fn det() -> &'static Device {
    static DEV: OnceLock<Device> = OnceLock::new();
    DEV.get_or_init(|| {
        Device::with_options(&DeviceOptions {
            tuning: Tuning {
                poison: true,
                ..Tuning::default()
            },
            deterministic: true,
            ..Default::default()
        })
        .expect("a GPU adapter")
    })
}

/// |gpu - ref| within 1e-6 of the sum of the magnitudes added (any f32
/// summation order passes, a missed or doubled term does not).
#[track_caller]
fn assert_scaled(what: &str, gpu: &[f32], reference: &[Scaled]) {
    assert_eq!(gpu.len(), reference.len(), "{what}: length");
    for (i, (&g, &(r, scale))) in gpu.iter().zip(reference).enumerate() {
        let err = (g as f64 - r).abs();
        assert!(
            err <= 1e-6 * scale + 1e-7,
            "{what}[{i}]: {g} against {r} (scale {scale})"
        );
    }
}

/// Whether `d` has compiled entry point `entry` (the form that ran).
fn compiled(d: &Device, entry: &str) -> bool {
    d.compiled_kernels().iter().any(|(_, e, _)| e == entry)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// The gradient of `sum(gather(x, axis, idx) * u)` with respect to x, on `d`.
fn gather_grad(
    d: &Device,
    x: &[f32],
    shape: &[usize],
    axis: usize,
    idx: &[i32],
    ishape: &[usize],
    u: &[f32],
) -> Vec<f32> {
    let t = shadergrad::nn::parameter(Tensor::from_slice(d, x, shape).unwrap()).unwrap();
    let i = Tensor::from_slice(d, idx, ishape).unwrap();
    let w = Tensor::from_slice(d, u, ishape).unwrap();
    let y = t.gather(axis as isize, &i).unwrap().mul(&w).unwrap();
    y.sum_all().unwrap().backward().unwrap();
    t.grad().unwrap().to_vec::<f32>().unwrap()
}

#[test]
fn the_mode_is_a_device_option_and_a_switch() {
    assert!(det().deterministic());
    let d = Device::new().unwrap();
    assert!(!d.deterministic(), "off unless asked for");
    d.set_deterministic(true);
    assert!(d.deterministic());
    d.set_deterministic(false);
    assert!(!d.deterministic());
}

#[test]
fn gather_gradient_along_each_axis_matches_float64() {
    let mut r = rng(140);
    // Odd sizes; the index repeats along every axis and is smaller than x
    // outside it, so some elements receive nothing (poisoned: must be 0).
    let shape = [5usize, 7, 3];
    let x = uniform(&mut r, 105, -1.0, 1.0);
    for axis in 0..3 {
        let ishape = [4usize, 6, 3];
        let n: usize = ishape.iter().product();
        let ind: Vec<i32> = (0..n).map(|i| ((i * 5 + axis) % 3) as i32).collect();
        let u = uniform(&mut r, n, -1.0, 1.0);
        let got = gather_grad(det(), &x, &shape, axis, &ind, &ishape, &u);
        let positions: Vec<usize> = ind.iter().map(|&i| i as usize).collect();
        let want = reference::scatter_add(&widen(&u), &shape, axis, &positions, &ishape);
        assert_scaled(&format!("gather grad axis {axis}"), &got, &want);
        let atomic = gather_grad(dev(), &x, &shape, axis, &ind, &ishape, &u);
        assert_scaled(&format!("atomic gather grad axis {axis}"), &atomic, &want);
    }
}

/// An embedding's gradient: `n` ids into a (vocab, dim) table, on `d`.
fn embedding_grad(d: &Device, vocab: usize, dim: usize, ids: &[i32], dy: &[f32]) -> Vec<f32> {
    let table = vec![0.0f32; vocab * dim];
    let t =
        shadergrad::nn::parameter(Tensor::from_slice(d, &table, &[vocab, dim]).unwrap()).unwrap();
    let i = Tensor::from_slice(d, ids, &[ids.len()]).unwrap();
    let g = Tensor::from_slice(d, dy, &[ids.len(), dim]).unwrap();
    t.index_select(0, &i).unwrap().backward_with(&g).unwrap();
    t.grad().unwrap().to_vec::<f32>().unwrap()
}

#[test]
fn embedding_gradient_with_many_repeats_is_bit_identical_run_to_run() {
    let mut r = rng(141);
    // 1500 ids over 5 rows (one row most of them, one never), values of mixed
    // magnitudes so that the order of the adds shows in the last bits.
    let (vocab, dim, n) = (5usize, 9usize, 1500usize);
    let ids: Vec<i32> = (0..n)
        .map(|i| if i % 7 < 4 { 2 } else { [0, 1, 4][i % 3] })
        .collect();
    let dy: Vec<f32> = uniform(&mut r, n * dim, -1.0, 1.0)
        .iter()
        .enumerate()
        .map(|(k, v)| v * [1.0, 1e-3, 1e3][k % 3])
        .collect();
    let first = embedding_grad(det(), vocab, dim, &ids, &dy);
    let rows: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
    let want = reference::scatter_add_rows(&widen(&dy), dim, &rows, vocab);
    assert_scaled("deterministic embedding grad", &first, &want);
    for run in 0..3 {
        let again = embedding_grad(det(), vocab, dim, &ids, &dy);
        assert_eq!(bits(&again), bits(&first), "run {run} differs");
    }
    assert!(compiled(det(), "scatter_sum"), "the fixed-order form ran");
    let atomic = embedding_grad(dev(), vocab, dim, &ids, &dy);
    assert_scaled("atomic embedding grad", &atomic, &want);
}

#[test]
fn out_of_range_indices_are_still_errors() {
    let t = shadergrad::nn::parameter(Tensor::from_slice(det(), &[1.0f32; 6], &[3, 2]).unwrap())
        .unwrap();
    let bad = Tensor::from_slice(det(), &[0i32, 3, 1], &[3]).unwrap();
    t.index_select(0, &bad)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(matches!(
        t.grad().unwrap().to_vec::<f32>(),
        Err(Error::IndexOutOfRange { op: "gather" })
    ));
}

/// grid_sample's input gradient for upstream `dy`, on `d`.
fn grid_sample_dx(
    d: &Device,
    s: [usize; 4],
    grid: &[f32],
    gshape: [usize; 4],
    dy: &[f32],
    align: bool,
) -> Vec<f32> {
    let x = shadergrad::nn::parameter(
        Tensor::from_slice(d, &vec![0.5f32; s.iter().product()], &s).unwrap(),
    )
    .unwrap();
    let g = Tensor::from_slice(d, grid, &gshape).unwrap();
    let y = x.grid_sample(&g, align).unwrap();
    y.backward_with(&Tensor::from_slice(d, dy, y.shape()).unwrap())
        .unwrap();
    x.grad().unwrap().to_vec::<f32>().unwrap()
}

#[test]
fn grid_sample_input_gradient_is_bit_identical_and_matches_float64() {
    let mut r = rng(142);
    // A 5x7 image sampled at 17x19 points crowded into its middle (many
    // samples per pixel), a few outside it (zeros, no gradient).
    let (s, ho, wo) = ([2usize, 3, 7, 5], 17usize, 19usize);
    let points = s[0] * ho * wo;
    let grid: Vec<f32> = (0..points * 2)
        .map(|k| if k % 23 == 0 { 1.3 } else { r_val(&mut r) })
        .collect();
    let dy = uniform(&mut r, s[0] * s[1] * ho * wo, -1.0, 1.0);
    let gshape = [s[0], ho, wo, 2];
    for align in [false, true] {
        let geometry = GridSample {
            batch: s[0],
            channels: s[1],
            h: s[2],
            w: s[3],
            ho,
            wo,
            align_corners: align,
        };
        let x = vec![0.5f64; s.iter().product()];
        let want = geometry.backward(&x, &widen(&grid), &widen(&dy)).dx;
        let first = grid_sample_dx(det(), s, &grid, gshape, &dy, align);
        assert_scaled(&format!("deterministic dx align={align}"), &first, &want);
        let again = grid_sample_dx(det(), s, &grid, gshape, &dy, align);
        assert_eq!(bits(&again), bits(&first), "align={align}: runs differ");
        assert!(compiled(det(), "grid_sample_grad_input_sum"));
        let atomic = grid_sample_dx(dev(), s, &grid, gshape, &dy, align);
        assert_scaled(&format!("atomic dx align={align}"), &atomic, &want);
    }
}

/// A grid coordinate in the middle third of [-1, 1].
fn r_val(r: &mut rand::rngs::StdRng) -> f32 {
    uniform(r, 1, -0.35, 0.35)[0]
}

#[test]
fn runs_within_a_small_devices_four_storage_buffers() {
    let d = Device::with_options(&DeviceOptions {
        limits: Some(shadergrad::wgpu::Limits::downlevel_defaults()),
        deterministic: true,
        ..Default::default()
    })
    .unwrap();
    let ids = [0i32, 2, 2, 1, 2, 2, 0];
    let dy = uniform(&mut rng(143), ids.len() * 4, -1.0, 1.0);
    let got = embedding_grad(&d, 3, 4, &ids, &dy);
    let rows: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
    let want = reference::scatter_add_rows(&widen(&dy), 4, &rows, 3);
    assert_scaled("downlevel embedding grad", &got, &want);
    let w0 = uniform(&mut rng(145), 3 * 4, -1.0, 1.0);
    let got = sparse_sgd_steps(&d, &w0, 4, &ids, &dy);
    let mut want = widen(&w0);
    sparse_sgd(0.1, &mut want, 4, &rows, &widen(&dy));
    sparse_sgd(0.03, &mut want, 4, &rows, &widen(&dy));
    let want: Vec<Scaled> = want.iter().map(|&w| (w, 10.0)).collect();
    assert_scaled("downlevel sparse sgd", &got, &want);
}

/// Two steps of plain SGD on a sparse table read at `ids` given on the GPU
/// (so its gradient is uncoalesced: repeated rows add into one row), loss
/// sum(rows * c); the table after them, on `d`.
fn sparse_sgd_steps(d: &Device, w0: &[f32], dim: usize, ids: &[i32], c0: &[f32]) -> Vec<f32> {
    let vocab = w0.len() / dim;
    let table = Tensor::from_slice(d, w0, &[vocab, dim]).unwrap();
    let emb = shadergrad::nn::Embedding::from_table(table)
        .unwrap()
        .with_sparse_grad(true)
        .unwrap();
    let i = Tensor::from_slice(d, ids, &[ids.len()]).unwrap();
    let c = Tensor::from_slice(d, c0, &[ids.len(), dim]).unwrap();
    let mut opt =
        shadergrad::optim::Optimizer::sgd(std::slice::from_ref(&emb.table), 0.1, 0.0).unwrap();
    for lr in [0.1, 0.03] {
        opt.set_lr(lr);
        opt.zero_grad();
        let rows = shadergrad::nn::Module::forward(&emb, &i).unwrap();
        rows.mul(&c).unwrap().sum_all().unwrap().backward().unwrap();
        opt.step().unwrap();
    }
    emb.table.to_vec::<f32>().unwrap()
}

#[test]
fn sparse_sgd_of_repeated_gpu_ids_is_bit_identical_run_to_run() {
    let mut r = rng(144);
    // 1200 ids over 7 rows of 11 (row 3 most of them, row 6 never), gradients
    // of mixed magnitudes so that the order of the adds shows in the bits.
    let (vocab, dim, n) = (7usize, 11usize, 1200usize);
    let ids: Vec<i32> = (0..n)
        .map(|i| {
            if i % 5 < 3 {
                3
            } else {
                [0, 1, 2, 4, 5][i / 5 % 5]
            }
        })
        .collect();
    let w0 = uniform(&mut r, vocab * dim, -1.0, 1.0);
    let c0: Vec<f32> = uniform(&mut r, n * dim, -1.0, 1.0)
        .iter()
        .enumerate()
        .map(|(k, v)| v * [1.0, 1e-3, 1e3][k % 3])
        .collect();
    let mut want = widen(&w0);
    let used: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
    for lr in [0.1, 0.03] {
        sparse_sgd(lr, &mut want, dim, &used, &widen(&c0));
    }
    // The sums' scale: each row moves by at most sum |lr c| over its reads.
    let scale: Vec<Scaled> = want
        .iter()
        .enumerate()
        .map(|(k, &w)| {
            let (row, col) = (k / dim, k % dim);
            let moved: f64 = (0..n)
                .filter(|&t| used[t] == row)
                .map(|t| 0.13 * c0[t * dim + col].abs() as f64)
                .sum();
            (w, moved + w.abs())
        })
        .collect();
    let first = sparse_sgd_steps(det(), &w0, dim, &ids, &c0);
    assert_scaled("deterministic sparse sgd", &first, &scale);
    assert_eq!(
        bits(&first[6 * dim..]),
        bits(&w0[6 * dim..]),
        "row 6 unread"
    );
    for run in 0..3 {
        let again = sparse_sgd_steps(det(), &w0, dim, &ids, &c0);
        assert_eq!(bits(&again), bits(&first), "run {run} differs");
    }
    assert!(
        compiled(det(), "sparse_sgd_sum"),
        "the fixed-order form ran"
    );
    let atomic = sparse_sgd_steps(dev(), &w0, dim, &ids, &c0);
    assert_scaled("atomic sparse sgd", &atomic, &scale);
}
