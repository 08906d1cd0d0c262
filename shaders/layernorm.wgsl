// layernorm.wgsl: the two per-row reductions of layer norm and RMSNorm (over
// the last axis, C features). The rest is elementwise and the planner fuses it
// (kernels/expr.rs: LnApply, LnGradInput), so each direction is one reduction
// plus one fused elementwise kernel.
//
//   ln_stats        (rows, 2): mean and 1/sqrt(var + eps)       (RMS: 0 and 1/sqrt(mean(x^2) + eps))
//   ln_forward_*    (rows, C): the whole forward in one kernel (software
//                   adapters; GPUs take ln_stats + the fused elementwise one)
//   ln_grad_*       (rows, C): dx in one kernel (software adapters; GPUs take
//                   ln_grad_reduce + the fused elementwise closed form)
//   ln_grad_reduce  (rows, 2): sum(g * dy) and sum(g * dy * xhat), g = gamma,
//                   xhat = (x - mean) * rstd: the two sums of the closed form
//                   dx = rstd * (g dy - sum(g dy) / C - xhat * sum(g dy xhat) / C)
//                   (RMS: the first sum is not subtracted)
//
// One invocation per row, no barrier: the rows are a batch times a sequence,
// many of them, and a row of C features fits one invocation's loop. The
// variance shifts by the row's first value so E[d^2] - E[d]^2 cannot cancel.
// Bindings: out (rows, 2), x (rows, C), dy, gamma (C), stats (rows, 2), eps.

override ROWS: u32 = 1u;
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

fn row_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn ln_stats(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = row_id(wid, nwg, lid);
    if (r >= ROWS) {
        return;
    }
    let eps = bitcast<f32>(sc[0][0]);
    let base = r * C;
    if (RMS) {
        var s2 = 0.0;
        for (var c = 0u; c < C; c++) {
            let v = x[base + c];
            s2 += v * v;
        }
        out[r * 2u] = 0.0;
        out[r * 2u + 1u] = inverseSqrt(s2 / f32(C) + eps);
        return;
    }
    let shift = x[base];
    var s1 = 0.0;
    var s2 = 0.0;
    for (var c = 0u; c < C; c++) {
        let d = x[base + c] - shift;
        s1 += d;
        s2 += d * d;
    }
    let m = s1 / f32(C);
    out[r * 2u] = shift + m;
    out[r * 2u + 1u] = inverseSqrt(max(s2 / f32(C) - m * m, 0.0) + eps);
}

// The whole forward in one kernel (software adapters), a subgroup per row:
// the lanes stride the row (neighbouring lanes, neighbouring elements, for
// loads and stores alike), their partial sums meet by subgroupAdd, and the
// second pass finds the row still in cache. RPW rows per workgroup. beta
// comes in dy's binding (unused for RMSNorm). out (rows, C).
// #if subgroups
@compute @workgroup_size(LANES)
fn ln_forward_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let eps = bitcast<f32>(sc[0][0]);
    let r0 = (wid.x + wid.y * nwg.x) * RPW;
    for (var t = 0u; t < RPW; t++) {
        let r = r0 + t;
        if (r >= ROWS) {
            return;
        }
        let base = r * C;
        var mean = 0.0;
        var rstd = 0.0;
        if (RMS) {
            var s2 = 0.0;
            for (var c = lid; c < C; c += LANES) {
                let v = x[base + c];
                s2 += v * v;
            }
            rstd = inverseSqrt(subgroupAdd(s2) / f32(C) + eps);
        } else {
            let shift = x[base];
            var s1 = 0.0;
            var s2 = 0.0;
            for (var c = lid; c < C; c += LANES) {
                let d = x[base + c] - shift;
                s1 += d;
                s2 += d * d;
            }
            let m = subgroupAdd(s1) / f32(C);
            rstd = inverseSqrt(max(subgroupAdd(s2) / f32(C) - m * m, 0.0) + eps);
            mean = shift + m;
        }
        for (var c = lid; c < C; c += LANES) {
            var v = (x[base + c] - mean) * rstd * gamma[c];
            if (!RMS) {
                v += dy[c];
            }
            out[base + c] = v;
        }
    }
}
// #endif

