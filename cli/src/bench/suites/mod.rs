//! The workloads, one file per kernel family. Each suite builds its inputs
//! (rotating sets, see data.rs), then hands `Ctx::case` one `Case` per
//! variant and shape, with the flops and bytes of one run and the reference
//! its output is checked against.
//!
//! Counting, everywhere: an add, a multiply, a compare or a transcendental is
//! one flop, an FMA two; bytes are each input read once plus each output
//! written once (the traffic a perfect kernel would need), so GB/s is a lower
//! bound on what the kernel really moved.

mod attention;
mod conv;
mod elementwise;
mod index;
mod layernorm;
mod loss;
mod matmul;
mod models;
mod norm;
mod optim;
mod peer;
mod reduce;
mod sample;

use crate::bench::measure::Ctx;
use crate::bench::{Choice, Row};
use shadergrad::Device;
use shadergrad::{Error, Result};
use shadergrad::ConvVariant;
use shadergrad::MatmulVariant;
use shadergrad::Tensor;

/// Every suite, in table order; a suite the filter excludes builds nothing.
pub(crate) fn run_all(ctx: &mut Ctx) -> Result<()> {
    let suites: &[fn(&mut Ctx) -> Result<()>] = &[
        matmul::run,
        elementwise::run,
        reduce::run,
        reduce::run_softmax,
        index::run,
        loss::run,
        conv::run,
        conv::run_pool,
        norm::run,
        layernorm::run,
        sample::run,
        optim::run,
        models::run,
        attention::run,
        peer::run,
    ];
    for suite in suites {
        suite(ctx)?;
        ctx.trim();
    }
    Ok(())
}

/// The gradients of `leaves` when `y` is handed the gradient `dy` (zeroed
/// first, so each run measures one backward): a forward+backward case's outputs.
pub(crate) fn grads(y: Tensor, dy: &Tensor, leaves: &[Tensor], what: &str) -> Result<Vec<Tensor>> {
    for t in leaves {
        t.zero_grad();
    }
    y.backward_with(dy)?;
    leaves
        .iter()
        .map(|t| {
            t.grad()
                .ok_or_else(|| Error::Gpu(format!("{what} backward left no gradient")))
        })
        .collect()
}

/// The label shared by the variants of a workload: "512x512x512".
pub(crate) fn dims(d: &[usize]) -> String {
    d.iter().map(usize::to_string).collect::<Vec<_>>().join("x")
}

/// Why the engine picks what it picks on this adapter, beside the measurement.
pub(crate) fn choices(dev: &Device, rows: &[Row]) -> Vec<Choice> {
    let mut out = Vec::new();
    // Over every shape where several variants of a kernel family (forward and
    // backward) were timed: how often the engine's choice was the fastest,
    // and where it was not.
    // `among`: only variants whose name starts with it (the choice is between
    // those; the others are baselines).
    let measured_among = |family: &str, chosen: &str, among: &str| -> String {
        let timed: Vec<&Row> = rows
            .iter()
            .filter(|r| {
                (r.kernel == family || r.kernel.starts_with(&format!("{family}.")))
                    && r.variant.starts_with(among)
                    && r.median_ms.is_some()
                    && r.peer.is_none()
            })
            .collect();
        let mut groups: Vec<&str> = timed.iter().map(|r| r.group.as_str()).collect();
        groups.dedup();
        let (mut wins, mut total, mut misses) = (0, 0, Vec::new());
        for g in groups {
            let same: Vec<&&Row> = timed.iter().filter(|r| r.group == g).collect();
            if same.len() < 2 {
                continue;
            }
            let ms = |r: &Row| r.median_ms.unwrap_or(f64::INFINITY);
            let Some(best) = same.iter().min_by(|a, b| ms(a).total_cmp(&ms(b))) else {
                continue;
            };
            let Some(mine) = same.iter().find(|r| r.variant == chosen) else {
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
    };
    let measured = |family: &str, chosen: &str| measured_among(family, chosen, "");
    let (m, why) = MatmulVariant::choose(dev);
    out.push(Choice {
        kernel: "matmul".into(),
        chosen: m.name().into(),
        reason: why.into(),
        measured: measured("matmul", m.name()),
    });
    let c = ConvVariant::choose(dev);
    let lanes = dev.lanes();
    out.push(Choice {
        kernel: "conv2d".into(),
        chosen: c.name().into(),
        reason: match (c, dev.is_cpu(), lanes) {
            (ConvVariant::Lanes, _, Some(w)) => format!(
                "software adapter with fixed {w}-lane subgroups: one subgroup per workgroup, no barrier"
            ),
            (ConvVariant::Tiled, true, None) => {
                "software adapter without fixed-size subgroups: the workgroup-memory GEMM is the one left".into()
            }
            (ConvVariant::Tiled, false, _) => "GPU: implicit GEMM through workgroup memory".into(),
            _ => "set on the device".into(),
        },
        measured: measured("conv2d", c.name()),
    });
    out.push(Choice {
        kernel: "attention".into(),
        chosen: if lanes.is_some() { "fused (lanes)" } else { "fused (rows)" }.into(),
        reason: match lanes {
            Some(w) => format!(
                "fixed {w}-lane subgroups: one subgroup per workgroup owns 8 queries (or 4 keys) and shares K/V loads by shuffles"
            ),
            None => "no fixed-width subgroups: one invocation per query (or key) row, K/V read in blocks of one".into(),
        },
        measured: measured_among("attention", "fused", "fused"),
    });
    let caps = dev.caps();
    out.push(Choice {
        kernel: "subgroups".into(),
        chosen: if lanes.is_some() { "used" } else { "not used" }.into(),
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
    });
    let f16 = |kernel: &str| -> Option<String> {
        let pick = |dtype: &str| {
            rows.iter()
                .filter(|r| r.kernel == kernel && r.dtype == dtype && r.chosen && r.peer.is_none())
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
    };
    out.push(Choice {
        kernel: "f16".into(),
        chosen: "the caller's dtype".into(),
        reason: if caps.f16 {
            "SHADER_F16 on: kernels read and write f16 storage (accumulating in f32) when the tensors are f16; the engine never casts on its own".into()
        } else {
            "no SHADER_F16 (or SHADERGRAD_PLAIN set): f16 tensors are refused".into()
        },
        measured: ["matmul", "softmax", "elementwise.add_mul"]
            .iter()
            .filter_map(|k| f16(k))
            .collect::<Vec<_>>()
            .join("; "),
    });
    out
}
