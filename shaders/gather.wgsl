// gather.wgsl: torch.gather (and through it index_select and embedding
// lookup), and its gradient, scatter-add.
//
//   gather:      out[c] = data[c with c[axis] replaced by index[c]]
//   scatter_add: out[c with c[axis] replaced by index[c]] += values[c]
//                (out zeroed first by fill_zero)
//
// Bindings, the same five for every entry point: 0 the output (contiguous;
// scatter sees it as atomic words), 1 the input read through strides (gather's
// data, scatter's values), 2 the index as i32 (strided: index_select passes a
// broadcast 1-D index with stride 0, so it is never copied), 3 cfg, 4 status.
// Shapes of rank up to 8 arrive in the uniform (one pipeline for every shape);
// coordinates are decoded with one division per dim, over the index's shape.
// An index outside [0, dim) is skipped (gather writes 0) and sets bit 1 of the
// status word, which the next readback turns into Error::IndexOutOfRange.
// Scatter-add accumulates with a compare-and-swap loop on the f32 bits: WGSL
// has no float atomics, and the loop is portable to every adapter. The adds
// meet in whatever order the invocations race, so a target's float sum can
// differ run to run. Deterministic mode instead groups the sources by target
// (buckets.wgsl, in scratch binding 5) and `scatter_sum` has each target add
// its own in ascending source order: bit-identical every run.

struct Meta {
    numel: u32,       // elements of the index (= gather's output = scatter's values)
    rank: u32,
    axis: u32,
    dim: u32,         // size of `axis` in data (gather) or out (scatter)
    data_offset: u32,
    idx_offset: u32,
    val_offset: u32,
    out_numel: u32,
    inner: array<vec4<u32>, 2>,       // elements per step of each index dim
    dims: array<vec4<u32>, 2>,        // index dims
    data_stride: array<vec4<u32>, 2>, // data (gather) or out (scatter) strides
    idx_stride: array<vec4<u32>, 2>,
    val_stride: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read_write> out: array<elem>;
@group(0) @binding(1) var<storage, read> data: array<elem>;
@group(0) @binding(2) var<storage, read> index: array<i32>;
@group(0) @binding(3) var<uniform> cfg: Meta;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>>;

override WG: u32 = 256u;

fn at4(a: array<vec4<u32>, 2>, d: u32) -> u32 {
    return a[d / 4u][d % 4u];
}

// For element i of the index: (offset into data/out without the axis term,
// offset into the index, offset into values).
fn locate(i: u32) -> vec3<u32> {
    var o = vec3<u32>(cfg.data_offset, cfg.idx_offset, cfg.val_offset);
    for (var d = 0u; d < cfg.rank; d++) {
        let c = (i / at4(cfg.inner, d)) % at4(cfg.dims, d);
        o.y += c * at4(cfg.idx_stride, d);
        o.z += c * at4(cfg.val_stride, d);
        if (d != cfg.axis) {
            o.x += c * at4(cfg.data_stride, d);
        }
    }
    return o;
}

fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn gather(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_id(wid, nwg, lid);
    if (i >= cfg.numel) {
        return;
    }
    let o = locate(i);
    let j = index[o.y];
    if (j < 0 || u32(j) >= cfg.dim) {
        atomicOr(&status[0], 1u);
        out[i] = elem(0);
        return;
    }
    out[i] = data[o.x + u32(j) * at4(cfg.data_stride, cfg.axis)];
}

// The row form (index_select along axis 0 of a contiguous (rows, ROW) table,
// the index broadcast along the row): one division by a constant per
// element, where `locate` decodes every dim through the uniform (on lavapipe
// several times slower for an embedding lookup).
override ROW: u32 = 1u;

@compute @workgroup_size(WG)
fn gather_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_id(wid, nwg, lid);
    if (i >= cfg.numel) {
        return;
    }
    let r = i / ROW;
    let j = index[cfg.idx_offset + r * at4(cfg.idx_stride, 0u)];
    if (j < 0 || u32(j) >= cfg.dim) {
        atomicOr(&status[0], 1u);
        out[i] = elem(0);
        return;
    }
    out[i] = data[cfg.data_offset + u32(j) * ROW + (i - r * ROW)];
}

// ---- the gradient: scatter-add into a zeroed output --------------------------

// Bindings 0 and 1 again, as scatter-add sees them (no entry point uses both views).
@group(0) @binding(0) var<storage, read_write> acc: array<atomic<u32>>;
@group(0) @binding(1) var<storage, read> values: array<f32>;

@compute @workgroup_size(WG)
fn fill_zero(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_id(wid, nwg, lid);
    if (i < cfg.out_numel) {
        atomicStore(&acc[i], 0u);
    }
}

@compute @workgroup_size(WG)
fn scatter_add(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = linear_id(wid, nwg, lid);
    if (i >= cfg.numel) {
        return;
    }
    let o = locate(i);
    let j = index[o.y];
    if (j < 0 || u32(j) >= cfg.dim) {
        atomicOr(&status[0], 1u);
        return;
    }
    let t = o.x + u32(j) * at4(cfg.data_stride, cfg.axis);
    let v = values[o.z];
    var old = atomicLoad(&acc[t]);
    loop {
        let r = atomicCompareExchangeWeak(&acc[t], old, bitcast<u32>(bitcast<f32>(old) + v));
        if (r.exchanged) {
            break;
        }
        old = r.old_value;
    }
}

// ---- deterministic mode: each target sums its sources in a fixed order -------

@group(0) @binding(5) var<storage, read_write> bk: array<atomic<u32>>;

fn bucket_targets() -> u32 {
    return cfg.out_numel;
}

fn bucket_sources() -> u32 {
    return cfg.numel;
}

// The output element index element s adds into (a bad index is skipped and
// flagged, as scatter_add does).
fn bucket_of(s: u32) -> u32 {
    let o = locate(s);
    let j = index[o.y];
    if (j < 0 || u32(j) >= cfg.dim) {
        atomicOr(&status[0], 1u);
        return BUCKET_NONE;
    }
    return o.x + u32(j) * at4(cfg.data_stride, cfg.axis);
}

// #include buckets

@compute @workgroup_size(WG)
fn scatter_sum(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let t = linear_id(wid, nwg, lid);
    if (t >= cfg.out_numel) {
        return;
    }
    let r = bucket_range(t);
    var sum = 0.0;
    for (var k = r.x; k < r.y; k++) {
        sum += values[locate(atomicLoad(&bk[k])).z];
    }
    out[t] = elem(sum);
}
