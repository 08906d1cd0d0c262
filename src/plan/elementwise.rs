//! The fused elementwise kernel (`shaders/elementwise.wgsl`): generates the
//! body for one output node and everything inlined under it.

use crate::kernels::{Launch, fill_template, grid, per_invocation, shader};
use crate::plan::collect::Graph;
use crate::plan::expr::{ExprGen, store_conv};
use crate::plan::specialize::{self, Specializer};

pub(crate) const WG: u32 = 256;

/// The launch computing node `root`, and the materialized nodes it reads:
/// the uniform form, or the constant form where `spec` gives it one.
pub(crate) fn launch(
    g: &Graph,
    mat: &[bool],
    root: usize,
    cpu: bool,
    spec: (&Specializer, usize),
) -> (Vec<Launch>, Vec<usize>) {
    specialize::generated(spec, |uniform| {
        let (l, inputs) = generate(g, mat, root, cpu, uniform);
        (vec![l], inputs)
    })
}

fn generate(
    g: &Graph,
    mat: &[bool],
    root: usize,
    cpu: bool,
    dynamic: bool,
) -> (Launch, Vec<usize>) {
    let node = &g.nodes[root];
    // The root itself is computed, not loaded: look through its own materialization.
    let mut inline = mat.to_vec();
    inline[root] = false;
    let mut eg = ExprGen::new(g, &inline, dynamic);
    let v = eg.value(root, "i");
    let store = store_conv(node.dtype, &v);
    let body = eg.take_code();
    let numel = eg.num(node.numel());
    let out_ty = node.dtype.wgsl_storage();
    let (decls, _) = eg.declarations(1);
    let generated = format!(
        "@group(0) @binding(0) var<storage, read_write> out: array<{out_ty}>;\n\
         {decls}\n\
         fn sg_numel() -> u32 {{\n    return {numel};\n}}\n\
         fn compute(i: u32) {{\n{body}    out[i] = {store};\n}}\n"
    );
    let f16 = eg.uses_f16 || node.dtype == crate::DType::F16;
    let per = per_invocation(node.numel(), WG, cpu);
    let launch = eg.launch(
        "elementwise",
        fill_template(shader("elementwise"), &generated, f16),
        "elementwise",
        &[("WG", WG as f64), ("PER", per as f64)],
        grid((node.numel() as u64).div_ceil(WG as u64 * per as u64)),
    );
    (launch, eg.inputs.clone())
}
