//! Optimizer kernels against float64 references of PyTorch's update rules,
//! over several steps with a changing learning rate; and the promise that a
//! training step is one submit that allocates and compiles nothing once warm.

use crate::common::*;
use shadergrad::optim::{CosineLr, InverseSqrtLr, Optimizer, Schedule, StepLr};
use shadergrad::{Device, Tensor, Tuning};
use shadergrad_reference::optim::{Adam, Sgd};
use shadergrad_reference::widen;

/// Loss sum(w * c) has gradient c: the reference can follow the rule exactly.
fn setup(d: &Device, w0: &[f32], c: &[f32]) -> (Tensor, Tensor) {
    let w = shadergrad::nn::parameter(Tensor::from_slice(d, w0, &[w0.len()]).unwrap()).unwrap();
    let ct = Tensor::from_slice(d, c, &[c.len()]).unwrap();
    (w, ct)
}

fn step(w: &Tensor, c: &Tensor, opt: &mut Optimizer) {
    opt.zero_grad();
    w.mul(c).unwrap().sum_all().unwrap().backward().unwrap();
    opt.step().unwrap();
}

#[test]
fn sgd_with_momentum_and_weight_decay() {
    let d = Device::new().unwrap();
    let (w0, c) = ([0.5f32, -1.0, 2.0], [1.0f32, -2.0, 0.5]);
    let (w, ct) = setup(&d, &w0, &c);
    let mut opt = Optimizer::sgd(std::slice::from_ref(&w), 0.1, 0.9)
        .unwrap()
        .with_weight_decay(0.01);
    let mut rw = widen(&w0);
    let mut buf = [0.0; 3];
    let rule = Sgd {
        momentum: 0.9,
        weight_decay: 0.01,
    };
    for s in 0..4 {
        let lr = 0.1 / (s + 1) as f64;
        opt.set_lr(lr);
        step(&w, &ct, &mut opt);
        rule.step(lr, &mut rw, &widen(&c), &mut buf);
    }
    assert_close("sgd", &read(&w), &rw, 1e-5, 1e-6);
}

#[test]
fn a_large_parameter_is_updated_everywhere() {
    // Enough elements that a CPU adapter gives each invocation several (and
    // not a multiple of any workgroup): every one must be updated once.
    let d = Device::new().unwrap();
    d.set_tuning(Tuning {
        poison: true,
        ..d.tuning()
    });
    let n = 300_007;
    let mut r = rng(31);
    let (w0, c) = (uniform(&mut r, n, -1.0, 1.0), uniform(&mut r, n, -1.0, 1.0));
    let (w, ct) = setup(&d, &w0, &c);
    let mut opt = Optimizer::adam(std::slice::from_ref(&w), 0.01).unwrap();
    step(&w, &ct, &mut opt);
    step(&w, &ct, &mut opt);
    // Adam's first steps move each weight by about lr against its gradient's sign.
    let mut want = widen(&w0);
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    for t in 1..=2 {
        Adam::default().step(0.01, t, &mut want, &widen(&c), &mut m, &mut v);
    }
    assert_close("adam on 300007 elements", &read(&w), &want, 1e-4, 1e-5);
}

fn adam_reference(decoupled: bool) -> Vec<f64> {
    let (mut w, c) = (vec![0.5f64, -1.0, 2.0], [1.0f64, -2.0, 0.5]);
    let rule = Adam {
        weight_decay: 0.1,
        decoupled,
        ..Adam::default()
    };
    let (mut m, mut v) = (vec![0.0; 3], vec![0.0; 3]);
    for t in 1..=5 {
        rule.step(0.05 * t as f64, t, &mut w, &c, &mut m, &mut v);
    }
    w
}

