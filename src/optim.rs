//! Optimizers as GPU kernels that update parameters in place
//! (shaders/optim.wgsl), learning-rate schedules, and gradient clipping by
//! global norm computed on the GPU.
//!
//! A training step is one submit: `loss.backward()` records the gradients,
//! `opt.step()` records one update per parameter and realizes everything the
//! step needs (forward, backward, updates) together. With `record()` instead of
//! `step()`, the next readback (say `loss.to_scalar()`) runs the step, and the
//! loss comes back in that same submit. Updates run after every other kernel
//! of their submit, and a value recorded before the step from a parameter
//! that the step's realize would not otherwise compute joins that realize, so
//! anything recorded before the step reads the old values, whenever it is
//! read. A view of a parameter aliases it, as in PyTorch: it sees the update.

use crate::autodiff::no_grad;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Op, UpdateRule};
use crate::tensor::Tensor;

/// Hyperparameters of one rule; the planner sees them as runtime scalars, so
/// changing the learning rate every step replays the same plan.
#[derive(Clone, Copy, Debug)]
enum Rule {
    Sgd {
        momentum: f64,
        dampening: f64,
        nesterov: bool,
    },
    Adam {
        beta1: f64,
        beta2: f64,
        eps: f64,
        decoupled: bool,
    },
}

impl Rule {
    /// Adam with PyTorch's default betas and eps; `decoupled` is AdamW.
    fn adam(decoupled: bool) -> Rule {
        Rule::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            decoupled,
        }
    }
}

/// SGD (with momentum), Adam or AdamW over a set of parameters.
pub struct Optimizer {
    params: Vec<Tensor>,
    /// Per parameter: the momentum buffer (SGD) or the two moments (Adam).
    state: Vec<Vec<Tensor>>,
    rule: Rule,
    lr: f64,
    weight_decay: f64,
    clip: Option<f64>,
    /// A persistent 1 for the gradient scale when clipping is off.
    one: Tensor,
    steps: u64,
}

impl Optimizer {
    fn new(params: &[Tensor], rule: Rule, lr: f64, weight_decay: f64) -> Result<Optimizer> {
        let Some(first) = params.first() else {
            return Err(Error::InvalidArgument {
                op: "optimizer",
                shape: vec![],
                msg: "no parameters".into(),
            });
        };
        let dev = first.device().clone();
        let per = match rule {
            Rule::Sgd { .. } => 1,
            Rule::Adam { .. } => 2,
        };
        let mut state = Vec::with_capacity(params.len());
        for p in params {
            if p.device() != &dev {
                return Err(Error::DeviceMismatch { op: "optimizer" });
            }
            if p.dtype() != DType::F32 || !p.requires_grad() || !p.is_realized() {
                return Err(Error::InvalidArgument {
                    op: "optimizer",
                    shape: p.shape().to_vec(),
                    msg: "parameters must be realized f32 leaves that require gradients".into(),
                });
            }
            // A sparse table's plain SGD keeps no state (torch's momentum_buffer
            // is None); its Adam keeps both moments, as torch's SparseAdam.
            let per = match rule {
                Rule::Sgd { .. } if p.has_sparse_grad() => 0,
                _ => per,
            };
            let s: Vec<Tensor> = (0..per)
                .map(|_| Tensor::zeros(&dev, p.shape(), DType::F32))
                .collect::<Result<_>>()?;
            state.push(s);
        }
        let one = Tensor::ones(&dev, &[1], DType::F32)?;
        let mut all: Vec<&Tensor> = state.iter().flatten().collect();
        all.push(&one);
        Tensor::realize_all(&all)?;
        Ok(Optimizer {
            params: params.to_vec(),
            state,
            rule,
            lr,
            weight_decay,
            clip: None,
            one,
            steps: 0,
        })
    }

    /// SGD with momentum (PyTorch's: the buffer starts at the first gradient).
    pub fn sgd(params: &[Tensor], lr: f64, momentum: f64) -> Result<Optimizer> {
        Optimizer::new(
            params,
            Rule::Sgd {
                momentum,
                dampening: 0.0,
                nesterov: false,
            },
            lr,
            0.0,
        )
    }

    /// Adam; `weight_decay` is L2 added to the gradient, as in torch.optim.Adam.
    pub fn adam(params: &[Tensor], lr: f64) -> Result<Optimizer> {
        Optimizer::new(params, Rule::adam(false), lr, 0.0)
    }

