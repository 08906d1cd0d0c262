//! The module system: dropout in training and evaluation, train/eval reaching
//! nested modules, parameter names, seeded repeatability, and the initialisers'
//! statistics.

use shadergrad::nn::{Dropout, Linear, Module, Relu, Sequential, Stateful, init};
use shadergrad::{DType, Device, Tensor};

type Init = fn(&Device, &[usize]) -> shadergrad::Result<Tensor>;

fn mean_var(x: &[f32]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let v = x.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n;
    (m, v)
}

#[test]
fn dropout_zeroes_p_and_rescales_in_training_and_is_the_identity_in_eval() {
    let d = Device::new().unwrap();
    let n = 20_000;
    let x = Tensor::full(&d, &[n], 2.0, DType::F32).unwrap();
    let drop = Dropout::new(0.3).unwrap();
    let y = drop.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
    assert!((zeros - 0.3).abs() < 0.02, "dropped {zeros}");
    let kept = 2.0 / 0.7;
    assert!(
        y.iter()
            .all(|&v| v == 0.0 || (v as f64 - kept).abs() < 1e-5)
    );
    // A fresh mask each call.
    let y2 = drop.forward(&x).unwrap().to_vec::<f32>().unwrap();
    assert_ne!(y, y2);
    drop.set_training(false);
    assert_eq!(
        drop.forward(&x).unwrap().to_vec::<f32>().unwrap(),
        vec![2.0; n]
    );
    assert!(Dropout::new(1.0).is_err() && Dropout::new(-0.1).is_err());
}

#[test]
fn eval_mode_reaches_nested_modules_and_names_follow_the_nesting() {
    let d = Device::new().unwrap();
    let inner = Sequential::new()
        .push(Linear::new(&d, 4, 8).unwrap())
        .push(Relu)
        .push(Dropout::new(0.5).unwrap());
    let net = Sequential::new()
        .push(inner)
        .push(Linear::no_bias(&d, 8, 3).unwrap());
    let names: Vec<String> = net.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["0.0.weight", "0.0.bias", "1.weight"]);
    assert_eq!(net.parameter_count(), 4 * 8 + 8 + 8 * 3);
    let x = Tensor::randn(&d, &[16, 4]).unwrap();
    x.realize().unwrap();
    net.set_training(false);
    let a = net.forward(&x).unwrap().to_vec::<f32>().unwrap();
    let b = net.forward(&x).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(a, b, "evaluation must be deterministic: dropout is off");
    net.set_training(true);
    let c = net.forward(&x).unwrap().to_vec::<f32>().unwrap();
    assert_ne!(a, c, "training turns the nested dropout back on");
}

#[test]
fn a_seed_repeats_the_initial_weights() {
    let d = Device::new().unwrap();
    let draw = |seed| {
        d.manual_seed(seed);
        let l = Linear::new(&d, 7, 5).unwrap();
        l.weight.to_vec::<f32>().unwrap()
    };
    let (a, b, c) = (draw(3), draw(3), draw(4));
    assert_eq!(a, b);
    assert_ne!(a, c);
    // PyTorch's default bound, 1 / sqrt(fan_in).
    let bound = 1.0 / 7f32.sqrt();
    assert!(a.iter().all(|v| v.abs() <= bound));
}

#[test]
fn initialisers_have_their_variances() {
    let d = Device::new().unwrap();
    d.manual_seed(11);
    // (out, in, kh, kw): fan_in 64 * 9, fan_out 32 * 9.
    let shape = [32, 64, 3, 3];
    let (fi, fo) = (64.0 * 9.0, 32.0 * 9.0);
    let cases: [(&str, Init, f64); 4] = [
        ("xavier_uniform", init::xavier_uniform, 2.0 / (fi + fo)),
        ("xavier_normal", init::xavier_normal, 2.0 / (fi + fo)),
        ("kaiming_uniform", init::kaiming_uniform, 2.0 / fi),
        ("kaiming_normal", init::kaiming_normal, 2.0 / fi),
    ];
    for (name, f, want) in cases {
        let t = f(&d, &shape).unwrap();
        assert_eq!(t.shape(), &shape);
        let (m, v) = mean_var(&t.to_vec::<f32>().unwrap());
        assert!(m.abs() < 0.05 * want.sqrt(), "{name}: mean {m}");
        assert!(
            (v / want - 1.0).abs() < 0.05,
            "{name}: variance {v}, want {want}"
        );
    }
    // The uniform ones stay inside their bound.
    let a = (6.0f64 / (fi + fo)).sqrt() as f32;
    let x = init::xavier_uniform(&d, &shape)
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
    assert!(x.iter().all(|v| v.abs() <= a));
}

#[test]
fn modules_are_send_and_sync_and_train_eval_as_in_pytorch() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let d = Device::new().unwrap();
    let model = Sequential::new()
        .push(Linear::new(&d, 4, 3).unwrap())
        .push(Relu)
        .push(Dropout::new(0.5).unwrap());
    shareable(&model);
    let x = Tensor::ones(&d, &[2, 4], DType::F32).unwrap();
    model.eval();
    let a = model.forward(&x).unwrap().to_vec::<f32>().unwrap();
    // On a worker thread: the same weights, evaluation mode kept.
    let b = std::thread::scope(|s| {
        s.spawn(|| model.forward(&x).unwrap().to_vec::<f32>().unwrap())
            .join()
            .unwrap()
    });
    assert_eq!(a, b);
    model.train();
    let c = model.forward(&x).unwrap().to_vec::<f32>().unwrap();
    assert!(c.contains(&0.0) || a.iter().all(|&v| v == 0.0), "{c:?}");
    // Gradients off inside the closure form, on again after.
    let w = shadergrad::nn::parameter(Tensor::ones(&d, &[2], DType::F32).unwrap()).unwrap();
    let y = shadergrad::without_grad(|| w.mul(2.0).unwrap());
    assert!(!y.requires_grad());
    assert!(w.mul(2.0).unwrap().requires_grad());
}
