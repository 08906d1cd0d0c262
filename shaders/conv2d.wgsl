// conv2d.wgsl: 2-D convolution (NCHW, weights (Cout, Cin/groups, KH, KW)) with
// stride, padding, dilation and groups, and both of its gradients, as
// implicit GEMM: the im2col matrix is never written, its elements are computed
// where the GEMM loads them.
//
//   MODE 0  y[b, o, oh, ow]  = sum_{c,kh,kw} x[b, g*CG+c, oh*SH-PH+kh*DH, ow*SW-PW+kw*DW] w[o, c, kh, kw]
//           GEMM per (b, g): M = MG (out channels), N = HO*WO, K = CG*KH*KW
//   MODE 1  dx[b, c, ih, iw] = sum_{o,kh,kw} dy[b, g*MG+o, oh, ow] w[g*MG+o, c', kh, kw]
//           where ih = oh*SH - PH + kh*DH (only when that divides evenly)
//           GEMM per (b, g): M = CG, N = H*W, K = MG*KH*KW
//   MODE 2  dw[o, c, kh, kw] = sum_{b,oh,ow} dy[b, o, oh, ow] x[b, g*CG+c, ih, iw]
//           GEMM per (g, split): M = MG, N = CG*KH*KW, K = BATCH*HO*WO, cut into
//           SPLITS chunks (K is long, M*N small): partial sums (SPLITS, Cout, ...)
//           in a scratch buffer that conv2d_sum_splits then adds up.
//
// Bindings: out (contiguous), p (x for MODE 0 and 2, dy for MODE 1),
// q (w for MODE 0 and 1, dy for MODE 2). All geometry is `override`: a
// pipeline per layer shape, so every index division is by a constant (cheap
// everywhere; on lavapipe a division by a runtime value is a per-lane loop).
//
// Entry points:
//   conv2d_lanes   gemm.wgsl's gemm_lanes on these loaders: one subgroup per
//                  workgroup, loads shared by shuffles, no barrier (software
//                  adapters).
//   conv2d_tiled   gemm.wgsl's gemm_tiled: 64x64 tiles through workgroup
//                  memory (GPUs).
//   conv2d_direct  one invocation per output with the taps in a loop (MODE 0
//                  and 1): the depthwise path, where a GEMM row would be one
//                  channel and nine taps, and the benchmark's naive baseline.
//   conv2d_sum_splits  MODE 2's partial sums (binding p) added up into out,
//                  one invocation per weight, the splits in order.

override MODE: u32 = 0u;
override BATCH: u32 = 1u;
override CIN: u32 = 1u;
override COUT: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override HO: u32 = 1u;
override WO: u32 = 1u;
override KH: u32 = 1u;
override KW: u32 = 1u;
override SH: u32 = 1u;
override SW: u32 = 1u;
override PH: u32 = 0u;
override PW: u32 = 0u;
override DH: u32 = 1u;
override DW: u32 = 1u;
override GROUPS: u32 = 1u;
override SPLITS: u32 = 1u;
override LANES: u32 = 8u;

override CG: u32 = CIN / GROUPS;
override MG: u32 = COUT / GROUPS;
override KK: u32 = KH * KW;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> p: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;

// GEMM sizes of this MODE.
fn gemm_m() -> u32 {
    return select(MG, CG, MODE == 1u);
}

fn gemm_n() -> u32 {
    if (MODE == 0u) {
        return HO * WO;
    }
    if (MODE == 1u) {
        return H * W;
    }
    return CG * KK;
}

fn gemm_k() -> u32 {
    if (MODE == 0u) {
        return CG * KK;
    }
    if (MODE == 1u) {
        return MG * KK;
    }
    return (BATCH * HO * WO + SPLITS - 1u) / SPLITS;
}

// x[b, ci, ih, iw], zero outside the image (the padding).
fn x_at(b: u32, ci: u32, ih: i32, iw: i32) -> f32 {
    let inside = ih >= 0 && ih < i32(H) && iw >= 0 && iw < i32(W);
    let i = select(0u, ((b * CIN + ci) * H + u32(ih)) * W + u32(iw), inside);
    return select(0.0, p[i], inside);
}

// A[m, k] for GEMM z.
fn load_a(z: u32, m: u32, k: u32) -> f32 {
    if (MODE == 0u) {
        let g = z % GROUPS;
        return q[(g * MG + m) * CG * KK + k];
    }
    if (MODE == 1u) {
        let g = z % GROUPS;
        let o = k / KK;
        return q[((g * MG + o) * CG + m) * KK + k % KK];
    }
    // MODE 2: dy[b, g*MG + m, oh, ow] with k = (b, pixel), offset by the split.
    let g = z % GROUPS;
    let kk = (z / GROUPS) * gemm_k() + k;
    let b = kk / (HO * WO);
    let inside = b < BATCH;
    let i = (min(b, BATCH - 1u) * COUT + g * MG + m) * HO * WO + kk % (HO * WO);
    return select(0.0, q[i], inside);
}

