//! Bad input gets a typed error naming the op and the shapes, never a panic
//! and never silently wrong output.

use crate::common::*;
use shadergrad::{DType, Device, Error, Tensor};

#[test]
fn shape_mismatches_name_the_op_and_both_shapes() {
    let a = tensor(&[0.0; 6], &[2, 3]);
    let b = tensor(&[0.0; 4], &[4]);
    let e = a.add(&b).unwrap_err();
    assert!(
        matches!(&e, Error::ShapeMismatch { op: "add", lhs, rhs, .. } if lhs == &[2, 3] && rhs == &[4]),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("add") && msg.contains("[2, 3]") && msg.contains("[4]"),
        "{msg}"
    );
    let e = a.matmul(&a).unwrap_err();
    assert!(
        e.to_string().contains("matmul") && e.to_string().contains("[2, 3]"),
        "{e}"
    );
    assert!(matches!(
        a.reshape(&[4, 2]),
        Err(Error::ShapeMismatch { op: "reshape", .. })
    ));
    let c = tensor(&[0.0; 8], &[2, 4]);
    assert!(matches!(
        Tensor::cat(&[&a, &c], 0),
        Err(Error::ShapeMismatch { op: "cat", .. })
    ));
    assert!(matches!(
        a.gather(0, &Tensor::from_slice(dev(), &[0i32], &[1]).unwrap()),
        Err(Error::ShapeMismatch { op: "gather", .. })
    ));
}

#[test]
fn dtype_and_device_mismatches() {
    let a = tensor(&[1.0, 2.0], &[2]);
    let i = Tensor::from_slice(dev(), &[1i32, 2], &[2]).unwrap();
    assert!(matches!(
        a.add(&i),
        Err(Error::DTypeMismatch { op: "add", .. })
    ));
    assert!(matches!(i.exp(), Err(Error::UnsupportedDType { .. })));
    assert!(matches!(
        a.to_vec::<i32>(),
        Err(Error::DTypeMismatch { op: "to_vec", .. })
    ));
    assert!(matches!(
        a.gt(0.0).unwrap().add(1.0),
        Err(Error::UnsupportedDType { .. })
    ));
    assert!(matches!(
        a.index_select(0, &a),
        Err(Error::UnsupportedDType {
            op: "index_select",
            ..
        })
    ));
    let other = Device::new().unwrap();
    let b = Tensor::from_slice(&other, &[1.0f32, 2.0], &[2]).unwrap();
    assert!(matches!(
        a.mul(&b),
        Err(Error::DeviceMismatch { op: "mul" })
    ));
    assert!(matches!(a.matmul(&b), Err(Error::DeviceMismatch { .. })));
}

