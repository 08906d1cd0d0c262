//! affine_grid and grid_sample (bilinear, zeros outside) against the float64
//! references of shadergrad-reference, and the gradients with respect to both the input and the grid
//! (through affine_grid, to theta) against finite differences.

use crate::common::*;
use shadergrad::Tensor;
use shadergrad_reference::grid_sample::{GridSample, affine_grid, affine_grid_backward};
use shadergrad_reference::values;

fn geometry(s: [usize; 4], ho: usize, wo: usize, align: bool) -> GridSample {
    let [batch, channels, h, w] = s;
    GridSample {
        batch,
        channels,
        h,
        w,
        ho,
        wo,
        align_corners: align,
    }
}

/// Reference grid_sample for x (B, C, H, W) and grid (B, HO, WO, 2).
fn sample(x: &[f64], grid: &[f64], s: [usize; 4], ho: usize, wo: usize, align: bool) -> Vec<f64> {
    values(&geometry(s, ho, wo, align).forward(x, grid))
}

/// Reference affine_grid: (B, 2, 3) -> (B, HO, WO, 2).
fn affine(theta: &[f64], b: usize, ho: usize, wo: usize, align: bool) -> Vec<f64> {
    affine_grid(theta, b, ho, wo, align)
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
        // The reference's own gradients (dtheta through affine_grid's)
        // against the differences; the GPU's are checked against both.
        let grid = affine(&theta, 2, ho, wo, align);
        let grads = geometry(s, ho, wo, align).backward(&x, &grid, &u);
        let dtheta_ref = affine_grid_backward(&values(&grads.dgrid), 2, ho, wo, align);
        let dx_ref = values(&grads.dx);
        assert_matches_differences(&format!("reference dx align={align}"), &dx_ref, &dx);
        assert_matches_differences(
            &format!("reference dtheta align={align}"),
            &dtheta_ref,
            &dtheta,
        );
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
            &dx_ref,
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
