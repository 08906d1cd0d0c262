// cross_entropy.wgsl: softmax + cross-entropy over class indices, fused, and
// its gradient, fused.
//
//   loss[i]     = lse(x_i) - (1 - eps) * x[i, y_i] - (eps / C) * sum_c x[i, c]
//   dx[i, c]    = dloss[i] * (softmax(x_i)[c] - (1 - eps) * [c == y_i] - eps / C)
//
// with lse the log-sum-exp (stable: max first), eps the label smoothing, and
// rows whose label is IGNORE (when HAS_IGNORE) giving 0 loss and 0 gradient.
// The softmax is never written out: the forward writes one number per row, and
// the backward recomputes max and sum from the logits (p - onehot in one pass).
// A label outside [0, C) sets bit 2 of the status word (an error at the next
// readback) and counts as ignored.
// Bindings: out (N) or (N, C) f32, logits (N, C), labels (N) i32,
// [dloss (N),] smoothing (runtime scalar), cfg {rows, cols}, status.
// One invocation per row, no barrier (rows are a batch; lavapipe prefers it).
// Where a stage may bind only four storage buffers, the gradient takes two
// passes (unscaled, then each row times its dloss).

struct Meta {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<uniform> sc: array<vec4<u32>, 1>;
@group(0) @binding(4) var<uniform> cfg: Meta;
@group(0) @binding(5) var<storage, read_write> status: array<atomic<u32>>;
@group(0) @binding(6) var<storage, read> dloss: array<f32>;

override WG: u32 = 64u;
override HAS_IGNORE: bool = false;
override IGNORE: i32 = -100;

// Max and log-sum-exp of row `base`, in one online pass; -inf logits are fine
// unless the whole row is -inf.
fn row_lse(base: u32) -> vec2<f32> {
    var m = x[base];
    var s = 0.0;
    for (var c = 0u; c < cfg.cols; c++) {
        let v = x[base + c];
        if (v > m) {
            s = s * exp(m - v) + 1.0;
            m = v;
        } else if (v == m) {
            s += 1.0;
        } else {
            s += exp(v - m);
        }
    }
    return vec2<f32>(m, m + log(s));
}

// The row's label, or -1 when it is ignored or out of range (flagged).
fn label(row: u32) -> i32 {
    let y = labels[row];
    if (HAS_IGNORE && y == IGNORE) {
        return -1;
    }
    if (y < 0 || u32(y) >= cfg.cols) {
        atomicOr(&status[0], 2u);
        return -1;
    }
    return y;
}

fn row_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn cross_entropy(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = row_id(wid, nwg, lid);
    if (row >= cfg.rows) {
        return;
    }
    let y = label(row);
    if (y < 0) {
        out[row] = 0.0;
        return;
    }
    let base = row * cfg.cols;
    let eps = bitcast<f32>(sc[0][0]);
    var total = 0.0;
    if (eps != 0.0) {
        for (var c = 0u; c < cfg.cols; c++) {
            total += x[base + c];
        }
    }
    let lse = row_lse(base).y;
    out[row] = lse - (1.0 - eps) * x[base + u32(y)] - eps / f32(cfg.cols) * total;
}

@compute @workgroup_size(WG)
fn cross_entropy_backward(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = row_id(wid, nwg, lid);
    if (row < cfg.rows) {
        grad_row(row, dloss[row]);
    }
}

// dx (rows, C) = (softmax - target) for dloss = 1: what the two-pass form's
// first pass writes on a device with four storage buffers a stage, where the
// one-pass form's five do not fit.
@compute @workgroup_size(WG)
fn cross_entropy_backward_unscaled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = row_id(wid, nwg, lid);
    if (row < cfg.rows) {
        grad_row(row, 1.0);
    }
}

// The second pass: each row of dx times its dloss.
@compute @workgroup_size(WG)
fn cross_entropy_scale_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = row_id(wid, nwg, lid);
    if (row >= cfg.rows) {
        return;
    }
    let d = dloss[row];
    for (var c = row * cfg.cols; c < (row + 1u) * cfg.cols; c++) {
        out[c] = d * out[c];
    }
}

fn grad_row(row: u32, d: f32) {
    let base = row * cfg.cols;
    let y = label(row);
    if (y < 0) {
        for (var c = 0u; c < cfg.cols; c++) {
            out[base + c] = 0.0;
        }
        return;
    }
    let eps = bitcast<f32>(sc[0][0]);
    let lse = row_lse(base).y;
    let floor = eps / f32(cfg.cols);
    for (var c = 0u; c < cfg.cols; c++) {
        var q = floor;
        if (c == u32(y)) {
            q += 1.0 - eps;
        }
        out[base + c] = d * (exp(x[base + c] - lse) - q);
    }
}
