//! Executor: runs a plan. Every dispatch of one realize goes into one command
//! encoder and one compute pass, and the readback copy (if any) into the same
//! encoder: one submit per realize. A graph seen before replays its cached plan:
//! no planning, no compiling, no allocation beyond the outputs (which the pool
//! recycles), bind groups reused.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::expr::{STATUS_CLASS_INDEX, STATUS_GATHER};
use crate::plan::{self, BufRef, Plan, PlanOptions, Step, collect};
use crate::pool::{BufferKind, GpuBuffer};
use crate::tensor::Tensor;

const PLAN_CACHE_CAPACITY: usize = 256;
const BIND_GROUPS_PER_STEP: usize = 4;

/// A graph's structure and the settings a plan bakes in.
type PlanKey = (Vec<u64>, PlanOptions);

/// Plans by graph structure and settings, least recently used dropped first.
#[derive(Default)]
pub(crate) struct PlanCache {
    map: HashMap<PlanKey, Arc<Plan>>,
    order: VecDeque<PlanKey>,
}

impl PlanCache {
    fn get(&mut self, key: &PlanKey) -> Option<Arc<Plan>> {
        let plan = self.map.get(key)?.clone();
        if let Some(pos) = self.order.iter().position(|k| k == key) {
            let k = self.order.remove(pos).expect("present");
            self.order.push_back(k);
        }
        Some(plan)
    }

