//! Rnn, Lstm and Gru against PyTorch's nn.RNN, nn.LSTM and nn.GRU
//! (`scripts/make-rnn-fixtures.py`): their state dicts load strictly, and
//! outputs, final states and every gradient (parameters, input, initial
//! states) match to 1e-5, with two layers, both directions, batch first or
//! not, given initial states and packed (per-sequence) lengths; BPTT over
//! T = 7 for the 2-layer bidirectional LSTM; odd sizes (H = 1, 5, 33; B = 1,
//! 3; T = 1).

mod common;

use common::{assert_matches, fixture};
use shadergrad::Device;
use shadergrad::checkpoint::Checkpoint;
use shadergrad::nn::{Gru, Lstm, RecurrentOptions, Rnn, Stateful};

enum Model {
    Rnn(Rnn),
    Lstm(Lstm),
    Gru(Gru),
}

fn model(d: &Device, name: &str) -> Model {
    let o = RecurrentOptions::default();
    match name {
        "lstm" => {
            let o = RecurrentOptions {
                num_layers: 2,
                batch_first: true,
                bidirectional: true,
                ..o
            };
            Model::Lstm(Lstm::new(d, 3, 5, o).unwrap())
        }
        "lstm-single" => Model::Lstm(Lstm::new(d, 3, 1, o).unwrap()),
        "gru" => Model::Gru(Gru::new(d, 3, 5, RecurrentOptions { num_layers: 2, ..o }).unwrap()),
        _ => Model::Rnn(
            Rnn::new(
                d,
                3,
                33,
                RecurrentOptions {
                    bidirectional: true,
                    ..o
                },
            )
            .unwrap(),
        ),
    }
}

fn matches_torch(name: &str) {
    let d = Device::new().unwrap();
    let m = model(&d, name);
    let (state, inner): (&dyn Stateful, _) = match &m {
        Model::Rnn(r) => (r, &r.0),
        Model::Lstm(l) => (l, &l.0),
        Model::Gru(g) => (g, &g.0),
    };
    let c = Checkpoint::load(&d, fixture(name)).unwrap();
    c.restore_model(state, true).unwrap();
    let get = |k: &str| {
        c.tensors()
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, t)| t.clone())
    };
    let leaf = |k: &str| {
        get(k).map(|t| {
            let t = t.detach();
            t.set_requires_grad(true).unwrap();
            t
        })
    };
    let (x, h0, c0) = (leaf("input").unwrap(), leaf("h0"), leaf("c0"));
    let lengths: Option<Vec<usize>> = get("lengths").map(|l| {
        let l = l.to_vec::<i32>().unwrap();
        l.into_iter().map(|v| v as usize).collect()
    });
    let init = h0.as_ref().map(|h| (h, c0.as_ref()));
    let out = inner.forward_with(&x, init, lengths.as_deref()).unwrap();
    assert_matches(
        &format!("{name} output"),
        &out.output,
        &get("output").unwrap(),
    );
    assert_matches(&format!("{name} h_n"), &out.h_n, &get("h_n").unwrap());
    let mut loss = out
        .output
        .mul(&get("r_out").unwrap())
        .unwrap()
        .sum_all()
        .unwrap();
    loss = loss
        .add(
            &out.h_n
                .mul(&get("r_h").unwrap())
                .unwrap()
                .sum_all()
                .unwrap(),
        )
        .unwrap();
    if let Some(c_n) = &out.c_n {
        assert_matches(&format!("{name} c_n"), c_n, &get("c_n").unwrap());
        loss = loss
            .add(&c_n.mul(&get("r_c").unwrap()).unwrap().sum_all().unwrap())
            .unwrap();
    }
    loss.backward().unwrap();
    let mut grads = state.named_parameters();
    grads.push(("input".into(), x));
    grads.extend(h0.map(|h| ("h0".into(), h)));
    grads.extend(c0.map(|c| ("c0".into(), c)));
    for (k, p) in grads {
        let want = get(&format!("grad.{k}")).unwrap();
        assert_matches(&format!("{name} grad {k}"), &p.grad().unwrap(), &want);
    }
}

#[test]
fn a_two_layer_bidirectional_lstm_on_packed_sequences_matches_pytorch() {
    matches_torch("lstm");
}

/// One unit, one step, one sequence.
#[test]
fn a_one_unit_lstm_over_one_step_matches_pytorch() {
    matches_torch("lstm-single");
}

#[test]
fn a_two_layer_gru_on_packed_sequences_matches_pytorch() {
    matches_torch("gru");
}

#[test]
fn a_bidirectional_rnn_from_given_states_matches_pytorch() {
    matches_torch("rnn");
}
