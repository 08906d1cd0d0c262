//! Convolution (shaders/conv2d.wgsl) forward, input gradient and weight
//! gradient, every version (the subgroup `lanes` implicit GEMM, the
//! workgroup-memory `tiled` one, and `direct`, one invocation per output: the
//! baseline), and pooling (shaders/pool2d.wgsl) forward and backward.
//!
//! Convolutions: 3x3, stride 1, padding 1. Flops: 2 B Cout Ho Wo Cin KH KW for
//! each of the three. Bytes: the two operands read, the result written.
//! `conv2d.depthwise`: the forward with groups = channels (each output channel
//! reads its own input channel: 2 B C Ho Wo KH KW flops) beside the dense
//! convolution of as many input and output channels (the formula above), each
//! counted as what it does, so the row shows the time depthwise saves.
//! Pooling: K x K windows; flops K^2 per output (compares or adds) forward, the
//! same per dy element backward (the window is recomputed). Bytes: x (and dy)
//! read, the result written.

use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Case, Ctx, Method, gate};
use crate::bench::suites::dims;
use crate::bench::suites::matmul::HEAVY_FLOPS;
use shadergrad::DType;
use shadergrad::Result;
use crate::graph::{ConvParams, Op, PoolParams};
use crate::kernels::conv2d::{ConvVariant, weight_grad_splits};
use shadergrad::MatmulVariant;
use shadergrad::Tensor;

/// Batch, input channels, output channels, height = width.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub b: usize,
    pub cin: usize,
    pub cout: usize,
    pub hw: usize,
}

impl Geometry {
    fn label(&self) -> String {
        format!(
            "b{} {}->{} {}x{} 3x3",
            self.b, self.cin, self.cout, self.hw, self.hw
        )
    }
}

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    versions(ctx)?;
    depthwise(ctx)
}

/// The GEMM-shaped convolutions, every version.
fn versions(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&[
        "conv2d",
        "conv2d.grad_input",
        "conv2d.grad_weight",
        "matmul",
    ]) {
        return Ok(());
    }
    let shapes: &[Geometry] = if ctx.quick() {
        &[Geometry {
            b: 4,
            cin: 8,
            cout: 16,
            hw: 16,
        }]
    } else {
        &[
            Geometry {
                b: 16,
                cin: 16,
                cout: 32,
                hw: 28,
            },
            Geometry {
                b: 32,
                cin: 32,
                cout: 64,
                hw: 32,
            },
        ]
    };
    for &g in shapes {
        conv(ctx, g, None)?;
    }
    Ok(())
}

/// The versions in table order: the engine's choice first, direct last. On a
/// software adapter the workgroup-memory version (the GPUs' one) is left out
/// of large convolutions.
fn variants(ctx: &mut Ctx, flops: f64, what: &str) -> Vec<ConvVariant> {
    let chosen = ConvVariant::choose(ctx.dev);
    let mut all = Vec::new();
    if ctx.dev.lanes().is_some() {
        all.push(ConvVariant::Lanes);
    }
    if ctx.dev.is_cpu() && flops > HEAVY_FLOPS && chosen != ConvVariant::Tiled {
        ctx.skip(format!("conv2d tiled at {what}"));
    } else {
        all.push(ConvVariant::Tiled);
    }
    let mut v: Vec<ConvVariant> = all.into_iter().filter(|&v| v != chosen).collect();
    v.insert(0, chosen);
    if chosen != ConvVariant::Direct {
        v.push(ConvVariant::Direct);
    }
    v
}

