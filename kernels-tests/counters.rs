//! What the engine promises about work: a fused chain is one dispatch, a realize
//! is one submit, and a warm loop compiles and allocates nothing.

use shadergrad::{Device, Tensor};

fn fresh() -> Device {
    Device::new().unwrap()
}

#[test]
fn ten_elementwise_ops_are_one_dispatch() {
    let d = fresh();
    let x = Tensor::from_slice(&d, &[0.1f32, 0.2, 0.3, 0.4, 0.5], &[5]).unwrap();
    let b = Tensor::from_slice(&d, &[1.0f32, -1.0, 2.0, -2.0, 0.5], &[5]).unwrap();
    let before = d.counters();
    let y = x
        .add(&b)
        .unwrap()
        .mul(0.5)
        .unwrap()
        .exp()
        .unwrap()
        .sub(&x)
        .unwrap()
        .tanh()
        .unwrap()
        .square()
        .unwrap()
        .add(1.0)
        .unwrap()
        .sqrt()
        .unwrap()
        .neg()
        .unwrap()
        .maximum(&b)
        .unwrap();
    let v = y.to_vec::<f32>().unwrap();
    let delta = d.counters() - before;
    assert_eq!(delta.dispatches, 1, "{delta:?}");
    assert_eq!(
        delta.submits, 1,
        "the kernel and the readback share one submit"
    );
    let xs = [0.1f64, 0.2, 0.3, 0.4, 0.5];
    let bs = [1.0f64, -1.0, 2.0, -2.0, 0.5];
    for i in 0..5 {
        let want =
            (-((((xs[i] + bs[i]) * 0.5).exp() - xs[i]).tanh().powi(2) + 1.0).sqrt()).max(bs[i]);
        assert!((v[i] as f64 - want).abs() < 1e-5, "{i}: {} vs {want}", v[i]);
    }
}

#[test]
fn a_realize_is_one_submit() {
    let d = fresh();
    let a = Tensor::randn(&d, &[17, 9]).unwrap();
    let w = Tensor::randn(&d, &[9, 5]).unwrap();
    let before = d.counters();
    // Random inputs, matmul, softmax, a reduction and elementwise ops: several
    // kernels, one encoder, one submit.
    let p = a.matmul(&w).unwrap().softmax(-1).unwrap();
    let s = p.sum(&[1], false).unwrap().sub(1.0).unwrap().abs().unwrap();
    s.realize().unwrap();
    let delta = d.counters() - before;
    assert_eq!(delta.submits, 1);
    assert!(delta.dispatches >= 4, "{delta:?}");
    assert!(s.to_vec::<f32>().unwrap().iter().all(|&e| e < 1e-5));
}

#[test]
fn a_warm_loop_compiles_and_allocates_nothing() {
    let d = fresh();
    let w = Tensor::randn(&d, &[8, 6]).unwrap();
    let b = Tensor::randn(&d, &[6]).unwrap();
    Tensor::realize_all(&[&w, &b]).unwrap();
    let step = |i: usize| {
        let data: Vec<f32> = (0..24).map(|j| ((i * 31 + j) % 7) as f32 * 0.1).collect();
        let x = Tensor::from_slice(&d, &data, &[3, 8]).unwrap();
        let y = x
            .matmul(&w)
            .unwrap()
            .add(&b)
            .unwrap()
            .relu()
            .unwrap()
            .mul(0.5 + i as f64)
            .unwrap();
        y.sum(&[], false).unwrap().to_vec::<f32>().unwrap()[0]
    };
    step(0);
    let warm = d.counters();
    let mut outs = Vec::new();
    for i in 1..101 {
        outs.push(step(i));
    }
    let delta = d.counters() - warm;
    assert_eq!(delta.pipelines_compiled, 0, "{delta:?}");
    assert_eq!(delta.buffers_created, 0, "{delta:?}");
    assert_eq!(delta.bind_groups_created, 0, "{delta:?}");
    assert_eq!(delta.plans_built, 0, "{delta:?}");
    assert_eq!(delta.plans_replayed, 100);
    assert_eq!(delta.submits, 100);
    assert!(outs.iter().all(|v| v.is_finite()));
}

