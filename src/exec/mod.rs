//! Executor: runs a plan. Every dispatch of one realize goes into one command
//! encoder and one compute pass, and the readback copy (if any) into the same
//! encoder: one submit per realize. A graph seen before replays its cached plan:
//! no planning, no compiling, no allocation beyond the outputs (which the pool
//! recycles), bind groups reused.
//!
//! The executor's per-device state (plan cache, pending work, profile, the
//! realize lock) is its own: it lives in the device's executor slot.

mod bind_groups;
mod encode;
mod status;

pub(crate) use bind_groups::BindGroups;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::device::Device;
use crate::error::{Error, GpuCause, Result};
use crate::graph::RunStatus;
use crate::plan::{self, Plan, collect};
use crate::pool::{BufferKind, GpuBuffer};
use crate::tensor::Tensor;
use crate::tuning::PlanOptions;

/// A graph's structure and the settings a plan bakes in.
type PlanKey = (Vec<u64>, PlanOptions);

/// Plans by graph structure and settings, least recently used dropped first.
#[derive(Default)]
struct PlanCache {
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

    /// Inserts `plan`; returns whether it evicted the least recently used.
    fn insert(&mut self, key: PlanKey, plan: Arc<Plan>, capacity: usize) -> bool {
        let mut evicted = false;
        if self.map.len() >= capacity
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
            evicted = true;
        }
        self.order.push_back(key.clone());
        self.map.insert(key, plan);
        evicted
    }

    /// When cached plans hold more than `budget` bind groups, drops the
    /// least recently used (never the newest, the one running) until they
    /// hold three quarters of it; returns how many it dropped.
    fn shed(&mut self, budget: u64, live: impl Fn() -> u64) -> u64 {
        if live() <= budget {
            return 0;
        }
        let mut dropped = 0;
        while live() > budget / 4 * 3
            && self.order.len() > 1
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
            dropped += 1;
        }
        dropped
    }

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

/// What the executor keeps per device.
#[derive(Default)]
struct Executor {
    plans: Mutex<PlanCache>,
    /// Which shapes the generated kernels bake in.
    shapes: plan::specialize::Specializer,
    /// Tensors the next realize must include (a loss and its gradients, an
    /// optimizer's in-place updates): so a whole training step is one submit.
    /// Per recording thread: each thread's realizes take its own, so one
    /// thread's failing step (a bad label skips a submit's updates) never
    /// shares a submit with another's.
    pending: Mutex<Vec<(std::thread::ThreadId, Tensor)>>,
    profiling: AtomicBool,
    /// The per-dispatch GPU times of the last profiled realize.
    profile: Mutex<Vec<KernelTime>>,
    /// Held for the whole of a realize: a cached plan's scalar buffer, the
    /// status word are per device, so two threads
    /// realizing on one device take turns.
    realize_lock: Mutex<()>,
}

