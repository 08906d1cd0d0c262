//! Gradient checks. For every differentiable op: a float64 reference backward
//! written here is checked against central finite differences of the float64
//! forward (so the reference cannot share the GPU's mistake), then the GPU's
//! backward is checked against the reference.
//!
//! Each case computes L = sum(u * op(inputs)) for a fixed random u, so the
//! reference backward is the op's vector-Jacobian product with u.

use crate::common::*;
use shadergrad::{Result, Tensor};
use shadergrad_reference::cross_entropy::CrossEntropy;
use shadergrad_reference::softmax::{log_softmax_rows, softmax_rows};
use shadergrad_reference::{gather, softmax, values as reference_values};

type Forward = Box<dyn Fn(&[Vec<f64>]) -> Vec<f64>>;
type Backward = Box<dyn Fn(&[Vec<f64>], &[f64]) -> Vec<Vec<f64>>>;
type OnGpu = Box<dyn Fn(&[Tensor]) -> Result<Tensor>>;

struct Case {
    name: String,
    shapes: Vec<Vec<usize>>,
    inputs: Vec<Vec<f64>>,
    forward: Forward,
    backward: Backward,
    gpu: OnGpu,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The reference backward against central differences, in float64.
fn check_reference(c: &Case, u: &[f64]) {
    let analytic = (c.backward)(&c.inputs, u);
    let h = 1e-6;
    for (k, x) in c.inputs.iter().enumerate() {
        for j in 0..x.len() {
            let mut plus = c.inputs.clone();
            plus[k][j] += h;
            let mut minus = c.inputs.clone();
            minus[k][j] -= h;
            let fd = (dot(u, &(c.forward)(&plus)) - dot(u, &(c.forward)(&minus))) / (2.0 * h);
            let a = analytic[k][j];
            assert!(
                (fd - a).abs() <= 1e-6 + 1e-5 * fd.abs(),
                "{}: reference gradient of input {k}[{j}] is {a}, finite differences say {fd}",
                c.name
            );
        }
    }
}

/// The GPU forward and backward against the reference.
fn check_gpu(c: &Case, u: &[f64]) {
    let params: Vec<Tensor> = c
        .inputs
        .iter()
        .zip(&c.shapes)
        .map(|(x, s)| {
            let t = tensor(&x.iter().map(|&v| v as f32).collect::<Vec<_>>(), s);
            t.set_requires_grad(true).unwrap();
            t
        })
        .collect();
    let y = (c.gpu)(&params).unwrap();
    // The forward value too (losses are fused kernels of their own).
    assert_close(
        &format!("{} forward", c.name),
        &read(&y),
        &(c.forward)(&c.inputs),
        1e-4,
        1e-5,
    );
    let ut = tensor(&u.iter().map(|&v| v as f32).collect::<Vec<_>>(), y.shape());
    let loss = y.mul(&ut).unwrap().sum_all().unwrap();
    loss.backward().unwrap();
    dev().realize_pending().unwrap();
    let want = (c.backward)(&c.inputs, u);
    for (k, p) in params.iter().enumerate() {
        let g = read(&p.grad().expect("a gradient"));
        assert_close(&format!("{} d/dinput{k}", c.name), &g, &want[k], 1e-3, 1e-4);
    }
}

fn run(cases: Vec<Case>) {
    let mut r = rng(100);
    for c in cases {
        let out = (c.forward)(&c.inputs).len();
        let u: Vec<f64> = uniform(&mut r, out, -1.0, 1.0)
            .iter()
            .map(|&v| v as f64)
            .collect();
        check_reference(&c, &u);
        check_gpu(&c, &u);
    }
}

fn values(r: &mut rand::rngs::StdRng, n: usize, lo: f32, hi: f32) -> Vec<f64> {
    uniform(r, n, lo, hi).iter().map(|&v| v as f64).collect()
}

type Scalar = fn(f64) -> f64;
/// (name, f, f', the op on the GPU, input range)
type UnaryRow = (
    &'static str,
    Scalar,
    Scalar,
    fn(&Tensor) -> Result<Tensor>,
    f32,
    f32,
);

#[test]
fn unary_ops() {
    let mut r = rng(101);
    let table: Vec<UnaryRow> = vec![
        ("neg", |x| -x, |_| -1.0, Tensor::neg, -2.0, 2.0),
        ("exp", f64::exp, f64::exp, Tensor::exp, -2.0, 2.0),
        ("log", f64::ln, |x| 1.0 / x, Tensor::log, 0.2, 3.0),
        (
            "sqrt",
            f64::sqrt,
            |x| 0.5 / x.sqrt(),
            Tensor::sqrt,
            0.2,
            3.0,
        ),
        (
            "rsqrt",
            |x| 1.0 / x.sqrt(),
            |x| -0.5 * x.powf(-1.5),
            Tensor::rsqrt,
            0.2,
            3.0,
        ),
        (
            "tanh",
            f64::tanh,
            |x| 1.0 - x.tanh().powi(2),
            Tensor::tanh,
            -2.0,
            2.0,
        ),
        (
            "sigmoid",
            |x| 1.0 / (1.0 + (-x).exp()),
            |x| {
                let s = 1.0 / (1.0 + (-x).exp());
                s * (1.0 - s)
            },
            Tensor::sigmoid,
            -3.0,
            3.0,
        ),
        (
            "relu",
            |x| x.max(0.0),
            |x| if x > 0.0 { 1.0 } else { 0.0 },
            Tensor::relu,
            -2.0,
            2.0,
        ),
        (
            "gelu",
            |x| 0.5 * x * (1.0 + libm::erf(x / 2f64.sqrt())),
            |x| {
                0.5 * (1.0 + libm::erf(x / 2f64.sqrt()))
                    + x * (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt()
            },
            Tensor::gelu,
            -3.0,
            3.0,
        ),
        (
            "gelu_tanh",
            |x| {
                let k = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (k * (x + 0.044715 * x * x * x)).tanh())
            },
            |x| {
                let k = (2.0 / std::f64::consts::PI).sqrt();
                let t = (k * (x + 0.044715 * x * x * x)).tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * x * x)
            },
            Tensor::gelu_tanh,
            -3.0,
            3.0,
        ),
        (
            "silu",
            |x| x / (1.0 + (-x).exp()),
            |x| {
                let s = 1.0 / (1.0 + (-x).exp());
                s + x * s * (1.0 - s)
            },
            Tensor::silu,
            -3.0,
            3.0,
        ),
        (
            "softplus",
            |x| x.exp().ln_1p(),
            |x| 1.0 / (1.0 + (-x).exp()),
            |x| x.softplus(1.0, 20.0),
            -3.0,
            3.0,
        ),
        ("abs", f64::abs, f64::signum, Tensor::abs, -2.0, 2.0),
        ("sin", f64::sin, f64::cos, Tensor::sin, -3.0, 3.0),
        ("cos", f64::cos, |x| -x.sin(), Tensor::cos, -3.0, 3.0),
        ("square", |x| x * x, |x| 2.0 * x, Tensor::square, -2.0, 2.0),
        (
            "recip",
            |x| 1.0 / x,
            |x| -1.0 / (x * x),
            Tensor::recip,
            0.3,
            3.0,
        ),
        (
            "erf",
            libm::erf,
            |x| 2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp(),
            Tensor::erf,
            -2.0,
            2.0,
        ),
    ];
    let mut cases = Vec::new();
    for (name, f, df, op, lo, hi) in table {
        // Keep clear of the kinks of relu and abs, where differences are meaningless.
        let x: Vec<f64> = values(&mut r, 17, lo, hi)
            .into_iter()
            .map(|v| if v.abs() < 0.05 { v + 0.1 } else { v })
            .collect();
        cases.push(Case {
            name: name.into(),
            shapes: vec![vec![17]],
            inputs: vec![x],
            forward: Box::new(move |i| i[0].iter().map(|&v| f(v)).collect()),
            backward: Box::new(move |i, u| {
                vec![i[0].iter().zip(u).map(|(&v, &g)| g * df(v)).collect()]
            }),
            gpu: Box::new(move |p| op(&p[0])),
        });
    }
    run(cases);
}

