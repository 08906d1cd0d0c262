//! Expression codegen: turns an inlined subgraph of elementwise and view nodes
//! into WGSL statements that compute one element, for the fused elementwise
//! kernel and the prologue of a reduction.
//!
//! Every node is evaluated at a flat index into its own (contiguous) shape: an
//! elementwise node passes the index through, a view maps it to its source's
//! index, a materialized node loads it. Sizes, strides and offsets are
//! either WGSL constants, so index decoding divides by constants (cheap
//! everywhere, vital on lavapipe where a vector integer division is a
//! per-lane loop), or words of the uniform `sh`, so one pipeline serves every
//! shape of the same structure: `specialize.rs` chooses.

use std::collections::HashMap;
use std::fmt::Write;

use crate::dtype::DType;
use crate::graph::{BinaryOp, Op, UnaryOp};
use std::sync::Arc;

use crate::kernels::STATUS_CLASS_INDEX;
use crate::kernels::{Arg, Launch};
use crate::pipeline::{BindKind, KernelSource};
use crate::plan::collect::{Graph, Kind};
use crate::shape::{View, contiguous_strides};

pub(crate) struct ExprGen<'a> {
    g: &'a Graph,
    mat: &'a [bool],
    /// Materialized nodes read by the kernel, in binding order.
    pub inputs: Vec<usize>,
    /// Graph scalar words the kernel reads, in the kernel's own order.
    pub scalars: Vec<usize>,
    pub uses_status: bool,
    pub uses_f16: bool,
    pub uses_random: bool,
    /// Sizes come from the uniform `sh` (these words), not constants.
    dynamic: bool,
    pub meta: Vec<u32>,
    code: String,
    indent: usize,
    scopes: Vec<HashMap<(usize, String), String>>,
    next: usize,
}

/// (d, m, s1, s2) such that n / d = (t + ((n - t) >> s1)) >> s2 with
/// t = mulhi(m, n), for every u32 n (Granlund and Montgomery, 1994, fig. 4.1).
pub(crate) fn magic_divisor(d: u32) -> [u32; 4] {
    let d = d.max(1);
    let l = 32 - (d - 1).leading_zeros();
    let m = ((1u64 << 32) * ((1u64 << l) - d as u64) / d as u64 + 1) as u32;
    [d, m, l.min(1), l.saturating_sub(1)]
}

/// Converts a value loaded from storage to the register type.
pub(crate) fn load_conv(dtype: DType, e: &str) -> String {
    match dtype {
        DType::F16 => format!("f32({e})"),
        DType::Bool => format!("({e} != 0u)"),
        _ => e.to_string(),
    }
}

/// Converts a register value to the storage type.
pub(crate) fn store_conv(dtype: DType, e: &str) -> String {
    match dtype {
        DType::F16 => format!("f16({e})"),
        DType::Bool => format!("select(0u, 1u, {e})"),
        _ => e.to_string(),
    }
}

fn unary_expr(op: UnaryOp, t: &str, a: &str) -> String {
    let float = t == "f32";
    match op {
        UnaryOp::Neg => format!("-{a}"),
        UnaryOp::Exp => format!("exp({a})"),
        UnaryOp::Log => format!("log({a})"),
        UnaryOp::Sqrt => format!("sqrt({a})"),
        UnaryOp::Rsqrt => format!("inverseSqrt({a})"),
        UnaryOp::Tanh => format!("sg_tanh({a})"),
        UnaryOp::Sigmoid => format!("sg_sigmoid({a})"),
        UnaryOp::Relu if float => format!("select({a}, 0.0, {a} < 0.0)"),
        UnaryOp::Relu => format!("max({a}, {t}(0))"),
        UnaryOp::Gelu => format!("sg_gelu({a})"),
        UnaryOp::GeluTanh => format!("sg_gelu_tanh({a})"),
        UnaryOp::Silu => format!("{a} * sg_sigmoid({a})"),
        UnaryOp::Softplus => format!("sg_softplus({a})"),
        UnaryOp::Abs => format!("abs({a})"),
        UnaryOp::Sign => format!("sign({a})"),
        UnaryOp::Sin => format!("sin({a})"),
        UnaryOp::Cos => format!("cos({a})"),
        UnaryOp::Square => format!("{a} * {a}"),
        UnaryOp::Recip => format!("1.0 / {a}"),
        UnaryOp::Floor => format!("floor({a})"),
        UnaryOp::Ceil => format!("ceil({a})"),
        UnaryOp::Round => format!("round({a})"),
        UnaryOp::Erf => format!("sg_erf({a})"),
        UnaryOp::Not => format!("!{a}"),
    }
}

