// optim.wgsl: optimizer steps that update a parameter and its state IN PLACE.
//
//   sgd:   g = grad * scale + wd * p;  buf = mu * buf + (1 - damp) * g
//          p -= lr * (nesterov ? g + mu * buf : buf)
//   adam:  g = grad * scale (+ wd * p unless decoupled)
//          m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//          p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)   (bc = 1 - beta^t)
//          AdamW first decays p -= lr * wd * p.
//
//   ema:   run = (1 - mu) * run + mu * x   (batch norm's running statistics)
//
//   sparse_sgd: p[ids[r], c] -= lr * scale * rows[r, c] for each row r of a
//          table's sparse gradient (an embedding's rows read this step); a
//          row read twice adds twice. Only the rows read are touched, so the
//          step costs N * d, not V * d. The adds into one row race, so they
//          use a compare-and-swap loop on the f32 bits (WGSL has no float
//          atomics), as gather's scatter-add does; their order, and so the
//          last bits of a row read twice, can differ run to run.
//   sparse_sgd_sum: deterministic mode's sparse_sgd. The rows' gradients are
//          grouped by the table row they add into (buckets.wgsl's passes:
//          targets the table's rows, sources the rows in use); the first
//          entry of each group adds the group's gradients in ascending order,
//          column by column, and writes the row once: no race.
//   sparse_adam_moments, sparse_adam_step: Adam at the rows of a coalesced
//          sparse gradient (each row once), their moments with them; rows
//          not read keep their values and moments (torch's SparseAdam). No
//          atomics: the rows are distinct.
//   Both read the rows in use from hyperparameter word 7; the rows past it
//   pad the gradient to a fixed length and are skipped.
//
// Bindings: p (n) read_write, grad (n), m (n) read_write, [v (n) read_write,]
// scale (1: the gradient-clipping factor, computed on the GPU from the global
// norm, so clipping needs no readback; read as a uniform, as is the status
// word, so that Adam binds four storage buffers, what a small device allows), hyperparameters (runtime scalars: a
// learning-rate schedule replays the same plan), cfg {numel}, the realize's
// status word (nonzero: skip the step).
// Each invocation updates `per` elements WG apart (1 on a GPU; more on a CPU
// adapter, where every workgroup is a task to start); the parameter buffer is
// written in place, which is why the planner runs every update after every
// other kernel of the step.

struct Meta {
    numel: u32,
    per: u32, // elements per invocation, WG apart (more on CPU adapters)
}

@group(0) @binding(0) var<storage, read_write> p: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;

// Adam's bindings 3..6.
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> scale: vec4<f32>;
@group(0) @binding(5) var<uniform> hyper: array<vec4<u32>, 2>;
@group(0) @binding(6) var<uniform> cfg: Meta;

// SGD's bindings 3..5 (it has no second moment).
@group(0) @binding(3) var<uniform> sgd_scale: vec4<f32>;
@group(0) @binding(4) var<uniform> sgd_hyper: array<vec4<u32>, 2>;
@group(0) @binding(5) var<uniform> sgd_cfg: Meta;

// The running average's bindings (0: the running value, 1: the new value).
@group(0) @binding(2) var<uniform> ema_hyper: array<vec4<u32>, 2>;
@group(0) @binding(3) var<uniform> ema_cfg: Meta;

// The status word of this realize, last: a kernel before the update met a bad
// index (a class label out of range), so the step is not taken and the
// parameter keeps its value.
@group(0) @binding(7) var<uniform> status: vec4<u32>;
@group(0) @binding(6) var<uniform> sgd_status: vec4<u32>;
@group(0) @binding(4) var<uniform> ema_status: vec4<u32>;

override WG: u32 = 256u;
override NESTEROV: bool = false;
override DECOUPLED: bool = false;

// Hyperparameter word i, as f32: lr, beta1/momentum, beta2/dampening, eps,
// weight decay, bias correction 1, bias correction 2.
fn hp(h: array<vec4<u32>, 2>, i: u32) -> f32 {
    return bitcast<f32>(h[i / 4u][i % 4u]);
}

// The elements this invocation updates: first, first + WG, ... below end.
fn span(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, c: Meta) -> vec2<u32> {
    let first = (wid.x + wid.y * nwg.x) * WG * c.per + lid;
    return vec2<u32>(first, min(first + WG * c.per, c.numel));
}