    /// AdamW: weight decay applied to the weights directly, not through the gradient.
    pub fn adamw(params: &[Tensor], lr: f64, weight_decay: f64) -> Result<Optimizer> {
        Optimizer::new(params, Rule::adam(true), lr, weight_decay)
    }

    pub fn with_weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }

    pub fn with_nesterov(mut self) -> Self {
        if let Rule::Sgd { nesterov, .. } = &mut self.rule {
            *nesterov = true;
        }
        self
    }

    pub fn with_betas(mut self, b1: f64, b2: f64) -> Self {
        if let Rule::Adam { beta1, beta2, .. } = &mut self.rule {
            (*beta1, *beta2) = (b1, b2);
        }
        self
    }

    /// Scales all gradients together so their global L2 norm is at most
    /// `max_norm`; the norm and the scale are computed on the GPU.
    pub fn with_clip_grad_norm(mut self, max_norm: f64) -> Self {
        self.clip = Some(max_norm);
        self
    }

    pub fn lr(&self) -> f64 {
        self.lr
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Forgets every parameter's gradient.
    pub fn zero_grad(&self) {
        for p in &self.params {
            p.zero_grad();
        }
    }

    fn device(&self) -> &Device {
        self.params[0].device()
    }

    /// Hyperparameters out of their range are typed errors at the step (the
    /// builders return the optimizer itself, so they are checked here).
    fn check_settings(&self) -> Result<()> {
        let unit = |x: f64| (0.0..1.0).contains(&x);
        let mut bad = Vec::new();
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            bad.push(format!("learning rate {}", self.lr));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            bad.push(format!("weight decay {}", self.weight_decay));
        }
        if let Some(c) = self.clip.filter(|c| !(c.is_finite() && *c > 0.0)) {
            bad.push(format!("clipping norm {c}"));
        }
        match self.rule {
            Rule::Sgd { momentum, .. } if !unit(momentum) => {
                bad.push(format!("momentum {momentum}"));
            }
            Rule::Adam {
                beta1, beta2, eps, ..
            } if !(unit(beta1) && unit(beta2) && eps > 0.0) => {
                bad.push(format!("betas ({beta1}, {beta2}), eps {eps}"));
            }
            _ => {}
        }
        if bad.is_empty() {
            return Ok(());
        }
        Err(Error::InvalidArgument {
            op: "optimizer step",
            shape: vec![],
            msg: format!(
                "{} out of range (learning rate, weight decay >= 0; clipping norm > 0; \
                 momentum and betas in [0, 1); eps > 0)",
                bad.join(", ")
            ),
        })
    }

    /// The optimizer's state by name, for a checkpoint: per parameter `i` (in
    /// the order it was given) its momentum buffer (`i.momentum_buffer`) or
    /// moments (`i.exp_avg`, `i.exp_avg_sq`), PyTorch's names, and `step`, the
    /// steps taken (i32). The moments are the optimizer's own tensors.
    pub fn state_dict(&self) -> Result<Vec<(String, Tensor)>> {
        let names: &[&str] = match self.rule {
            Rule::Sgd { .. } => &["momentum_buffer"],
            Rule::Adam { .. } => &["exp_avg", "exp_avg_sq"],
        };
        let mut out = Vec::new();
        for (i, state) in self.state.iter().enumerate() {
            for (name, t) in names.iter().zip(state) {
                out.push((format!("{i}.{name}"), t.clone()));
            }
        }
        let steps = i32::try_from(self.steps).map_err(|_| Error::ValueOutOfRange {
            op: "optimizer state_dict",
            shape: vec![],
            index: 0,
            value: self.steps.to_string(),
            dtype: DType::I32,
        })?;
        out.push((
            "step".into(),
            Tensor::from_slice(self.device(), &[steps], &[])?,
        ));
        Ok(out)
    }

    /// Restores `state_dict`'s state (strictly: every key, each of the
    /// shape here), in place; the next step continues where it was saved.
    pub fn load_state_dict(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        let own = self.state_dict()?;
        crate::nn::load_state(&own, state, true)?;
        // `step` was loaded into the fresh tensor state_dict made for it.
        let step = own.last().map(|(_, t)| t.to_vec::<i32>()).transpose()?;
        self.steps = step
            .and_then(|s| s.first().copied())
            .map_or(0, |s| s.max(0) as u64);
        Ok(())
    }

    /// Records the updates; they run with the next realize or readback (the
    /// loss read, or the next forward pass's first read of a parameter, which
    /// sees the updated value: reads keep record order).
    pub fn record(&mut self) -> Result<()> {
        self.check_settings()?;
        let _guard = no_grad();
        let grads: Vec<Option<Tensor>> = self.params.iter().map(|p| p.grad()).collect();
        let sparse = self.params.iter().any(|p| p.sparse_grad().is_some());
        if grads.iter().all(Option::is_none) && !sparse {
            return Err(Error::InvalidArgument {
                op: "optimizer step",
                shape: vec![],
                msg: "no parameter has a gradient: call backward() first".into(),
            });
        }
        // Each sparse table's rule, checked before anything is recorded or
        // counted, so a refused step leaves the optimizer as it was.
        let mut sparse_steps = Vec::new();
        for (i, p) in self.params.iter().enumerate() {
            if let Some(rows) = p.sparse_grad().filter(|_| p.has_sparse_grad()) {
                sparse_steps.push((i, self.sparse_rule(p, &rows)?, rows));
            }
        }
        let scale = match self.clip {
            Some(max) => {
                let mut sq: Option<Tensor> = None;
                for g in grads.iter().flatten() {
                    let s = g.square()?.sum_all()?;
                    sq = Some(match sq {
                        Some(t) => t.add(&s)?,
                        None => s,
                    });
                }
                // Some gradient exists: a step with none was refused above.
                let Some(sq) = sq else { return Ok(()) };
                let norm = sq.sqrt()?;
                norm.add(1e-6)?
                    .recip()?
                    .mul(max)?
                    .minimum(1.0)?
                    .reshape(&[1])?
            }
            None => self.one.clone(),
        };
        self.steps += 1;
        let t = self.steps as f64;
        let (rule, hyper) = match self.rule {
            Rule::Sgd {
                momentum,
                dampening,
                nesterov,
            } => (
                UpdateRule::Sgd { nesterov },
                [
                    self.lr,
                    momentum,
                    dampening,
                    0.0,
                    self.weight_decay,
                    0.0,
                    0.0,
                    0.0,
                ],
            ),
            Rule::Adam {
                beta1,
                beta2,
                eps,
                decoupled,
            } => (
                UpdateRule::Adam { decoupled },
                [
                    self.lr,
                    beta1,
                    beta2,
                    eps,
                    self.weight_decay,
                    1.0 - beta1.powf(t),
                    1.0 - beta2.powf(t),
                    0.0,
                ],
            ),
        };
        let hyper = hyper.map(|h| h as f32);
        let mut updates = Vec::new();
        for (i, rule, rows) in sparse_steps {
            let (p, state) = (&self.params[i], &self.state[i]);
            updates.push(sparse_update(p, rule, &rows, state, &scale, hyper));
        }
        for ((p, g), state) in self.params.iter().zip(grads).zip(&self.state) {
            let Some(g) = g else { continue };
            let mut src = vec![p.clone(), g, scale.clone()];
            src.extend(state.iter().cloned());
            updates.push(Tensor::record(
                p.device(),
                p.shape().to_vec(),
                DType::F32,
                Op::Update { rule, hyper },
                src,
            ));
        }
        self.device().add_pending(updates);
        Ok(())
    }

    /// The rule of a sparse table's in-place update, touching only the rows
    /// read. Plain SGD adds the rows' gradients at their rows, scaled by -lr
    /// (duplicates add up, in a fixed order in deterministic mode), as torch's SGD takes sparse gradients (no
    /// momentum, weight decay or clipping). Adam updates each row read and
    /// its moments, and leaves the others as they are: torch's SparseAdam
    /// (so, unlike torch, one `Optimizer::adam` takes dense and sparse
    /// parameters together). It needs the gradient coalesced, each row once,
    /// as `Embedding::lookup_ids` reads a table.
    fn sparse_rule(&self, p: &Tensor, rows: &crate::SparseGrad) -> Result<UpdateRule> {
        let refuse = |msg: &str| Error::InvalidArgument {
            op: "optimizer step",
            shape: p.shape().to_vec(),
            msg: msg.into(),
        };
        if self.weight_decay != 0.0 || self.clip.is_some() {
            return Err(refuse(
                "a sparse gradient takes no weight decay or clipping",
            ));
        }
        if sparse_rows(rows) > 1 << 24 {
            return Err(refuse("a sparse step of more than 2^24 rows"));
        }
        match self.rule {
            Rule::Sgd { momentum: 0.0, .. } => Ok(UpdateRule::SparseSgd),
            Rule::Adam { .. } if rows.distinct_rows().is_some() => Ok(UpdateRule::SparseAdam),
            Rule::Adam { .. } => Err(refuse(
                "Adam on a sparse table needs each row once a step: read the table \
                 once per step, with Embedding::lookup_ids",
            )),
            Rule::Sgd { .. } => Err(refuse(
                "a sparse gradient takes plain SGD (no momentum) or Adam",
            )),
        }
    }

    /// Records the updates and realizes the whole step (loss, gradients,
    /// updates) in one submit, reporting its errors here. Reading the loss
    /// after it costs a second submit: `record()` and then the read is the
    /// one-submit step.
    pub fn step(&mut self) -> Result<()> {
        self.record()?;
        self.device().realize_pending()
    }
}