fn binary_expr(op: BinaryOp, t: &str, a: &str, b: &str) -> String {
    let float = t == "f32";
    match op {
        BinaryOp::Add => format!("{a} + {b}"),
        BinaryOp::Sub => format!("{a} - {b}"),
        BinaryOp::Mul => format!("{a} * {b}"),
        BinaryOp::Div => format!("{a} / {b}"),
        BinaryOp::Pow => format!("sg_pow({a}, {b})"),
        BinaryOp::Max if float => format!("sg_max({a}, {b})"),
        BinaryOp::Min if float => format!("sg_min({a}, {b})"),
        BinaryOp::Max => format!("max({a}, {b})"),
        BinaryOp::Min => format!("min({a}, {b})"),
        // IEEE comparisons, NaN tested by its bits: llvmpipe folds `x != x`
        // to false (and x == x to true) as if no value were NaN.
        BinaryOp::Ne if float => format!("sg_isnan({a}) || sg_isnan({b}) || {a} != {b}"),
        BinaryOp::Eq | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge if float => {
            format!("!(sg_isnan({a}) || sg_isnan({b})) && {}", compare(op, a, b))
        }
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            compare(op, a, b)
        }
        BinaryOp::And => format!("{a} && {b}"),
        BinaryOp::Or => format!("{a} || {b}"),
    }
}

fn compare(op: BinaryOp, a: &str, b: &str) -> String {
    let sym = match op {
        BinaryOp::Eq => "==",
        BinaryOp::Ne => "!=",
        BinaryOp::Lt => "<",
        BinaryOp::Le => "<=",
        BinaryOp::Gt => ">",
        _ => ">=",
    };
    format!("{a} {sym} {b}")
}

fn cast_expr(from: DType, to: DType, a: &str) -> String {
    let (f, t) = (from.wgsl_reg(), to.wgsl_reg());
    match (from, to) {
        _ if from == to => a.to_string(),
        // Rounds through f16 so a fused cast means what an unfused one does.
        (_, DType::F16) if from != DType::Bool => {
            format!("f32(f16({}))", cast_expr(from, DType::F32, a))
        }
        (DType::Bool, _) => format!("select({t}(0), {t}(1), {a})"),
        (_, DType::Bool) => format!("{a} != {f}(0)"),
        _ if f == t => a.to_string(),
        _ => format!("{t}({a})"),
    }
}

impl<'a> ExprGen<'a> {
    pub fn new(g: &'a Graph, mat: &'a [bool], dynamic: bool) -> Self {
        ExprGen {
            dynamic,
            meta: Vec::new(),
            g,
            mat,
            inputs: Vec::new(),
            scalars: Vec::new(),
            uses_status: false,
            uses_f16: false,
            uses_random: false,
            code: String::new(),
            indent: 1,
            scopes: vec![HashMap::new()],
            next: 0,
        }
    }

    fn line(&mut self, s: &str) {
        for _ in 0..self.indent {
            self.code.push_str("    ");
        }
        self.code.push_str(s);
        self.code.push('\n');
    }

    /// A new local's name. The separator keeps `i` + 32 from spelling the
    /// type `i32` (or `u32`, `f16`...).
    fn fresh(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_{}", self.next)
    }

    fn bind(&mut self, prefix: &str, ty: &str, expr: String) -> String {
        let name = self.fresh(prefix);
        self.line(&format!("let {name}: {ty} = {expr};"));
        name
    }

    fn memo_get(&self, n: usize, idx: &str) -> Option<String> {
        let key = (n, idx.to_string());
        self.scopes.iter().rev().find_map(|s| s.get(&key).cloned())
    }

