//! What the device did: submits, dispatches, compiles, allocations. Tests assert on
//! these (one submit per realize, no compile or allocation once a loop is warm).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub submits: AtomicU64,
    pub dispatches: AtomicU64,
    pub pipelines_compiled: AtomicU64,
    pub pipelines_evicted: AtomicU64,
    pub plans_evicted: AtomicU64,
    pub buffers_created: AtomicU64,
    pub bytes_allocated: AtomicU64,
    pub bytes_live: AtomicU64,
    pub peak_bytes_live: AtomicU64,
    pub plans_built: AtomicU64,
    pub plans_replayed: AtomicU64,
    pub bind_groups_created: AtomicU64,
    pub bind_groups_live: AtomicU64,
    pub ops_recorded: AtomicU64,
}

/// A copy of the device's counters at one moment; subtract two to see what a step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub submits: u64,
    pub dispatches: u64,
    pub pipelines_compiled: u64,
    /// Pipelines dropped from the cache, least recently used first.
    pub pipelines_evicted: u64,
    /// Pipelines cached now.
    pub pipelines_cached: u64,
    /// Plans dropped from the plan cache, least recently used first.
    pub plans_evicted: u64,
    pub buffers_created: u64,
    /// Bytes of every buffer ever created.
    pub bytes_allocated: u64,
    /// Bytes of buffers held by tensors and cached plans now (free pool buffers excluded).
    pub bytes_live: u64,
    pub peak_bytes_live: u64,
    /// Bytes of free buffers the pool keeps for reuse now.
    pub bytes_free: u64,
    pub plans_built: u64,
    pub plans_replayed: u64,
    pub bind_groups_created: u64,
    /// Bind groups cached plans hold now.
    pub bind_groups_live: u64,
    /// Lazy ops recorded (graph nodes created by ops).
    pub ops_recorded: u64,
}

impl Counters {
    pub fn add(&self, c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }

    pub fn live_add(&self, n: u64) {
        let now = self.bytes_live.fetch_add(n, Relaxed) + n;
        self.peak_bytes_live.fetch_max(now, Relaxed);
    }

    pub fn live_sub(&self, n: u64) {
        self.bytes_live.fetch_sub(n, Relaxed);
    }

    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            submits: self.submits.load(Relaxed),
            dispatches: self.dispatches.load(Relaxed),
            pipelines_compiled: self.pipelines_compiled.load(Relaxed),
            pipelines_evicted: self.pipelines_evicted.load(Relaxed),
            pipelines_cached: 0,
            plans_evicted: self.plans_evicted.load(Relaxed),
            buffers_created: self.buffers_created.load(Relaxed),
            bytes_allocated: self.bytes_allocated.load(Relaxed),
            bytes_live: self.bytes_live.load(Relaxed),
            peak_bytes_live: self.peak_bytes_live.load(Relaxed),
            bytes_free: 0,
            plans_built: self.plans_built.load(Relaxed),
            plans_replayed: self.plans_replayed.load(Relaxed),
            bind_groups_created: self.bind_groups_created.load(Relaxed),
            bind_groups_live: self.bind_groups_live.load(Relaxed),
            ops_recorded: self.ops_recorded.load(Relaxed),
        }
    }

    /// Starts a new peak measurement from the current live bytes.
    pub fn reset_peak(&self) {
        self.peak_bytes_live
            .store(self.bytes_live.load(Relaxed), Relaxed);
    }
}

impl std::ops::Sub for CounterSnapshot {
    type Output = CounterSnapshot;
    /// The change between two snapshots (`bytes_live`, the peak,
    /// `bytes_free`, `pipelines_cached` and `bind_groups_live` are kept from
    /// `self`).
    fn sub(self, o: CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            submits: self.submits - o.submits,
            dispatches: self.dispatches - o.dispatches,
            pipelines_compiled: self.pipelines_compiled - o.pipelines_compiled,
            pipelines_evicted: self.pipelines_evicted - o.pipelines_evicted,
            pipelines_cached: self.pipelines_cached,
            plans_evicted: self.plans_evicted - o.plans_evicted,
            buffers_created: self.buffers_created - o.buffers_created,
            bytes_allocated: self.bytes_allocated - o.bytes_allocated,
            bytes_live: self.bytes_live,
            peak_bytes_live: self.peak_bytes_live,
            bytes_free: self.bytes_free,
            plans_built: self.plans_built - o.plans_built,
            plans_replayed: self.plans_replayed - o.plans_replayed,
            bind_groups_created: self.bind_groups_created - o.bind_groups_created,
            bind_groups_live: self.bind_groups_live,
            ops_recorded: self.ops_recorded - o.ops_recorded,
        }
    }
}