/// (3, 1, 5) with (4, 1) -> (3, 4, 5): both operands broadcast.
fn broadcast_index(i: usize) -> (usize, usize) {
    let c = coords(i, &[3, 4, 5]);
    (c[0] * 5 + c[2], c[1])
}

type Binary = fn(f64, f64) -> f64;
/// (name, f, df/da, df/db, the op on the GPU)
type BinaryRow = (
    &'static str,
    Binary,
    Binary,
    Binary,
    fn(&Tensor, &Tensor) -> Result<Tensor>,
);

#[test]
fn binary_ops_with_broadcasting() {
    let mut r = rng(102);
    let table: Vec<BinaryRow> = vec![
        ("add", |a, b| a + b, |_, _| 1.0, |_, _| 1.0, |a, b| a.add(b)),
        (
            "sub",
            |a, b| a - b,
            |_, _| 1.0,
            |_, _| -1.0,
            |a, b| a.sub(b),
        ),
        ("mul", |a, b| a * b, |_, b| b, |a, _| a, |a, b| a.mul(b)),
        (
            "div",
            |a, b| a / b,
            |_, b| 1.0 / b,
            |a, b| -a / (b * b),
            |a, b| a.div(b),
        ),
        (
            "pow",
            f64::powf,
            |a, b| b * a.powf(b - 1.0),
            |a, b| a.powf(b) * a.ln(),
            |a, b| a.pow(b),
        ),
        (
            "maximum",
            f64::max,
            |a, b| (a > b) as u8 as f64,
            |a, b| (b > a) as u8 as f64,
            |a, b| a.maximum(b),
        ),
        (
            "minimum",
            f64::min,
            |a, b| (a < b) as u8 as f64,
            |a, b| (b < a) as u8 as f64,
            |a, b| a.minimum(b),
        ),
    ];
    let mut cases = Vec::new();
    for (name, f, da, db, op) in table {
        let a = values(&mut r, 15, 0.5, 2.0);
        let b = values(&mut r, 4, 0.6, 1.9);
        cases.push(Case {
            name: name.into(),
            shapes: vec![vec![3, 1, 5], vec![4, 1]],
            inputs: vec![a, b],
            forward: Box::new(move |i| {
                (0..60)
                    .map(|k| {
                        let (p, q) = broadcast_index(k);
                        f(i[0][p], i[1][q])
                    })
                    .collect()
            }),
            backward: Box::new(move |i, u| {
                let (mut ga, mut gb) = (vec![0.0; 15], vec![0.0; 4]);
                for (k, &uk) in u.iter().enumerate() {
                    let (p, q) = broadcast_index(k);
                    ga[p] += uk * da(i[0][p], i[1][q]);
                    gb[q] += uk * db(i[0][p], i[1][q]);
                }
                vec![ga, gb]
            }),
            gpu: Box::new(move |p| op(&p[0], &p[1])),
        });
    }
    run(cases);
}

