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
//!   explained. A gradient kernel is timed inside the forward + backward step
//!   that `backward()` records, by its own dispatches in the device's profile;
//! - whole workloads end to end (`peer/`), and with `--peer PATH` the same
//!   workloads run by a peer harness (peer/burn), alternating with ours.
//!
//! Every case passes a correctness gate first (`check.rs`): its output on its
//! own inputs against the float64 references of shadergrad-reference (the
//! ones kernels-tests checks against too). A case that fails scores nothing:
//! it is flagged and not timed. A case is `case.rs`, how it is timed
//! `measure.rs`; the run is laid out once (`document.rs`, `table.rs`) for the
//! terminal and the markdown report (`report.rs`, with PNG charts), written as
//! JSON (`json.rs`) and compared with an earlier run (`compare.rs`).
//!
//! Only the engine's public API is used.

mod case;
mod check;
mod choices;
mod compare;
mod data;
mod document;
mod json;
mod measure;
mod peer;
mod report;
mod results;
mod roofline;
mod suites;
mod table;

use std::path::PathBuf;
use std::time::Instant;

use shadergrad::{Device, Result};

pub use results::{
    Adapter, CheckOutcome, Choice, Load, PeerReport, PeerRow, Probe, Report, Roofline, Row,
    RunOptions,
};

/// What to run and where the results go.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// CI-sized: small shapes, few repetitions, only the small MLP workloads.
    pub quick: bool,
    /// Only kernels (or workloads) whose name contains one of these
    /// comma-separated words.
    pub filter: Option<String>,
    /// Time every case end to end (record, run, whole output read back).
    pub end_to_end: bool,
    /// A peer harness binary (`list` / `serve` protocol, see `peer/`) to run
    /// beside the end-to-end workloads.
    pub peer: Option<PathBuf>,
    /// Write the results as JSON here.
    pub json: Option<PathBuf>,
    /// Compare against an earlier `--json` file: ratio per case, regressions flagged.
    pub compare: Option<PathBuf>,
    /// Folder for the markdown report and the PNG charts (None: no report).
    pub report: Option<PathBuf>,
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

/// The adapter as the report names it.
fn adapter(dev: &Device) -> Adapter {
    let (info, caps) = (dev.adapter_info(), dev.caps());
    Adapter {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: info.driver.clone(),
        driver_info: info.driver_info.clone(),
        description: dev.describe(),
        f16: Some(caps.f16),
        subgroups: Some(caps.subgroups),
        subgroup_size: caps.subgroup_size,
        timestamps: Some(caps.timestamps),
        timestamps_in_passes: Some(caps.timestamps_in_passes),
    }
}

/// Runs the whole suite on `dev`.
pub fn run(dev: &Device, opts: &Options) -> Result<Report> {
    let start = Instant::now();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let load0 = load_average();
    let commit = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty());
    let dirty = commit
        .as_ref()
        .and_then(|_| git(&["status", "--porcelain", "--untracked-files=no"]))
        .map(|s| !s.is_empty());
    let mut ctx = measure::Ctx::new(dev, opts);
    let (roofline, probes) = roofline::measure(dev, opts.quick)?;
    ctx.roofline = roofline.clone();
    suites::run_all(&mut ctx)?;
    let peer = peer::run(&mut ctx)?;
    let (rows, skipped) = ctx.finish();
    let choices = choices::choices(dev, &rows);
    Ok(Report {
        schema: results::SCHEMA.into(),
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: commit,
        git_dirty: dirty,
        started,
        seconds: start.elapsed().as_secs_f64(),
        load: load0
            .zip(load_average())
            .map(|(start, end)| Load { start, end }),
        options: RunOptions {
            quick: opts.quick,
            filter: opts.filter.clone(),
            end_to_end: opts.end_to_end,
            peer: opts.peer.as_ref().map(|p| p.display().to_string()),
        },
        adapter: adapter(dev),
        method: measure::default_method(dev, opts).label(dev).to_string(),
        roofline,
        probes,
        skipped,
        choices,
        rows,
        peer,
    })
}

