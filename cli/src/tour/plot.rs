//! Training curves as PNG (plotters, bitmap backend). Text needs a font
//! (`crate::font`, shared with the benchmark report); without one the plot is drawn without labels and the caption goes into the
//! file name's companion text file.

use std::path::Path;

use plotters::prelude::*;

use crate::font::{SANS, sans as font};
use shadergrad::{Error, Result};

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Data {
        file: path.display().to_string(),
        at: "write".into(),
        msg: format!("could not draw the plot: {e}"),
    }
}

/// Draws each (name, values) series against its step number, loss on a log
/// scale, and writes `path` (PNG) plus `path` with ".txt" naming the series.
pub fn curves(path: &Path, title: &str, series: &[(&str, &[f32])]) -> Result<()> {
    let points: Vec<(&str, Vec<(f32, f32)>)> = series
        .iter()
        .map(|(n, v)| {
            (
                *n,
                v.iter().enumerate().map(|(s, &l)| (s as f32, l)).collect(),
            )
        })
        .collect();
    let refs: Vec<(&str, &[(f32, f32)])> = points.iter().map(|(n, p)| (*n, p.as_slice())).collect();
    lines(path, title, ("step", "training loss"), &refs)
}

/// Draws each (name, (x, y) points) series, y on a log scale, and writes
/// `path` (PNG) plus `path` with ".txt" naming the axes and the series.
pub fn lines(
    path: &Path,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    series: &[(&str, &[(f32, f32)])],
) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| plot_error(path, e))?;
    }
    let labels = font();
    let all = || series.iter().flat_map(|(_, v)| v.iter().copied());
    let x_hi = all().map(|(x, _)| x).fold(1.0f32, f32::max);
    let pos = all().map(|(_, y)| y).filter(|y| *y > 0.0 && y.is_finite());
    let (lo, hi) = pos.fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo < hi {
        (lo * 0.9, hi * 1.1)
    } else {
        (1e-3, 10.0)
    };
    let colors = [RED, BLUE, GREEN, MAGENTA, CYAN, BLACK];
    {
        let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        let mut b = ChartBuilder::on(&root);
        b.margin(15)
            .x_label_area_size(if labels { 35 } else { 5 })
            .y_label_area_size(if labels { 55 } else { 5 });
        if labels {
            b.caption(title, (SANS, 22));
        }
        let mut chart = b
            .build_cartesian_2d(0f32..x_hi, (lo..hi).log_scale())
            .map_err(|e| plot_error(path, e))?;
        let mut mesh = chart.configure_mesh();
        if labels {
            mesh.x_desc(x_desc).y_desc(y_desc);
        } else {
            mesh.disable_x_mesh().disable_y_mesh();
        }
        mesh.draw().map_err(|e| plot_error(path, e))?;
        for (i, (name, v)) in series.iter().enumerate() {
            let color = colors[i % colors.len()];
            let drawn = chart
                .draw_series(LineSeries::new(
                    v.iter().map(|&(x, y)| (x, y.clamp(lo, hi))),
                    &color,
                ))
                .map_err(|e| plot_error(path, e))?;
            if labels {
                drawn
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            }
        }
        if labels {
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw()
                .map_err(|e| plot_error(path, e))?;
        }
        root.present().map_err(|e| plot_error(path, e))?;
    }
    let names: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(i, (n, v))| {
            format!(
                "{} ({} points, colour {})",
                n,
                v.len(),
                ["red", "blue", "green", "magenta", "cyan", "black"][i % 6]
            )
        })
        .collect();
    std::fs::write(
        path.with_extension("txt"),
        format!(
            "{title}\nx: {x_desc}, y: {y_desc} (log)\n{}\n",
            names.join("\n")
        ),
    )
    .map_err(|e| plot_error(path, e))
}
