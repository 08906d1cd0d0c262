//! How a case is measured.
//!
//! 1. Cold run on input set 0, timed by the wall clock: pipeline compiles and
//!    planning happen here, and are reported apart (`first_ms`, the pipelines
//!    compiled, and the estimate cold minus warm).
//! 2. The correctness gate on that run's output (check.rs). A case that fails
//!    is flagged and not timed.
//! 3. Warm-up runs, then timed runs, each on the next input set (so a run
//!    never repeats the previous run's input), as many as fit a time budget
//!    (at least 5, 3 for slow cases or `--quick`). Median and minimum reported.
//!
//! What a timed run measures, by [`Method`]:
//! - `gpu-ts`: the GPU timestamps written around each dispatch of the run's
//!   one submit (inside the compute pass where the adapter has
//!   TIMESTAMP_QUERY_INSIDE_PASSES, else one pass per dispatch), summed. The
//!   wall clock of the same runs (record to GPU idle) is reported beside it.
//! - `wall`: record + plan lookup + submit + wait for the GPU, where the
//!   adapter has no timestamps (labelled as such).
//! - `e2e`: record + run + the whole output read back to the CPU, as the burn
//!   comparison was timed (`--end-to-end` uses it for every case).

use std::time::Instant;

use crate::bench::check;
use crate::bench::{CheckOutcome, Options, Roofline, Row};
use shadergrad::Device;
use shadergrad::DType;
use shadergrad::{Error, Result};
use shadergrad::Tensor;

/// What a timed run measures; see the module comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Timestamps,
    Wall,
    EndToEnd,
}

impl Method {
    pub fn label(self, dev: &Device) -> &'static str {
        match self {
            Method::Timestamps if dev.caps().timestamps_in_passes => "gpu-ts",
            Method::Timestamps => "gpu-ts/pass",
            Method::Wall => "wall",
            Method::EndToEnd => "e2e",
        }
    }
}

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

type RunFn<'a> = Box<dyn FnMut(usize) -> Result<Vec<Tensor>> + 'a>;
type CheckFn<'a> = Box<dyn FnOnce(&[Vec<f32>]) -> CheckOutcome + 'a>;

/// One workload at one shape and variant.
///
/// `run(i)` records the work on input set `i` and returns the tensors it
/// produces (lazy); an empty list means the work is the device's pending
/// updates (an optimizer step). `check` gets run 0's outputs as f32.
pub(crate) struct Case<'a> {
    pub kernel: String,
    pub variant: String,
    pub shape: String,
    pub dtype: DType,
    pub group: Option<String>,
    pub baseline: bool,
    pub chosen: bool,
    pub flops: f64,
    pub bytes: f64,
    pub sets: usize,
    pub method: Option<Method>,
    pub peer: Option<(String, f64)>,
    pub note: String,
    setup: Box<dyn Fn(&Device) + 'a>,
    run: RunFn<'a>,
    check: CheckFn<'a>,
}

impl<'a> Case<'a> {
    pub fn new(
        kernel: &str,
        variant: impl Into<String>,
        shape: impl Into<String>,
        dtype: DType,
    ) -> Case<'a> {
        Case {
            kernel: kernel.to_string(),
            variant: variant.into(),
            shape: shape.into(),
            dtype,
            group: None,
            baseline: false,
            chosen: false,
            flops: 0.0,
            bytes: 0.0,
            sets: 1,
            method: None,
            peer: None,
            note: String::new(),
            setup: Box::new(|_| {}),
            run: Box::new(|_| Err(Error::Gpu("benchmark case without a run function".into()))),
            check: Box::new(|_| CheckOutcome {
                detail: "no reference".into(),
                ..CheckOutcome::default()
            }),
        }
    }

    /// Floating-point operations and bytes (each input read once, each output
    /// written once) of one run.
    pub fn work(mut self, flops: f64, bytes: f64) -> Self {
        self.flops = flops;
        self.bytes = bytes;
        self
    }

    /// Rows of one group compare against the group's baseline (default group:
    /// kernel, shape and dtype).
    pub fn group(mut self, g: impl Into<String>) -> Self {
        self.group = Some(g.into());
        self
    }

    pub fn baseline(mut self, on: bool) -> Self {
        self.baseline = on;
        self
    }

    pub fn chosen(mut self, on: bool) -> Self {
        self.chosen = on;
        self
    }

    pub fn sets(mut self, n: usize) -> Self {
        self.sets = n;
        self
    }

    pub fn method(mut self, m: Method) -> Self {
        self.method = Some(m);
        self
    }

    /// A peer's time for this workload (timed the same way).
    pub fn peer(mut self, who: &str, ms: f64) -> Self {
        self.peer = Some((who.to_string(), ms));
        self
    }

    pub fn note(mut self, s: impl Into<String>) -> Self {
        self.note = s.into();
        self
    }

    /// Device settings the case needs (a variant, fusion off), applied before
    /// every run and undone after the case.
    pub fn setup(mut self, f: impl Fn(&Device) + 'a) -> Self {
        self.setup = Box::new(f);
        self
    }

    pub fn run(mut self, f: impl FnMut(usize) -> Result<Vec<Tensor>> + 'a) -> Self {
        self.run = Box::new(f);
        self
    }

    pub fn check(mut self, f: impl FnOnce(&[Vec<f32>]) -> CheckOutcome + 'a) -> Self {
        self.check = Box::new(f);
        self
    }
}

