//! What a run produced: one [`Row`] per measured case, the adapter's
//! ceilings and probes, the variant choices, the peer comparison, and the
//! [`Report`] that holds them. Plain data, serialized as the `--json` file
//! (schema `shadergrad-bench/2`: the rows keep the field names of
//! `shadergrad-bench/1`, so `--compare` reads files of either).

use serde::Serialize;

/// The result of the correctness gate for one case.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckOutcome {
    pub passed: bool,
    /// Output elements compared against the reference, of `total`.
    pub checked: usize,
    pub total: usize,
    /// The largest error as a multiple of its tolerance (at most 1 passes).
    #[serde(rename = "worst_error_over_tolerance")]
    pub worst: f64,
    /// What failed (or how the comparison was made).
    pub detail: String,
}

/// One measured case: a kernel (or its baseline) at one shape and variant.
/// (kernel, variant, shape, dtype, method) is its identity across runs.
#[derive(Clone, Debug, Default, Serialize)]
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
    /// `gpu-ts`, `wall` or `e2e` (see `case::Method`).
    pub method: String,
    /// Median and fastest run by `method`; None when the case was not timed.
    pub median_ms: Option<f64>,
    pub min_ms: Option<f64>,
    /// Median wall clock of the same runs (record to GPU idle; e2e: to readback).
    #[serde(rename = "wall_median_ms")]
    pub wall_ms: Option<f64>,
    /// The first, cold run: pipeline compiles and planning included.
    pub first_ms: f64,
    /// Estimated compile and plan time: cold run minus the warm wall median.
    #[serde(rename = "compile_ms_est")]
    pub compile_ms: Option<f64>,
    /// Most device memory the cold run held at once beyond what was live
    /// before it: its outputs, intermediates and plan arena (warm runs reuse
    /// the arena, so only the cold run shows it).
    pub peak_bytes: u64,
    /// Pipelines compiled by the cold run.
    #[serde(rename = "pipelines_compiled")]
    pub pipelines: u64,
    pub reps: usize,
    /// Input sets rotated between runs.
    #[serde(rename = "input_sets")]
    pub sets: usize,
    #[serde(rename = "dispatches_per_run")]
    pub dispatches: f64,
    #[serde(rename = "submits_per_run")]
    pub submits: f64,
    /// Work of one run (see each suite for how it is counted).
    pub flops: f64,
    pub bytes: f64,
    pub gflops: Option<f64>,
    pub gbps: Option<f64>,
    /// A model row's tokens per run, and per second of its median.
    #[serde(rename = "tokens_per_run")]
    pub tokens: f64,
    pub tokens_per_s: Option<f64>,
    /// `memory` or `compute`: which measured ceiling bounds this case.
    pub bound: Option<String>,
    /// Achieved rate over the bounding ceiling.
    #[serde(rename = "fraction_of_ceiling")]
    pub fraction: Option<f64>,
    /// Baseline median over this row's median (higher: this row is faster).
    #[serde(rename = "speedup_vs_baseline")]
    pub speedup: Option<f64>,
    pub check: CheckOutcome,
    /// Set when the case could not run.
    pub error: Option<String>,
    pub note: String,
}

/// The adapter's measured ceilings.
#[derive(Clone, Debug, Default, Serialize)]
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
#[derive(Clone, Debug, Default, Serialize)]
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
#[derive(Clone, Debug, Default, Serialize)]
pub struct Choice {
    pub kernel: String,
    pub chosen: String,
    pub reason: String,
    pub measured: String,
}

/// One workload of the peer comparison: the peer's runs and ours, taken in
/// alternating rounds of the same run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PeerRow {
    /// The protocol's workload name (`matmul_512`).
    pub workload: String,
    /// What the peer says it runs.
    pub what: String,
    pub flops: f64,
    /// Our row's identity in `rows` (its kernel, variant, shape).
    pub kernel: String,
    pub variant: String,
    pub shape: String,
    /// Median of our runs in the alternating rounds (e2e).
    pub ours_ms: Option<f64>,
    /// Median of the peer's runs in the same rounds.
    pub peer_ms: Option<f64>,
    /// Every peer run, in order.
    pub peer_runs: Vec<f64>,
    /// The peer's warm-up (its autotuning) before its first timed run.
    pub peer_warm_ms: Option<f64>,
    pub peer_checksum: Option<f64>,
    /// peer_ms / ours_ms: above 1, we are faster.
    pub ratio: Option<f64>,
    pub rounds: usize,
    /// What went wrong on the peer's side, if anything.
    pub error: Option<String>,
}

/// The peer harness and what it ran.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PeerReport {
    /// The harness binary given with `--peer`.
    pub path: String,
    /// Its `list` answer: who it is and which version.
    pub name: String,
    pub version: String,
    pub rows: Vec<PeerRow>,
}

/// The adapter the run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Adapter {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    /// `Device::describe`: the line the table opens with.
    pub description: String,
    pub f16: Option<bool>,
    pub subgroups: Option<bool>,
    pub subgroup_size: Option<(u32, u32)>,
    pub timestamps: Option<bool>,
    pub timestamps_in_passes: Option<bool>,
}

/// The options the run was made with.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunOptions {
    pub quick: bool,
    pub filter: Option<String>,
    pub end_to_end: bool,
    pub peer: Option<String>,
}

/// The system's 1-minute load average at the start and the end of the run.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Load {
    pub start: f64,
    pub end: f64,
}

/// Everything one run produced.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub schema: String,
    pub crate_version: String,
    pub git_commit: Option<String>,
    pub git_dirty: Option<bool>,
    /// Unix time the run started.
    #[serde(rename = "started_unix")]
    pub started: u64,
    pub seconds: f64,
    /// Other work on the machine skews the times (Linux only).
    #[serde(rename = "load_average")]
    pub load: Option<Load>,
    pub options: RunOptions,
    pub adapter: Adapter,
    /// The timer most rows use.
    pub method: String,
    pub roofline: Option<Roofline>,
    pub probes: Vec<Probe>,
    /// Variants left out to keep the run short (software adapters), and where.
    pub skipped: Vec<String>,
    pub choices: Vec<Choice>,
    pub rows: Vec<Row>,
    /// The same-run comparison with `--peer`; None without one.
    pub peer: Option<PeerReport>,
}

/// The JSON schema this version writes.
pub const SCHEMA: &str = "shadergrad-bench/2";

impl Report {
    /// Cases whose output did not match its reference (or that could not run).
    pub fn failures(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| !r.check.passed).collect()
    }
}
