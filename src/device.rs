//! Device: the GPU resources every realize shares: the wgpu device and queue
//! (opened here, or a host program's own), the features and limits kernels may
//! rely on, the buffer pool, the pipeline cache and the counters; with the
//! device's tuning and random seed. The executor keeps its own
//! per-device state (plan cache, pending work, profile) in a slot it owns
//! (`executor_state`): nothing here knows its type, and nothing here knows any
//! kernel.

use std::any::Any;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::counters::{CounterSnapshot, Counters};
use crate::error::{Error, Result};
use crate::pipeline::PipelineCache;
use crate::pool::BufferPool;
use crate::tuning::{MatmulVariant, PlanOptions, Tuning};

/// Environment variable that forces the plain path: f32 kernels only, no subgroups.
pub const PLAIN_ENV: &str = "SHADERGRAD_PLAIN";

/// Environment variable that opens every device in deterministic mode (`1`;
/// `0` or unset: as `DeviceOptions::deterministic` says).
pub const DETERMINISTIC_ENV: &str = "SHADERGRAD_DETERMINISTIC";

/// What the device can do beyond core WebGPU, as detected (and as the plain path allows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caps {
    pub f16: bool,
    pub subgroups: bool,
    pub timestamps: bool,
    pub timestamps_in_passes: bool,
    /// Lanes that run in lockstep (8 on lavapipe/AVX2, 32 on NVIDIA), when known.
    pub subgroup_size: Option<(u32, u32)>,
}

/// How to open a device: the tuning it starts with and, optionally, the limits
/// to ask for instead of the adapter's own (e.g. `wgpu::Limits::downlevel_defaults()`
/// to see how the engine fares on a small device).
#[derive(Clone, Debug, Default)]
pub struct DeviceOptions {
    pub tuning: Tuning,
    pub limits: Option<wgpu::Limits>,
    /// Compiled pipelines kept, least recently used evicted first (default
    /// 512).
    pub pipeline_capacity: Option<usize>,
    /// Plans kept for replay, least recently used evicted first (default 256).
    /// A plan holds its pipelines, so this bounds them too.
    pub plan_capacity: Option<usize>,
    /// Bytes of free buffers the pool keeps for reuse beyond what was ever
    /// live at once (default 64 MiB); past that the oldest free buffer is
    /// released.
    pub pool_free_capacity: Option<u64>,
    /// Bind groups cached plans may hold (default 16,384); past that the
    /// least recently used plans are dropped. Each is a descriptor set, and
    /// lavapipe maps each set on its own, within the process's ~65k mappings.
    pub bind_group_capacity: Option<u64>,
    /// Start in deterministic mode (see `Device::set_deterministic`).
    pub deterministic: bool,
}

const DEFAULT_PLAN_CAPACITY: usize = 256;
const DEFAULT_BIND_GROUP_CAPACITY: u64 = 16_384;

struct Inner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    caps: Caps,
    counters: Arc<Counters>,
    pool: BufferPool,
    pipelines: PipelineCache,
    embedded: bool,
    /// Plans the executor keeps (see `DeviceOptions::plan_capacity`).
    plan_capacity: AtomicUsize,
    /// Bind groups cached plans may hold (`DeviceOptions::bind_group_capacity`).
    bind_group_capacity: AtomicU64,
    seed: Mutex<u64>,
    tuning: Mutex<Tuning>,
    deterministic: AtomicBool,
    /// The executor's per-device state (src/exec.rs), created on first use.
    executor: OnceLock<Box<dyn Any + Send + Sync>>,
}

/// A GPU device and everything cached on it. Cheap to clone (a handle).
#[derive(Clone)]
pub struct Device(Arc<Inner>);

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Device({} on {:?})",
            self.0.info.name, self.0.info.backend
        )
    }
}

