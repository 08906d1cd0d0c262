//! `#[derive(Stateful)]` on a model of one's own: names as PyTorch nests
//! them, buffers included, train/eval passed down, state dicts that load.

use shadergrad::nn::{BatchNorm, Dropout, Linear, Module, Stateful};
use shadergrad::{DType, Device, Error, Result, Tensor};

#[derive(Stateful)]
struct Head(Linear, Option<Linear>);

#[derive(Stateful)]
struct Model {
    blocks: Vec<Linear>,
    norm: BatchNorm,
    drop: Dropout,
    /// A parameter of its own (requires gradients) and a buffer (does not).
    scale: Tensor,
    offsets: Tensor,
    head: Head,
    #[stateful(skip)]
    cache: Tensor,
    width: usize,
}

impl Model {
    fn new(d: &Device) -> Result<Model> {
        let scale = shadergrad::nn::parameter(Tensor::ones(d, &[3], DType::F32)?)?;
        Ok(Model {
            blocks: vec![Linear::new(d, 3, 3)?, Linear::new(d, 3, 3)?],
            norm: BatchNorm::new(d, 3)?,
            drop: Dropout::new(0.5)?,
            scale,
            offsets: Tensor::zeros(d, &[3], DType::F32)?,
            head: Head(Linear::new(d, 3, 2)?, None),
            cache: Tensor::zeros(d, &[1], DType::F32)?,
            width: 3,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for b in &self.blocks {
            h = b.forward(&h)?.relu()?;
        }
        let h = self
            .norm
            .forward(&h)?
            .mul(&self.scale)?
            .add(&self.offsets)?;
        self.head.0.forward(&self.drop.forward(&h)?)
    }
}

#[test]
fn a_derived_model_names_its_state_as_pytorch_does() {
    let d = Device::new().unwrap();
    let m = Model::new(&d).unwrap();
    let names = |v: Vec<(String, Tensor)>| v.into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    assert_eq!(
        names(m.named_parameters()),
        [
            "blocks.0.weight",
            "blocks.0.bias",
            "blocks.1.weight",
            "blocks.1.bias",
            "norm.weight",
            "norm.bias",
            "scale",
            "head.0.weight",
            "head.0.bias"
        ]
    );
    assert_eq!(
        names(m.named_buffers()),
        [
            "norm.running_mean",
            "norm.running_var",
            "norm.num_batches_tracked",
            "offsets"
        ]
    );
    assert_eq!(m.parameter_count(), 2 * 12 + 6 + 3 + 8);
    assert_eq!(m.width, 3);
    assert_eq!(m.cache.numel(), 1);
}

#[test]
fn a_derived_model_passes_train_and_eval_down_and_loads_its_state() {
    let d = Device::new().unwrap();
    d.manual_seed(4);
    let a = Model::new(&d).unwrap();
    let x = Tensor::randn(&d, &[5, 3]).unwrap();
    a.forward(&x)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    // In eval mode dropout is off and the running statistics are used: the
    // same input twice gives the same output.
    a.eval();
    let y = a.forward(&x).unwrap().to_vec::<f32>().unwrap();
    assert_eq!(y, a.forward(&x).unwrap().to_vec::<f32>().unwrap());
    let b = Model::new(&d).unwrap();
    b.load_state_dict(&a.state_dict(), true).unwrap();
    b.eval();
    assert_eq!(b.forward(&x).unwrap().to_vec::<f32>().unwrap(), y);
    // A state dict of another model: every fault at once.
    let mut other = a.state_dict();
    other.retain(|(n, _)| !n.starts_with("blocks.1"));
    match b.load_state_dict(&other, true) {
        Err(Error::StateDict(f)) => assert_eq!(f.missing, ["blocks.1.weight", "blocks.1.bias"]),
        e => panic!("{e:?}"),
    }
}
