//! affine_grid and grid_sample (bilinear, zeros outside) against float64
//! references, and the gradients with respect to both the input and the grid
//! (through affine_grid, to theta) against finite differences.

use crate::common::*;
use shadergrad::Tensor;

fn unnorm(g: f64, n: usize, align: bool) -> f64 {
    if align {
        (g + 1.0) / 2.0 * (n - 1) as f64
    } else {
        ((g + 1.0) * n as f64 - 1.0) / 2.0
    }
}

/// Reference grid_sample for x (B, C, H, W) and grid (B, HO, WO, 2).
fn sample(x: &[f64], grid: &[f64], s: [usize; 4], ho: usize, wo: usize, align: bool) -> Vec<f64> {
    let [b, c, h, w] = s;
    let mut y = vec![0.0; b * c * ho * wo];
    for bi in 0..b {
        for p in 0..ho * wo {
            let gx = grid[(bi * ho * wo + p) * 2];
            let gy = grid[(bi * ho * wo + p) * 2 + 1];
            let (ix, iy) = (unnorm(gx, w, align), unnorm(gy, h, align));
            let (x0, y0) = (ix.floor(), iy.floor());
            for ci in 0..c {
                let mut v = 0.0;
                for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                    let (xx, yy) = (x0 + dx, y0 + dy);
                    let wgt = (1.0 - (ix - xx).abs()) * (1.0 - (iy - yy).abs());
                    if xx >= 0.0 && yy >= 0.0 && (xx as usize) < w && (yy as usize) < h {
                        v += wgt * x[((bi * c + ci) * h + yy as usize) * w + xx as usize];
                    }
                }
                y[(bi * c + ci) * ho * wo + p] = v;
            }
        }
    }
    y
}

/// Reference affine_grid: (B, 2, 3) -> (B, HO, WO, 2).
fn affine(theta: &[f64], b: usize, ho: usize, wo: usize, align: bool) -> Vec<f64> {
    let coord = |i: usize, n: usize| {
        if align {
            -1.0 + 2.0 * i as f64 / (n - 1) as f64
        } else {
            (2.0 * i as f64 + 1.0) / n as f64 - 1.0
        }
    };
    let mut g = Vec::new();
    for bi in 0..b {
        let t = &theta[bi * 6..bi * 6 + 6];
        for i in 0..ho {
            for j in 0..wo {
                let (xs, ys) = (coord(j, wo), coord(i, ho));
                g.push(t[0] * xs + t[1] * ys + t[2]);
                g.push(t[3] * xs + t[4] * ys + t[5]);
            }
        }
    }
    g
}

#[test]
fn spatial_transformer_forward_and_gradients() {
    let mut r = rng(80);
    let s = [2usize, 3, 7, 5];
    let (ho, wo) = (4, 6);
    for align in [false, true] {
        let x: Vec<f64> = uniform(&mut r, s.iter().product(), -1.0, 1.0)
            .iter()
            .map(|&v| v as f64)
            .collect();
        // Rotation, scale and shift, some samples landing outside the image;
        // irregular values, so no sample sits exactly on a pixel line (where
        // bilinear sampling has a kink and differences average two slopes).
        let theta: Vec<f64> = [
            0.913, -0.317, 0.109, 0.353, 1.123, -0.211, 1.207, 0.219, -0.313, -0.117, 0.811, 0.263,
        ]
        .to_vec();
        let y = sample(&x, &affine(&theta, 2, ho, wo, align), s, ho, wo, align);
        let u: Vec<f64> = uniform(&mut r, y.len(), -1.0, 1.0)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let loss = |x: &[f64], th: &[f64]| {
            sample(x, &affine(th, 2, ho, wo, align), s, ho, wo, align)
                .iter()
                .zip(&u)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        // Differences on the float64 reference give both gradients (bilinear
        // sampling is smooth away from pixel boundaries, which these points avoid).
        let h = 1e-6;
        let dx: Vec<f64> = (0..x.len())
            .map(|j| {
                let (mut a, mut b) = (x.clone(), x.clone());
                a[j] += h;
                b[j] -= h;
                (loss(&a, &theta) - loss(&b, &theta)) / (2.0 * h)
            })
            .collect();
        let dtheta: Vec<f64> = (0..theta.len())
            .map(|j| {
                let (mut a, mut b) = (theta.clone(), theta.clone());
                a[j] += h;
                b[j] -= h;
                (loss(&x, &a) - loss(&x, &b)) / (2.0 * h)
            })
            .collect();
        let f = |v: &[f64]| v.iter().map(|&e| e as f32).collect::<Vec<_>>();
        let tx = shadergrad::nn::parameter(tensor(&f(&x), &s)).unwrap();
        let tt = shadergrad::nn::parameter(tensor(&f(&theta), &[2, 2, 3])).unwrap();
        let grid = Tensor::affine_grid(&tt, [2, 3, ho, wo], align).unwrap();
        assert_close(
            "affine_grid",
            &read(&grid),
            &affine(&theta, 2, ho, wo, align),
            1e-5,
            1e-6,
        );
        let ty = tx.grid_sample(&grid, align).unwrap();
        assert_eq!(ty.shape(), &[2, 3, ho, wo]);
        let label = format!("grid_sample align={align}");
        assert_close(&label, &read(&ty), &y, 1e-4, 1e-5);
        ty.mul(&tensor(&f(&u), ty.shape()))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert_close(
            &format!("{label} dx"),
            &read(&tx.grad().unwrap()),
            &dx,
            1e-3,
            1e-4,
        );
        assert_close(
            &format!("{label} dtheta"),
            &read(&tt.grad().unwrap()),
            &dtheta,
            1e-3,
            1e-4,
        );
    }
}

#[test]
fn a_grid_of_the_wrong_shape_is_an_error() {
    let x = tensor(&[0.0; 2 * 3 * 4 * 4], &[2, 3, 4, 4]);
    let bad = tensor(&[0.0; 2 * 4 * 4 * 3], &[2, 4, 4, 3]);
    assert!(matches!(
        x.grid_sample(&bad, false),
        Err(shadergrad::Error::ShapeMismatch {
            op: "grid_sample",
            ..
        })
    ));
    let theta = tensor(&[0.0; 6], &[1, 2, 3]);
    assert!(Tensor::affine_grid(&theta, [2, 1, 4, 4], false).is_err());
}