@compute @workgroup_size(WG)
fn sgd(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if (sgd_status.x != 0u) {
        return;
    }
    let r = span(wid, nwg, lid, sgd_cfg);
    for (var i = r.x; i < r.y; i += WG) {
        sgd_at(i);
    }
}

fn sgd_at(i: u32) {
    let lr = hp(sgd_hyper, 0u);
    let mu = hp(sgd_hyper, 1u);
    let damp = hp(sgd_hyper, 2u);
    let wd = hp(sgd_hyper, 4u);
    let g = grad[i] * sgd_scale.x + wd * p[i];
    let buf = mu * m[i] + (1.0 - damp) * g;
    m[i] = buf;
    var step = buf;
    if (NESTEROV) {
        step = g + mu * buf;
    }
    p[i] = p[i] - lr * step;
}

@compute @workgroup_size(WG)
fn ema(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if (ema_status.x != 0u) {
        return;
    }
    let r = span(wid, nwg, lid, ema_cfg);
    for (var i = r.x; i < r.y; i += WG) {
        ema_at(i);
    }
}

fn ema_at(i: u32) {
    let mu = hp(ema_hyper, 1u);
    p[i] = (1.0 - mu) * p[i] + mu * grad[i];
}

@compute @workgroup_size(WG)
fn adam(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if (status.x != 0u) {
        return;
    }
    let r = span(wid, nwg, lid, cfg);
    for (var i = r.x; i < r.y; i += WG) {
        adam_at(i);
    }
}