#[test]
fn reductions() {
    let mut r = rng(103);
    let shape = vec![3, 4, 5];
    let x = values(&mut r, 60, -2.0, 2.0);
    // Sum and mean over axes {0, 2}; max and min over axis 1 (values distinct, so no ties).
    let over_02 = |i: usize| coords(i, &[3, 4, 5])[1];
    let over_1 = |i: usize| {
        let c = coords(i, &[3, 4, 5]);
        c[0] * 5 + c[2]
    };
    let extreme = move |x: &[f64], pick: fn(f64, f64) -> bool| -> Vec<usize> {
        let mut best = vec![usize::MAX; 15];
        for i in 0..60 {
            let o = over_1(i);
            if best[o] == usize::MAX || pick(x[i], x[best[o]]) {
                best[o] = i;
            }
        }
        best
    };
    let cases = vec![
        Case {
            name: "sum".into(),
            shapes: vec![shape.clone()],
            inputs: vec![x.clone()],
            forward: Box::new(move |i| {
                let mut o = vec![0.0; 4];
                for (k, v) in i[0].iter().enumerate() {
                    o[over_02(k)] += v;
                }
                o
            }),
            backward: Box::new(move |_, u| vec![(0..60).map(|k| u[over_02(k)]).collect()]),
            gpu: Box::new(|p| p[0].sum(&[0, 2], false)),
        },
        Case {
            name: "mean keepdim".into(),
            shapes: vec![shape.clone()],
            inputs: vec![x.clone()],
            forward: Box::new(move |i| {
                let mut o = vec![0.0; 4];
                for (k, v) in i[0].iter().enumerate() {
                    o[over_02(k)] += v / 15.0;
                }
                o
            }),
            backward: Box::new(move |_, u| vec![(0..60).map(|k| u[over_02(k)] / 15.0).collect()]),
            gpu: Box::new(|p| p[0].mean(&[0, -1], true)),
        },
        Case {
            name: "max".into(),
            shapes: vec![shape.clone()],
            inputs: vec![x.clone()],
            forward: Box::new(move |i| {
                extreme(&i[0], |a, b| a > b)
                    .iter()
                    .map(|&k| i[0][k])
                    .collect()
            }),
            backward: Box::new(move |i, u| {
                let mut g = vec![0.0; 60];
                for (o, &k) in extreme(&i[0], |a, b| a > b).iter().enumerate() {
                    g[k] = u[o];
                }
                vec![g]
            }),
            gpu: Box::new(|p| p[0].max(&[1], false)),
        },
        Case {
            name: "min".into(),
            shapes: vec![shape.clone()],
            inputs: vec![x.clone()],
            forward: Box::new(move |i| {
                extreme(&i[0], |a, b| a < b)
                    .iter()
                    .map(|&k| i[0][k])
                    .collect()
            }),
            backward: Box::new(move |i, u| {
                let mut g = vec![0.0; 60];
                for (o, &k) in extreme(&i[0], |a, b| a < b).iter().enumerate() {
                    g[k] = u[o];
                }
                vec![g]
            }),
            gpu: Box::new(|p| p[0].min(&[1], true)),
        },
        Case {
            name: "var".into(),
            shapes: vec![vec![4, 7]],
            inputs: vec![values(&mut r, 28, -2.0, 2.0)],
            forward: Box::new(|i| {
                i[0].chunks(7)
                    .map(|row| {
                        let m = row.iter().sum::<f64>() / 7.0;
                        row.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 6.0
                    })
                    .collect()
            }),
            backward: Box::new(|i, u| {
                vec![
                    i[0].chunks(7)
                        .enumerate()
                        .flat_map(|(r, row)| {
                            let m = row.iter().sum::<f64>() / 7.0;
                            row.iter()
                                .map(move |v| u[r] * 2.0 * (v - m) / 6.0)
                                .collect::<Vec<_>>()
                        })
                        .collect(),
                ]
            }),
            gpu: Box::new(|p| p[0].var(&[1], 1, false)),
        },
    ];
    run(cases);
}

