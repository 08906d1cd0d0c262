//! The kernel benchmark suite, shared by `shadergrad bench` and `cargo bench`.
//!
//! One run measures, on this machine's adapter:
//! - the adapter's own ceilings (`roofline.rs`): copy bandwidth and FMA
//!   throughput from two raw WGSL kernels, and the dispatch overhead probes;
//! - every kernel family, forward and backward, over a sweep of sizes
//!   (`suites/`), each beside the simplest correct version of the same op where
//!   one exists (naive matmul, direct conv, three-pass softmax, composed
//!   cross-entropy, batch norm, layer norm and attention, unfused elementwise
//!   chains), and every variant the engine has, the engine's choice marked and
//!   explained;
//! - the workloads of the burn comparison, timed end to end as the peer was.
//!
//! Every case passes a correctness gate first (`check.rs`): its output on its
//! own inputs against a float64 CPU reference. A case that fails scores nothing:
//! it is flagged and not timed. How a case is timed is `measure.rs`; the table,
//! JSON and comparison are `output.rs`; the markdown + PNG report `report.rs`.
//!
//! Adding a workload is one function in `suites/` that builds its inputs and
//! hands `Ctx::case` a [`Case`](measure::Case): what it runs, how many flops and
//! bytes one run is, and how to check its output.

mod check;
mod data;
mod measure;
mod output;
mod report;
mod roofline;
mod suites;

use std::path::PathBuf;
use std::time::Instant;

use shadergrad::Device;
use shadergrad::{Error, Result};

pub use measure::Method;
pub use output::{compare, table, to_json};

/// What to run and where the results go.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// CI-sized: small shapes, few repetitions, no burn-sized workloads.
    pub quick: bool,
    /// Only kernels whose name contains one of these comma-separated words.
    pub filter: Option<String>,
    /// Time every case end to end (record, run, whole output read back),
    /// as the burn comparison is timed.
    pub end_to_end: bool,
    /// Write the results as JSON here.
    pub json: Option<PathBuf>,
    /// Compare against an earlier `--json` file: ratio per case, regressions flagged.
    pub compare: Option<PathBuf>,
    /// Folder for the markdown report and the PNG charts (None: no report).
    pub report: Option<PathBuf>,
}

/// The result of the correctness gate for one case.
#[derive(Clone, Debug, Default)]
pub struct CheckOutcome {
    pub passed: bool,
    /// Output elements compared against the reference, of `total`.
    pub checked: usize,
    pub total: usize,
    /// The largest error as a multiple of its tolerance (at most 1 passes).
    pub worst: f64,
    /// What failed (or how the comparison was made).
    pub detail: String,
}

/// One measured case: a kernel (or its baseline) at one shape and variant.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// The kernel family and pass: `matmul`, `matmul.nt`, `conv2d.grad_input`...
    pub kernel: String,
    pub variant: String,
    pub shape: String,
    pub dtype: String,
    /// Rows of one group compare to the group's baseline row.
    pub group: String,
    pub baseline: bool,
    /// The variant the engine picks on this adapter.
    pub chosen: bool,
    /// `gpu-ts`, `wall` or `e2e` (see [`Method`]).
    pub method: String,
    /// Median and fastest run by `method`; None when the case was not timed.
    pub median_ms: Option<f64>,
    pub min_ms: Option<f64>,
    /// Median wall clock of the same runs (record to GPU idle; e2e: to readback).
    pub wall_ms: Option<f64>,
    /// The first, cold run: pipeline compiles and planning included.
    pub first_ms: f64,
    /// Pipelines compiled by the cold run.
    pub pipelines: u64,
    /// Most device memory the cold run held at once beyond what was live
    /// before it: its outputs, intermediates and plan arena (warm runs reuse
    /// the arena, so only the cold run shows it).
    pub peak_bytes: u64,
    /// Estimated compile and plan time: cold run minus the warm wall median.
    pub compile_ms: Option<f64>,
    pub reps: usize,
    /// Input sets rotated between runs.
    pub sets: usize,
    pub dispatches: f64,
    pub submits: f64,
    /// Work of one run (see each suite for how it is counted).
    pub flops: f64,
    pub bytes: f64,
    pub gflops: Option<f64>,
    pub gbps: Option<f64>,
    /// `memory` or `compute`: which measured ceiling bounds this case.
    pub bound: Option<String>,
    /// Achieved rate over the bounding ceiling.
    pub fraction: Option<f64>,
    /// Baseline median over this row's median (higher: this row is faster).
    pub speedup: Option<f64>,
    pub check: CheckOutcome,
    /// A peer's time for the same workload, timed the same way: (who, ms).
    pub peer: Option<(String, f64)>,
    /// Set when the case could not run.
    pub error: Option<String>,
    pub note: String,
}

/// The adapter's measured ceilings.
#[derive(Clone, Debug, Default)]
pub struct Roofline {
    /// Bytes read plus bytes written per second by a copy kernel, GB/s.
    pub copy_gbps: f64,
    /// f32 FMA throughput of an arithmetic-bound kernel, GFLOP/s (an FMA is 2).
    pub fma_gflops: f64,
    pub copy_bytes: u64,
    /// How they were timed.
    pub method: String,
    pub detail: String,
}

