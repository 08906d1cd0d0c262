//! The client side of the peer protocol. A peer harness is a binary:
//!
//! - `PATH list` prints one JSON object:
//!   `{"peer":"burn","version":"0.22.1","workloads":[{"name":..,"flops":..,"what":..}]}`;
//! - `PATH serve` reads lines `run NAME REPS` and answers each with one JSON
//!   line `{"name":NAME,"ms":[...],"warm_ms":W,"checksum":C}` (or
//!   `{"name":..,"error":..}`); `quit` ends it. The process stays alive
//!   between requests, so its caches (burn's autotuning) stay warm; it warms
//!   a workload itself on its first run.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde::Deserialize;
use shadergrad::{Error, Result};

/// One workload the peer offers.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Workload {
    pub name: String,
    pub flops: f64,
    pub what: String,
}

/// The peer's `list` answer.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Listing {
    pub peer: String,
    pub version: String,
    pub workloads: Vec<Workload>,
}

/// The answer to one `run` line.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Runs {
    pub name: String,
    pub ms: Vec<f64>,
    pub warm_ms: Option<f64>,
    pub checksum: Option<f64>,
    pub error: Option<String>,
}

fn peer_error(path: &Path, at: &str, msg: impl std::fmt::Display) -> Error {
    Error::Data {
        file: path.display().to_string(),
        at: at.into(),
        msg: format!("peer harness: {msg}"),
    }
}

/// `PATH list`.
pub(crate) fn list(path: &Path) -> Result<Listing> {
    let out = Command::new(path)
        .arg("list")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| peer_error(path, "list", e))?;
    if !out.status.success() {
        return Err(peer_error(
            path,
            "list",
            format!("exited with {}", out.status),
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| peer_error(path, "list", e))
}

/// A running `PATH serve`: requests go to its stdin, answers come a line
/// each from its stdout (its stderr, progress and warnings, passes through).
pub(crate) struct Server {
    path: std::path::PathBuf,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    pub fn start(path: &Path) -> Result<Server> {
        let mut child = Command::new(path)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| peer_error(path, "serve", e))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Ok(Server {
            path: path.to_path_buf(),
            child,
            stdin,
            stdout,
        })
    }

    /// `reps` timed runs of `name`; a peer-side failure is an error value.
    pub fn run(&mut self, name: &str, reps: usize) -> Result<Runs> {
        let at = format!("run {name}");
        writeln!(self.stdin, "run {name} {reps}")
            .and_then(|_| self.stdin.flush())
            .map_err(|e| peer_error(&self.path, &at, e))?;
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .map_err(|e| peer_error(&self.path, &at, e))?;
        if n == 0 {
            return Err(peer_error(&self.path, &at, "the harness closed its output"));
        }
        let runs: Runs = serde_json::from_str(&line)
            .map_err(|e| peer_error(&self.path, &at, format!("{e} in {line:?}")))?;
        match &runs.error {
            Some(e) => Err(peer_error(&self.path, &at, e)),
            None if runs.name != name || runs.ms.is_empty() => Err(peer_error(
                &self.path,
                &at,
                format!("an answer for {:?} with {} runs", runs.name, runs.ms.len()),
            )),
            None => Ok(runs),
        }
    }
}

impl Drop for Server {
    /// `quit`, then wait for it (it may be tearing down its device).
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit").and_then(|_| self.stdin.flush());
        let _ = self.child.wait();
    }
}