/// A view as a map from output element to input element: y[i] = x[map[i]].
fn view_case(
    name: &str,
    shape: Vec<usize>,
    map: Vec<usize>,
    gpu: OnGpu,
    r: &mut rand::rngs::StdRng,
) -> Case {
    let n: usize = shape.iter().product();
    let (m1, m2) = (map.clone(), map);
    Case {
        name: name.into(),
        shapes: vec![shape],
        inputs: vec![values(r, n, -1.0, 1.0)],
        forward: Box::new(move |i| m1.iter().map(|&k| i[0][k]).collect()),
        backward: Box::new(move |_, u| {
            let mut g = vec![0.0; n];
            for (o, &k) in m2.iter().enumerate() {
                g[k] += u[o];
            }
            vec![g]
        }),
        gpu,
    }
}

#[test]
fn views_and_concat() {
    let mut r = rng(104);
    let s = [3usize, 4, 5];
    let flat = |c: &[usize]| c[0] * 20 + c[1] * 5 + c[2];
    let permute: Vec<usize> = (0..60)
        .map(|i| {
            let c = coords(i, &[5, 3, 4]);
            flat(&[c[1], c[2], c[0]])
        })
        .collect();
    // Rows 0 and 2, columns 1, 3 of the last axis, all of the middle one.
    let slice: Vec<usize> = (0..16)
        .map(|i| {
            let c = coords(i, &[2, 4, 2]);
            flat(&[c[0] * 2, c[1], 1 + c[2] * 2])
        })
        .collect();
    // reshape of a transpose: (4, 3) seen as (2, 6), a copy the planner decodes.
    let tr: Vec<usize> = (0..12)
        .map(|i| {
            let c = coords(i, &[4, 3]);
            c[1] * 4 + c[0]
        })
        .collect();
    // Broadcast (3, 1) -> (2, 3, 4): every element read 8 times.
    let bc: Vec<usize> = (0..24).map(|i| coords(i, &[2, 3, 4])[1]).collect();
    let cases = vec![
        view_case(
            "permute",
            s.to_vec(),
            permute,
            Box::new(|p| p[0].permute(&[2, 0, 1])),
            &mut r,
        ),
        view_case(
            "slice",
            s.to_vec(),
            slice,
            Box::new(|p| p[0].slice(0, 0, 3, 2)?.slice(2, 1, 5, 2)),
            &mut r,
        ),
        view_case(
            "reshape(t)",
            vec![3, 4],
            tr,
            Box::new(|p| p[0].t()?.reshape(&[2, 6])),
            &mut r,
        ),
        view_case(
            "broadcast",
            vec![3, 1],
            bc,
            Box::new(|p| p[0].broadcast_to(&[2, 3, 4])),
            &mut r,
        ),
    ];
    run(cases);
    // cat of (2, 1, 3) and (2, 2, 3) along axis 1.
    let a = values(&mut r, 6, -1.0, 1.0);
    let b = values(&mut r, 12, -1.0, 1.0);
    let pick = |i: usize| -> (usize, usize) {
        let c = coords(i, &[2, 3, 3]);
        if c[1] == 0 {
            (0, c[0] * 3 + c[2])
        } else {
            (1, c[0] * 6 + (c[1] - 1) * 3 + c[2])
        }
    };
    run(vec![Case {
        name: "cat".into(),
        shapes: vec![vec![2, 1, 3], vec![2, 2, 3]],
        inputs: vec![a, b],
        forward: Box::new(move |i| {
            (0..18)
                .map(|k| {
                    let (w, j) = pick(k);
                    i[w][j]
                })
                .collect()
        }),
        backward: Box::new(move |_, u| {
            let mut g = vec![vec![0.0; 6], vec![0.0; 12]];
            for (k, &uk) in u.iter().enumerate() {
                let (w, j) = pick(k);
                g[w][j] += uk;
            }
            g
        }),
        gpu: Box::new(|p| Tensor::cat(&[&p[0], &p[1]], 1)),
    }]);
}

