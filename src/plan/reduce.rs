//! Launcher for `shaders/reduce.wgsl`: generates the prologue that computes
//! the reduced input on the fly, and picks the row- or workgroup-per-row entry.

use crate::dtype::DType;
use crate::graph::{Op, ReduceOp};
use crate::kernels::{Arg, Launch, fill_template, grid, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::Graph;
use crate::plan::expr::{ExprGen, store_conv};
use crate::plan::specialize::{self, Specializer};
use crate::shape::View;

const WG_ROWS: u32 = 64;
const WG_COLS: u32 = 64;

/// Float sums carry a compensation `c` (Neumaier's variant of Kahan's
/// summation, which also holds when the new term is the larger): the low bits
/// each addition rounds away. A lane's running sum of millions of terms then
/// stays within a few ulps, where a plain f32 sum stops growing at 2^24 ones.
const COMPENSATED_SUM: &str = "fn sg_merge(a: Acc, b: Acc) -> Acc {
    let s = a.v + b.v;
    let t = select((b.v - s) + a.v, (a.v - s) + b.v, abs(a.v) >= abs(b.v));
    return Acc(s, 0u, a.n + b.n, a.c + b.c + t);
}
";

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
        ReduceOp::Sum if float => return COMPENSATED_SUM.into(),
        ReduceOp::Sum => return "fn sg_merge(a: Acc, b: Acc) -> Acc {\n    return Acc(a.v + b.v, 0u, a.n + b.n, a.c);\n}\n".into(),
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

/// A float sum's total: an infinite sum's compensation is NaN (inf - inf),
/// so then the sum alone.
const TOTAL: &str = "select(a.v, a.v + a.c, sg_isfinite(a.v) && sg_isfinite(a.c))";

/// Float sums of rows longer than this run in two passes: partial sums of
/// chunks of this length (every chunk its own workgroup or invocation), then
/// the sum of each row's partials. That spreads one long row over the whole
/// GPU, and adds a level of pairwise summation to the compensation.
const CHUNK: usize = 4096;

/// The entry point, workgroup size and workgroup count for `rows` rows of `len`.
fn entry_for(rows: usize, len: usize) -> (&'static str, u32, u64) {
    // Many rows: one invocation each, no barrier. Few long rows: a workgroup each.
    if rows >= 4096 || len < 256 || rows * 16 >= len {
        let groups = (rows as u64).div_ceil(WG_ROWS as u64);
        ("reduce_rows", WG_ROWS, groups)
    } else {
        ("reduce_cols", WG_COLS, rows as u64)
    }
}

/// The generated part of reduce.wgsl: sizes, bindings, the accumulator, and
/// `sg_load` (element k of row `row` as an accumulator) from `load`.
fn generated(sizes: [String; 2], bindings: &str, vt: &str, merge: &str, load: &str) -> String {
    // A compensated merge is a float sum's: its blocks add plainly first.
    let blocked = merge == COMPENSATED_SUM;
    let step = if blocked {
        "Acc(a.v + b.v, 0u, a.n + b.n, a.c + b.c)"
    } else {
        "sg_merge(a, b)"
    };
    let [rows, len] = sizes;
    format!(
        "fn sg_rows() -> u32 {{\n    return {rows};\n}}\n\
         fn sg_len() -> u32 {{\n    return {len};\n}}\n\
         const BLOCKED: bool = {blocked};\n\
         {bindings}\n\
         struct Acc {{ v: {vt}, i: u32, n: u32, c: {vt} }}\n\
         fn sg_leaf(v: {vt}, k: u32) -> Acc {{\n    return Acc(v, k, 1u, {vt}());\n}}\n\
         {merge}fn sg_step(a: Acc, b: Acc) -> Acc {{\n    return {step};\n}}\n{load}"
    )
}

/// The launches computing reduction `root`, and the materialized nodes they
/// read: the uniform form, or the constant form where `spec` gives it one.
pub(crate) fn launch(
    g: &Graph,
    mat: &[bool],
    root: usize,
    spec: (&Specializer, usize),
) -> (Vec<Launch>, Vec<usize>) {
    specialize::generated(spec, |uniform| generate(g, mat, root, uniform))
}

