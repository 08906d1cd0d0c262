//! The workloads: each one builds its fixed state (weights, model, optimizer)
//! once, pre-generates four host input sets, and runs one timed step from
//! uploaded inputs to read-back outputs.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, Lstm, LstmConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{log_softmax, relu, softmax};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Int, Tensor, TensorData, Transaction};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One timed step: the inputs (host data, already built) in, the read-back data out.
type Step = Box<dyn FnMut(Vec<TensorData>) -> Vec<TensorData>>;

/// A workload ready to run: its four input sets and its step.
pub struct Workload {
    sets: Vec<Vec<TensorData>>,
    step: Step,
}

impl Workload {
    /// Input set `i % 4`, cloned on the host (outside the timed region).
    pub fn inputs(&self, i: usize) -> Vec<TensorData> {
        self.sets[i % self.sets.len()].clone()
    }

    /// One run: upload, compute, read back (everything the timer covers).
    ///
    /// burn 0.22's `into_data()` returns before the copy: the bytes are lazy
    /// and materialize (waiting for the device) on first access, so each
    /// output is touched here, inside the run.
    pub fn run(&mut self, inputs: Vec<TensorData>) -> Vec<TensorData> {
        let outputs = (self.step)(inputs);
        for data in &outputs {
            data.as_slice::<f32>().expect("f32 output on the host");
        }
        outputs
    }
}

/// What `list` reports about a workload, and how to build it.
pub struct Spec {
    pub name: &'static str,
    pub flops: f64,
    pub what: &'static str,
    pub make: fn(&Device) -> Workload,
}

const MLP_FLOPS: f64 = 6.0 * 256.0 * (64.0 * 256.0 + 256.0 * 10.0);
const CNN_FWD_FLOPS: f64 = 2.0
    * 64.0
    * (16.0 * 28.0 * 28.0 * 9.0 + 32.0 * 14.0 * 14.0 * 16.0 * 9.0 + 1568.0 * 128.0 + 1280.0);

/// Every workload, in the order `list` prints them.
pub fn specs() -> Vec<Spec> {
    let attn = |n: f64| 4.0 * 2.0 * 4.0 * n * n * 64.0;
    vec![
        Spec {
            name: "matmul_512",
            flops: 2.0 * 512f64.powi(3),
            what: "C = A·B, A and B [512,512] f32, both uploaded per run, C read back",
            make: |d| matmul(d, 512),
        },
        Spec {
            name: "matmul_1024",
            flops: 2.0 * 1024f64.powi(3),
            what: "C = A·B, A and B [1024,1024] f32, both uploaded per run, C read back",
            make: |d| matmul(d, 1024),
        },
        Spec {
            name: "conv2d_b32_32_64_32x32_3x3",
            flops: 2.0 * 32.0 * 64.0 * 32.0 * 32.0 * 32.0 * 9.0,
            what: "module::conv2d x [32,32,32,32] (uploaded) * w [64,32,3,3] (fixed), pad 1, no bias",
            make: conv,
        },
        Spec {
            name: "softmax_4096x1024",
            flops: 5.0 * 4096.0 * 1024.0,
            what: "activation::softmax over the last dim of x [4096,1024]",
            make: softmax_wl,
        },
        Spec {
            name: "attention_composed_n256",
            flops: attn(256.0),
            what: "softmax(q·kᵀ/8, dim 3)·v, q,k,v [2,4,256,64], matmul/swap_dims/mul_scalar/softmax",
            make: |d| attention(d, 256),
        },
        Spec {
            name: "attention_composed_n1024",
            flops: attn(1024.0),
            what: "softmax(q·kᵀ/8, dim 3)·v, q,k,v [2,4,1024,64], matmul/swap_dims/mul_scalar/softmax",
            make: |d| attention(d, 1024),
        },
        Spec {
            name: "mlp_grad_b256_64_256_10",
            flops: MLP_FLOPS,
            what: "Autodiff fwd+bwd, plain tensors (matmul + bias add) 64→256→ReLU→10, \
                   CE = log_softmax + gather + mean, all 4 grads read back, no optimizer",
            make: mlp_grad,
        },
        Spec {
            name: "mlp_step_b256_64_256_10",
            flops: MLP_FLOPS,
            what: "nn::Linear 64→256→ReLU→10, nn CrossEntropyLoss, backward, Adam lr 1e-3, loss read back",
            make: mlp_step,
        },
        Spec {
            name: "cnn_step_b64",
            flops: 3.0 * CNN_FWD_FLOPS,
            what: "Conv2d 1→16→ReLU→MaxPool2→Conv2d 16→32→ReLU→MaxPool2→Linear 1568→128→ReLU→10, \
                   CrossEntropyLoss, Adam lr 1e-3, batch 64x1x28x28, loss read back",
            make: cnn_step,
        },
        Spec {
            name: "lstm_step_t128_b32_h256",
            flops: LSTM_FLOPS,
            what: "nn::Lstm 64→256 over T 128 (sequence first), Linear 256→64 at every step, \
                   CrossEntropyLoss, backward through time, Adam lr 1e-3, loss read back",
            make: lstm_step,
        },
    ]
}

