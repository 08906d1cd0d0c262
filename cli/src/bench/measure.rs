//! How a case is measured.
//!
//! 1. Cold run on input set 0, timed by the wall clock: pipeline compiles and
//!    planning happen here, and are reported apart (`first_ms`, the pipelines
//!    compiled, and the estimate cold minus warm).
//! 2. The correctness gate on that run's output (check.rs against the float64
//!    references of shadergrad-reference). A case that fails is flagged and
//!    not timed.
//! 3. Warm-up runs, then timed runs, each on the next input set (so a run
//!    never repeats the previous run's input), as many as fit a time budget
//!    (at least 5, 3 for slow cases or `--quick`). Median and minimum reported.
//!
//! What a timed run measures is the case's [`Method`]. A gradient kernel's
//! case records the forward and a real `backward` (one submit, as a training
//! step runs it) and names the ops to time: with timestamps only their
//! dispatches are summed; without, the whole step is timed and the row says so.

use std::time::Instant;

use shadergrad::{DType, Device, Result, Tensor, Tuning};

use crate::bench::Options;
use crate::bench::case::{Case, Method};
use crate::bench::check;
use crate::bench::results::{CheckOutcome, Roofline, Row};

/// GPU timestamps where the adapter has them, the wall clock otherwise;
/// end to end when asked.
pub(crate) fn default_method(dev: &Device, opts: &Options) -> Method {
    if opts.end_to_end {
        Method::EndToEnd
    } else if dev.caps().timestamps {
        Method::Timestamps
    } else {
        Method::Wall
    }
}

/// The suite's state: the device, the options, the rows so far.
pub(crate) struct Ctx<'d> {
    pub dev: &'d Device,
    pub opts: &'d Options,
    pub roofline: Option<Roofline>,
    /// The tuning the device opened with (the environment's overrides
    /// included): every case starts from it again.
    base: Tuning,
    /// Whether the device opened in deterministic mode: restored likewise.
    base_deterministic: bool,
    rows: Vec<Row>,
    filters: Vec<String>,
    /// Variants left out to keep the run short, and where.
    pub skipped: Vec<String>,
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn realize(dev: &Device, outs: &[Tensor]) -> Result<()> {
    if outs.is_empty() {
        dev.realize_pending()
    } else {
        let refs: Vec<&Tensor> = outs.iter().collect();
        Tensor::realize_all(&refs)
    }
}

/// A tensor's values as f32, whatever its element type (for the gate).
pub(crate) fn read_f32(t: &Tensor) -> Result<Vec<f32>> {
    Ok(match t.dtype() {
        DType::F32 => t.to_vec::<f32>()?,
        DType::F16 => t
            .to_vec::<shadergrad::f16>()?
            .into_iter()
            .map(|x| x.to_f32())
            .collect(),
        DType::I32 => t.to_vec::<i32>()?.into_iter().map(|x| x as f32).collect(),
        DType::U32 | DType::Bool => t.to_vec::<u32>()?.into_iter().map(|x| x as f32).collect(),
    })
}

/// Reads every output back in its own element type: one readback (several
/// outputs of one type are concatenated on the GPU first, in the same submit).
pub(crate) fn read_all(dev: &Device, outs: &[Tensor]) -> Result<usize> {
    let same = outs.windows(2).all(|w| w[0].dtype() == w[1].dtype());
    let one = match outs.len() {
        0 => return dev.realize_pending().map(|_| 0),
        1 => outs[0].clone(),
        _ if same => {
            let flat: Vec<Tensor> = outs
                .iter()
                .map(|t| t.reshape(&[t.numel()]))
                .collect::<Result<_>>()?;
            let refs: Vec<&Tensor> = flat.iter().collect();
            Tensor::cat(&refs, 0)?
        }
        _ => {
            let mut n = 0;
            for t in outs {
                n += read_native(t)?;
            }
            return Ok(n);
        }
    };
    read_native(&one)
}

