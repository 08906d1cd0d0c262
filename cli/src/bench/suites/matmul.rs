//! matmul: the forward C = A B, and the two transposed-operand products its
//! backward records: dA = dC B^T (`matmul.nt`, B read transposed in place) and
//! dB = A^T dC (`matmul.tn`). Every variant the device has (workgroup-memory
//! tiles, barrier-free register tiles, the subgroup `lanes` version), the
//! naive kernel as the baseline; f16 storage too where the adapter has it.
//!
//! Flops: 2 M N K. Bytes: (M K + K N + M N) x element size.

use shadergrad::{DType, MatmulVariant, Result, Tuning};
use shadergrad_reference::matmul::Product;

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::suites::dims;

/// Above this many flops, software adapters skip the GPU-only variants.
pub(crate) const HEAVY_FLOPS: f64 = 3e8;

/// Which operand is read transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// C = A B
    NN,
    /// C = A B^T, B stored (N, K): the dA of the backward
    NT,
    /// C = A^T B, A stored (K, M): the dB of the backward
    TN,
}

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["matmul", "matmul.nt", "matmul.tn"]) {
        return Ok(());
    }
    let (sizes, other): (&[usize], usize) = if ctx.quick() {
        (&[64, 128], 128)
    } else {
        // 511: no dimension a multiple of 4, so no vec4 loads.
        (&[256, 511, 512, 1024], 512)
    };
    for &n in sizes {
        product(ctx, [n, n, n], DType::F32, Layout::NN)?;
    }
    if ctx.dev.caps().f16 {
        product(ctx, [other; 3], DType::F16, Layout::NN)?;
    }
    for layout in [Layout::NT, Layout::TN] {
        product(ctx, [other; 3], DType::F32, layout)?;
    }
    // A long-K shape: a linear layer's weight gradient (batch 4096 reduced).
    if !ctx.quick() {
        product(ctx, [256, 4096, 256], DType::F32, Layout::TN)?;
    }
    Ok(())
}

/// Variants in table order: the engine's choice first, the naive baseline
/// last. On a software adapter the workgroup-memory version (the GPUs' one,
/// a second per run at 1024^3 on lavapipe) is left out of large products.
pub(crate) fn variants(ctx: &mut Ctx, flops: f64, what: &str) -> Vec<MatmulVariant> {
    let (chosen, _) = MatmulVariant::choose(ctx.dev);
    let heavy = ctx.dev.is_cpu() && flops > HEAVY_FLOPS;
    if heavy && chosen != MatmulVariant::Tiled {
        ctx.skip(format!("matmul tiled at {what}"));
    }
    let mut v: Vec<MatmulVariant> = MatmulVariant::available(ctx.dev)
        .into_iter()
        .filter(|&v| v != chosen && v != MatmulVariant::Naive)
        .filter(|&v| !(heavy && v == MatmulVariant::Tiled))
        .collect();
    v.insert(0, chosen);
    if chosen != MatmulVariant::Naive {
        v.push(MatmulVariant::Naive);
    }
    v
}

/// C (M x N) from A and B with inner dimension K, every variant.
pub(crate) fn product(
    ctx: &mut Ctx,
    [m, k, n]: [usize; 3],
    dtype: DType,
    layout: Layout,
) -> Result<()> {
    let kernel = match layout {
        Layout::NN => "matmul",
        Layout::NT => "matmul.nt",
        Layout::TN => "matmul.tn",
    };
    if !ctx.wants(&[kernel]) {
        return Ok(());
    }
    let (sa, sb) = match layout {
        Layout::NN => ([m, k], [k, n]),
        Layout::NT => ([m, k], [n, k]),
        Layout::TN => ([k, m], [k, n]),
    };
    let seed = (m * 7 + k * 3 + n) as u64;
    let spec = |s: &[usize]| Spec::new(s, -1.0, 1.0).dtype(dtype);
    let sets = Sets::rotating(ctx.dev, seed, &[spec(&sa), spec(&sb)])?;
    let reference = Product {
        a: &sets.host[0],
        b: &sets.host[1],
        m,
        k,
        n,
        a_transposed: layout == Layout::TN,
        b_transposed: layout == Layout::NT,
    };
    let (chosen, _) = MatmulVariant::choose(ctx.dev);
    let size = dtype.size_bytes() as f64;
    let (mf, kf, nf) = (m as f64, k as f64, n as f64);
    for v in variants(ctx, 2.0 * mf * nf * kf, &dims(&[m, k, n])) {
        let sets = &sets;
        ctx.case(
            Case::new(kernel, v.name(), dims(&[m, k, n]), dtype)
                .work(2.0 * mf * nf * kf, (mf * kf + kf * nf + mf * nf) * size)
                .sets(sets.len())
                .baseline(v == MatmulVariant::Naive)
                .chosen(v == chosen)
                .setup(move |d| {
                    d.set_tuning(Tuning {
                        matmul: Some(v),
                        ..d.tuning()
                    })
                })
                .run(move |i| {
                    let s = sets.get(i);
                    let a = if layout == Layout::TN {
                        s[0].t()?
                    } else {
                        s[0].clone()
                    };
                    let b = if layout == Layout::NT {
                        s[1].t()?
                    } else {
                        s[1].clone()
                    };
                    Ok(vec![a.matmul(&b)?])
                })
                .check(move |o| {
                    gate(o, 1, |o| {
                        let max = check::budget(m * n, k as f64);
                        check::elements(&o[0], m * n, max, Tol::for_dtype(dtype), |e| {
                            reference.element(e)
                        })
                    })
                }),
        );
    }
    Ok(())
}
