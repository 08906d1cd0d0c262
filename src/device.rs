//! Device: adapter selection (or a host program's own wgpu device), the features
//! and limits kernels may rely on, and the caches every realize shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::counters::{CounterSnapshot, Counters};
use crate::error::{Error, Result};
use crate::exec::PlanCache;
use crate::pipeline::PipelineCache;
use crate::pool::{BufferKind, BufferPool, GpuBuffer};

/// Environment variable that forces the plain path: f32 kernels only, no subgroups.
pub const PLAIN_ENV: &str = "SHADERGRAD_PLAIN";

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

pub(crate) struct DeviceInner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    pub limits: wgpu::Limits,
    pub caps: Caps,
    pub counters: Arc<Counters>,
    pub pool: BufferPool,
    pub pipelines: PipelineCache,
    pub plans: Mutex<PlanCache>,
    /// Sticky bits set by kernels that met bad data (an index out of range);
    /// read back with every readback and turned into an error value.
    pub status: Arc<GpuBuffer>,
    pub embedded: bool,
    seed: Mutex<u64>,
    poison: AtomicBool,
    fusion: AtomicBool,
    plan_cache: AtomicBool,
    pub matmul: Mutex<Option<crate::MatmulVariant>>,
    pub conv: Mutex<Option<crate::kernels::conv2d::ConvVariant>>,
    /// Tensors the next realize must include (a loss and its gradients, an
    /// optimizer's in-place updates): so a whole training step is one submit.
    pending: Mutex<Vec<crate::Tensor>>,
    profiling: AtomicBool,
    subgroups_off: AtomicBool,
    /// The per-dispatch GPU times of the last profiled realize.
    pub profile: Mutex<Vec<crate::exec::KernelTime>>,
    /// Held for the whole of a realize: a cached plan's scalar buffer, the
    /// error flag and the pending list are per device, so two threads
    /// realizing on one device take turns.
    pub realize_lock: Mutex<()>,
}

/// A GPU device and everything cached on it. Cheap to clone (a handle).
#[derive(Clone)]
pub struct Device(pub(crate) Arc<DeviceInner>);

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

impl Device {
    /// Picks an adapter headlessly, honouring WGPU_BACKEND, WGPU_ADAPTER_NAME and
    /// WGPU_POWER_PREF as wgpu's own helpers do, and opens a device on it.
    pub fn new() -> Result<Device> {
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
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("shadergrad"),
            required_features: features,
            required_limits: adapter.limits(),
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
        Ok(Device::assemble(device, queue, info, false))
    }

    /// Embeds into a host program's own wgpu device: kernels run on its queue,
    /// next to its own work, and tensors can share its buffers without copies.
    pub fn from_wgpu(device: wgpu::Device, queue: wgpu::Queue) -> Device {
        let info = device.adapter_info();
        Device::assemble(device, queue, info, true)
    }

