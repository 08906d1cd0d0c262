//! conv2d forward and both gradients, every version, against the float64
//! references of shadergrad-reference (the reference gradients checked by finite differences), on odd
//! sizes: batch 1, 3 channels, 7x5 images, stride 2 with padding 1, dilation 2,
//! groups 3, depthwise.

use crate::common::*;
use shadergrad::{ConvParams, ConvVariant, Device, Tensor, Tuning};
use shadergrad_reference::conv2d::Conv2d;
use shadergrad_reference::values;

struct Geo {
    b: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: [usize; 2],
    p: ConvParams,
}

impl Geo {
    fn out(&self) -> (usize, usize) {
        self.reference().out()
    }

    /// The float64 reference of this geometry.
    fn reference(&self) -> Conv2d {
        Conv2d {
            batch: self.b,
            cin: self.cin,
            cout: self.cout,
            h: self.h,
            w: self.w,
            kernel: self.k,
            stride: self.p.stride,
            padding: self.p.padding,
            dilation: self.p.dilation,
            groups: self.p.groups,
        }
    }

    fn forward(&self, x: &[f64], w: &[f64]) -> Vec<f64> {
        values(&self.reference().forward(x, w))
    }

    /// The reference gradients (dx, dw) for upstream dy.
    fn backward(&self, x: &[f64], w: &[f64], dy: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let r = self.reference();
        (values(&r.grad_input(w, dy)), values(&r.grad_weight(x, dy)))
    }
}

fn cases() -> Vec<Geo> {
    let p = |s: usize, pad: usize, d: usize, g: usize| ConvParams {
        stride: [s; 2],
        padding: [pad; 2],
        dilation: [d; 2],
        groups: g,
    };
    vec![
        Geo {
            b: 1,
            cin: 3,
            cout: 4,
            h: 7,
            w: 5,
            k: [3, 3],
            p: p(1, 1, 1, 1),
        },
        Geo {
            b: 2,
            cin: 3,
            cout: 5,
            h: 7,
            w: 5,
            k: [3, 3],
            p: p(2, 1, 1, 1),
        },
        Geo {
            b: 1,
            cin: 3,
            cout: 3,
            h: 7,
            w: 5,
            k: [3, 2],
            p: p(1, 2, 2, 1),
        },
        Geo {
            b: 2,
            cin: 6,
            cout: 9,
            h: 7,
            w: 5,
            k: [3, 3],
            p: p(2, 1, 1, 3),
        },
        Geo {
            b: 2,
            cin: 3,
            cout: 3,
            h: 7,
            w: 5,
            k: [3, 3],
            p: p(1, 1, 1, 3),
        }, // depthwise
        Geo {
            b: 3,
            cin: 4,
            cout: 2,
            h: 6,
            w: 6,
            k: [1, 1],
            p: p(1, 0, 1, 1),
        }, // pointwise
        // Many tiles: more output channels than a tile or a lanes block, more
        // positions than a tile, and enough for a split weight gradient.
        Geo {
            b: 6,
            cin: 5,
            cout: 70,
            h: 27,
            w: 26,
            k: [3, 3],
            p: p(1, 1, 1, 1),
        },
    ]
}