/// T, B, input, hidden, classes of the LSTM training step.
const LSTM: (usize, usize, usize, usize, usize) = (128, 32, 64, 256, 64);
const LSTM_FLOPS: f64 =
    6.0 * (LSTM.0 * LSTM.1) as f64 * (4 * LSTM.3 * (LSTM.2 + LSTM.3) + LSTM.3 * LSTM.4) as f64;

/// Four seeded input sets, each built by `generate` from its own generator.
fn four_sets(
    seed: u64,
    mut generate: impl FnMut(&mut StdRng) -> Vec<TensorData>,
) -> Vec<Vec<TensorData>> {
    (0..4)
        .map(|i| generate(&mut StdRng::seed_from_u64(seed * 16 + i)))
        .collect()
}

/// `n` values uniform in [lo, hi).
fn uniform(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// f32 host data of `shape`, uniform in [-1, 1).
fn data(rng: &mut StdRng, shape: &[usize]) -> TensorData {
    TensorData::new(
        uniform(rng, shape.iter().product(), -1.0, 1.0),
        shape.to_vec(),
    )
}

/// Labels uniform in 0..10.
fn labels(rng: &mut StdRng, n: usize) -> TensorData {
    TensorData::new((0..n).map(|_| rng.random_range(0..10i64)).collect(), [n])
}

fn up<const D: usize>(data: TensorData, device: &Device) -> Tensor<D> {
    Tensor::from_data(data, device)
}

fn matmul(device: &Device, n: usize) -> Workload {
    let device = device.clone();
    let sets = four_sets(n as u64, |r| vec![data(r, &[n, n]), data(r, &[n, n])]);
    let step: Step = Box::new(move |inputs| {
        let [a, b] = <[TensorData; 2]>::try_from(inputs).unwrap();
        let c = up::<2>(a, &device).matmul(up(b, &device));
        vec![c.into_data()]
    });
    Workload { sets, step }
}

fn conv(device: &Device) -> Workload {
    let device = device.clone();
    let weight: Tensor<4> = up(
        data(&mut StdRng::seed_from_u64(7), &[64, 32, 3, 3]),
        &device,
    );
    let sets = four_sets(3, |r| vec![data(r, &[32, 32, 32, 32])]);
    let step: Step = Box::new(move |mut inputs| {
        let x = up::<4>(inputs.remove(0), &device);
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        vec![conv2d(x, weight.clone(), None, opts).into_data()]
    });
    Workload { sets, step }
}

fn softmax_wl(device: &Device) -> Workload {
    let device = device.clone();
    let sets = four_sets(4, |r| vec![data(r, &[4096, 1024])]);
    let step: Step = Box::new(move |mut inputs| {
        let x = up::<2>(inputs.remove(0), &device);
        vec![softmax(x, 1).into_data()]
    });
    Workload { sets, step }
}

fn attention(device: &Device, n: usize) -> Workload {
    let device = device.clone();
    let shape = [2, 4, n, 64];
    let sets = four_sets(n as u64 + 5, |r| (0..3).map(|_| data(r, &shape)).collect());
    let step: Step = Box::new(move |inputs| {
        let [q, k, v] = <[TensorData; 3]>::try_from(inputs).unwrap();
        let (q, k, v) = (up::<4>(q, &device), up::<4>(k, &device), up(v, &device));
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(1.0 / 8.0);
        vec![softmax(scores, 3).matmul(v).into_data()]
    });
    Workload { sets, step }
}

/// A fixed weight on the autodiff device, uniform in ±1/sqrt(fan_in), requiring grad.
fn weight<const D: usize>(
    rng: &mut StdRng,
    shape: &[usize],
    fan_in: usize,
    device: &Device,
) -> Tensor<D> {
    let k = 1.0 / (fan_in as f32).sqrt();
    let values = uniform(rng, shape.iter().product(), -k, k);
    up::<D>(TensorData::new(values, shape.to_vec()), device).require_grad()
}

fn mlp_grad(device: &Device) -> Workload {
    let device = device.clone().autodiff();
    let rng = &mut StdRng::seed_from_u64(8);
    let w1 = weight::<2>(rng, &[64, 256], 64, &device);
    let b1 = weight::<1>(rng, &[256], 64, &device);
    let w2 = weight::<2>(rng, &[256, 10], 256, &device);
    let b2 = weight::<1>(rng, &[10], 256, &device);
    let sets = four_sets(9, |r| vec![data(r, &[256, 64]), labels(r, 256)]);
    let step: Step = Box::new(move |inputs| {
        let [x, y] = <[TensorData; 2]>::try_from(inputs).unwrap();
        let x = up::<2>(x, &device);
        let y = Tensor::<1, Int>::from_data(y, &device).reshape([256, 1]);
        let h = relu(x.matmul(w1.clone()) + b1.clone().unsqueeze());
        let z = h.matmul(w2.clone()) + b2.clone().unsqueeze();
        let loss = log_softmax(z, 1).gather(1, y).mean().neg();
        let grads = loss.backward();
        let g = |t: &Tensor<2>| t.grad(&grads).expect("gradient");
        let g1 = |t: &Tensor<1>| t.grad(&grads).expect("gradient");
        Transaction::default()
            .register(g(&w1))
            .register(g1(&b1))
            .register(g(&w2))
            .register(g1(&b2))
            .execute()
    });
    Workload { sets, step }
}

#[derive(Module, Debug)]
struct Mlp {
    l1: Linear,
    l2: Linear,
}

impl Mlp {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.l2.forward(relu(self.l1.forward(x)))
    }
}