/// Forward, input gradient and weight gradient at one geometry, every version;
/// with a peer time, the forward alone in the engine's version, end to end.
pub(crate) fn conv(ctx: &mut Ctx, g: Geometry, peer: Option<f64>) -> Result<()> {
    let Geometry { b, cin, cout, hw } = g;
    let p = ConvParams {
        padding: [1, 1],
        ..ConvParams::default()
    };
    let sets = Sets::rotating(
        ctx.dev,
        51 + hw as u64,
        &[
            Spec::new(&[b, cin, hw, hw], -1.0, 1.0),
            Spec::new(&[cout, cin, 3, 3], -0.5, 0.5),
            Spec::new(&[b, cout, hw, hw], -1.0, 1.0),
        ],
    )?;
    let (x, w, dy) = (&sets.host[0], &sets.host[1], &sets.host[2]);
    let xi = |bi: usize, c: usize, i: isize, j: isize| -> f64 {
        if i < 0 || j < 0 || i >= hw as isize || j >= hw as isize {
            0.0
        } else {
            x[((bi * cin + c) * hw + i as usize) * hw + j as usize] as f64
        }
    };
    let dyi = |bi: usize, o: usize, i: isize, j: isize| -> f64 {
        if i < 0 || j < 0 || i >= hw as isize || j >= hw as isize {
            0.0
        } else {
            dy[((bi * cout + o) * hw + i as usize) * hw + j as usize] as f64
        }
    };
    let wi = |o: usize, c: usize, u: usize, v: usize| w[((o * cin + c) * 3 + u) * 3 + v] as f64;
    // y[b, o, i, j] = sum_c,u,v x[b, c, i + u - 1, j + v - 1] w[o, c, u, v]
    let forward = |e: usize| {
        let (j, i, o, bi) = (
            e % hw,
            (e / hw) % hw,
            (e / (hw * hw)) % cout,
            e / (hw * hw * cout),
        );
        let (mut s, mut a) = (0.0, 0.0);
        for c in 0..cin {
            for u in 0..3 {
                for v in 0..3 {
                    let t = xi(bi, c, (i + u) as isize - 1, (j + v) as isize - 1) * wi(o, c, u, v);
                    s += t;
                    a += t.abs();
                }
            }
        }
        (s, a)
    };
    // dx[b, c, i, j] = sum_o,u,v dy[b, o, i - u + 1, j - v + 1] w[o, c, u, v]
    let grad_input = |e: usize| {
        let (j, i, c, bi) = (
            e % hw,
            (e / hw) % hw,
            (e / (hw * hw)) % cin,
            e / (hw * hw * cin),
        );
        let (mut s, mut a) = (0.0, 0.0);
        for o in 0..cout {
            for u in 0..3 {
                for v in 0..3 {
                    let t = dyi(
                        bi,
                        o,
                        i as isize - u as isize + 1,
                        j as isize - v as isize + 1,
                    ) * wi(o, c, u, v);
                    s += t;
                    a += t.abs();
                }
            }
        }
        (s, a)
    };
    // dw[o, c, u, v] = sum_b,i,j dy[b, o, i, j] x[b, c, i + u - 1, j + v - 1]
    let grad_weight = |e: usize| {
        let (v, u, c, o) = (e % 3, (e / 3) % 3, (e / 9) % cin, e / (9 * cin));
        let (mut s, mut a) = (0.0, 0.0);
        for bi in 0..b {
            for i in 0..hw {
                for j in 0..hw {
                    let t = dyi(bi, o, i as isize, j as isize)
                        * xi(bi, c, (i + u) as isize - 1, (j + v) as isize - 1);
                    s += t;
                    a += t.abs();
                }
            }
        }
        (s, a)
    };
    let flops = 2.0 * (b * cout * hw * hw * cin * 9) as f64;
    let (nx, nw, ny) = (b * cin * hw * hw, cout * cin * 9, b * cout * hw * hw);
    let bytes = ((nx + nw + ny) * 4) as f64;
    let chosen = ConvVariant::choose(ctx.dev);
    let list = if peer.is_some() {
        vec![chosen]
    } else {
        variants(ctx, flops, &g.label())
    };
    let passes: &[usize] = if peer.is_some() { &[0] } else { &[0, 1, 2] };
    for &pass in passes {
        for &v in &list {
            let kernel = ["conv2d", "conv2d.grad_input", "conv2d.grad_weight"][pass];
            let (total, cost) = match pass {
                0 => (ny, (cin * 9) as f64),
                1 => (nx, (cout * 9) as f64),
                _ => (nw, (b * hw * hw) as f64),
            };
            let reference: &dyn Fn(usize) -> (f64, f64) = match pass {
                0 => &forward,
                1 => &grad_input,
                _ => &grad_weight,
            };
            let sets = &sets;
            let mut case = Case::new(kernel, v.name(), g.label(), DType::F32)
                .work(flops, bytes)
                .sets(sets.len())
                .baseline(v == ConvVariant::Direct)
                .chosen(v == chosen)
                .setup(move |d| d.set_conv_variant(Some(v)))
                .run(move |i| {
                    let s = sets.get(i);
                    let (x, w, dy) = (&s[0], &s[1], &s[2]);
                    let dev = x.device();
                    Ok(vec![match pass {
                        0 => x.conv2d(w, None, p)?,
                        1 => Tensor::record(
                            dev,
                            x.shape().to_vec(),
                            DType::F32,
                            Op::Conv2dGradInput(p),
                            vec![dy.clone(), w.clone()],
                        ),
                        _ => {
                            // As autodiff records it: partial sums, then their sum.
                            let splits = weight_grad_splits(b, hw, hw);
                            let mut shape = vec![splits];
                            shape.extend_from_slice(w.shape());
                            Tensor::record(
                                dev,
                                shape,
                                DType::F32,
                                Op::Conv2dGradWeight { params: p, splits },
                                vec![dy.clone(), x.clone()],
                            )
                            .sum(&[0], false)?
                        }
                    }])
                })
                .check(move |o| {
                    gate(o, 1, |o| {
                        check::elements(
                            &o[0],
                            total,
                            check::budget(total, cost),
                            Tol::F32,
                            reference,
                        )
                    })
                });
            if v == ConvVariant::Direct && pass == 2 {
                case = case.note("no direct weight gradient: runs conv2d_tiled");
            }
            if let Some(ms) = peer {
                case = case
                    .method(Method::EndToEnd)
                    .peer("burn 0.22", ms)
                    .baseline(false)
                    .group(format!("vs burn conv2d {}", g.label()));
            }
            ctx.case(case);
        }
        // The forward's GEMM as a plain matmul of the same flops, for scale.
        if pass == 0 && peer.is_none() && ctx.wants(&["matmul"]) {
            let (m, k, n) = (b * hw * hw, cin * 9, cout);
            let mm = Sets::rotating(
                ctx.dev,
                59,
                &[Spec::new(&[m, k], -1.0, 1.0), Spec::new(&[k, n], -1.0, 1.0)],
            )?;
            let (ha, hb) = (&mm.host[0], &mm.host[1]);
            let reference = |e: usize| {
                let (i, j) = (e / n, e % n);
                let (mut s, mut a) = (0.0, 0.0);
                for kk in 0..k {
                    let t = ha[i * k + kk] as f64 * hb[kk * n + j] as f64;
                    s += t;
                    a += t.abs();
                }
                (s, a)
            };
            let chosen_mm = MatmulVariant::choose(ctx.dev).0;
            let mm = &mm;
            let reference = &reference;
            ctx.case(
                Case::new("matmul", chosen_mm.name(), dims(&[m, k, n]), DType::F32)
                    .work(flops, ((m * k + k * n + m * n) * 4) as f64)
                    .sets(mm.len())
                    .chosen(true)
                    .group(format!("conv2d {} f32", g.label()))
                    .note(format!(
                        "the GEMM of conv2d {} as a plain matmul",
                        g.label()
                    ))
                    .run(move |i| {
                        let s = mm.get(i);
                        Ok(vec![s[0].matmul(&s[1])?])
                    })
                    .check(move |o| {
                        gate(o, 1, |o| {
                            check::elements(
                                &o[0],
                                m * n,
                                check::budget(m * n, k as f64),
                                Tol::F32,
                                reference,
                            )
                        })
                    }),
            );
        }
    }
    Ok(())
}

