//! State dicts that move between PyTorch and shadergrad: fixtures written by
//! PyTorch (`scripts/make-torch-fixtures.py`: a CNN with batch norm and an
//! MLP, their state dicts, an input batch, the eval-mode outputs and the
//! train-mode cross-entropy gradients) load strictly into the same
//! architectures here and give the same numbers to 1e-5 relative.

mod common;

use common::{assert_matches, fixture};
use shadergrad::checkpoint::Checkpoint;
use shadergrad::nn::{
    BatchNorm, Conv2d, Flatten, Linear, MaxPool2d, Module, MultiHeadAttention, Relu, Sequential,
    Stateful, Tanh,
};
use shadergrad::{ConvParams, Device, Tensor};

/// torch.nn.Sequential(Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(),
/// MaxPool2d(2), Flatten(), Linear(36, 3)).
fn cnn(d: &Device) -> Sequential {
    let same = ConvParams {
        padding: [1, 1],
        ..Default::default()
    };
    Sequential::new()
        .push(Conv2d::new(d, 1, 4, 3, same).unwrap())
        .push(BatchNorm::new(d, 4).unwrap())
        .push(Relu)
        .push(MaxPool2d::new(2))
        .push(Flatten)
        .push(Linear::new(d, 4 * 3 * 3, 3).unwrap())
}

/// Linear(5, 8), Tanh, Linear(8, 8), ReLU, Linear(8, 3).
fn mlp(d: &Device) -> Sequential {
    Sequential::new()
        .push(Linear::new(d, 5, 8).unwrap())
        .push(Tanh)
        .push(Linear::new(d, 8, 8).unwrap())
        .push(Relu)
        .push(Linear::new(d, 8, 3).unwrap())
}

fn matches_torch(name: &str, model: &Sequential) {
    let d = model.parameters()[0].device().clone();
    let c = Checkpoint::load(&d, fixture(name)).unwrap();
    c.restore_model(model, true).unwrap();
    let get = |k: &str| &c.tensors().iter().find(|(n, _)| n == k).unwrap().1;
    model.eval();
    assert_matches(
        name,
        &model.forward(get("input")).unwrap(),
        get("output.eval"),
    );
    model.train();
    let loss =
        shadergrad::loss::cross_entropy(&model.forward(get("input")).unwrap(), get("labels"));
    let loss = loss.unwrap();
    loss.backward().unwrap();
    assert_matches(&format!("{name} loss"), &loss, get("loss.train"));
    for (k, p) in model.named_parameters() {
        assert_matches(
            &format!("{name} grad {k}"),
            &p.grad().unwrap(),
            get(&format!("grad.{k}")),
        );
    }
}

#[test]
fn a_cnn_with_batch_norm_loads_from_pytorch_and_matches_it() {
    let d = Device::new().unwrap();
    matches_torch("cnn", &cnn(&d));
}

#[test]
fn an_mlp_loads_from_pytorch_and_matches_it() {
    let d = Device::new().unwrap();
    matches_torch("mlp", &mlp(&d));
}

/// torch.nn.MultiheadAttention(8, 2, batch_first=True): its state dict as
/// it is, self-attention outputs and the gradients of mean(out^2).
#[test]
fn multi_head_attention_loads_from_pytorch_and_matches_it() {
    let d = Device::new().unwrap();
    let m = MultiHeadAttention::new(&d, 8, 2).unwrap();
    let c = Checkpoint::load(&d, fixture("mha")).unwrap();
    c.restore_model(&m, true).unwrap();
    let get = |k: &str| &c.tensors().iter().find(|(n, _)| n == k).unwrap().1;
    let out = m.forward(get("input")).unwrap();
    assert_matches("mha", &out, get("output.eval"));
    out.mul(&out)
        .unwrap()
        .mean_all()
        .unwrap()
        .backward()
        .unwrap();
    for (k, p) in m.named_parameters() {
        assert_matches(
            &format!("mha grad {k}"),
            &p.grad().unwrap(),
            get(&format!("grad.{k}")),
        );
    }
}

/// The reverse, checked by hand: with `SHADERGRAD_TORCH_REVERSE=DIR`, writes
/// each model's state dict (after a training step) and its eval-mode outputs
/// for `scripts/make-torch-fixtures.py --check DIR`, which loads them into
/// torch with strict=True and compares.
#[test]
fn state_dicts_for_pytorch_to_load() {
    let Ok(dir) = std::env::var("SHADERGRAD_TORCH_REVERSE") else {
        return;
    };
    let d = Device::new().unwrap();
    d.manual_seed(11);
    let mha = MultiHeadAttention::new(&d, 8, 2).unwrap();
    let models: [(&str, Box<dyn Module>, Vec<usize>); 3] = [
        ("cnn", Box::new(cnn(&d)), vec![6, 1, 7, 7]),
        ("mlp", Box::new(mlp(&d)), vec![6, 5]),
        ("mha", Box::new(mha), vec![2, 5, 8]),
    ];
    for (name, model, shape) in models {
        let x = Tensor::randn(&d, &shape).unwrap();
        model
            .forward(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        model.eval();
        let out = model.forward(&x).unwrap();
        let state = model.state_dict();
        let named: Vec<(&str, &Tensor)> = state.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let path = std::path::Path::new(&dir);
        shadergrad::checkpoint::save(path.join(format!("{name}.safetensors")), &named, &[])
            .unwrap();
        let io = [("input", &x), ("output.eval", &out)];
        shadergrad::checkpoint::save(path.join(format!("{name}-io.safetensors")), &io, &[])
            .unwrap();
    }
}
