//! `Display` for tensors: the values, in PyTorch's format (`tensor([[1.0000,
//! 2.0000], ...])`), summarised for large tensors: past 1000 elements each
//! axis shows its first and last 3 entries around `...`. Displaying reads the
//! tensor back (one realize); an error is shown in place of the values.

use std::fmt;

use crate::dtype::DType;
use crate::tensor::Tensor;

const SUMMARY_OVER: usize = 1000;
const EDGE: usize = 3;

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = match values(self) {
            Ok(v) => v,
            Err(e) => return write!(f, "tensor(<{e}>)"),
        };
        let summarise = self.numel() > SUMMARY_OVER;
        let cells: Vec<String> = format_all(&values, self.dtype());
        let width = cells.iter().map(String::len).max().unwrap_or(0);
        let mut out = String::from("tensor(");
        nest(&mut out, self.shape(), &cells, width, summarise, 7);
        if self.dtype() != DType::F32 {
            out.push_str(&format!(", dtype={}", self.dtype()));
        }
        out.push(')');
        f.write_str(&out)
    }
}

/// The elements as f64 (integers and bools exactly).
fn values(t: &Tensor) -> crate::Result<Vec<f64>> {
    Ok(match t.dtype() {
        DType::F32 => t.to_vec::<f32>()?.into_iter().map(f64::from).collect(),
        DType::F16 => t
            .to_vec::<half::f16>()?
            .into_iter()
            .map(f64::from)
            .collect(),
        DType::I32 => t.to_vec::<i32>()?.into_iter().map(f64::from).collect(),
        DType::U32 | DType::Bool => t.to_vec::<u32>()?.into_iter().map(f64::from).collect(),
    })
}

/// Every element as text, floats all in one style: fixed with 4 decimals, or
/// scientific when the magnitudes span too much for that (as PyTorch chooses).
fn format_all(v: &[f64], dtype: DType) -> Vec<String> {
    match dtype {
        DType::Bool => {
            return v
                .iter()
                .map(|&x| if x != 0.0 { "True" } else { "False" }.into())
                .collect();
        }
        DType::I32 | DType::U32 => return v.iter().map(|x| format!("{x}")).collect(),
        DType::F32 | DType::F16 => {}
    }
    let finite = v
        .iter()
        .filter(|x| x.is_finite() && **x != 0.0)
        .map(|x| x.abs());
    let (lo, hi) = finite.fold((f64::INFINITY, 0.0f64), |(l, h), x| (l.min(x), h.max(x)));
    let scientific =
        hi >= 1e8 || (lo < 1e-4 && hi > 0.0) || (hi > 0.0 && hi / lo > 1e3 && lo < 1e-2);
    v.iter()
        .map(|&x| match (x.is_nan(), x.is_infinite(), scientific) {
            (true, _, _) => "nan".into(),
            (_, true, _) => if x > 0.0 { "inf" } else { "-inf" }.into(),
            (_, _, true) => scientific_text(x),
            _ => format!("{x:.4}"),
        })
        .collect()
}

/// `x` as PyTorch prints it in scientific style: 1.0000e+09.
fn scientific_text(x: f64) -> String {
    let s = format!("{x:.4e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Appends the nested brackets of `shape` over `cells` (row-major), right
/// aligned to `width`; `indent` is the column the outermost bracket opens at.
fn nest(
    out: &mut String,
    shape: &[usize],
    cells: &[String],
    width: usize,
    summarise: bool,
    indent: usize,
) {
    let Some((&n, inner)) = shape.split_first() else {
        out.push_str(&format!(
            "{:>width$}",
            cells.first().map_or("", String::as_str)
        ));
        return;
    };
    let stride: usize = inner.iter().product();
    let shown: Vec<Option<usize>> = if summarise && n > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain([None])
            .chain((n - EDGE..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    };
    out.push('[');
    for (k, i) in shown.iter().enumerate() {
        if k > 0 {
            out.push(',');
            if inner.is_empty() {
                out.push(' ');
            } else {
                out.push_str(&"\n".repeat(inner.len()));
                out.push_str(&" ".repeat(indent + 1));
            }
        }
        match i {
            Some(i) => {
                let part = &cells[i * stride..(i + 1) * stride];
                nest(out, inner, part, width, summarise, indent + 1);
            }
            None => out.push_str("..."),
        }
    }
    out.push(']');
}
