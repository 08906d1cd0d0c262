//! Losses. Cross-entropy is one fused kernel each way (shaders/cross_entropy.wgsl);
//! MSE and BCE-with-logits are short elementwise formulas that the planner
//! fuses into the reduction that averages them, forward and backward, so they
//! need no kernel of their own.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::UnaryOp;
use crate::tensor::Tensor;

fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
    a.same_device(op, &[b])?;
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch {
            op,
            lhs: a.shape().to_vec(),
            rhs: b.shape().to_vec(),
            detail: ": prediction and target must have one shape".into(),
        });
    }
    a.require_float(op)?;
    a.require_dtype(op, b)
}

/// Mean squared error.
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    same_shape("mse", pred, target)?;
    pred.sub(target)?.square()?.mean_all()
}

/// Binary cross-entropy on logits, averaged: the stable form
/// max(x, 0) - x*y + log(1 + exp(-|x|)); its gradient is sigmoid(x) - y.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    same_shape("bce_with_logits", logits, targets)?;
    let x = logits;
    x.relu()?
        .sub(&x.mul(targets)?)?
        .add(&x.abs()?.neg()?.unary(UnaryOp::Softplus)?)?
        .mean_all()
}

/// Options of [`cross_entropy`], as in PyTorch.
#[derive(Clone, Copy, Debug, Default)]
pub struct CrossEntropy {
    /// Rows with this label add no loss and no gradient, and are not counted.
    pub ignore_index: Option<i32>,
    /// Mixes the one-hot target with a uniform one: (1 - eps) * onehot + eps / C.
    pub label_smoothing: f32,
}

/// Softmax cross-entropy of `logits` (N, C) against class indices `labels`
/// (N, i32), averaged over the rows not ignored. A label outside [0, C) makes
/// the next readback fail with `IndexOutOfRange`.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    cross_entropy_with(logits, labels, CrossEntropy::default())
}

pub fn cross_entropy_with(logits: &Tensor, labels: &Tensor, opts: CrossEntropy) -> Result<Tensor> {
    logits.same_device("cross_entropy", &[labels])?;
    logits.require_float("cross_entropy")?;
    let kernel = crate::kernels::cross_entropy::CrossEntropy {
        ignore: opts.ignore_index,
        smoothing: opts.label_smoothing,
    };
    let per_row = Tensor::apply(kernel, &[logits, labels])?;
    match opts.ignore_index {
        None => per_row.mean_all(),
        Some(ignore) => {
            let kept = labels
                .ne(ignore)?
                .cast(DType::F32)?
                .sum_all()?
                .maximum(1.0)?;
            per_row.sum_all()?.div(&kept)
        }
    }
}

/// Knowledge-distillation loss: KL(teacher || student) between the softmaxes
/// of both logits at temperature `t`, scaled by t^2 (so gradients keep their
/// size as t changes), averaged over the batch (rows).
pub fn kl_div_with_temperature(student: &Tensor, teacher: &Tensor, t: f64) -> Result<Tensor> {
    same_shape("kl_div", student, teacher)?;
    if t <= 0.0 {
        return Err(Error::InvalidArgument {
            op: "kl_div",
            shape: student.shape().to_vec(),
            msg: format!("temperature {t} must be positive"),
        });
    }
    let rows = student.numel() / student.shape().last().copied().unwrap_or(1).max(1);
    let log_s = student.div(t)?.log_softmax(-1)?;
    let log_q = teacher.detach().div(t)?.log_softmax(-1)?;
    let kl = log_q.exp()?.mul(&log_q.sub(&log_s)?)?.sum_all()?;
    kl.mul(t * t / rows as f64)
}

/// lambda/2 times the squared norm of the weights, leaving biases alone (the
/// notes' regularisation: a bias only shifts the function, it does not make
/// it less smooth). Parameters are recognised by name: "...bias" is a bias.
pub fn l2_penalty(named: &[(String, Tensor)], lambda: f64) -> Result<Option<Tensor>> {
    let mut total: Option<Tensor> = None;
    for (name, p) in named {
        if name.ends_with("bias") {
            continue;
        }
        let s = p.square()?.sum_all()?;
        total = Some(match total {
            Some(t) => t.add(&s)?,
            None => s,
        });
    }
    total.map(|t| t.mul(lambda / 2.0)).transpose()
}
