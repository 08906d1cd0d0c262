// attention.wgsl: fused attention, softmax(Q K^T * scale + mask) V, flash
// style, and its gradient, FlashAttention-2 style. No N x N matrix is ever
// written: keys and values are visited in blocks with an online softmax, and
// the backward recomputes each block of probabilities from the saved row
// log-sum-exp.
//
// Shapes (contiguous): q (BH, NQ, D), k (BH, NK, D), v (BH, NK, DV), with
// BH = batch * heads; lens (B) i32 key lengths when PADDED.
//   forward    out (BH, NQ, DV + 1): O, then the row log-sum-exp in the last
//              column (one tensor, so the graph keeps one node; O is a view)
//   grad kv    out (BH, NK, D + DV): dK, then dV
//   grad q     out (BH, NQ, D)
// The gradients also read the forward's packed output, dO (BH, NQ, DV) and
// Dr = rowsum(dO * O) (BH, NQ), computed by a fused reduction beforehand.
//
// Masks (key j visible to query i): CAUSAL j <= i (top-left aligned, as
// PyTorch's is_causal), PADDED j < lens[b], WINDOW |i - j| <= W (the local
// attention of self-attention for speech). Key blocks a mask hides entirely
// are skipped. A query that sees no key gets O = 0.
//
// Two forms of each kernel:
//   *_lanes  one subgroup per workgroup (LANES lanes; software adapters):
//            8 query rows (or key rows, for grad kv) per workgroup against
//            blocks of 2 * LANES keys (queries), each lane owning two; dot
//            products run in chunks of LANES with each lane loading one
//            element and subgroup shuffles sharing it, so no load is repeated
//            across lanes (on lavapipe every load in a loop is a per-lane
//            scalar load); accumulators are vec4 chunks of each lane's slice
//            (elements l, l + LANES, ...) in fixed, fully unrolled loops.
//   *_rows   one invocation per row with the loop over the other side: the
//            plain form (no subgroups; real GPUs, where a warp's identical
//            loads of one key row are one broadcast).
// Vectors live in fixed arrays of 128: D and DV are at most 128.

override H: u32 = 1u;
override NQ: u32 = 0u;
override NK: u32 = 0u;
override D: u32 = 64u;
override DV: u32 = 64u;
override CAUSAL: bool = false;
override PADDED: bool = false;
override WINDOW: bool = false;
override W: u32 = 0u;
override LANES: u32 = 8u;
override WG: u32 = 64u;

// Per-lane slice sizes of a D- and a DV-vector.
override DP: u32 = (D + LANES - 1u) / LANES;
override DVP: u32 = (DV + LANES - 1u) / LANES;

const LOWEST: f32 = -3.4028235e38;

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> lens: array<i32>;
@group(0) @binding(5) var<uniform> sc: array<vec4<u32>, 1>;
// The gradients' extra inputs.
@group(0) @binding(6) var<storage, read> fwd: array<f32>; // (BH, NQ, DV + 1)
@group(0) @binding(7) var<storage, read> dout: array<f32>; // (BH, NQ, DV)
@group(0) @binding(8) var<storage, read> drow: array<f32>; // (BH, NQ)
// The same q, k, v and dO seen as vec4 (the lanes forms; D and DV multiples of 4).
@group(0) @binding(9) var<storage, read> q4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> k4: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read> v4: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read> do4: array<vec4<f32>>;

// NQ and NK: override constants for a structure's first shapes, else 0 and
// read from `dims` (nq, nk), so one pipeline serves every sequence length.
@group(0) @binding(13) var<uniform> dims: vec4<u32>;

fn nq() -> u32 {
    return select(dims.x, NQ, NQ != 0u);
}

fn nk() -> u32 {
    return select(dims.y, NK, NK != 0u);
}

fn scale() -> f32 {
    return bitcast<f32>(sc[0][0]);
}

// How many keys of batch b are real.
fn key_len(bh: u32) -> u32 {
    if (PADDED) {
        return u32(clamp(lens[bh / H], 0, i32(nk())));
    }
    return nk();
}

fn visible(i: u32, j: u32, klen: u32) -> bool {
    var ok = i < nq() && j < klen;
    if (CAUSAL) {
        ok = ok && j <= i;
    }
    if (WINDOW) {
        ok = ok && (j + W >= i) && (j <= i + W);
    }
    return ok;
}