fn read_native(t: &Tensor) -> Result<usize> {
    Ok(match t.dtype() {
        DType::F32 => std::hint::black_box(t.to_vec::<f32>()?).len(),
        DType::F16 => std::hint::black_box(t.to_vec::<shadergrad::f16>()?).len(),
        DType::I32 => std::hint::black_box(t.to_vec::<i32>()?).len(),
        DType::U32 | DType::Bool => std::hint::black_box(t.to_vec::<u32>()?).len(),
    })
}

/// The cold run and the gate.
struct Cold {
    first_ms: f64,
    pipelines: u64,
    peak_bytes: u64,
    check: CheckOutcome,
}

/// Timed runs: per run the wall clock and the GPU time (NaN when the run
/// was not profiled, or its profile had no dispatch of the timed ops).
#[derive(Default)]
pub(crate) struct Samples {
    pub walls: Vec<f64>,
    pub gpus: Vec<f64>,
    dispatches: u64,
    submits: u64,
}

/// Runs a case after its gate: warm-up and timed runs on rotating inputs.
pub(crate) struct Runner<'c, 'a> {
    dev: &'c Device,
    case: &'c mut Case<'a>,
    method: Method,
    /// The input set of the next run.
    next: usize,
    /// The warm-up's wall clock: what one run costs.
    pub estimate_ms: f64,
}

/// Whether profile entry `k` is one of a case's timed ops: `op`, or
/// `backward:op` for the dispatches of `op` that `backward()` recorded (a
/// gradient's fused elementwise kernels, told from the forward's).
fn timed_op(timed: &str, k: &shadergrad::KernelTime) -> bool {
    match timed.strip_prefix("backward:") {
        Some(op) => k.backward && k.op == op,
        None => k.op == timed,
    }
}

impl Runner<'_, '_> {
    /// One run on input set `self.next`: (wall ms, GPU ms of the timed ops).
    fn step(&mut self) -> Result<(f64, f64)> {
        let (dev, profile) = (self.dev, self.method == Method::Timestamps);
        (self.case.setup)(dev);
        dev.set_profiling(profile);
        let d0 = dev.counters().dispatches;
        let t = Instant::now();
        let outs = (self.case.run)(self.next)?;
        match self.method {
            Method::EndToEnd => {
                read_all(dev, &outs)?;
            }
            _ => {
                realize(dev, &outs)?;
                dev.synchronize()?;
            }
        }
        let wall = t.elapsed().as_secs_f64() * 1e3;
        self.next += 1;
        let mut gpu = f64::NAN;
        if profile && dev.counters().dispatches > d0 {
            let timed: Vec<f64> = dev
                .last_profile()
                .iter()
                .filter(|k| {
                    self.case
                        .profile
                        .is_none_or(|ops| ops.iter().any(|o| timed_op(o, k)))
                })
                .map(|k| k.ms)
                .collect();
            if !timed.is_empty() {
                gpu = timed.iter().sum();
            }
        }
        Ok((wall, gpu))
    }

    /// `n` untimed runs; the last one's wall clock becomes the estimate.
    pub fn warm(&mut self, n: usize) -> Result<()> {
        for _ in 0..n {
            self.estimate_ms = self.step()?.0;
        }
        Ok(())
    }

    /// How many timed runs fit the time budget.
    pub fn budget_reps(&self, quick: bool) -> usize {
        let (budget_ms, min_reps, max_reps) = if quick {
            (150.0, 3, 10)
        } else if self.estimate_ms > 400.0 {
            (1000.0, 3, 30)
        } else {
            (1000.0, 5, 30)
        };
        ((budget_ms / self.estimate_ms.max(1e-3)) as usize).clamp(min_reps, max_reps)
    }

    /// `n` timed runs, added to `into`.
    pub fn runs(&mut self, n: usize, into: &mut Samples) -> Result<()> {
        let c0 = self.dev.counters();
        for _ in 0..n {
            let (w, g) = self.step()?;
            into.walls.push(w);
            into.gpus.push(g);
        }
        let d = self.dev.counters() - c0;
        into.dispatches += d.dispatches;
        into.submits += d.submits;
        Ok(())
    }
}

