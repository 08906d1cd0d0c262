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

override ROWS: u32 = 0u;
override C: u32 = 0u;
override REVERSE: bool = false;
override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> out: array<elem>;
@group(0) @binding(1) var<storage, read> x: array<elem>;
// ROWS and C: override constants for a structure's first shapes, else 0 and
// read from `dims`, so one pipeline serves every shape.
@group(0) @binding(2) var<uniform> dims: vec4<u32>;

fn rows() -> u32 {
    return select(dims.x, ROWS, ROWS != 0u);
}

fn cols() -> u32 {
    return select(dims.y, C, C != 0u);
}

var<workgroup> part: array<elem, WG>;

// Element j of row r in scan order.
fn at(r: u32, j: u32) -> u32 {
    return r * cols() + select(j, cols() - 1u - j, REVERSE);
}

@compute @workgroup_size(WG)
fn cumsum_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let r = (wid.x + wid.y * nwg.x) * WG + lid;
    if (r >= rows()) {
        return;
    }
    var s = elem(0);
    for (var j = 0u; j < cols(); j++) {
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
    let chunk = (cols() + WG - 1u) / WG;
    let lo = min(lid * chunk, cols());
    let hi = min(lo + chunk, cols());
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
