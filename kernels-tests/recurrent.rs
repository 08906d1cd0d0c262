//! The recurrent modules beyond what PyTorch has: the LSTM's peepholes
//! against a float64 reference of the notes' equations and its gradients
//! against that reference's finite differences; and bad input as typed
//! errors naming the module. (PyTorch's own formulations are matched against
//! PyTorch itself in tests/torch_recurrent.rs.)

use crate::common::{assert_close, dev, read, rng, tensor, uniform};
use shadergrad::nn::{Gru, Lstm, RecurrentOptions, Stateful};
use shadergrad::{DType, Error, Tensor};
use shadergrad_reference::recurrent::{LstmWeights, lstm};

/// The reference LSTM from the module's weights (in `parameters()` order:
/// weight_ih, weight_hh, bias_ih, bias_hh, w_ci, w_cf, w_co).
fn reference(w: &[Vec<f64>], x: &[f64], dims: (usize, usize, usize, usize)) -> Vec<f64> {
    let weights = LstmWeights::of(w);
    lstm(&weights, x, dims)
}

#[test]
fn lstm_peepholes_match_a_float64_reference_and_its_finite_differences() {
    let (t, b, i, h) = (3, 2, 3, 5);
    let opts = RecurrentOptions {
        peephole: true,
        ..Default::default()
    };
    let m = Lstm::new(dev(), i, h, opts).unwrap();
    let names: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[4..], ["weight_ci_l0", "weight_cf_l0", "weight_co_l0"]);
    let mut r = rng(131);
    let x = uniform(&mut r, t * b * i, -1.0, 1.0);
    let weight = uniform(&mut r, t * b * h, -1.0, 1.0);
    let xt = tensor(&x, &[t, b, i]);
    xt.set_requires_grad(true).unwrap();
    let out = m.forward_with(&xt, None, None).unwrap().output;
    let f64s = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<f64>>();
    let w: Vec<Vec<f64>> = m.parameters().iter().map(|p| f64s(&read(p))).collect();
    let xs = f64s(&x);
    let dims = (t, b, i, h);
    assert_close(
        "peephole lstm",
        &read(&out),
        &reference(&w, &xs, dims),
        1e-4,
        1e-5,
    );
    let loss = out
        .mul(&tensor(&weight, &[t, b, h]))
        .unwrap()
        .sum_all()
        .unwrap();
    loss.backward().unwrap();
    let wt = f64s(&weight);
    let mut inputs: Vec<&[f64]> = w.iter().map(Vec::as_slice).collect();
    inputs.push(&xs);
    let fd = crate::common::finite_differences(&inputs, |v| {
        let out = reference(&v[..7], &v[7], dims);
        out.iter().zip(&wt).map(|(o, w)| o * w).sum()
    });
    let mut leaves = m.parameters();
    leaves.push(xt);
    for (k, (p, fd)) in leaves.iter().zip(&fd).enumerate() {
        assert_close(
            &format!("peephole lstm grad {k}"),
            &read(&p.grad().unwrap()),
            fd,
            1e-3,
            1e-4,
        );
    }
}

#[test]
fn bad_recurrent_input_is_a_typed_error_naming_the_module() {
    let d = dev();
    let m = Lstm::new(d, 3, 4, RecurrentOptions::default()).unwrap();
    let x = Tensor::zeros(d, &[5, 2, 3], DType::F32).unwrap();
    let op = |e: Error| match e {
        Error::ShapeMismatch { op, .. } | Error::InvalidArgument { op, .. } => op,
        e => panic!("{e:?}"),
    };
    let wrong_features = Tensor::zeros(d, &[5, 2, 4], DType::F32).unwrap();
    let wrong_rank = Tensor::zeros(d, &[5, 3], DType::F32).unwrap();
    for bad in [&wrong_features, &wrong_rank] {
        assert_eq!(op(m.forward_with(bad, None, None).err().unwrap()), "lstm");
    }
    for lengths in [&[5, 6][..], &[0, 5], &[5]] {
        assert_eq!(
            op(m.forward_with(&x, None, Some(lengths)).err().unwrap()),
            "lstm"
        );
    }
    let h0 = Tensor::zeros(d, &[1, 3, 4], DType::F32).unwrap();
    assert_eq!(
        op(m.forward_with(&x, Some((&h0, Some(&h0))), None)
            .err()
            .unwrap()),
        "lstm"
    );
    let h0 = Tensor::zeros(d, &[1, 2, 4], DType::F32).unwrap();
    // An LSTM needs c0 with h0.
    assert_eq!(
        op(m.forward_with(&x, Some((&h0, None)), None).err().unwrap()),
        "lstm"
    );
    let peep = RecurrentOptions {
        peephole: true,
        ..Default::default()
    };
    assert_eq!(op(Gru::new(d, 3, 4, peep).err().unwrap()), "gru");
}