fn adam_at(i: u32) {
    let lr = hp(hyper, 0u);
    let b1 = hp(hyper, 1u);
    let b2 = hp(hyper, 2u);
    let eps = hp(hyper, 3u);
    let wd = hp(hyper, 4u);
    let bc1 = hp(hyper, 5u);
    let bc2 = hp(hyper, 6u);
    var w = p[i];
    var g = grad[i] * scale.x;
    if (DECOUPLED) {
        w = w - lr * wd * w;
    } else {
        g = g + wd * w;
    }
    let mi = b1 * m[i] + (1.0 - b1) * g;
    let vi = b2 * v[i] + (1.0 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    p[i] = w - lr * (mi / bc1) / (sqrt(vi / bc2) + eps);
}

// ---- sparse SGD: bindings 0 (the table, as words), 1 row gradients (N * d),
// 2 row ids (N, i32), then sgd's scale, hyperparameters and status; cfg
// {numel = N * d, per, width = d, rows = V}.

struct SparseMeta {
    numel: u32,
    per: u32,
    width: u32,
    rows: u32,
}

@group(0) @binding(0) var<storage, read_write> p_bits: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read> row_ids: array<i32>;
@group(0) @binding(5) var<uniform> sparse_cfg: SparseMeta;
// The row width as a constant: the division per element is a multiply.
override WIDTH: u32 = 1u;

@compute @workgroup_size(WG)
fn sparse_sgd(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if (sgd_status.x != 0u) {
        return;
    }
    let c = sparse_cfg;
    let r = sparse_span(wid, nwg, lid, c, sgd_hyper);
    let step = -hp(sgd_hyper, 0u) * sgd_scale.x;
    for (var i = r.x; i < r.y; i += WG) {
        let j = sparse_at(i, c.rows);
        if (j < c.rows * WIDTH) {
            add_to(j, step * grad[i]);
        }
    }
}

// ---- deterministic sparse SGD: sparse SGD's bindings, and the bucket
// scratch at 7 (1 + 2 V + N words).

@group(0) @binding(7) var<storage, read_write> bk: array<atomic<u32>>;

fn bucket_targets() -> u32 {
    return sparse_cfg.rows;
}

fn bucket_sources() -> u32 {
    return min(sparse_cfg.numel / WIDTH, u32(hp(sgd_hyper, 7u)));
}

// The table row source row s adds into; an id outside the table (flagged by
// the lookup that read it, so the update is skipped) joins no group.
fn bucket_of(s: u32) -> u32 {
    let row = row_ids[s];
    if (row < 0 || u32(row) >= sparse_cfg.rows) {
        return BUCKET_NONE;
    }
    return u32(row);
}

// #include buckets

@compute @workgroup_size(WG)
fn sparse_sgd_sum(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if (sgd_status.x != 0u) {
        return;
    }
    let c = sparse_cfg;
    let r = sparse_span(wid, nwg, lid, c, sgd_hyper);
    let step = -hp(sgd_hyper, 0u) * sgd_scale.x;
    for (var i = r.x; i < r.y; i += WG) {
        let j = sparse_at(i, c.rows);
        let k = i / WIDTH;
        if (j >= c.rows * WIDTH) {
            continue;
        }
        let run = bucket_range(u32(row_ids[k]));
        if (atomicLoad(&bk[run.x]) != k) {
            continue;
        }
        let col = i - k * WIDTH;
        var sum = 0.0;
        for (var q = run.x; q < run.y; q++) {
            sum += grad[atomicLoad(&bk[q]) * WIDTH + col];
        }
        p[j] = p[j] + step * sum;
    }
}

fn add_to(at: u32, x: f32) {
    var old = atomicLoad(&p_bits[at]);
    loop {
        let sum = bitcast<u32>(bitcast<f32>(old) + x);
        let done = atomicCompareExchangeWeak(&p_bits[at], old, sum);
        if (done.exchanged) {
            break;
        }
        old = done.old_value;
    }
}

// ---- sparse Adam, in two passes of four storage buffers (a small device's
// limit): the moments of the rows read, then those rows of the table.
// Moments: bindings 0 m, 1 row gradients, 2 row ids, 3 v, then scale,
// hyperparameters, cfg and status. Step: 0 the table, 1 m, 2 row ids, 3 v,
// then hyperparameters, cfg and status.

@group(0) @binding(0) var<storage, read_write> sparse_m: array<f32>;
@group(0) @binding(1) var<storage, read> sparse_m_in: array<f32>;
@group(0) @binding(6) var<uniform> sparse_adam_cfg: SparseMeta;

// The elements of the rows in use this invocation visits: r.x, r.x + WG, ...
// below r.y, and the end of the rows in use (hyperparameter word 7).
fn sparse_span(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, c: SparseMeta, h: array<vec4<u32>, 2>) -> vec2<u32> {
    let r = span(wid, nwg, lid, Meta(c.numel, c.per));
    return vec2<u32>(r.x, min(r.y, u32(hp(h, 7u)) * WIDTH));
}

// Element i of the row gradients as its index in the table, or c.rows *
// WIDTH for an id outside it (flagged by the lookup that read it, which
// raised the status word: the whole update is skipped).
fn sparse_at(i: u32, rows: u32) -> u32 {
    let k = i / WIDTH;
    let row = row_ids[k];
    if (row < 0 || u32(row) >= rows) {
        return rows * WIDTH;
    }
    return u32(row) * WIDTH + (i - k * WIDTH);
}

@compute @workgroup_size(WG)
fn sparse_adam_moments(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if (status.x != 0u) {
        return;
    }
    let c = sparse_adam_cfg;
    let r = sparse_span(wid, nwg, lid, c, hyper);
    let b1 = hp(hyper, 1u);
    let b2 = hp(hyper, 2u);
    for (var i = r.x; i < r.y; i += WG) {
        let j = sparse_at(i, c.rows);
        if (j < c.rows * WIDTH) {
            let g = grad[i] * scale.x;
            sparse_m[j] = b1 * sparse_m[j] + (1.0 - b1) * g;
            v[j] = b2 * v[j] + (1.0 - b2) * g * g;
        }
    }
}

@compute @workgroup_size(WG)
fn sparse_adam_step(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    if (sgd_status.x != 0u) {
        return;
    }
    let c = sparse_cfg;
    let r = sparse_span(wid, nwg, lid, c, sgd_hyper);
    let lr = hp(sgd_hyper, 0u);
    let eps = hp(sgd_hyper, 3u);
    let bc1 = hp(sgd_hyper, 5u);
    let bc2 = hp(sgd_hyper, 6u);
    for (var i = r.x; i < r.y; i += WG) {
        let j = sparse_at(i, c.rows);
        if (j < c.rows * WIDTH) {
            p[j] = p[j] - lr * (sparse_m_in[j] / bc1) / (sqrt(v[j] / bc2) + eps);
        }
    }
}
