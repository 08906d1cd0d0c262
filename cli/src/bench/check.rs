//! The correctness gate: a case's output, on its own inputs, against a float64
//! CPU reference, once, before it is timed.
//!
//! Each reference element comes with a *scale*: the sum of the magnitudes of
//! the terms that made it (for a dot product, sum |a_k b_k|). f32 rounding in
//! any summation order stays well under `acc * scale`, while a wrong kernel
//! (a missed term, a wrong index) misses by the size of a term. An element
//! passes when |gpu - ref| <= rel * |ref| + acc * scale + abs.
//! When the reference is costly (a 1024^3 matmul), a seeded sample of the
//! output elements is compared (always the first and the last), and the row
//! says how many.

use crate::bench::data::Rng;
use crate::bench::results::CheckOutcome;

/// Tolerances; see the module comment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tol {
    pub rel: f64,
    pub acc: f64,
    pub abs: f64,
}

impl Tol {
    /// f32 arithmetic.
    pub const F32: Tol = Tol {
        rel: 2e-6,
        acc: 1e-5,
        abs: 1e-6,
    };
    /// f16 storage (inputs exact in f16, output rounded to f16: 2^-11 relative).
    pub const F16: Tol = Tol {
        rel: 2e-3,
        acc: 2e-3,
        abs: 1e-4,
    };
    /// Transcendentals (exp, log, tanh) in f32: a few ulp each.
    pub const F32_MATH: Tol = Tol {
        rel: 2e-5,
        acc: 2e-5,
        abs: 1e-6,
    };

    pub fn for_dtype(dtype: shadergrad::DType) -> Tol {
        if dtype == shadergrad::DType::F16 {
            Tol::F16
        } else {
            Tol::F32
        }
    }

    fn allows(&self, reference: f64, scale: f64) -> f64 {
        self.rel * reference.abs() + self.acc * scale.abs() + self.abs
    }
}

/// The reference cost, in float64 multiply-adds, a check may spend.
pub(crate) const BUDGET: f64 = 1.5e8;

/// How many elements a check of `total` elements may compare when each costs
/// `cost` multiply-adds to compute on the CPU.
pub(crate) fn budget(total: usize, cost: f64) -> usize {
    ((BUDGET / cost.max(1.0)) as usize)
        .max(256)
        .min(total.max(1))
}

/// The indices to compare: all of them when `max >= total`, else the first,
/// the last and a seeded sample, sorted.
pub(crate) fn pick(total: usize, max: usize) -> Vec<usize> {
    if max >= total {
        return (0..total).collect();
    }
    let mut rng = Rng::new(total as u64 * 31 + max as u64);
    let mut v: Vec<usize> = (0..max.saturating_sub(2))
        .map(|_| rng.below(total))
        .collect();
    v.push(0);
    v.push(total - 1);
    v.sort_unstable();
    v.dedup();
    v
}

pub(crate) fn fail(detail: String, total: usize) -> CheckOutcome {
    CheckOutcome {
        passed: false,
        checked: 0,
        total,
        worst: f64::INFINITY,
        detail,
    }
}

/// Compares `out[i]` for the picked indices against `reference(i)` = (value, scale).
pub(crate) fn elements(
    out: &[f32],
    total: usize,
    max: usize,
    tol: Tol,
    mut reference: impl FnMut(usize) -> (f64, f64),
) -> CheckOutcome {
    if out.len() != total {
        return fail(
            format!("{} elements, the reference has {total}", out.len()),
            total,
        );
    }
    let idx = pick(total, max);
    let mut worst = 0.0f64;
    let mut worst_at: Option<(usize, f64)> = None;
    for &i in &idx {
        let (r, scale) = reference(i);
        let g = out[i] as f64;
        let ratio = if g.is_nan() || r.is_nan() {
            if g.is_nan() && r.is_nan() {
                0.0
            } else {
                f64::INFINITY
            }
        } else {
            (g - r).abs() / tol.allows(r, scale)
        };
        if ratio > worst || ratio.is_nan() {
            worst = ratio;
            worst_at = Some((i, r));
        }
    }
    let passed = worst <= 1.0;
    let detail = match worst_at {
        Some((i, r)) if !passed => format!(
            "element {i} is {} where the float64 reference is {r:.6e}",
            out[i]
        ),
        _ if idx.len() < total => format!("{} of {total} elements sampled", idx.len()),
        _ => String::new(),
    };
    CheckOutcome {
        passed,
        checked: idx.len(),
        total,
        worst,
        detail,
    }
}

