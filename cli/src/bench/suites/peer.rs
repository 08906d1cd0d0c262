//! The burn comparison: burn 0.22's wgpu backend on this same lavapipe, timed
//! end to end (the median of runs whose input changes every run, the whole
//! output read back inside the timed region). These cases are timed the same
//! way (`e2e`), in the engine's own choice of kernel, whatever `--end-to-end`
//! says, so the ratio holds. `--quick` keeps the small MLP step only.

use crate::bench::measure::Ctx;
use crate::bench::suites::{attention, conv, matmul, models, reduce};
use shadergrad::DType;
use shadergrad::Result;

/// burn 0.22 on lavapipe, milliseconds, as measured for the issue.
pub(crate) const BURN: &[(&str, f64)] = &[
    ("matmul 512^3", 24.0),
    ("matmul 1024^3", 259.0),
    ("conv2d b32 32->64 32x32 3x3", 413.0),
    ("softmax 4096x1024", 105.0),
    ("attention b2 h4 d64 n256", 47.0),
    ("attention b2 h4 d64 n1024", 450.0),
    ("mlp step batch 256 64-256-10", 10.5),
];

fn burn(name: &str) -> Option<f64> {
    BURN.iter().find(|(n, _)| *n == name).map(|(_, ms)| *ms)
}

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    models::mlp_grad(ctx, burn("mlp step batch 256 64-256-10"))?;
    if ctx.quick() {
        return Ok(());
    }
    for n in [512, 1024] {
        matmul::product(
            ctx,
            [n, n, n],
            DType::F32,
            matmul::Layout::NN,
            burn(&format!("matmul {n}^3")),
        )?;
    }
    if ctx.wants(&["conv2d"]) {
        conv::conv(
            ctx,
            conv::Geometry {
                b: 32,
                cin: 32,
                cout: 64,
                hw: 32,
            },
            burn("conv2d b32 32->64 32x32 3x3"),
        )?;
    }
    reduce::softmax(
        ctx,
        [4096, 1024],
        false,
        DType::F32,
        burn("softmax 4096x1024"),
    )?;
    for n in [256, 1024] {
        for fused in [false, true] {
            attention::forward(ctx, n, fused, burn(&format!("attention b2 h4 d64 n{n}")))?;
        }
    }
    Ok(())
}
