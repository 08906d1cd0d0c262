//! BufferPool: GPU buffers are recycled by size class, so a training loop that
//! has run once allocates nothing more. A dropped tensor hands its buffer back.
//!
//! Reuse is safe without fences: every use of a buffer is ordered on the one
//! queue, so work submitted after a buffer returns runs after its last reader.
//!
//! Free buffers are bounded: past the larger of the pool's free capacity and
//! the most bytes ever live at once (what a steady loop reuses), the buffer
//! freed longest ago is released. A stream of ever-new sizes then holds a
//! bounded amount, where a training loop still allocates nothing.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::counters::Counters;

/// What a pooled buffer is for; buffers of different kinds never mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum BufferKind {
    /// Tensor storage: bound to kernels, copied to and from.
    Storage,
    /// CPU-readable landing place for readbacks.
    Readback,
    /// Kernel metadata and runtime scalars.
    Uniform,
    /// Where GPU timestamps are resolved before they are read back.
    Query,
}

impl BufferKind {
    fn usage(self) -> wgpu::BufferUsages {
        use wgpu::BufferUsages as U;
        match self {
            // Uniform too: a one-element tensor (a clipping scale, a loss
            // gradient) or the status word may be read as a uniform, which
            // spares a storage binding on a small device.
            BufferKind::Storage => U::STORAGE | U::UNIFORM | U::COPY_SRC | U::COPY_DST,
            BufferKind::Readback => U::MAP_READ | U::COPY_DST,
            BufferKind::Uniform => U::UNIFORM | U::COPY_DST,
            BufferKind::Query => U::QUERY_RESOLVE | U::COPY_SRC,
        }
    }
}

/// Rounds a request up to its size class: 256-byte steps while small, then
/// eight classes per power of two, so a reused buffer wastes at most 12.5%.
pub(crate) fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(4);
    if b <= 4096 {
        return b.div_ceil(256) * 256;
    }
    let step = (1u64 << (63 - b.leading_zeros())) / 8;
    b.div_ceil(step) * step
}

/// Free bytes kept by default, beyond which the oldest free buffer goes.
pub const DEFAULT_FREE_CAPACITY: u64 = 64 << 20;

/// A free buffer, the id it was created with, and the tick it was freed at.
type Free = (wgpu::Buffer, u64, u64);

/// Free buffers by (kind, size class).
#[derive(Default)]
struct FreeLists {
    lists: HashMap<(BufferKind, u64), Vec<Free>>,
    bytes: u64,
    tick: u64,
    /// `identity` of every buffer the pool made that is alive and was never
    /// handed to the host: the host cannot hold one of these, so a host
    /// buffer that compares equal comes from another wgpu instance.
    made: HashSet<u64>,
}

/// A wgpu buffer's identity within its instance (wgpu compares buffers by id).
fn identity(b: &wgpu::Buffer) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

impl FreeLists {
    fn pop(&mut self, key: (BufferKind, u64)) -> Option<(wgpu::Buffer, u64)> {
        let (b, id, _) = self.lists.get_mut(&key)?.pop()?;
        self.bytes -= key.1;
        Some((b, id))
    }

    fn push(&mut self, key: (BufferKind, u64), b: wgpu::Buffer, id: u64) {
        self.tick += 1;
        self.bytes += key.1;
        self.lists.entry(key).or_default().push((b, id, self.tick));
    }

    /// Releases the buffers freed longest ago until at most `cap` bytes are free.
    fn shrink(&mut self, cap: u64) {
        while self.bytes > cap {
            let oldest = self
                .lists
                .iter()
                .filter_map(|(k, v)| v.first().map(|e| (e.2, *k)))
                .min_by_key(|&(tick, _)| tick);
            let Some((_, key)) = oldest else { break };
            let list = self.lists.get_mut(&key).expect("present");
            let (gone, _, _) = list.remove(0);
            self.made.remove(&identity(&gone));
            if list.is_empty() {
                self.lists.remove(&key);
            }
            self.bytes -= key.1;
        }
    }
}

pub(crate) struct PoolInner {
    device: wgpu::Device,
    free: Mutex<FreeLists>,
    /// Free bytes kept at least (see the module docs).
    free_capacity: AtomicU64,
    counters: Arc<Counters>,
    next_id: AtomicU64,
}

#[derive(Clone)]
pub(crate) struct BufferPool(Arc<PoolInner>);

