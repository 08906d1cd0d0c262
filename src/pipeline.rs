//! PipelineCache: one compute pipeline per (kernel source, entry point, override
//! constants), compiled on first use and kept for the life of the device.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::counters::Counters;
use crate::error::{Error, Result};

/// How a kernel uses one binding of group 0; the layout is built from these,
/// never inferred from the shader, so an entry point may leave a binding unused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BindKind {
    Read,
    ReadWrite,
    Uniform,
    /// Declared by the module but not read by this entry point: left out of
    /// the layout and the bind group (so it costs no binding of the device's
    /// limits), its number kept so the others keep theirs.
    Unused,
}

/// Everything that identifies a compiled pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct KernelSource {
    /// The kernel family, as in `shaders/<name>.wgsl`; used in errors and benchmarks.
    pub name: &'static str,
    pub wgsl: Arc<str>,
    pub entry: &'static str,
    /// WGSL `override` values, as (name, value bits) so the key can hash them.
    pub constants: Vec<(&'static str, u64)>,
    pub layout: Vec<BindKind>,
}

impl KernelSource {
    pub fn new(
        name: &'static str,
        wgsl: Arc<str>,
        entry: &'static str,
        layout: Vec<BindKind>,
    ) -> Self {
        KernelSource {
            name,
            wgsl,
            entry,
            constants: Vec::new(),
            layout,
        }
    }

    pub fn with(mut self, constant: &'static str, value: f64) -> Self {
        self.constants.push((constant, value.to_bits()));
        self
    }
}

/// Why `src` got no pipeline: its WGSL does not compile (naga says why), or it
/// does and the device refused the pipeline (a limit, memory).
fn pipeline_failure(src: &KernelSource, wgsl: &str, err: &wgpu::Error) -> Error {
    let kernel = format!("{}::{}", src.name, src.entry);
    match crate::kernels::validate_wgsl(wgsl) {
        Err(message) => Error::ShaderCompile { kernel, message },
        Ok(()) => Error::GpuFailure {
            kernel,
            cause: crate::error::GpuCause::of(err),
            message: format!("the device refused a pipeline of valid WGSL: {err}"),
        },
    }
}

/// A bind group layout and the pipeline layout made from it.
pub(crate) type Layout = Arc<(wgpu::BindGroupLayout, wgpu::PipelineLayout)>;

/// Pipelines kept by default. A training loop uses tens; shapes that keep
/// changing (variable-length text) would otherwise add one per shape forever.
pub const DEFAULT_PIPELINE_CAPACITY: usize = 512;

/// Compiled pipelines, each with the tick it was last used at: the least
/// recently used goes first when the cache is full.
#[derive(Default)]
struct Pipelines {
    map: HashMap<KernelSource, (Arc<wgpu::ComputePipeline>, u64)>,
    tick: u64,
}

impl Pipelines {
    fn get(&mut self, src: &KernelSource) -> Option<Arc<wgpu::ComputePipeline>> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(src).map(|(p, t)| {
            *t = tick;
            p.clone()
        })
    }

    /// Inserts `p`, evicting the least recently used first when at `capacity`;
    /// returns how many it evicted.
    fn insert(&mut self, src: KernelSource, p: Arc<wgpu::ComputePipeline>, capacity: usize) -> u64 {
        let mut evicted = 0;
        while self.map.len() >= capacity.max(1) {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone());
            let Some(k) = oldest else { break };
            self.map.remove(&k);
            evicted += 1;
        }
        self.tick += 1;
        self.map.insert(src, (p, self.tick));
        evicted
    }
}

pub(crate) struct PipelineCache {
    device: wgpu::Device,
    counters: Arc<Counters>,
    pipelines: Mutex<Pipelines>,
    capacity: AtomicUsize,
    layouts: Mutex<HashMap<Vec<BindKind>, Layout>>,
}

impl PipelineCache {
    pub fn new(device: wgpu::Device, counters: Arc<Counters>) -> Self {
        PipelineCache {
            device,
            counters,
            pipelines: Mutex::new(Pipelines::default()),
            capacity: AtomicUsize::new(DEFAULT_PIPELINE_CAPACITY),
            layouts: Mutex::new(HashMap::new()),
        }
    }

    /// At most `n` pipelines are kept (a plan keeps its own alive regardless).
    pub fn set_capacity(&self, n: usize) {
        self.capacity.store(n, Ordering::Relaxed);
    }

    /// Drops every cached pipeline (plans still hold their own).
    pub fn clear(&self) {
        self.pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .clear();
    }

