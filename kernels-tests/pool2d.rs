//! Max and average pooling and their gradients against the float64
//! references of shadergrad-reference (checked by finite differences), odd sizes, stride and padding.

use crate::common::*;
use shadergrad_reference::pool2d::{Pool2d, Pooled};
use shadergrad_reference::values;

fn out(axis: usize, n: usize, pl: &Pool2d) -> usize {
    pl.out(axis, n)
}

/// (output, the input elements each output came from) for a (B*C, H, W) tensor.
fn forward(x: &[f64], planes: usize, h: usize, w: usize, pl: &Pool2d) -> Pooled {
    pl.forward(x, planes, h, w)
}

#[test]
fn pooling_and_its_gradient() {
    let mut r = rng(60);
    // The second shape is large enough that a CPU adapter gives each
    // invocation several outputs (its reference gradient is not re-checked).
    for (b, c, h, w, fd) in [(2, 3, 7, 5, true), (6, 50, 41, 37, false)] {
        for pl in [
            Pool2d::square(true, 2, 2, 0),
            Pool2d::square(true, 3, 2, 1),
            Pool2d::square(false, 2, 2, 0),
            Pool2d::square(false, 3, 1, 1),
        ] {
            // Distinct values, so a max has one argmax and differences are meaningful.
            let mut x: Vec<f64> = (0..b * c * h * w).map(|i| i as f64 * 0.01).collect();
            for i in (1..x.len()).rev() {
                let j = (uniform(&mut r, 1, 0.0, 1.0)[0] * (i + 1) as f32) as usize;
                x.swap(i, j.min(i));
            }
            let pooled = forward(&x, b * c, h, w, &pl);
            let y = values(&pooled.y);
            let u: Vec<f64> = uniform(&mut r, y.len(), -1.0, 1.0)
                .iter()
                .map(|&v| v as f64)
                .collect();
            let dx = values(&pl.backward(&pooled, &u, x.len()));
            // The reference gradient against finite differences.
            let loss = |x: &[f64]| {
                values(&forward(x, b * c, h, w, &pl).y)
                    .iter()
                    .zip(&u)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            };
            for j in (0..x.len()).filter(|_| fd) {
                let (mut a, mut bb) = (x.clone(), x.clone());
                a[j] += 1e-4;
                bb[j] -= 1e-4;
                let fd = (loss(&a) - loss(&bb)) / 2e-4;
                assert!(
                    (fd - dx[j]).abs() < 1e-6,
                    "reference d/dx[{j}] {} vs {fd}",
                    dx[j]
                );
            }
            let xs: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let tx = shadergrad::nn::parameter(tensor(&xs, &[b, c, h, w])).unwrap();
            let ty = if pl.max {
                tx.max_pool2d(pl.kernel[0], pl.stride[0], pl.padding[0])
            } else {
                tx.avg_pool2d(pl.kernel[0], pl.stride[0], pl.padding[0])
            }
            .unwrap();
            assert_eq!(ty.shape(), &[b, c, out(0, h, &pl), out(1, w, &pl)]);
            let label = format!(
                "{} pool k{} s{} p{}",
                if pl.max { "max" } else { "avg" },
                pl.kernel[0],
                pl.stride[0],
                pl.padding[0]
            );
            assert_close(&label, &read(&ty), &y, 1e-5, 1e-6);
            let ut = tensor(&u.iter().map(|&v| v as f32).collect::<Vec<_>>(), ty.shape());
            ty.mul(&ut).unwrap().sum_all().unwrap().backward().unwrap();
            assert_close(
                &format!("{label} dx"),
                &read(&tx.grad().unwrap()),
                &dx,
                1e-5,
                1e-6,
            );
        }
    }
}

#[test]
fn global_average_pool() {
    let x: Vec<f32> = (0..2 * 3 * 4 * 5).map(|i| i as f32).collect();
    let g = read(&tensor(&x, &[2, 3, 4, 5]).global_avg_pool2d().unwrap());
    let want: Vec<f64> = (0..6)
        .map(|p| (0..20).map(|i| (p * 20 + i) as f64).sum::<f64>() / 20.0)
        .collect();
    assert_close("global avg", &g, &want, 1e-6, 1e-6);
}
