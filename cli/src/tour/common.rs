//! What tour entries share: the context, the outcome, tensors from data sets,
//! and evaluation.

use std::path::PathBuf;

use indicatif::ProgressBar;

use shadergrad::DType;
use shadergrad::Device;
use shadergrad::Result;
use shadergrad::Tensor;
use shadergrad::data::{Dataset, Target};
use shadergrad::no_grad;

use crate::tour::held_out::Snapshot;

pub struct Ctx {
    pub dev: Device,
    pub quick: bool,
    pub bar: ProgressBar,
    pub data: PathBuf,
    /// Where entries write plots and reports.
    pub report: PathBuf,
}

impl Ctx {
    pub fn new(dev: Device, quick: bool, bar: ProgressBar) -> Ctx {
        Ctx {
            dev,
            quick,
            bar,
            data: shadergrad::data::data_dir(),
            report: PathBuf::from("tour-report"),
        }
    }

    /// `full` normally, `quick` in quick mode.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }

    pub fn start(&self, steps: usize, what: &str) {
        self.bar.set_length(steps as u64);
        self.bar.set_position(0);
        self.bar.set_message(what.to_string());
    }

    pub fn tick(&self, loss: f32) {
        self.bar.inc(1);
        self.bar.set_message(format!("loss {loss:.4}"));
    }
}

/// What an entry reports.
pub struct Outcome {
    pub model: String,
    pub dataset: String,
    pub metric: String,
    pub value: f64,
    pub target: f64,
    pub higher_is_better: bool,
    pub steps: usize,
    /// Training loss at the start and the end: it must fall.
    pub first_loss: f64,
    pub last_loss: f64,
    /// Conditions beyond the metric (e.g. "test loss turns up"); all must hold.
    pub checks: Vec<(String, bool)>,
    /// Lines printed under the result (tables, comparisons).
    pub notes: Vec<String>,
    /// The trained model and its held-out metric, as `--save` writes them:
    /// the metric above, unless that one is about training itself (steps to
    /// a loss), which no saved model can reproduce.
    pub held_out: Snapshot,
}

impl Outcome {
    pub fn pass(&self) -> bool {
        let metric = if self.higher_is_better {
            self.value >= self.target
        } else {
            self.value <= self.target
        };
        metric && self.last_loss < self.first_loss && self.checks.iter().all(|(_, ok)| *ok)
    }

    pub fn json(&self, name: &str, seconds: f64) -> serde_json::Value {
        serde_json::json!({
            "model": name,
            "dataset": self.dataset,
            "metric": self.metric,
            "value": self.value,
            "target": self.target,
            "pass": self.pass(),
            "seconds": seconds,
            "steps": self.steps,
            "first_loss": self.first_loss,
            "last_loss": self.last_loss,
            "checks": self.checks.iter().map(|(c, ok)| serde_json::json!({"check": c, "ok": ok})).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }
}

/// Features (n, features) and targets: class indices (n, i32) or values (n, outputs).
pub fn tensors(dev: &Device, d: &Dataset) -> Result<(Tensor, Tensor)> {
    let x = Tensor::from_slice(dev, &d.x, &[d.len(), d.features()])?;
    let y = match &d.target {
        Target::Classes { labels, .. } => Tensor::from_slice(dev, labels, &[d.len()])?,
        Target::Values { values, outputs } => {
            Tensor::from_slice(dev, values, &[d.len(), *outputs])?
        }
    };
    Ok((x, y))
}

/// Fraction of rows whose largest logit is the label (computed without gradients).
pub fn accuracy(logits: &Tensor, labels: &[i32]) -> Result<f64> {
    let _g = no_grad();
    let pred = logits.argmax(-1, false)?.to_vec::<i32>()?;
    let hits = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(hits as f64 / labels.len().max(1) as f64)
}

/// Fraction of rows where (logit > 0) matches the 0/1 label.
pub fn binary_accuracy(logits: &Tensor, labels: &[f32]) -> Result<f64> {
    let _g = no_grad();
    let pred = logits.gt(0.0)?.cast(DType::F32)?.to_vec::<f32>()?;
    let hits = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(hits as f64 / labels.len().max(1) as f64)
}

/// Applies a model batch by batch without gradients, returning all outputs.
pub fn predict(
    dev: &Device,
    d: &Dataset,
    batch: usize,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Vec<f32>> {
    let _g = no_grad();
    let mut out = Vec::new();
    for b in d.batches(batch, None)? {
        let x = Tensor::from_slice(dev, &b.x, &[b.len, d.features()])?;
        out.extend(f(&x)?.to_vec::<f32>()?);
    }
    Ok(out)
}