/// The run as the terminal shows it.
pub fn table(report: &Report) -> String {
    document::text(&document::document(report))
}

/// The command: opens the device, runs the suite, prints the table, writes the
/// JSON, comparison and report. Returns the process exit code: 0, or 2 when a
/// case failed its correctness gate (everything is still written).
pub fn cli(opts: &Options) -> Result<i32> {
    // The earlier run is read first: `--json` may overwrite the same file.
    let old = opts.compare.as_deref().map(json::read).transpose()?;
    let dev = Device::new()?;
    eprintln!("adapter: {}", dev.describe());
    let report = run(&dev, opts)?;
    print!("{}", table(&report));
    if let Some(path) = &opts.json {
        json::write(path, &report)?;
        println!("json: {} ({} rows)", path.display(), report.rows.len());
    }
    if let Some(old) = &old {
        let c = compare::compare(old, &report);
        print!("{}", c.text);
        if c.regressions > 0 {
            // Software adapters vary 10-30% run to run: one slow row is a hint.
            println!("rerun the slower cases alone (--filter) to tell noise from a regression");
        }
    }
    if let Some(dir) = &opts.report {
        report::write(dir, &report)?;
        println!("report: {}", dir.join("report.md").display());
    }
    let failed = report.failures();
    if failed.is_empty() {
        return Ok(0);
    }
    let names: Vec<String> = failed
        .iter()
        .map(|r| format!("{} {} {}", r.kernel, r.variant, r.shape))
        .collect();
    eprintln!(
        "{} case(s) failed the correctness gate or could not run: {}",
        failed.len(),
        names.join("; ")
    );
    Ok(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kernel: &str, ms: f64) -> Row {
        Row {
            kernel: kernel.into(),
            variant: "v".into(),
            shape: "8".into(),
            dtype: "f32".into(),
            method: "gpu-ts".into(),
            median_ms: Some(ms),
            min_ms: Some(ms),
            check: CheckOutcome {
                passed: true,
                checked: 8,
                total: 8,
                worst: f64::INFINITY,
                ..CheckOutcome::default()
            },
            ..Row::default()
        }
    }

    #[test]
    fn json_round_trips_and_compare_flags_regressions() {
        let dir = std::env::temp_dir().join(format!("sg-bench-json-{}", std::process::id()));
        let path = dir.join("old.json");
        let old = Report {
            schema: results::SCHEMA.into(),
            rows: vec![row("a", 1.0), row("b", 1.0), row("c", 1.0)],
            ..Report::default()
        };
        json::write(&path, &old).unwrap();
        let back = json::read(&path).unwrap();
        assert_eq!(back.rows.len(), 3);
        let new = Report {
            rows: vec![row("a", 1.05), row("b", 1.2), row("c", 0.5), row("d", 1.0)],
            ..Report::default()
        };
        let c = compare::compare(&back, &new);
        assert_eq!(c.regressions, 1, "{}", c.text);
        assert!(
            c.text.contains("REGRESSION") && c.text.contains("faster") && c.text.contains("new")
        );
        let t = table(&new);
        assert!(
            t.contains("median ms") && t.contains("no peer was run"),
            "{t}"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_file_of_the_first_schema_reads_back() {
        let v1 = r#"{"schema":"shadergrad-bench/1","git_commit":"900b0eb4a7b9",
            "adapter":{"description":"llvmpipe"},
            "rows":[{"kernel":"matmul","variant":"lanes","shape":"8","dtype":"f32",
            "method":"gpu-ts","median_ms":1.5,"check":{"worst_error_over_tolerance":null},
            "peer":{"name":"burn 0.22","ms":24.0}}]}"#;
        let saved: json::Saved = serde_json::from_str(v1).unwrap();
        assert_eq!(saved.rows[0].median_ms, Some(1.5));
        assert_eq!(saved.adapter.description, "llvmpipe");
    }
}