fn executor(dev: &Device) -> &Executor {
    dev.executor_state(Executor::default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One dispatch's GPU time in a profiled realize.
#[derive(Clone, Debug)]
pub struct KernelTime {
    /// The op it computes (`conv2d.grad_weight`, `matmul`, `elementwise`...).
    pub op: &'static str,
    /// The node it computes was recorded by `backward()`: a gradient's own
    /// kernel (its fused elementwise ones included).
    pub backward: bool,
    /// The shader family and entry point that ran.
    pub kernel: &'static str,
    pub entry: &'static str,
    pub ms: f64,
}

impl Device {
    /// Realizes everything this thread recorded for the next step (loss,
    /// gradients, updates) in one submit.
    pub fn realize_pending(&self) -> Result<()> {
        run(self, &[], &[]).map(|_| ())
    }

    /// Times every dispatch with GPU timestamps (when the adapter has
    /// TIMESTAMP_QUERY; inside one pass with TIMESTAMP_QUERY_INSIDE_PASSES, else
    /// one pass per dispatch). Each realize then waits for the GPU.
    pub fn set_profiling(&self, on: bool) {
        executor(self).profiling.store(on, Ordering::Relaxed);
    }

    /// The per-dispatch GPU times of the last profiled realize (empty if the
    /// adapter has no timestamps).
    pub fn last_profile(&self) -> Vec<KernelTime> {
        lock(&executor(self).profile).clone()
    }

    /// Frees cached plans, pipelines and pooled buffers not in use.
    pub fn trim(&self) {
        lock(&executor(self).plans).clear();
        executor(self).shapes.clear();
        self.pipelines().clear();
        self.pool().trim();
    }

    pub(crate) fn add_pending(&self, tensors: Vec<Tensor>) {
        let me = std::thread::current().id();
        lock(&executor(self).pending).extend(tensors.into_iter().map(|t| (me, t)));
    }
}

/// A readback request: copy `bytes` of the buffer behind asked target
/// `target`.
struct Readback {
    target: usize,
    bytes: u64,
}

pub(crate) fn realize(dev: &Device, targets: &[&Tensor]) -> Result<()> {
    let ts: Vec<Tensor> = targets.iter().map(|t| (*t).clone()).collect();
    run(dev, &ts, &[]).map(|_| ())
}

/// Reads a tensor's bytes, realizing it first in the same submit.
pub(crate) fn read(t: &Tensor) -> Result<Vec<u8>> {
    Ok(read_all(&[t])?.pop().unwrap_or_default())
}

/// Reads several tensors' bytes (all on one device), realizing what they
/// need in the same submit: one submit and one wait for all of them.
pub(crate) fn read_all(ts: &[&Tensor]) -> Result<Vec<Vec<u8>>> {
    let Some(first) = ts.first() else {
        return Ok(Vec::new());
    };
    // A strided view is made contiguous (one fused copy) in the same submit.
    let cs: Vec<Tensor> = ts.iter().map(|t| t.contiguous()).collect::<Result<_>>()?;
    let reads: Vec<Readback> = cs
        .iter()
        .enumerate()
        .map(|(target, t)| Readback {
            target,
            bytes: (t.numel() * t.dtype().size_bytes()) as u64,
        })
        .collect();
    run(first.device(), &cs, &reads)
}

fn buffer_of(t: &Tensor) -> Option<Arc<GpuBuffer>> {
    t.0.state().buf.clone()
}

/// The tensors a realize computes, all on `dev`; lazy targets with no
/// elements get an empty buffer here.
fn targets_checked(dev: &Device, targets: Vec<Tensor>) -> Result<Vec<Tensor>> {
    for t in &targets {
        if t.device() != dev {
            return Err(Error::DeviceMismatch { op: "realize" });
        }
        if !t.is_realized() && t.numel() == 0 {
            t.0.set_realized(dev.pool().acquire(BufferKind::Storage, 4), &[]);
        }
    }
    Ok(targets)
}

/// `g`, grown by the lazy nodes recorded before one of its in-place updates to
/// read a buffer the update overwrites, and not in it: they are computed in
/// the same submit, before the updates, so they read what they were recorded
/// against.
fn with_stale_readers(g: collect::Graph, mut targets: Vec<Tensor>) -> collect::Graph {
    let mut stale: Vec<Tensor> = Vec::new();
    for (t, seq) in &g.written {
        for r in t.0.lazy_readers(*seq) {
            let known = g.members.contains_key(&Arc::as_ptr(&r.0))
                || stale.iter().any(|s| Arc::ptr_eq(&s.0, &r.0));
            if !known {
                stale.push(r);
            }
        }
    }
    if stale.is_empty() {
        return g;
    }
    targets.extend(stale);
    collect::collect(&targets)
}

/// The plan for `g`: replayed from the cache, or built (and cached).
fn plan_for(dev: &Device, g: &collect::Graph) -> Result<Arc<Plan>> {
    let opts = dev.plan_options();
    let key = (g.key.clone(), opts);
    let exec = executor(dev);
    let c = dev.counter_set();
    if opts.tuning.plan_cache
        && let Some(p) = lock(&exec.plans).get(&key)
    {
        c.add(&c.plans_replayed, 1);
        return Ok(p);
    }
    let p = Arc::new(plan::build(dev, g, &opts, &exec.shapes)?);
    c.add(&c.plans_built, 1);
    if lock(&exec.plans).insert(key, p.clone(), dev.plan_capacity()) {
        c.add(&c.plans_evicted, 1);
    }
    Ok(p)
}

/// Fresh output buffers for a run of `plan`, its scalars uploaded, and in
/// poison mode every buffer it writes filled with NaN.
fn prepare(dev: &Device, plan: &Plan, g: &collect::Graph) -> Vec<Arc<GpuBuffer>> {
    let outputs: Vec<Arc<GpuBuffer>> = plan
        .outputs
        .iter()
        .map(|&b| dev.pool().acquire(BufferKind::Storage, b))
        .collect();
    if let Some(sb) = &plan.scalars {
        let mut words = vec![0u32; plan.scalar_words];
        for &(gw, bw) in &plan.scalar_map {
            words[bw] = g.scalars[gw];
        }
        dev.queue()
            .write_buffer(&sb.buffer, 0, bytemuck::cast_slice(&words));
    }
    if dev.tuning().poison {
        for b in outputs.iter().chain(&plan.arena) {
            let nan = vec![0xFFu8; b.capacity as usize];
            dev.queue().write_buffer(&b.buffer, 0, &nan);
        }
    }
    outputs
}

/// The typed error for what the GPU reported about a submit of `steps`: the
/// kernel whose label wgpu's report quotes, else every kernel of the submit.
fn gpu_failure(steps: Option<&[plan::Step]>, e: &wgpu::Error) -> Error {
    let message = e.to_string();
    let steps = steps.unwrap_or(&[]);
    let quoted = steps
        .iter()
        .find(|s| message.contains(&format!("'{}'", s.name)));
    let kernel = match quoted {
        Some(s) => format!("{} ({}::{})", s.op, s.name, s.entry),
        None if steps.is_empty() => "readback".to_string(),
        None => {
            let mut ops: Vec<&str> = steps.iter().map(|s| s.op).collect();
            ops.dedup();
            format!(
                "a submit of {} dispatches ({})",
                steps.len(),
                ops.join(", ")
            )
        }
    };
    Error::GpuFailure {
        kernel,
        cause: GpuCause::of(e),
        message,
    }
}

/// What one realize ran: the collected graph, its plan, its output buffers,
/// its own status word, and which nodes depend on it.
struct Ran {
    graph: collect::Graph,
    plan: Arc<Plan>,
    outputs: Vec<Arc<GpuBuffer>>,
    own: Option<Arc<RunStatus>>,
    raised: Vec<bool>,
}

impl Ran {
    /// The status words node `n`'s value depends on.
    fn taint(&self, n: usize) -> Vec<Arc<RunStatus>> {
        let mask = self.graph.taint_mask[n];
        let mut words: Vec<Arc<RunStatus>> = (self.graph.taint.iter().enumerate())
            .filter(|(i, w)| mask & (1 << (*i).min(63)) != 0 && !w.clear())
            .map(|(_, w)| w.clone())
            .collect();
        if self.raised[n] {
            words.extend(self.own.clone());
        }
        words
    }

    /// The buffer holding `t` after this run, if it computed it.
    fn buffer(&self, t: &Tensor) -> Option<Arc<GpuBuffer>> {
        let pos = self
            .graph
            .target_tensors
            .iter()
            .position(|x| Arc::ptr_eq(&x.0, &t.0))?;
        self.plan.target_output[pos].map(|o| self.outputs[o].clone())
    }
}

/// Copies `bytes` of `src`, then the status words its value depends on, into
/// a staging buffer in the same encoder; returns it with the words' offset.
fn copy_back(
    dev: &Device,
    encoder: &mut wgpu::CommandEncoder,
    src: &GpuBuffer,
    bytes: u64,
    words: &[Arc<RunStatus>],
) -> (Arc<GpuBuffer>, u64) {
    let data = bytes.div_ceil(8) * 8;
    let staging = dev
        .pool()
        .acquire(BufferKind::Readback, data + status::bytes(words));
    if bytes > 0 {
        encoder.copy_buffer_to_buffer(&src.buffer, 0, &staging.buffer, 0, bytes.div_ceil(4) * 4);
    }
    status::copy_words(encoder, words, &staging, data);
    (staging, data)
}

/// Collects, plans and encodes the lazy targets.
fn launch(
    dev: &Device,
    lazy: Vec<Tensor>,
    encoder: &mut wgpu::CommandEncoder,
) -> Result<(Ran, Option<encode::Stamps>)> {
    let graph = with_stale_readers(collect::collect(&lazy), lazy);
    status::bound(dev, &graph.taint, !graph.written.is_empty())?;
    let plan = plan_for(dev, &graph)?;
    let own = plan.uses_status.then(|| status::fresh(dev));
    let word = own.as_ref().and_then(|w| w.buffer.lock().ok()?.clone());
    // Which nodes depend on a kernel that can raise this realize's word.
    let mut raised = vec![false; graph.nodes.len()];
    plan.raises.iter().for_each(|&n| raised[n] = true);
    for i in 0..graph.nodes.len() {
        raised[i] |= graph.nodes[i].src.iter().any(|&s| raised[s]);
    }
    let outputs = prepare(dev, &plan, &graph);
    let profile = executor(dev).profiling.load(Ordering::Relaxed);
    let stamps = encode::encode(
        dev,
        &plan,
        &graph,
        &outputs,
        word.as_deref(),
        encoder,
        profile,
    );
    let c = dev.counter_set();
    let live = || c.bind_groups_live.load(Ordering::Relaxed);
    let shed = lock(&executor(dev).plans).shed(dev.bind_group_capacity(), live);
    c.add(&c.plans_evicted, shed);
    let ran = Ran {
        graph,
        plan,
        outputs,
        own,
        raised,
    };
    Ok((ran, stamps))
}

fn run(dev: &Device, asked: &[Tensor], reads: &[Readback]) -> Result<Vec<Vec<u8>>> {
    let exec = executor(dev);
    let _turn = lock(&exec.realize_lock);
    loop {
        let first = updates_before_late_reads(&mine(exec, false));
        if first.is_empty() {
            break;
        }
        lock(&exec.pending).retain(|(_, p)| !first.iter().any(|u| Arc::ptr_eq(&u.0, &p.0)));
        submit(dev, first, &[])?;
    }
    let mut targets = asked.to_vec();
    for p in mine(exec, true) {
        if !targets.iter().any(|t| Arc::ptr_eq(&t.0, &p.0)) {
            targets.push(p);
        }
    }
    submit(dev, targets, reads)
}

/// The calling thread's pending tensors (taken out of the list with `take`).
fn mine(exec: &Executor, take: bool) -> Vec<Tensor> {
    let me = std::thread::current().id();
    let mut pending = lock(&exec.pending);
    let own = pending
        .iter()
        .filter(|(t, _)| *t == me)
        .map(|(_, p)| p.clone())
        .collect();
    if take {
        pending.retain(|(t, _)| *t != me);
    }
    own
}

/// Overwrites realized `dst` with `src`'s values, in place (its buffer, so
/// every holder of `dst` sees them). Everything recorded before reads `dst`
/// as it was: pending work and `dst`'s lazy readers run first.
pub(crate) fn copy_into(dst: &Tensor, src: &Tensor) -> Result<()> {
    let dev = dst.device();
    src.same_device("copy_from", &[dst])?;
    let readers = dst.0.lazy_readers(u64::MAX);
    let mut first: Vec<Tensor> = readers;
    first.push(src.clone());
    run(dev, &first, &[])?;
    let (Some(to), Some(from)) = (buffer_of(dst), buffer_of(src)) else {
        return Err(Error::InvalidArgument {
            op: "copy_from",
            shape: dst.shape().to_vec(),
            msg: "the target must be realized (a parameter or a loaded value)".into(),
        });
    };
    let _turn = lock(&executor(dev).realize_lock);
    let bytes = dst.nbytes().div_ceil(4) * 4;
    let mut encoder = dev
        .wgpu_device()
        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("shadergrad copy"),
        });
    encoder.copy_buffer_to_buffer(&from.buffer, 0, &to.buffer, 0, bytes);
    dev.queue().submit([encoder.finish()]);
    let c = dev.counter_set();
    c.add(&c.submits, 1);
    Ok(())
}

