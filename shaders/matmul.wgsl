// matmul.wgsl: batched C = A x B with strided operands.
//
//   C[b, i, j] = sum_k A[b, i, k] * B[b, k, j]
//
// Bindings: c (batch, m, n) elem, contiguous; a, b elem, read through the
// strides in `cfg` (a transposed operand is just swapped strides: never a
// transpose copy); cfg (shapes, strides, batch decomposition).
// Accumulation is f32 whatever `elem` is.
//
// Three versions, one pipeline each for every shape:
//   matmul_naive     one invocation per output. The baseline the benchmark
//                    compares against, and nothing more.
//   matmul_tiled     64x64 tiles staged through workgroup memory, 4x4 outputs
//                    per invocation. Real GPUs run barriers in hardware and
//                    reward the reuse: this is their version.
//   matmul_register  no workgroup memory, no barrier: each invocation keeps a
//                    4x4 tile of C in registers. On lavapipe a workgroup runs as
//                    a coroutine that every barrier suspends, so this wins there.

struct Meta {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_off: u32,
    a_sm: u32,
    a_sk: u32,
    b_off: u32,
    b_sk: u32,
    b_sn: u32,
    _pad0: u32,
    _pad1: u32,
    bdims: vec4<u32>, // batch dims, row-major, unused ones are 1
    a_sb: vec4<u32>,  // A's stride per batch dim (0 when broadcast)
    b_sb: vec4<u32>,
}

@group(0) @binding(0) var<storage, read_write> c: array<elem>;
@group(0) @binding(1) var<storage, read> a: array<elem>;
@group(0) @binding(2) var<storage, read> b: array<elem>;
@group(0) @binding(3) var<uniform> cfg: Meta;

// Where batch `z` of A and of B starts.
fn batch_base(z: u32) -> vec2<u32> {
    let d = cfg.bdims;
    let c3 = z % d.w;
    let c2 = (z / d.w) % d.z;
    let c1 = (z / (d.w * d.z)) % d.y;
    let c0 = z / (d.w * d.z * d.y);
    let co = vec4<u32>(c0, c1, c2, c3);
    return vec2<u32>(cfg.a_off + dot(co, cfg.a_sb), cfg.b_off + dot(co, cfg.b_sb));
}

@compute @workgroup_size(8, 8)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let i = gid.y;
    let z = gid.z;
    if (i >= cfg.m || j >= cfg.n) {
        return;
    }
    let base = batch_base(z);
    var acc = 0.0;
    for (var k = 0u; k < cfg.k; k++) {
        acc += f32(a[base.x + i * cfg.a_sm + k * cfg.a_sk]) * f32(b[base.y + k * cfg.b_sk + j * cfg.b_sn]);
    }
    c[(z * cfg.m + i) * cfg.n + j] = elem(acc);
}

// ---- register tiles: no barrier ---------------------------------------------

@compute @workgroup_size(8, 8)
fn matmul_register(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let z = wid.z;
    let i0 = (wid.y * 8u + lid.y) * 4u;
    let j0 = (wid.x * 8u + lid.x) * 4u;
    if (i0 >= cfg.m || j0 >= cfg.n) {
        return;
    }
    let base = batch_base(z);
    // Rows and columns past the edge re-read the last valid one; their results
    // are never stored, so the loop needs no branch.
    var ra: array<u32, 4>;
    var cb: array<u32, 4>;
    for (var t = 0u; t < 4u; t++) {
        ra[t] = base.x + min(i0 + t, cfg.m - 1u) * cfg.a_sm;
        cb[t] = base.y + min(j0 + t, cfg.n - 1u) * cfg.b_sn;
    }
    var acc: array<vec4<f32>, 4>;
    for (var k = 0u; k < cfg.k; k++) {
        let ka = k * cfg.a_sk;
        let kb = k * cfg.b_sk;
        let bv = vec4<f32>(f32(b[cb[0] + kb]), f32(b[cb[1] + kb]), f32(b[cb[2] + kb]), f32(b[cb[3] + kb]));
        for (var t = 0u; t < 4u; t++) {
            acc[t] += f32(a[ra[t] + ka]) * bv;
        }
    }
    for (var t = 0u; t < 4u; t++) {
        let i = i0 + t;
        if (i < cfg.m) {
            let row = (z * cfg.m + i) * cfg.n;
            for (var u = 0u; u < 4u; u++) {
                if (j0 + u < cfg.n) {
                    c[row + j0 + u] = elem(acc[t][u]);
                }
            }
        }
    }
}

// ---- workgroup-memory tiles: for real GPUs -----------------------------------

const TILE: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> sa: array<array<f32, 64>, 16>; // [k][i]
var<workgroup> sb: array<array<f32, 64>, 16>; // [k][j]

@compute @workgroup_size(16, 16)
fn matmul_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let z = wid.z;
    let base = batch_base(z);
    let ti = wid.y * TILE;
    let tj = wid.x * TILE;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < cfg.k; k0 += BK) {
        // 256 invocations stage a 64x16 slab of A and a 16x64 slab of B, four
        // elements each; out-of-range elements are zero so the inner loop is plain.
        for (var e = 0u; e < 4u; e++) {
            let f = li + e * 256u;
            let r = f / BK;
            let kk = f % BK;
            let gi = ti + r;
            let gk = k0 + kk;
            var va = 0.0;
            if (gi < cfg.m && gk < cfg.k) {
                va = f32(a[base.x + gi * cfg.a_sm + gk * cfg.a_sk]);
            }
            sa[kk][r] = va;
            let kb = f / TILE;
            let cj = f % TILE;
            let gk2 = k0 + kb;
            let gj = tj + cj;
            var vb = 0.0;
            if (gk2 < cfg.k && gj < cfg.n) {
                vb = f32(b[base.y + gk2 * cfg.b_sk + gj * cfg.b_sn]);
            }
            sb[kb][cj] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let bv = vec4<f32>(sb[kk][lid.x * 4u], sb[kk][lid.x * 4u + 1u], sb[kk][lid.x * 4u + 2u], sb[kk][lid.x * 4u + 3u]);
            for (var t = 0u; t < 4u; t++) {
                acc[t] += sa[kk][lid.y * 4u + t] * bv;
            }
        }
        workgroupBarrier();
    }
    for (var t = 0u; t < 4u; t++) {
        let i = ti + lid.y * 4u + t;
        if (i < cfg.m) {
            for (var u = 0u; u < 4u; u++) {
                let j = tj + lid.x * 4u + u;
                if (j < cfg.n) {
                    c[(z * cfg.m + i) * cfg.n + j] = elem(acc[t][u]);
                }
            }
        }
    }
}
