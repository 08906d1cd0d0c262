//! A run against an earlier `--json` file: the ratio of medians per case
//! present in both, matched by (kernel, variant, shape, dtype, timer).

use crate::bench::document::ms;
use crate::bench::json::Saved;
use crate::bench::results::Report;
use crate::bench::table::Table;

/// A comparison of two runs.
pub(crate) struct Comparison {
    pub text: String,
    /// Cases more than 10% slower than before.
    pub regressions: usize,
}

fn key(kernel: &str, variant: &str, shape: &str, dtype: &str, method: &str) -> String {
    format!("{kernel}|{variant}|{shape}|{dtype}|{method}")
}

/// new / old, and its flag: over 1.10 a regression, under 1 / 1.10 faster.
fn ratio(prev: Option<f64>, now: Option<f64>) -> (String, &'static str) {
    match (prev, now) {
        (Some(a), Some(b)) if a > 0.0 => {
            let q = b / a;
            let flag = if q > 1.10 {
                "REGRESSION"
            } else if q < 1.0 / 1.10 {
                "faster"
            } else {
                ""
            };
            (format!("{q:.3}"), flag)
        }
        (_, None) => ("-".into(), "not timed now"),
        (None, Some(_)) => ("-".into(), "not timed before"),
        _ => ("-".into(), ""),
    }
}

/// The comparison's heading: which run, and whether the adapters differ.
fn heading(old: &Saved, new: &Report) -> String {
    let adapter = &old.adapter.description;
    let commit = old.git_commit.as_deref().map(|c| &c[..c.len().min(12)]);
    format!(
        "\ncompared with {} (commit {}){}\n",
        if adapter.is_empty() {
            "an earlier run"
        } else {
            adapter
        },
        commit.unwrap_or("unknown"),
        if !adapter.is_empty() && *adapter != new.adapter.description {
            "; WARNING: another adapter, ratios compare machines"
        } else {
            ""
        }
    )
}

/// Ratio new / old of the median per case present in both; cases only one
/// run has are listed as new or gone (gone ones only counted when this run
/// was filtered).
pub(crate) fn compare(old: &Saved, new: &Report) -> Comparison {
    let mut before: Vec<(String, Option<f64>)> = old
        .rows
        .iter()
        .map(|r| {
            (
                key(&r.kernel, &r.variant, &r.shape, &r.dtype, &r.method),
                r.median_ms,
            )
        })
        .collect();
    let mut table = Table::new(
        &[
            "kernel", "variant", "shape", "dtype", "old ms", "new ms", "new/old", "flag",
        ],
        4,
    );
    let (mut regressions, mut faster, mut matched) = (0, 0, 0);
    for r in &new.rows {
        let k = key(&r.kernel, &r.variant, &r.shape, &r.dtype, &r.method);
        let id = vec![
            r.kernel.clone(),
            r.variant.clone(),
            r.shape.clone(),
            r.dtype.clone(),
        ];
        let Some(prev) = before
            .iter()
            .position(|(b, _)| *b == k)
            .map(|i| before.remove(i).1)
        else {
            table.push(
                [
                    id,
                    vec!["-".into(), ms(r.median_ms), "-".into(), "new".into()],
                ]
                .concat(),
            );
            continue;
        };
        let (q, flag) = ratio(prev, r.median_ms);
        matched += usize::from(q != "-");
        regressions += usize::from(flag == "REGRESSION");
        faster += usize::from(flag == "faster");
        table.push([id, vec![ms(prev), ms(r.median_ms), q, flag.into()]].concat());
    }
    let filtered = new.options.filter.is_some();
    for (k, _) in before.iter().filter(|_| !filtered) {
        let mut cells: Vec<String> = k.split('|').take(4).map(String::from).collect();
        cells.extend(["-", "-", "-", "gone"].map(String::from));
        table.push(cells);
    }
    let mut text = heading(old, new) + &table.text();
    text.push_str(&format!(
        "{matched} cases compared: {regressions} over 10% slower (REGRESSION), {faster} over 10% faster\n"
    ));
    if filtered && !before.is_empty() {
        text.push_str(&format!(
            "{} cases of the old run are outside this run's filter\n",
            before.len()
        ));
    }
    Comparison { text, regressions }
}