/// What the timed runs add up to, by the method that could be used.
struct Timed {
    method: Method,
    median_ms: f64,
    min_ms: f64,
    wall_ms: f64,
    reps: usize,
    dispatches: f64,
    submits: f64,
    note: Option<String>,
}

/// The runs' summary. Timestamps cover one submit: a case that needs
/// several, or whose profile missed its timed ops, is timed by the wall
/// clock instead and says so. A case timed on part of its step says which.
fn summarize(case: &Case, method: Method, mut s: Samples) -> Timed {
    let reps = s.walls.len().max(1);
    let submits = s.submits as f64 / reps as f64;
    let ops = case.profile.map(|ops| ops.join(", "));
    let profiled = s.gpus.iter().all(|g| g.is_finite());
    let (method, mut primary, note) = match method {
        Method::Timestamps if submits <= 1.0 && profiled => {
            let note = ops.map(|o| format!("timer: only the {o} dispatches of the step"));
            (Method::Timestamps, s.gpus, note)
        }
        Method::Timestamps => {
            let why = if profiled {
                format!("{submits:.1} submits per run")
            } else {
                "the profile held none of its dispatches".into()
            };
            let note = format!("{why}: timed by the wall clock, the whole step");
            (Method::Wall, s.walls.clone(), Some(note))
        }
        m => {
            let note = ops.map(|o| format!("timer: the whole step, {o} included"));
            (m, s.walls.clone(), note)
        }
    };
    let min_ms = primary.iter().copied().fold(f64::INFINITY, f64::min);
    Timed {
        method,
        median_ms: median(&mut primary),
        min_ms,
        wall_ms: median(&mut s.walls),
        reps: s.walls.len(),
        dispatches: s.dispatches as f64 / reps as f64,
        submits,
        note,
    }
}