/// The pending in-place updates that must run before the rest: a lazy node
/// recorded after an update reads a buffer it writes (a new forward pass
/// after `record()`, the next step's update), so the updates recorded before
/// that node's first such read run first, in a submit of their own, and it
/// reads what they wrote. (The planner runs a submit's updates last.)
fn updates_before_late_reads(pending: &[Tensor]) -> Vec<Tensor> {
    let Some(first_late) = pending.iter().filter_map(late_read).min() else {
        return Vec::new();
    };
    pending
        .iter()
        .filter(|u| u.is_update() && u.0.seq < first_late)
        .cloned()
        .collect()
}

/// When a lazy node recorded after update `u` first reads a buffer `u` writes.
fn late_read(u: &Tensor) -> Option<u64> {
    // The parameter, then the rule's state (after gradient and scale); the
    // update's own lock is let go before other nodes' are taken.
    let written: Vec<Tensor> = {
        let st = u.0.state();
        let Some(crate::graph::Op::Update { .. }) = &st.op else {
            return None;
        };
        st.src[..1]
            .iter()
            .chain(st.src.iter().skip(3))
            .cloned()
            .collect()
    };
    written
        .iter()
        .filter_map(|w| w.buffer_node()?.first_reader_after(u.0.seq))
        .min()
}

