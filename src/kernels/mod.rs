//! The Rust side of each kernel: which shader, which bindings, what metadata,
//! how many workgroups. A kernel only *describes* its launch (a `Launch`); the
//! executor alone builds pipelines, bind groups and encoders, for all of them.

pub(crate) mod attention;
pub(crate) mod batchnorm;
pub(crate) mod conv2d;
pub(crate) mod cross_entropy;
pub(crate) mod elementwise;
pub(crate) mod expr;
pub(crate) mod gather;
pub(crate) mod grid_sample;
pub(crate) mod layernorm;
pub(crate) mod matmul;
pub(crate) mod optim;
pub(crate) mod pool2d;
pub(crate) mod reduce;
pub(crate) mod softmax;

use std::sync::Arc;

use crate::dtype::DType;
use crate::pipeline::KernelSource;
use crate::shape::View;

/// Every WGSL file, by name, for validation and for the benchmark suite.
pub const SHADERS: &[(&str, &str)] = &[
    ("math", include_str!("../../shaders/math.wgsl")),
    (
        "elementwise",
        include_str!("../../shaders/elementwise.wgsl"),
    ),
    ("reduce", include_str!("../../shaders/reduce.wgsl")),
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
];

pub(crate) fn shader(name: &str) -> &'static str {
    SHADERS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .expect("every shader is listed in SHADERS")
}

/// What one binding of a launch refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    /// The buffer of a materialized graph node (the first is the output).
    Node(usize),
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
    /// Graph scalar words, in the order the kernel reads them.
    pub scalars: Vec<usize>,
    pub workgroups: [u32; 3],
}

/// A materialized node read through a strided view (a hand-written kernel's input).
#[derive(Clone, Debug)]
pub(crate) struct Operand {
    pub node: usize,
    pub view: View,
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
