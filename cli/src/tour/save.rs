//! `tour --save DIR`: each entry's trained model as `DIR/<entry>.safetensors`,
//! its state dict under PyTorch's names, with what `shadergrad eval` needs to
//! score it again in the metadata.

use std::path::{Path, PathBuf};

use shadergrad::Result;
use shadergrad::Tensor;
use shadergrad::checkpoint;

use crate::tour::common::Outcome;

/// The metadata keys a tour checkpoint carries.
pub mod key {
    /// The entry's name: which model `eval` rebuilds.
    pub const ENTRY: &str = "entry";
    /// The held-out metric's name and value (Rust's shortest round-trip form).
    pub const METRIC: &str = "metric";
    pub const VALUE: &str = "value";
    /// "true" for a quick-mode run: `eval` then scores the quick held-out set.
    pub const QUICK: &str = "quick";
    /// Training steps the entry ran.
    pub const STEPS: &str = "steps";
    /// The version of shadergrad that trained it.
    pub const VERSION: &str = "shadergrad_version";
    pub const DATASET: &str = "dataset";
}

/// Where `--save DIR` puts entry `name`.
pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.safetensors"))
}

/// Writes `outcome`'s trained model and held-out metric for entry `name`
/// into `dir` (created if missing), atomically; returns the file's path.
pub fn save(dir: &Path, name: &str, outcome: &Outcome, quick: bool) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| shadergrad::Error::Data {
        file: dir.display().to_string(),
        at: "create".into(),
        msg: e.to_string(),
    })?;
    let file = path(dir, name);
    let held = &outcome.held_out;
    let tensors: Vec<(&str, &Tensor)> = held.state.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let (value, steps) = (held.value.to_string(), outcome.steps.to_string());
    let metadata = [
        (key::ENTRY, name),
        (key::METRIC, held.metric.as_str()),
        (key::VALUE, value.as_str()),
        (key::QUICK, if quick { "true" } else { "false" }),
        (key::STEPS, steps.as_str()),
        (key::VERSION, env!("CARGO_PKG_VERSION")),
        (key::DATASET, outcome.dataset.as_str()),
    ];
    checkpoint::save(&file, &tensors, &metadata)?;
    Ok(file)
}