impl PartialEq for Device {
    fn eq(&self, other: &Device) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

fn plain_forced() -> bool {
    std::env::var(PLAIN_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

fn caps_of(features: wgpu::Features, info: &wgpu::AdapterInfo) -> Caps {
    let plain = plain_forced();
    let subgroups = !plain && features.contains(wgpu::Features::SUBGROUP);
    Caps {
        f16: !plain && features.contains(wgpu::Features::SHADER_F16),
        subgroups,
        timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
        timestamps_in_passes: features.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES),
        subgroup_size: (info.subgroup_min_size > 0)
            .then_some((info.subgroup_min_size, info.subgroup_max_size)),
    }
}

/// The tuning a device starts with: `base`, with the matmul version
/// `SHADERGRAD_MATMUL` forces (a value it does not know is an error).
fn tuning_from_env(base: Tuning) -> Result<Tuning> {
    let Ok(value) = std::env::var("SHADERGRAD_MATMUL") else {
        return Ok(base);
    };
    match MatmulVariant::parse(&value) {
        Some(v) => Ok(Tuning {
            matmul: Some(v),
            ..base
        }),
        None => Err(Error::BadEnv {
            var: "SHADERGRAD_MATMUL",
            value,
            accepted: "naive, register, tiled, lanes",
        }),
    }
}

/// Whether `SHADERGRAD_DETERMINISTIC` asks for deterministic mode (`1`);
/// another value than `0` or `1` is an error.
fn deterministic_from_env() -> Result<bool> {
    match std::env::var(DETERMINISTIC_ENV).as_deref() {
        Err(_) | Ok("") | Ok("0") => Ok(false),
        Ok("1") => Ok(true),
        Ok(other) => Err(Error::BadEnv {
            var: DETERMINISTIC_ENV,
            value: other.to_string(),
            accepted: "0, 1",
        }),
    }
}

/// The limits to ask for: `opts`', else `SHADERGRAD_LIMITS` (`downlevel`:
/// wgpu's downlevel defaults, a small device's; `adapter` or unset: the
/// adapter's own).
fn limits_from_env(opts: &DeviceOptions, adapter: &wgpu::Adapter) -> Result<wgpu::Limits> {
    if let Some(l) = &opts.limits {
        return Ok(l.clone());
    }
    match std::env::var("SHADERGRAD_LIMITS").as_deref() {
        Err(_) | Ok("adapter") => Ok(adapter.limits()),
        Ok("downlevel") => Ok(wgpu::Limits::downlevel_defaults()),
        Ok(other) => Err(Error::BadEnv {
            var: "SHADERGRAD_LIMITS",
            value: other.to_string(),
            accepted: "adapter, downlevel",
        }),
    }
}

impl Device {
    /// Picks an adapter headlessly, honouring WGPU_BACKEND, WGPU_ADAPTER_NAME and
    /// WGPU_POWER_PREF as wgpu's own helpers do, and opens a device on it.
    pub fn new() -> Result<Device> {
        Device::with_options(&DeviceOptions::default())
    }

    /// `new`, with the given tuning and limits.
    pub fn with_options(opts: &DeviceOptions) -> Result<Device> {
        let tuning = tuning_from_env(opts.tuning)?;
        let deterministic = opts.deterministic || deterministic_from_env()?;
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = pollster::block_on(select_adapter(&instance))?;
        let info = adapter.get_info();
        let wanted = wgpu::Features::SHADER_F16
            | wgpu::Features::SUBGROUP
            | wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        let mut features = adapter.features() & wanted;
        if plain_forced() {
            features.remove(wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP);
        }
        let limits = limits_from_env(opts, &adapter)?;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("shadergrad"),
            required_features: features,
            required_limits: limits,
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::RequestDevice(e.to_string()))?;
        // Errors are caught by scopes around each submit; anything that escapes
        // must not abort the host process, so it is reported, not panicked on.
        device.on_uncaptured_error(Arc::new(|e| {
            eprintln!("shadergrad: uncaptured GPU error: {e}");
        }));
        let dev = Device::assemble(device, queue, info, false, tuning);
        dev.set_deterministic(deterministic);
        if let Some(n) = opts.pipeline_capacity {
            dev.0.pipelines.set_capacity(n);
        }
        if let Some(n) = opts.plan_capacity {
            dev.0.plan_capacity.store(n.max(1), Ordering::Relaxed);
        }
        if let Some(n) = opts.bind_group_capacity {
            dev.0.bind_group_capacity.store(n, Ordering::Relaxed);
        }
        if let Some(n) = opts.pool_free_capacity {
            dev.0.pool.set_free_capacity(n);
        }
        Ok(dev)
    }

    /// Embeds into a host program's own wgpu device: kernels run on its queue,
    /// next to its own work, and tensors can share its buffers without copies.
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue) -> Device {
        let info = device.adapter_info();
        let tuning = tuning_from_env(Tuning::default()).unwrap_or_default();
        let dev = Device::assemble(device, queue, info, true, tuning);
        dev.set_deterministic(deterministic_from_env().unwrap_or(false));
        dev
    }

