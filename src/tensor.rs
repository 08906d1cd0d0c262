//! Tensor: a cheap handle to a graph node. Creating and reading tensors lives
//! here; the op methods live in `ops/`.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use crate::device::Device;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::exec;
use crate::graph::{GradRule, Node, Op, State};
use crate::kernels::{Desc, Kernel};
use crate::pool::BufferKind;
use crate::shape::{View, numel};

/// An n-dimensional array on a GPU device. Ops record lazily; nothing runs until
/// the value is read (`to_vec`) or `realize`d. `clone()` is a cheap handle to
/// the same node (as an `Arc`); `copy()` makes a tensor of its own.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Node>);

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor({:?}, {}, {})",
            self.0.shape,
            self.0.dtype,
            if self.is_realized() {
                "realized"
            } else {
                "lazy"
            }
        )
    }
}

impl Tensor {
    pub(crate) fn record(
        device: &Device,
        shape: Vec<usize>,
        dtype: DType,
        op: Op,
        src: Vec<Tensor>,
    ) -> Tensor {
        // Gradients flow through an op when any input needs them, unless recording
        // happens under `no_grad`.
        let grad = crate::autodiff::grad_enabled() && src.iter().any(|s| s.requires_grad());
        let c = device.counter_set();
        let seq = c
            .ops_recorded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let view = matches!(op, Op::View(_));
        let t = Tensor(Arc::new(Node {
            device: device.clone(),
            shape,
            dtype,
            state: Mutex::new(State {
                buf: None,
                op: Some(op),
                src,
            }),
            requires_grad: AtomicBool::new(grad),
            grad: Mutex::new(None),
            sparse: AtomicBool::new(false),
            rows_grad: Mutex::new(None),
            distinct_rows: AtomicUsize::new(usize::MAX),
            readers: Mutex::new(Vec::new()),
            seq,
            backward: crate::autodiff::in_backward(),
            taint: Mutex::new(Vec::new()),
        }));
        // A view aliases its source, as in PyTorch: it sees an update. Any
        // other op reads the buffer as it is now.
        if !view {
            for s in &t.0.state().src {
                if let Some(base) = s.buffer_node() {
                    base.add_reader(&t.0);
                }
            }
        }
        t
    }

    /// The node whose buffer this tensor reads: itself when realized, the
    /// realized source of a lazy view.
    /// A pending in-place update (an optimizer's or a running statistic's).
    pub(crate) fn is_update(&self) -> bool {
        matches!(self.0.state().op, Some(Op::Update { .. }))
    }

    pub(crate) fn buffer_node(&self) -> Option<Arc<Node>> {
        let state = self.0.state();
        if state.buf.is_some() {
            return Some(self.0.clone());
        }
        match (&state.op, state.src.first()) {
            (Some(Op::View(_)), Some(src)) if src.is_realized() => Some(src.0.clone()),
            _ => None,
        }
    }

    pub(crate) fn realized(
        device: &Device,
        shape: Vec<usize>,
        dtype: DType,
        buf: Arc<crate::pool::GpuBuffer>,
    ) -> Tensor {
        Tensor(Arc::new(Node {
            device: device.clone(),
            shape,
            dtype,
            state: Mutex::new(State {
                buf: Some(buf),
                op: None,
                src: Vec::new(),
            }),
            requires_grad: AtomicBool::new(false),
            grad: Mutex::new(None),
            sparse: AtomicBool::new(false),
            rows_grad: Mutex::new(None),
            distinct_rows: AtomicUsize::new(usize::MAX),
            readers: Mutex::new(Vec::new()),
            seq: 0,
            backward: false,
            taint: Mutex::new(Vec::new()),
        }))
    }

    /// The record-time checks of `kernel` over `inputs` (one device, then the
    /// kernel's own): its output's shape and dtype, or the typed error. What
    /// `apply` records, and what an op composed instead checks first.
    pub(crate) fn kernel_output(
        kernel: &impl Kernel,
        inputs: &[&Tensor],
    ) -> Result<(Vec<usize>, DType)> {
        let first = inputs.first().expect("a kernel has inputs");
        first.same_device(kernel.name(), &inputs[1..])?;
        let descs: Vec<Desc> = inputs.iter().map(|t| Desc::of(t)).collect();
        kernel.output(&descs)
    }

    /// Records a hand-written kernel over `inputs` (all on one device), after
    /// the kernel's own record-time checks.
    pub(crate) fn apply(kernel: impl Kernel, inputs: &[&Tensor]) -> Result<Tensor> {
        let first = inputs.first().expect("a kernel has inputs");
        let (shape, dtype) = Self::kernel_output(&kernel, inputs)?;
        Self::check_size(first.device(), kernel.name(), &shape, dtype)?;
        let src = inputs.iter().map(|&t| t.clone()).collect();
        Ok(Tensor::record(
            first.device(),
            shape,
            dtype,
            Op::Kernel(Arc::new(kernel)),
            src,
        ))
    }

