//! Hand-written kernels. Each is one type implementing [`Kernel`], in one file
//! beside its shader (`shaders/<name>.wgsl`): its name and specialisation key,
//! its runtime scalars, its output shape and record-time checks, its launch
//! (from shapes, dtypes and plan options alone) and its backward, recorded as
//! ops. The planner, fuser and autodiff know no kernel by name.
//!
//! A kernel only *describes* its dispatches (a `Launch`); the executor alone
//! builds pipelines, bind groups and encoders, for all of them. The primitives
//! the planner itself launches (matmul, gather, scatter-add, the optimizer
//! updates) describe theirs the same way.

pub(crate) mod attention;
pub(crate) mod batchnorm;
pub(crate) mod cell;
pub(crate) mod conv2d;
pub(crate) mod cross_entropy;
pub(crate) mod cumsum;
pub(crate) mod gather;
pub(crate) mod grid_sample;
pub(crate) mod layernorm;
pub(crate) mod matmul;
pub(crate) mod optim;
pub(crate) mod pool2d;
pub(crate) mod softmax;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::dtype::DType;
use crate::error::Result;
use crate::pipeline::KernelSource;
use crate::tensor::Tensor;
use crate::tuning::PlanOptions;

/// Every WGSL file, by name, for validation and for the benchmark suite.
pub const SHADERS: &[(&str, &str)] = &[
    ("math", include_str!("../../shaders/math.wgsl")),
    (
        "elementwise",
        include_str!("../../shaders/elementwise.wgsl"),
    ),
    ("reduce", include_str!("../../shaders/reduce.wgsl")),
    ("gemm", include_str!("../../shaders/gemm.wgsl")),
    ("matmul", include_str!("../../shaders/matmul.wgsl")),
    ("softmax", include_str!("../../shaders/softmax.wgsl")),
    ("gather", include_str!("../../shaders/gather.wgsl")),
    (
        "cross_entropy",
        include_str!("../../shaders/cross_entropy.wgsl"),
    ),
    ("optim", include_str!("../../shaders/optim.wgsl")),
    ("conv2d", include_str!("../../shaders/conv2d.wgsl")),
    ("pool2d", include_str!("../../shaders/pool2d.wgsl")),
    ("batchnorm", include_str!("../../shaders/batchnorm.wgsl")),
    (
        "grid_sample",
        include_str!("../../shaders/grid_sample.wgsl"),
    ),
    ("attention", include_str!("../../shaders/attention.wgsl")),
    ("layernorm", include_str!("../../shaders/layernorm.wgsl")),
    ("cumsum", include_str!("../../shaders/cumsum.wgsl")),
    ("buckets", include_str!("../../shaders/buckets.wgsl")),
    ("cell", include_str!("../../shaders/cell.wgsl")),
];

/// Files other shaders paste in (`// #include NAME`), never compiled alone.
pub const INCLUDED: &[&str] = &["gemm", "buckets"];

fn raw(name: &str) -> &'static str {
    SHADERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .expect("every shader is listed in SHADERS")
}

/// The WGSL of `shaders/<name>.wgsl` as it is compiled: each `// #include X`
/// line replaced by `shaders/X.wgsl`.
pub fn shader_source(name: &str) -> &'static str {
    static EXPANDED: OnceLock<HashMap<&'static str, String>> = OnceLock::new();
    let all = EXPANDED.get_or_init(|| {
        let expand = |src: &str| {
            let mut out = String::with_capacity(src.len());
            for line in src.lines() {
                match line.trim().strip_prefix("// #include ") {
                    Some(inc) => out.push_str(raw(inc.trim())),
                    None => out.push_str(line),
                }
                out.push('\n');
            }
            out
        };
        SHADERS.iter().map(|&(n, s)| (n, expand(s))).collect()
    });
    all.get(name).expect("every shader is listed in SHADERS")
}

pub(crate) fn shader(name: &str) -> &'static str {
    shader_source(name)
}

/// Bits of the device status word; each names the op that met a bad index.
pub(crate) const STATUS_GATHER: u32 = 1;
pub(crate) const STATUS_CLASS_INDEX: u32 = 2;

/// A tensor as a kernel's launch sees it: shape and dtype, no data.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Desc<'a> {
    pub shape: &'a [usize],
    pub dtype: DType,
}

