//! matmul: the forward C = A B, and the two transposed-operand products its
//! backward records: dA = dC B^T (`matmul.nt`, B read transposed in place) and
//! dB = A^T dC (`matmul.tn`). Every variant the device has (workgroup-memory
//! tiles, barrier-free register tiles, the subgroup `lanes` version), the
//! naive kernel as the baseline; f16 storage too where the adapter has it.
//!
//! Flops: 2 M N K. Bytes: (M K + K N + M N) x element size.

use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Case, Ctx, Method, gate};
use crate::bench::suites::dims;
use shadergrad::DType;
use shadergrad::Result;
use shadergrad::MatmulVariant;

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
        product(ctx, [n, n, n], DType::F32, Layout::NN, None)?;
    }
    if ctx.dev.caps().f16 {
        product(ctx, [other; 3], DType::F16, Layout::NN, None)?;
    }
    for layout in [Layout::NT, Layout::TN] {
        product(ctx, [other; 3], DType::F32, layout, None)?;
    }
    // A long-K shape: a linear layer's weight gradient (batch 4096 reduced).
    if !ctx.quick() {
        product(ctx, [256, 4096, 256], DType::F32, Layout::TN, None)?;
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

/// C (M x N) from A and B with inner dimension K, every variant; with a peer
/// time, only the engine's choice, timed end to end.
pub(crate) fn product(
    ctx: &mut Ctx,
    [m, k, n]: [usize; 3],
    dtype: DType,
    layout: Layout,
    peer: Option<f64>,
) -> Result<()> {
    let kernel = match layout {
        Layout::NN => "matmul",
        Layout::NT => "matmul.nt",
        Layout::TN => "matmul.tn",
    };
    if !ctx.wants(&[kernel]) {
        return Ok(());
    }
    let dev = ctx.dev;
    let (sa, sb) = match layout {
        Layout::NN => ([m, k], [k, n]),
        Layout::NT => ([m, k], [n, k]),
        Layout::TN => ([k, m], [k, n]),
    };
    let sets = Sets::rotating(
        dev,
        (m * 7 + k * 3 + n) as u64,
        &[
            Spec::new(&sa, -1.0, 1.0).dtype(dtype),
            Spec::new(&sb, -1.0, 1.0).dtype(dtype),
        ],
    )?;
    let (ha, hb) = (&sets.host[0], &sets.host[1]);
    let a_at = |i: usize, kk: usize| match layout {
        Layout::TN => ha[kk * m + i],
        _ => ha[i * k + kk],
    } as f64;
    let b_at = |kk: usize, j: usize| match layout {
        Layout::NT => hb[j * k + kk],
        _ => hb[kk * n + j],
    } as f64;
    let reference = |idx: usize| {
        let (i, j) = (idx / n, idx % n);
        let (mut s, mut scale) = (0.0, 0.0);
        for kk in 0..k {
            let t = a_at(i, kk) * b_at(kk, j);
            s += t;
            scale += t.abs();
        }
        (s, scale)
    };
    let (chosen, _) = MatmulVariant::choose(dev);
    let list = if peer.is_some() {
        vec![chosen]
    } else {
        variants(ctx, 2.0 * (m * n * k) as f64, &dims(&[m, k, n]))
    };
    let size = dtype.size_bytes() as f64;
    let (mf, kf, nf) = (m as f64, k as f64, n as f64);
    for v in list {
        let reference = &reference;
        let sets = &sets;
        let mut case = Case::new(kernel, v.name(), dims(&[m, k, n]), dtype)
            .work(2.0 * mf * nf * kf, (mf * kf + kf * nf + mf * nf) * size)
            .sets(sets.len())
            .baseline(v == MatmulVariant::Naive)
            .chosen(v == chosen)
            .setup(move |d| d.set_matmul_variant(Some(v)))
            .run(move |i| {
                let s = sets.get(i);
                let a = match layout {
                    Layout::TN => s[0].t()?,
                    _ => s[0].clone(),
                };
                let b = match layout {
                    Layout::NT => s[1].t()?,
                    _ => s[1].clone(),
                };
                Ok(vec![a.matmul(&b)?])
            })
            .check(move |o| {
                gate(o, 1, |o| {
                    check::elements(
                        &o[0],
                        m * n,
                        check::budget(m * n, k as f64),
                        Tol::for_dtype(dtype),
                        reference,
                    )
                })
            });
        if let Some(ms) = peer {
            case = case
                .method(Method::EndToEnd)
                .peer("burn 0.22", ms)
                .baseline(false)
                .group(format!("vs burn {kernel} {}", dims(&[m, k, n])));
        }
        ctx.case(case);
    }
    Ok(())
}