/// Backpropagation through time in one submit: a 2-layer bidirectional
/// LSTM's forward, backward and Adam update over a whole sequence is one
/// realize; each next batch of the same length replays the plan, compiling
/// no pipeline and creating no buffer; a batch of another length (another
/// bucket) plans once, and the first length replays again after it.
#[test]
fn bptt_is_one_submit_and_replays_per_length_bucket() {
    use shadergrad::nn::{Linear, Module};
    let d = shadergrad::Device::new().unwrap();
    let opts = RecurrentOptions {
        num_layers: 2,
        bidirectional: true,
        batch_first: true,
        ..Default::default()
    };
    let (b, h) = (3, 5);
    let lstm = Lstm::new(&d, 4, h, opts).unwrap();
    let head = Linear::new(&d, 2 * h, 3).unwrap();
    let mut params = lstm.parameters();
    params.extend(head.parameters());
    let mut opt = shadergrad::optim::Optimizer::adam(&params, 1e-2).unwrap();
    let mut step = |t: usize| {
        let x = Tensor::randn(&d, &[b, t, 4]).unwrap();
        let y = Tensor::from_slice(&d, &vec![1i32; b * t], &[b * t]).unwrap();
        let before = d.counters();
        opt.zero_grad();
        let out = lstm.forward_with(&x, None, Some(&[t, t - 1, 1])).unwrap();
        let logits = head.forward(&out.output.reshape(&[b * t, 2 * h]).unwrap());
        let loss = shadergrad::loss::cross_entropy(&logits.unwrap(), &y).unwrap();
        loss.backward().unwrap();
        opt.record().unwrap();
        assert!(loss.to_vec::<f32>().unwrap()[0].is_finite());
        d.counters() - before
    };
    let first = step(7);
    assert_eq!(first.submits, 1, "{first:?}");
    for t in [7, 7, 4, 7] {
        let c = step(t);
        assert_eq!(c.submits, 1, "T = {t}: {c:?}");
        if t == 7 {
            assert_eq!(
                (c.plans_replayed, c.pipelines_compiled, c.buffers_created),
                (1, 0, 0),
                "{c:?}"
            );
        }
    }
}

/// Truncated BPTT: a long sequence run in chunks, each starting from the
/// last chunk's final states detached, computes exactly the outputs of one
/// run over the whole sequence, while its gradients stop at the chunk's start.
#[test]
fn chunks_carrying_detached_states_continue_the_sequence() {
    let d = dev();
    let opts = RecurrentOptions {
        num_layers: 2,
        ..Default::default()
    };
    let m = Lstm::new(d, 3, 5, opts).unwrap();
    let mut r = rng(141);
    let (t, b) = (6, 2);
    let x = tensor(&uniform(&mut r, t * b * 3, -1.0, 1.0), &[t, b, 3]);
    let whole = read(&m.forward_with(&x, None, None).unwrap().output);
    let first = m
        .forward_with(&x.narrow(0, 0, 3).unwrap(), None, None)
        .unwrap();
    let (h, c) = (first.h_n.detach(), first.c_n.unwrap().detach());
    let rest = x.narrow(0, 3, 3).unwrap().contiguous().unwrap();
    rest.realize().unwrap();
    let rest = rest.detach();
    rest.set_requires_grad(true).unwrap();
    let second = m.forward_with(&rest, Some((&h, Some(&c))), None).unwrap();
    let mut chunked = read(&first.output);
    chunked.extend(read(&second.output));
    let want: Vec<f64> = whole.iter().map(|&v| v as f64).collect();
    assert_close("chunked lstm", &chunked, &want, 1e-6, 1e-7);
    second.output.sum_all().unwrap().backward().unwrap();
    assert!(rest.grad().is_some());
    // The carried states are leaves: nothing flows back into the first chunk.
    assert!(h.grad().is_none() && !h.requires_grad());
}
