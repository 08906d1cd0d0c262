//! Which variant the engine picks on this adapter and why, beside what the
//! run measured: for each kernel family with several versions, how often
//! the engine's choice was the fastest of the shapes timed.

use shadergrad::{ConvVariant, Device, MatmulVariant};

use crate::bench::results::{Choice, Row};

/// Over every group (shape) where several variants of `family` (forward and
/// backward) were timed: how often `chosen` was the fastest, and where it
/// was not. Only variants whose name starts with `among` compete (the others
/// are baselines); end-to-end rows are left out.
fn measured(rows: &[Row], family: &str, chosen: &str, among: &str) -> String {
    let timed: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            (r.kernel == family || r.kernel.starts_with(&format!("{family}.")))
                && r.variant.starts_with(among)
                && r.median_ms.is_some()
                && r.method != "e2e"
        })
        .collect();
    let mut groups: Vec<&str> = timed.iter().map(|r| r.group.as_str()).collect();
    groups.dedup();
    let ms = |r: &Row| r.median_ms.unwrap_or(f64::INFINITY);
    let (mut wins, mut total, mut misses) = (0, 0, Vec::new());
    for g in groups {
        let same: Vec<&&Row> = timed.iter().filter(|r| r.group == g).collect();
        let best = same.iter().min_by(|a, b| ms(a).total_cmp(&ms(b)));
        let mine = same.iter().find(|r| r.variant == chosen);
        let (Some(best), Some(mine), true) = (best, mine, same.len() >= 2) else {
            continue;
        };
        total += 1;
        if best.variant == chosen {
            wins += 1;
        } else {
            misses.push(format!(
                "{} {} {}: {} {:.3} ms, {chosen} {:.3} ms",
                best.kernel,
                best.shape,
                best.dtype,
                best.variant,
                ms(best),
                ms(mine)
            ));
        }
    }
    match total {
        0 => "not measured in this run".into(),
        _ if misses.is_empty() => format!("fastest in all {total} shapes measured"),
        _ => format!(
            "fastest in {wins} of {total} shapes measured; not at {}",
            misses.join("; ")
        ),
    }
}

fn conv(dev: &Device, rows: &[Row]) -> Choice {
    let c = ConvVariant::choose(dev);
    let reason = match (c, dev.is_cpu(), dev.lanes()) {
        (ConvVariant::Lanes, _, Some(w)) => format!(
            "software adapter with fixed {w}-lane subgroups: one subgroup per workgroup, no barrier"
        ),
        (ConvVariant::Tiled, true, None) => "software adapter without fixed-size subgroups: \
             the workgroup-memory GEMM is the one left"
            .into(),
        (ConvVariant::Tiled, false, _) => "GPU: implicit GEMM through workgroup memory".into(),
        _ => "set on the device".into(),
    };
    Choice {
        kernel: "conv2d".into(),
        chosen: c.name().into(),
        reason,
        measured: measured(rows, "conv2d", c.name(), ""),
    }
}

fn attention(dev: &Device, rows: &[Row]) -> Choice {
    let lanes = dev.lanes();
    Choice {
        kernel: "attention".into(),
        chosen: if lanes.is_some() {
            "fused (lanes)"
        } else {
            "fused (rows)"
        }
        .into(),
        reason: match lanes {
            Some(w) => format!(
                "fixed {w}-lane subgroups: one subgroup per workgroup owns 8 queries (or 4 keys) \
                 and shares K/V loads by shuffles"
            ),
            None => "no fixed-width subgroups: one invocation per query (or key) row, K/V read \
                     in blocks of one"
                .into(),
        },
        measured: measured(rows, "attention", "fused", "fused"),
    }
}

fn subgroups(dev: &Device) -> Choice {
    let caps = dev.caps();
    Choice {
        kernel: "subgroups".into(),
        chosen: if dev.lanes().is_some() {
            "used"
        } else {
            "not used"
        }
        .into(),
        reason: match (caps.subgroups, caps.subgroup_size) {
            (true, Some((lo, hi))) if lo == hi => format!(
                "SUBGROUP on, {lo} lanes fixed: the lanes matmul and conv share loads by shuffles"
            ),
            (true, Some((lo, hi))) => {
                format!("SUBGROUP on but {lo}..{hi} lanes: the lanes kernels need a fixed width")
            }
            (true, None) => {
                "SUBGROUP on, width unknown: the lanes kernels need a fixed width".into()
            }
            (false, _) => "no SUBGROUP (or SHADERGRAD_PLAIN set)".into(),
        },
        measured: String::new(),
    }
}

/// The chosen f16 row of `kernel` against its f32 row of the same shape.
fn f16_against_f32(rows: &[Row], kernel: &str) -> Option<String> {
    let pick = |dtype: &str| {
        rows.iter()
            .filter(|r| r.kernel == kernel && r.dtype == dtype && r.chosen && r.method != "e2e")
            .filter_map(|r| Some((r.shape.clone(), r.median_ms?)))
            .collect::<Vec<_>>()
    };
    let (h, s) = (pick("f16"), pick("f32"));
    h.iter().find_map(|(shape, hm)| {
        let (_, sm) = s.iter().find(|(s2, _)| s2 == shape)?;
        Some(format!(
            "{kernel} {shape}: f16 {hm:.3} ms, f32 {sm:.3} ms ({:.2}x)",
            sm / hm
        ))
    })
}

fn f16(dev: &Device, rows: &[Row]) -> Choice {
    Choice {
        kernel: "f16".into(),
        chosen: "the caller's dtype".into(),
        reason: if dev.caps().f16 {
            "SHADER_F16 on: kernels read and write f16 storage (accumulating in f32) when the \
             tensors are f16; the engine never casts on its own"
                .into()
        } else {
            "no SHADER_F16 (or SHADERGRAD_PLAIN set): f16 tensors are refused".into()
        },
        measured: ["matmul", "softmax", "elementwise.add_mul"]
            .iter()
            .filter_map(|k| f16_against_f32(rows, k))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// Why the engine picks what it picks on this adapter, beside the measurement.
pub(crate) fn choices(dev: &Device, rows: &[Row]) -> Vec<Choice> {
    let (m, why) = MatmulVariant::choose(dev);
    let matmul = Choice {
        kernel: "matmul".into(),
        chosen: m.name().into(),
        reason: why.into(),
        measured: measured(rows, "matmul", m.name(), ""),
    };
    vec![
        matmul,
        conv(dev, rows),
        attention(dev, rows),
        subgroups(dev),
        f16(dev, rows),
    ]
}