// Keys [lo, hi) that queries [i0, i1] can see at all.
fn key_range(i0: u32, i1: u32, klen: u32) -> vec2<u32> {
    var lo = 0u;
    var hi = klen;
    if (CAUSAL) {
        hi = min(hi, i1 + 1u);
    }
    if (WINDOW) {
        lo = select(0u, i0 - W, i0 > W);
        hi = min(hi, i1 + W + 1u);
    }
    return vec2<u32>(lo, hi);
}

// Queries [lo, hi) that keys [j0, j1] are seen by at all.
fn query_range(j0: u32, j1: u32) -> vec2<u32> {
    var lo = 0u;
    var hi = nq();
    if (CAUSAL) {
        lo = j0;
    }
    if (WINDOW) {
        lo = max(lo, select(0u, j0 - W, j0 > W));
        hi = min(hi, j1 + W + 1u);
    }
    return vec2<u32>(lo, hi);
}

fn load_q(bh: u32, i: u32, c: u32) -> f32 {
    return select(0.0, q[(bh * nq() + min(i, nq() - 1u)) * D + min(c, D - 1u)], c < D);
}

fn load_k(bh: u32, j: u32, c: u32) -> f32 {
    return select(0.0, k[(bh * nk() + min(j, nk() - 1u)) * D + min(c, D - 1u)], c < D);
}

fn load_v(bh: u32, j: u32, c: u32) -> f32 {
    return select(0.0, v[(bh * nk() + min(j, nk() - 1u)) * DV + min(c, DV - 1u)], c < DV);
}

fn load_do(bh: u32, i: u32, c: u32) -> f32 {
    return select(0.0, dout[(bh * nq() + min(i, nq() - 1u)) * DV + min(c, DV - 1u)], c < DV);
}

fn load_lse(bh: u32, i: u32) -> f32 {
    return fwd[(bh * nq() + min(i, nq() - 1u)) * (DV + 1u) + DV];
}

fn load_drow(bh: u32, i: u32) -> f32 {
    return drow[bh * nq() + min(i, nq() - 1u)];
}

// ---- forward -------------------------------------------------------------------

// Queries per workgroup in the lanes forms, and vec4 chunks a lane owns of a
// D- or DV-vector: lane l owns elements 32 w + 4 l .. 32 w + 4 l + 3, loaded as
// one vec4 (so D and DV must be multiples of 4; the launcher checks).
const TQ: u32 = 8u;
// Keys per workgroup in the K/V gradient: it keeps two accumulators per key
// (dK and dV), so fewer keys keep them in registers.
const TK: u32 = 4u;
override D4: u32 = (D + 4u * LANES - 1u) / (4u * LANES);
override DV4: u32 = (DV + 4u * LANES - 1u) / (4u * LANES);

// Chunk w of this lane's slice of row `row` of a (rows, n) vec4-viewed matrix
// `which` (0 q, 1 k, 2 v, 3 dO); zero past n.
fn chunk(row: u32, n: u32, l: u32, w: u32, which: u32) -> vec4<f32> {
    let c = 4u * (LANES * w + l);
    if (c >= n) {
        return vec4<f32>(0.0);
    }
    let at = (row * n + c) / 4u;
    if (which == 0u) {
        return q4[at];
    } else if (which == 1u) {
        return k4[at];
    } else if (which == 2u) {
        return v4[at];
    }
    return do4[at];
}

fn store_chunk(base: u32, n: u32, l: u32, w: u32, x: vec4<f32>) {
    let c = 4u * (LANES * w + l);
    if (c < n) {
        for (var e = 0u; e < 4u; e++) {
            out[base + c + e] = x[e];
        }
    }
}

// Clamped row indices (a block's rows past the end re-read the last one).
fn q_at(bh: u32, i: u32) -> u32 {
    return bh * nq() + min(i, nq() - 1u);
}

fn k_at(bh: u32, j: u32) -> u32 {
    return bh * nk() + min(j, nk() - 1u);
}

// Element c of row r of q (0), k (1), v (2) or dO (3); zero past the width.
fn load_of(which: u32, bh: u32, r: u32, c: u32) -> f32 {
    if (which == 0u) {
        return load_q(bh, r, c);
    } else if (which == 1u) {
        return load_k(bh, r, c);
    } else if (which == 2u) {
        return load_v(bh, r, c);
    }
    return load_do(bh, r, c);
}