#[test]
fn bad_arguments() {
    let a = tensor(&[0.0; 6], &[2, 3]);
    assert!(matches!(
        a.sum(&[2], false),
        Err(Error::InvalidAxis {
            op: "sum",
            axis: 2,
            rank: 2
        })
    ));
    assert!(matches!(
        a.sum(&[-3], false),
        Err(Error::InvalidAxis { .. })
    ));
    assert!(matches!(
        a.sum(&[1, -1], false),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        a.permute(&[0, 0]),
        Err(Error::InvalidArgument { op: "permute", .. })
    ));
    assert!(matches!(
        a.slice(1, 2, 4, 1),
        Err(Error::InvalidArgument { op: "slice", .. })
    ));
    assert!(matches!(
        a.clamp(1.0, 0.0),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        Tensor::from_slice(dev(), &[1.0f32; 5], &[2, 3]),
        Err(Error::ElementCount {
            len: 5,
            expected: 6,
            ..
        })
    ));
    assert!(matches!(
        a.to_scalar::<f32>(),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        Tensor::arange(dev(), 0.0, 1.0, 0.0, DType::F32),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn too_large_for_one_binding() {
    let limit = dev().max_binding_bytes();
    let n = (limit / 4 + 1) as usize;
    let e = Tensor::rand_seeded(dev(), &[n], 1, false).unwrap_err();
    assert!(matches!(e, Error::TooLarge { op: "rand", .. }), "{e}");
    assert!(e.to_string().contains("max_storage_buffer_binding_size"));
    // A broadcast constant costs nothing until it must become a buffer.
    let big = Tensor::zeros(dev(), &[n], DType::F32).unwrap();
    assert!(matches!(big.realize(), Err(Error::TooLarge { .. })));
    // ...and a fused reduction of it never does.
    let s = big.sum(&[], false).unwrap();
    assert_eq!(s.to_scalar::<f32>().unwrap(), 0.0);
    // Element counts past usize do not wrap around to a small (or empty) tensor.
    let e = Tensor::rand_seeded(dev(), &[1 << 62, 4], 1, false).unwrap_err();
    assert!(matches!(e, Error::TooLarge { op: "rand", .. }), "{e}");
    // ...nor does a lazy constant: it is refused when recorded.
    let huge = Tensor::zeros(dev(), &[1 << 32, 1 << 32], DType::F32);
    assert!(
        matches!(huge, Err(Error::TooManyElements { op: "full", .. })),
        "{huge:?}"
    );
}

#[test]
fn empty_tensors_are_values_not_errors() {
    let e = Tensor::from_slice::<f32>(dev(), &[], &[0, 3]).unwrap();
    assert_eq!(
        e.add(1.0).unwrap().to_vec::<f32>().unwrap(),
        Vec::<f32>::new()
    );
    assert_eq!(read(&e.sum(&[0], false).unwrap()), vec![0.0; 3]);
    assert_eq!(e.t().unwrap().shape(), &[3, 0]);
    let z = Tensor::zeros(dev(), &[4, 0], DType::F32).unwrap();
    assert_eq!(
        z.matmul(&Tensor::zeros(dev(), &[0, 2], DType::F32).unwrap())
            .unwrap()
            .shape(),
        &[4, 2]
    );
}

#[test]
fn nan_is_a_value_reading_it_is_fine() {
    let x = tensor(&[-1.0, 4.0], &[2]);
    let y = read(&x.sqrt().unwrap());
    assert!(y[0].is_nan() && y[1] == 2.0);
    let l = read(&x.log().unwrap());
    assert!(l[0].is_nan());
}

#[test]
fn training_mistakes_are_typed_errors() {
    use shadergrad::loss;
    let logits = tensor(&[0.0; 6], &[2, 3]);
    // A label out of range is found on the GPU and reported at the readback.
    let d = Device::new().unwrap();
    let l = Tensor::from_slice(&d, &[0.0f32; 6], &[2, 3]).unwrap();
    let bad = Tensor::from_slice(&d, &[1i32, 3], &[2]).unwrap();
    let e = loss::cross_entropy(&l, &bad)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap_err();
    assert!(matches!(e, Error::IndexOutOfRange { .. }), "{e}");
    // Shapes that disagree.
    let labels = Tensor::from_slice(dev(), &[0i32, 1, 2], &[3]).unwrap();
    assert!(matches!(
        loss::cross_entropy(&logits, &labels),
        Err(Error::ShapeMismatch {
            op: "cross_entropy",
            ..
        })
    ));
    assert!(matches!(
        loss::mse(&logits, &tensor(&[0.0; 3], &[3])),
        Err(Error::ShapeMismatch { op: "mse", .. })
    ));
    assert!(matches!(
        loss::bce_with_logits(&logits, &logits.t().unwrap()),
        Err(Error::ShapeMismatch { .. })
    ));
    // Float labels where class indices belong.
    assert!(matches!(
        loss::cross_entropy(&logits, &tensor(&[0.0, 1.0], &[2])),
        Err(Error::UnsupportedDType { .. })
    ));
    // Parameters on two devices.
    let a = shadergrad::nn::parameter(tensor(&[1.0], &[1])).unwrap();
    let b = shadergrad::nn::parameter(Tensor::from_slice(&d, &[1.0f32], &[1]).unwrap()).unwrap();
    assert!(matches!(
        shadergrad::optim::Optimizer::sgd(&[a.clone(), b.clone()], 0.1, 0.0),
        Err(Error::DeviceMismatch { .. })
    ));
    assert!(matches!(
        a.add(&b),
        Err(Error::DeviceMismatch { op: "add" })
    ));
    // A step with no gradient, and backward on something that needs none.
    let mut opt = shadergrad::optim::Optimizer::sgd(std::slice::from_ref(&a), 0.1, 0.0).unwrap();
    assert!(matches!(
        opt.step(),
        Err(Error::InvalidArgument {
            op: "optimizer step",
            ..
        })
    ));
    assert!(matches!(
        tensor(&[1.0], &[1]).sum_all().unwrap().backward(),
        Err(Error::InvalidArgument { op: "backward", .. })
    ));
    // Settings out of range: a negative clipping norm would flip the gradient.
    use shadergrad::optim::Optimizer;
    let p = std::slice::from_ref(&a);
    for (mut opt, what) in [
        (
            Optimizer::sgd(p, 0.1, 0.0)
                .unwrap()
                .with_clip_grad_norm(-1.0),
            "clipping norm -1",
        ),
        (Optimizer::sgd(p, -0.1, 0.0).unwrap(), "learning rate -0.1"),
        (Optimizer::sgd(p, 0.1, 1.5).unwrap(), "momentum 1.5"),
        (
            Optimizer::adam(p, 0.1).unwrap().with_betas(0.9, 1.0),
            "betas (0.9, 1)",
        ),
        (
            Optimizer::adamw(p, 0.1, f64::NAN).unwrap(),
            "weight decay NaN",
        ),
    ] {
        a.mul(2.0).unwrap().sum_all().unwrap().backward().unwrap();
        let e = opt.step().unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
        opt.zero_grad();
    }
}

#[test]
fn a_bad_label_loses_nothing_and_every_value_from_it_errors() {
    use shadergrad::optim::Optimizer;
    use shadergrad::{Tuning, loss, nn};
    let d = Device::new().unwrap();
    d.set_tuning(Tuning {
        poison: true,
        ..d.tuning()
    });
    let w0 = [0.5f32, -1.0, 2.0, 0.25, 1.5, -0.75];
    let w = nn::parameter(Tensor::from_slice(&d, &w0, &[2, 3]).unwrap()).unwrap();
    let x = Tensor::from_slice(&d, &[1.0f32, 2.0, -1.0, 0.5], &[2, 2]).unwrap();
    let bad = Tensor::from_slice(&d, &[1i32, 5], &[2]).unwrap();
    let mut opt = Optimizer::adam(std::slice::from_ref(&w), 0.1).unwrap();
    let l = loss::cross_entropy(&x.matmul(&w).unwrap(), &bad).unwrap();
    l.backward().unwrap();
    opt.step().unwrap();
    // The step's update was not applied: the parameter is as it was.
    assert_eq!(w.to_vec::<f32>().unwrap(), w0.to_vec());
    // The loss, read now or again, and anything computed from it, errors.
    for _ in 0..2 {
        let e = l.to_scalar::<f32>().unwrap_err();
        assert!(matches!(e, Error::IndexOutOfRange { .. }), "{e}");
    }
    let e = l.mul(2.0).unwrap().to_vec::<f32>().unwrap_err();
    assert!(matches!(e, Error::IndexOutOfRange { .. }), "{e}");
    // Another device's reads (another model, another thread) know nothing of it.
    let other = std::thread::spawn(|| {
        let d2 = Device::new().unwrap();
        let t = Tensor::from_slice(&d2, &[1.0f32, 2.0], &[2]).unwrap();
        t.add(1.0).unwrap().to_vec::<f32>().unwrap()
    });
    assert_eq!(other.join().unwrap(), vec![2.0, 3.0]);
    // A step on top of the gradient it left (no zero_grad) is refused.
    let good = Tensor::from_slice(&d, &[1i32, 2], &[2]).unwrap();
    let l = loss::cross_entropy(&x.matmul(&w).unwrap(), &good).unwrap();
    l.backward().unwrap();
    let e = opt.step().unwrap_err();
    assert!(matches!(e, Error::IndexOutOfRange { .. }), "{e}");
    assert_eq!(w.to_vec::<f32>().unwrap(), w0.to_vec());
    // With the gradient cleared, a good step trains as usual.
    opt.zero_grad();
    let l = loss::cross_entropy(&x.matmul(&w).unwrap(), &good).unwrap();
    l.backward().unwrap();
    opt.step().unwrap();
    assert!(l.to_scalar::<f32>().unwrap().is_finite());
    assert_ne!(w.to_vec::<f32>().unwrap(), w0.to_vec());
}