// The same with a row per invocation: where the subgroup form is off.
@compute @workgroup_size(WG)
fn ln_forward_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = row_id(wid, nwg, lid);
    if (r >= ROWS) {
        return;
    }
    let eps = bitcast<f32>(sc[0][0]);
    let base = r * C;
    var mean = 0.0;
    var rstd = 0.0;
    if (RMS) {
        var s2 = 0.0;
        for (var c = 0u; c < C; c++) {
            let v = x[base + c];
            s2 += v * v;
        }
        rstd = inverseSqrt(s2 / f32(C) + eps);
    } else {
        let shift = x[base];
        var s1 = 0.0;
        var s2 = 0.0;
        for (var c = 0u; c < C; c++) {
            let d = x[base + c] - shift;
            s1 += d;
            s2 += d * d;
        }
        let m = s1 / f32(C);
        rstd = inverseSqrt(max(s2 / f32(C) - m * m, 0.0) + eps);
        mean = shift + m;
    }
    for (var c = 0u; c < C; c++) {
        var v = (x[base + c] - mean) * rstd * gamma[c];
        if (!RMS) {
            v += dy[c];
        }
        out[base + c] = v;
    }
}

// The input gradient in one kernel (software adapters), a subgroup per row:
// the row's two sums by subgroupAdd, then dx in a second pass over the row.
// out (rows, C).
// #if subgroups
@compute @workgroup_size(LANES)
fn ln_grad_lanes(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r0 = (wid.x + wid.y * nwg.x) * RPW;
    for (var t = 0u; t < RPW; t++) {
        let r = r0 + t;
        if (r >= ROWS) {
            return;
        }
        let base = r * C;
        let mean = stats[r * 2u];
        let rstd = stats[r * 2u + 1u];
        var a = 0.0;
        var b = 0.0;
        for (var c = lid; c < C; c += LANES) {
            let g = gamma[c] * dy[base + c];
            a += g;
            b += g * (x[base + c] - mean) * rstd;
        }
        let sa = select(subgroupAdd(a), 0.0, RMS) / f32(C);
        let sb = subgroupAdd(b) / f32(C);
        for (var c = lid; c < C; c += LANES) {
            let g = gamma[c] * dy[base + c];
            out[base + c] = rstd * (g - sa - (x[base + c] - mean) * rstd * sb);
        }
    }
}
// #endif

// The same with a row per invocation: where the subgroup form is off.
@compute @workgroup_size(WG)
fn ln_grad_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = row_id(wid, nwg, lid);
    if (r >= ROWS) {
        return;
    }
    let base = r * C;
    let mean = stats[r * 2u];
    let rstd = stats[r * 2u + 1u];
    var a = 0.0;
    var b = 0.0;
    for (var c = 0u; c < C; c++) {
        let g = gamma[c] * dy[base + c];
        a += g;
        b += g * (x[base + c] - mean) * rstd;
    }
    let sa = select(a, 0.0, RMS) / f32(C);
    let sb = b / f32(C);
    for (var c = 0u; c < C; c++) {
        let g = gamma[c] * dy[base + c];
        out[base + c] = rstd * (g - sa - (x[base + c] - mean) * rstd * sb);
    }
}

@compute @workgroup_size(WG)
fn ln_grad_reduce(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = row_id(wid, nwg, lid);
    if (r >= ROWS) {
        return;
    }
    let base = r * C;
    let mean = stats[r * 2u];
    let rstd = stats[r * 2u + 1u];
    var a = 0.0;
    var b = 0.0;
    for (var c = 0u; c < C; c++) {
        let g = gamma[c] * dy[base + c];
        a += g;
        b += g * (x[base + c] - mean) * rstd;
    }
    out[r * 2u] = a;
    out[r * 2u + 1u] = b;
}