// The lanes forms work on blocks of TQ rows against 2 * LANES columns: lane l
// owns columns l and l + LANES (a vec2), as gemm.wgsl's gemm_lanes does; a dot
// product over D runs in chunks of LANES, each lane loading one element of
// each of its rows' chunk and subgroupShuffle sharing it. Loops are small and
// fixed (`n` is TQ or TK at every call) so the compiler unrolls them and the
// accumulators stay in registers. The two loops every form shares:

// #if subgroups
// Dot products of rows r0 .. r0 + n of `rows` with this lane's two columns
// ca, cb (rows of `cols`), over `width` elements.
fn block_dots(bh: u32, rows: u32, r0: u32, n: u32, cols: u32, ca: u32, cb: u32, width: u32, l: u32) -> array<vec2<f32>, TQ> {
    var s: array<vec2<f32>, TQ>;
    for (var c0 = 0u; c0 < width; c0 += LANES) {
        var rv: array<f32, TQ>;
        for (var t = 0u; t < n; t++) {
            rv[t] = load_of(rows, bh, r0 + t, c0 + l);
        }
        for (var r = 0u; r < LANES; r++) {
            let ab = vec2<f32>(load_of(cols, bh, ca, c0 + r), load_of(cols, bh, cb, c0 + r));
            for (var t = 0u; t < n; t++) {
                s[t] += subgroupShuffle(rv[t], r) * ab;
            }
        }
    }
    return s;
}

// acc[t * chunks + w] += weight[t][j] * chunk w of row j of `which` (width
// `width`), over the block's 2 * LANES columns j starting at j0 (each lane's
// .x column, then its .y column; the weight shuffled from the lane owning j).
fn block_accumulate(acc: ptr<function, array<vec4<f32>, 32>>, weight: array<vec2<f32>, TQ>, n: u32, which: u32, bh: u32, j0: u32, width: u32, chunks: u32, l: u32) {
    for (var half = 0u; half < 2u; half++) {
        for (var jj = 0u; jj < LANES; jj++) {
            let j = j0 + half * LANES + jj;
            let row = select(q_at(bh, j), k_at(bh, j), which == 1u || which == 2u);
            var xv: array<vec4<f32>, 4>;
            for (var w = 0u; w < chunks; w++) {
                xv[w] = chunk(row, width, l, w, which);
            }
            for (var t = 0u; t < n; t++) {
                let wt = subgroupShuffle(select(weight[t].x, weight[t].y, half == 1u), jj);
                for (var w = 0u; w < chunks; w++) {
                    (*acc)[t * chunks + w] += wt * xv[w];
                }
            }
        }
    }
}
// #endif

// #if subgroups
@compute @workgroup_size(LANES)
fn attention_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    let bh = wid.y;
    let i0 = wid.x * TQ;
    let klen = key_len(bh);
    var o: array<vec4<f32>, 32>; // row t, chunk w at t * DV4 + w
    var m: array<f32, TQ>;
    var ls: array<f32, TQ>;
    for (var t = 0u; t < TQ; t++) {
        m[t] = LOWEST;
    }
    let span = 2u * LANES;
    let range = key_range(i0, min(i0 + TQ, nq()) - 1u, klen);
    for (var j0 = range.x - range.x % span; j0 < range.y; j0 += span) {
        let ja = j0 + l;
        let jb = ja + LANES;
        let s = block_dots(bh, 0u, i0, TQ, 1u, ja, jb, D, l);
        var p: array<vec2<f32>, TQ>;
        for (var t = 0u; t < TQ; t++) {
            let oka = visible(i0 + t, ja, klen);
            let okb = visible(i0 + t, jb, klen);
            let sa = select(LOWEST, s[t].x * scale(), oka);
            let sb = select(LOWEST, s[t].y * scale(), okb);
            let mn = max(m[t], subgroupMax(max(sa, sb)));
            let pa = select(0.0, exp(sa - mn), oka);
            let pb = select(0.0, exp(sb - mn), okb);
            let alpha = exp(m[t] - mn);
            ls[t] = ls[t] * alpha + subgroupAdd(pa + pb);
            m[t] = mn;
            p[t] = vec2<f32>(pa, pb);
            for (var w = 0u; w < DV4; w++) {
                o[t * DV4 + w] *= alpha;
            }
        }
        block_accumulate(&o, p, TQ, 2u, bh, j0, DV, DV4, l);
    }
    for (var t = 0u; t < TQ; t++) {
        let i = i0 + t;
        if (i >= nq()) {
            continue;
        }
        let row = (bh * nq() + i) * (DV + 1u);
        let inv = select(0.0, 1.0 / ls[t], ls[t] > 0.0);
        for (var w = 0u; w < DV4; w++) {
            store_chunk(row, DV, l, w, o[t * DV4 + w] * inv);
        }
        if (l == 0u) {
            out[row + DV] = select(LOWEST, m[t] + log(ls[t]), ls[t] > 0.0);
        }
    }
}
// #endif

