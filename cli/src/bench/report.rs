//! The report folder: `report.md` (every table of the run, in markdown) and
//! two charts drawn with plotters' bitmap backend: `gflops.png` (GFLOP/s per
//! case, log scale) and `ceiling.png` (each case's fraction of the ceiling
//! that bounds it). Text needs a font: DejaVu Sans from the system when it is
//! there; without one the bars are drawn unlabelled and `charts.txt` lists
//! them in order.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::bench::output::{PROBE_HEADER, cells, ms, probe_rows, speedup};
use crate::bench::{Report, Row};
use shadergrad::{Error, Result};

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

fn font() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        FONT_PATHS.iter().any(|p| {
            std::fs::read(p).is_ok_and(|bytes| {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
            })
        })
    })
}

fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Data {
        file: path.display().to_string(),
        at: "write".into(),
        msg: format!("could not write the benchmark report: {e}"),
    }
}

fn label(r: &Row) -> String {
    format!(
        "{} {}{} {} {}",
        r.kernel,
        r.variant,
        if r.chosen { "*" } else { "" },
        r.shape,
        r.dtype
    )
}

/// Horizontal bars, one per (label, value, colour), x on a log scale when `log`.
fn bars(
    path: &Path,
    title: &str,
    x_desc: &str,
    items: &[(String, f64, RGBColor)],
    log: bool,
) -> Result<()> {
    let labels = font();
    let n = items.len().max(1);
    let height = (80 + 18 * n) as u32;
    let root = BitMapBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(path, e))?;
    let (lo, hi) = items
        .iter()
        .map(|i| i.1)
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.01, 1.0) };
    let mut b = ChartBuilder::on(&root);
    b.margin(10)
        .x_label_area_size(if labels { 35 } else { 5 })
        .y_label_area_size(if labels { 430 } else { 5 });
    if labels {
        b.caption(title, ("sans-serif", 20));
    }
    let names: Vec<String> = items.iter().map(|i| i.0.clone()).collect();
    let y_fmt = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
            // Rows top to bottom in table order.
            names
                .get(n - 1 - i.min(&(n - 1)))
                .cloned()
                .unwrap_or_default()
        }
        SegmentValue::Last => String::new(),
    };
    macro_rules! draw {
        ($x:expr, $left:expr) => {{
            let mut chart = b
                .build_cartesian_2d($x, (0..n - 1).into_segmented())
                .map_err(|e| err(path, e))?;
            let mut mesh = chart.configure_mesh();
            mesh.disable_y_mesh();
            if labels {
                mesh.x_desc(x_desc)
                    .y_labels(n)
                    .y_label_formatter(&y_fmt)
                    .label_style(("sans-serif", 12));
            }
            mesh.draw().map_err(|e| err(path, e))?;
            chart
                .draw_series(items.iter().enumerate().map(|(i, (_, v, c))| {
                    let y = n - 1 - i;
                    let v = if v.is_finite() && *v > 0.0 { *v } else { $left };
                    Rectangle::new(
                        [
                            ($left, SegmentValue::Exact(y)),
                            (v, SegmentValue::Exact(y + 1)),
                        ],
                        c.filled(),
                    )
                }))
                .map_err(|e| err(path, e))?;
        }};
    }
    if log {
        let (a, z) = (lo / 2.0, hi * 2.0);
        draw!((a..z).log_scale(), a);
    } else {
        draw!(0.0..hi.max(1e-9) * 1.05, 0.0);
    }
    root.present().map_err(|e| err(path, e))?;
    Ok(())
}

fn colour(r: &Row) -> RGBColor {
    if r.baseline {
        RGBColor(150, 150, 150)
    } else if r.peer.is_some() {
        RGBColor(200, 120, 30)
    } else if r.chosen {
        RGBColor(30, 100, 200)
    } else {
        RGBColor(110, 170, 230)
    }
}

fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n", header.join(" | "));
    s.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        s.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    s
}