    /// A size, stride or offset as a u32 expression: a constant, or (in the
    /// uniform form) a word of `sh`. Values only decide the form's structure
    /// where they are 0 or 1 (a term left out), so a stream of shapes shares it.
    pub fn num(&mut self, v: usize) -> String {
        if !self.dynamic {
            return format!("{v}u");
        }
        let j = self.meta.len();
        self.meta.push(v as u32);
        format!("sh[{}][{}]", j / 4, j % 4)
    }

    /// `e / v`: by a constant, or (uniform form) by `sg_div` with the
    /// divisor's magic numbers in a vec4 of `sh`.
    pub fn div(&mut self, e: &str, v: usize) -> String {
        if !self.dynamic {
            return format!("({e} / {v}u)");
        }
        format!("sg_div({e}, {})", self.divisor(v))
    }

    /// `e % v`, as `div` divides.
    pub fn rem(&mut self, e: &str, v: usize) -> String {
        if !self.dynamic {
            return format!("({e} % {v}u)");
        }
        format!("sg_rem({e}, {})", self.divisor(v))
    }

    /// A vec4 of `sh` holding divisor `v` and its magic numbers.
    fn divisor(&mut self, v: usize) -> String {
        self.meta.resize(self.meta.len().next_multiple_of(4), 0);
        let j = self.meta.len() / 4;
        self.meta.extend(magic_divisor(v as u32));
        format!("sh[{j}]")
    }

    /// Binding name of a materialized node read by this kernel.
    pub fn input(&mut self, n: usize) -> String {
        let j = match self.inputs.iter().position(|&m| m == n) {
            Some(j) => j,
            None => {
                self.inputs.push(n);
                if self.g.nodes[n].dtype == DType::F16 {
                    self.uses_f16 = true;
                }
                self.inputs.len() - 1
            }
        };
        format!("in{j}")
    }

    /// A runtime scalar word of the graph, as a u32 expression.
    fn scalar_word(&mut self, word: usize) -> String {
        let j = match self.scalars.iter().position(|&w| w == word) {
            Some(j) => j,
            None => {
                self.scalars.push(word);
                self.scalars.len() - 1
            }
        };
        format!("sc[{}][{}]", j / 4, j % 4)
    }

    fn scalar_value(&mut self, word: usize, dtype: DType) -> String {
        let w = self.scalar_word(word);
        match dtype {
            DType::F32 | DType::F16 => format!("bitcast<f32>({w})"),
            DType::I32 => format!("bitcast<i32>({w})"),
            DType::U32 => w,
            DType::Bool => format!("({w} != 0u)"),
        }
    }

    /// The index into a view's source, for element `idx` of the view.
    pub fn view_index(&mut self, view: &View, idx: &str) -> String {
        let c = view.collapsed();
        if c.shape.len() == 1 && c.strides[0] == 1 && c.offset == 0 {
            return idx.to_string();
        }
        let terms = self.decode_terms(&c.shape, &c.strides, idx);
        let sum = self.index_sum(c.offset, terms);
        self.bind("i", "u32", sum)
    }

    /// Source index for element (row, k) of a tensor seen as (kept dims..., reduced dims...).
    pub fn split_index(&mut self, view: &View, n_kept: usize, row: &str, k: &str) -> String {
        let kept = View {
            shape: view.shape[..n_kept].to_vec(),
            strides: view.strides[..n_kept].to_vec(),
            offset: 0,
        }
        .collapsed();
        let red = View {
            shape: view.shape[n_kept..].to_vec(),
            strides: view.strides[n_kept..].to_vec(),
            offset: 0,
        }
        .collapsed();
        let mut terms = self.decode_terms(&kept.shape, &kept.strides, row);
        terms.extend(self.decode_terms(&red.shape, &red.strides, k));
        let sum = self.index_sum(view.offset, terms);
        self.bind("i", "u32", sum)
    }

    /// WGSL expression (usually a variable) holding node `n`'s element `idx`,
    /// in its register type.
    pub fn value(&mut self, n: usize, idx: &str) -> String {
        if let Some(v) = self.memo_get(n, idx) {
            return v;
        }
        let node = &self.g.nodes[n];
        let v = if self.mat[n] {
            let name = self.input(n);
            let load = load_conv(node.dtype, &format!("{name}[{idx}]"));
            self.bind("v", node.dtype.wgsl_reg(), load)
        } else {
            let Kind::Op(op) = &node.kind else {
                unreachable!("a leaf is always materialized")
            };
            self.compute(n, &op.clone(), idx)
        };
        self.scopes
            .last_mut()
            .expect("a scope")
            .insert((n, idx.to_string()), v.clone());
        v
    }

