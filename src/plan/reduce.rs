//! Launcher for `shaders/reduce.wgsl`: generates the prologue that computes
//! the reduced input on the fly, and picks the row- or workgroup-per-row entry.

use crate::dtype::DType;
use crate::graph::{Op, ReduceOp};
use crate::kernels::{Launch, fill_template, grid, shader};
use crate::plan::collect::Graph;
use crate::plan::expr::{ExprGen, store_conv};
use crate::shape::View;

const WG_ROWS: u32 = 64;
const WG_COLS: u32 = 64;

/// The merge of two partial results, per op (ties in arg ops keep the first index;
/// NaN wins max and min, as in PyTorch).
fn merge_fn(op: ReduceOp, float: bool) -> String {
    let nan = |x: &str| {
        if float {
            format!("sg_isnan({x})")
        } else {
            "false".into()
        }
    };
    let pick_b = match op {
        ReduceOp::Sum => return "fn sg_merge(a: Acc, b: Acc) -> Acc {\n    return Acc(a.v + b.v, 0u, a.n + b.n);\n}\n".into(),
        ReduceOp::Max => format!("b.v > a.v || ({} && !{})", nan("b.v"), nan("a.v")),
        ReduceOp::Min => format!("b.v < a.v || ({} && !{})", nan("b.v"), nan("a.v")),
        ReduceOp::ArgMax => format!(
            "b.v > a.v || ({nb} && !{na}) || ((b.v == a.v || ({nb} && {na})) && b.i < a.i)",
            nb = nan("b.v"),
            na = nan("a.v")
        ),
        ReduceOp::ArgMin => format!(
            "b.v < a.v || ({nb} && !{na}) || ((b.v == a.v || ({nb} && {na})) && b.i < a.i)",
            nb = nan("b.v"),
            na = nan("a.v")
        ),
    };
    format!(
        "fn sg_merge(a: Acc, b: Acc) -> Acc {{\n    if (a.n == 0u) {{ return b; }}\n    if (b.n == 0u) {{ return a; }}\n    var r = a;\n    if ({pick_b}) {{ r = b; }}\n    r.n = a.n + b.n;\n    return r;\n}}\n"
    )
}

/// The launch computing reduction `root`, and the materialized nodes it reads.
pub(crate) fn launch(g: &Graph, mat: &[bool], root: usize) -> (Launch, Vec<usize>) {
    let node = &g.nodes[root];
    let Some(Op::Reduce { op, axes }) = node.op() else {
        unreachable!("reduce launch on a reduce node")
    };
    let src = node.src[0];
    let in_shape = &g.nodes[src].shape;
    let in_dtype = g.nodes[src].dtype;
    let kept: Vec<usize> = (0..in_shape.len()).filter(|a| !axes.contains(a)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes.iter()).copied().collect();
    let view = View::contiguous(in_shape).permute(&perm);
    let rows: usize = kept.iter().map(|&a| in_shape[a]).product();
    let len: usize = axes.iter().map(|&a| in_shape[a]).product();

    let mut eg = ExprGen::new(g, mat);
    let idx = eg.split_index(&view, kept.len(), "row", "k");
    let v = eg.value(src, &idx);
    let body = eg.take_code();
    let (decls, _) = eg.declarations(1);
    let vt = in_dtype.wgsl_reg();
    let store = match op {
        ReduceOp::ArgMax | ReduceOp::ArgMin => "i32(a.i)".to_string(),
        _ => store_conv(node.dtype, "a.v"),
    };
    let generated = format!(
        "const ROWS: u32 = {rows}u;\nconst LEN: u32 = {len}u;\n\
         @group(0) @binding(0) var<storage, read_write> out: array<{out_ty}>;\n\
         {decls}\n\
         struct Acc {{ v: {vt}, i: u32, n: u32 }}\n\
         {merge}\
         fn load_x(row: u32, k: u32) -> {vt} {{\n{body}    return {v};\n}}\n\
         fn store_row(row: u32, a: Acc) {{\n    out[row] = {store};\n}}\n",
        out_ty = node.dtype.wgsl_storage(),
        merge = merge_fn(*op, in_dtype.is_float()),
    );
    let f16 = eg.uses_f16 || node.dtype == DType::F16;
    // Many rows: one invocation each, no barrier. Few long rows: a workgroup each.
    let by_rows = rows >= 4096 || len < 256 || rows * 16 >= len;
    let (entry, wg, groups) = if by_rows {
        (
            "reduce_rows",
            WG_ROWS,
            (rows as u64).div_ceil(WG_ROWS as u64),
        )
    } else {
        ("reduce_cols", WG_COLS, rows as u64)
    };
    let launch = eg.launch(
        "reduce",
        fill_template(shader("reduce"), &generated, f16),
        entry,
        &[("WG", wg as f64)],
        grid(groups),
    );
    (launch, eg.inputs.clone())
}