impl<'a> Desc<'a> {
    pub fn of(t: &'a Tensor) -> Desc<'a> {
        Desc {
            shape: t.shape(),
            dtype: t.dtype(),
        }
    }

    pub fn numel(&self) -> usize {
        crate::shape::numel(self.shape)
    }
}

/// What a kernel's launch is given: its output, its inputs (contiguous
/// buffers, in the order recorded) and the options the plan is built for.
pub(crate) struct Call<'a> {
    pub out: Desc<'a>,
    pub inputs: Vec<Desc<'a>>,
    pub opts: &'a PlanOptions,
}

/// A hand-written kernel: everything the engine needs to record, plan, launch
/// and differentiate it. Every method is required, so a kernel that leaves
/// one out does not compile.
pub(crate) trait Kernel: Send + Sync + 'static {
    /// The op's name, as errors, profiles and benchmark rows show it
    /// (`conv2d.grad_input`).
    fn name(&self) -> &'static str;
    /// What makes two nodes of this kernel different programs beyond their
    /// shapes and dtypes (it joins the plan key).
    fn key(&self, key: &mut Vec<u64>);
    /// Runtime scalars as 32-bit words: uploaded on every run, not part of the
    /// key, so a value that changes every step replays the same plan.
    fn scalars(&self) -> Vec<u32>;
    /// The output's shape and dtype for inputs of these shapes and dtypes, or
    /// the typed error that refuses them: checked when the op is recorded.
    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)>;
    /// The dispatches that compute the output. Which form runs (subgroup lanes,
    /// rows, tiles; how a reduction is split) is decided here, from the
    /// options, never when the op is recorded.
    fn launch(&self, call: &Call) -> Result<Vec<Launch>>;
    /// The gradient of each input given the output's, recorded as ops (None
    /// where an input has none).
    fn backward(
        &self,
        inputs: &[Tensor],
        out: &Tensor,
        grad: &Tensor,
    ) -> Result<Vec<Option<Tensor>>>;
}

/// Fails unless `t` is f32 of rank `rank`, naming `op`.
pub(crate) fn require_f32_rank(op: &'static str, t: &Desc, rank: usize) -> Result<()> {
    if t.dtype != DType::F32 {
        return Err(crate::error::Error::UnsupportedDType {
            op,
            dtype: t.dtype,
            reason: "f32 only",
        });
    }
    if t.shape.len() != rank {
        return Err(crate::error::Error::InvalidArgument {
            op,
            shape: t.shape.to_vec(),
            msg: format!("needs rank {rank}"),
        });
    }
    Ok(())
}

/// The error a gradient kernel gives when asked for its own gradient.
pub(crate) fn no_second_order(name: &'static str, out: &Tensor) -> crate::error::Error {
    crate::error::Error::InvalidArgument {
        op: "backward",
        shape: out.shape().to_vec(),
        msg: format!("gradients of {name} (itself a gradient) are not supported"),
    }
}

/// What one binding of a launch refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    /// The node's output buffer.
    Out,
    /// The buffer of input `i` (for a kernel, the i-th input it was recorded with).
    In(usize),
    /// Scratch buffer `i` of this node, of at least `bytes`: it lives from the
    /// node's first dispatch to its last (partial sums, row statistics).
    Scratch(usize, u64),
    /// This launch's `meta` words, as a uniform.
    Meta,
    /// This launch's runtime scalars, as a uniform.
    Scalars,
    /// The device's status word (bad-index flags).
    Status,
}

/// A kernel launch as a kernel describes it.
pub(crate) struct Launch {
    pub src: KernelSource,
    pub args: Vec<Arg>,
    pub meta: Vec<u32>,
    /// Scalar words, in the order the kernel reads them: for a kernel, indices
    /// into its own `scalars()`.
    pub scalars: Vec<usize>,
    /// Sizes the shader takes as `override` constants that read 0 as "from
    /// the launch's meta words instead": the planner bakes them in for a
    /// kernel structure's first shapes and passes 0 after, so one pipeline
    /// serves every shape (see plan/specialize.rs).
    pub shapes: Vec<(&'static str, u32)>,
    pub workgroups: [u32; 3],
}

impl Launch {
    /// A launch of `src` binding `args`, with no uniforms yet.
    pub fn new(src: KernelSource, args: Vec<Arg>, workgroups: [u32; 3]) -> Launch {
        Launch {
            src,
            args,
            meta: Vec::new(),
            scalars: Vec::new(),
            shapes: Vec::new(),
            workgroups,
        }
    }

    pub fn meta(mut self, words: Vec<u32>) -> Launch {
        self.meta = words;
        self
    }

    pub fn scalars(mut self, words: Vec<usize>) -> Launch {
        self.scalars = words;
        self
    }