#[test]
fn matmul_batched_and_transposed() {
    let mut r = rng(105);
    // A (2, 1, 3, 4) x B^T where B is stored (5, 4): C (2, 1, 3, 5), B broadcast over the batch.
    let a = values(&mut r, 24, -1.0, 1.0);
    let b = values(&mut r, 20, -1.0, 1.0);
    let fwd = |i: &[Vec<f64>]| -> Vec<f64> {
        let mut c = vec![0.0; 30];
        for z in 0..2 {
            for m in 0..3 {
                for n in 0..5 {
                    c[(z * 3 + m) * 5 + n] = (0..4)
                        .map(|k| i[0][(z * 3 + m) * 4 + k] * i[1][n * 4 + k])
                        .sum();
                }
            }
        }
        c
    };
    run(vec![Case {
        name: "matmul".into(),
        shapes: vec![vec![2, 1, 3, 4], vec![5, 4]],
        inputs: vec![a, b],
        forward: Box::new(fwd),
        backward: Box::new(|i, u| {
            let (mut ga, mut gb) = (vec![0.0; 24], vec![0.0; 20]);
            for z in 0..2 {
                for m in 0..3 {
                    for n in 0..5 {
                        let g = u[(z * 3 + m) * 5 + n];
                        for k in 0..4 {
                            ga[(z * 3 + m) * 4 + k] += g * i[1][n * 4 + k];
                            gb[n * 4 + k] += g * i[0][(z * 3 + m) * 4 + k];
                        }
                    }
                }
            }
            vec![ga, gb]
        }),
        gpu: Box::new(|p| p[0].matmul(&p[1].t()?)),
    }]);
}

