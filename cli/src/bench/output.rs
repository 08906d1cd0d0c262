//! The results as a table, as JSON, and compared against an earlier JSON file.

use serde_json::{Value, json};

use crate::bench::{Report, Row};

/// Columns padded to their widest cell; the first `left` columns left-aligned.
fn grid(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            let pad = w - c.chars().count();
            let last = i + 1 == cells.len();
            if i < left || last {
                s.push_str(c);
                if !last {
                    s.push_str(&" ".repeat(pad));
                }
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
            if !last {
                s.push_str("  ");
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut s = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in rows {
        s.push_str(&line(r));
    }
    s
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "-".into(),
    }
}

/// Bytes as MiB, two decimals.
pub(crate) fn mib(b: u64) -> String {
    format!("{:.2}", b as f64 / (1u64 << 20) as f64)
}

/// The dispatch-overhead probes as table rows (the text table and the report's).
pub(crate) const PROBE_HEADER: [&str; 4] = ["probe", "wall us", "gpu us", "how"];

pub(crate) fn probe_rows(report: &Report) -> Vec<Vec<String>> {
    report
        .probes
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                format!("{:.2}", p.wall_us),
                num(p.gpu_us, 2),
                p.note.clone(),
            ]
        })
        .collect()
}

/// How many times faster a row is than a peer's `theirs` ms.
pub(crate) fn speedup(r: &Row, theirs: f64) -> String {
    r.median_ms
        .map(|m| format!("{:.2}x", theirs / m))
        .unwrap_or_else(|| "-".into())
}

/// Milliseconds with about four significant digits.
pub(crate) fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.1}"),
        Some(x) if x >= 1.0 => format!("{x:.3}"),
        Some(x) => format!("{x:.4}"),
        None => "-".into(),
    }
}

pub(crate) fn gate(r: &Row) -> String {
    if r.error.is_some() {
        "ERROR".into()
    } else if !r.check.passed {
        "FAIL".into()
    } else if r.check.checked < r.check.total {
        "ok~".into()
    } else {
        "ok".into()
    }
}

pub(crate) fn ceiling(r: &Row) -> String {
    match (&r.bound, r.fraction) {
        (Some(b), Some(f)) => format!(
            "{:.1}% {}",
            f * 100.0,
            if b == "memory" { "mem" } else { "fma" }
        ),
        _ => "-".into(),
    }
}

pub(crate) fn versus(r: &Row) -> String {
    if r.baseline {
        "base".into()
    } else {
        r.speedup
            .map(|s| format!("{s:.2}x"))
            .unwrap_or_else(|| "-".into())
    }
}

pub(crate) fn note(r: &Row) -> String {
    let mut parts = Vec::new();
    if let Some(e) = &r.error {
        parts.push(e.clone());
    }
    if (!r.check.passed || r.check.checked < r.check.total) && !r.check.detail.is_empty() {
        parts.push(r.check.detail.clone());
    }
    if !r.note.is_empty() {
        parts.push(r.note.clone());
    }
    parts.join("; ")
}

/// The main table's cells for one row.
pub(crate) fn cells(r: &Row) -> Vec<String> {
    vec![
        r.kernel.clone(),
        format!("{}{}", r.variant, if r.chosen { "*" } else { "" }),
        r.shape.clone(),
        r.dtype.clone(),
        r.method.clone(),
        ms(r.median_ms),
        ms(r.min_ms),
        ms(r.wall_ms),
        format!("{} ({})", ms(Some(r.first_ms)), r.pipelines),
        mib(r.peak_bytes),
        num(r.gflops, 2),
        num(r.gbps, 2),
        ceiling(r),
        versus(r),
        gate(r),
        note(r),
    ]
}

pub(crate) const HEADER: [&str; 16] = [
    "kernel",
    "variant",
    "shape",
    "dtype",
    "timer",
    "median ms",
    "min ms",
    "wall ms",
    "cold ms (pipes)",
    "peak MiB",
    "GFLOP/s",
    "GB/s",
    "of ceiling",
    "vs base",
    "gate",
    "note",
];

