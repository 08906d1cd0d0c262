// buckets.wgsl: sources grouped by the target they add into, each group in
// ascending source order: what deterministic mode's scatter-adds sum over, so
// each target adds its sources in one fixed order instead of the arbitrary
// order of a compare-and-swap loop. Pasted into its includers
// (`// #include buckets`: gather.wgsl, grid_sample.wgsl,
// optim.wgsl), never compiled alone.
//
// The includer supplies:
//   bk                 a read_write array<atomic<u32>> binding, the scratch
//                      buffer: [0] next free slot, then T cursors, T starts,
//                      S list slots (1 + 2T + S words)
//   WG                 the workgroup size (an override)
//   bucket_targets()   T, the number of targets
//   bucket_sources()   S, the number of sources
//   bucket_of(s)       the target source s adds into, or BUCKET_NONE to skip it
//
// Five passes, one dispatch each (the executor orders them):
//   bucket_zero   (T + 1)  zero the counts and the next free slot
//   bucket_count  (S)      count each target's sources (integer adds commute)
//   bucket_alloc  (T)      give each target a contiguous run of list slots;
//                          where a run lies does not change the result
//   bucket_fill   (S)      put every source in its target's run (any order)
//   bucket_sort   (T)      heap-sort each run by source: the fixed order
// then the includer's sum reads target t's sources at bucket_range(t).
// Sorting each run instead of the whole list keeps every pass O(S log S) at
// worst (one popular target) and about O(S) when targets get few sources.

const BUCKET_NONE: u32 = 0xffffffffu;

fn bk_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

fn bk_cursor(t: u32) -> u32 {
    return 1u + t;
}

fn bk_start(t: u32) -> u32 {
    return 1u + bucket_targets() + t;
}

fn bk_list() -> u32 {
    return 1u + 2u * bucket_targets();
}

// Target t's sources as [start, end) indices into bk (after bucket_sort).
fn bucket_range(t: u32) -> vec2<u32> {
    let l = bk_list();
    return vec2<u32>(l + atomicLoad(&bk[bk_start(t)]), l + atomicLoad(&bk[bk_cursor(t)]));
}

@compute @workgroup_size(WG)
fn bucket_zero(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = bk_id(wid, nwg, lid);
    if (i <= bucket_targets()) {
        atomicStore(&bk[i], 0u);
    }
}

@compute @workgroup_size(WG)
fn bucket_count(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let s = bk_id(wid, nwg, lid);
    if (s >= bucket_sources()) {
        return;
    }
    let t = bucket_of(s);
    if (t != BUCKET_NONE) {
        atomicAdd(&bk[bk_cursor(t)], 1u);
    }
}

@compute @workgroup_size(WG)
fn bucket_alloc(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = bk_id(wid, nwg, lid);
    if (t >= bucket_targets()) {
        return;
    }
    let n = atomicLoad(&bk[bk_cursor(t)]);
    var start = 0u;
    if (n > 0u) {
        start = atomicAdd(&bk[0], n);
    }
    atomicStore(&bk[bk_start(t)], start);
    // The cursor starts at the run's first slot; after the fill it is its end.
    atomicStore(&bk[bk_cursor(t)], start);
}

@compute @workgroup_size(WG)
fn bucket_fill(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let s = bk_id(wid, nwg, lid);
    if (s >= bucket_sources()) {
        return;
    }
    let t = bucket_of(s);
    if (t != BUCKET_NONE) {
        let slot = atomicAdd(&bk[bk_cursor(t)], 1u);
        atomicStore(&bk[bk_list() + slot], s);
    }
}

// Restores the max-heap property below `root` in the n words from bk[lo].
fn bk_sift(lo: u32, n: u32, root0: u32) {
    var root = root0;
    loop {
        var child = 2u * root + 1u;
        if (child >= n) {
            break;
        }
        if (child + 1u < n && atomicLoad(&bk[lo + child + 1u]) > atomicLoad(&bk[lo + child])) {
            child += 1u;
        }
        let r = atomicLoad(&bk[lo + root]);
        let c = atomicLoad(&bk[lo + child]);
        if (r >= c) {
            break;
        }
        atomicStore(&bk[lo + root], c);
        atomicStore(&bk[lo + child], r);
        root = child;
    }
}

@compute @workgroup_size(WG)
fn bucket_sort(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = bk_id(wid, nwg, lid);
    if (t >= bucket_targets()) {
        return;
    }
    let r = bucket_range(t);
    let n = r.y - r.x;
    for (var i = n / 2u; i > 0u; i--) {
        bk_sift(r.x, n, i - 1u);
    }
    for (var end = n; end > 1u; end--) {
        let top = atomicLoad(&bk[r.x]);
        atomicStore(&bk[r.x], atomicLoad(&bk[r.x + end - 1u]));
        atomicStore(&bk[r.x + end - 1u], top);
        bk_sift(r.x, end - 1u, 0u);
    }
}
