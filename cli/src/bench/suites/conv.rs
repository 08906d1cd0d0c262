//! Convolution (shaders/conv2d.wgsl) forward, input gradient and weight
//! gradient, every version (the subgroup `lanes` implicit GEMM, the
//! workgroup-memory `tiled` one, and `direct`, one invocation per output: the
//! baseline), and pooling (shaders/pool2d.wgsl) forward and backward.
//!
//! A gradient is timed as a user gets it: the forward and `backward_with(dy)`
//! recorded and run as one step, only x (for the input gradient) or only the
//! weight (for the weight gradient) requiring one, the timer summing only the
//! gradient kernel's dispatches (the weight gradient's are its partial sums
//! and their sum).
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

use shadergrad::{ConvParams, ConvVariant, DType, Device, MatmulVariant, Result, Tensor, Tuning};
use shadergrad_reference::conv2d::Conv2d;
use shadergrad_reference::matmul::Product;
use shadergrad_reference::pool2d::Pool2d;

use crate::bench::case::Case;
use crate::bench::check::{self, Tol};
use crate::bench::data::{Sets, Spec};
use crate::bench::measure::{Ctx, gate};
use crate::bench::suites::matmul::HEAVY_FLOPS;
use crate::bench::suites::{dims, grads};

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
        conv(ctx, g)?;
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

/// A pass: its kernel name, the ops its timer sums (None: all), and which of
/// (x, w) require a gradient.
type Pass = (&'static str, Option<&'static [&'static str]>, [bool; 2]);

/// The forward and the two gradients.
const PASSES: [Pass; 3] = [
    ("conv2d", None, [false, false]),
    (
        "conv2d.grad_input",
        Some(&["conv2d.grad_input"]),
        [true, false],
    ),
    (
        "conv2d.grad_weight",
        Some(&["conv2d.grad_weight"]),
        [false, true],
    ),
];

fn set_conv(d: &Device, v: ConvVariant) {
    d.set_tuning(Tuning {
        conv: Some(v),
        ..d.tuning()
    });
}

/// Forward, input gradient and weight gradient at one geometry, every version.
pub(crate) fn conv(ctx: &mut Ctx, g: Geometry) -> Result<()> {
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
    let reference = Conv2d::new(b, [cin, cout], [hw, hw], [3, 3], 1);
    let (x, w, dy) = (&sets.host[0], &sets.host[1], &sets.host[2]);
    let flops = 2.0 * (b * cout * hw * hw * cin * 9) as f64;
    let (nx, nw, ny) = (b * cin * hw * hw, cout * cin * 9, b * cout * hw * hw);
    let bytes = ((nx + nw + ny) * 4) as f64;
    let chosen = ConvVariant::choose(ctx.dev);
    let list = variants(ctx, flops, &g.label());
    for (pass, &(kernel, profile, leaves)) in PASSES.iter().enumerate() {
        for &v in &list {
            // Per pass: output elements, reference cost per element, reference.
            let (total, cost) = [(ny, cin * 9), (nx, cout * 9), (nw, b * hw * hw)][pass];
            let element = move |e: usize| match pass {
                0 => reference.forward_at(x, w, e),
                1 => reference.grad_input_at(w, dy, e),
                _ => reference.grad_weight_at(x, dy, e),
            };
            let sets = &sets;
            let mut case = Case::new(kernel, v.name(), g.label(), DType::F32)
                .work(flops, bytes)
                .sets(sets.len())
                .baseline(v == ConvVariant::Direct)
                .chosen(v == chosen)
                .setup(move |d| set_conv(d, v))
                .run(move |i| {
                    let s = sets.get(i);
                    if pass == 0 {
                        return Ok(vec![s[0].conv2d(&s[1], None, p)?]);
                    }
                    for (t, on) in s[..2].iter().zip(leaves) {
                        t.set_requires_grad(on)?;
                    }
                    let y = s[0].conv2d(&s[1], None, p)?;
                    grads(y, &s[2], &s[pass - 1..pass], kernel)
                })
                .check(move |o| {
                    gate(o, 1, |o| {
                        let max = check::budget(total, cost as f64);
                        check::elements(&o[0], total, max, Tol::F32, element)
                    })
                });
            if let Some(ops) = profile {
                case = case.profile(ops);
            }
            if v == ConvVariant::Direct && pass == 2 {
                case = case.note("no direct weight gradient: runs conv2d_tiled");
            }
            ctx.case(case);
        }
        if pass == 0 {
            gemm(ctx, g, flops)?;
        }
    }
    Ok(())
}

/// The forward's GEMM as a plain matmul of the same flops, for scale.
fn gemm(ctx: &mut Ctx, g: Geometry, flops: f64) -> Result<()> {
    if !ctx.wants(&["matmul"]) {
        return Ok(());
    }
    let (m, k, n) = (g.b * g.hw * g.hw, g.cin * 9, g.cout);
    let mm = Sets::rotating(
        ctx.dev,
        59,
        &[Spec::new(&[m, k], -1.0, 1.0), Spec::new(&[k, n], -1.0, 1.0)],
    )?;
    let reference = Product {
        a: &mm.host[0],
        b: &mm.host[1],
        m,
        k,
        n,
        a_transposed: false,
        b_transposed: false,
    };
    let chosen = MatmulVariant::choose(ctx.dev).0;
    let mm = &mm;
    ctx.case(
        Case::new("matmul", chosen.name(), dims(&[m, k, n]), DType::F32)
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
                    let max = check::budget(m * n, k as f64);
                    check::elements(&o[0], m * n, max, Tol::F32, |e| reference.element(e))
                })
            }),
    );
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
    // The same geometry, dense (one group) or depthwise (one per channel).
    let reference = |dense: bool| Conv2d {
        groups: if dense { 1 } else { ch },
        ..Conv2d::new(b, [ch, ch], [hw, hw], [3, 3], 1)
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
                    let (r, weights) = (reference(dense), if dense { w } else { wd });
                    let max = check::budget(ny, (cg * 9) as f64);
                    check::elements(&o[0], ny, max, Tol::F32, |e| r.forward_at(x, weights, e))
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
    let ho = hw / 2;
    let sets = Sets::rotating(
        ctx.dev,
        61,
        &[
            Spec::new(&[b, c, hw, hw], -1.0, 1.0),
            Spec::new(&[b, c, ho, ho], -1.0, 1.0),
        ],
    )?;
    for set in &sets.t {
        set[0].set_requires_grad(true)?;
    }
    for max in [true, false] {
        pool(ctx, &sets, [b, c, hw], max)?;
    }
    Ok(())
}

