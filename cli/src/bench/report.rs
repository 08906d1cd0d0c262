//! The report folder: `report.md` (the document the terminal shows, in
//! markdown: `document.rs`) and
//! two charts drawn with plotters' bitmap backend: `gflops.png` (GFLOP/s per
//! case, log scale) and `ceiling.png` (each case's fraction of the ceiling
//! that bounds it). Text needs a font (`crate::font`); without one the bars are drawn unlabelled and `charts.txt` lists
//! them in order.

use std::path::Path;

use plotters::prelude::*;

use crate::bench::document::{Block, document, markdown};
use crate::bench::results::{Report, Row};
use crate::font::{SANS, sans as font};
use shadergrad::{Error, Result};

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
        b.caption(title, (SANS, 20));
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
                    .label_style((SANS, 12));
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
    } else if r.method == "e2e" {
        RGBColor(200, 120, 30)
    } else if r.chosen {
        RGBColor(30, 100, 200)
    } else {
        RGBColor(110, 170, 230)
    }
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
            &format!("GFLOP/s on {}", report.adapter.name),
            "GFLOP/s (log scale; grey: baseline, dark: the engine's choice, orange: end to end)",
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

    // The document the terminal shows, with the charts after its summary.
    let mut doc = document(report);
    let images = charts
        .iter()
        .map(|(name, _)| format!("![{name}]({name})"))
        .collect();
    doc.insert(1, Block::Notes(images));
    let md = markdown("shadergrad kernel benchmarks", &doc);
    std::fs::write(dir.join("report.md"), md).map_err(|e| err(dir, e))
}