/// The readable report: the ceilings, every row, the probes, the choices and
/// the burn comparison.
pub fn table(report: &Report) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "shadergrad {} bench{}: {} cases in {:.0} s{}\n",
        report.crate_version,
        if report.quick { " --quick" } else { "" },
        report.rows.len(),
        report.seconds,
        report
            .git_commit
            .as_ref()
            .map(|c| format!(
                ", commit {}{}",
                &c[..c.len().min(12)],
                if report.git_dirty == Some(true) {
                    " (modified)"
                } else {
                    ""
                }
            ))
            .unwrap_or_default(),
    ));
    if let Some((a, b)) = report.load {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        // The run itself loads the machine; the start says what else did.
        s.push_str(&format!(
            "system load average (1 min): {a:.2} at the start, {b:.2} at the end, on {cpus} CPUs{}\n",
            if a > 0.5 * cpus as f64 {
                ": other work was running when the run started, times may be skewed"
            } else {
                ""
            }
        ));
    }
    s.push_str(
        "timer: gpu-ts = GPU timestamps around each dispatch of the run, summed; \
         wall = record to GPU idle (on adapters without timestamps, and where CPU time is \
         the point); e2e = record to the whole output read back\n",
    );
    match &report.roofline {
        Some(r) => s.push_str(&format!(
            "ceilings (measured, {}): copy {:.2} GB/s (read + written, {} MiB), \
             FMA {:.2} GFLOP/s f32 ({}); ridge {:.1} flop/byte\n",
            r.method,
            r.copy_gbps,
            r.copy_bytes >> 20,
            r.fma_gflops,
            r.detail,
            r.fma_gflops / r.copy_gbps
        )),
        None => s.push_str("ceilings: not measured\n"),
    }
    s.push('\n');
    let rows: Vec<Vec<String>> = report.rows.iter().map(cells).collect();
    s.push_str(&grid(&HEADER, &rows, 5));
    s.push_str(
        "* the engine's choice on this adapter; wall = median wall clock of the same runs \
         (record to GPU idle); vs base = the baseline's median over this row's; gate ok~ = a \
         sampled comparison; cold = first run, pipeline compiles included; of ceiling: the \
         copy ceiling counts a copy's writes, so read-mostly kernels can pass 100%\n",
    );
    if !report.skipped.is_empty() {
        s.push_str(&format!(
            "left out on this software adapter (a second or more per run): {}\n",
            report.skipped.join(", ")
        ));
    }
    if !report.probes.is_empty() {
        s.push_str("\ndispatch overhead\n");
        s.push_str(&grid(&PROBE_HEADER, &probe_rows(report), 1));
    }
    if !report.choices.is_empty() {
        s.push_str("\nvariant choice on this adapter\n");
        for c in &report.choices {
            s.push_str(&format!("  {}: {} ({})", c.kernel, c.chosen, c.reason));
            if !c.measured.is_empty() {
                s.push_str(&format!("; {}", c.measured));
            }
            s.push('\n');
        }
    }
    let peers: Vec<&Row> = report.rows.iter().filter(|r| r.peer.is_some()).collect();
    if !peers.is_empty() {
        s.push_str(
            "\nagainst burn 0.22 (wgpu backend, the same kind of adapter), both end to end\n",
        );
        let rows: Vec<Vec<String>> = peers
            .iter()
            .map(|r| {
                let (who, theirs) = r.peer.clone().expect("peer");
                vec![
                    format!("{} {}", r.kernel, r.shape),
                    r.variant.clone(),
                    ms(r.median_ms),
                    format!("{theirs}"),
                    speedup(r, theirs),
                    gate(r),
                    who,
                ]
            })
            .collect();
        s.push_str(&grid(
            &[
                "workload",
                "variant",
                "ours ms",
                "theirs ms",
                "speedup",
                "gate",
                "peer",
            ],
            &rows,
            2,
        ));
    }
    let failed = report.failures();
    if !failed.is_empty() {
        s.push_str("\nFAILED the correctness gate (not timed, no score):\n");
        for r in failed {
            s.push_str(&format!(
                "  {} {} {} {}: {}\n",
                r.kernel,
                r.variant,
                r.shape,
                r.dtype,
                r.error.clone().unwrap_or_else(|| r.check.detail.clone())
            ));
        }
    }
    s
}

fn opt(v: Option<f64>) -> Value {
    match v {
        Some(x) if x.is_finite() => json!(x),
        _ => Value::Null,
    }
}

