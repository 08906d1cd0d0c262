//! `shadergrad eval CHECKPOINT`: reads a file `tour --save` wrote, rebuilds
//! the entry its metadata names, loads the state dict strictly and scores the
//! model on the entry's held-out data (the quick one for a quick run), beside
//! the value recorded when it was saved.

use std::fmt;
use std::path::Path;

use indicatif::ProgressBar;

use shadergrad::Device;
use shadergrad::StateDictFault;
use shadergrad::checkpoint;

use crate::tour::common::Ctx;
use crate::tour::entries;
use crate::tour::held_out::Score;
use crate::tour::save::key;

/// A saved model scored again.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub entry: String,
    pub quick: bool,
    pub steps: usize,
    /// The shadergrad version that trained it.
    pub version: String,
    /// The metric as recorded at save time, and as computed now.
    pub recorded: Score,
    pub evaluated: Score,
}

impl Evaluation {
    /// The same metric, bit for bit.
    pub fn identical(&self) -> bool {
        self.recorded.metric == self.evaluated.metric
            && self.recorded.value.to_bits() == self.evaluated.value.to_bits()
    }
}

/// One line: the entry, how it was trained, the metric now and at save time.
impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.quick { "quick" } else { "full" };
        let (now, then) = (&self.evaluated, &self.recorded);
        write!(
            f,
            "{} ({mode} mode, {} steps, shadergrad {}): {} = {} (recorded {}",
            self.entry, self.steps, self.version, now.metric, now.value, then.value
        )?;
        if then.metric != now.metric {
            write!(f, " as {:?}", then.metric)?;
        }
        if self.identical() {
            write!(f, ": identical)")
        } else {
            write!(f, ": differs by {:e})", now.value - then.value)
        }
    }
}

/// Why a checkpoint could not be scored; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{file}: not a readable checkpoint: {}", reason(.source))]
    Read {
        file: String,
        source: Box<shadergrad::Error>,
    },
    #[error("{file}: the metadata has no `{key}`: not a file `shadergrad tour --save` wrote")]
    MissingMetadata { file: String, key: &'static str },
    #[error("{file}: the metadata's `{key}` is {value:?}, not {expected}")]
    BadMetadata {
        file: String,
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{file}: names the entry {entry:?}, which the tour does not have (entries: {known})")]
    UnknownEntry {
        file: String,
        entry: String,
        known: String,
    },
    #[error("{file}: its tensors are not a {entry} model: {fault}")]
    Architecture {
        file: String,
        entry: String,
        fault: StateDictFault,
    },
    #[error("{file}: evaluating {entry} failed: {source}")]
    Engine {
        file: String,
        entry: String,
        source: Box<shadergrad::Error>,
    },
}

/// A read error without the file name it already carries.
fn reason(e: &shadergrad::Error) -> String {
    match e {
        shadergrad::Error::Data { at, msg, .. } => format!("{msg} (at {at})"),
        other => other.to_string(),
    }
}

/// Scores the checkpoint at `path` on `dev`.
pub fn evaluate(dev: &Device, path: &Path) -> Result<Evaluation, EvalError> {
    let file = path.display().to_string();
    let loaded = checkpoint::load(dev, path).map_err(|source| EvalError::Read {
        file: file.clone(),
        source: Box::new(source),
    })?;
    let meta = |key: &'static str| {
        loaded
            .metadata
            .get(key)
            .ok_or_else(|| EvalError::MissingMetadata {
                file: file.clone(),
                key,
            })
    };
    let bad = |key: &'static str, value: &str, expected: &'static str| EvalError::BadMetadata {
        file: file.clone(),
        key,
        value: value.to_string(),
        expected,
    };
    let name = meta(key::ENTRY)?;
    let all = entries();
    let Some(entry) = all.iter().find(|e| e.name == name) else {
        let known: Vec<&str> = all.iter().map(|e| e.name).collect();
        return Err(EvalError::UnknownEntry {
            file,
            entry: name.clone(),
            known: known.join(", "),
        });
    };
    let quick = match meta(key::QUICK)?.as_str() {
        "true" => true,
        "false" => false,
        other => return Err(bad(key::QUICK, other, "true or false")),
    };
    let value = meta(key::VALUE)?;
    let value = value
        .parse::<f64>()
        .map_err(|_| bad(key::VALUE, value, "a number"))?;
    let steps = meta(key::STEPS)?;
    let steps = steps
        .parse::<usize>()
        .map_err(|_| bad(key::STEPS, steps, "a count"))?;
    let recorded = Score {
        metric: meta(key::METRIC)?.clone(),
        value,
    };
    let version = meta(key::VERSION)?.clone();
    dev.manual_seed(0);
    let ctx = Ctx::new(dev.clone(), quick, ProgressBar::hidden());
    let evaluated = (entry.eval)(&ctx, &loaded.tensors).map_err(|e| match e {
        shadergrad::Error::StateDict(fault) => EvalError::Architecture {
            file: file.clone(),
            entry: entry.name.into(),
            fault,
        },
        source => EvalError::Engine {
            file: file.clone(),
            entry: entry.name.into(),
            source: Box::new(source),
        },
    })?;
    Ok(Evaluation {
        entry: entry.name.into(),
        quick,
        steps,
        version,
        recorded,
        evaluated,
    })
}
