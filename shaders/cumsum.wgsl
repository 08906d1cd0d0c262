// cumsum.wgsl: inclusive prefix sums along the rows of a contiguous (ROWS, C)
// tensor, as torch.cumsum along the last axis:
//
//   out[r, c] = sum_{j <= c} x[r, j]        (REVERSE: sum_{j >= c}, the gradient)
//
// Bindings: out (ROWS, C) elem, x (ROWS, C) elem, with elem f32 or i32 (sums
// in the element type: exact for i32, f32 rounding for f32, as PyTorch).
//   cumsum_rows  one invocation per row and a running sum: many rows, or
//                short ones (no barrier; lavapipe prefers it)
//   cumsum_cols  one workgroup per row, for few long rows: each lane sums a
//                contiguous chunk, the chunk sums are scanned in workgroup
//                memory (log2(WG) steps), then each lane rescans its chunk
//                from its offset: two reads of the row, WG-way parallel.

override ROWS: u32 = 1u;
override C: u32 = 1u;
override REVERSE: bool = false;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> out: array<elem>;
@group(0) @binding(1) var<storage, read> x: array<elem>;

var<workgroup> part: array<elem, WG>;

// Element j of row r in scan order.
fn at(r: u32, j: u32) -> u32 {
    return r * C + select(j, C - 1u - j, REVERSE);
}

@compute @workgroup_size(WG)
fn cumsum_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = (wid.x + wid.y * nwg.x) * WG + lid;
    if (r >= ROWS) {
        return;
    }
    var s = elem(0);
    for (var j = 0u; j < C; j++) {
        s += x[at(r, j)];
        out[at(r, j)] = s;
    }
}

@compute @workgroup_size(WG)
fn cumsum_cols(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = wid.x + wid.y * nwg.x;
    let chunk = (C + WG - 1u) / WG;
    let lo = min(lid * chunk, C);
    let hi = min(lo + chunk, C);
    var s = elem(0);
    for (var j = lo; j < hi; j++) {
        s += x[at(r, j)];
    }
    // Inclusive scan of the chunk sums (Hillis-Steele).
    part[lid] = s;
    workgroupBarrier();
    for (var o = 1u; o < WG; o <<= 1u) {
        let v = select(elem(0), part[max(lid, o) - o], lid >= o);
        workgroupBarrier();
        part[lid] += v;
        workgroupBarrier();
    }
    var t = part[lid] - s;
    for (var j = lo; j < hi; j++) {
        t += x[at(r, j)];
        out[at(r, j)] = t;
    }
}