    /// The code computing element `idx` of node `n`, an inlined `op`.
    fn compute(&mut self, n: usize, op: &Op, idx: &str) -> String {
        let node = &self.g.nodes[n];
        let (dtype, t) = (node.dtype, node.dtype.wgsl_reg());
        let src = node.src.clone();
        let word = node.scalar;
        match op {
            Op::Const(_) => {
                let s = self.scalar_value(word, dtype);
                self.bind("v", t, s)
            }
            Op::Rand { normal, .. } => {
                self.uses_random = true;
                let (s0, s1) = (self.scalar_word(word), self.scalar_word(word + 1));
                let f = if *normal { "sg_randn" } else { "sg_rand" };
                self.bind("v", t, format!("{f}({s0}, {s1}, {idx})"))
            }
            Op::Arange { .. } => {
                let start = self.scalar_value(word, dtype);
                let step = self.scalar_value(word + 1, dtype);
                self.bind("v", t, format!("{start} + {step} * {t}({idx})"))
            }
            Op::Unary(u) => {
                let a = self.value(src[0], idx);
                self.bind("v", t, unary_expr(*u, t, &a))
            }
            Op::Binary(b) => {
                let x = self.value(src[0], idx);
                let y = self.value(src[1], idx);
                let ti = self.g.nodes[src[0]].dtype.wgsl_reg();
                self.bind("v", t, binary_expr(*b, ti, &x, &y))
            }
            Op::Where => {
                let c = self.value(src[0], idx);
                let x = self.value(src[1], idx);
                let y = self.value(src[2], idx);
                self.bind("v", t, format!("select({y}, {x}, {c})"))
            }
            Op::Cast => {
                let from = self.g.nodes[src[0]].dtype;
                let a = self.value(src[0], idx);
                self.bind("v", t, cast_expr(from, dtype, &a))
            }
            Op::View(view) => {
                let i = self.view_index(view, idx);
                self.value(src[0], &i)
            }
            Op::CheckIndex { limit } => self.check_index(src[0], dtype, *limit, idx),
            Op::Concat { axis } => self.concat(n, *axis, idx),
            Op::Unview(view) => self.unview(view, src[0], t, idx),
            Op::Reduce { .. }
            | Op::Matmul
            | Op::Gather { .. }
            | Op::ScatterAdd { .. }
            | Op::Update { .. }
            | Op::Kernel(_)
            | Op::CustomGrad(_) => unreachable!("kernel ops are always materialized"),
        }
    }

    /// Passes the index through, raising the class-index bit of the status
    /// word where it is outside [0, limit).
    fn check_index(&mut self, s: usize, dtype: DType, limit: usize, idx: &str) -> String {
        let a = self.value(s, idx);
        self.uses_status = true;
        let lim = self.num(limit);
        let bad = if dtype == DType::I32 {
            format!("{a} < 0 || u32({a}) >= {lim}")
        } else {
            format!("{a} >= {lim}")
        };
        self.line(&format!(
            "if ({bad}) {{ atomicOr(&status[0], {STATUS_CLASS_INDEX}u); }}"
        ));
        a
    }

