//! Errors are values: each names what went wrong, the op, and the shapes involved.

use crate::dtype::DType;

/// Everything that can go wrong in shadergrad, as a value the caller can match on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no GPU adapter found ({detail}). On Linux without a GPU, install Mesa's lavapipe \
         (software Vulkan): `apt-get install mesa-vulkan-drivers` on Debian/Ubuntu, \
         `dnf install mesa-vulkan-drivers` on Fedora; scripts/install-lavapipe.sh does it on Debian"
    )]
    NoAdapter { detail: String },

    #[error("WGPU_ADAPTER_NAME={wanted:?} matches no adapter; found: {available:?}")]
    AdapterNotFound {
        wanted: String,
        available: Vec<String>,
    },

    #[error("no adapter on the backends WGPU_BACKEND={value:?} allows; it left out: {excluded:?}")]
    AdapterFiltered {
        value: String,
        excluded: Vec<String>,
    },

    #[error("{var}={value:?} is not a value it takes; accepted: {accepted}")]
    BadEnv {
        var: &'static str,
        value: String,
        accepted: &'static str,
    },

    #[error("the adapter refused a device: {0}")]
    RequestDevice(String),

    #[error("{op}: shapes {lhs:?} and {rhs:?} are incompatible{detail}")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
        detail: String,
    },

    #[error("{op}: dtypes {lhs} and {rhs} differ; cast one with .cast()")]
    DTypeMismatch {
        op: &'static str,
        lhs: DType,
        rhs: DType,
    },

    #[error("{op}: dtype {dtype} is not supported ({reason})")]
    UnsupportedDType {
        op: &'static str,
        dtype: DType,
        reason: &'static str,
    },

    #[error("{op}: tensors live on two different devices")]
    DeviceMismatch { op: &'static str },

    #[error(
        "{op}: shape {shape:?} needs {bytes} bytes, over the adapter's {limit_name} of {limit} bytes"
    )]
    TooLarge {
        op: &'static str,
        shape: Vec<usize>,
        bytes: u64,
        limit_name: &'static str,
        limit: u64,
    },

    #[error("{op}: shape {shape:?} has more than {limit} elements, {reason}")]
    TooManyElements {
        op: &'static str,
        shape: Vec<usize>,
        limit: u64,
        reason: &'static str,
    },

    #[error("{kernel}: needs {need} of {limit}, over this device's {have}")]
    LimitExceeded {
        kernel: String,
        limit: &'static str,
        need: u64,
        have: u64,
    },

    #[error("{op}: axis {axis} is out of range for a tensor of rank {rank}")]
    InvalidAxis {
        op: &'static str,
        axis: isize,
        rank: usize,
    },

    #[error("{op}: {msg} (shape {shape:?})")]
    InvalidArgument {
        op: &'static str,
        shape: Vec<usize>,
        msg: String,
    },

    #[error("{op}: {len} elements given for shape {shape:?}, which holds {expected}")]
    ElementCount {
        op: &'static str,
        shape: Vec<usize>,
        len: usize,
        expected: usize,
    },

    #[error(
        "{op}: element {index} (of shape {shape:?}) is {value}, outside the range of {dtype}, \
         the dtype it is stored as"
    )]
    ValueOutOfRange {
        op: &'static str,
        shape: Vec<usize>,
        index: usize,
        value: String,
        dtype: DType,
    },

    #[error("{op}: reducing over an empty axis of shape {shape:?} has no identity")]
    EmptyReduction { op: &'static str, shape: Vec<usize> },

    #[error("{op}: needs the adapter feature {feature}, which this device lacks{why}")]
    MissingFeature {
        op: &'static str,
        feature: &'static str,
        why: &'static str,
    },

    #[error(
        "{op}: an index was out of range on the GPU (detected when a value computed from it was \
         read back); every read of such a value is this error, and the optimizer updates of \
         that realize were not applied"
    )]
    IndexOutOfRange { op: &'static str },

    #[error(
        "{module}: token id {id} (element {index} of ids of shape {ids:?}) is outside the \
         table of shape {table:?}"
    )]
    TokenOutOfRange {
        module: &'static str,
        ids: Vec<usize>,
        table: Vec<usize>,
        index: usize,
        id: i64,
    },

    #[error("{op}: buffer {msg}")]
    HostBuffer { op: &'static str, msg: String },

    #[error("shader {kernel} failed to compile: {message}")]
    ShaderCompile { kernel: String, message: String },

    #[error("{kernel}: the GPU reported {cause}: {message}")]
    GpuFailure {
        /// The kernel (`softmax::softmax_lanes`) or, where wgpu's report
        /// names none, the kernels of the submit that failed.
        kernel: String,
        cause: GpuCause,
        message: String,
    },

    #[error("load_state_dict: {0}")]
    StateDict(StateDictFault),

    #[error("GPU error: {0}")]
    Gpu(String),

    #[error("{file}: {msg} (at {at})")]
    Data {
        file: String,
        /// Where in the file: a line, a byte offset, or "open".
        at: String,
        msg: String,
    },
}

/// Everything a state dict did not match, as PyTorch's `load_state_dict`
/// lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDictFault {
    /// The model's keys the state lacks.
    pub missing: Vec<String>,
    /// The state's keys the model lacks.
    pub unexpected: Vec<String>,
    /// "name: given dtype and shape, expected ..." per key whose tensor differs.
    pub mismatched: Vec<String>,
}

impl StateDictFault {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }
}

impl std::fmt::Display for StateDictFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (what, keys) in [
            ("missing keys", &self.missing),
            ("unexpected keys", &self.unexpected),
            ("size mismatches", &self.mismatched),
        ] {
            if !keys.is_empty() {
                parts.push(format!("{what}: {}", keys.join(", ")));
            }
        }
        f.write_str(&parts.join("; "))
    }
}

/// What kind of failure the GPU reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuCause {
    /// wgpu's validation refused a pipeline or a command (a destroyed buffer,
    /// a layout the device cannot build).
    Validation,
    /// A buffer or pipeline could not be allocated.
    OutOfMemory,
    /// The driver failed in a way wgpu cannot classify.
    Internal,
}

impl std::fmt::Display for GpuCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GpuCause::Validation => "a validation error",
            GpuCause::OutOfMemory => "out of memory",
            GpuCause::Internal => "an internal error",
        })
    }
}

impl GpuCause {
    pub(crate) fn of(e: &wgpu::Error) -> GpuCause {
        match e {
            wgpu::Error::OutOfMemory { .. } => GpuCause::OutOfMemory,
            wgpu::Error::Validation { .. } => GpuCause::Validation,
            wgpu::Error::Internal { .. } => GpuCause::Internal,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
