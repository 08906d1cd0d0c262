//! Max and average pooling and their gradients against the float64
//! references of shadergrad-reference (themselves checked by finite
//! differences): odd sizes, each option of `PoolParams` alone and combined,
//! outputs poisoned with NaN.

use crate::common::*;
use shadergrad::{Error, PoolParams, Result, Tensor};
use shadergrad_reference::pool2d::Pool2d;
use shadergrad_reference::values;

/// The reference's window for the engine's parameters.
fn reference(p: &PoolParams) -> Pool2d {
    Pool2d {
        max: p.max,
        kernel: p.kernel,
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
        ceil_mode: p.ceil_mode,
        count_include_pad: p.count_include_pad,
    }
}

/// `n` distinct values in a shuffled order, so a max has one argmax and
/// finite differences do not move it.
fn distinct(seed: u64, n: usize) -> Vec<f64> {
    let mut r = rng(seed);
    let mut x: Vec<f64> = (0..n).map(|i| i as f64 * 0.01).collect();
    for i in (1..n).rev() {
        let j = (uniform(&mut r, 1, 0.0, 1.0)[0] * (i + 1) as f32) as usize;
        x.swap(i, j.min(i));
    }
    x
}

/// Pools random (B, C, H, W) data with `record` on the device and checks the
/// output and its gradient against `pl`, and (when `fd`) the reference's
/// gradient against finite differences of its forward.
fn check(
    label: &str,
    [b, c, h, w]: [usize; 4],
    pl: &Pool2d,
    fd: bool,
    record: impl Fn(&Tensor) -> Result<Tensor>,
) {
    let x = distinct((b * c * h * w) as u64, b * c * h * w);
    let pooled = pl.forward(&x, b * c, h, w);
    let y = values(&pooled.y);
    let mut r = rng(61);
    let u: Vec<f64> = uniform(&mut r, y.len(), -1.0, 1.0)
        .iter()
        .map(|&v| v as f64)
        .collect();
    let dx = values(&pl.backward(&pooled, &u, x.len()));
    if fd {
        // An empty window's -inf is a constant: it adds nothing to the loss.
        let loss = |x: &[Vec<f64>]| -> f64 {
            let y = values(&pl.forward(&x[0], b * c, h, w).y);
            y.iter()
                .zip(&u)
                .filter(|(y, _)| y.is_finite())
                .map(|(a, b)| a * b)
                .sum()
        };
        let fd = finite_differences(&[&x], loss);
        assert_matches_differences(&format!("{label} reference dx"), &dx, &fd[0]);
    }
    let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let tx = shadergrad::nn::parameter(tensor(&xs, &[b, c, h, w])).unwrap();
    let ty = record(&tx).unwrap();
    assert_eq!(ty.shape(), &[b, c, pl.out(0, h), pl.out(1, w)], "{label}");
    assert_close(label, &read(&ty), &y, 1e-5, 1e-6);
    let ut = tensor(&u.iter().map(|&v| v as f32).collect::<Vec<_>>(), ty.shape());
    ty.mul(&ut).unwrap().sum_all().unwrap().backward().unwrap();
    let grad = read(&tx.grad().unwrap());
    assert_close(&format!("{label} dx"), &grad, &dx, 1e-5, 1e-6);
}

#[test]
fn pooling_and_its_gradient() {
    // The second shape is large enough that a CPU adapter gives each
    // invocation several outputs (its reference gradient is not re-checked).
    for (shape, fd) in [([2, 3, 7, 5], true), ([6, 50, 41, 37], false)] {
        for (max, k, s, p) in [
            (true, 2, 2, 0),
            (true, 3, 2, 1),
            (false, 2, 2, 0),
            (false, 3, 1, 1),
        ] {
            let kind = if max { "max" } else { "avg" };
            let label = format!("{kind} pool k{k} s{s} p{p} {shape:?}");
            let pl = Pool2d::square(max, k, s, p);
            check(&label, shape, &pl, fd, |x| {
                if max {
                    x.max_pool2d(k, s, p)
                } else {
                    x.avg_pool2d(k, s, p)
                }
            });
        }
    }
}