    /// Concat: pick the input that holds this element; only that one is read.
    fn concat(&mut self, n: usize, axis: usize, idx: &str) -> String {
        let node = &self.g.nodes[n];
        let (shape, t, src) = (node.shape.clone(), node.dtype.wgsl_reg(), node.src.clone());
        let inner: usize = shape[axis + 1..].iter().product();
        let total = shape[axis];
        let out = self.fresh("v");
        self.line(&format!("var {out}: {t};"));
        // Divisions as every index decode divides (by magic numbers in the
        // uniform form).
        let q = self.div(idx, inner);
        let c = self.rem(&q, total);
        let c = self.bind("c", "u32", c);
        let outer = self.div(idx, inner * total);
        let outer = self.bind("o", "u32", outer);
        let within = self.rem(idx, inner);
        let within = self.bind("w", "u32", within);
        let inner_k = self.num(inner);
        let mut start = 0usize;
        for (j, &s) in src.iter().enumerate() {
            let len = self.g.nodes[s].shape[axis];
            let (end_k, len_k, start_k) = (self.num(start + len), self.num(len), self.num(start));
            let cond = if j + 1 == src.len() {
                "else".to_string()
            } else if j == 0 {
                format!("if ({c} < {end_k})")
            } else {
                format!("else if ({c} < {end_k})")
            };
            self.line(&format!("{cond} {{"));
            self.indent += 1;
            self.scopes.push(HashMap::new());
            let i = self.bind(
                "i",
                "u32",
                format!("({outer} * {len_k} + {c} - {start_k}) * {inner_k} + {within}"),
            );
            let v = self.value(s, &i);
            self.line(&format!("{out} = {v};"));
            self.scopes.pop();
            self.indent -= 1;
            self.line("}");
            start += len;
        }
        out
    }

    /// Unview: element `idx` of the view's source is the view element that read
    /// it, if any. Decoding is greedy over the strides, largest first, which is
    /// exact for a view that does not overlap itself (checked when recorded).
    fn unview(&mut self, view: &View, g: usize, t: &str, idx: &str) -> String {
        // Autodiff records an unview of a view read forwards only (a flip's
        // gradient is the flip of the gradient, a view): strides are >= 0.
        let strides = view.unsigned_strides().expect("an unview reads forwards");
        let mut dims: Vec<usize> = (0..view.shape.len())
            .filter(|&d| view.shape[d] > 1)
            .collect();
        dims.sort_by(|&a, &b| strides[b].cmp(&strides[a]));
        let inner = contiguous_strides(&view.shape);
        let r = self.fresh("r");
        let ok = self.fresh("ok");
        let off = self.num(view.offset);
        self.line(&format!("var {r}: u32 = {idx} - min({idx}, {off});"));
        self.line(&format!("var {ok}: bool = {idx} >= {off};"));
        let mut terms = Vec::new();
        for d in dims {
            let (st, size, inn) = (
                self.num(strides[d]),
                self.num(view.shape[d]),
                self.num(inner[d]),
            );
            let q = self.div(&r, strides[d]);
            let c = self.bind("c", "u32", q);
            self.line(&format!("{r} -= {c} * {st};"));
            self.line(&format!("{ok} = {ok} && {c} < {size};"));
            terms.push(format!("{c} * {inn}"));
        }
        self.line(&format!("{ok} = {ok} && {r} == 0u;"));
        let gi = if terms.is_empty() {
            "0u".to_string()
        } else {
            terms.join(" + ")
        };
        let at = self.bind("i", "u32", format!("select(0u, {gi}, {ok})"));
        // Scoped: the index variable is not a pure function of `idx` for reuse.
        self.scopes.push(HashMap::new());
        let v = self.value(g, &at);
        self.scopes.pop();
        self.bind("v", t, format!("select({t}(0), {v}, {ok})"))
    }

