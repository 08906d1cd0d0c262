//! The kernel benchmark suite, shared by `shadergrad bench` and `cargo bench`.
//! Each workload runs warm (its first run compiles and plans; that is reported
//! apart), then is timed as the median of repeated runs, inputs rotated between
//! runs so a repeat does not just measure a cache.

mod suites;

use std::time::Instant;

use crate::device::Device;
use crate::error::Result;

pub use suites::run_all;

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// CI-sized: small shapes, few repetitions.
    pub quick: bool,
    /// Only workloads whose kernel name contains this.
    pub filter: Option<String>,
}

/// One measured workload.
#[derive(Clone, Debug)]
pub struct Row {
    pub kernel: String,
    pub variant: String,
    pub shape: String,
    pub median_ms: f64,
    pub min_ms: f64,
    /// First run: pipeline compiles and planning included.
    pub first_ms: f64,
    pub gflops: Option<f64>,
    pub gbps: Option<f64>,
    pub note: String,
}

pub(crate) struct Timing {
    pub median_ms: f64,
    pub min_ms: f64,
    pub first_ms: f64,
}

/// Runs `f(i)` once cold, `warmup` more times, then `reps` times timed; each run
/// ends with the GPU idle, so the time is record + plan lookup + GPU work.
pub(crate) fn time(
    dev: &Device,
    warmup: usize,
    reps: usize,
    mut f: impl FnMut(usize) -> Result<()>,
) -> Result<Timing> {
    let t = Instant::now();
    f(0)?;
    dev.synchronize()?;
    let first_ms = t.elapsed().as_secs_f64() * 1e3;
    for i in 0..warmup {
        f(i + 1)?;
    }
    dev.synchronize()?;
    let mut ms = Vec::with_capacity(reps);
    for i in 0..reps {
        let t = Instant::now();
        f(i + warmup + 1)?;
        dev.synchronize()?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(Timing {
        median_ms: ms[ms.len() / 2],
        min_ms: ms[0],
        first_ms,
    })
}

/// The rows as an aligned table.
pub fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<12} {:<16} {:<22} {:>10} {:>10} {:>10} {:>9} {:>9}  {}\n",
        "kernel", "variant", "shape", "median ms", "min ms", "first ms", "GFLOP/s", "GB/s", "note"
    );
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into());
    for r in rows {
        s.push_str(&format!(
            "{:<12} {:<16} {:<22} {:>10.3} {:>10.3} {:>10.1} {:>9} {:>9}  {}\n",
            r.kernel,
            r.variant,
            r.shape,
            r.median_ms,
            r.min_ms,
            r.first_ms,
            opt(r.gflops),
            opt(r.gbps),
            r.note
        ));
    }
    s
}