    fn insert(&mut self, key: PlanKey, plan: Arc<Plan>) {
        if self.map.len() >= PLAN_CACHE_CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
        }
        self.order.push_back(key.clone());
        self.map.insert(key, plan);
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

/// One dispatch's GPU time in a profiled realize.
#[derive(Clone, Debug)]
pub struct KernelTime {
    pub kernel: &'static str,
    pub entry: &'static str,
    pub ms: f64,
}

/// A readback request: copy `bytes` of the buffer behind a target.
struct Readback {
    target: usize,
    bytes: u64,
}

pub(crate) fn realize(dev: &Device, targets: &[&Tensor]) -> Result<()> {
    let ts: Vec<Tensor> = targets.iter().map(|t| (*t).clone()).collect();
    run(dev, &ts, None).map(|_| ())
}

/// Reads a tensor's bytes, realizing it first in the same submit.
pub(crate) fn read(t: &Tensor) -> Result<Vec<u8>> {
    let bytes = (t.numel() * t.dtype().size_bytes()) as u64;
    // A strided view is made contiguous (one fused copy) in the same submit.
    let c = t.contiguous()?;
    let out = run(t.device(), &[c], Some(Readback { target: 0, bytes }))?;
    Ok(out.unwrap_or_default())
}

fn buffer_of(t: &Tensor) -> Option<Arc<GpuBuffer>> {
    t.0.state().buf.clone()
}

fn run(dev: &Device, asked: &[Tensor], readback: Option<Readback>) -> Result<Option<Vec<u8>>> {
    let _turn = dev.0.realize_lock.lock().unwrap_or_else(|e| e.into_inner());
    // What backward and optimizer steps left for this realize joins it, after
    // the tensors asked for (so `readback.target` still indexes those).
    let mut targets = asked.to_vec();
    for p in dev.take_pending() {
        if !targets.iter().any(|t| Arc::ptr_eq(&t.0, &p.0)) {
            targets.push(p);
        }
    }
    let targets = &targets[..];
    for t in targets {
        if t.device() != dev {
            return Err(Error::DeviceMismatch { op: "realize" });
        }
    }
    let inner = &dev.0;
    // Lazy targets with no elements need no kernel: give them an empty buffer.
    for t in targets {
        if !t.is_realized() && t.numel() == 0 {
            t.0.set_realized(inner.pool.acquire(BufferKind::Storage, 4));
        }
    }
    let lazy: Vec<Tensor> = targets
        .iter()
        .filter(|t| !t.is_realized())
        .cloned()
        .collect();
    if lazy.is_empty() && readback.is_none() {
        return Ok(None);
    }

    let validation = inner.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let oom = inner
        .device
        .push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let mut encoder = inner
        .device
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("shadergrad realize"),
        });

    let mut outputs: Vec<Arc<GpuBuffer>> = Vec::new();
    let mut graph = None;
    let mut stamps: Option<(Stamps, Arc<Plan>)> = None;
    if !lazy.is_empty() {
        let g = collect::collect(&lazy);
        let opts = PlanOptions::of(dev);
        let poison = opts.poison;
        let key = (g.key.clone(), opts);
        let cached = if dev.plan_cache() {
            inner
                .plans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
        } else {
            None
        };
        let plan = match cached {
            Some(p) => {
                inner.counters.add(&inner.counters.plans_replayed, 1);
                p
            }
            None => {
                let p = Arc::new(plan::build(dev, &g, &opts)?);
                inner.counters.add(&inner.counters.plans_built, 1);
                inner
                    .plans
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, p.clone());
                p
            }
        };
        outputs = plan
            .outputs
            .iter()
            .map(|&b| inner.pool.acquire(BufferKind::Storage, b))
            .collect();
        if let Some(sb) = &plan.scalars {
            let mut words = vec![0u32; plan.scalar_words];
            for &(gw, bw) in &plan.scalar_map {
                words[bw] = g.scalars[gw];
            }
            inner
                .queue
                .write_buffer(&sb.buffer, 0, bytemuck::cast_slice(&words));
        }
        if poison {
            for b in outputs.iter().chain(&plan.arena) {
                let nan = vec![0xFFu8; b.capacity as usize];
                inner.queue.write_buffer(&b.buffer, 0, &nan);
            }
        }
        stamps = encode(dev, &plan, &g, &outputs, &mut encoder).map(|s| (s, plan.clone()));
        graph = Some((g, plan));
    }

    // The readback copy rides in the same encoder, after the pass.
    let staging = match &readback {
        Some(rb) => {
            let src = match &graph {
                Some((g, plan)) => {
                    let pos = g
                        .target_tensors
                        .iter()
                        .position(|t| Arc::ptr_eq(&t.0, &targets[rb.target].0));
                    match pos.and_then(|p| plan.target_output[p]) {
                        Some(o) => outputs[o].clone(),
                        None => buffer_of(&targets[rb.target]).expect("realized"),
                    }
                }
                None => buffer_of(&targets[rb.target]).expect("realized"),
            };
            let data = rb.bytes.div_ceil(8) * 8;
            let staging = inner.pool.acquire(BufferKind::Readback, data + 8);
            if rb.bytes > 0 {
                encoder.copy_buffer_to_buffer(
                    &src.buffer,
                    0,
                    &staging.buffer,
                    0,
                    rb.bytes.div_ceil(4) * 4,
                );
            }
            encoder.copy_buffer_to_buffer(&inner.status.buffer, 0, &staging.buffer, data, 4);
            Some((staging, data))
        }
        None => None,
    };

    // Timestamps resolve into a buffer and ride to the CPU in the same submit.
    let stamp_read = stamps.as_ref().map(|(s, plan)| {
        let bytes = s.count as u64 * 8;
        let resolved = inner.pool.acquire(BufferKind::Query, bytes);
        let staging = inner.pool.acquire(BufferKind::Readback, bytes);
        encoder.resolve_query_set(&s.set, 0..s.count, &resolved.buffer, 0);
        encoder.copy_buffer_to_buffer(&resolved.buffer, 0, &staging.buffer, 0, bytes);
        (staging, bytes, plan.clone())
    });
    inner.queue.submit([encoder.finish()]);
    inner.counters.add(&inner.counters.submits, 1);
    if let Some((staging, bytes, plan)) = stamp_read {
        let raw = map_read(dev, &staging, bytes)?;
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&raw);
        let period = inner.queue.get_timestamp_period() as f64;
        let times = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| KernelTime {
                kernel: s.name,
                entry: s.entry,
                ms: ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period / 1e6,
            })
            .collect();
        *inner.profile.lock().unwrap_or_else(|e| e.into_inner()) = times;
    }
    if let Some(e) = pollster::block_on(oom.pop()) {
        return Err(Error::Gpu(format!("out of memory: {e}")));
    }
    if let Some(e) = pollster::block_on(validation.pop()) {
        return Err(Error::Gpu(e.to_string()));
    }

    // The targets now hold their outputs; their recorded ops (and the graph
    // under them) are dropped.
    if let Some((g, plan)) = &graph {
        for (p, t) in g.target_tensors.iter().enumerate() {
            if let Some(o) = plan.target_output[p] {
                t.0.set_realized(outputs[o].clone());
            }
        }
    }

    match staging {
        Some((staging, data)) => {
            let bytes = map_read(dev, &staging, data + 8)?;
            let status = u32::from_le_bytes(
                bytes[data as usize..data as usize + 4]
                    .try_into()
                    .expect("4 bytes"),
            );
            if status != 0 {
                inner
                    .queue
                    .write_buffer(&inner.status.buffer, 0, &[0u8; 16]);
                let op = if status & STATUS_GATHER != 0 {
                    "gather"
                } else if status & STATUS_CLASS_INDEX != 0 {
                    "class index (one_hot / cross_entropy)"
                } else {
                    "kernel"
                };
                return Err(Error::IndexOutOfRange { op });
            }
            let len = readback.map(|r| r.bytes).unwrap_or(0) as usize;
            Ok(Some(bytes[..len].to_vec()))
        }
        None => Ok(None),
    }
}

/// Records every step of `plan` into one compute pass.
/// Timestamps of a profiled realize: the query set and, per step, its start
/// and end query.
struct Stamps {
    set: wgpu::QuerySet,
    count: u32,
}

