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
//   matmul_tiled     gemm.wgsl's gemm_tiled: 64x64 tiles staged through
//                    workgroup memory, 4x4 outputs per invocation. Real GPUs
//                    run barriers in hardware and reward the reuse: their version.
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
//                    contiguous along n, as two scalars (matmul_lanes_strided:
//                    gemm.wgsl's gemm_lanes).
//                    8 vec4 accumulators per lane fill the 32 vector registers
//                    exactly; larger tiles spill and run slower. A B that is
//                    neither vec4-readable nor swappable (B transposed, an
//                    n that is not a multiple of 4) is first copied into a
//                    padded panel by matmul_pack_b: K x N work against the
//                    product's M x K x N, as BLAS packs its panels.

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

// The GEMM cores (gemm.wgsl) on the strided operands.
fn gemm_m() -> u32 {
    return cfg.m;
}

fn gemm_n() -> u32 {
    return cfg.n;
}

fn gemm_k() -> u32 {
    return cfg.k;
}

fn gemm_a_row(z: u32, m: u32) -> u32 {
    return batch_base(z).x + m * cfg.a_sm;
}

fn gemm_a(z: u32, row: u32, k: u32) -> f32 {
    return f32(a[row + k * cfg.a_sk]);
}

fn gemm_b_col(z: u32, n: u32) -> u32 {
    return batch_base(z).y + n * cfg.b_sn;
}

fn gemm_b(z: u32, k: u32, col: u32) -> f32 {
    return f32(b[col + k * cfg.b_sk]);
}

fn gemm_store(z: u32, m: u32, n: u32, v: f32) {
    store_c(z, m, n, v);
}

// #include gemm

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
    // Columns past the edge re-read the last vec4 (of B's rows padded to a
    // multiple of 4 when packed); their results are not stored.
    let cb = (base.y + min(j0, (cfg.n + 3u) / 4u * 4u - 4u)) / 4u;
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

// #if subgroups
@compute @workgroup_size(LANES)
fn matmul_lanes_strided(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    gemm_lanes(wid, lid.x);
}
// #endif

// ---- packing: a B the vec4 form cannot read, copied to a panel it can -------

// B (any strides) into c4 as (batches, k, n4) contiguous rows padded with
// zeros to n4 = a multiple of 4, so matmul_lanes reads it as vec4. Its cfg:
// m = n4, n, k, batch = the panel's batches (B's broadcast batch dims are 1
// in bdims, stored once), B's offset and strides as for the product. A vec4
// per invocation, PER of them WG apart: on a CPU adapter every workgroup is
// a task of its own and one element each spends the time starting them.
@group(0) @binding(0) var<storage, read_write> c4: array<vec4<elem>>;
override PER: u32 = 1u;

@compute @workgroup_size(64)
fn matmul_pack_b(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let q4 = cfg.m / 4u;
    let total = cfg.batch * cfg.k * q4;
    let first = (wid.x + wid.y * nwg.x) * 64u * PER + li;
    for (var p = 0u; p < PER; p++) {
        let e = first + p * 64u;
        if (e >= total) {
            return;
        }
        let j = (e % q4) * 4u;
        let row = batch_base(e / (q4 * cfg.k)).y + ((e / q4) % cfg.k) * cfg.b_sk;
        var v: vec4<elem>;
        for (var u = 0u; u < 4u; u++) {
            v[u] = select(elem(0.0), b[row + min(j + u, cfg.n - 1u) * cfg.b_sn], j + u < cfg.n);
        }
        c4[e] = v;
    }
}

// ---- workgroup-memory tiles: for real GPUs -----------------------------------

@compute @workgroup_size(16, 16)
fn matmul_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    gemm_tiled(wid, lid, li);
}