#[test]
fn reference_gradients_match_finite_differences() {
    let mut r = rng(50);
    for geo in cases().iter().take(5) {
        let x: Vec<f64> = uniform(&mut r, geo.b * geo.cin * geo.h * geo.w, -1.0, 1.0)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let w: Vec<f64> = uniform(
            &mut r,
            geo.cout * geo.cin / geo.p.groups * geo.k[0] * geo.k[1],
            -1.0,
            1.0,
        )
        .iter()
        .map(|&v| v as f64)
        .collect();
        let n = geo.forward(&x, &w).len();
        let u: Vec<f64> = uniform(&mut r, n, -1.0, 1.0)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let (dx, dw) = geo.backward(&x, &w, &u);
        let loss = |x: &[f64], w: &[f64]| {
            geo.forward(x, w)
                .iter()
                .zip(&u)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        let h = 1e-6;
        for j in 0..x.len() {
            let (mut a, mut b) = (x.clone(), x.clone());
            a[j] += h;
            b[j] -= h;
            let fd = (loss(&a, &w) - loss(&b, &w)) / (2.0 * h);
            assert!((fd - dx[j]).abs() < 1e-6, "dx[{j}]: {} vs {fd}", dx[j]);
        }
        for j in 0..w.len() {
            let (mut a, mut b) = (w.clone(), w.clone());
            a[j] += h;
            b[j] -= h;
            let fd = (loss(&x, &a) - loss(&x, &b)) / (2.0 * h);
            assert!((fd - dw[j]).abs() < 1e-6, "dw[{j}]: {} vs {fd}", dw[j]);
        }
    }
}

fn check(variant: ConvVariant) {
    let d = Device::new().unwrap();
    d.set_tuning(Tuning {
        poison: true,
        ..d.tuning()
    });
    d.set_tuning(Tuning {
        conv: Some(variant),
        ..d.tuning()
    });
    let mut r = rng(51);
    for geo in cases() {
        let x = uniform(&mut r, geo.b * geo.cin * geo.h * geo.w, -1.0, 1.0);
        let w = uniform(
            &mut r,
            geo.cout * geo.cin / geo.p.groups * geo.k[0] * geo.k[1],
            -1.0,
            1.0,
        );
        let bias = uniform(&mut r, geo.cout, -1.0, 1.0);
        let (xd, wd): (Vec<f64>, Vec<f64>) = (
            x.iter().map(|&v| v as f64).collect(),
            w.iter().map(|&v| v as f64).collect(),
        );
        let (ho, wo) = geo.out();
        // Absolute tolerance from the number of unit-sized terms each output
        // sums (a float32 sum of n of them is off by up to about n * 6e-8).
        let kk = geo.k[0] * geo.k[1];
        let tol = |terms: usize| (terms as f64 * 6e-8).max(1e-5);
        let (t_y, t_dx, t_dw) = (
            geo.cin / geo.p.groups * kk,
            geo.cout / geo.p.groups * kk,
            geo.b * ho * wo,
        );
        let label = format!(
            "{} conv b{} {}->{} {}x{} k{:?} {:?}",
            variant.name(),
            geo.b,
            geo.cin,
            geo.cout,
            geo.h,
            geo.w,
            geo.k,
            geo.p
        );
        let tx = shadergrad::nn::parameter(
            Tensor::from_slice(&d, &x, &[geo.b, geo.cin, geo.h, geo.w]).unwrap(),
        )
        .unwrap();
        let tw = shadergrad::nn::parameter(
            Tensor::from_slice(
                &d,
                &w,
                &[geo.cout, geo.cin / geo.p.groups, geo.k[0], geo.k[1]],
            )
            .unwrap(),
        )
        .unwrap();
        let tb =
            shadergrad::nn::parameter(Tensor::from_slice(&d, &bias, &[geo.cout]).unwrap()).unwrap();
        let y = tx.conv2d(&tw, Some(&tb), geo.p).unwrap();
        assert_eq!(y.shape(), &[geo.b, geo.cout, ho, wo]);
        let mut want = geo.forward(&xd, &wd);
        for (i, v) in want.iter_mut().enumerate() {
            *v += bias[(i / (ho * wo)) % geo.cout] as f64;
        }
        let u = uniform(&mut r, want.len(), -1.0, 1.0);
        let ud: Vec<f64> = u.iter().map(|&v| v as f64).collect();
        let ut = Tensor::from_slice(&d, &u, y.shape()).unwrap();
        y.mul(&ut).unwrap().sum_all().unwrap().backward().unwrap();
        assert_close(&label, &y.to_vec::<f32>().unwrap(), &want, 1e-4, tol(t_y));
        let (dx, dw) = geo.backward(&xd, &wd, &ud);
        assert_close(
            &format!("{label} dx"),
            &tx.grad().unwrap().to_vec::<f32>().unwrap(),
            &dx,
            1e-4,
            tol(t_dx),
        );
        assert_close(
            &format!("{label} dw"),
            &tw.grad().unwrap().to_vec::<f32>().unwrap(),
            &dw,
            1e-4,
            tol(t_dw),
        );
        let db: Vec<f64> = (0..geo.cout)
            .map(|o| {
                (0..ud.len())
                    .filter(|i| (i / (ho * wo)) % geo.cout == o)
                    .map(|i| ud[i])
                    .sum()
            })
            .collect();
        assert_close(
            &format!("{label} db"),
            &tb.grad().unwrap().to_vec::<f32>().unwrap(),
            &db,
            1e-4,
            tol(t_dw),
        );
    }
}

#[test]
fn lanes_version() {
    if !shadergrad::MatmulVariant::available(&Device::new().unwrap())
        .contains(&shadergrad::MatmulVariant::Lanes)
    {
        return;
    }
    check(ConvVariant::Lanes);
}

#[test]
fn tiled_version() {
    check(ConvVariant::Tiled);
}

#[test]
fn direct_version() {
    check(ConvVariant::Direct);
}

#[test]
fn bad_geometry_is_a_typed_error() {
    let x = tensor(&[0.0; 3 * 5 * 5], &[1, 3, 5, 5]);
    let w = |s: &[usize]| Tensor::zeros(dev(), s, shadergrad::DType::F32).unwrap();
    let p = ConvParams::default();
    let e = x.conv2d(&w(&[4, 3, 7, 7]), None, p).unwrap_err();
    assert!(
        e.to_string().contains("larger than the padded input"),
        "{e}"
    );
    let e = x
        .conv2d(&w(&[4, 1, 3, 3]), None, ConvParams { groups: 2, ..p })
        .unwrap_err();
    assert!(e.to_string().contains("not divisible"), "{e}");
    assert!(x.conv2d(&w(&[4, 2, 3, 3]), None, p).is_err());
    assert!(x.conv2d(&w(&[4, 3, 3, 3]), Some(&w(&[5])), p).is_err());
    assert!(x.max_pool2d(7, 1, 0).is_err());
    assert!(x.max_pool2d(2, 2, 2).is_err());
}
