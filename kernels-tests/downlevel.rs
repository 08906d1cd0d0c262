//! On a device with wgpu's downlevel limits (four storage buffers a stage),
//! the kernels over that limit take their smaller forms (cross-entropy's
//! two-pass gradient, attention's row form) or are recorded composed (layer
//! norm, attention below the row form's eight), and give what the full
//! device's kernels give, gradients and optimizer steps included.

use crate::common::*;
use shadergrad::loss::{CrossEntropy, cross_entropy_with};
use shadergrad::optim::Optimizer;
use shadergrad::{AttentionMask, Device, DeviceOptions, Tensor, Tuning};

fn downlevel() -> Device {
    let d = Device::with_options(&DeviceOptions {
        limits: Some(shadergrad::wgpu::Limits::downlevel_defaults()),
        ..Default::default()
    })
    .unwrap();
    d.set_tuning(Tuning {
        poison: true,
        ..d.tuning()
    });
    d
}

fn param(d: &Device, v: &[f32], shape: &[usize]) -> Tensor {
    shadergrad::nn::parameter(Tensor::from_slice(d, v, shape).unwrap()).unwrap()
}

/// Values and gradients of cross-entropy, layer/RMS norm and masked attention,
/// then the parameters after an SGD-with-momentum and an Adam step.
fn program(d: &Device) -> Vec<(String, Vec<f32>)> {
    let mut r = rng(1200);
    let mut out = Vec::new();
    let mut keep = |name: &str, t: &Tensor| out.push((name.to_string(), read(t)));
    let x = param(d, &uniform(&mut r, 7 * 5, -3.0, 3.0), &[7, 5]);
    let labels = Tensor::from_slice(d, &[0i32, 4, 2, -100, 1, 3, 3], &[7]).unwrap();
    let opts = CrossEntropy {
        ignore_index: Some(-100),
        label_smoothing: 0.1,
    };
    let ce = cross_entropy_with(&x, &labels, opts).unwrap();
    // A non-uniform dloss, so the gradient's scaling pass is seen.
    ce.mul(3.0).unwrap().backward().unwrap();
    keep("cross_entropy", &ce);
    keep("cross_entropy dx", &x.grad().unwrap());

    let h = param(d, &uniform(&mut r, 6 * 9, -2.0, 2.0), &[2, 3, 9]);
    let gamma = param(d, &uniform(&mut r, 9, 0.5, 1.5), &[9]);
    let beta = param(d, &uniform(&mut r, 9, -0.5, 0.5), &[9]);
    let w = Tensor::from_slice(d, &uniform(&mut r, 54, -1.0, 1.0), &[2, 3, 9]).unwrap();
    let ln = h.layer_norm(&gamma, &beta, 1e-5).unwrap();
    let rms = h.rms_norm(&gamma, 1e-6).unwrap();
    ln.add(&rms)
        .unwrap()
        .mul(&w)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    keep("layer_norm", &ln);
    keep("rms_norm", &rms);
    for (name, t) in [("dh", &h), ("dgamma", &gamma), ("dbeta", &beta)] {
        keep(name, &t.grad().unwrap());
    }

    let (b, heads, nq, nk, dim) = (2, 2, 5, 6, 4);
    let q = param(
        d,
        &uniform(&mut r, b * heads * nq * dim, -1.0, 1.0),
        &[b, heads, nq, dim],
    );
    let k = param(
        d,
        &uniform(&mut r, b * heads * nk * dim, -1.0, 1.0),
        &[b, heads, nk, dim],
    );
    let v = param(
        d,
        &uniform(&mut r, b * heads * nk * dim, -1.0, 1.0),
        &[b, heads, nk, dim],
    );
    let lens = Tensor::from_slice(d, &[6i32, 2], &[2]).unwrap();
    let masks = [
        AttentionMask::default(),
        AttentionMask {
            causal: true,
            window: Some(1),
            key_lengths: Some(&lens),
        },
    ];
    for (j, mask) in masks.into_iter().enumerate() {
        let o = Tensor::attention(&q, &k, &v, mask, None).unwrap();
        let dout =
            Tensor::from_slice(d, &uniform(&mut r, o.numel(), -1.0, 1.0), o.shape()).unwrap();
        o.mul(&dout).unwrap().sum_all().unwrap().backward().unwrap();
        keep(&format!("attention {j}"), &o);
    }
    for (name, t) in [("dq", &q), ("dk", &k), ("dv", &v)] {
        keep(name, &t.grad().unwrap());
    }

    let p1 = param(d, &uniform(&mut r, 10, -1.0, 1.0), &[10]);
    let p2 = param(d, &uniform(&mut r, 10, -1.0, 1.0), &[10]);
    let mut sgd = Optimizer::sgd(std::slice::from_ref(&p1), 0.1, 0.9).unwrap();
    let mut adam = Optimizer::adam(std::slice::from_ref(&p2), 0.1)
        .unwrap()
        .with_clip_grad_norm(0.5);
    for _ in 0..2 {
        p1.square().unwrap().sum_all().unwrap().backward().unwrap();
        sgd.step().unwrap();
        sgd.zero_grad();
        p2.square().unwrap().sum_all().unwrap().backward().unwrap();
        adam.step().unwrap();
        adam.zero_grad();
    }
    keep("sgd", &p1);
    keep("adam", &p2);
    out
}

#[test]
fn a_downlevel_device_computes_what_a_full_one_does() {
    let small = downlevel();
    assert_eq!(small.limits().max_storage_buffers_per_shader_stage, 4);
    for ((name, a), (_, b)) in program(&small).iter().zip(program(dev())) {
        let wide: Vec<f64> = b.iter().map(|&x| x as f64).collect();
        assert_close(
            &format!("{name} on a downlevel device"),
            a,
            &wide,
            1e-4,
            1e-5,
        );
    }
}

/// A concatenation of many realized tensors (an RNN's per-step outputs, a
/// stack of final states) joins in groups small enough for four storage
/// buffers, where one kernel would bind them all.
#[test]
fn a_downlevel_device_concatenates_many_realized_tensors() {
    let d = downlevel();
    let parts: Vec<Tensor> = (0..10)
        .map(|i| {
            let v: Vec<f32> = (0..6).map(|k| (i * 6 + k) as f32).collect();
            Tensor::from_slice(&d, &v, &[2, 3]).unwrap()
        })
        .collect();
    let refs: Vec<&Tensor> = parts.iter().collect();
    let joined = Tensor::cat(&refs, 0).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(joined, (0..60).map(|v| v as f32).collect::<Vec<_>>());
    let stacked = Tensor::stack(&refs, 1).unwrap();
    assert_eq!(stacked.shape(), [2, 10, 3]);
    let row0 = stacked.narrow(0, 0, 1).unwrap().to_vec::<f32>().unwrap();
    let want: Vec<f32> = (0..10)
        .flat_map(|i| (0..3).map(move |k| (i * 6 + k) as f32))
        .collect();
    assert_eq!(row0, want);
}
