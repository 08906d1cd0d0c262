// softmax.wgsl: numerically stable softmax / log-softmax over rows.
//
//   y = exp(x - max) / sum(exp(x - max))          (LOG = false)
//   y = x - max - log(sum(exp(x - max)))          (LOG = true)
//
// Bindings: y (rows, cols) elem, x (rows, cols) elem, cfg {rows, cols}.
// The prelude line `alias elem = f32;` (or f16) picks the storage type; the
// arithmetic is f32 either way.
//
// Max and sum come from ONE pass with an online rescale (when a larger value
// appears the running sum is multiplied by exp(old_max - new_max)), so x is read
// twice in all, not three times as in the max / sum / normalise baseline.
//   softmax_rows  one invocation per row, no barrier (many rows; lavapipe)
//   softmax_cols  one workgroup per row: lanes stride the row, partial
//                 (max, sum) pairs merge in a tree in workgroup memory
// Every lane starts from (x[row, 0], 0), so an idle lane is already an identity
// for the merge and no -inf constant is needed.

struct Meta {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<storage, read_write> y: array<elem>; // (rows, cols)
@group(0) @binding(1) var<storage, read> x: array<elem>;       // (rows, cols)
@group(0) @binding(2) var<uniform> cfg: Meta;

override LOG: bool = false;
override WG: u32 = 64u;

fn finish(v: f32, m: f32, s: f32) -> elem {
    if (LOG) {
        return elem(v - m - log(s));
    }
    return elem(exp(v - m) / s);
}

// s * exp(x - m), where x == m (both -inf included) scales by exactly 1:
// -inf - -inf would otherwise be NaN and poison a row that starts masked.
fn rescale(s: f32, x: f32, m: f32) -> f32 {
    return select(s * exp(x - m), s, x == m);
}

// Folds value v into the running (max, sum). A NaN input fails every
// comparison and reaches the sum through exp, as it should.
fn online(ms: vec2<f32>, v: f32) -> vec2<f32> {
    if (v > ms.x) {
        return vec2<f32>(v, rescale(ms.y, ms.x, v) + 1.0);
    }
    return vec2<f32>(ms.x, ms.y + rescale(1.0, v, ms.x));
}

fn merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
    let m = max(a.x, b.x);
    return vec2<f32>(m, rescale(a.y, a.x, m) + rescale(b.y, b.x, m));
}

@compute @workgroup_size(WG)
fn softmax_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = (wid.x + wid.y * nwg.x) * WG + lid;
    if (row >= cfg.rows) {
        return;
    }
    let base = row * cfg.cols;
    var ms = vec2<f32>(f32(x[base]), 0.0);
    for (var c = 0u; c < cfg.cols; c++) {
        ms = online(ms, f32(x[base + c]));
    }
    for (var c = 0u; c < cfg.cols; c++) {
        y[base + c] = finish(f32(x[base + c]), ms.x, ms.y);
    }
}

// #if subgroups
override LANES: u32 = 8u;
override RPW: u32 = 1u;

// One subgroup per workgroup, RPW rows each, lanes across a row's columns:
// neighbouring lanes load and store neighbouring elements (on lavapipe a row
// per lane makes every store a scatter), and the lanes' (max, sum) pairs merge
// by subgroup operations, with no barrier.
@compute @workgroup_size(LANES)
fn softmax_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r0 = (wid.x + wid.y * nwg.x) * RPW;
    for (var t = 0u; t < RPW; t++) {
        let row = r0 + t;
        if (row >= cfg.rows) {
            return;
        }
        let base = row * cfg.cols;
        var ms = vec2<f32>(f32(x[base]), 0.0);
        for (var c = lid; c < cfg.cols; c += LANES) {
            ms = online(ms, f32(x[base + c]));
        }
        let m = subgroupMax(ms.x);
        let s = subgroupAdd(rescale(ms.y, ms.x, m));
        for (var c = lid; c < cfg.cols; c += LANES) {
            y[base + c] = finish(f32(x[base + c]), m, s);
        }
    }
}
// #endif

var<workgroup> part: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
fn softmax_cols(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    if (row >= cfg.rows) {
        return;
    }
    let base = row * cfg.cols;
    var ms = vec2<f32>(f32(x[base]), 0.0);
    for (var c = lid; c < cfg.cols; c += WG) {
        ms = online(ms, f32(x[base + c]));
    }
    part[lid] = ms;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part[lid] = merge(part[lid], part[lid + s]);
        }
        workgroupBarrier();
    }
    let total = part[0];
    for (var c = lid; c < cfg.cols; c += WG) {
        y[base + c] = finish(f32(x[base + c]), total.x, total.y);
    }
}