/// Compares every element against a full reference of (value, scale) pairs.
pub(crate) fn all(out: &[f32], reference: &[(f64, f64)], tol: Tol) -> CheckOutcome {
    elements(out, reference.len(), reference.len(), tol, |i| reference[i])
}

/// Compares sampled rows of a (rows, cols) output, `row(r)` giving a reference row.
pub(crate) fn rows(
    out: &[f32],
    rows: usize,
    cols: usize,
    max_rows: usize,
    tol: Tol,
    mut row: impl FnMut(usize) -> Vec<(f64, f64)>,
) -> CheckOutcome {
    let total = rows * cols;
    if out.len() != total {
        return fail(
            format!("{} elements, the reference has {total}", out.len()),
            total,
        );
    }
    let mut outcome = CheckOutcome {
        passed: true,
        checked: 0,
        total,
        worst: 0.0,
        detail: String::new(),
    };
    for r in pick(rows, max_rows) {
        let reference = row(r);
        let c = all(&out[r * cols..(r + 1) * cols], &reference, tol);
        outcome.checked += c.checked;
        if c.worst > outcome.worst || c.worst.is_nan() {
            outcome.worst = c.worst;
            if !c.passed {
                outcome.passed = false;
                outcome.detail = format!("row {r}: {}", c.detail);
            }
        }
    }
    if outcome.passed && outcome.checked < total {
        outcome.detail = format!("{} of {rows} rows sampled", pick(rows, max_rows).len());
    }
    outcome
}

/// Several outputs' checks as one: passes when all pass.
pub(crate) fn combine(parts: Vec<(&str, CheckOutcome)>) -> CheckOutcome {
    let mut out = CheckOutcome {
        passed: true,
        ..CheckOutcome::default()
    };
    let mut sampled = Vec::new();
    for (name, c) in parts {
        out.checked += c.checked;
        out.total += c.total;
        if c.worst > out.worst || c.worst.is_nan() {
            out.worst = c.worst;
        }
        if !c.passed && out.passed {
            out.passed = false;
            out.detail = format!("{name}: {}", c.detail);
        } else if c.passed && c.checked < c.total {
            sampled.push(format!("{name}: {}", c.detail));
        }
    }
    if out.passed {
        out.detail = sampled.join("; ");
    }
    out
}

/// The output count is wrong (the case returned other tensors than expected).
pub(crate) fn outputs(n: usize, want: usize) -> Option<CheckOutcome> {
    (n != want).then(|| fail(format!("{n} outputs, expected {want}"), 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_output_passes_and_a_missed_term_fails() {
        let reference: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, i as f64 * 4.0)).collect();
        let good: Vec<f32> = (0..100).map(|i| i as f32).collect();
        assert!(all(&good, &reference, Tol::F32).passed);
        let mut bad = good.clone();
        bad[37] += 0.5;
        let c = all(&bad, &reference, Tol::F32);
        assert!(!c.passed);
        assert!(c.detail.contains("element 37"), "{}", c.detail);
        let mut nan = good;
        nan[3] = f32::NAN;
        assert!(!all(&nan, &reference, Tol::F32).passed);
    }

    #[test]
    fn sampling_keeps_the_ends_and_stays_in_range() {
        let p = pick(1_000_000, 300);
        assert!(p.len() <= 300 && p.len() > 200);
        assert_eq!(p[0], 0);
        assert_eq!(*p.last().unwrap(), 999_999);
        assert_eq!(pick(10, 300), (0..10).collect::<Vec<_>>());
        assert!(!elements(&[1.0], 2, 2, Tol::F32, |_| (1.0, 1.0)).passed);
    }
}