    /// `value` (computed from `inputs` under `no_grad`) with `rule` as the
    /// gradient of `inputs`: a composed op with a backward of its own.
    pub(crate) fn custom_grad(value: Tensor, rule: impl GradRule, inputs: &[&Tensor]) -> Tensor {
        let mut src = vec![value.clone()];
        src.extend(inputs.iter().map(|&t| t.clone()));
        Tensor::record(
            value.device(),
            value.shape().to_vec(),
            value.dtype(),
            Op::CustomGrad(Arc::new(rule)),
            src,
        )
    }

    /// Fails with `TooManyElements` when `shape` has more elements than a lazy
    /// tensor may hold. Up to that, a tensor too big for one kernel's 32-bit
    /// index can be recorded and reduced (in slices); the planner refuses
    /// anything else that would compute it whole.
    pub(crate) fn check_count(op: &'static str, shape: &[usize]) -> Result<()> {
        use crate::ops::reduce_split::LAZY_ELEMENTS;
        let count = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        match count {
            Some(n) if n <= LAZY_ELEMENTS => Ok(()),
            _ => Err(Error::TooManyElements {
                op,
                shape: shape.to_vec(),
                limit: LAZY_ELEMENTS,
                reason: "the most a lazy tensor may hold (256 slices a kernel can index)",
            }),
        }
    }

    /// Fails with `TooLarge` when a tensor of `shape` cannot be one kernel binding.
    pub(crate) fn check_size(
        device: &Device,
        op: &'static str,
        shape: &[usize],
        dtype: DType,
    ) -> Result<()> {
        let bytes = (numel(shape) as u64).saturating_mul(dtype.size_bytes() as u64);
        let limit = device.max_binding_bytes();
        if bytes > limit {
            return Err(Error::TooLarge {
                op,
                shape: shape.to_vec(),
                bytes,
                limit_name: "max_storage_buffer_binding_size",
                limit,
            });
        }
        Ok(())
    }

    // ---- creation -------------------------------------------------------------

    /// Uploads `data` (row-major) as a tensor of `shape`. `i64` data (labels,
    /// indices) becomes an i32 tensor, the engine's index type; a value outside
    /// i32's range is `Error::ValueOutOfRange`, where PyTorch would keep int64.
    pub fn from_slice<T: Element>(device: &Device, data: &[T], shape: &[usize]) -> Result<Tensor> {
        let expected = numel(shape);
        if data.len() != expected {
            return Err(Error::ElementCount {
                op: "from_slice",
                shape: shape.to_vec(),
                len: data.len(),
                expected,
            });
        }
        if T::DTYPE == DType::F16 && !device.caps().f16 {
            return Err(Error::MissingFeature {
                op: "from_slice",
                feature: "SHADER_F16",
                why: " (f16 storage; unset SHADERGRAD_PLAIN if it is set)",
            });
        }
        Self::check_size(device, "from_slice", shape, T::DTYPE)?;
        let bytes = T::to_storage(data).map_err(|(index, value)| Error::ValueOutOfRange {
            op: "from_slice",
            shape: shape.to_vec(),
            index,
            value,
            dtype: T::DTYPE,
        })?;
        let bytes: &[u8] = &bytes;
        let buf = device
            .pool()
            .acquire(BufferKind::Storage, bytes.len() as u64);
        if !bytes.is_empty() {
            // write_buffer needs a multiple of 4 bytes; an odd f16 count gets one pad.
            if bytes.len().is_multiple_of(4) {
                device.queue().write_buffer(&buf.buffer, 0, bytes);
            } else {
                let mut padded = bytes.to_vec();
                padded.resize(bytes.len().div_ceil(4) * 4, 0);
                device.queue().write_buffer(&buf.buffer, 0, &padded);
            }
        }
        Ok(Tensor::realized(device, shape.to_vec(), T::DTYPE, buf))
    }

    /// A 0-d tensor holding `value`.
    pub fn scalar<T: Element>(device: &Device, value: T) -> Result<Tensor> {
        Tensor::from_slice(device, &[value], &[])
    }

    /// `value` everywhere: a broadcast constant, no memory until realized.
    pub fn full(device: &Device, shape: &[usize], value: f64, dtype: DType) -> Result<Tensor> {
        if dtype == DType::F16 && !device.caps().f16 {
            return Err(Error::MissingFeature {
                op: "full",
                feature: "SHADER_F16",
                why: "",
            });
        }
        Self::check_count("full", shape)?;
        let c = Tensor::record(device, vec![], dtype, Op::Const(value), vec![]);
        Ok(c.view_unchecked(View::contiguous(&[]).expand(shape)))
    }