    pub fn shape_overrides(mut self, shapes: &[(&'static str, usize)]) -> Launch {
        self.shapes = shapes.iter().map(|&(n, v)| (n, v as u32)).collect();
        self
    }
}

/// The one-dimensional workgroup count `grid` lays out, over 65535 workgroups
/// per dimension refused with a typed error naming the kernel.
pub(crate) fn dispatch_limit(
    op: &'static str,
    shape: &[usize],
    groups: [usize; 3],
) -> Result<[u32; 3]> {
    if groups.iter().any(|&g| g > 65535) {
        return Err(crate::error::Error::InvalidArgument {
            op,
            shape: shape.to_vec(),
            msg: format!("{groups:?} workgroups: over 65535 along one dispatch dimension"),
        });
    }
    Ok(groups.map(|g| g.max(1) as u32))
}

/// Lays `groups` workgroups out in 2-D (x up to 65535), as every 1-D kernel
/// here expects: it recombines wid.x + wid.y * num_workgroups.x.
pub(crate) fn grid(groups: u64) -> [u32; 3] {
    let x = groups.clamp(1, 65535);
    [x as u32, groups.div_ceil(x).max(1) as u32, 1]
}

/// A hand-written kernel's source with its element-type prelude: the one line
/// that specialises it for f32 or f16 storage.
pub(crate) fn with_prelude(src: &str, elem: DType) -> Arc<str> {
    let prelude = match elem {
        DType::F16 => "enable f16;\nalias elem = f16;\n",
        DType::F32 => "alias elem = f32;\n",
        DType::I32 => "alias elem = i32;\n",
        DType::U32 | DType::Bool => "alias elem = u32;\n",
    };
    format!("{prelude}{src}").into()
}

/// A template kernel (elementwise, reduce) with its generated part filled in.
pub(crate) fn fill_template(template: &str, generated: &str, f16: bool) -> Arc<str> {
    let mut s = String::new();
    if f16 {
        s.push_str("enable f16;\n");
    }
    s.push_str(shader("math"));
    s.push_str(&template.replace("//@generated", generated));
    s.into()
}

/// `src` without its `// #if subgroups` ... `// #endif` sections: the entry
/// points that use subgroup builtins. A module is validated whole, so on a
/// device without SUBGROUP those entry points must not be in it at all.
pub fn without_subgroups(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut skip = false;
    for line in src.lines() {
        match line.trim() {
            "// #if subgroups" => skip = true,
            "// #endif" => skip = false,
            _ if !skip => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// Elements per invocation for a one-element-per-invocation kernel of `wg`
/// invocations per workgroup: 1 on a GPU; on a CPU adapter, enough for one
/// workgroup when the tensor is small, else as many (up to 32, a power of
/// two) as leave 64 workgroups. Each workgroup there is a task of its own,
/// and with one element per invocation most of the time goes to starting
/// workgroups (2-3x slower on lavapipe).
pub(crate) fn per_invocation(numel: usize, wg: u32, cpu: bool) -> u32 {
    if !cpu {
        return 1;
    }
    let wg = wg as usize;
    // Small: one workgroup does it all (its start costs more than the work).
    if numel <= wg * 32 {
        return numel.div_ceil(wg).max(1).next_power_of_two() as u32;
    }
    let spare = numel / (wg * 64);
    if spare < 2 {
        return 1;
    }
    1 << spare.ilog2().min(5)
}

/// A subgroup-per-row kernel (`LANES` invocations, `RPW` rows each) over
/// `rows` rows: its specialisation and workgroup count. Up to 8 rows per
/// workgroup while that leaves 64 workgroups.
pub(crate) fn subgroup_rows(src: KernelSource, rows: usize, lanes: u32) -> (KernelSource, u64) {
    let rpw = (rows / 64).clamp(1, 8);
    (
        src.with("LANES", lanes as f64).with("RPW", rpw as f64),
        rows.div_ceil(rpw) as u64,
    )
}

/// Parses and validates WGSL with naga, returning naga's message on failure.
pub fn validate_wgsl(src: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| e.emit_to_string(src))?;
    Ok(())
}

/// Validates WGSL as a device without subgroups would: with naga's every
/// capability but the subgroup ones.
pub fn validate_wgsl_without_subgroups(src: &str) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    let caps = naga::valid::Capabilities::all()
        - naga::valid::Capabilities::SUBGROUP
        - naga::valid::Capabilities::SUBGROUP_BARRIER
        - naga::valid::Capabilities::SUBGROUP_VERTEX_STAGE;
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| e.emit_to_string(src))?;
    Ok(())
}