/// The pooling a case's label names: `max` or `avg`, then `k`, `s`, `p`, `d`
/// (one size for both axes, or HxW), `ceil` (ceil_mode) and `nopad`
/// (count_include_pad false), over PyTorch's defaults.
fn named(label: &str) -> PoolParams {
    let mut words = label.split(' ');
    let kind = words.next();
    let mut p = PoolParams::max_pool([1, 1]);
    p.max = kind == Some("max");
    let mut stride = None;
    for word in words {
        let (key, v) = word.split_at(1);
        let mut sizes = v.split('x').map(|n| n.parse::<usize>());
        let pair = match (sizes.next(), sizes.next()) {
            (Some(Ok(h)), Some(Ok(w))) => [h, w],
            (Some(Ok(n)), None) => [n, n],
            _ => [0, 0],
        };
        match (key, word) {
            (_, "ceil") => p.ceil_mode = true,
            (_, "nopad") => p.count_include_pad = false,
            ("k", _) => p.kernel = pair,
            ("s", _) => stride = Some(pair),
            ("p", _) => p.padding = pair,
            ("d", _) => p.dilation = pair,
            _ => panic!("{label}: unknown word {word}"),
        }
    }
    p.stride = stride.unwrap_or(p.kernel);
    p
}

/// Each option on its own and in the combinations that interact, through
/// `Tensor::pool2d`. (2, 4, 19, 23) has the device give each invocation
/// several elements.
#[test]
fn pooling_options_and_their_gradients() {
    let cases = [
        // Rectangular windows, strides and padding.
        ("max k3x2 s2x1 p1x0", [2, 3, 7, 5]),
        ("avg k3x2 s2x1 p1x0", [2, 3, 7, 5]),
        // Dilation, alone and with stride and padding.
        ("max k3 s1 d2", [1, 2, 9, 8]),
        ("max k3x2 s2x3 p1 d2x3", [2, 3, 11, 10]),
        // k2 d3 p1 over 2 rows: every window holds padding only, -inf.
        ("max k2 s1 p1 d3", [1, 2, 2, 5]),
        ("max k3 s2 ceil", [2, 3, 8, 6]),
        // Width 5, k2 s2 p1: ceil_mode's extra window would start in the
        // right padding, so PyTorch drops it.
        ("max k3x2 s2 p1 ceil", [1, 3, 6, 5]),
        // ceil_mode keeps a window larger than the whole (3-row) input.
        ("max k4 s2 ceil", [1, 2, 3, 5]),
        ("avg k4 s2 ceil", [1, 2, 3, 5]),
        // The last windows pass the padded input: the divisor shrinks.
        ("avg k3 s2 p1 ceil", [2, 2, 6, 9]),
        // Padding left out of the divisor, with ceil_mode's windows too.
        ("avg k3 s1 p1 nopad", [2, 3, 7, 5]),
        ("avg k2x3 p1 ceil nopad", [1, 3, 5, 8]),
        ("max k3 s2 p1 d2 ceil", [2, 4, 19, 23]),
        ("avg k3x2 s1x2 p1 ceil nopad", [2, 4, 19, 23]),
    ];
    for (label, shape) in cases {
        let p = named(label);
        let label = format!("{label} of {shape:?}");
        check(&label, shape, &reference(&p), true, |x| x.pool2d(p));
    }
}

/// Two averages that differ only in count_include_pad have the same shapes:
/// each must get its own plan and pipeline, run after run.
#[test]
fn pool_options_are_part_of_the_plan_key() {
    let shape = [1, 2, 5, 7];
    let x = distinct(7, 70);
    let tx = tensor(&x.iter().map(|&v| v as f32).collect::<Vec<_>>(), &shape);
    for _ in 0..2 {
        for count_include_pad in [true, false, true] {
            let p = PoolParams {
                stride: [1, 1],
                padding: [1, 1],
                count_include_pad,
                ..PoolParams::avg_pool([3, 3])
            };
            let want = values(&reference(&p).forward(&x, 2, 5, 7).y);
            let label = format!("avg count_include_pad={count_include_pad}");
            assert_close(&label, &read(&tx.pool2d(p).unwrap()), &want, 1e-5, 1e-6);
        }
    }
}

