//! A benchmark case: one workload at one shape and variant, built by a suite
//! and measured by `measure.rs`.

use shadergrad::{DType, Device, Error, Result, Tensor};

use crate::bench::results::CheckOutcome;

/// What a timed run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `gpu-ts`: the GPU timestamps written around each dispatch of the
    /// run's one submit (inside the compute pass where the adapter has
    /// TIMESTAMP_QUERY_INSIDE_PASSES, else one pass per dispatch), summed;
    /// only the dispatches of the case's profiled ops where it names some.
    Timestamps,
    /// `wall`: record + plan lookup + submit + wait for the GPU, where the
    /// adapter has no timestamps (or CPU time is the point).
    Wall,
    /// `e2e`: record + run + the whole output read back to the CPU.
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

type SetupFn<'a> = Box<dyn Fn(&Device) + 'a>;
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
    /// Tokens one run processes (a model's step or decode); 0: not a model.
    pub tokens: f64,
    pub sets: usize,
    pub method: Option<Method>,
    /// The ops (`KernelTime::op`) whose dispatches the timestamp timer sums;
    /// None: every dispatch of the run.
    pub profile: Option<&'static [&'static str]>,
    pub note: String,
    pub(crate) setup: SetupFn<'a>,
    pub(crate) run: RunFn<'a>,
    pub(crate) check: CheckFn<'a>,
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
            tokens: 0.0,
            sets: 1,
            method: None,
            profile: None,
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

    /// Tokens of one run: the row reports tokens/s beside GFLOP/s.
    pub fn tokens(mut self, n: usize) -> Self {
        self.tokens = n as f64;
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

    /// Time only the dispatches of these ops: a gradient kernel is measured
    /// inside the forward + backward step a user runs, the rest of the step
    /// (its forward, the seed, the copies) left out of the timestamps sum.
    pub fn profile(mut self, ops: &'static [&'static str]) -> Self {
        self.profile = Some(ops);
        self
    }

    pub fn note(mut self, s: impl Into<String>) -> Self {
        self.note = s.into();
        self
    }

    /// Device settings the case needs (a variant through `set_tuning`),
    /// applied before every run; every case starts from the default tuning.
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