    fn assemble(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        embedded: bool,
        tuning: Tuning,
    ) -> Device {
        let counters = Arc::new(Counters::default());
        let pool = BufferPool::new(device.clone(), counters.clone());
        let caps = caps_of(device.features(), &info);
        Device(Arc::new(Inner {
            pipelines: PipelineCache::new(device.clone(), counters.clone()),
            limits: device.limits(),
            device,
            queue,
            info,
            caps,
            counters,
            pool,
            embedded,
            plan_capacity: AtomicUsize::new(DEFAULT_PLAN_CAPACITY),
            bind_group_capacity: AtomicU64::new(DEFAULT_BIND_GROUP_CAPACITY),
            seed: Mutex::new(0x5EED_5EED_5EED_5EED),
            tuning: Mutex::new(tuning),
            deterministic: AtomicBool::new(false),
            executor: OnceLock::new(),
        }))
    }

    /// Every adapter wgpu can see on this machine, over all backends.
    pub fn adapters() -> Vec<wgpu::AdapterInfo> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .iter()
            .map(|a| a.get_info())
            .collect()
    }

    pub fn wgpu_device(&self) -> &wgpu::Device {
        &self.0.device
    }

    pub fn wgpu_queue(&self) -> &wgpu::Queue {
        &self.0.queue
    }

    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.0.info
    }

    pub fn limits(&self) -> &wgpu::Limits {
        &self.0.limits
    }

    pub fn caps(&self) -> &Caps {
        &self.0.caps
    }

    /// True when this device was handed over by a host program.
    /// How many plans the executor keeps.
    pub(crate) fn plan_capacity(&self) -> usize {
        self.0.plan_capacity.load(Ordering::Relaxed)
    }

    pub(crate) fn bind_group_capacity(&self) -> u64 {
        self.0.bind_group_capacity.load(Ordering::Relaxed)
    }

    pub fn is_embedded(&self) -> bool {
        self.0.embedded
    }

    /// True for a software rasteriser (lavapipe, WARP, SwiftShader).
    pub fn is_cpu(&self) -> bool {
        self.0.info.device_type == wgpu::DeviceType::Cpu
    }

    pub fn counters(&self) -> CounterSnapshot {
        CounterSnapshot {
            pipelines_cached: self.0.pipelines.len() as u64,
            bytes_free: self.0.pool.free_bytes(),
            ..self.0.counters.snapshot()
        }
    }

    /// Starts a new peak-memory measurement from what is live now.
    pub fn reset_peak_bytes(&self) {
        self.0.counters.reset_peak();
    }

    /// Seeds the generator that `Tensor::rand` and friends draw their seeds from.
    pub fn manual_seed(&self, seed: u64) {
        *self.0.seed.lock().unwrap_or_else(|e| e.into_inner()) = seed;
    }

    /// The generator's state (PyTorch's `get_rng_state`): `manual_seed` with
    /// it continues the same sequence, so a checkpoint can resume it.
    pub fn rng_state(&self) -> u64 {
        *self.0.seed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next seed of the device's generator (splitmix64).
    pub fn next_seed(&self) -> u64 {
        let mut s = self.0.seed.lock().unwrap_or_else(|e| e.into_inner());
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// How this device runs its graphs (kernel versions, fusion, poisoning).
    pub fn tuning(&self) -> Tuning {
        *self.0.tuning.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes how this device runs its graphs from the next realize on.
    pub fn set_tuning(&self, tuning: Tuning) {
        *self.0.tuning.lock().unwrap_or_else(|e| e.into_inner()) = tuning;
    }

    /// Deterministic mode, PyTorch's `torch.use_deterministic_algorithms`:
    /// on, every kernel that would add floats in an arbitrary order (the
    /// compare-and-swap scatter-adds of index and embedding gradients and of
    /// grid_sample's input gradient, and sparse SGD's row adds) runs a form that adds them in a fixed
    /// order, so two runs of the same program give bit-identical results, at
    /// some cost in speed. Every other kernel already sums in an order fixed
    /// by the shapes alone. Takes effect from the next realize (plans are
    /// cached per mode).
    pub fn set_deterministic(&self, on: bool) {
        self.0.deterministic.store(on, Ordering::Relaxed);
    }

    /// Whether deterministic mode is on (see `set_deterministic`).
    pub fn deterministic(&self) -> bool {
        self.0.deterministic.load(Ordering::Relaxed)
    }

    /// The subgroup width the lanes kernels can rely on: subgroup kernels on,
    /// and a size the adapter fixes (min == max), as lavapipe's 8 lanes of AVX2.
    pub fn lanes(&self) -> Option<u32> {
        let caps = self.caps();
        match caps.subgroup_size {
            Some((lo, hi))
                if self.tuning().subgroups
                    && caps.subgroups
                    && lo == hi
                    && (4..=64).contains(&lo) =>
            {
                Some(lo)
            }
            _ => None,
        }
    }

    /// What a plan built now bakes in.
    pub(crate) fn plan_options(&self) -> PlanOptions {
        PlanOptions {
            tuning: self.tuning(),
            cpu: self.is_cpu(),
            lanes: self.lanes().unwrap_or(0),
            storage_buffers: self.0.limits.max_storage_buffers_per_shader_stage,
            deterministic: self.deterministic(),
        }
    }

    /// Blocks until the GPU has finished all work submitted so far.
    pub fn synchronize(&self) -> crate::Result<()> {
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))
    }

    /// The WGSL of every pipeline compiled so far, as (kernel, entry point, source).
    pub fn compiled_kernels(&self) -> Vec<(String, String, String)> {
        self.0.pipelines.sources()
    }

    /// Largest tensor, in bytes, one kernel binding can hold.
    pub fn max_binding_bytes(&self) -> u64 {
        self.0
            .limits
            .max_storage_buffer_binding_size
            .min(self.0.limits.max_buffer_size)
    }

    /// A one-paragraph description: adapter, backend, driver, features.
    pub fn describe(&self) -> String {
        let i = &self.0.info;
        let c = &self.0.caps;
        format!(
            "{} ({:?}, {:?}, driver {} {}) f16={} subgroups={}{} timestamps={}{}",
            i.name,
            i.backend,
            i.device_type,
            i.driver,
            i.driver_info,
            c.f16,
            c.subgroups,
            c.subgroup_size
                .map(|(a, b)| format!(" ({a}..{b} lanes)"))
                .unwrap_or_default(),
            c.timestamps,
            if c.timestamps_in_passes {
                " (in passes)"
            } else {
                ""
            },
        )
    }

    // ---- for the rest of the engine -------------------------------------------

    pub(crate) fn queue(&self) -> &wgpu::Queue {
        &self.0.queue
    }

    pub(crate) fn pool(&self) -> &BufferPool {
        &self.0.pool
    }

    pub(crate) fn pipelines(&self) -> &PipelineCache {
        &self.0.pipelines
    }

    pub(crate) fn counter_set(&self) -> &Counters {
        &self.0.counters
    }

    pub(crate) fn counters_handle(&self) -> Arc<Counters> {
        self.0.counters.clone()
    }

    /// The executor's state for this device, made by `init` on first use. One
    /// type only (the executor's): asking for another is a bug.
    pub(crate) fn executor_state<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> &T {
        self.0
            .executor
            .get_or_init(|| Box::new(init()))
            .downcast_ref()
            .expect("the executor slot holds the executor's state")
    }
}