#[test]
fn pool_geometry_is_a_typed_error() {
    let x = tensor(&[0.0; 2 * 9], &[1, 2, 3, 3]);
    let max = PoolParams::max_pool([2, 2]);
    let bad = [
        (
            "max_pool2d",
            PoolParams {
                kernel: [0, 2],
                ..max
            },
            "kernel",
        ),
        (
            "max_pool2d",
            PoolParams {
                stride: [1, 0],
                ..max
            },
            "stride",
        ),
        (
            "max_pool2d",
            PoolParams {
                dilation: [0, 1],
                ..max
            },
            "dilation",
        ),
        (
            "max_pool2d",
            PoolParams {
                padding: [2, 0],
                ..max
            },
            "half the kernel",
        ),
        ("max_pool2d", PoolParams::max_pool([4, 4]), "empty"),
        (
            "max_pool2d",
            PoolParams {
                dilation: [3, 3],
                ..max
            },
            "empty",
        ),
        ("avg_pool2d", PoolParams::avg_pool([5, 1]), "empty"),
        (
            "avg_pool2d",
            PoolParams {
                dilation: [2, 1],
                ..PoolParams::avg_pool([2, 2])
            },
            "dilation",
        ),
    ];
    for (op, p, says) in bad {
        let e = x.pool2d(p).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { op: o, shape, .. } if *o == op && shape == &[1, 2, 3, 3]),
            "{p:?}: {e}"
        );
        assert!(e.to_string().contains(says), "{p:?}: {e}");
    }
    assert!(tensor(&[0.0; 9], &[1, 3, 3]).pool2d(max).is_err());
    // The square forms keep their checks.
    assert!(x.max_pool2d(4, 1, 0).is_err());
    assert!(x.avg_pool2d(2, 2, 2).is_err());
}

#[test]
fn global_average_pool() {
    let x: Vec<f32> = (0..2 * 3 * 4 * 5).map(|i| i as f32).collect();
    let t = tensor(&x, &[2, 3, 4, 5]);
    let want: Vec<f64> = (0..6)
        .map(|p| (0..20).map(|i| (p * 20 + i) as f64).sum::<f64>() / 20.0)
        .collect();
    let g = t.global_avg_pool2d().unwrap();
    assert_eq!(g.shape(), &[2, 3]);
    assert_close("global avg", &read(&g), &want, 1e-6, 1e-6);
    let kept = t.global_avg_pool2d_keepdim().unwrap();
    assert_eq!(kept.shape(), &[2, 3, 1, 1]);
    assert_close("global avg keepdim", &read(&kept), &want, 1e-6, 1e-6);
}

#[test]
fn the_pooling_modules_take_every_option() {
    use shadergrad::nn::{AvgPool2d, MaxPool2d, Module};
    let max = MaxPool2d::rect([3, 2])
        .with_stride([2, 3])
        .with_padding([1, 1])
        .with_dilation([2, 3]);
    assert_eq!(max.params, named("max k3x2 s2x3 p1 d2x3"));
    let label = "nn::MaxPool2d k3x2 s2x3 p1 d2x3";
    check(label, [2, 3, 11, 10], &reference(&max.params), true, |x| {
        max.forward(x)
    });
    let avg = AvgPool2d::rect([3, 2])
        .with_stride([1, 2])
        .with_padding([1, 1])
        .with_ceil_mode(true)
        .with_count_include_pad(false);
    assert_eq!(avg.params, named("avg k3x2 s1x2 p1 ceil nopad"));
    let label = "nn::AvgPool2d k3x2 s1x2 p1 ceil nopad";
    check(label, [2, 4, 19, 23], &reference(&avg.params), true, |x| {
        avg.forward(x)
    });
    // The square form keeps PyTorch's defaults.
    assert_eq!(MaxPool2d::new(2).params, PoolParams::max_pool([2, 2]));
    assert_eq!(AvgPool2d::new(3).params, PoolParams::avg_pool([3, 3]));
}