/// The depthwise forward in the engine's choice (a GEMM of one row per group,
/// which the launcher gives the direct kernel) beside the dense forward of the
/// same channels, the baseline.
fn depthwise(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["conv2d.depthwise"]) {
        return Ok(());
    }
    let (b, ch, hw) = if ctx.quick() {
        (4, 16, 16)
    } else {
        (32, 64, 32)
    };
    let g = Geometry {
        b,
        cin: ch,
        cout: ch,
        hw,
    };
    let sets = Sets::rotating(
        ctx.dev,
        71 + hw as u64,
        &[
            Spec::new(&[b, ch, hw, hw], -1.0, 1.0),
            Spec::new(&[ch, 1, 3, 3], -0.5, 0.5),
            Spec::new(&[ch, ch, 3, 3], -0.5, 0.5),
        ],
    )?;
    let (x, wd, w) = (&sets.host[0], &sets.host[1], &sets.host[2]);
    let xi = |bi: usize, c: usize, i: isize, j: isize| -> f64 {
        if i < 0 || j < 0 || i >= hw as isize || j >= hw as isize {
            0.0
        } else {
            x[((bi * ch + c) * hw + i as usize) * hw + j as usize] as f64
        }
    };
    // y[b, o, i, j] = sum_c,u,v x[b, c, i + u - 1, j + v - 1] w[o, c, u, v],
    // c = o alone for depthwise (its weights are w[o, 0, u, v]).
    let reference = |e: usize, dense: bool| {
        let (j, i, o, bi) = (
            e % hw,
            (e / hw) % hw,
            (e / (hw * hw)) % ch,
            e / (hw * hw * ch),
        );
        let (mut s, mut a) = (0.0, 0.0);
        let inputs = if dense { 0..ch } else { o..o + 1 };
        for c in inputs {
            for u in 0..3 {
                for v in 0..3 {
                    let wv = if dense {
                        w[((o * ch + c) * 3 + u) * 3 + v]
                    } else {
                        wd[(o * 3 + u) * 3 + v]
                    };
                    let t = xi(bi, c, (i + u) as isize - 1, (j + v) as isize - 1) * wv as f64;
                    s += t;
                    a += t.abs();
                }
            }
        }
        (s, a)
    };
    let chosen = ConvVariant::choose(ctx.dev);
    let ny = b * ch * hw * hw;
    for dense in [false, true] {
        let (cg, nw) = if dense {
            (ch, ch * ch * 9)
        } else {
            (1, ch * 9)
        };
        let p = ConvParams {
            padding: [1, 1],
            groups: ch / cg,
            ..ConvParams::default()
        };
        let (sets, reference) = (&sets, &reference);
        ctx.case(
            Case::new(
                "conv2d.depthwise",
                if dense { "dense" } else { "direct" },
                g.label(),
                DType::F32,
            )
            .work(2.0 * (ny * cg * 9) as f64, ((2 * ny + nw) * 4) as f64)
            .sets(sets.len())
            .baseline(dense)
            .chosen(!dense)
            .note(if dense {
                format!("groups 1, in {}", chosen.name())
            } else {
                format!("groups {ch}: one-row GEMMs, run by conv2d_direct")
            })
            .run(move |i| {
                let s = sets.get(i);
                let w = if dense { &s[2] } else { &s[1] };
                Ok(vec![s[0].conv2d(w, None, p)?])
            })
            .check(move |o| {
                gate(o, 1, |o| {
                    check::elements(
                        &o[0],
                        ny,
                        check::budget(ny, (cg * 9) as f64),
                        Tol::F32,
                        |e| reference(e, dense),
                    )
                })
            }),
        );
    }
    Ok(())
}

