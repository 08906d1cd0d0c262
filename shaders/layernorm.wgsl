// layernorm.wgsl: the per-row kernels of layer norm and RMSNorm (over the last
// axis, C features). Where the adapter has fixed-width subgroups (software
// adapters) each direction is one kernel, a subgroup per row; elsewhere each
// is a per-row reduction into a scratch buffer and an element per invocation.
//
//   ln_stats          (rows, 2): mean and 1/sqrt(var + eps)  (RMS: 0 and 1/sqrt(mean(x^2) + eps))
//   ln_apply          (rows, C): y = (x - mean) * rstd * gamma (+ beta) from ln_stats
//   ln_forward_lanes  (rows, C): the whole forward in one kernel
//   ln_grad_reduce    (rows, 2): sum(g * dy) and sum(g * dy * xhat), g = gamma,
//                     xhat = (x - mean) * rstd: the two sums of the closed form
//                     dx = rstd * (g dy - sum(g dy) / C - xhat * sum(g dy xhat) / C)
//                     (RMS: the first sum is not subtracted)
//   ln_grad_input     (rows, C): dx from the statistics and ln_grad_reduce's sums
//   ln_grad_lanes     (rows, C): dx in one kernel, from the statistics
//
// No barrier: a row per invocation (the rows are a batch times a sequence,
// many of them, and a row of C features fits one invocation's loop), a
// subgroup per row, or an element per invocation. Bindings: out (rows, 2) or
// (rows, C), x (rows, C), dy (or beta for the forward), gamma (C), stats
// (rows, 2), eps (or, for ln_grad_input, the sums (rows, 2)).

override ROWS: u32 = 0u;
override C: u32 = 1u;
override RMS: bool = false;
override WG: u32 = 64u;
override LANES: u32 = 8u;
override RPW: u32 = 1u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<uniform> sc: array<vec4<u32>, 1>;
// ROWS: an override constant for a structure's first shapes, else 0 and
// read from `dims`, so one pipeline serves every batch x sequence length.
@group(0) @binding(6) var<uniform> dims: vec4<u32>;

fn rows() -> u32 {
    return select(dims.x, ROWS, ROWS != 0u);
}

fn row_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// Every kernel below walks a row's elements c = first, first + step, ...: a
// row per invocation takes (0, 1), a subgroup per row (lid, LANES) and adds
// the lanes' partial sums by subgroupAdd.

// Partial (sum d, sum d^2), d = x - shift: the row's first value, so that
// E[d^2] - E[d]^2 cannot cancel (0 for RMSNorm, which needs the squares only).
fn stat_sums(base: u32, first: u32, step: u32) -> vec2<f32> {
    let shift = select(x[base], 0.0, RMS);
    var s = vec2<f32>(0.0);
    for (var c = first; c < C; c += step) {
        let d = x[base + c] - shift;
        s += vec2<f32>(d, d * d);
    }
    return s;
}

// (mean, rstd) from the whole row's sums.
fn row_stats(base: u32, s: vec2<f32>) -> vec2<f32> {
    let eps = bitcast<f32>(sc[0][0]);
    if (RMS) {
        return vec2<f32>(0.0, inverseSqrt(s.y / f32(C) + eps));
    }
    let m = s.x / f32(C);
    return vec2<f32>(x[base] + m, inverseSqrt(max(s.y / f32(C) - m * m, 0.0) + eps));
}

// y = (x - mean) * rstd * gamma (+ beta, which comes in dy's binding).
fn write_y(base: u32, first: u32, step: u32, st: vec2<f32>) {
    for (var c = first; c < C; c += step) {
        var v = (x[base + c] - st.x) * st.y * gamma[c];
        if (!RMS) {
            v += dy[c];
        }
        out[base + c] = v;
    }
}

// Partial (sum g dy, sum g dy xhat), g = gamma, from the saved statistics.
fn grad_sums(r: u32, first: u32, step: u32) -> vec2<f32> {
    let base = r * C;
    let mean = stats[r * 2u];
    let rstd = stats[r * 2u + 1u];
    var s = vec2<f32>(0.0);
    for (var c = first; c < C; c += step) {
        let g = gamma[c] * dy[base + c];
        s += vec2<f32>(g, g * (x[base + c] - mean) * rstd);
    }
    return s;
}

// dx by the closed form, from the whole row's sums.
fn write_dx(r: u32, first: u32, step: u32, s: vec2<f32>) {
    let base = r * C;
    let mean = stats[r * 2u];
    let rstd = stats[r * 2u + 1u];
    let sa = select(s.x, 0.0, RMS) / f32(C);
    let sb = s.y / f32(C);
    for (var c = first; c < C; c += step) {
        let g = gamma[c] * dy[base + c];
        out[base + c] = rstd * (g - sa - (x[base + c] - mean) * rstd * sb);
    }
}

@compute @workgroup_size(WG)
fn ln_stats(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = row_id(wid, nwg, lid);
    if (r >= rows()) {
        return;
    }
    let st = row_stats(r * C, stat_sums(r * C, 0u, 1u));
    out[r * 2u] = st.x;
    out[r * 2u + 1u] = st.y;
}

@compute @workgroup_size(WG)
fn ln_grad_reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = row_id(wid, nwg, lid);
    if (r >= rows()) {
        return;
    }
    let s = grad_sums(r, 0u, 1u);
    out[r * 2u] = s.x;
    out[r * 2u + 1u] = s.y;
}

// The one-kernel forms (software adapters). A subgroup per row, RPW rows per
// workgroup: neighbouring lanes load and store neighbouring elements, and the
// second pass finds the row still in cache. out (rows, C).
// #if subgroups
@compute @workgroup_size(LANES)
fn ln_forward_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r0 = (wid.x + wid.y * nwg.x) * RPW;
    for (var r = r0; r < min(r0 + RPW, rows()); r++) {
        let base = r * C;
        write_y(base, lid, LANES, row_stats(base, subgroupAdd(stat_sums(base, lid, LANES))));
    }
}

@compute @workgroup_size(LANES)
fn ln_grad_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r0 = (wid.x + wid.y * nwg.x) * RPW;
    for (var r = r0; r < min(r0 + RPW, rows()); r++) {
        write_dx(r, lid, LANES, subgroupAdd(grad_sums(r, lid, LANES)));
    }
}
// #endif

// An element per invocation, from the row statistics (and sums): where the
// one-kernel forms are off.
@group(0) @binding(5) var<storage, read> sums: array<f32>;

@compute @workgroup_size(WG)
fn ln_apply(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = row_id(wid, nwg, lid);
    if (i >= rows() * C) {
        return;
    }
    let r = i / C;
    let c = i % C;
    var v = (x[i] - stats[r * 2u]) * stats[r * 2u + 1u] * gamma[c];
    if (!RMS) {
        v += dy[c];
    }
    out[i] = v;
}

@compute @workgroup_size(WG)
fn ln_grad_input(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = row_id(wid, nwg, lid);
    if (i >= rows() * C) {
        return;
    }
    let r = i / C;
    let mean = stats[r * 2u];
    let rstd = stats[r * 2u + 1u];
    let sa = select(sums[r * 2u], 0.0, RMS) / f32(C);
    let sb = sums[r * 2u + 1u] / f32(C);
    let g = gamma[i % C] * dy[i];
    out[i] = rstd * (g - sa - (x[i] - mean) * rstd * sb);
}