impl<'d> Ctx<'d> {
    pub fn new(dev: &'d Device, opts: &'d Options) -> Ctx<'d> {
        let filters = opts
            .filter
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        Ctx {
            dev,
            opts,
            roofline: None,
            base: dev.tuning(),
            base_deterministic: dev.deterministic(),
            rows: Vec::new(),
            filters,
            skipped: Vec::new(),
        }
    }

    /// Records that a variant was left out (when the filter wanted it).
    pub fn skip(&mut self, what: String) {
        let kernel = what.split(' ').next().unwrap_or("");
        if self.wanted(kernel) {
            self.skipped.push(what);
        }
    }

    pub fn quick(&self) -> bool {
        self.opts.quick
    }

    /// True when the filter lets any of these kernels through.
    pub fn wants(&self, kernels: &[&str]) -> bool {
        kernels.iter().any(|k| self.wanted(k))
    }

    pub fn wanted(&self, kernel: &str) -> bool {
        let k = kernel.to_lowercase();
        self.filters.is_empty() || self.filters.iter().any(|f| k.contains(f.as_str()))
    }

    /// Puts the device back as it opened: its tuning and mode, no profiling,
    /// nothing left pending (a case that failed may have left work recorded).
    fn reset(&self) {
        self.dev.set_tuning(self.base);
        self.dev.set_deterministic(self.base_deterministic);
        self.dev.set_profiling(false);
        let _ = self.dev.realize_pending();
    }

    /// Measures a case (unless the filter excludes it) and keeps its row.
    pub fn case(&mut self, case: Case) {
        let quick = self.quick();
        if self.wanted(&case.kernel) {
            self.measure_with(case, |r, s| r.runs(r.budget_reps(quick), s));
        }
    }

    /// Measures a case whose timed phase `timed` drives (the peer suite
    /// alternates it with the peer's runs), and keeps its row.
    pub fn measure_with(
        &mut self,
        mut case: Case,
        timed: impl FnOnce(&mut Runner, &mut Samples) -> Result<()>,
    ) -> &Row {
        let dev = self.dev;
        let method = case
            .method
            .unwrap_or_else(|| default_method(dev, self.opts));
        eprint!(
            "bench: {} {} {} {} ... ",
            case.kernel, case.variant, case.shape, case.dtype
        );
        self.reset();
        let result = self.measure(&mut case, method, timed);
        self.reset();
        let mut row = self.row_of(&case, method);
        match result {
            Err(e) => {
                eprintln!("error: {e}");
                row.error = Some(e.to_string());
                row.check = CheckOutcome {
                    passed: false,
                    detail: "could not run".into(),
                    ..CheckOutcome::default()
                };
            }
            Ok((cold, timed)) => self.fill(&mut row, cold, timed),
        }
        self.rows.push(row);
        self.rows.last().expect("just pushed")
    }

    /// A row with the case's identity and work, not yet measured.
    fn row_of(&self, case: &Case, method: Method) -> Row {
        let group = case.group.clone();
        Row {
            kernel: case.kernel.clone(),
            variant: case.variant.clone(),
            shape: case.shape.clone(),
            dtype: case.dtype.to_string(),
            group: group
                .unwrap_or_else(|| format!("{} {} {}", case.kernel, case.shape, case.dtype)),
            baseline: case.baseline,
            chosen: case.chosen,
            method: method.label(self.dev).to_string(),
            sets: case.sets,
            flops: case.flops,
            bytes: case.bytes,
            tokens: case.tokens,
            note: case.note.clone(),
            ..Row::default()
        }
    }

    /// The measurements into the row, and its score.
    fn fill(&self, row: &mut Row, cold: Cold, timed: Option<Timed>) {
        row.first_ms = cold.first_ms;
        row.pipelines = cold.pipelines;
        row.peak_bytes = cold.peak_bytes;
        row.check = cold.check;
        let Some(t) = timed else {
            eprintln!("FAILED the correctness gate: {}", row.check.detail);
            return;
        };
        eprintln!("{:.3} ms", t.median_ms);
        row.method = t.method.label(self.dev).to_string();
        row.median_ms = Some(t.median_ms);
        row.min_ms = Some(t.min_ms);
        row.wall_ms = Some(t.wall_ms);
        row.compile_ms = Some((cold.first_ms - t.wall_ms).max(0.0));
        row.reps = t.reps;
        row.dispatches = t.dispatches;
        row.submits = t.submits;
        if let Some(n) = t.note {
            row.note = if row.note.is_empty() {
                n
            } else {
                format!("{}; {n}", row.note)
            };
        }
        self.score(row);
        if let Some(t) = row.tokens_per_s {
            row.note = format!("{t:.0} tokens/s; {}", row.note);
        }
    }

    /// GFLOP/s, GB/s and the fraction of the ceiling that bounds the case:
    /// memory when its intensity (flops per byte) is below the ridge point
    /// (peak FMA / copy bandwidth), compute above it.
    fn score(&self, row: &mut Row) {
        let Some(ms) = row.median_ms.filter(|&m| m > 0.0) else {
            return;
        };
        row.gflops = (row.flops > 0.0).then(|| row.flops / ms / 1e6);
        row.gbps = (row.bytes > 0.0).then(|| row.bytes / ms / 1e6);
        row.tokens_per_s = (row.tokens > 0.0).then(|| row.tokens / ms * 1e3);
        let Some(roof) = &self.roofline else { return };
        let ridge = roof.fma_gflops / roof.copy_gbps;
        let compute = row.flops > 0.0 && (row.bytes <= 0.0 || row.flops / row.bytes >= ridge);
        if compute {
            row.bound = Some("compute".into());
            row.fraction = row.gflops.map(|g| g / roof.fma_gflops);
        } else if let Some(g) = row.gbps {
            row.bound = Some("memory".into());
            row.fraction = Some(g / roof.copy_gbps);
        }
    }

    /// The cold run and its gate.
    fn cold(&self, case: &mut Case) -> Result<Cold> {
        let dev = self.dev;
        (case.setup)(dev);
        dev.reset_peak_bytes();
        let c0 = dev.counters();
        let t = Instant::now();
        let outs = (case.run)(0)?;
        realize(dev, &outs)?;
        dev.synchronize()?;
        let first_ms = t.elapsed().as_secs_f64() * 1e3;
        let c1 = dev.counters();
        let host: Vec<Vec<f32>> = outs.iter().map(read_f32).collect::<Result<_>>()?;
        drop(outs);
        let gate = std::mem::replace(&mut case.check, Box::new(|_| CheckOutcome::default()));
        Ok(Cold {
            first_ms,
            pipelines: (c1 - c0).pipelines_compiled,
            peak_bytes: c1.peak_bytes_live.saturating_sub(c0.bytes_live),
            check: gate(&host),
        })
    }

    fn measure(
        &self,
        case: &mut Case,
        method: Method,
        timed: impl FnOnce(&mut Runner, &mut Samples) -> Result<()>,
    ) -> Result<(Cold, Option<Timed>)> {
        let cold = self.cold(case)?;
        if !cold.check.passed {
            return Ok((cold, None));
        }
        let mut runner = Runner {
            dev: self.dev,
            case,
            method,
            next: 1,
            estimate_ms: f64::MAX,
        };
        // Two warm-up runs, one for cases that took seconds cold.
        runner.warm(if self.quick() || cold.first_ms > 1000.0 {
            1
        } else {
            2
        })?;
        let mut samples = Samples::default();
        timed(&mut runner, &mut samples)?;
        let timed = summarize(runner.case, method, samples);
        Ok((cold, Some(timed)))
    }

    /// The rows, with each row's speedup over its group's baseline, and the
    /// variants left out.
    pub fn finish(self) -> (Vec<Row>, Vec<String>) {
        let mut rows = self.rows;
        let bases: Vec<(String, String, f64)> = rows
            .iter()
            .filter(|r| r.baseline)
            .filter_map(|r| Some((r.group.clone(), r.method.clone(), r.median_ms?)))
            .collect();
        for r in &mut rows {
            let base = bases
                .iter()
                .find(|(g, m, _)| *g == r.group && *m == r.method);
            if let (Some(ms), Some((_, _, base))) = (r.median_ms, base) {
                r.speedup = Some(base / ms);
            }
        }
        (rows, self.skipped)
    }

    /// Frees cached plans and pooled buffers between suites.
    pub fn trim(&self) {
        self.reset();
        self.dev.trim();
    }
}