    fn assemble(
        device: wgpu::Device,
        queue: wgpu::Queue,
        info: wgpu::AdapterInfo,
        embedded: bool,
    ) -> Device {
        let counters = Arc::new(Counters::default());
        let pool = BufferPool::new(device.clone(), counters.clone());
        let caps = caps_of(device.features(), &info);
        let status = pool.acquire(BufferKind::Storage, 16);
        queue.write_buffer(&status.buffer, 0, &[0u8; 16]);
        Device(Arc::new(DeviceInner {
            pipelines: PipelineCache::new(device.clone(), counters.clone()),
            limits: device.limits(),
            device,
            queue,
            info,
            caps,
            counters,
            pool,
            plans: Mutex::new(PlanCache::default()),
            status,
            embedded,
            seed: Mutex::new(0x5EED_5EED_5EED_5EED),
            poison: AtomicBool::new(false),
            fusion: AtomicBool::new(true),
            plan_cache: AtomicBool::new(true),
            matmul: Mutex::new(None),
            conv: Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            profiling: AtomicBool::new(false),
            subgroups_off: AtomicBool::new(false),
            profile: Mutex::new(Vec::new()),
            realize_lock: Mutex::new(()),
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
    pub fn is_embedded(&self) -> bool {
        self.0.embedded
    }

    /// True for a software rasteriser (lavapipe, WARP, SwiftShader).
    pub fn is_cpu(&self) -> bool {
        self.0.info.device_type == wgpu::DeviceType::Cpu
    }

    pub fn counters(&self) -> CounterSnapshot {
        self.0.counters.snapshot()
    }

    /// Starts a new peak-memory measurement from what is live now.
    pub fn reset_peak_bytes(&self) {
        self.0.counters.reset_peak();
    }

    /// Seeds the generator that `Tensor::rand` and friends draw their seeds from.
    pub fn manual_seed(&self, seed: u64) {
        *self.0.seed.lock().unwrap_or_else(|e| e.into_inner()) = seed;
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

    /// Fills every buffer a kernel is about to write with NaN first, so a test sees
    /// any element a kernel forgot. Costs a write per output; for tests only.
    pub fn set_poison_outputs(&self, on: bool) {
        self.0.poison.store(on, Ordering::Relaxed);
    }

    pub(crate) fn poison_outputs(&self) -> bool {
        self.0.poison.load(Ordering::Relaxed)
    }

    /// Turns elementwise fusion off (every op its own kernel) or back on: the
    /// benchmark suite's unfused baseline.
    pub fn set_fusion(&self, on: bool) {
        self.0.fusion.store(on, Ordering::Relaxed);
    }

    /// Turns plan replay off (every realize plans from scratch) or back on:
    /// the benchmark suite's measure of what replay saves.
    pub fn set_plan_cache(&self, on: bool) {
        self.0.plan_cache.store(on, Ordering::Relaxed);
    }

    pub(crate) fn plan_cache(&self) -> bool {
        self.0.plan_cache.load(Ordering::Relaxed)
    }

    pub(crate) fn fusion(&self) -> bool {
        self.0.fusion.load(Ordering::Relaxed)
    }

    /// Blocks until the GPU has finished all work submitted so far.
    pub fn synchronize(&self) -> crate::Result<()> {
        self.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))
    }

    /// Forces a matmul version on this device (`None`: the adapter's choice).
    pub fn set_matmul_variant(&self, variant: Option<crate::MatmulVariant>) {
        *self.0.matmul.lock().unwrap_or_else(|e| e.into_inner()) = variant;
    }

    /// Forces a convolution version on this device (`None`: the adapter's choice).
    pub fn set_conv_variant(&self, variant: Option<crate::kernels::conv2d::ConvVariant>) {
        *self.0.conv.lock().unwrap_or_else(|e| e.into_inner()) = variant;
    }

    /// The WGSL of every pipeline compiled so far, as (kernel, entry point, source).
    pub fn compiled_kernels(&self) -> Vec<(String, String, String)> {
        self.0.pipelines.sources()
    }

    pub(crate) fn add_pending(&self, tensors: Vec<crate::Tensor>) {
        self.0
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(tensors);
    }

    pub(crate) fn take_pending(&self) -> Vec<crate::Tensor> {
        std::mem::take(&mut *self.0.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Realizes everything recorded for the next step (loss, gradients, updates)
    /// in one submit.
    pub fn realize_pending(&self) -> crate::Result<()> {
        crate::exec::realize(self, &[])
    }

    /// Turns the subgroup kernels (the lanes forms of matmul, conv2d and
    /// attention) off on this device, or back on where the adapter has them:
    /// the plain path, per device (SHADERGRAD_PLAIN does it for the process).
    pub fn set_subgroup_kernels(&self, on: bool) {
        self.0.subgroups_off.store(!on, Ordering::Relaxed);
    }

    pub(crate) fn subgroup_kernels(&self) -> bool {
        !self.0.subgroups_off.load(Ordering::Relaxed)
    }

    /// Times every dispatch with GPU timestamps (when the adapter has
    /// TIMESTAMP_QUERY; inside one pass with TIMESTAMP_QUERY_INSIDE_PASSES, else
    /// one pass per dispatch). Each realize then waits for the GPU.
    pub fn set_profiling(&self, on: bool) {
        self.0.profiling.store(on, Ordering::Relaxed);
    }

    pub(crate) fn profiling(&self) -> bool {
        self.0.profiling.load(Ordering::Relaxed)
    }

    /// The per-dispatch GPU times of the last profiled realize (empty if the
    /// adapter has no timestamps).
    pub fn last_profile(&self) -> Vec<crate::exec::KernelTime> {
        self.0
            .profile
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Frees cached plans and pooled buffers not in use.
    pub fn trim(&self) {
        self.0
            .plans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.0.pool.trim();
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
}

/// WGPU_ADAPTER_NAME picks by name (case-insensitive substring); otherwise wgpu's
/// default choice with WGPU_POWER_PREF. Unlike wgpu's helper, a name that matches
/// nothing is an error listing what exists, not a panic.
async fn select_adapter(instance: &wgpu::Instance) -> Result<wgpu::Adapter> {
    let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
    if adapters.is_empty() {
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
            available.push(format!("{} ({:?})", info.name, info.backend));
        }
        return Err(Error::AdapterNotFound {
            wanted: name,
            available,
        });
    }
    instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
            ..Default::default()
        })
        .await
        .map_err(|e| Error::NoAdapter {
            detail: e.to_string(),
        })
}