#[test]
fn adam_and_adamw_follow_pytorch() {
    for decoupled in [false, true] {
        let d = Device::new().unwrap();
        let (w, ct) = setup(&d, &[0.5, -1.0, 2.0], &[1.0, -2.0, 0.5]);
        let mut opt = if decoupled {
            Optimizer::adamw(std::slice::from_ref(&w), 0.05, 0.1).unwrap()
        } else {
            Optimizer::adam(std::slice::from_ref(&w), 0.05)
                .unwrap()
                .with_weight_decay(0.1)
        };
        let before = d.counters();
        for t in 1..=5 {
            opt.set_lr(0.05 * t as f64);
            step(&w, &ct, &mut opt);
        }
        let delta = d.counters() - before;
        assert_eq!(
            delta.plans_built, 1,
            "a new learning rate is a runtime scalar: {delta:?}"
        );
        assert_close(
            if decoupled { "adamw" } else { "adam" },
            &read(&w),
            &adam_reference(decoupled),
            1e-4,
            1e-6,
        );
    }
}

#[test]
fn clipping_scales_by_the_global_norm_on_the_gpu() {
    let d = Device::new().unwrap();
    // Gradients (3, 4) and (12,): global norm 13; clip to 1.3 -> scale 0.1.
    let a =
        shadergrad::nn::parameter(Tensor::from_slice(&d, &[0.0f32, 0.0], &[2]).unwrap()).unwrap();
    let b = shadergrad::nn::parameter(Tensor::from_slice(&d, &[0.0f32], &[1]).unwrap()).unwrap();
    let ca = Tensor::from_slice(&d, &[3.0f32, 4.0], &[2]).unwrap();
    let cb = Tensor::from_slice(&d, &[12.0f32], &[1]).unwrap();
    let mut opt = Optimizer::sgd(&[a.clone(), b.clone()], 1.0, 0.0)
        .unwrap()
        .with_clip_grad_norm(1.3);
    let loss = a
        .mul(&ca)
        .unwrap()
        .sum_all()
        .unwrap()
        .add(&b.mul(&cb).unwrap().sum_all().unwrap())
        .unwrap();
    loss.backward().unwrap();
    let before = d.counters();
    opt.step().unwrap();
    assert_eq!((d.counters() - before).submits, 1);
    assert_close("clipped a", &read(&a), &[-0.3, -0.4], 1e-5, 1e-6);
    assert_close("clipped b", &read(&b), &[-1.2], 1e-5, 1e-6);
}

#[test]
fn a_training_step_is_one_submit_and_warm_steps_allocate_nothing() {
    let d = Device::new().unwrap();
    let model = shadergrad::nn::Linear::new(&d, 6, 3).unwrap();
    use shadergrad::nn::{Module, Stateful};
    let mut opt = Optimizer::adam(&model.parameters(), 0.05).unwrap();
    let x = Tensor::randn(&d, &[8, 6]).unwrap();
    let y = Tensor::from_slice(&d, &[0i32, 1, 2, 0, 1, 2, 0, 1], &[8]).unwrap();
    Tensor::realize_all(&[&x, &y]).unwrap();
    let mut losses = Vec::new();
    let train = |opt: &mut Optimizer| {
        opt.zero_grad();
        let loss = shadergrad::loss::cross_entropy(&model.forward(&x).unwrap(), &y).unwrap();
        loss.backward().unwrap();
        opt.record().unwrap();
        loss.to_scalar::<f32>().unwrap()
    };
    losses.push(train(&mut opt));
    losses.push(train(&mut opt));
    let warm = d.counters();
    for _ in 0..20 {
        losses.push(train(&mut opt));
    }
    let delta = d.counters() - warm;
    assert_eq!(
        delta.submits, 20,
        "forward, backward, update and the loss readback: one submit"
    );
    assert_eq!(delta.buffers_created, 0, "{delta:?}");
    assert_eq!(delta.bind_groups_created, 0, "{delta:?}");
    assert_eq!(delta.pipelines_compiled, 0, "{delta:?}");
    assert_eq!(delta.plans_built, 0, "{delta:?}");
    assert!(losses[21] < losses[0] * 0.8, "{losses:?}");
}