#[test]
fn softmax_and_log_softmax() {
    let mut r = rng(106);
    let x = values(&mut r, 35, -2.0, 2.0);
    let cases = vec![
        Case {
            name: "softmax".into(),
            shapes: vec![vec![5, 7]],
            inputs: vec![x.clone()],
            forward: Box::new(|i| softmax_rows(&i[0], 7)),
            backward: Box::new(|i, u| {
                vec![
                    i[0].chunks(7)
                        .zip(u.chunks(7))
                        .flat_map(|(row, g)| {
                            reference_values(&softmax::softmax_backward_row(row, g))
                        })
                        .collect(),
                ]
            }),
            gpu: Box::new(|p| p[0].softmax(-1)),
        },
        Case {
            name: "log_softmax axis 0".into(),
            shapes: vec![vec![7, 5]],
            inputs: vec![x],
            forward: Box::new(|i| {
                // Columns of a (7, 5) matrix.
                let t: Vec<f64> = (0..35).map(|k| i[0][(k % 7) * 5 + k / 7]).collect();
                let y = softmax_rows(&t, 7);
                (0..35).map(|k| y[(k % 5) * 7 + k / 5].ln()).collect()
            }),
            backward: Box::new(|i, u| {
                // Rows of the transposed (5, 7) matrix are the columns.
                let t: Vec<f64> = (0..35).map(|k| i[0][(k % 7) * 5 + k / 7]).collect();
                let ut: Vec<f64> = (0..35).map(|k| u[(k % 7) * 5 + k / 7]).collect();
                let dt: Vec<f64> = t
                    .chunks(7)
                    .zip(ut.chunks(7))
                    .flat_map(|(row, g)| {
                        reference_values(&softmax::log_softmax_backward_row(row, g))
                    })
                    .collect();
                vec![(0..35).map(|k| dt[(k % 5) * 7 + k / 5]).collect()]
            }),
            gpu: Box::new(|p| p[0].log_softmax(0)),
        },
    ];
    run(cases);
}