// B[k, n] for GEMM z.
fn load_b(z: u32, k: u32, n: u32) -> f32 {
    if (MODE == 0u) {
        let b = z / GROUPS;
        let g = z % GROUPS;
        let c = k / KK;
        let kh = (k % KK) / KW;
        let kw = k % KW;
        let ih = i32((n / WO) * SH + kh * DH) - i32(PH);
        let iw = i32((n % WO) * SW + kw * DW) - i32(PW);
        return x_at(b, g * CG + c, ih, iw);
    }
    if (MODE == 1u) {
        let b = z / GROUPS;
        let g = z % GROUPS;
        let o = k / KK;
        let kh = (k % KK) / KW;
        let kw = k % KW;
        let th = i32(n / W) + i32(PH) - i32(kh * DH);
        let tw = i32(n % W) + i32(PW) - i32(kw * DW);
        let oh = th / i32(SH);
        let ow = tw / i32(SW);
        let inside = th >= 0 && tw >= 0 && th % i32(SH) == 0 && tw % i32(SW) == 0
            && oh < i32(HO) && ow < i32(WO);
        let i = select(0u, ((b * COUT + g * MG + o) * HO + u32(oh)) * WO + u32(ow), inside);
        return select(0.0, p[i], inside);
    }
    // MODE 2: x[b, g*CG + c, oh*SH - PH + kh*DH, ...] with k = (b, oh, ow), n = (c, kh, kw).
    let g = z % GROUPS;
    let kk = (z / GROUPS) * gemm_k() + k;
    let b = kk / (HO * WO);
    let pix = kk % (HO * WO);
    let c = n / KK;
    let kh = (n % KK) / KW;
    let kw = n % KW;
    let ih = i32((pix / WO) * SH + kh * DH) - i32(PH);
    let iw = i32((pix % WO) * SW + kw * DW) - i32(PW);
    return select(0.0, x_at(min(b, BATCH - 1u), g * CG + c, ih, iw), b < BATCH);
}

fn store(z: u32, m: u32, n: u32, v: f32) {
    if (m >= gemm_m() || n >= gemm_n()) {
        return;
    }
    if (MODE == 0u) {
        let b = z / GROUPS;
        let g = z % GROUPS;
        out[(b * COUT + g * MG + m) * HO * WO + n] = v;
    } else if (MODE == 1u) {
        let b = z / GROUPS;
        let g = z % GROUPS;
        out[(b * CIN + g * CG + m) * H * W + n] = v;
    } else {
        // Partial sums: (SPLITS, COUT, CG * KK).
        let g = z % GROUPS;
        let split = z / GROUPS;
        out[(split * COUT + g * MG + m) * CG * KK + n] = v;
    }
}

// ---- the GEMM cores (gemm.wgsl) on the implicit-GEMM loaders above ----------

fn gemm_a_row(z: u32, m: u32) -> u32 {
    return m;
}

fn gemm_a(z: u32, row: u32, k: u32) -> f32 {
    return load_a(z, row, k);
}

fn gemm_b_col(z: u32, n: u32) -> u32 {
    return n;
}

fn gemm_b(z: u32, k: u32, col: u32) -> f32 {
    return load_b(z, k, col);
}

fn gemm_store(z: u32, m: u32, n: u32, v: f32) {
    store(z, m, n, v);
}

// #include gemm

// #if subgroups
@compute @workgroup_size(LANES)
fn conv2d_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    gemm_lanes(wid, lid.x);
}
// #endif

@compute @workgroup_size(16, 16)
fn conv2d_tiled(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    gemm_tiled(wid, lid, li);
}

// ---- direct: one invocation per output (depthwise; the naive baseline) --------

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn conv2d_direct(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * WG + li;
    let per = gemm_m() * gemm_n();
    let z = i / per;
    if (z >= BATCH * GROUPS) {
        return;
    }
    let m = (i % per) / gemm_n();
    let n = i % gemm_n();
    var acc = 0.0;
    for (var k = 0u; k < gemm_k(); k++) {
        acc += load_a(z, m, k) * load_b(z, k, n);
    }
    store(z, m, n, acc);
}

// ---- the weight gradient's partial sums, added up -----------------------------

@compute @workgroup_size(WG)
fn conv2d_sum_splits(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * WG + li;
    let total = COUT * CG * KK;
    if (i >= total) {
        return;
    }
    var s = 0.0;
    for (var k = 0u; k < SPLITS; k++) {
        s += p[k * total + i];
    }
    out[i] = s;
}
