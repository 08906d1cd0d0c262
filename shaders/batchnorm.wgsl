// batchnorm.wgsl: the two per-channel reductions of batch norm. The rest of
// batch norm is elementwise, composed (src/kernels/batchnorm.rs) and fused by
// the planner, so forward and backward are each one reduction plus one fused
// elementwise kernel.
//
//   bn_stats        (2, C): mean and biased variance of x over (B, spatial)
//   bn_grad_reduce  (2, C): sum(dy) and sum(dy * xhat), xhat = (x - mean) / sqrt(var + eps)
//                   the two sums of the closed-form gradient
//                   dx = gamma * invstd / N * (N dy - sum(dy) - xhat sum(dy xhat))
//
// x and dy are (B, C, S) with S the spatial size (1 for BatchNorm1d).
// One workgroup per channel: lanes stride the channel's B*S values, then a tree
// in workgroup memory. The variance sums squares of (x - first value of the
// channel): shifting by a sample keeps E[d^2] - E[d]^2 from cancelling.
// Bindings: out (2, C), x, dy (grad only), stats (2, C) (grad only), eps.

override B: u32 = 1u;
override C: u32 = 1u;
override S: u32 = 1u;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<uniform> sc: array<vec4<u32>, 1>;

var<workgroup> part: array<vec2<f32>, WG>;

fn at(c: u32, j: u32) -> u32 {
    return ((j / S) * C + c) * S + j % S;
}

// Sums the lanes' partial pairs into part[0].
fn tree(lid: u32, mine: vec2<f32>) -> vec2<f32> {
    part[lid] = mine;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part[lid] += part[lid + s];
        }
        workgroupBarrier();
    }
    return part[0];
}

@compute @workgroup_size(WG)
fn bn_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    let n = B * S;
    let shift = x[at(c, 0u)];
    var acc = vec2<f32>(0.0);
    for (var j = lid; j < n; j += WG) {
        let d = x[at(c, j)] - shift;
        acc += vec2<f32>(d, d * d);
    }
    let t = tree(lid, acc);
    if (lid == 0u) {
        let m = t.x / f32(n);
        out[c] = shift + m;
        out[C + c] = max(t.y / f32(n) - m * m, 0.0);
    }
}

@compute @workgroup_size(WG)
fn bn_grad_reduce(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let c = wid.x;
    let n = B * S;
    let mean = stats[c];
    let inv = inverseSqrt(stats[C + c] + bitcast<f32>(sc[0][0]));
    var acc = vec2<f32>(0.0);
    for (var j = lid; j < n; j += WG) {
        let i = at(c, j);
        let g = dy[i];
        acc += vec2<f32>(g, g * (x[i] - mean) * inv);
    }
    let t = tree(lid, acc);
    if (lid == 0u) {
        out[c] = t.x;
        out[C + c] = t.y;
    }
}