/// A training step shared by the MLP and the CNN: forward, CE loss, backward,
/// Adam step, loss read back. `forward` maps (model, uploaded x) to logits.
fn train_step<M: Module + 'static, const D: usize>(
    device: Device,
    model: M,
    sets: Vec<Vec<TensorData>>,
    forward: fn(&M, Tensor<D>) -> Tensor<2>,
) -> Workload {
    let loss_fn: CrossEntropyLoss = CrossEntropyLossConfig::new().init(&device);
    let mut optim: ModuleOptimizer = AdamConfig::new().init();
    let mut model = Some(model);
    let step: Step = Box::new(move |inputs| {
        let [x, y] = <[TensorData; 2]>::try_from(inputs).unwrap();
        let (x, y) = (up::<D>(x, &device), Tensor::<1, Int>::from_data(y, &device));
        let m = model.take().expect("model");
        let loss = loss_fn.forward(forward(&m, x), y);
        let grads = GradientsParams::from_grads(loss.backward(), &m);
        model = Some(optim.step(1e-3, m, grads));
        vec![loss.into_data()]
    });
    Workload { sets, step }
}

fn mlp_step(device: &Device) -> Workload {
    let device = device.clone().autodiff();
    device.seed(10);
    let model = Mlp {
        l1: LinearConfig::new(64, 256).init(&device),
        l2: LinearConfig::new(256, 10).init(&device),
    };
    let sets = four_sets(9, |r| vec![data(r, &[256, 64]), labels(r, 256)]);
    train_step(device, model, sets, Mlp::forward)
}

#[derive(Module, Debug)]
struct Cnn {
    c1: Conv2d,
    c2: Conv2d,
    pool: MaxPool2d,
    f1: Linear,
    f2: Linear,
}

impl Cnn {
    fn new(device: &Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Cnn {
            c1: conv(1, 16),
            c2: conv(16, 32),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            f1: LinearConfig::new(1568, 128).init(device),
            f2: LinearConfig::new(128, 10).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.c1.forward(x)));
        let x = self.pool.forward(relu(self.c2.forward(x)));
        let x: Tensor<2> = x.flatten(1, 3);
        self.f2.forward(relu(self.f1.forward(x)))
    }
}

fn cnn_step(device: &Device) -> Workload {
    let device = device.clone().autodiff();
    device.seed(11);
    let model = Cnn::new(&device);
    let sets = four_sets(12, |r| {
        let x = uniform(r, 64 * 28 * 28, 0.0, 1.0);
        vec![TensorData::new(x, [64, 1, 28, 28]), labels(r, 64)]
    });
    train_step(device, model, sets, Cnn::forward)
}

#[derive(Module, Debug)]
struct LstmLm {
    lstm: Lstm,
    head: Linear,
}

impl LstmLm {
    fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let (t, b, _, h, _) = LSTM;
        let (out, _) = self.lstm.forward(x, None);
        self.head.forward(out.reshape([t * b, h]))
    }
}

fn lstm_step(device: &Device) -> Workload {
    let device = device.clone().autodiff();
    device.seed(13);
    let (t, b, i, h, v) = LSTM;
    let model = LstmLm {
        lstm: LstmConfig::new(i, h, true)
            .with_batch_first(false)
            .init(&device),
        head: LinearConfig::new(h, v).init(&device),
    };
    let sets = four_sets(14, |r| {
        let x = data(r, &[t, b, i]);
        let l: Vec<i64> = (0..t * b).map(|_| r.random_range(0..v as i64)).collect();
        vec![x, TensorData::new(l, [t * b])]
    });
    train_step(device, model, sets, LstmLm::forward)
}
