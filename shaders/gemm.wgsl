// gemm.wgsl: the GEMM tile cores matmul.wgsl and conv2d.wgsl share. Not a
// shader of its own: the pipeline cache pastes it where a shader has the line
// `// #include gemm`, and the includer supplies the GEMM through six hooks:
//
//   fn gemm_m() -> u32, gemm_n() -> u32, gemm_k() -> u32   the sizes (M, N, K)
//   fn gemm_a_row(z, m) -> u32       a handle on row m of A in GEMM z (an offset,
//                                    affine in m: the cores step it themselves)
//   fn gemm_a(z, row, k) -> f32      A[m, k], given row m's handle
//   fn gemm_b_col(z, n) -> u32       a handle on column n of B (affine in n)
//   fn gemm_b(z, k, col) -> f32      B[k, n], given column n's handle
//   fn gemm_store(z, m, n, v)        C[m, n] = v; skips m >= M or n >= N
//
// (matmul's A and B are strided tensors, conv's are computed where they load:
// im2col and its transposes). Each core is called by the includer's entry
// point with its builtins; LANES is the includer's override.
//
//   gemm_lanes  one subgroup per workgroup: lane l loads A at k + l for ST
//               rows and subgroup shuffles hand each lane the value it needs;
//               12 rows x 2 columns per lane, B as two scalars per k; no
//               barrier (software adapters, where every load in a loop is a
//               per-lane scalar load and barriers are costly).
//   gemm_tiled  64x64 tiles staged through workgroup memory, 16 k at a time,
//               4x4 outputs per invocation (GPUs: barriers in hardware, each
//               load reused 64 times). Out-of-range elements load as zero so
//               the inner loop is plain.

const ST: u32 = 12u; // rows of C per workgroup in gemm_lanes

// #if subgroups
fn gemm_lanes(wid: vec3<u32>, l: u32) {
    let z = wid.z;
    let m0 = wid.y * ST;
    let n0 = wid.x * 2u * LANES + l;
    let n1 = n0 + LANES;
    let mm = gemm_m();
    let nn = gemm_n();
    let kn = gemm_k();
    // Past the edge, rows and columns re-read the last valid one; not stored.
    // Row t's handle is computed where it is used, not kept in an array: an
    // array indexed in a loop may live in memory, not registers.
    let r0 = gemm_a_row(z, 0u);
    let rs = gemm_a_row(z, 1u) - r0;
    let c0 = gemm_b_col(z, min(n0, nn - 1u));
    let c1 = gemm_b_col(z, min(n1, nn - 1u));
    var acc: array<vec2<f32>, ST>;
    let kmain = kn - kn % LANES;
    var k = 0u;
    for (; k < kmain; k += LANES) {
        var av: array<f32, ST>;
        for (var t = 0u; t < ST; t++) {
            av[t] = gemm_a(z, r0 + min(m0 + t, mm - 1u) * rs, k + l);
        }
        for (var kk = 0u; kk < LANES; kk++) {
            let bv = vec2<f32>(gemm_b(z, k + kk, c0), gemm_b(z, k + kk, c1));
            for (var t = 0u; t < ST; t++) {
                acc[t] += subgroupShuffle(av[t], kk) * bv;
            }
        }
    }
    for (; k < kn; k++) {
        let bv = vec2<f32>(gemm_b(z, k, c0), gemm_b(z, k, c1));
        for (var t = 0u; t < ST; t++) {
            acc[t] += gemm_a(z, r0 + min(m0 + t, mm - 1u) * rs, k) * bv;
        }
    }
    for (var t = 0u; t < ST; t++) {
        gemm_store(z, m0 + t, n0, acc[t].x);
        gemm_store(z, m0 + t, n1, acc[t].y);
    }
}
// #endif

const TILE: u32 = 64u;
const BK: u32 = 16u;
var<workgroup> sa: array<array<f32, 64>, 16>; // [k][m]
var<workgroup> sb: array<array<f32, 64>, 16>; // [k][n]

// With @workgroup_size(16, 16).
fn gemm_tiled(wid: vec3<u32>, lid: vec3<u32>, li: u32) {
    let z = wid.z;
    let tm = wid.y * TILE;
    let tn = wid.x * TILE;
    let mm = gemm_m();
    let nn = gemm_n();
    let kn = gemm_k();
    let r0 = gemm_a_row(z, 0u);
    let rs = gemm_a_row(z, 1u) - r0;
    let b0 = gemm_b_col(z, 0u);
    let bs = gemm_b_col(z, 1u) - b0;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < kn; k0 += BK) {
        // 256 invocations stage a 64x16 slab of A and a 16x64 slab of B, four
        // elements each.
        for (var e = 0u; e < 4u; e++) {
            let f = li + e * 256u;
            let r = f / BK;
            let ka = k0 + f % BK;
            let va = gemm_a(z, r0 + min(tm + r, mm - 1u) * rs, min(ka, kn - 1u));
            sa[f % BK][r] = select(0.0, va, tm + r < mm && ka < kn);
            let kb = k0 + f / TILE;
            let c = f % TILE;
            let vb = gemm_b(z, min(kb, kn - 1u), b0 + min(tn + c, nn - 1u) * bs);
            sb[f / TILE][c] = select(0.0, vb, kb < kn && tn + c < nn);
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
        for (var u = 0u; u < 4u; u++) {
            gemm_store(z, tm + lid.y * 4u + t, tn + lid.x * 4u + u, acc[t][u]);
        }
    }
}
