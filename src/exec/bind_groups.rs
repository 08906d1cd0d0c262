//! A plan step's bind groups, by the ids of the buffers they bind, counted
//! device-wide. Each is a descriptor set, and some drivers give every set a
//! memory mapping of its own (lavapipe does, and a process has about 65k
//! mappings in all), so the executor bounds how many cached plans hold
//! (`DeviceOptions::bind_group_capacity`).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use crate::counters::Counters;

/// Bind groups one step keeps (a cached plan replayed on recycled outputs
/// binds a few different buffer sets in turn).
const PER_STEP: usize = 4;

pub(crate) struct BindGroups {
    entries: Mutex<Vec<(Vec<u64>, wgpu::BindGroup)>>,
    counters: Arc<Counters>,
}

impl BindGroups {
    pub fn new(counters: Arc<Counters>) -> BindGroups {
        BindGroups {
            entries: Mutex::new(Vec::new()),
            counters,
        }
    }

    /// The bind group for buffers `ids`: the one made before, or `make`'s.
    pub fn get(&self, ids: Vec<u64>, make: impl FnOnce() -> wgpu::BindGroup) -> wgpu::BindGroup {
        let mut cache = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = cache.iter().position(|(k, _)| *k == ids) {
            let entry = cache.remove(pos);
            let bg = entry.1.clone();
            cache.push(entry);
            return bg;
        }
        let bg = make();
        let c = &self.counters;
        c.add(&c.bind_groups_created, 1);
        if cache.len() >= PER_STEP {
            cache.remove(0);
        } else {
            c.add(&c.bind_groups_live, 1);
        }
        cache.push((ids, bg.clone()));
        bg
    }
}

impl Drop for BindGroups {
    fn drop(&mut self) {
        let n = self.entries.get_mut().map_or(0, |e| e.len()) as u64;
        self.counters.bind_groups_live.fetch_sub(n, Relaxed);
    }
}