    /// The launch of a fused kernel: binding 0 is the output, then what
    /// `declarations(1)` declared (the inputs read, scalars, status).
    pub fn launch(
        &self,
        name: &'static str,
        wgsl: Arc<str>,
        entry: &'static str,
        constants: &[(&'static str, f64)],
        workgroups: [u32; 3],
    ) -> Launch {
        let mut layout = vec![BindKind::ReadWrite];
        layout.extend(self.declarations(1).1);
        let mut args = vec![Arg::Out];
        args.extend((0..self.inputs.len()).map(Arg::In));
        if !self.scalars.is_empty() {
            args.push(Arg::Scalars);
        }
        if !self.meta.is_empty() {
            args.push(Arg::Meta);
        }
        if self.uses_status {
            args.push(Arg::Status);
        }
        let mut src = KernelSource::new(name, wgsl, entry, layout);
        for &(c, v) in constants {
            src = src.with(c, v);
        }
        Launch::new(src, args, workgroups)
            .scalars(self.scalars.clone())
            .meta(self.meta.clone())
    }

    /// The statements generated so far (and clears them).
    pub fn take_code(&mut self) -> String {
        std::mem::take(&mut self.code)
    }

    /// Declarations of the kernel's inputs (from `first` on), scalars and status,
    /// and the binding kinds they add to the layout.
    pub fn declarations(&self, first: u32) -> (String, Vec<BindKind>) {
        let mut s = String::new();
        let mut kinds = Vec::new();
        let mut b = first;
        for (j, &n) in self.inputs.iter().enumerate() {
            let ty = self.g.nodes[n].dtype.wgsl_storage();
            let _ = writeln!(
                s,
                "@group(0) @binding({b}) var<storage, read> in{j}: array<{ty}>;"
            );
            kinds.push(BindKind::Read);
            b += 1;
        }
        // Runtime scalars, then sizes (the uniform form), as vec4 words.
        for (name, words) in [("sc", self.scalars.len()), ("sh", self.meta.len())] {
            if words > 0 {
                let n = words.div_ceil(4);
                let _ = writeln!(
                    s,
                    "@group(0) @binding({b}) var<uniform> {name}: array<vec4<u32>, {n}>;"
                );
                kinds.push(BindKind::Uniform);
                b += 1;
            }
        }
        if self.uses_status {
            let _ = writeln!(
                s,
                "@group(0) @binding({b}) var<storage, read_write> status: array<atomic<u32>>;"
            );
            kinds.push(BindKind::ReadWrite);
        }
        (s, kinds)
    }

    /// The source index `offset + sum(terms)`: the terms of reversed dims are
    /// subtracted last, so no partial sum goes below zero.
    fn index_sum(&mut self, offset: usize, terms: Vec<(bool, String)>) -> String {
        let (minus, plus): (Vec<_>, Vec<_>) = terms.into_iter().partition(|(neg, _)| *neg);
        let mut expr: Vec<String> = plus.into_iter().map(|(_, t)| t).collect();
        if offset > 0 || expr.is_empty() {
            expr.insert(0, self.num(offset));
        }
        let mut expr = expr.join(" + ");
        for (_, t) in minus {
            expr = format!("{expr} - {t}");
        }
        expr
    }

    /// Terms `coord_d * |stride_d|` decoding flat `idx` over `shape` (row-major),
    /// each marked when its stride is negative (to be subtracted), skipping
    /// broadcast (stride 0) dims.
    fn decode_terms(
        &mut self,
        shape: &[usize],
        strides: &[isize],
        idx: &str,
    ) -> Vec<(bool, String)> {
        let r = shape.len();
        let inner = contiguous_strides(shape);
        let mut terms = Vec::new();
        for d in 0..r {
            if strides[d] == 0 {
                continue;
            }
            let mut c = if inner[d] == 1 {
                idx.to_string()
            } else {
                self.div(idx, inner[d])
            };
            if d > 0 {
                c = self.rem(&c, shape[d]);
            }
            let s = strides[d].unsigned_abs();
            terms.push((
                strides[d] < 0,
                if s == 1 {
                    c
                } else {
                    format!("{c} * {}", self.num(s))
                },
            ));
        }
        terms
    }
}

#[cfg(test)]
mod tests {
    use super::magic_divisor;

    /// The shader's `sg_div`, on the host.
    fn div(n: u32, d: [u32; 4]) -> u32 {
        let t = ((d[1] as u64 * n as u64) >> 32) as u32;
        (t + ((n - t) >> d[2])) >> d[3]
    }

    #[test]
    fn magic_division_is_exact() {
        let ns = [
            0u32,
            1,
            2,
            3,
            7,
            100,
            65535,
            65536,
            1 << 31,
            u32::MAX - 1,
            u32::MAX,
        ];
        let mut ds: Vec<u32> = (1..=300).collect();
        ds.extend([641, 65535, 65536, 65537, 1 << 31, (1 << 31) + 1, u32::MAX]);
        for &d in &ds {
            let m = magic_divisor(d);
            for &n in ns
                .iter()
                .chain(&[d - 1, d, d.wrapping_add(1), d.wrapping_mul(7)])
            {
                assert_eq!(div(n, m), n / d, "{n} / {d}");
            }
        }
    }
}