#[test]
fn gather_select_and_where() {
    let mut r = rng(107);
    // index_select with a repeated index: gradients of repeats add up.
    let ids = [2usize, 0, 2, 4];
    let table = values(&mut r, 5 * 3, -1.0, 1.0);
    let cond: Vec<bool> = (0..12).map(|i| i % 3 != 1).collect();
    let c2 = cond.clone();
    run(vec![
        Case {
            name: "index_select".into(),
            shapes: vec![vec![5, 3]],
            inputs: vec![table],
            forward: Box::new(move |i| gather::index_select_rows(&i[0], 3, &ids)),
            backward: Box::new(move |_, u| {
                vec![reference_values(&gather::scatter_add_rows(u, 3, &ids, 5))]
            }),
            gpu: Box::new(|p| {
                let idx = Tensor::from_slice(p[0].device(), &[2i32, 0, 2, 4], &[4])?;
                p[0].index_select(0, &idx)
            }),
        },
        Case {
            name: "select".into(),
            shapes: vec![vec![12], vec![12]],
            inputs: vec![values(&mut r, 12, -1.0, 1.0), values(&mut r, 12, -1.0, 1.0)],
            forward: Box::new(move |i| {
                (0..12)
                    .map(|k| if cond[k] { i[0][k] } else { i[1][k] })
                    .collect()
            }),
            backward: Box::new(move |_, u| {
                vec![
                    (0..12).map(|k| if c2[k] { u[k] } else { 0.0 }).collect(),
                    (0..12).map(|k| if c2[k] { 0.0 } else { u[k] }).collect(),
                ]
            }),
            gpu: Box::new(|p| {
                let m: Vec<f32> = (0..12)
                    .map(|i| if i % 3 != 1 { 1.0 } else { 0.0 })
                    .collect();
                let c = Tensor::from_slice(p[0].device(), &m, &[12])?.gt(0.5)?;
                c.select(&p[0], &p[1])
            }),
        },
    ]);
}

#[test]
fn gradients_accumulate_and_detach_stops_them() {
    let x = tensor(&[1.0, 2.0, 3.0], &[3]);
    x.set_requires_grad(true).unwrap();
    for _ in 0..2 {
        x.square().unwrap().sum_all().unwrap().backward().unwrap();
    }
    dev().realize_pending().unwrap();
    assert_eq!(read(&x.grad().unwrap()), vec![4.0, 8.0, 12.0]);
    x.zero_grad();
    let y = x.mul(&x.detach()).unwrap().sum_all().unwrap();
    y.backward().unwrap();
    assert_eq!(read(&x.grad().unwrap()), vec![1.0, 2.0, 3.0]);
    {
        let _g = shadergrad::no_grad();
        assert!(!x.square().unwrap().requires_grad());
    }
    assert!(x.square().unwrap().requires_grad());
    let e = tensor(&[1.0, 2.0], &[2]).backward().unwrap_err();
    assert!(e.to_string().contains("backward"), "{e}");
    let v = x.mul(2.0).unwrap();
    assert!(matches!(
        v.backward(),
        Err(shadergrad::Error::InvalidArgument { op: "backward", .. })
    ));
}

