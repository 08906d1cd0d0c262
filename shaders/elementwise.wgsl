// elementwise.wgsl: the fused elementwise kernel.
//
// Computes out[i] = f(inputs...)[i] for every element of a contiguous output,
// where f is a whole chain of elementwise ops, broadcasts and views that the
// planner fused. The planner generates, in place of the marker below:
//   out: array<T>                         binding 0, (sg_numel())
//   in0.. : array<T>                      one per materialized input, any shape
//   sc: array<vec4<u32>, K> (uniform)     runtime scalars (constants, seeds)
//   sh: array<vec4<u32>, K> (uniform)     sizes and strides, in the form that
//                                         does not bake them in as constants
//   status (atomic, optional)             bad-index flags
//   fn sg_numel() -> u32                  elements of the output
//   fn compute(i: u32)                    computes and stores element i
//
// No barrier; PER elements per invocation, WG apart (so neighbouring
// invocations still touch neighbouring elements): 1 on a GPU, where the kernel
// is bound by memory, more on a CPU adapter, where starting a workgroup is the
// cost. Fusing (one dispatch, no intermediate buffers) is what makes it fast,
// not a clever body. Workgroups are laid out in 2-D so outputs beyond
// 65535 x WG x PER elements fit.

//@generated

override WG: u32 = 256u;
override PER: u32 = 1u;

@compute @workgroup_size(WG)
fn elementwise(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let base = (wid.x + wid.y * nwg.x) * WG * PER + lid;
    let numel = sg_numel();
    for (var k = 0u; k < PER; k++) {
        let i = base + k * WG;
        if (i >= numel) {
            return;
        }
        compute(i);
    }
}
