//! Bilinear grid sampling (shaders/grid_sample.wgsl), the spatial
//! transformer's sampler: forward, the input gradient (a scatter-add with a
//! compare-and-swap loop) and the grid gradient. The grid is a random affine
//! map near the identity (rotation, scale, shift), some samples outside.
//!
//! Flops per output element: 8 for the four weighted corners forward and for
//! the input gradient, 16 for the grid gradient (two slopes per corner).
//! Bytes: inputs read once, the result written once.

use crate::bench::check::{self, Tol};
use crate::bench::data::{Rng, Sets, Spec, upload};
use crate::bench::measure::{Case, Ctx, gate};
use crate::bench::suites::dims;
use shadergrad::DType;
use shadergrad::Result;
use crate::graph::Op;
use shadergrad::Tensor;

/// Pixel coordinate of a normalised one (align_corners = false).
fn unnorm(g: f64, n: usize) -> f64 {
    ((g + 1.0) * n as f64 - 1.0) / 2.0
}

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
    let dev = ctx.dev;
    let sets = Sets::rotating(
        dev,
        81,
        &[
            Spec::new(&[b, c, h, w], -1.0, 1.0),
            Spec::new(&[b, c, ho, wo], -1.0, 1.0),
        ],
    )?;
    let mut rng = Rng::new(82);
    let mut grid_host = Vec::new();
    let mut grid_t = Vec::new();
    for i in 0..sets.len() {
        let mut g = grids(&mut rng, b, ho, wo);
        grid_t.push(upload(dev, &mut g, &[b, ho, wo, 2], DType::F32)?);
        if i == 0 {
            grid_host = g;
        }
    }
    let (x, dy, grid) = (&sets.host[0], &sets.host[1], &grid_host);
    let points = b * ho * wo;
    // Per output point: the four corners (flat plane offset or None) with
    // their weights and the weights' slopes along ix and iy, and whether the
    // point sits within 1e-4 pixel of a pixel line (where the slopes jump, so
    // the f32 and f64 floors may pick different cells).
    type Corner = (Option<usize>, f64, f64, f64);
    let corners = |p: usize| -> ([Corner; 4], bool) {
        let (gx, gy) = (grid[2 * p] as f64, grid[2 * p + 1] as f64);
        let (ix, iy) = (unnorm(gx, w), unnorm(gy, h));
        let (x0, y0) = (ix.floor(), iy.floor());
        let (fx, fy) = (ix - x0, iy - y0);
        let at = |xx: f64, yy: f64| {
            (xx >= 0.0 && yy >= 0.0 && (xx as usize) < w && (yy as usize) < h)
                .then(|| yy as usize * w + xx as usize)
        };
        let edge = |f: f64| f.min(1.0 - f) < 1e-4;
        (
            [
                (
                    at(x0, y0),
                    (1.0 - fx) * (1.0 - fy),
                    -(1.0 - fy),
                    -(1.0 - fx),
                ),
                (at(x0 + 1.0, y0), fx * (1.0 - fy), 1.0 - fy, -fx),
                (at(x0, y0 + 1.0), (1.0 - fx) * fy, -fy, 1.0 - fx),
                (at(x0 + 1.0, y0 + 1.0), fx * fy, fy, fx),
            ],
            edge(fx) || edge(fy),
        )
    };
    // Scales: the GPU computes a coordinate to about 1e-5 pixel, so every
    // corner's weight (and slope) may be off by that much: each term counts
    // unweighted in the scale.
    let plane = h * w;
    let forward = |e: usize| {
        let (q, ci, bi) = (e % (ho * wo), (e / (ho * wo)) % c, e / (ho * wo * c));
        let (mut s, mut a) = (0.0, 0.0);
        for (at, wt, _, _) in corners(bi * ho * wo + q).0 {
            if let Some(at) = at {
                let v = x[(bi * c + ci) * plane + at] as f64;
                s += wt * v;
                a += v.abs();
            }
        }
        (s, a)
    };
    let mut grad_input = vec![(0.0f64, 0.0f64); b * c * plane];
    let mut grad_grid = vec![(0.0f64, 0.0f64); points * 2];
    let (sx, sy) = (w as f64 / 2.0, h as f64 / 2.0);
    for bi in 0..b {
        for q in 0..ho * wo {
            let p = bi * ho * wo + q;
            let (cs, edge) = corners(p);
            for ci in 0..c {
                let g = dy[(bi * c + ci) * ho * wo + q] as f64;
                for &(at, wt, dx, dyw) in &cs {
                    let Some(at) = at else { continue };
                    let xi = (bi * c + ci) * plane + at;
                    let r = &mut grad_input[xi];
                    r.0 += g * wt;
                    r.1 += g.abs();
                    let v = x[xi] as f64 * g;
                    grad_grid[2 * p].0 += v * dx * sx;
                    grad_grid[2 * p].1 += (v * sx).abs();
                    grad_grid[2 * p + 1].0 += v * dyw * sy;
                    grad_grid[2 * p + 1].1 += (v * sy).abs();
                }
            }
            if edge {
                grad_grid[2 * p].1 = f64::INFINITY;
                grad_grid[2 * p + 1].1 = f64::INFINITY;
            }
        }
    }
    let ny = b * c * ho * wo;
    let (nx, ng) = (b * c * plane, points * 2);
    let shape = format!("{} at {}", dims(&[b, c, h, w]), dims(&[ho, wo]));
    let (sets, grid_t) = (&sets, &grid_t);
    let forward = &forward;
    ctx.case(
        Case::new("grid_sample", "kernel", shape.clone(), DType::F32)
            .work(8.0 * ny as f64, ((nx + ng + ny) * 4) as f64)
            .sets(sets.len())
            .chosen(true)
            .run(move |i| {
                let x = &sets.get(i)[0];
                Ok(vec![x.grid_sample(&grid_t[i % grid_t.len()], false)?])
            })
            .check(move |o| gate(o, 1, |o| check::elements(&o[0], ny, ny, Tol::F32, forward))),
    );
    let grad_input = &grad_input;
    ctx.case(
        Case::new(
            "grid_sample.grad_input",
            "kernel",
            shape.clone(),
            DType::F32,
        )
        .work(8.0 * ny as f64, ((ng + ny + nx) * 4) as f64)
        .sets(sets.len())
        .chosen(true)
        .note("scatter-add by compare-and-swap")
        .run(move |i| {
            let s = sets.get(i);
            Ok(vec![Tensor::record(
                s[0].device(),
                vec![b, c, h, w],
                DType::F32,
                Op::GridSampleGradInput {
                    align_corners: false,
                },
                vec![grid_t[i % grid_t.len()].clone(), s[1].clone()],
            )])
        })
        .check(move |o| gate(o, 1, |o| check::all(&o[0], grad_input, Tol::F32))),
    );
    let grad_grid = &grad_grid;
    ctx.case(
        Case::new("grid_sample.grad_grid", "kernel", shape, DType::F32)
            .work(16.0 * ny as f64, ((nx + ng + ny + ng) * 4) as f64)
            .sets(sets.len())
            .chosen(true)
            .run(move |i| {
                let s = sets.get(i);
                Ok(vec![Tensor::record(
                    s[0].device(),
                    vec![b, ho, wo, 2],
                    DType::F32,
                    Op::GridSampleGradGrid {
                        align_corners: false,
                    },
                    vec![s[0].clone(), grid_t[i % grid_t.len()].clone(), s[1].clone()],
                )])
            })
            .check(move |o| gate(o, 1, |o| check::all(&o[0], grad_grid, Tol::F32))),
    );
    Ok(())
}