/// One pooling (2x2, stride 2) forward, and its gradient through backward.
fn pool(ctx: &mut Ctx, sets: &Sets, [b, c, hw]: [usize; 3], max: bool) -> Result<()> {
    let (k, ho) = (2, hw / 2);
    let (nx, ny) = (b * c * hw * hw, b * c * ho * ho);
    let shape = format!("{} k2 s2", dims(&[b, c, hw, hw]));
    let name = if max { "max_pool2d" } else { "avg_pool2d" };
    let window = Pool2d::square(max, k, k, 0);
    let pooled = window.forward(&sets.host[0], b * c, hw, hw);
    let backward = window.backward(&pooled, &sets.host[1], nx);
    let (forward, backward) = (&pooled.y, &backward);
    let record = move |x: &Tensor| {
        if max {
            x.max_pool2d(k, k, 0)
        } else {
            x.avg_pool2d(k, k, 0)
        }
    };
    ctx.case(
        Case::new(name, "kernel", shape.clone(), DType::F32)
            .work((ny * k * k) as f64, ((nx + ny) * 4) as f64)
            .sets(sets.len())
            .chosen(true)
            .run(move |i| {
                let _g = shadergrad::no_grad();
                Ok(vec![record(&sets.get(i)[0])?])
            })
            .check(move |o| gate(o, 1, |o| check::all(&o[0], forward, Tol::F32))),
    );
    let grad = if max {
        "max_pool2d.grad"
    } else {
        "avg_pool2d.grad"
    };
    ctx.case(
        Case::new(grad, "kernel", shape, DType::F32)
            .work((ny * k * k) as f64, ((2 * nx + ny) * 4) as f64)
            .sets(sets.len())
            .chosen(true)
            .profile(if max {
                &["max_pool2d.grad"]
            } else {
                &["avg_pool2d.grad"]
            })
            .run(move |i| {
                let s = sets.get(i);
                grads(record(&s[0])?, &s[1], &s[..1], name)
            })
            .check(move |o| gate(o, 1, |o| check::all(&o[0], backward, Tol::F32))),
    );
    Ok(())
}