/// The backends `WGPU_BACKEND` allows (all when unset); a name wgpu does not
/// know is an error listing the ones it does.
fn backends_from_env() -> Result<wgpu::Backends> {
    let Ok(value) = std::env::var("WGPU_BACKEND") else {
        return Ok(wgpu::Backends::all());
    };
    let known = value.split(',').all(|b| {
        let b = b.trim().to_lowercase();
        [
            "vulkan", "vk", "dx12", "d3d12", "metal", "mtl", "opengl", "gles", "gl", "webgpu",
            "noop",
        ]
        .contains(&b.as_str())
    });
    if !known || value.trim().is_empty() {
        return Err(Error::BadEnv {
            var: "WGPU_BACKEND",
            value,
            accepted: "a comma list of vulkan (vk), dx12 (d3d12), metal (mtl), gl (gles, opengl), webgpu",
        });
    }
    Ok(wgpu::Backends::from_comma_list(&value))
}

/// `WGPU_POWER_PREF` (wgpu's default when unset); a value wgpu does not know
/// is an error.
fn power_from_env() -> Result<wgpu::PowerPreference> {
    match std::env::var("WGPU_POWER_PREF") {
        Err(_) => Ok(wgpu::PowerPreference::default()),
        Ok(value) => wgpu::PowerPreference::from_env().ok_or(Error::BadEnv {
            var: "WGPU_POWER_PREF",
            value,
            accepted: "low, high, none",
        }),
    }
}