/// The whole report as one JSON object (schema `shadergrad-bench/1`).
pub fn to_json(report: &Report) -> Value {
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|r| {
            json!({
                "kernel": r.kernel,
                "variant": r.variant,
                "shape": r.shape,
                "dtype": r.dtype,
                "group": r.group,
                "baseline": r.baseline,
                "chosen": r.chosen,
                "method": r.method,
                "median_ms": opt(r.median_ms),
                "min_ms": opt(r.min_ms),
                "wall_median_ms": opt(r.wall_ms),
                "first_ms": r.first_ms,
                "compile_ms_est": opt(r.compile_ms),
                "peak_bytes": r.peak_bytes,
                "pipelines_compiled": r.pipelines,
                "reps": r.reps,
                "input_sets": r.sets,
                "dispatches_per_run": r.dispatches,
                "submits_per_run": r.submits,
                "flops": r.flops,
                "bytes": r.bytes,
                "gflops": opt(r.gflops),
                "gbps": opt(r.gbps),
                "bound": r.bound,
                "fraction_of_ceiling": opt(r.fraction),
                "speedup_vs_baseline": opt(r.speedup),
                "check": {
                    "passed": r.check.passed,
                    "checked": r.check.checked,
                    "total": r.check.total,
                    "worst_error_over_tolerance": opt(Some(r.check.worst)),
                    "detail": r.check.detail,
                },
                "peer": r.peer.as_ref().map(|(who, ms)| json!({
                    "name": who,
                    "ms": ms,
                    "speedup": opt(r.median_ms.map(|m| ms / m)),
                })),
                "error": r.error,
                "note": r.note,
            })
        })
        .collect();
    let c = report.caps.as_ref();
    json!({
        "schema": "shadergrad-bench/1",
        "crate_version": report.crate_version,
        "git_commit": report.git_commit,
        "git_dirty": report.git_dirty,
        "started_unix": report.started,
        "seconds": report.seconds,
        "load_average": report.load.map(|(a, b)| json!({"start": a, "end": b})),
        "options": {
            "quick": report.quick,
            "filter": report.filter,
            "end_to_end": report.end_to_end,
        },
        "adapter": {
            "name": report.adapter_name,
            "backend": report.backend,
            "device_type": report.device_type,
            "driver": report.driver,
            "driver_info": report.driver_info,
            "description": report.adapter,
            "f16": c.map(|c| c.f16),
            "subgroups": c.map(|c| c.subgroups),
            "subgroup_size": c.and_then(|c| c.subgroup_size).map(|(a, b)| json!([a, b])),
            "timestamps": c.map(|c| c.timestamps),
            "timestamps_in_passes": c.map(|c| c.timestamps_in_passes),
        },
        "method": report.method,
        "roofline": report.roofline.as_ref().map(|r| json!({
            "copy_gbps": r.copy_gbps,
            "fma_gflops": r.fma_gflops,
            "copy_bytes": r.copy_bytes,
            "method": r.method,
            "detail": r.detail,
        })),
        "probes": report.probes.iter().map(|p| json!({
            "name": p.name,
            "wall_us": p.wall_us,
            "gpu_us": opt(p.gpu_us),
            "count": p.count,
            "note": p.note,
        })).collect::<Vec<_>>(),
        "skipped": report.skipped,
        "choices": report.choices.iter().map(|c| json!({
            "kernel": c.kernel,
            "chosen": c.chosen,
            "reason": c.reason,
            "measured": c.measured,
        })).collect::<Vec<_>>(),
        "rows": rows,
    })
}

/// A comparison of two runs.
pub struct Comparison {
    pub text: String,
    /// Cases more than 10% slower than before.
    pub regressions: usize,
}

fn key(kernel: &str, variant: &str, shape: &str, dtype: &str, method: &str) -> String {
    format!("{kernel}|{variant}|{shape}|{dtype}|{method}")
}