#[test]
fn intermediates_share_buffers_by_liveness() {
    let d = fresh();
    let x = Tensor::randn(&d, &[64, 64]).unwrap();
    x.realize().unwrap();
    // A chain of matmuls: each intermediate dies after the next one reads it,
    // so two arena buffers serve the whole chain.
    let mut h = x.clone();
    for _ in 0..6 {
        h = h.matmul(&x).unwrap().tanh().unwrap();
    }
    let before = d.counters();
    h.realize().unwrap();
    let delta = d.counters() - before;
    let per = 64 * 64 * 4;
    assert!(delta.buffers_created <= 4, "{delta:?}");
    assert!(delta.bytes_allocated <= 4 * per as u64, "{delta:?}");
}

#[test]
fn a_very_deep_graph_is_recorded_realized_and_dropped() {
    let d = fresh();
    let x = Tensor::from_slice(&d, &[1.0f32, 2.0], &[2]).unwrap();
    // 20k lazy nodes deep: collect and drop must not recurse per node.
    let mut y = x.clone();
    for _ in 0..20_000 {
        y = y.add(1.0).unwrap();
    }
    drop(y);
    let mut z = x.clone();
    for i in 0..300 {
        z = z.mul(1.0 + 1e-4 * i as f64).unwrap();
    }
    let v = z.to_vec::<f32>().unwrap();
    let f: f64 = (0..300).map(|i| 1.0 + 1e-4 * i as f64).product();
    assert!((v[1] as f64 - 2.0 * f).abs() < 1e-3 * f, "{v:?}");
    // Realized 5000 deep: the chain is cut into kernels of bounded depth
    // (code generation walks a chain recursively), still in one submit.
    let mut w = x.clone();
    for _ in 0..5000 {
        w = w.add(1.0).unwrap();
    }
    let before = d.counters();
    assert_eq!(w.to_vec::<f32>().unwrap(), vec![5001.0, 5002.0]);
    let delta = d.counters() - before;
    assert_eq!(delta.submits, 1, "{delta:?}");
    assert!((2..=40).contains(&delta.dispatches), "{delta:?}");
}

#[test]
fn profiling_reports_every_dispatch() {
    let d = fresh();
    if !d.caps().timestamps {
        return;
    }
    d.set_profiling(true);
    let a = Tensor::randn(&d, &[33, 17]).unwrap();
    let b = Tensor::randn(&d, &[17, 9]).unwrap();
    Tensor::realize_all(&[&a, &b]).unwrap();
    let before = d.counters();
    a.matmul(&b)
        .unwrap()
        .softmax(-1)
        .unwrap()
        .realize()
        .unwrap();
    let dispatches = (d.counters() - before).dispatches as usize;
    let p = d.last_profile();
    // Every dispatch (the matmul may be two: n = 9 packs B on some adapters),
    // each named by the op it computes and the shader that ran it.
    assert_eq!(p.len(), dispatches, "{p:?}");
    let mut ops: Vec<&str> = p.iter().map(|k| k.op).collect();
    ops.dedup();
    assert_eq!(ops, vec!["matmul", "softmax"]);
    assert!(p.iter().all(|k| k.kernel == k.op), "{p:?}");
    assert!(p.iter().all(|k| k.ms > 0.0 && k.ms.is_finite()), "{p:?}");
}

#[test]
fn mse_and_bce_fuse_into_one_kernel_each_way() {
    use shadergrad::loss;
    let d = fresh();
    let y = Tensor::rand(&d, &[64, 3]).unwrap().ge(0.5).unwrap();
    let y = y.cast(shadergrad::DType::F32).unwrap();
    y.realize().unwrap();
    type Loss = fn(&Tensor, &Tensor) -> shadergrad::Result<Tensor>;
    for (name, f) in [("mse", loss::mse as Loss), ("bce", loss::bce_with_logits)] {
        let x = shadergrad::nn::parameter(Tensor::randn(&d, &[64, 3]).unwrap()).unwrap();
        let before = d.counters();
        let l = f(&x, &y).unwrap();
        l.backward().unwrap();
        let g = x.grad().unwrap();
        Tensor::realize_all(&[&l, &g]).unwrap();
        let delta = d.counters() - before;
        // The loss: one fused reduction; the gradient: one fused elementwise kernel.
        assert_eq!(delta.dispatches, 2, "{name}: {delta:?}");
        assert_eq!(delta.submits, 1, "{name}: {delta:?}");
    }
}