#[test]
fn schedules() {
    let s = StepLr {
        base: 1.0,
        every: 10,
        gamma: 0.5,
    };
    assert_eq!(
        (s.lr(0), s.lr(9), s.lr(10), s.lr(25)),
        (1.0, 1.0, 0.5, 0.25)
    );
    let c = CosineLr {
        base: 1.0,
        min: 0.1,
        warmup: 10,
        total: 110,
    };
    assert!((c.lr(0) - 0.1).abs() < 1e-12 && (c.lr(9) - 1.0).abs() < 1e-12);
    assert!((c.lr(60) - 0.55).abs() < 1e-9 && (c.lr(110) - 0.1).abs() < 1e-12);
    let r = InverseSqrtLr {
        base: 1.0,
        warmup: 4,
    };
    assert_eq!((r.lr(0), r.lr(1), r.lr(3), r.lr(15)), (0.25, 0.5, 1.0, 0.5));
}

#[test]
fn a_read_recorded_before_a_step_sees_the_value_before_it() {
    let d = Device::new().unwrap();
    let (w0, c) = ([0.5f32, -1.0, 2.0], [1.0f32, -2.0, 0.5]);
    let (w, ct) = setup(&d, &w0, &c);
    let mut opt = Optimizer::sgd(std::slice::from_ref(&w), 0.1, 0.0).unwrap();
    let after: Vec<f32> = w0.iter().zip(&c).map(|(w, c)| w - 0.1 * c).collect();
    // Recorded before the step, read after it: the old value, whatever the
    // order of the reads (snap2 is read before the step's readback).
    let snap = w.add(0.0).unwrap();
    let snap2 = w.mul(2.0).unwrap();
    // A view aliases the parameter, as in PyTorch: it sees the update.
    let view = w.reshape(&[3, 1]).unwrap();
    opt.zero_grad();
    w.mul(&ct).unwrap().sum_all().unwrap().backward().unwrap();
    opt.record().unwrap();
    assert_eq!(read(&snap2), vec![1.0, -2.0, 4.0]);
    assert_eq!(read(&snap), w0.to_vec());
    assert_close("view", &read(&view), &f64s(&after), 1e-6, 1e-7);
    assert_close("w", &read(&w), &f64s(&after), 1e-6, 1e-7);
    // Recorded after the step: the new value.
    assert_close(
        "after",
        &read(&w.add(0.0).unwrap()),
        &f64s(&after),
        1e-6,
        1e-7,
    );
}

