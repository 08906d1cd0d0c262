//! Indexing (shaders/gather.wgsl).
//!
//! - `index_select`: an embedding lookup, rows of a (V, D) table picked by N
//!   indices (the index is a broadcast view, never copied).
//! - `gather`: torch.gather along the contiguous axis.
//! - `scatter_add`: their gradient, values added back into zeros at the
//!   indices (a compare-and-swap loop on the f32 bits): few collisions (V = N)
//!   and many (V = 256: each row receives about N / 256 values). Timed as
//!   index_select's backward: the lookup and `backward_with(dy)` recorded and
//!   run as one step, the timer summing only the `scatter_add` dispatches
//!   (the zero fill and the scatter).
//!
//!   Each also in deterministic mode (`deterministic`: the values bucketed by
//!   target row, each target summed in index order): what that mode costs
//!   an embedding's backward.
//!
//! No flops for the lookups; scatter-add counts one add per value. Bytes: the
//! values read and written once, plus the indices (4 bytes each).

use shadergrad::{DType, Result};
use shadergrad_reference::gather::{gather as gather_ref, index_select_rows, scatter_add_rows};

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::suites::{dims, grads, variant};

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["index_select", "gather", "scatter_add"]) {
        return Ok(());
    }
    let (v, d, n) = if ctx.quick() {
        (1024, 64, 2048)
    } else {
        (16384, 256, 16384)
    };
    index_select(ctx, v, d, n)?;
    let (r, c, k) = if ctx.quick() {
        (256, 256, 64)
    } else {
        (4096, 1024, 256)
    };
    gather(ctx, r, c, k)?;
    for det in [false, true] {
        scatter_add(ctx, v, d, n, det)?;
        scatter_add(ctx, 256, d, n, det)?;
    }
    Ok(())
}

fn index_select(ctx: &mut Ctx, v: usize, d: usize, n: usize) -> Result<()> {
    if !ctx.wants(&["index_select"]) {
        return Ok(());
    }
    let sets = Sets::rotating(
        ctx.dev,
        31,
        &[Spec::new(&[v, d], -1.0, 1.0), Spec::index(&[n], v)],
    )?;
    let reference: Vec<(f64, f64)> = index_select_rows(&sets.host[0], d, &sets.indices(1))
        .into_iter()
        .map(|v| (v, 0.0))
        .collect();
    let (sets, reference) = (&sets, &reference);
    ctx.case(
        Case::new(
            "index_select",
            "kernel",
            format!("{} rows of {}", n, dims(&[v, d])),
            DType::F32,
        )
        .work(0.0, (2 * n * d * 4 + n * 4) as f64)
        .sets(sets.len())
        .chosen(true)
        .run(move |i| {
            let s = sets.get(i);
            Ok(vec![s[0].index_select(0, &s[1])?])
        })
        .check(move |o| gate(o, 1, |o| check::all(&o[0], reference, Tol::F32))),
    );
    Ok(())
}

fn gather(ctx: &mut Ctx, r: usize, c: usize, k: usize) -> Result<()> {
    if !ctx.wants(&["gather"]) {
        return Ok(());
    }
    let sets = Sets::rotating(
        ctx.dev,
        32,
        &[Spec::new(&[r, c], -1.0, 1.0), Spec::index(&[r, k], c)],
    )?;
    let reference: Vec<(f64, f64)> =
        gather_ref(&sets.host[0], &[r, c], 1, &sets.indices(1), &[r, k])
            .into_iter()
            .map(|v| (v, 0.0))
            .collect();
    let (sets, reference) = (&sets, &reference);
    ctx.case(
        Case::new(
            "gather",
            "kernel",
            format!("{} from {}", dims(&[r, k]), dims(&[r, c])),
            DType::F32,
        )
        .work(0.0, (2 * r * k * 4 + r * k * 4) as f64)
        .sets(sets.len())
        .chosen(true)
        .run(move |i| {
            let s = sets.get(i);
            Ok(vec![s[0].gather(1, &s[1])?])
        })
        .check(move |o| gate(o, 1, |o| check::all(&o[0], reference, Tol::F32))),
    );
    Ok(())
}

/// index_select's gradient: dy (N, D) added into a (V, D) table's rows (in
/// deterministic mode: `det`).
fn scatter_add(ctx: &mut Ctx, v: usize, d: usize, n: usize, det: bool) -> Result<()> {
    if !ctx.wants(&["scatter_add"]) {
        return Ok(());
    }
    let sets = Sets::rotating(
        ctx.dev,
        33 + v as u64,
        &[
            Spec::new(&[n, d], -1.0, 1.0),
            Spec::index(&[n], v),
            Spec::new(&[v, d], -1.0, 1.0),
        ],
    )?;
    for set in &sets.t {
        set[2].set_requires_grad(true)?;
    }
    let reference = scatter_add_rows(&sets.host[0], d, &sets.indices(1), v);
    let (sets, reference) = (&sets, &reference);
    ctx.case(
        Case::new(
            "scatter_add",
            variant(det),
            format!("{} into {}", dims(&[n, d]), dims(&[v, d])),
            DType::F32,
        )
        .work((n * d) as f64, (n * d * 4 + n * 4 + v * d * 4) as f64)
        .sets(sets.len())
        .chosen(!det)
        .setup(move |dev| dev.set_deterministic(det))
        .profile(&["scatter_add"])
        .note(format!(
            "index_select's gradient through backward; ~{:.0} values per row",
            n as f64 / v as f64
        ))
        .run(move |i| {
            let s = sets.get(i);
            let y = s[2].index_select(0, &s[1])?;
            grads(y, &s[0], &s[2..], "index_select")
        })
        .check(move |o| gate(o, 1, |o| check::all(&o[0], reference, Tol::F32))),
    );
    Ok(())
}
