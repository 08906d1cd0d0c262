//! Cumulative sums (shaders/cumsum.wgsl): `cumsum` forward, a row per
//! invocation (many rows) and a workgroup per row (few long rows), beside the
//! composition a user without the kernel would write (a lower-triangular
//! ones matrix times x: N x N memory and N^2 work, the baseline); and
//! `cumsum.grad`, the reversed scan, timed inside a real backward.
//! Flops: one add per element. Bytes: x read, y written.

use shadergrad::{DType, Result, Tensor};
use shadergrad_reference::cumsum::{cumsum_backward_rows, cumsum_rows};

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::suites::{dims, grads};

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["cumsum", "cumsum.grad"]) {
        return Ok(());
    }
    let shapes: &[[usize; 2]] = if ctx.quick() {
        &[[64, 256]]
    } else {
        &[[4096, 256], [8, 32768]]
    };
    for &[r, c] in shapes {
        forward(ctx, r, c)?;
        backward(ctx, r, c)?;
    }
    Ok(())
}

fn forward(ctx: &mut Ctx, r: usize, c: usize) -> Result<()> {
    let sets = Sets::rotating(ctx.dev, 91 + c as u64, &[Spec::new(&[r, c], -1.0, 1.0)])?;
    let reference = cumsum_rows(&sets.host[0], c);
    let tri = lower_ones(ctx, c)?;
    let (sets, reference, tri) = (&sets, &reference, &tri);
    // The composed baseline is N^2: only where it fits.
    for composed in [false, true] {
        if composed && c > 4096 {
            ctx.skip(format!("cumsum composed at {}", dims(&[r, c])));
            continue;
        }
        let flops = if composed {
            2.0 * (r * c * c) as f64
        } else {
            (r * c) as f64
        };
        ctx.case(
            Case::new(
                "cumsum",
                if composed { "composed" } else { "kernel" },
                dims(&[r, c]),
                DType::F32,
            )
            .work(flops, (2 * r * c * 4) as f64)
            .sets(sets.len())
            .baseline(composed)
            .chosen(!composed)
            .note(if composed {
                "x times a lower-triangular ones matrix (N x N)"
            } else {
                "the scan kernel"
            })
            .run(move |i| {
                let x = &sets.get(i)[0];
                Ok(vec![if composed {
                    x.matmul(tri)?
                } else {
                    x.cumsum(1)?
                }])
            })
            .check(move |o| gate(o, 1, |o| check::all(&o[0], reference, Tol::F32))),
        );
    }
    Ok(())
}

/// (c, c) with ones where row <= column: x (r, c) times it is x's prefix sums.
fn lower_ones(ctx: &Ctx, c: usize) -> Result<Tensor> {
    let n = c.min(4096);
    let i = Tensor::arange(ctx.dev, 0.0, n as f64, 1.0, DType::F32)?;
    let m = i
        .reshape(&[n, 1])?
        .le(&i.reshape(&[1, n])?)?
        .cast(DType::F32)?;
    m.realize()?;
    Ok(m)
}

fn backward(ctx: &mut Ctx, r: usize, c: usize) -> Result<()> {
    let sets = Sets::rotating(
        ctx.dev,
        93 + c as u64,
        &[Spec::new(&[r, c], -1.0, 1.0), Spec::new(&[r, c], -1.0, 1.0)],
    )?;
    for set in &sets.t {
        set[0].set_requires_grad(true)?;
    }
    let reference = cumsum_backward_rows(&sets.host[1], c);
    let (sets, reference) = (&sets, &reference);
    ctx.case(
        Case::new("cumsum.grad", "kernel", dims(&[r, c]), DType::F32)
            .work((r * c) as f64, (2 * r * c * 4) as f64)
            .sets(sets.len())
            .chosen(true)
            .profile(&["cumsum.grad"])
            .note("the reversed scan, through backward")
            .run(move |i| {
                let s = sets.get(i);
                grads(s[0].cumsum(1)?, &s[1], &s[..1], "cumsum")
            })
            .check(move |o| gate(o, 1, |o| check::all(&o[0], reference, Tol::F32))),
    );
    Ok(())
}