    /// How many pipelines are cached now.
    pub fn len(&self) -> usize {
        self.pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .len()
    }

    pub fn layout(&self, kinds: &[BindKind]) -> Layout {
        let mut layouts = self.layouts.lock().unwrap_or_else(|e| e.into_inner());
        layouts
            .entry(kinds.to_vec())
            .or_insert_with(|| {
                let entries: Vec<_> = kinds
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| **k != BindKind::Unused)
                    .map(|(i, k)| wgpu::BindGroupLayoutEntry {
                        binding: i as u32,
                        visibility: wgpu::ShaderStages::COMPUTE,
                        ty: wgpu::BindingType::Buffer {
                            ty: match k {
                                BindKind::Read => {
                                    wgpu::BufferBindingType::Storage { read_only: true }
                                }
                                BindKind::ReadWrite => {
                                    wgpu::BufferBindingType::Storage { read_only: false }
                                }
                                BindKind::Uniform | BindKind::Unused => {
                                    wgpu::BufferBindingType::Uniform
                                }
                            },
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    })
                    .collect();
                let bgl = self
                    .device
                    .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                        label: Some("shadergrad"),
                        entries: &entries,
                    });
                let pl = self
                    .device
                    .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: Some("shadergrad"),
                        bind_group_layouts: &[Some(&bgl)],
                        immediate_size: 0,
                    });
                Arc::new((bgl, pl))
            })
            .clone()
    }

    pub fn sources(&self) -> Vec<(String, String, String)> {
        self.pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .keys()
            .map(|k| (k.name.to_string(), k.entry.to_string(), k.wgsl.to_string()))
            .collect()
    }

    /// Fails with `LimitExceeded` when `src` binds more buffers of a kind than
    /// the device allows: said by name, not as an invalid pipeline layout.
    fn check_limits(&self, src: &KernelSource) -> Result<()> {
        let limits = self.device.limits();
        let count = |f: fn(&BindKind) -> bool| src.layout.iter().filter(|k| f(k)).count() as u64;
        let storage = count(|k| matches!(k, BindKind::Read | BindKind::ReadWrite));
        let uniform = count(|k| matches!(k, BindKind::Uniform));
        for (limit, need, have) in [
            (
                "max_storage_buffers_per_shader_stage",
                storage,
                limits.max_storage_buffers_per_shader_stage,
            ),
            (
                "max_uniform_buffers_per_shader_stage",
                uniform,
                limits.max_uniform_buffers_per_shader_stage,
            ),
            (
                "max_bindings_per_bind_group",
                storage + uniform,
                limits.max_bindings_per_bind_group,
            ),
        ] {
            if need > have as u64 {
                return Err(Error::LimitExceeded {
                    kernel: format!("{}::{}", src.name, src.entry),
                    limit,
                    need,
                    have: have as u64,
                });
            }
        }
        Ok(())
    }

    /// The pipeline for `src`, compiling it on first use. A shader that fails to
    /// compile is an error value carrying the compiler's message, never a panic.
    pub fn get(&self, src: &KernelSource) -> Result<Arc<wgpu::ComputePipeline>> {
        if let Some(p) = self
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(src)
        {
            return Ok(p);
        }
        self.check_limits(src)?;
        let layout = self.layout(&src.layout);
        let constants: Vec<(&str, f64)> = src
            .constants
            .iter()
            .map(|&(k, v)| (k, f64::from_bits(v)))
            .collect();
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let wgsl = if self.device.features().contains(wgpu::Features::SUBGROUP) {
            std::borrow::Cow::Borrowed(src.wgsl.as_ref())
        } else {
            std::borrow::Cow::Owned(crate::kernels::without_subgroups(&src.wgsl))
        };
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(src.name),
                source: wgpu::ShaderSource::Wgsl(wgsl.clone()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(src.name),
                layout: Some(&layout.1),
                module: &module,
                entry_point: Some(src.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    // Every kernel initialises the workgroup memory it reads.
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        let failed = [
            pollster::block_on(oom.pop()),
            pollster::block_on(validation.pop()),
        ];
        if let Some(err) = failed.into_iter().flatten().next() {
            return Err(pipeline_failure(src, &wgsl, &err));
        }
        self.counters.add(&self.counters.pipelines_compiled, 1);
        let pipeline = Arc::new(pipeline);
        let capacity = self.capacity.load(Ordering::Relaxed);
        let evicted = self
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(src.clone(), pipeline.clone(), capacity);
        self.counters.add(&self.counters.pipelines_evicted, evicted);
        Ok(pipeline)
    }
}