/// Realizes `targets` (the asked ones first) in one submit, reading back
/// those `reads` asks for.
fn submit(dev: &Device, targets: Vec<Tensor>, reads: &[Readback]) -> Result<Vec<Vec<u8>>> {
    let exec = executor(dev);
    let targets = targets_checked(dev, targets)?;
    let lazy: Vec<Tensor> = targets
        .iter()
        .filter(|t| !t.is_realized())
        .cloned()
        .collect();
    if lazy.is_empty() && reads.is_empty() {
        return Ok(Vec::new());
    }
    let wgpu_dev = dev.wgpu_device();
    let validation = wgpu_dev.push_error_scope(wgpu::ErrorFilter::Validation);
    let oom = wgpu_dev.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
    let mut encoder = wgpu_dev.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("shadergrad realize"),
    });
    let (ran, stamps) = match lazy.is_empty() {
        true => (None, None),
        false => {
            let (ran, stamps) = launch(dev, lazy, &mut encoder)?;
            (Some(ran), stamps)
        }
    };
    // The readback copies ride in the same encoder, after the pass.
    let staging: Vec<_> = reads
        .iter()
        .map(|rb| {
            let t = &targets[rb.target];
            let computed = ran.as_ref().and_then(|r| {
                let n = r.graph.members.get(&Arc::as_ptr(&t.0))?;
                Some((r.buffer(t)?, r.taint(*n)))
            });
            let (src, words) = computed.unwrap_or_else(|| {
                (
                    buffer_of(t).expect("a read target is realized"),
                    t.0.taint(),
                )
            });
            let (staging, at) = copy_back(dev, &mut encoder, &src, rb.bytes, &words);
            (staging, at, words)
        })
        .collect();
    // Timestamps resolve into a buffer and ride to the CPU in the same submit.
    let stamp_read = stamps.map(|s| {
        let bytes = s.count as u64 * 8;
        let resolved = dev.pool().acquire(BufferKind::Query, bytes);
        let staging = dev.pool().acquire(BufferKind::Readback, bytes);
        encoder.resolve_query_set(&s.set, 0..s.count, &resolved.buffer, 0);
        encoder.copy_buffer_to_buffer(&resolved.buffer, 0, &staging.buffer, 0, bytes);
        (staging, bytes)
    });
    dev.queue().submit([encoder.finish()]);
    let c = dev.counter_set();
    c.add(&c.submits, 1);
    if let (Some((staging, bytes)), Some(r)) = (stamp_read, &ran) {
        *lock(&exec.profile) = read_profile(dev, &r.plan, &staging, bytes)?;
    }
    let failed = [
        pollster::block_on(oom.pop()),
        pollster::block_on(validation.pop()),
    ];
    if let Some(e) = failed.into_iter().flatten().next() {
        return Err(gpu_failure(ran.as_ref().map(|r| &r.plan.steps[..]), &e));
    }
    // The targets now hold their outputs; their recorded ops (and the graph
    // under them) are dropped.
    if let Some(r) = &ran {
        for (p, t) in r.graph.target_tensors.iter().enumerate() {
            if let Some(o) = r.plan.target_output[p] {
                t.0.set_realized(r.outputs[o].clone(), &r.taint(r.graph.targets[p]));
            }
        }
    }
    let mut out = Vec::with_capacity(reads.len());
    for ((staging, at, words), rb) in staging.into_iter().zip(reads) {
        let raw = map_read(dev, &staging, at + status::bytes(&words))?;
        status::check(&words, &raw[at as usize..])?;
        out.push(raw[..rb.bytes as usize].to_vec());
    }
    Ok(out)
}

/// The per-dispatch times of a profiled run.
fn read_profile(
    dev: &Device,
    plan: &Plan,
    staging: &GpuBuffer,
    bytes: u64,
) -> Result<Vec<KernelTime>> {
    let raw = map_read(dev, staging, bytes)?;
    let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&raw);
    let period = dev.queue().get_timestamp_period() as f64;
    Ok(plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| KernelTime {
            op: s.op,
            backward: s.backward,
            kernel: s.name,
            entry: s.entry,
            ms: ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * period / 1e6,
        })
        .collect())
}

/// Maps a readback buffer, waits for the GPU, and copies the bytes out.
pub(crate) fn map_read(dev: &Device, staging: &GpuBuffer, len: u64) -> Result<Vec<u8>> {
    let slice = staging.buffer.slice(0..len);
    let (tx, rx) = futures::channel::oneshot::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    dev.wgpu_device()
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