fn encode(
    dev: &Device,
    plan: &Plan,
    g: &collect::Graph,
    outputs: &[Arc<GpuBuffer>],
    encoder: &mut wgpu::CommandEncoder,
) -> Option<Stamps> {
    let inner = &dev.0;
    let resolve = |r: BufRef| -> &GpuBuffer {
        match r {
            BufRef::Leaf(k) => &g.leaves[k],
            BufRef::Output(k) => &outputs[k],
            BufRef::Slot(k) => &plan.arena[k],
            BufRef::Meta => plan.meta.as_ref().expect("plan has meta"),
            BufRef::Scalars => plan.scalars.as_ref().expect("plan has scalars"),
            BufRef::Status => &inner.status,
        }
    };
    inner
        .counters
        .add(&inner.counters.dispatches, plan.steps.len() as u64);
    let caps = dev.caps();
    let count = (plan.steps.len() * 2) as u32;
    let profile =
        dev.profiling() && caps.timestamps && count > 0 && count <= wgpu::QUERY_SET_MAX_QUERIES;
    if !profile {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("shadergrad"),
            timestamp_writes: None,
        });
        for step in &plan.steps {
            let bg = bind_group(dev, step, &resolve);
            pass.set_pipeline(&step.pipeline);
            pass.set_bind_group(0, &bg, &[]);
            let [x, y, z] = step.workgroups;
            pass.dispatch_workgroups(x, y, z);
        }
        return None;
    }
    // Profiling: a timestamp before and after every dispatch, inside one pass
    // where the adapter allows it, else one pass per dispatch.
    let set = inner.device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("shadergrad profile"),
        ty: wgpu::QueryType::Timestamp,
        count,
    });
    if caps.timestamps_in_passes {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("shadergrad"),
            timestamp_writes: None,
        });
        for (i, step) in plan.steps.iter().enumerate() {
            let bg = bind_group(dev, step, &resolve);
            pass.set_pipeline(&step.pipeline);
            pass.set_bind_group(0, &bg, &[]);
            pass.write_timestamp(&set, 2 * i as u32);
            let [x, y, z] = step.workgroups;
            pass.dispatch_workgroups(x, y, z);
            pass.write_timestamp(&set, 2 * i as u32 + 1);
        }
    } else {
        for (i, step) in plan.steps.iter().enumerate() {
            let bg = bind_group(dev, step, &resolve);
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("shadergrad"),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &set,
                    beginning_of_pass_write_index: Some(2 * i as u32),
                    end_of_pass_write_index: Some(2 * i as u32 + 1),
                }),
            });
            pass.set_pipeline(&step.pipeline);
            pass.set_bind_group(0, &bg, &[]);
            let [x, y, z] = step.workgroups;
            pass.dispatch_workgroups(x, y, z);
        }
    }
    Some(Stamps { set, count })
}

/// The step's bind group for these buffers: reused when the same buffers
/// come back (a cached plan replayed on recycled outputs).
fn bind_group<'a>(
    dev: &Device,
    step: &Step,
    resolve: &impl Fn(BufRef) -> &'a GpuBuffer,
) -> wgpu::BindGroup {
    let ids: Vec<u64> = step.bindings.iter().map(|b| resolve(b.buf).id).collect();
    let mut cache = step.bind_groups.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(pos) = cache.iter().position(|(k, _)| *k == ids) {
        let entry = cache.remove(pos);
        let bg = entry.1.clone();
        cache.push(entry);
        return bg;
    }
    let entries: Vec<wgpu::BindGroupEntry> = step
        .bindings
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &resolve(b.buf).buffer,
                offset: b.offset,
                size: std::num::NonZeroU64::new(b.size),
            }),
        })
        .collect();
    let bg = dev.0.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(step.name),
        layout: &step.layout.0,
        entries: &entries,
    });
    dev.0.counters.add(&dev.0.counters.bind_groups_created, 1);
    if cache.len() >= BIND_GROUPS_PER_STEP {
        cache.remove(0);
    }
    cache.push((ids, bg.clone()));
    bg
}

/// Maps a readback buffer, waits for the GPU, and copies the bytes out.
fn map_read(dev: &Device, staging: &GpuBuffer, len: u64) -> Result<Vec<u8>> {
    let slice = staging.buffer.slice(0..len);
    let (tx, rx) = futures::channel::oneshot::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    dev.0
        .device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
    pollster::block_on(rx)
        .map_err(|_| Error::Gpu("readback was cancelled".into()))?
        .map_err(|e| Error::Gpu(format!("mapping the readback buffer: {e}")))?;
    let bytes = slice
        .get_mapped_range()
        .map_err(|e| Error::Gpu(format!("reading the mapped buffer: {e}")))?
        .to_vec();
    staging.buffer.unmap();
    Ok(bytes)
}
