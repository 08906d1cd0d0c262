//! The fused elementwise kernel: every unary and binary op, broadcasting,
//! comparisons, select, casts, and long fused chains, against float64.

use crate::common::*;
use shadergrad::{DType, Tensor};

type UnaryRef = fn(f64) -> f64;
type UnaryCase<'a> = (
    &'a str,
    fn(&Tensor) -> shadergrad::Result<Tensor>,
    UnaryRef,
    &'a Vec<f32>,
);
type BinaryCase = (&'static str, BinaryOp, fn(f64, f64) -> f64);
type BinaryOp = fn(&Tensor, &Tensor) -> shadergrad::Result<Tensor>;

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

fn gelu_tanh(x: f64) -> f64 {
    shadergrad_reference::elementwise::gelu_tanh(x)
}

/// Rounds half to even, like torch.round.
fn round_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

#[test]
fn unary_ops_match_float64() {
    let mut r = rng(1);
    // 2 x 65: not a multiple of any workgroup size.
    let wide = uniform(&mut r, 130, -6.0, 6.0);
    let positive = uniform(&mut r, 130, 0.01, 9.0);
    let small = uniform(&mut r, 130, -0.6, 0.6); // the series branches of tanh and erf
    let cases: Vec<UnaryCase> = vec![
        ("neg", Tensor::neg, |x| -x, &wide),
        ("exp", Tensor::exp, f64::exp, &wide),
        ("log", Tensor::log, f64::ln, &positive),
        ("sqrt", Tensor::sqrt, f64::sqrt, &positive),
        ("rsqrt", Tensor::rsqrt, |x| 1.0 / x.sqrt(), &positive),
        ("tanh", Tensor::tanh, f64::tanh, &wide),
        ("tanh small", Tensor::tanh, f64::tanh, &small),
        ("sigmoid", Tensor::sigmoid, sigmoid, &wide),
        ("relu", Tensor::relu, |x| x.max(0.0), &wide),
        ("gelu", Tensor::gelu, gelu, &wide),
        ("gelu_tanh", Tensor::gelu_tanh, gelu_tanh, &wide),
        ("silu", Tensor::silu, |x| x * sigmoid(x), &wide),
        (
            "softplus",
            |x| x.softplus(1.0, 20.0),
            |x| x.exp().ln_1p(),
            &wide,
        ),
        ("abs", Tensor::abs, f64::abs, &wide),
        (
            "sign",
            Tensor::sign,
            |x| if x == 0.0 { 0.0 } else { x.signum() },
            &wide,
        ),
        ("sin", Tensor::sin, f64::sin, &wide),
        ("cos", Tensor::cos, f64::cos, &wide),
        ("square", Tensor::square, |x| x * x, &wide),
        ("recip", Tensor::recip, |x| 1.0 / x, &positive),
        ("floor", Tensor::floor, f64::floor, &wide),
        ("ceil", Tensor::ceil, f64::ceil, &wide),
        ("erf", Tensor::erf, libm::erf, &wide),
        ("erf small", Tensor::erf, libm::erf, &small),
    ];
    for (name, op, reference, input) in cases {
        let x = tensor(input, &[2, 65]);
        let y = read(&op(&x).unwrap());
        let want: Vec<f64> = input.iter().map(|&v| reference(v as f64)).collect();
        assert_close(name, &y, &want, 1e-4, 1e-6);
    }
}

#[test]
fn round_is_half_to_even() {
    let v = [0.5f32, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6, 3.0];
    let y = read(&tensor(&v, &[8]).round().unwrap());
    let want: Vec<f64> = v.iter().map(|&x| round_even(x as f64)).collect();
    assert_close("round", &y, &want, 0.0, 0.0);
}

#[test]
fn binary_ops_broadcast_like_numpy() {
    let mut r = rng(2);
    let (sa, sb, so) = ([3usize, 1, 5], [4usize, 1], [3usize, 4, 5]);
    let a = uniform(&mut r, 15, 0.5, 3.0);
    let b = uniform(&mut r, 4, -2.0, 2.0);
    let (ta, tb) = (tensor(&a, &sa), tensor(&b, &sb));
    let at = |i: usize| {
        let c = coords(i, &so);
        (a[c[0] * 5 + c[2]] as f64, b[c[1]] as f64)
    };
    let cases: Vec<BinaryCase> = vec![
        ("add", |x, y| x.add(y), |x, y| x + y),
        ("sub", |x, y| x.sub(y), |x, y| x - y),
        ("mul", |x, y| x.mul(y), |x, y| x * y),
        ("div", |x, y| x.div(y), |x, y| x / y),
        ("pow", |x, y| x.pow(y), f64::powf),
        ("maximum", |x, y| x.maximum(y), f64::max),
        ("minimum", |x, y| x.minimum(y), f64::min),
    ];
    for (name, op, reference) in cases {
        let y = op(&ta, &tb).unwrap();
        assert_eq!(y.shape(), &so);
        let want: Vec<f64> = (0..60)
            .map(|i| {
                let (x, y) = at(i);
                reference(x, y)
            })
            .collect();
        assert_close(name, &read(&y), &want, 1e-4, 1e-6);
    }
}

#[test]
fn a_large_broadcast_covers_every_element() {
    // Large enough that a CPU adapter gives each invocation several elements
    // (and not a multiple of any workgroup): none may be skipped or repeated.
    let mut r = rng(12);
    let (rows, cols) = (1001, 307);
    let a = uniform(&mut r, rows * cols, -1.0, 1.0);
    let b = uniform(&mut r, cols, 0.5, 2.0);
    let c = uniform(&mut r, rows, -1.0, 1.0);
    let y = tensor(&a, &[rows, cols])
        .mul(&tensor(&b, &[cols]))
        .unwrap()
        .add(&tensor(&c, &[rows, 1]))
        .unwrap()
        .tanh()
        .unwrap();
    let want: Vec<f64> = (0..rows * cols)
        .map(|i| (a[i] as f64 * b[i % cols] as f64 + c[i / cols] as f64).tanh())
        .collect();
    assert_close("tanh(a * b + c)", &read(&y), &want, 1e-5, 1e-6);
}

#[test]
fn comparisons_give_bools_and_select_picks() {
    let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    let t = tensor(&a, &[7]);
    let lt = t.lt(4.0).unwrap();
    assert_eq!(lt.dtype(), DType::Bool);
    assert_eq!(lt.to_vec::<u32>().unwrap(), vec![1, 1, 1, 0, 0, 0, 0]);
    let ge = t.ge(4.0).unwrap().cast(DType::F32).unwrap();
    assert_eq!(read(&ge), vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    let near = tensor(&[1.5, 2.5, 3.5, 4.0, 5.5, 6.5, 7.5], &[7]);
    let ne = t.ne(&near).unwrap().to_vec::<u32>().unwrap();
    assert_eq!(ne, vec![1, 1, 1, 0, 1, 1, 1]);
    // select with a broadcast condition (7) against (2, 7) values.
    let other = tensor(&(0..14).map(|i| -(i as f32)).collect::<Vec<_>>(), &[2, 7]);
    let s = lt.select(&t, &other).unwrap();
    let want: Vec<f64> = (0..14)
        .map(|i| {
            if a[i % 7] < 4.0 {
                a[i % 7] as f64
            } else {
                -(i as f64)
            }
        })
        .collect();
    assert_close("select", &read(&s), &want, 0.0, 0.0);
    let both = t.gt(2.0).unwrap().logical_and(&lt).unwrap();
    assert_eq!(both.to_vec::<u32>().unwrap(), vec![0, 0, 1, 0, 0, 0, 0]);
    let either = t.le(1.0).unwrap().logical_or(&t.ge(7.0).unwrap()).unwrap();
    let not = either.logical_not().unwrap();
    assert_eq!(not.to_vec::<u32>().unwrap(), vec![0, 1, 1, 1, 1, 1, 0]);
}

#[test]
fn pow_follows_pytorch_for_negative_bases() {
    let base = tensor(&[-2.0, -2.0, -2.0, 0.0, 3.0, -1.5], &[6]);
    let exp = tensor(&[2.0, 3.0, 0.5, 0.0, -1.0, 0.0], &[6]);
    let y = read(&base.pow(&exp).unwrap());
    assert_close(
        "pow",
        &y,
        &[4.0, -8.0, f64::NAN, 1.0, 1.0 / 3.0, 1.0],
        1e-5,
        0.0,
    );
}

#[test]
fn casts_truncate_and_round_trip() {
    let v = [-2.7f32, -0.5, 0.0, 0.4, 1.9, 3.0, 100.6];
    let t = tensor(&v, &[7]);
    let i = t.cast(DType::I32).unwrap();
    assert_eq!(i.to_vec::<i32>().unwrap(), vec![-2, 0, 0, 0, 1, 3, 100]);
    let back = i.add(1).unwrap().cast(DType::F32).unwrap();
    assert_eq!(read(&back), vec![-1.0, 1.0, 1.0, 1.0, 2.0, 4.0, 101.0]);
    let b = t.cast(DType::Bool).unwrap().cast(DType::F32).unwrap();
    assert_eq!(read(&b), vec![1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
}

#[test]
fn f16_storage_rounds_like_f16() {
    if !dev().caps().f16 {
        return; // the adapter has no SHADER_F16: nothing to test
    }
    let v = [1.0f32, 1.0 / 3.0, 1000.7, -0.1, 65504.0, 1e-3, 7.0];
    let h = tensor(&v, &[7]).cast(DType::F16).unwrap();
    let got = h.to_vec::<shadergrad::f16>().unwrap();
    let want: Vec<shadergrad::f16> = v.iter().map(|&x| shadergrad::f16::from_f32(x)).collect();
    assert_eq!(got, want);
    // f16 in, compute, f16 out: one fused kernel.
    let y = h.mul(2.0).unwrap().add(1.0).unwrap();
    assert_eq!(y.dtype(), DType::F16);
    let y = y.cast(DType::F32).unwrap();
    let want: Vec<f64> = want
        .iter()
        .map(|x| (x.to_f32() as f64) * 2.0 + 1.0)
        .collect();
    assert_close("f16 affine", &read(&y), &want, 1e-3, 0.0);
    let up = Tensor::from_slice(dev(), &[shadergrad::f16::from_f32(0.5); 3], &[3]).unwrap();
    assert_eq!(read(&up.cast(DType::F32).unwrap()), vec![0.5; 3]);
}

#[test]
fn a_long_fused_chain_is_exact() {
    let mut r = rng(3);
    let v = uniform(&mut r, 33 * 17, -1.0, 1.0);
    let w = uniform(&mut r, 17, -1.0, 1.0);
    let (x, b) = (tensor(&v, &[33, 17]), tensor(&w, &[17]));
    let y = x
        .mul(1.5)
        .unwrap()
        .add(&b)
        .unwrap()
        .tanh()
        .unwrap()
        .sub(0.25)
        .unwrap()
        .square()
        .unwrap()
        .mul(&x)
        .unwrap()
        .exp()
        .unwrap()
        .maximum(0.9)
        .unwrap()
        .sqrt()
        .unwrap()
        .neg()
        .unwrap();
    let want: Vec<f64> = (0..v.len())
        .map(|i| {
            let (xv, bv) = (v[i] as f64, w[i % 17] as f64);
            let t = ((xv * 1.5 + bv).tanh() - 0.25).powi(2) * xv;
            -(t.exp().max(0.9)).sqrt()
        })
        .collect();
    assert_close("chain", &read(&y), &want, 1e-4, 1e-6);
}

#[test]
fn scalars_change_without_replanning() {
    let d = shadergrad::Device::new().unwrap();
    let x = Tensor::from_slice(&d, &[1.0f32, 2.0, 3.0], &[3]).unwrap();
    let before = d.counters();
    for k in 0..5 {
        let y = x.mul(k as f64).unwrap().add(0.5).unwrap();
        let k = k as f32;
        assert_eq!(read(&y), vec![k + 0.5, 2.0 * k + 0.5, 3.0 * k + 0.5]);
    }
    let d = d.counters() - before;
    assert!(
        d.plans_built <= 1,
        "a new constant must not build a new plan: {d:?}"
    );
}

#[test]
fn integer_arithmetic_stays_integer() {
    let a = Tensor::from_slice(dev(), &[7i32, -7, 9, 0], &[4]).unwrap();
    let b = Tensor::from_slice(dev(), &[2i32, 2, -4, 5], &[4]).unwrap();
    assert_eq!(
        a.div(&b).unwrap().to_vec::<i32>().unwrap(),
        vec![3, -3, -2, 0]
    );
    assert_eq!(
        a.mul(&b).unwrap().to_vec::<i32>().unwrap(),
        vec![14, -14, -36, 0]
    );
    assert_eq!(a.abs().unwrap().to_vec::<i32>().unwrap(), vec![7, 7, 9, 0]);
    assert_eq!(
        a.maximum(&b).unwrap().to_vec::<i32>().unwrap(),
        vec![7, 2, 9, 5]
    );
    let u = Tensor::from_slice(dev(), &[1u32, 5, 9], &[3]).unwrap();
    assert_eq!(u.add(3).unwrap().to_vec::<u32>().unwrap(), vec![4, 8, 12]);
}

#[test]
fn constructors_fill_on_the_gpu() {
    let z = Tensor::zeros(dev(), &[3, 7], DType::F32).unwrap();
    assert_eq!(read(&z), vec![0.0; 21]);
    let f = Tensor::full(dev(), &[5], -2.5, DType::F32).unwrap();
    assert_eq!(read(&f), vec![-2.5; 5]);
    let a = Tensor::arange(dev(), 1.0, 3.0, 0.25, DType::F32).unwrap();
    assert_eq!(
        read(&a),
        (0..8).map(|i| 1.0 + 0.25 * i as f32).collect::<Vec<_>>()
    );
    let ai = Tensor::arange(dev(), 5.0, -1.0, -2.0, DType::I32).unwrap();
    assert_eq!(ai.to_vec::<i32>().unwrap(), vec![5, 3, 1]);
    let o = Tensor::ones(dev(), &[2, 2], DType::I32).unwrap();
    assert_eq!(o.to_vec::<i32>().unwrap(), vec![1; 4]);
}

#[test]
fn comparisons_follow_ieee_with_nan_and_inf() {
    let nan = f32::NAN;
    let inf = f32::INFINITY;
    let v = [1.0, nan, inf, -inf, 0.0, -2.5, nan];
    let x = tensor(&v, &[7]);
    let bools = |t: shadergrad::Tensor| t.to_vec::<u32>().unwrap();
    let want = |f: &dyn Fn(f32) -> bool| v.iter().map(|&a| f(a) as u32).collect::<Vec<_>>();
    // x against itself: the case a compiler that assumes no NaN folds.
    assert_eq!(bools(x.ne(&x).unwrap()), want(&|a| a != a));
    assert_eq!(bools(x.eq(&x).unwrap()), want(&|a| a == a));
    assert_eq!(bools(x.le(&x).unwrap()), want(&|a| a <= a));
    assert_eq!(bools(x.ge(&x).unwrap()), want(&|a| a >= a));
    // Against a NaN scalar and a finite one.
    assert_eq!(bools(x.ne(f64::NAN).unwrap()), want(&|_| true));
    assert_eq!(bools(x.eq(f64::NAN).unwrap()), want(&|_| false));
    assert_eq!(bools(x.lt(0.5).unwrap()), want(&|a| a < 0.5));
    assert_eq!(bools(x.gt(0.5).unwrap()), want(&|a| a > 0.5));
    assert_eq!(bools(x.isnan().unwrap()), want(&|a| a.is_nan()));
    assert_eq!(bools(x.isinf().unwrap()), want(&|a| a.is_infinite()));
    assert_eq!(bools(x.isfinite().unwrap()), want(&|a| a.is_finite()));
    let clean = x.nan_to_num(0.0, 7.0, -7.0).unwrap();
    assert_eq!(read(&clean), vec![1.0, 0.0, 7.0, -7.0, 0.0, -2.5, 0.0]);
    // Integers have no NaN.
    let i = shadergrad::Tensor::from_slice(dev(), &[3i32, -1], &[2]).unwrap();
    assert_eq!(bools(i.isnan().unwrap()), vec![0, 0]);
    assert_eq!(bools(i.isfinite().unwrap()), vec![1, 1]);
}