/// One dispatch-overhead probe.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub name: String,
    /// Wall clock per operation, microseconds.
    pub wall_us: f64,
    /// GPU timestamps per operation, where they apply.
    pub gpu_us: Option<f64>,
    pub count: usize,
    pub note: String,
}

/// Which variant the engine picks for a kernel with several, and why, beside
/// what the suite measured.
#[derive(Clone, Debug, Default)]
pub struct Choice {
    pub kernel: String,
    pub chosen: String,
    pub reason: String,
    pub measured: String,
}

/// Everything one run produced.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub adapter: String,
    pub adapter_name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub caps: Option<shadergrad::Caps>,
    pub crate_version: String,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    /// The timer most rows use.
    pub method: String,
    pub quick: bool,
    pub filter: Option<String>,
    pub end_to_end: bool,
    pub roofline: Option<Roofline>,
    pub probes: Vec<Probe>,
    pub choices: Vec<Choice>,
    pub rows: Vec<Row>,
    /// Variants left out to keep the run short (software adapters), and where.
    pub skipped: Vec<String>,
    pub seconds: f64,
    /// The system's 1-minute load average at the start and the end of the run
    /// (Linux), when known: other work on the machine skews the times.
    pub load: Option<(f64, f64)>,
    /// Unix time the run started.
    pub started: u64,
}

impl Report {
    /// Cases whose output did not match its reference (or that could not run).
    pub fn failures(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| !r.check.passed).collect()
    }
}

/// `git ARGS` in the checkout this binary was built from (or, when that is
/// not on this machine, the current directory); None without git.
fn git(args: &[&str]) -> Option<String> {
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = if built.is_dir() {
        built.to_path_buf()
    } else {
        std::env::current_dir().ok()?
    };
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs the whole suite on `dev`.
pub fn run(dev: &Device, opts: &Options) -> Result<Report> {
    let start = Instant::now();
    let load0 = load_average();
    let info = dev.adapter_info();
    let commit = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty());
    let dirty = commit
        .as_ref()
        .and_then(|_| git(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.is_empty());
    let mut ctx = measure::Ctx::new(dev, opts);
    let (roofline, probes) = roofline::measure(dev, opts.quick)?;
    ctx.roofline = roofline.clone();
    suites::run_all(&mut ctx)?;
    let (rows, skipped) = ctx.finish();
    let choices = suites::choices(dev, &rows);
    Ok(Report {
        adapter: dev.describe(),
        adapter_name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: info.driver.clone(),
        driver_info: info.driver_info.clone(),
        caps: Some(dev.caps().clone()),
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: commit,
        git_dirty: dirty,
        method: measure::default_method(dev, opts).label(dev).to_string(),
        quick: opts.quick,
        filter: opts.filter.clone(),
        end_to_end: opts.end_to_end,
        roofline,
        probes,
        choices,
        rows,
        skipped,
        seconds: start.elapsed().as_secs_f64(),
        load: load0.zip(load_average()),
        started: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    })
}

fn io_error(path: &std::path::Path, at: &str, e: impl std::fmt::Display) -> Error {
    Error::Data {
        file: path.display().to_string(),
        at: at.into(),
        msg: e.to_string(),
    }
}

/// The command: opens the device, runs the suite, prints the table, writes the
/// JSON, comparison and report. Returns the process exit code: 0, or 2 when a
/// case failed its correctness gate (everything is still written).
pub fn cli(opts: &Options) -> Result<i32> {
    // The earlier run is read first: `--json` may overwrite the same file.
    let old: Option<serde_json::Value> = match &opts.compare {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| io_error(path, "read", e))?;
            Some(serde_json::from_str(&text).map_err(|e| io_error(path, "parse", e))?)
        }
        None => None,
    };
    let dev = Device::new()?;
    println!("adapter: {}", dev.describe());
    let report = run(&dev, opts)?;
    print!("{}", table(&report));
    if let Some(path) = &opts.json {
        let text = serde_json::to_string_pretty(&to_json(&report))
            .map_err(|e| io_error(path, "serialize", e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_error(path, "write", e))?;
        }
        std::fs::write(path, &text).map_err(|e| io_error(path, "write", e))?;
        // Read it back: what was written must parse and hold every row.
        let back = std::fs::read_to_string(path).map_err(|e| io_error(path, "read", e))?;
        let v: serde_json::Value =
            serde_json::from_str(&back).map_err(|e| io_error(path, "parse", e))?;
        let n = v["rows"].as_array().map(Vec::len);
        if n != Some(report.rows.len()) {
            return Err(io_error(path, "verify", "the rows did not survive"));
        }
        println!("json: {} ({} rows)", path.display(), report.rows.len());
    }
    if let Some(old) = &old {
        print!("{}", compare(old, &report).text);
    }
    if let Some(dir) = &opts.report {
        report::write(dir, &report)?;
        println!("report: {}", dir.join("report.md").display());
    }
    let failed = report.failures();
    if failed.is_empty() {
        Ok(0)
    } else {
        eprintln!(
            "{} case(s) failed the correctness gate or could not run: {}",
            failed.len(),
            failed
                .iter()
                .map(|r| format!("{} {} {}", r.kernel, r.variant, r.shape))
                .collect::<Vec<_>>()
                .join("; ")
        );
        Ok(2)
    }
}