/// One GPU buffer and where it goes when dropped.
pub(crate) struct GpuBuffer {
    pub buffer: wgpu::Buffer,
    /// Bytes the buffer holds (its size class), at least what was asked for.
    pub capacity: u64,
    /// Names the underlying wgpu buffer for the life of the device (a recycled
    /// buffer keeps its id), so bind groups cached by id are found again.
    pub id: u64,
    kind: BufferKind,
    home: Option<Weak<PoolInner>>,
    /// Set when the buffer was handed to a host program: it must never be reused.
    exported: AtomicBool,
}

impl GpuBuffer {
    pub fn mark_exported(&self) {
        if !self.exported.swap(true, Ordering::AcqRel)
            && let Some(pool) = self.home.as_ref().and_then(Weak::upgrade)
        {
            pool.counters.live_sub(self.capacity);
            if let Ok(mut f) = pool.free.lock() {
                f.made.remove(&identity(&self.buffer));
            }
        }
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        if self.exported.load(Ordering::Acquire) {
            return;
        }
        if let Some(pool) = self.home.as_ref().and_then(Weak::upgrade) {
            pool.counters.live_sub(self.capacity);
            let cap = (pool.free_capacity.load(Ordering::Relaxed))
                .max(pool.counters.peak_bytes_live.load(Ordering::Relaxed));
            if let Ok(mut free) = pool.free.lock() {
                free.push((self.kind, self.capacity), self.buffer.clone(), self.id);
                free.shrink(cap);
            }
        }
    }
}

impl BufferPool {
    pub fn new(device: wgpu::Device, counters: Arc<Counters>) -> BufferPool {
        BufferPool(Arc::new(PoolInner {
            device,
            free: Mutex::new(FreeLists::default()),
            free_capacity: AtomicU64::new(DEFAULT_FREE_CAPACITY),
            counters,
            next_id: AtomicU64::new(1),
        }))
    }

    /// A buffer of at least `bytes`, recycled when one of its class is free.
    pub fn acquire(&self, kind: BufferKind, bytes: u64) -> Arc<GpuBuffer> {
        let capacity = size_class(bytes);
        let p = &self.0;
        let reused = p.free.lock().ok().and_then(|mut f| f.pop((kind, capacity)));
        let (buffer, id) = reused.unwrap_or_else(|| {
            p.counters.add(&p.counters.buffers_created, 1);
            p.counters.add(&p.counters.bytes_allocated, capacity);
            let b = p.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("shadergrad"),
                size: capacity,
                usage: kind.usage(),
                mapped_at_creation: false,
            });
            if let Ok(mut f) = p.free.lock() {
                f.made.insert(identity(&b));
            }
            (b, p.next_id.fetch_add(1, Ordering::Relaxed))
        });
        p.counters.live_add(capacity);
        Arc::new(GpuBuffer {
            buffer,
            capacity,
            id,
            kind,
            home: Some(Arc::downgrade(p)),
            exported: AtomicBool::new(false),
        })
    }

    /// Wraps a buffer the host program owns; it is never pooled or counted.
    pub fn wrap_external(&self, buffer: wgpu::Buffer) -> Arc<GpuBuffer> {
        Arc::new(GpuBuffer {
            capacity: buffer.size(),
            buffer,
            id: self.0.next_id.fetch_add(1, Ordering::Relaxed),
            kind: BufferKind::Storage,
            home: None,
            exported: AtomicBool::new(true),
        })
    }

    /// Whether `b` is one of the pool's own buffers that was never handed out.
    pub fn made_unexported(&self, b: &wgpu::Buffer) -> bool {
        self.0
            .free
            .lock()
            .map(|f| f.made.contains(&identity(b)))
            .unwrap_or(false)
    }

    /// Releases every free buffer to the driver.
    pub fn trim(&self) {
        if let Ok(mut f) = self.0.free.lock() {
            f.shrink(0);
        }
    }

    pub fn set_free_capacity(&self, bytes: u64) {
        self.0.free_capacity.store(bytes, Ordering::Relaxed);
    }

    /// Bytes held by free buffers.
    pub fn free_bytes(&self) -> u64 {
        self.0.free.lock().map(|f| f.bytes).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_round_up_with_bounded_waste() {
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(4096), 4096);
        for b in [4097u64, 10_000, 1 << 20, 3 << 20, 123_456_789] {
            let c = size_class(b);
            assert!(c >= b && (c - b) * 8 <= b, "{b} -> {c}");
        }
    }
}
