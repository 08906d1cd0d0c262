// matmul.wgsl: batched C = A x B with strided operands.
//
//   C[b, i, j] = sum_k A[b, i, k] * B[b, k, j]
//
// Bindings: c (batch, m, n) elem, contiguous; a, b elem, read through the
// strides in `cfg` (a transposed operand is just swapped strides: never a
// transpose copy); cfg (shapes, strides, batch decomposition).
// Accumulation is f32 whatever `elem` is.
//
// Versions, one pipeline each for every shape:
//   matmul_naive     one invocation per output. The baseline the benchmark
//                    compares against, and nothing more.
//   matmul_tiled     64x64 tiles staged through workgroup memory, 4x4 outputs
//                    per invocation. Real GPUs run barriers in hardware and
//                    reward the reuse: this is their version.
//   matmul_register  no workgroup memory, no barrier: each invocation keeps a
//                    4x4 tile of C in registers. The software-adapter version
//                    when subgroups are off (SHADERGRAD_PLAIN).
//   matmul_lanes     (+ _strided) the software-adapter version with subgroups.
//                    A workgroup is ONE subgroup of LANES invocations. On
//                    lavapipe every storage load inside a loop is a per-lane
//                    scalar load (even when all lanes read one address), so a
//                    lane loads A[m][k0 + lane] for LANES k-steps at once and a
//                    subgroup shuffle hands each lane the value it needs: every
//                    load is useful, none is repeated. B comes as one vec4 per
//                    lane per k (matmul_lanes) or, for a B that is not
//                    contiguous along n, as two scalars (matmul_lanes_strided).
//                    8 vec4 accumulators per lane fill the 32 vector registers
//                    exactly; larger tiles spill and run slower.

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
    c_sm: u32,        // C element (i, j) of batch z at z * c_sb + i * c_sm + j * c_sn;
    c_sn: u32,        // (n, 1) except when the product is computed transposed
    c_sb: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
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
    c[z * cfg.c_sb + i * cfg.c_sm + j * cfg.c_sn] = elem(acc);
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
            for (var u = 0u; u < 4u; u++) {
                if (j0 + u < cfg.n) {
                    c[z * cfg.c_sb + i * cfg.c_sm + (j0 + u) * cfg.c_sn] = elem(acc[t][u]);
                }
            }
        }
    }
}

// ---- one subgroup per workgroup, loads spread by shuffles: lavapipe ------------

override LANES: u32 = 8u;
const LT: u32 = 8u; // rows of C per workgroup

// B seen as vec4 (only matmul_lanes uses it; B must be contiguous along n,
// with n, its row stride and its offset multiples of 4).
@group(0) @binding(2) var<storage, read> b4: array<vec4<elem>>;

fn store_c(z: u32, i: u32, j: u32, v: f32) {
    if (i < cfg.m && j < cfg.n) {
        c[z * cfg.c_sb + i * cfg.c_sm + j * cfg.c_sn] = elem(v);
    }
}

// #if subgroups
@compute @workgroup_size(LANES)
fn matmul_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    let z = wid.z;
    let base = batch_base(z);
    let m0 = wid.y * LT;
    let j0 = wid.x * 4u * LANES + 4u * l;
    var ra: array<u32, LT>;
    for (var t = 0u; t < LT; t++) {
        ra[t] = base.x + min(m0 + t, cfg.m - 1u) * cfg.a_sm;
    }
    // Columns past the edge re-read the last vec4; their results are not stored.
    let cb = (base.y + min(j0, cfg.n - 4u)) / 4u;
    let sbk4 = cfg.b_sk / 4u;
    var acc: array<vec4<f32>, LT>;
    let kmain = cfg.k - cfg.k % LANES;
    var k = 0u;
    for (; k < kmain; k += LANES) {
        var av: array<f32, LT>;
        for (var t = 0u; t < LT; t++) {
            av[t] = f32(a[ra[t] + (k + l) * cfg.a_sk]);
        }
        for (var kk = 0u; kk < LANES; kk++) {
            let bv = vec4<f32>(b4[cb + (k + kk) * sbk4]);
            for (var t = 0u; t < LT; t++) {
                acc[t] += subgroupShuffle(av[t], kk) * bv;
            }
        }
    }
    for (; k < cfg.k; k++) {
        let bv = vec4<f32>(b4[cb + k * sbk4]);
        for (var t = 0u; t < LT; t++) {
            acc[t] += f32(a[ra[t] + k * cfg.a_sk]) * bv;
        }
    }
    for (var t = 0u; t < LT; t++) {
        for (var u = 0u; u < 4u; u++) {
            store_c(z, m0 + t, j0 + u, acc[t][u]);
        }
    }
}
// #endif

const ST: u32 = 12u; // rows of C per workgroup in the strided version

// #if subgroups
@compute @workgroup_size(LANES)
fn matmul_lanes_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    let z = wid.z;
    let base = batch_base(z);
    let m0 = wid.y * ST;
    let j0 = wid.x * 2u * LANES + l;
    let j1 = j0 + LANES;
    var ra: array<u32, ST>;
    for (var t = 0u; t < ST; t++) {
        ra[t] = base.x + min(m0 + t, cfg.m - 1u) * cfg.a_sm;
    }
    let cb0 = base.y + min(j0, cfg.n - 1u) * cfg.b_sn;
    let cb1 = base.y + min(j1, cfg.n - 1u) * cfg.b_sn;
    var acc: array<vec2<f32>, ST>;
    let kmain = cfg.k - cfg.k % LANES;
    var k = 0u;
    for (; k < kmain; k += LANES) {
        var av: array<f32, ST>;
        for (var t = 0u; t < ST; t++) {
            av[t] = f32(a[ra[t] + (k + l) * cfg.a_sk]);
        }
        for (var kk = 0u; kk < LANES; kk++) {
            let kb = (k + kk) * cfg.b_sk;
            let bv = vec2<f32>(f32(b[cb0 + kb]), f32(b[cb1 + kb]));
            for (var t = 0u; t < ST; t++) {
                acc[t] += subgroupShuffle(av[t], kk) * bv;
            }
        }
    }
    for (; k < cfg.k; k++) {
        let kb = k * cfg.b_sk;
        let bv = vec2<f32>(f32(b[cb0 + kb]), f32(b[cb1 + kb]));
        for (var t = 0u; t < ST; t++) {
            acc[t] += f32(a[ra[t] + k * cfg.a_sk]) * bv;
        }
    }
    for (var t = 0u; t < ST; t++) {
        store_c(z, m0 + t, j0, acc[t].x);
        store_c(z, m0 + t, j1, acc[t].y);
    }
}
// #endif

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
                    c[z * cfg.c_sb + i * cfg.c_sm + j * cfg.c_sn] = elem(acc[t][u]);
                }
            }
        }
    }
}
