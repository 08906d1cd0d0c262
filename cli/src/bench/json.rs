//! The `--json` file, through serde: the whole [`Report`] written, and read
//! back as the little `--compare` needs (every row's identity and median,
//! the adapter and the commit). Files of schema `shadergrad-bench/1` (the
//! rows' field names are the same) read back too.

use std::path::Path;

use serde::Deserialize;
use shadergrad::{Error, Result};

use crate::bench::results::Report;

/// One row of an earlier run, as far as a comparison needs it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SavedRow {
    pub kernel: String,
    pub variant: String,
    pub shape: String,
    pub dtype: String,
    pub method: String,
    pub median_ms: Option<f64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SavedAdapter {
    pub description: String,
}

/// An earlier run, as far as a comparison needs it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Saved {
    pub git_commit: Option<String>,
    pub adapter: SavedAdapter,
    pub rows: Vec<SavedRow>,
}

fn io_error(path: &Path, at: &str, e: impl std::fmt::Display) -> Error {
    Error::Data {
        file: path.display().to_string(),
        at: at.into(),
        msg: e.to_string(),
    }
}

/// Parses an earlier run.
pub(crate) fn read(path: &Path) -> Result<Saved> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, "read", e))?;
    serde_json::from_str(&text).map_err(|e| io_error(path, "parse", e))
}

/// Writes the report, then reads it back: what was written must parse and
/// hold every row.
pub(crate) fn write(path: &Path, report: &Report) -> Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(|e| io_error(path, "serialize", e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io_error(path, "write", e))?;
    }
    std::fs::write(path, &text).map_err(|e| io_error(path, "write", e))?;
    if read(path)?.rows.len() != report.rows.len() {
        return Err(io_error(path, "verify", "the rows did not survive"));
    }
    Ok(())
}