/// The suite's state: the device, the options, the rows so far.
pub(crate) struct Ctx<'d> {
    pub dev: &'d Device,
    pub opts: &'d Options,
    pub roofline: Option<Roofline>,
    rows: Vec<Row>,
    filters: Vec<String>,
    /// Variants left out to keep the run short, and where.
    pub skipped: Vec<String>,
}

fn median(v: &mut [f64]) -> f64 {
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

/// Puts the device back as the engine would run by default.
fn reset(dev: &Device) {
    dev.set_matmul_variant(None);
    dev.set_conv_variant(None);
    dev.set_subgroup_kernels(true);
    dev.set_fusion(true);
    dev.set_plan_cache(true);
    dev.set_profiling(false);
    drop(dev.take_pending());
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
            .to_vec::<half::f16>()?
            .into_iter()
            .map(|x| x.to_f32())
            .collect(),
        DType::I32 => t.to_vec::<i32>()?.into_iter().map(|x| x as f32).collect(),
        DType::U32 | DType::Bool => t.to_vec::<u32>()?.into_iter().map(|x| x as f32).collect(),
    })
}

/// Reads every output back in its own element type: one readback (several
/// outputs of one type are concatenated on the GPU first, in the same submit).
fn read_all(dev: &Device, outs: &[Tensor]) -> Result<usize> {
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
        DType::F16 => std::hint::black_box(t.to_vec::<half::f16>()?).len(),
        DType::I32 => std::hint::black_box(t.to_vec::<i32>()?).len(),
        DType::U32 | DType::Bool => std::hint::black_box(t.to_vec::<u32>()?).len(),
    })
}