pub(crate) fn run_pool(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&[
        "max_pool2d",
        "max_pool2d.grad",
        "avg_pool2d",
        "avg_pool2d.grad",
    ]) {
        return Ok(());
    }
    let (b, c, hw) = if ctx.quick() {
        (4, 16, 16)
    } else {
        (32, 64, 32)
    };
    let (k, ho) = (2, hw / 2);
    let sets = Sets::rotating(
        ctx.dev,
        61,
        &[
            Spec::new(&[b, c, hw, hw], -1.0, 1.0),
            Spec::new(&[b, c, ho, ho], -1.0, 1.0),
        ],
    )?;
    let (x, dy) = (&sets.host[0], &sets.host[1]);
    let (nx, ny) = (b * c * hw * hw, b * c * ho * ho);
    let shape = format!("{} k2 s2", dims(&[b, c, hw, hw]));
    for max in [true, false] {
        let name = if max { "max_pool2d" } else { "avg_pool2d" };
        // Window (plane p, oi, oj): its values and the argmax (first on ties).
        let window = |p: usize, oi: usize, oj: usize| {
            let mut best = (f64::NEG_INFINITY, 0usize);
            let mut sum = 0.0;
            for u in 0..k {
                for v in 0..k {
                    let at = (p * hw + oi * k + u) * hw + oj * k + v;
                    let val = x[at] as f64;
                    sum += val;
                    if val > best.0 {
                        best = (val, at);
                    }
                }
            }
            (best, sum)
        };
        let forward: Vec<(f64, f64)> = (0..ny)
            .map(|e| {
                let (p, oi, oj) = (e / (ho * ho), (e / ho) % ho, e % ho);
                let ((m, _), s) = window(p, oi, oj);
                if max {
                    (m, 0.0)
                } else {
                    (s / (k * k) as f64, s.abs())
                }
            })
            .collect();
        let mut backward = vec![(0.0f64, 0.0f64); nx];
        for (e, &g) in dy.iter().enumerate() {
            let (p, oi, oj) = (e / (ho * ho), (e / ho) % ho, e % ho);
            let ((_, at), _) = window(p, oi, oj);
            let g = g as f64;
            if max {
                backward[at] = (g, g.abs());
            } else {
                for u in 0..k {
                    for v in 0..k {
                        let at = (p * hw + oi * k + u) * hw + oj * k + v;
                        backward[at] = (g / 4.0, g.abs());
                    }
                }
            }
        }
        let params = PoolParams {
            max,
            kernel: [k, k],
            stride: [k, k],
            padding: [0, 0],
        };
        let (sets_r, forward, backward) = (&sets, &forward, &backward);
        ctx.case(
            Case::new(name, "kernel", shape.clone(), DType::F32)
                .work((ny * k * k) as f64, ((nx + ny) * 4) as f64)
                .sets(sets.len())
                .chosen(true)
                .run(move |i| {
                    let x = &sets_r.get(i)[0];
                    Ok(vec![if max {
                        x.max_pool2d(k, k, 0)?
                    } else {
                        x.avg_pool2d(k, k, 0)?
                    }])
                })
                .check(move |o| gate(o, 1, |o| check::all(&o[0], forward, Tol::F32))),
        );
        ctx.case(
            Case::new(&format!("{name}.grad"), "kernel", shape.clone(), DType::F32)
                .work((ny * k * k) as f64, ((2 * nx + ny) * 4) as f64)
                .sets(sets.len())
                .chosen(true)
                .run(move |i| {
                    let s = sets_r.get(i);
                    Ok(vec![Tensor::record(
                        s[0].device(),
                        s[0].shape().to_vec(),
                        DType::F32,
                        Op::Pool2dGrad(params),
                        vec![s[0].clone(), s[1].clone()],
                    )])
                })
                .check(move |o| gate(o, 1, |o| check::all(&o[0], backward, Tol::F32))),
        );
    }
    Ok(())
}