#[test]
fn a_read_recorded_after_a_recorded_step_sees_the_value_after_it() {
    let d = Device::new().unwrap();
    let (w0, c) = ([0.5f32, -1.0, 2.0], [1.0f32, -2.0, 0.5]);
    let (w, ct) = setup(&d, &w0, &c);
    let mut opt = Optimizer::sgd(std::slice::from_ref(&w), 0.1, 0.0).unwrap();
    let step = |k: f32| -> Vec<f64> {
        w0.iter()
            .zip(&c)
            .map(|(w, c)| (w - k * 0.1 * c) as f64)
            .collect()
    };
    // Recorded after the (lazy) update and realized in the same readback: the
    // updated value, not the one the update overwrites later in the submit.
    w.mul(&ct).unwrap().sum_all().unwrap().backward().unwrap();
    opt.record().unwrap();
    let later = w.add(0.0).unwrap();
    assert_close("read after record", &read(&later), &step(1.0), 1e-6, 1e-7);
    // Two recorded steps with no read between them: the second applies to
    // the first's result, and its forward pass read the updated weights.
    opt.zero_grad();
    w.mul(&ct).unwrap().sum_all().unwrap().backward().unwrap();
    opt.record().unwrap();
    let loss = w.mul(&ct).unwrap().sum_all().unwrap();
    loss.backward().unwrap();
    opt.record().unwrap();
    let want: f64 = step(2.0).iter().zip(&c).map(|(w, c)| w * *c as f64).sum();
    assert_close("second loss", &read(&loss), &[want], 1e-6, 1e-6);
    // The second step's gradient accumulated on the first's (no zero_grad).
    let w3: Vec<f64> = step(2.0)
        .iter()
        .zip(&c)
        .map(|(w, c)| w - 0.2 * *c as f64)
        .collect();
    assert_close("w", &read(&w), &w3, 1e-6, 1e-7);
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

#[test]
fn a_scheduler_drives_the_rate_and_the_plan_still_replays() {
    use shadergrad::optim::LrScheduler;
    let d = Device::new().unwrap();
    let (w0, c) = ([1.0f32, -1.0], [1.0f32, 2.0]);
    let (w, ct) = setup(&d, &w0, &c);
    let mut opt = Optimizer::sgd(std::slice::from_ref(&w), 99.0, 0.0).unwrap();
    let mut sched = LrScheduler::new(
        StepLr {
            base: 0.1,
            every: 2,
            gamma: 0.5,
        },
        &mut opt,
    );
    let mut rw: Vec<f64> = w0.iter().map(|&x| x as f64).collect();
    let mut rates = Vec::new();
    let mut warm = d.counters();
    for s in 0..5 {
        let lr = opt.lr();
        rates.push(lr);
        step(&w, &ct, &mut opt);
        for i in 0..2 {
            rw[i] -= lr * c[i] as f64;
        }
        sched.step(&mut opt);
        if s == 0 {
            warm = d.counters();
        }
    }
    assert_eq!(rates, vec![0.1, 0.1, 0.05, 0.05, 0.025]);
    assert_close("scheduled sgd", &read(&w), &rw, 1e-5, 1e-6);
    assert_eq!((d.counters() - warm).plans_built, 0);
}

#[test]
fn backward_twice_adds_the_gradient_twice() {
    // The graph is kept, as PyTorch's retain_graph=True: a second backward of
    // the same loss adds its gradient again (documented on Tensor::backward).
    let d = Device::new().unwrap();
    let (w, ct) = setup(&d, &[1.0, 2.0], &[3.0, -1.0]);
    let loss = w.mul(&ct).unwrap().sum_all().unwrap();
    loss.backward().unwrap();
    loss.backward().unwrap();
    assert_eq!(read(&w.grad().unwrap()), vec![6.0, -2.0]);
    w.zero_grad();
    loss.backward().unwrap();
    assert_eq!(read(&w.grad().unwrap()), vec![3.0, -1.0]);
}

#[test]
fn another_threads_failing_realize_neither_runs_nor_skips_this_threads_step() {
    let d = Device::new().unwrap();
    let (w, ct) = setup(&d, &[1.0, 2.0], &[1.0, -1.0]);
    let mut opt = Optimizer::sgd(std::slice::from_ref(&w), 0.5, 0.0).unwrap();
    w.mul(&ct).unwrap().sum_all().unwrap().backward().unwrap();
    opt.record().unwrap();
    // Meanwhile another thread realizes a graph whose kernel raises an index
    // error. It used to take this thread's pending update into its submit,
    // where the error skipped it.
    let other = {
        let d = d.clone();
        std::thread::spawn(move || {
            let x = Tensor::from_slice(&d, &[0.5f32; 6], &[2, 3]).unwrap();
            let bad = Tensor::from_slice(&d, &[1i32, 7], &[2]).unwrap();
            shadergrad::loss::cross_entropy(&x, &bad)
                .unwrap()
                .to_vec::<f32>()
        })
    };
    let e = other.join().unwrap();
    assert!(
        matches!(e, Err(shadergrad::Error::IndexOutOfRange { .. })),
        "{e:?}"
    );
    assert_eq!(read(&w), vec![0.5, 2.5]);
}