#[test]
fn losses() {
    let mut r = rng(108);
    let (n, c) = (6, 5);
    let labels = [3i32, 0, 4, 1, -1, 2]; // -1 is ignored
    let eps = 0.1;
    // Cross-entropy with label smoothing and an ignored row, averaged over kept rows.
    let loss = CrossEntropy {
        classes: c,
        smoothing: eps,
        ignore: Some(-1),
    };
    let ce = move |x: &[f64]| -> f64 { loss.mean(x, &labels).0 };
    let ce_grad = move |x: &[f64]| -> Vec<f64> { reference_values(&loss.mean_grad(x, &labels)) };
    let t: Vec<f64> = values(&mut r, 12, 0.0, 1.0)
        .iter()
        .map(|v| (v > &0.5) as u8 as f64)
        .collect();
    let t2 = t.clone();
    let teacher = values(&mut r, 12, -2.0, 2.0);
    let th = teacher.clone();
    let temp = 2.0;
    let kl = move |s: &[f64]| -> f64 {
        let ls = log_softmax_rows(&s.iter().map(|v| v / temp).collect::<Vec<_>>(), 4);
        let lq = log_softmax_rows(&th.iter().map(|v| v / temp).collect::<Vec<_>>(), 4);
        lq.iter()
            .zip(&ls)
            .map(|(q, s)| q.exp() * (q - s))
            .sum::<f64>()
            * temp
            * temp
            / 3.0
    };
    let teacher2 = teacher.clone();
    let tt: Vec<f32> = t.iter().map(|&v| v as f32).collect();
    let (tt2, tt3, tt4) = (tt.clone(), tt.clone(), tt.clone());
    let kl_grad = move |s: &[f64]| -> Vec<f64> {
        let ps = softmax_rows(&s.iter().map(|v| v / temp).collect::<Vec<_>>(), 4);
        let pq = softmax_rows(&teacher2.iter().map(|v| v / temp).collect::<Vec<_>>(), 4);
        ps.iter()
            .zip(&pq)
            .map(|(a, b)| (a - b) * temp / 3.0)
            .collect()
    };
    let teacher_f: Vec<f32> = teacher.iter().map(|&v| v as f32).collect();
    run(vec![
        Case {
            name: "cross_entropy".into(),
            shapes: vec![vec![n, c]],
            inputs: vec![values(&mut r, n * c, -2.0, 2.0)],
            forward: Box::new(move |i| vec![ce(&i[0])]),
            backward: Box::new(move |i, u| vec![ce_grad(&i[0]).iter().map(|g| g * u[0]).collect()]),
            gpu: Box::new(move |p| {
                let l = Tensor::from_slice(p[0].device(), &labels, &[n])?;
                let opts = shadergrad::loss::CrossEntropy {
                    ignore_index: Some(-1),
                    label_smoothing: 0.1,
                };
                shadergrad::loss::cross_entropy_with(&p[0], &l, opts)
            }),
        },
        Case {
            name: "bce_with_logits".into(),
            shapes: vec![vec![12]],
            inputs: vec![values(&mut r, 12, -4.0, 4.0)],
            forward: Box::new(move |i| {
                vec![
                    i[0].iter()
                        .zip(&t)
                        .map(|(&x, &y)| {
                            let p = 1.0 / (1.0 + (-x).exp());
                            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
                        })
                        .sum::<f64>()
                        / 12.0,
                ]
            }),
            backward: Box::new(move |i, u| {
                vec![
                    i[0].iter()
                        .zip(&t2)
                        .map(|(&x, &y)| u[0] * (1.0 / (1.0 + (-x).exp()) - y) / 12.0)
                        .collect(),
                ]
            }),
            gpu: Box::new(move |p| {
                let y = Tensor::from_slice(p[0].device(), &tt, &[12])?;
                shadergrad::loss::bce_with_logits(&p[0], &y)
            }),
        },
        Case {
            name: "mse".into(),
            shapes: vec![vec![12]],
            inputs: vec![values(&mut r, 12, -2.0, 2.0)],
            forward: Box::new(move |i| {
                vec![
                    i[0].iter()
                        .zip(&tt2)
                        .map(|(&x, &y)| (x - y as f64).powi(2))
                        .sum::<f64>()
                        / 12.0,
                ]
            }),
            backward: Box::new(move |i, u| {
                vec![
                    i[0].iter()
                        .zip(&tt3)
                        .map(|(&x, &y)| 2.0 * u[0] * (x - y as f64) / 12.0)
                        .collect(),
                ]
            }),
            gpu: Box::new(move |p| {
                let y = Tensor::from_slice(p[0].device(), &tt4, &[12])?;
                shadergrad::loss::mse(&p[0], &y)
            }),
        },
        Case {
            name: "kl_div (T=2)".into(),
            shapes: vec![vec![3, 4]],
            inputs: vec![values(&mut r, 12, -2.0, 2.0)],
            forward: Box::new(move |i| vec![kl(&i[0])]),
            backward: Box::new(move |i, u| vec![kl_grad(&i[0]).iter().map(|g| g * u[0]).collect()]),
            gpu: Box::new(move |p| {
                let q = Tensor::from_slice(p[0].device(), &teacher_f, &[3, 4])?;
                shadergrad::loss::kl_div_with_temperature(&p[0], &q, 2.0)
            }),
        },
    ]);
}