fn generate(g: &Graph, mat: &[bool], root: usize, dynamic: bool) -> (Vec<Launch>, Vec<usize>) {
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
    let float_sum = *op == ReduceOp::Sum && in_dtype.is_float();
    let split = float_sum && len > CHUNK;

    let mut eg = ExprGen::new(g, mat, dynamic);
    let idx = eg.split_index(&view, kept.len(), "row", "k");
    let v = eg.value(src, &idx);
    let body = eg.take_code();
    let vt = in_dtype.wgsl_reg();
    let merge = merge_fn(*op, in_dtype.is_float());
    let load_x = format!("fn load_x(row: u32, k: u32) -> {vt} {{\n{body}    return {v};\n}}\n");
    let f16 = eg.uses_f16 || node.dtype == DType::F16;
    // Split: pass 1 reduces chunk j of row r as row r * S + j (past the row's
    // end, nothing) into f32 chunk totals; pass 2 sums each row's totals.
    let s = if split { len.div_ceil(CHUNK) } else { 1 };
    let (vrows, vlen) = if split {
        (rows * s, CHUNK)
    } else {
        (rows, len)
    };
    let sizes = [eg.num(vrows), eg.num(vlen)];
    let (out_ty, load, store) = if split {
        let (chunk, lenk) = (eg.rem("row", s), eg.num(len));
        let row = eg.div("row", s);
        let load = format!(
            "let kk = {chunk} * sg_len() + k;\n    \
             if (kk >= {lenk}) {{ return Acc(); }}\n    \
             return sg_leaf(load_x({row}, kk), kk);"
        );
        ("f32", load, TOTAL.to_string())
    } else {
        let store = match op {
            ReduceOp::ArgMax | ReduceOp::ArgMin => "i32(a.i)".to_string(),
            ReduceOp::Sum if float_sum => store_conv(node.dtype, TOTAL),
            _ => store_conv(node.dtype, "a.v"),
        };
        let load = "return sg_leaf(load_x(row, k), k);".to_string();
        (node.dtype.wgsl_storage(), load, store)
    };
    let (decls, _) = eg.declarations(1);
    let bindings =
        format!("@group(0) @binding(0) var<storage, read_write> out: array<{out_ty}>;\n{decls}");
    let load = format!(
        "{load_x}fn sg_load(row: u32, k: u32) -> Acc {{\n    {load}\n}}\n\
         fn store_row(row: u32, a: Acc) {{\n    out[row] = {store};\n}}\n"
    );
    let code = generated(sizes, &bindings, vt, &merge, &load);
    let (entry, wg, groups) = entry_for(vrows, vlen);
    let mut launch = eg.launch(
        "reduce",
        fill_template(shader("reduce"), &code, f16),
        entry,
        &[("WG", wg as f64)],
        grid(groups),
    );
    if !split {
        return (vec![launch], eg.inputs.clone());
    }
    let bytes = (rows * s * 4) as u64;
    launch.args[0] = Arg::Scratch(0, bytes);
    let second = partial_sums(node.dtype, rows, s, bytes, dynamic);
    (vec![launch, second], eg.inputs.clone())
}

/// Pass 2 of a split sum: each row's `s` partials (scratch 0) summed, with
/// the same compensation.
fn partial_sums(out: DType, rows: usize, s: usize, bytes: u64, dynamic: bool) -> Launch {
    let (sizes, meta, sh) = if dynamic {
        let decl = "@group(0) @binding(2) var<uniform> sh: array<vec4<u32>, 1>;\n";
        (
            ["sh[0][0]".into(), "sh[0][1]".into()],
            vec![rows as u32, s as u32],
            decl,
        )
    } else {
        ([format!("{rows}u"), format!("{s}u")], Vec::new(), "")
    };
    let bindings = format!(
        "@group(0) @binding(0) var<storage, read_write> out: array<{}>;\n\
         @group(0) @binding(1) var<storage, read> partials: array<f32>;\n{sh}",
        out.wgsl_storage()
    );
    let load = format!(
        "fn sg_load(row: u32, k: u32) -> Acc {{\n    return sg_leaf(partials[row * sg_len() + k], k);\n}}\n\
         fn store_row(row: u32, a: Acc) {{\n    out[row] = {};\n}}\n",
        store_conv(out, TOTAL)
    );
    let code = generated(sizes, &bindings, "f32", COMPENSATED_SUM, &load);
    let (entry, wg, groups) = entry_for(rows, s);
    let mut layout = vec![BindKind::ReadWrite, BindKind::Read];
    let mut args = vec![Arg::Out, Arg::Scratch(0, bytes)];
    if dynamic {
        layout.push(BindKind::Uniform);
        args.push(Arg::Meta);
    }
    let src = KernelSource::new(
        "reduce",
        fill_template(shader("reduce"), &code, out == DType::F16),
        entry,
        layout,
    )
    .with("WG", wg as f64);
    Launch::new(src, args, grid(groups)).meta(meta)
}
