// reduce.wgsl: reduction of ROWS rows of LEN elements each (sum, max, min,
// argmax, argmin), with the input computed on the fly by a fused prologue.
//
// The planner views the input as (kept dims..., reduced dims...) and generates,
// in place of the marker below:
//   fn sg_rows() -> u32, fn sg_len() -> u32   ROWS rows of LEN elements
//   const BLOCKED: bool
//   out: array<T>                    binding 0, (ROWS)
//   in0.. , sc, sh, status           as in elementwise.wgsl
//   struct Acc { v: V, i: u32, n: u32, c: V }, fn sg_merge(a: Acc, b: Acc) -> Acc
//   and fn sg_step(a: Acc, b: Acc) -> Acc (within a block: a plain add for sums)
//   fn sg_load(row: u32, k: u32) -> Acc  element k of row `row` (the fused
//                                    prologue), or an empty Acc past a chunk's end
//   fn store_row(row: u32, a: Acc)
// Acc carries the index (for argmax) and a count, so an empty partial is its
// own identity and max needs no -inf constant (which WGSL cannot spell); and
// for float sums the compensation c, the low bits each addition rounds away.
// A compensated add costs several plain ones, so float sums (BLOCKED) add
// BLOCK terms plainly (sg_step) and merge each block's total with
// compensation: a block's own rounding is at most BLOCK ulps, and the
// compensated running sum adds none as it grows.
//
// Two entry points, chosen by the planner from ROWS and LEN:
//   reduce_rows  one invocation per row, no barrier. Best with many rows, and
//                on lavapipe, where a barrier suspends and resumes every lane.
//   reduce_cols  one workgroup per row: lanes stride the row (coalesced), then
//                a tree in workgroup memory. Best with few, long rows.
// A float sum of rows longer than a chunk runs twice: first over chunks (each
// chunk a row of its own, its total stored to a scratch buffer), then over
// each row's chunk totals.

//@generated

override WG: u32 = 64u;
const BLOCK: u32 = 16u;

@compute @workgroup_size(WG)
fn reduce_rows(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = (wid.x + wid.y * nwg.x) * WG + lid;
    let len = sg_len();
    if (row >= sg_rows()) {
        return;
    }
    var acc = Acc();
    if (BLOCKED) {
        for (var k0 = 0u; k0 < len; k0 += BLOCK) {
            var block = Acc();
            for (var k = k0; k < min(k0 + BLOCK, len); k++) {
                block = sg_step(block, sg_load(row, k));
            }
            acc = sg_merge(acc, block);
        }
    } else {
        for (var k = 0u; k < len; k++) {
            acc = sg_merge(acc, sg_load(row, k));
        }
    }
    store_row(row, acc);
}

var<workgroup> part: array<Acc, WG>;

@compute @workgroup_size(WG)
fn reduce_cols(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let row = wid.x + wid.y * nwg.x;
    let len = sg_len();
    if (row >= sg_rows()) {
        return;
    }
    var acc = Acc();
    if (BLOCKED) {
        for (var k0 = lid; k0 < len; k0 += WG * BLOCK) {
            var block = Acc();
            for (var k = k0; k < min(k0 + WG * BLOCK, len); k += WG) {
                block = sg_step(block, sg_load(row, k));
            }
            acc = sg_merge(acc, block);
        }
    } else {
        for (var k = lid; k < len; k += WG) {
            acc = sg_merge(acc, sg_load(row, k));
        }
    }
    part[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part[lid] = sg_merge(part[lid], part[lid + s]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        store_row(row, part[0]);
    }
}
