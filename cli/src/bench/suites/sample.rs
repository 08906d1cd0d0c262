//! Bilinear grid sampling (shaders/grid_sample.wgsl), the spatial
//! transformer's sampler: forward, the input gradient (a scatter-add with a
//! compare-and-swap loop) and the grid gradient. The grid is a random affine
//! map near the identity (rotation, scale, shift), some samples outside.
//!
//! Flops per output element: 8 for the four weighted corners forward and for
//! the input gradient, 16 for the grid gradient (two slopes per corner).
//! Bytes: inputs read once, the result written once.
//!
//! The input gradient also runs in deterministic mode (`deterministic`: the
//! samples grouped by pixel, each pixel's added in a fixed order).
//!
//! The gradients are timed as a user gets them: grid_sample and
//! `backward_with(dy)` recorded and run as one step, only the input (or only
//! the grid) requiring a gradient, the timer summing only that gradient
//! kernel's dispatches.

use shadergrad::{DType, Device, Result, Tensor};
use shadergrad_reference::grid_sample::GridSample;

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Rng, Sets, Spec, upload};
use crate::bench::measure::{Ctx, gate};
use crate::bench::suites::{dims, grads, variant};

/// Affine grids (B, HO, WO, 2) near the identity.
fn grids(rng: &mut Rng, b: usize, ho: usize, wo: usize) -> Vec<f32> {
    let mut g = Vec::with_capacity(b * ho * wo * 2);
    for _ in 0..b {
        let a = (rng.unit() - 0.5) * 1.0;
        let s = 0.8 + 0.4 * rng.unit();
        let (tx, ty) = ((rng.unit() - 0.5) * 0.4, (rng.unit() - 0.5) * 0.4);
        for i in 0..ho {
            for j in 0..wo {
                let xs = (2.0 * j as f64 + 1.0) / wo as f64 - 1.0;
                let ys = (2.0 * i as f64 + 1.0) / ho as f64 - 1.0;
                g.push((s * (a.cos() * xs - a.sin() * ys) + tx) as f32);
                g.push((s * (a.sin() * xs + a.cos() * ys) + ty) as f32);
            }
        }
    }
    g
}

/// `n` grids uploaded (one per input set), and the first on the CPU.
fn grid_sets(dev: &Device, n: usize, [b, ho, wo]: [usize; 3]) -> Result<(Vec<Tensor>, Vec<f64>)> {
    let mut rng = Rng::new(82);
    let (mut uploaded, mut first) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut g = grids(&mut rng, b, ho, wo);
        uploaded.push(upload(dev, &mut g, &[b, ho, wo, 2], DType::F32)?);
        if i == 0 {
            first = shadergrad_reference::widen(&g);
        }
    }
    Ok((uploaded, first))
}

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    let names = [
        "grid_sample",
        "grid_sample.grad_input",
        "grid_sample.grad_grid",
    ];
    if !ctx.wants(&names) {
        return Ok(());
    }
    let (b, c, h, w) = if ctx.quick() {
        (2, 4, 16, 16)
    } else {
        (8, 16, 64, 64)
    };
    let (ho, wo) = (h, w);
    let specs = [
        Spec::new(&[b, c, h, w], -1.0, 1.0),
        Spec::new(&[b, c, ho, wo], -1.0, 1.0),
    ];
    let sets = Sets::rotating(ctx.dev, 81, &specs)?;
    let (grid_t, grid) = grid_sets(ctx.dev, sets.len(), [b, ho, wo])?;
    let geometry = GridSample {
        batch: b,
        channels: c,
        h,
        w,
        ho,
        wo,
        align_corners: false,
    };
    let (x, dy, grid) = (&sets.host[0], &sets.host[1], &grid);
    let forward = geometry.forward(x, grid);
    let g = geometry.backward(x, grid, dy);
    let (nx, ny, ng) = (b * c * h * w, b * c * ho * wo, b * ho * wo * 2);
    let shape = format!("{} at {}", dims(&[b, c, h, w]), dims(&[ho, wo]));
    let (sets, grid_t, forward) = (&sets, &grid_t, &forward);
    ctx.case(
        Case::new("grid_sample", "kernel", shape.clone(), DType::F32)
            .work(8.0 * ny as f64, ((nx + ng + ny) * 4) as f64)
            .sets(sets.len())
            .chosen(true)
            .run(move |i| {
                let x = &sets.get(i)[0];
                let _g = shadergrad::no_grad();
                Ok(vec![x.grid_sample(&grid_t[i % grid_t.len()], false)?])
            })
            .check(move |o| gate(o, 1, |o| check::all(&o[0], forward, Tol::F32))),
    );
    // (kernel, flops per output, bytes, the input that gets the gradient, its
    // reference, deterministic mode)
    let passes = [
        ("grid_sample.grad_input", 8.0, ng + ny + nx, 0, &g.dx, false),
        ("grid_sample.grad_input", 8.0, ng + ny + nx, 0, &g.dx, true),
        (
            "grid_sample.grad_grid",
            16.0,
            nx + ng + ny + ng,
            1,
            &g.dgrid,
            false,
        ),
    ];
    for (kernel, flops, bytes, leaf, reference, det) in passes {
        let ops: &'static [&'static str] = if leaf == 0 {
            &["grid_sample.grad_input"]
        } else {
            &["grid_sample.grad_grid"]
        };
        ctx.case(
            Case::new(kernel, variant(det), shape.clone(), DType::F32)
                .work(flops * ny as f64, (bytes * 4) as f64)
                .sets(sets.len())
                .chosen(!det)
                .profile(ops)
                .note(match (leaf, det) {
                    (0, false) => "scatter-add by compare-and-swap",
                    (0, true) => "samples bucketed by pixel, each pixel summed in order",
                    _ => "",
                })
                .setup(move |d| d.set_deterministic(det))
                .run(move |i| {
                    let (x, grid) = (&sets.get(i)[0], &grid_t[i % grid_t.len()]);
                    x.set_requires_grad(leaf == 0)?;
                    grid.set_requires_grad(leaf == 1)?;
                    let y = x.grid_sample(grid, false)?;
                    let leaves = [x.clone(), grid.clone()];
                    grads(y, &sets.get(i)[1], &leaves[leaf..=leaf], kernel)
                })
                .check(move |o| gate(o, 1, |o| check::all(&o[0], reference, Tol::F32))),
        );
    }
    Ok(())
}