fn describe_adapter(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?})", info.name, info.backend)
}

/// The adapters of every backend, which a `WGPU_BACKEND` filter left out.
fn excluded_by(backends: wgpu::Backends) -> Vec<String> {
    let all = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    pollster::block_on(all.enumerate_adapters(wgpu::Backends::all()))
        .iter()
        .map(|a| a.get_info())
        .filter(|i| !backends.contains(i.backend.into()))
        .map(|i| describe_adapter(&i))
        .collect()
}

/// WGPU_ADAPTER_NAME picks by name (case-insensitive substring); otherwise wgpu's
/// default choice with WGPU_POWER_PREF. Unlike wgpu's helper, a name that matches
/// nothing is an error listing what exists, not a panic; a WGPU_BACKEND that
/// leaves no adapter is an error naming it and what it left out.
async fn select_adapter(instance: &wgpu::Instance) -> Result<wgpu::Adapter> {
    let backends = backends_from_env()?;
    let power_preference = power_from_env()?;
    let adapters = instance.enumerate_adapters(backends).await;
    if adapters.is_empty() {
        if backends != wgpu::Backends::all() {
            return Err(Error::AdapterFiltered {
                value: std::env::var("WGPU_BACKEND").unwrap_or_default(),
                excluded: excluded_by(backends),
            });
        }
        return Err(Error::NoAdapter {
            detail: "wgpu enumerated none on any backend".into(),
        });
    }
    if let Ok(name) = std::env::var("WGPU_ADAPTER_NAME") {
        let wanted = name.to_lowercase();
        let mut available = Vec::new();
        for a in adapters {
            let info = a.get_info();
            if info.name.to_lowercase().contains(&wanted) {
                return Ok(a);
            }
            available.push(describe_adapter(&info));
        }
        return Err(Error::AdapterNotFound {
            wanted: name,
            available,
        });
    }
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference,
            ..Default::default()
        })
        .await
        .map_err(|e| Error::NoAdapter {
            detail: e.to_string(),
        })
}