/// What one case measured.
struct Measured {
    first_ms: f64,
    pipelines: u64,
    peak_bytes: u64,
    check: CheckOutcome,
    timed: Option<Timed>,
}

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

    fn wanted(&self, kernel: &str) -> bool {
        let k = kernel.to_lowercase();
        self.filters.is_empty() || self.filters.iter().any(|f| k.contains(f.as_str()))
    }

    /// Measures a case (unless the filter excludes it) and keeps its row.
    pub fn case(&mut self, mut case: Case) {
        if !self.wanted(&case.kernel) {
            return;
        }
        let dev = self.dev;
        let method = case
            .method
            .unwrap_or_else(|| default_method(dev, self.opts));
        eprint!(
            "bench: {} {} {} {} ... ",
            case.kernel, case.variant, case.shape, case.dtype
        );
        reset(dev);
        let result = self.measure(&mut case, method);
        reset(dev);
        let mut row = Row {
            kernel: case.kernel.clone(),
            variant: case.variant.clone(),
            shape: case.shape.clone(),
            dtype: case.dtype.to_string(),
            group: case
                .group
                .clone()
                .unwrap_or_else(|| format!("{} {} {}", case.kernel, case.shape, case.dtype)),
            baseline: case.baseline,
            chosen: case.chosen,
            method: method.label(dev).to_string(),
            sets: case.sets,
            flops: case.flops,
            bytes: case.bytes,
            peer: case.peer.clone(),
            note: case.note.clone(),
            ..Row::default()
        };
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
            Ok(m) => {
                row.first_ms = m.first_ms;
                row.pipelines = m.pipelines;
                row.peak_bytes = m.peak_bytes;
                row.check = m.check;
                match m.timed {
                    None => eprintln!("FAILED the correctness gate: {}", row.check.detail),
                    Some(t) => {
                        eprintln!("{:.3} ms", t.median_ms);
                        row.method = t.method.label(dev).to_string();
                        row.median_ms = Some(t.median_ms);
                        row.min_ms = Some(t.min_ms);
                        row.wall_ms = Some(t.wall_ms);
                        row.compile_ms = Some((m.first_ms - t.wall_ms).max(0.0));
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
                        self.score(&mut row);
                    }
                }
            }
        }
        self.rows.push(row);
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

    fn measure(&mut self, case: &mut Case, method: Method) -> Result<Measured> {
        let dev = self.dev;
        let quick = self.opts.quick;
        (case.setup)(dev);
        // 1. Cold.
        dev.reset_peak_bytes();
        let c0 = dev.counters();
        let t = Instant::now();
        let outs = (case.run)(0)?;
        realize(dev, &outs)?;
        dev.synchronize()?;
        let first_ms = t.elapsed().as_secs_f64() * 1e3;
        let c1 = dev.counters();
        let pipelines = (c1 - c0).pipelines_compiled;
        let peak_bytes = c1.peak_bytes_live.saturating_sub(c0.bytes_live);
        // 2. The gate, on what the cold run produced.
        let host: Vec<Vec<f32>> = outs.iter().map(read_f32).collect::<Result<_>>()?;
        drop(outs);
        let check =
            std::mem::replace(&mut case.check, Box::new(|_| CheckOutcome::default()))(&host);
        drop(host);
        if !check.passed {
            return Ok(Measured {
                first_ms,
                pipelines,
                peak_bytes,
                check,
                timed: None,
            });
        }
        // 3. Warm-up, then timed runs.
        let mut i = 1;
        let step = |case: &mut Case, i: usize, profile: bool| -> Result<(f64, f64)> {
            (case.setup)(dev);
            dev.set_profiling(profile);
            let d0 = dev.counters().dispatches;
            let t = Instant::now();
            let outs = (case.run)(i)?;
            match method {
                Method::EndToEnd => {
                    read_all(dev, &outs)?;
                }
                _ => {
                    realize(dev, &outs)?;
                    dev.synchronize()?;
                }
            }
            let wall = t.elapsed().as_secs_f64() * 1e3;
            let gpu = if profile && dev.counters().dispatches > d0 {
                dev.last_profile().iter().map(|k| k.ms).sum()
            } else {
                f64::NAN
            };
            Ok((wall, gpu))
        };
        let profile = method == Method::Timestamps;
        // Warm-up: two runs, one for cases that took seconds cold.
        let mut est = f64::MAX;
        for _ in 0..if quick || first_ms > 1000.0 { 1 } else { 2 } {
            est = step(case, i, profile)?.0;
            i += 1;
        }
        let (budget_ms, min_reps, max_reps) = if quick {
            (150.0, 3, 10)
        } else if est > 400.0 {
            (1000.0, 3, 30)
        } else {
            (1000.0, 5, 30)
        };
        let reps = ((budget_ms / est.max(1e-3)) as usize).clamp(min_reps, max_reps);
        let c0 = dev.counters();
        let mut walls = Vec::with_capacity(reps);
        let mut gpus = Vec::with_capacity(reps);
        for _ in 0..reps {
            let (w, g) = step(case, i, profile)?;
            walls.push(w);
            gpus.push(g);
            i += 1;
        }
        let d = dev.counters() - c0;
        let submits = d.submits as f64 / reps as f64;
        let mut note = None;
        // Timestamps cover one submit; a case that needs several (or ran no
        // dispatch) is timed by the wall clock instead, and says so.
        let (method, mut primary) =
            if profile && submits <= 1.0 && gpus.iter().all(|g| g.is_finite()) {
                (Method::Timestamps, gpus)
            } else if profile {
                note = Some(format!(
                    "{submits:.1} submits per run: timed by the wall clock, not timestamps"
                ));
                (Method::Wall, walls.clone())
            } else {
                (method, walls.clone())
            };
        let min_ms = primary.iter().copied().fold(f64::INFINITY, f64::min);
        let median_ms = median(&mut primary);
        let wall_ms = median(&mut walls);
        Ok(Measured {
            first_ms,
            pipelines,
            peak_bytes,
            check,
            timed: Some(Timed {
                method,
                median_ms,
                min_ms,
                wall_ms,
                reps,
                dispatches: d.dispatches as f64 / reps as f64,
                submits,
                note,
            }),
        })
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
            if let (Some(ms), Some((_, _, base))) = (
                r.median_ms,
                bases
                    .iter()
                    .find(|(g, m, _)| *g == r.group && *m == r.method),
            ) {
                r.speedup = Some(base / ms);
            }
        }
        (rows, self.skipped)
    }

    /// Frees cached plans and pooled buffers between suites.
    pub fn trim(&self) {
        reset(self.dev);
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
