//! Tuning: the plain settings a device runs its graphs with (which kernel
//! versions, fusion, poisoned outputs, subgroup kernels, plan replay), and the
//! `PlanOptions` a plan is built for: the tuning together with the device
//! facts kernels choose their form from. Kernels see only `PlanOptions`,
//! never the device.

/// A matmul version (see shaders/matmul.wgsl).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatmulVariant {
    Naive,
    Register,
    Tiled,
    /// One subgroup per workgroup; needs subgroups of a fixed size.
    Lanes,
}

impl MatmulVariant {
    pub fn name(self) -> &'static str {
        match self {
            MatmulVariant::Naive => "naive",
            MatmulVariant::Register => "register",
            MatmulVariant::Tiled => "tiled",
            MatmulVariant::Lanes => "lanes",
        }
    }

    /// The version named `s` (as `SHADERGRAD_MATMUL` takes it).
    pub fn parse(s: &str) -> Option<MatmulVariant> {
        [
            MatmulVariant::Naive,
            MatmulVariant::Register,
            MatmulVariant::Tiled,
            MatmulVariant::Lanes,
        ]
        .into_iter()
        .find(|v| v.name() == s)
    }
}

/// A convolution version for GEMM-shaped convolutions (depthwise ones always
/// take the direct kernel); see shaders/conv2d.wgsl.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConvVariant {
    /// Implicit GEMM, one subgroup per workgroup (software adapters).
    Lanes,
    /// Implicit GEMM through workgroup memory (GPUs).
    Tiled,
    /// One invocation per output: the naive baseline.
    Direct,
}

impl ConvVariant {
    pub fn name(self) -> &'static str {
        match self {
            ConvVariant::Lanes => "lanes",
            ConvVariant::Tiled => "tiled",
            ConvVariant::Direct => "direct",
        }
    }
}

/// How a device runs its graphs. Plain data: read it with `Device::tuning`,
/// change a copy and hand it back with `Device::set_tuning` (the benchmark
/// suite and the tests do; a model has no reason to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuning {
    /// Force a matmul version (None: the adapter's choice).
    pub matmul: Option<MatmulVariant>,
    /// Force a convolution version (None: the adapter's choice).
    pub conv: Option<ConvVariant>,
    /// Fuse elementwise chains (off: every op its own kernel, the benchmark's
    /// unfused baseline).
    pub fusion: bool,
    /// Fill every buffer a kernel writes with NaN first and share no
    /// intermediate buffer, so a test sees any element a kernel forgot.
    pub poison: bool,
    /// Use the subgroup kernels (the lanes forms) where the adapter has them.
    pub subgroups: bool,
    /// Replay cached plans (off: every realize plans from scratch).
    pub plan_cache: bool,
    /// Shapes each generated kernel (fused elementwise, reduction) is compiled
    /// for with its sizes as constants, before it reads them from a uniform
    /// and compiles nothing more for new shapes (0: always from a uniform).
    pub shape_constants: usize,
    /// Force the recurrent modules' cells onto their one-dispatch kernels
    /// (true) or the composed form (false); None: the measured choice
    /// (src/nn/recurrent/cell.rs).
    pub cells: Option<bool>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            matmul: None,
            conv: None,
            fusion: true,
            poison: false,
            subgroups: true,
            plan_cache: true,
            shape_constants: 4,
            cells: None,
        }
    }
}

/// Everything a plan bakes in: the tuning and the device facts kernels pick
/// their form from. Part of the plan cache key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PlanOptions {
    pub tuning: Tuning,
    /// A CPU (software) adapter: every workgroup costs a task switch there, and
    /// barriers are slow.
    pub cpu: bool,
    /// The fixed subgroup width the lanes kernels are specialised for, or 0
    /// where they cannot run (no subgroups, a variable width, or tuned off).
    pub lanes: u32,
    /// The adapter's `max_storage_buffers_per_shader_stage`.
    pub storage_buffers: u32,
    /// Deterministic mode (`Device::set_deterministic`): the forms that add
    /// floats in a fixed order where the default adds them in arbitrary order.
    pub deterministic: bool,
}