@compute @workgroup_size(WG)
fn attention_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let bh = gid.y;
    if (i >= nq()) {
        return;
    }
    let klen = key_len(bh);
    var qv: array<f32, 128>;
    for (var c = 0u; c < D; c++) {
        qv[c] = load_q(bh, i, c) * scale();
    }
    var o: array<f32, 128>;
    var m = LOWEST;
    var ls = 0.0;
    let range = key_range(i, i, klen);
    for (var j = range.x; j < range.y; j++) {
        if (!visible(i, j, klen)) {
            continue;
        }
        var s = 0.0;
        for (var c = 0u; c < D; c++) {
            s += qv[c] * load_k(bh, j, c);
        }
        let mn = max(m, s);
        let alpha = exp(m - mn);
        let p = exp(s - mn);
        ls = ls * alpha + p;
        m = mn;
        for (var c = 0u; c < DV; c++) {
            o[c] = o[c] * alpha + p * load_v(bh, j, c);
        }
    }
    let row = (bh * nq() + i) * (DV + 1u);
    let inv = select(0.0, 1.0 / ls, ls > 0.0);
    for (var c = 0u; c < DV; c++) {
        out[row + c] = o[c] * inv;
    }
    out[row + DV] = select(LOWEST, m + log(ls), ls > 0.0);
}

// ---- gradient with respect to K and V: one workgroup per block of keys -------

// #if subgroups
@compute @workgroup_size(LANES)
fn attention_grad_kv_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    let bh = wid.y;
    let j0 = wid.x * TK; // TK keys; lanes own query columns
    let klen = key_len(bh);
    var dk: array<vec4<f32>, 32>; // key t, chunk w at t * D4 + w
    var dv: array<vec4<f32>, 32>; // key t, chunk w at t * DV4 + w
    let span = 2u * LANES;
    let range = query_range(j0, min(j0 + TK, nk()) - 1u);
    for (var i0 = range.x - range.x % span; i0 < range.y; i0 += span) {
        let ia = i0 + l;
        let ib = ia + LANES;
        let s = block_dots(bh, 1u, j0, TK, 0u, ia, ib, D, l);
        let dp = block_dots(bh, 2u, j0, TK, 3u, ia, ib, DV, l);
        let lse = vec2<f32>(load_lse(bh, ia), load_lse(bh, ib));
        let dr = vec2<f32>(load_drow(bh, ia), load_drow(bh, ib));
        var p: array<vec2<f32>, TQ>;
        var ds: array<vec2<f32>, TQ>;
        for (var t = 0u; t < TK; t++) {
            let ok = vec2<bool>(visible(ia, j0 + t, klen), visible(ib, j0 + t, klen));
            p[t] = select(vec2<f32>(0.0), exp(s[t] * scale() - lse), ok);
            ds[t] = p[t] * (dp[t] - dr);
        }
        block_accumulate(&dv, p, TK, 3u, bh, i0, DV, DV4, l);
        block_accumulate(&dk, ds, TK, 0u, bh, i0, D, D4, l);
    }
    for (var t = 0u; t < TK; t++) {
        let j = j0 + t;
        if (j >= nk()) {
            continue;
        }
        let row = (bh * nk() + j) * (D + DV);
        for (var w = 0u; w < D4; w++) {
            store_chunk(row, D, l, w, dk[t * D4 + w] * scale());
        }
        for (var w = 0u; w < DV4; w++) {
            store_chunk(row + D, DV, l, w, dv[t * DV4 + w]);
        }
    }
}
// #endif

