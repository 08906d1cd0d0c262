// elementwise.wgsl: the fused elementwise kernel.
//
// Computes out[i] = f(inputs...)[i] for every element of a contiguous output,
// where f is a whole chain of elementwise ops, broadcasts and views that the
// planner fused. The planner generates, in place of the marker below:
//   const NUMEL: u32                      elements of the output
//   out: array<T>                         binding 0, (NUMEL)
//   in0.. : array<T>                      one per materialized input, any shape
//   sc: array<vec4<u32>, K> (uniform)     runtime scalars (constants, seeds)
//   status (atomic, optional)             bad-index flags
//   fn compute(i: u32)                    computes and stores element i
//
// One invocation per element and no barrier: the kernel is bound by memory on
// a GPU and by dispatch overhead on lavapipe, so fusing (one dispatch, no
// intermediate buffers) is what makes it fast, not a clever body.
// Workgroups are laid out in 2-D so outputs beyond 65535 x WG elements fit.

//@generated

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn elementwise(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let i = (wid.x + wid.y * nwg.x) * WG + lid;
    if (i >= NUMEL) {
        return;
    }
    compute(i);
}