/// Writes report.md, gflops.png and ceiling.png into `dir`.
pub(crate) fn write(dir: &Path, report: &Report) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
    let timed: Vec<&Row> = report
        .rows
        .iter()
        .filter(|r| r.median_ms.is_some())
        .collect();
    let flops: Vec<(String, f64, RGBColor)> = timed
        .iter()
        .filter_map(|r| Some((label(r), r.gflops?, colour(r))))
        .collect();
    let frac: Vec<(String, f64, RGBColor)> = timed
        .iter()
        .filter_map(|r| {
            let bound = if r.bound.as_deref() == Some("memory") {
                "mem"
            } else {
                "fma"
            };
            Some((
                format!("{} [{bound}]", label(r)),
                r.fraction? * 100.0,
                colour(r),
            ))
        })
        .collect();
    let mut charts = Vec::new();
    if !flops.is_empty() {
        bars(
            &dir.join("gflops.png"),
            &format!("GFLOP/s on {}", report.adapter_name),
            "GFLOP/s (log scale; grey: baseline, dark: the engine's choice, orange: end to end vs burn)",
            &flops,
            true,
        )?;
        charts.push(("gflops.png", &flops));
    }
    if !frac.is_empty() {
        bars(
            &dir.join("ceiling.png"),
            "Fraction of the bounding ceiling (copy bandwidth or FMA peak)",
            "% of ceiling",
            &frac,
            false,
        )?;
        charts.push(("ceiling.png", &frac));
    }
    if !font() {
        let mut t = String::from("no font found: the charts' bars, top to bottom\n");
        for (name, items) in &charts {
            t.push_str(&format!("\n{name}\n"));
            for (l, v, _) in items.iter() {
                t.push_str(&format!("  {l}: {v:.3}\n"));
            }
        }
        std::fs::write(dir.join("charts.txt"), t).map_err(|e| err(dir, e))?;
    }

    let mut md = String::from("# shadergrad kernel benchmarks\n\n");
    md.push_str(&format!("- adapter: {}\n", report.adapter));
    md.push_str(&format!(
        "- shadergrad {}, commit {}{}\n",
        report.crate_version,
        report.git_commit.as_deref().unwrap_or("unknown"),
        if report.git_dirty == Some(true) {
            " (modified)"
        } else {
            ""
        }
    ));
    md.push_str(&format!(
        "- {}{} cases in {:.0} s; timer: {}\n",
        if report.quick { "--quick, " } else { "" },
        report.rows.len(),
        report.seconds,
        report.method
    ));
    if let Some((a, b)) = report.load {
        md.push_str(&format!(
            "- system load average (1 min): {a:.2} at the start, {b:.2} at the end\n"
        ));
    }
    if let Some(r) = &report.roofline {
        md.push_str(&format!(
            "- ceilings: copy {:.2} GB/s, FMA {:.2} GFLOP/s ({}; {})\n",
            r.copy_gbps, r.fma_gflops, r.method, r.detail
        ));
    }
    md.push('\n');
    for (name, _) in &charts {
        md.push_str(&format!("![{name}]({name})\n\n"));
    }
    md.push_str("## Every case\n\n");
    let rows: Vec<Vec<String>> = report.rows.iter().map(cells).collect();
    md.push_str(&md_table(&crate::bench::output::HEADER, &rows));
    if !report.skipped.is_empty() {
        md.push_str(&format!(
            "\nLeft out on this software adapter (a second or more per run): {}.\n",
            report.skipped.join(", ")
        ));
    }
    md.push_str("\n`*` the engine's choice on this adapter. `vs base`: the baseline's median over this row's. `ok~`: compared on a sample of the output.\n");
    if !report.probes.is_empty() {
        md.push_str("\n## Dispatch overhead\n\n");
        md.push_str(&md_table(&PROBE_HEADER, &probe_rows(report)));
    }
    if !report.choices.is_empty() {
        md.push_str("\n## Variant choice\n\n");
        for c in &report.choices {
            md.push_str(&format!("- **{}**: {} ({})", c.kernel, c.chosen, c.reason));
            if !c.measured.is_empty() {
                md.push_str(&format!(". {}", c.measured));
            }
            md.push('\n');
        }
    }
    let peers: Vec<&Row> = report.rows.iter().filter(|r| r.peer.is_some()).collect();
    if !peers.is_empty() {
        md.push_str("\n## Against burn 0.22 (both end to end)\n\n");
        let rows: Vec<Vec<String>> = peers
            .iter()
            .map(|r| {
                let (_, theirs) = r.peer.clone().expect("peer");
                vec![
                    format!("{} {}", r.kernel, r.shape),
                    ms(r.median_ms),
                    format!("{theirs}"),
                    speedup(r, theirs),
                ]
            })
            .collect();
        md.push_str(&md_table(
            &["workload", "ours ms", "burn ms", "speedup"],
            &rows,
        ));
    }
    std::fs::write(dir.join("report.md"), md).map_err(|e| err(dir, e))
}