/// Ratio new / old of the median per case present in both (matched by kernel,
/// variant, shape, dtype and timer); over 1.10 is flagged a regression.
pub fn compare(old: &Value, new: &Report) -> Comparison {
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    // The old rows in their order, by key.
    let mut before: Vec<(String, Option<f64>)> = Vec::new();
    for r in old["rows"].as_array().into_iter().flatten() {
        before.push((
            key(
                &s(r, "kernel"),
                &s(r, "variant"),
                &s(r, "shape"),
                &s(r, "dtype"),
                &s(r, "method"),
            ),
            r["median_ms"].as_f64(),
        ));
    }
    let mut text = String::new();
    let old_adapter = s(&old["adapter"], "description");
    text.push_str(&format!(
        "\ncompared with {} (commit {}){}\n",
        if old_adapter.is_empty() {
            "an earlier run".into()
        } else {
            old_adapter.clone()
        },
        old["git_commit"]
            .as_str()
            .map(|c| &c[..c.len().min(12)])
            .unwrap_or("unknown"),
        if !old_adapter.is_empty() && old_adapter != new.adapter {
            "; WARNING: another adapter, ratios compare machines"
        } else {
            ""
        }
    ));
    let mut rows = Vec::new();
    let (mut regressions, mut faster, mut matched) = (0, 0, 0);
    for r in &new.rows {
        let k = key(&r.kernel, &r.variant, &r.shape, &r.dtype, &r.method);
        let Some(prev) = before
            .iter()
            .position(|(b, _)| *b == k)
            .map(|i| before.remove(i).1)
        else {
            rows.push(vec![
                r.kernel.clone(),
                r.variant.clone(),
                r.shape.clone(),
                r.dtype.clone(),
                "-".into(),
                ms(r.median_ms),
                "-".into(),
                "new".into(),
            ]);
            continue;
        };
        let (ratio, flag) = match (prev, r.median_ms) {
            (Some(a), Some(b)) if a > 0.0 => {
                matched += 1;
                let q = b / a;
                let flag = if q > 1.10 {
                    regressions += 1;
                    "REGRESSION"
                } else if q < 1.0 / 1.10 {
                    faster += 1;
                    "faster"
                } else {
                    ""
                };
                (format!("{q:.3}"), flag.to_string())
            }
            (_, None) => ("-".into(), "not timed now".into()),
            (None, Some(_)) => ("-".into(), "not timed before".into()),
            _ => ("-".into(), String::new()),
        };
        rows.push(vec![
            r.kernel.clone(),
            r.variant.clone(),
            r.shape.clone(),
            r.dtype.clone(),
            ms(prev),
            ms(r.median_ms),
            ratio,
            flag,
        ]);
    }
    // Cases the old run had and this one did not: listed when this run was
    // not filtered, counted when it was.
    let gone = before.len();
    for (k, _) in before.iter().filter(|_| new.filter.is_none()) {
        let parts: Vec<&str> = k.split('|').collect();
        rows.push(vec![
            parts[0].into(),
            parts[1].into(),
            parts[2].into(),
            parts[3].into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "gone".into(),
        ]);
    }
    text.push_str(&grid(
        &[
            "kernel", "variant", "shape", "dtype", "old ms", "new ms", "new/old", "flag",
        ],
        &rows,
        4,
    ));
    text.push_str(&format!(
        "{matched} cases compared: {regressions} over 10% slower (REGRESSION), {faster} over 10% faster\n"
    ));
    if gone > 0 && new.filter.is_some() {
        text.push_str(&format!(
            "{gone} cases of the old run are outside this run's filter\n"
        ));
    }
    Comparison { text, regressions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::CheckOutcome;

    fn row(kernel: &str, ms: f64) -> Row {
        Row {
            kernel: kernel.into(),
            variant: "v".into(),
            shape: "8".into(),
            dtype: "f32".into(),
            method: "gpu-ts".into(),
            median_ms: Some(ms),
            min_ms: Some(ms),
            check: CheckOutcome {
                passed: true,
                checked: 8,
                total: 8,
                ..CheckOutcome::default()
            },
            ..Row::default()
        }
    }

    #[test]
    fn json_round_trips_and_compare_flags_regressions() {
        let old = Report {
            rows: vec![row("a", 1.0), row("b", 1.0), row("c", 1.0)],
            ..Report::default()
        };
        let text = serde_json::to_string(&to_json(&old)).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["rows"].as_array().unwrap().len(), 3);
        assert_eq!(back["schema"], "shadergrad-bench/1");
        let new = Report {
            rows: vec![row("a", 1.05), row("b", 1.2), row("c", 0.5), row("d", 1.0)],
            ..Report::default()
        };
        let c = compare(&back, &new);
        assert_eq!(c.regressions, 1, "{}", c.text);
        assert!(
            c.text.contains("REGRESSION") && c.text.contains("faster") && c.text.contains("new")
        );
        let t = table(&new);
        assert!(t.contains("median ms") && t.lines().count() > 5);
    }
}