@compute @workgroup_size(WG)
fn attention_grad_kv_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let bh = gid.y;
    if (j >= nk()) {
        return;
    }
    let klen = key_len(bh);
    var dk: array<f32, 128>;
    var dv: array<f32, 128>;
    let range = query_range(j, j);
    for (var i = range.x; i < range.y; i++) {
        if (!visible(i, j, klen)) {
            continue;
        }
        var s = 0.0;
        for (var c = 0u; c < D; c++) {
            s += load_q(bh, i, c) * load_k(bh, j, c);
        }
        let p = exp(s * scale() - load_lse(bh, i));
        var dp = 0.0;
        for (var c = 0u; c < DV; c++) {
            let g = load_do(bh, i, c);
            dp += g * load_v(bh, j, c);
            dv[c] += p * g;
        }
        let ds = p * (dp - load_drow(bh, i));
        for (var c = 0u; c < D; c++) {
            dk[c] += ds * load_q(bh, i, c);
        }
    }
    let row = (bh * nk() + j) * (D + DV);
    for (var c = 0u; c < D; c++) {
        out[row + c] = dk[c] * scale();
    }
    for (var c = 0u; c < DV; c++) {
        out[row + D + c] = dv[c];
    }
}

// ---- gradient with respect to Q: one workgroup per block of queries ------------

// #if subgroups
@compute @workgroup_size(LANES)
fn attention_grad_q_lanes(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let l = lid.x;
    let bh = wid.y;
    let i0 = wid.x * TQ;
    let klen = key_len(bh);
    var lse: array<f32, TQ>;
    var dr: array<f32, TQ>;
    for (var t = 0u; t < TQ; t++) {
        lse[t] = load_lse(bh, i0 + t);
        dr[t] = load_drow(bh, i0 + t);
    }
    var dq: array<vec4<f32>, 32>; // row t, chunk w at t * D4 + w
    let span = 2u * LANES;
    let range = key_range(i0, min(i0 + TQ, nq()) - 1u, klen);
    for (var j0 = range.x - range.x % span; j0 < range.y; j0 += span) {
        let ja = j0 + l;
        let jb = ja + LANES;
        let s = block_dots(bh, 0u, i0, TQ, 1u, ja, jb, D, l);
        let dp = block_dots(bh, 3u, i0, TQ, 2u, ja, jb, DV, l);
        var ds: array<vec2<f32>, TQ>;
        for (var t = 0u; t < TQ; t++) {
            let ok = vec2<bool>(visible(i0 + t, ja, klen), visible(i0 + t, jb, klen));
            let p = select(vec2<f32>(0.0), exp(s[t] * scale() - lse[t]), ok);
            ds[t] = p * (dp[t] - dr[t]);
        }
        block_accumulate(&dq, ds, TQ, 1u, bh, j0, D, D4, l);
    }
    for (var t = 0u; t < TQ; t++) {
        let i = i0 + t;
        if (i >= nq()) {
            continue;
        }
        for (var w = 0u; w < D4; w++) {
            store_chunk((bh * nq() + i) * D, D, l, w, dq[t * D4 + w] * scale());
        }
    }
}
// #endif

@compute @workgroup_size(WG)
fn attention_grad_q_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let bh = gid.y;
    if (i >= nq()) {
        return;
    }
    let klen = key_len(bh);
    let lse = load_lse(bh, i);
    let dr = load_drow(bh, i);
    var dq: array<f32, 128>;
    let range = key_range(i, i, klen);
    for (var j = range.x; j < range.y; j++) {
        if (!visible(i, j, klen)) {
            continue;
        }
        var s = 0.0;
        for (var c = 0u; c < D; c++) {
            s += load_q(bh, i, c) * load_k(bh, j, c);
        }
        let p = exp(s * scale() - lse);
        var dp = 0.0;
        for (var c = 0u; c < DV; c++) {
            dp += load_do(bh, i, c) * load_v(bh, j, c);
        }
        let ds = p * (dp - dr);
        for (var c = 0u; c < D; c++) {
            dq[c] += ds * load_k(bh, j, c);
        }
    }
    for (var c = 0u; c < D; c++) {
        out[(bh * nq() + i) * D + c] = dq[c] * scale();
    }
}