    pub fn zeros(device: &Device, shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(device, shape, 0.0, dtype)
    }

    pub fn ones(device: &Device, shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(device, shape, 1.0, dtype)
    }

    /// start, start + step, ... up to (not including) end, like `torch.arange`.
    pub fn arange(
        device: &Device,
        start: f64,
        end: f64,
        step: f64,
        dtype: DType,
    ) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::InvalidArgument {
                op: "arange",
                shape: vec![],
                msg: format!("start {start}, end {end}, step {step} give no finite sequence"),
            });
        }
        if dtype == DType::Bool {
            return Err(Error::UnsupportedDType {
                op: "arange",
                dtype,
                reason: "a sequence of numbers",
            });
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        Self::check_size(device, "arange", &[n], dtype)?;
        Ok(Tensor::record(
            device,
            vec![n],
            dtype,
            Op::Arange { start, step },
            vec![],
        ))
    }

    /// Uniform random numbers in [0, 1), generated on the GPU from the device's seed.
    pub fn rand(device: &Device, shape: &[usize]) -> Result<Tensor> {
        Tensor::rand_seeded(device, shape, device.next_seed(), false)
    }

    /// Standard normal random numbers, generated on the GPU from the device's seed.
    pub fn randn(device: &Device, shape: &[usize]) -> Result<Tensor> {
        Tensor::rand_seeded(device, shape, device.next_seed(), true)
    }

    /// Random numbers from an explicit seed: the same seed gives the same tensor.
    pub fn rand_seeded(
        device: &Device,
        shape: &[usize],
        seed: u64,
        normal: bool,
    ) -> Result<Tensor> {
        Self::check_size(device, "rand", shape, DType::F32)?;
        Ok(Tensor::record(
            device,
            shape.to_vec(),
            DType::F32,
            Op::Rand { normal, seed },
            vec![],
        ))
    }

    /// Wraps a buffer the host program owns, with no copy. It needs STORAGE,
    /// COPY_SRC and COPY_DST usage and at least shape x dtype bytes, and it
    /// must come from this device's own `wgpu::Device`: wgpu 30 exposes no way
    /// to tell which device or instance a buffer belongs to, so that one rule
    /// is the host's to keep (a buffer of another instance may bind an
    /// unrelated buffer of this one).
    pub fn from_wgpu_buffer(
        device: &Device,
        buffer: wgpu::Buffer,
        shape: &[usize],
        dtype: DType,
    ) -> Result<Tensor> {
        let need = (numel(shape) as u64).saturating_mul(dtype.size_bytes() as u64);
        // Kernels bind it; readbacks copy from it; uploads and fills copy into it.
        use wgpu::BufferUsages as U;
        let missing = (U::STORAGE | U::COPY_SRC | U::COPY_DST) - buffer.usage();
        if !missing.is_empty() {
            return Err(Error::HostBuffer {
                op: "from_wgpu_buffer",
                msg: format!(
                    "lacks {} usage (has {:?})",
                    missing
                        .iter_names()
                        .map(|(n, _)| n)
                        .collect::<Vec<_>>()
                        .join(" | "),
                    buffer.usage()
                ),
            });
        }
        if buffer.size() < need {
            return Err(Error::HostBuffer {
                op: "from_wgpu_buffer",
                msg: format!(
                    "holds {} bytes; shape {shape:?} of {dtype} needs {need}",
                    buffer.size()
                ),
            });
        }
        Self::check_size(device, "from_wgpu_buffer", shape, dtype)?;
        Self::check_same_device(device, &buffer)?;
        let buf = device.pool().wrap_external(buffer);
        Ok(Tensor::realized(device, shape.to_vec(), dtype, buf))
    }

    /// Fails with `HostBuffer` when `buffer` belongs to another wgpu device:
    /// an empty clear of it is validated (never submitted) here, so the
    /// mistake is reported at the hand-over, not by the first kernel to bind
    /// it. A buffer of another wgpu `Instance` carries an id of that
    /// instance, which wgpu looks up in this one: where it names nothing (wgpu
    /// panics) or one of the engine's own buffers, that too is this error.
    /// Where it names a buffer the host made in this instance, wgpu offers no
    /// way to tell the two apart.
    fn check_same_device(device: &Device, buffer: &wgpu::Buffer) -> Result<()> {
        let wgpu_dev = device.wgpu_device();
        let scope = wgpu_dev.push_error_scope(wgpu::ErrorFilter::Validation);
        let probe = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut enc = wgpu_dev.create_command_encoder(&Default::default());
            enc.clear_buffer(buffer, 0, Some(0));
            drop(enc.finish());
        }));
        let invalid = pollster::block_on(scope.pop());
        let msg = match (probe, invalid) {
            (Ok(()), None) if device.pool().made_unexported(buffer) => {
                "its id names one of the engine's own buffers, never handed out: \
                 it comes from another wgpu instance"
                    .to_string()
            }
            (Ok(()), None) => return Ok(()),
            (Ok(()), Some(e)) => e.to_string(),
            (Err(_), _) => "is unknown to this wgpu instance".to_string(),
        };
        Err(Error::HostBuffer {
            op: "from_wgpu_buffer",
            msg: format!("does not belong to the engine's wgpu device: {msg}"),
        })
    }

    // ---- what a tensor is -------------------------------------------------------

    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }

    /// The tensor's size in bytes (PyTorch's `nbytes`): numel x element size.
    pub fn nbytes(&self) -> u64 {
        self.numel() as u64 * self.dtype().size_bytes() as u64
    }

    pub fn numel(&self) -> usize {
        numel(&self.0.shape)
    }

    pub fn device(&self) -> &Device {
        &self.0.device
    }

    pub fn is_realized(&self) -> bool {
        self.0.state().buf.is_some()
    }

    /// Runs whatever this tensor still needs, in one submit, and keeps the result
    /// on the GPU.
    pub fn realize(&self) -> Result<&Tensor> {
        exec::realize(self.device(), &[self])?;
        Ok(self)
    }

    /// Overwrites this realized tensor's values with `src`'s, in place, as
    /// PyTorch's `copy_`: every holder of this tensor (an optimizer, a
    /// module) sees them; anything recorded before reads the old values.
    pub fn copy_from(&self, src: &Tensor) -> Result<()> {
        if src.shape() != self.shape() {
            return Err(Error::ShapeMismatch {
                op: "copy_from",
                lhs: self.shape().to_vec(),
                rhs: src.shape().to_vec(),
                detail: String::new(),
            });
        }
        if src.dtype() != self.dtype() {
            return Err(Error::DTypeMismatch {
                op: "copy_from",
                lhs: self.dtype(),
                rhs: src.dtype(),
            });
        }
        exec::copy_into(self, src)
    }

    /// Realizes several tensors in one plan and one submit.
    pub fn realize_all(tensors: &[&Tensor]) -> Result<()> {
        let Some(first) = tensors.first() else {
            return Ok(());
        };
        exec::realize(first.device(), tensors)
    }

    /// Reads the tensor back (realizing it first, in the same submit). An i32
    /// tensor reads as `i64` too (widened), a bool one as `u32`.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        let ok =
            T::DTYPE == self.dtype() || (T::DTYPE == DType::U32 && self.dtype() == DType::Bool);
        if !ok {
            return Err(Error::DTypeMismatch {
                op: "to_vec",
                lhs: self.dtype(),
                rhs: T::DTYPE,
            });
        }
        let bytes = exec::read(self)?;
        Ok(T::from_storage(&bytes, self.numel()))
    }

    /// The single value of a one-element tensor, as PyTorch's `item()`.
    pub fn item<T: Element>(&self) -> Result<T> {
        self.to_scalar()
    }

    /// An owned copy in a buffer of its own, realized now (PyTorch's
    /// `clone()`; gradients flow through it). `Tensor::clone` is a cheap
    /// handle to the same value, as an `Arc` is.
    pub fn copy(&self) -> Result<Tensor> {
        let c = Tensor::record(
            self.device(),
            self.shape().to_vec(),
            self.dtype(),
            Op::Cast,
            vec![self.clone()],
        );
        c.realize()?;
        Ok(c)
    }

    /// The single value of a one-element tensor.
    pub fn to_scalar<T: Element>(&self) -> Result<T> {
        if self.numel() != 1 {
            return Err(Error::InvalidArgument {
                op: "to_scalar",
                shape: self.shape().to_vec(),
                msg: "needs exactly one element".into(),
            });
        }
        Ok(self.to_vec::<T>()?[0])
    }

    /// Realizes the tensor and hands its buffer to the host program, with no copy.
    /// The buffer stays valid while either side holds it and is never recycled.
    /// It may be larger than the tensor (buffers come in size classes): the
    /// tensor's bytes are the first `nbytes()`, row-major.
    pub fn to_wgpu_buffer(&self) -> Result<wgpu::Buffer> {
        let t = self.contiguous()?;
        t.realize()?;
        match &t.0.state().buf {
            Some(buf) => {
                buf.mark_exported();
                Ok(buf.buffer.clone())
            }
            None => Err(Error::Gpu("tensor did not realize".into())),
        }
    }
}