/// The rows of a sparse gradient an update visits: a coalesced gradient's
/// padding is skipped.
fn sparse_rows(rows: &crate::SparseGrad) -> usize {
    rows.distinct_rows().unwrap_or(rows.indices().numel())
}

/// Records the in-place update of sparse table `p` by `rule`, its rows in
/// use as hyperparameter word 7 (exact: at most 2^24, checked with the rule).
fn sparse_update(
    p: &Tensor,
    rule: UpdateRule,
    rows: &crate::SparseGrad,
    state: &[Tensor],
    scale: &Tensor,
    mut hyper: [f32; 8],
) -> Tensor {
    hyper[7] = sparse_rows(rows) as f32;
    let mut src = vec![
        p.clone(),
        rows.values().clone(),
        scale.clone(),
        rows.indices().clone(),
    ];
    if rule == UpdateRule::SparseAdam {
        src.extend(state.iter().cloned());
    }
    Tensor::record(
        p.device(),
        p.shape().to_vec(),
        DType::F32,
        Op::Update { rule, hyper },
        src,
    )
}

/// A learning rate as a function of the step number.
pub trait Schedule {
    fn lr(&self, step: usize) -> f64;
}

/// A schedule driving an optimizer's rate, as PyTorch's lr_scheduler:
/// `sched.step(&mut opt)` after each epoch (or step) moves to the next rate.
/// The rate is a runtime scalar of the update kernels, so every step still
/// replays the same plan.
pub struct LrScheduler {
    schedule: Box<dyn Schedule + Send + Sync>,
    step: usize,
}