/// The gate for a case whose outputs must number `want`, run by `f` on them.
pub(crate) fn gate(
    outs: &[Vec<f32>],
    want: usize,
    f: impl FnOnce(&[Vec<f32>]) -> CheckOutcome,
) -> CheckOutcome {
    check::outputs(outs.len(), want).unwrap_or_else(|| f(outs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::check::Tol;

    #[test]
    fn a_wrong_kernel_is_flagged_and_not_timed() {
        let dev = Device::new().unwrap();
        let opts = Options {
            quick: true,
            ..Options::default()
        };
        let mut ctx = Ctx::new(&dev, &opts);
        let x: Vec<f32> = (0..100).map(|i| i as f32 - 50.0).collect();
        let t = Tensor::from_slice(&dev, &x, &[100]).unwrap();
        let reference: Vec<(f64, f64)> = x.iter().map(|&v| (3.0 * v as f64, 3.0)).collect();
        // The same run, once right (x * 3) and once a fast wrong kernel (x * 2).
        for (variant, factor) in [("right", 3.0), ("wrong", 2.0)] {
            let (t, reference) = (t.clone(), reference.clone());
            ctx.case(
                Case::new("probe", variant, "100", DType::F32)
                    .run(move |_| Ok(vec![t.mul(factor)?]))
                    .check(move |o| gate(o, 1, |o| check::all(&o[0], &reference, Tol::F32))),
            );
        }
        let (rows, _) = ctx.finish();
        assert!(
            rows[0].check.passed && rows[0].median_ms.is_some(),
            "{:?}",
            rows[0]
        );
        assert!(!rows[1].check.passed, "{:?}", rows[1]);
        assert!(rows[1].median_ms.is_none() && rows[1].gflops.is_none());
        assert!(
            rows[1].check.detail.contains("element"),
            "{}",
            rows[1].check.detail
        );
    }
}