impl LrScheduler {
    /// Starts `opt` at the schedule's first rate.
    pub fn new(schedule: impl Schedule + Send + Sync + 'static, opt: &mut Optimizer) -> Self {
        opt.set_lr(schedule.lr(0));
        LrScheduler {
            schedule: Box::new(schedule),
            step: 0,
        }
    }

    /// Moves `opt` to the next rate.
    pub fn step(&mut self, opt: &mut Optimizer) {
        self.step += 1;
        opt.set_lr(self.schedule.lr(self.step));
    }

    /// The rate the schedule gives now.
    pub fn lr(&self) -> f64 {
        self.schedule.lr(self.step)
    }

    /// Steps taken (PyTorch's `last_epoch`): with `resume`, what a
    /// checkpoint keeps of a scheduler.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// Continues from `steps` steps, moving `opt` to that step's rate.
    pub fn resume(&mut self, steps: usize, opt: &mut Optimizer) {
        self.step = steps;
        opt.set_lr(self.schedule.lr(steps));
    }
}

/// The rate times `gamma` every `every` steps (torch's StepLR).
pub struct StepLr {
    pub base: f64,
    pub every: usize,
    pub gamma: f64,
}

impl Schedule for StepLr {
    fn lr(&self, step: usize) -> f64 {
        self.base * self.gamma.powi((step / self.every.max(1)) as i32)
    }
}

/// Linear warm-up to `base`, then decay as 1 / sqrt(step) (the original
/// transformer's schedule; fairseq's `inverse_sqrt`).
pub struct InverseSqrtLr {
    pub base: f64,
    pub warmup: usize,
}

impl Schedule for InverseSqrtLr {
    fn lr(&self, step: usize) -> f64 {
        let (s, w) = ((step + 1) as f64, self.warmup.max(1) as f64);
        self.base * (s / w).min((w / s).sqrt())
    }
}

/// Linear warm-up, then half a cosine from `base` down to `min` at `total`.
pub struct CosineLr {
    pub base: f64,
    pub min: f64,
    pub warmup: usize,
    pub total: usize,
}

impl Schedule for CosineLr {
    fn lr(&self, step: usize) -> f64 {
        if step < self.warmup {
            return self.base * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let x = ((step - self.warmup) as f64 / span).min(1.0);
        self.min + 0.5 * (self.base - self.min) * (1.0 + (std::f64::consts::PI * x).cos())
    }
}
