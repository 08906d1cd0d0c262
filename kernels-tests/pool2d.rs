//! Max and average pooling and their gradients against float64 references
//! (checked by finite differences), odd sizes, stride and padding.

use crate::common::*;

struct Pool {
    max: bool,
    k: usize,
    s: usize,
    p: usize,
}

fn out(n: usize, pl: &Pool) -> usize {
    (n + 2 * pl.p - pl.k) / pl.s + 1
}

/// (output, index of the input element each output came from (max), or the
/// list of inputs it averages) for a (B*C, H, W) tensor.
fn forward(x: &[f64], planes: usize, h: usize, w: usize, pl: &Pool) -> (Vec<f64>, Vec<Vec<usize>>) {
    let (ho, wo) = (out(h, pl), out(w, pl));
    let mut y = Vec::new();
    let mut from = Vec::new();
    for c in 0..planes {
        for oh in 0..ho {
            for ow in 0..wo {
                let mut taps = Vec::new();
                for i in 0..pl.k {
                    for j in 0..pl.k {
                        let (ih, iw) = (
                            (oh * pl.s + i) as isize - pl.p as isize,
                            (ow * pl.s + j) as isize - pl.p as isize,
                        );
                        if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                            taps.push(c * h * w + ih as usize * w + iw as usize);
                        }
                    }
                }
                if pl.max {
                    let best = taps
                        .iter()
                        .copied()
                        .fold(taps[0], |a, b| if x[b] > x[a] { b } else { a });
                    y.push(x[best]);
                    from.push(vec![best]);
                } else {
                    y.push(taps.iter().map(|&t| x[t]).sum::<f64>() / (pl.k * pl.k) as f64);
                    from.push(taps);
                }
            }
        }
    }
    (y, from)
}

#[test]
fn pooling_and_its_gradient() {
    let mut r = rng(60);
    // The second shape is large enough that a CPU adapter gives each
    // invocation several outputs (its reference gradient is not re-checked).
    for (b, c, h, w, fd) in [(2, 3, 7, 5, true), (6, 50, 41, 37, false)] {
        for pl in [
            Pool {
                max: true,
                k: 2,
                s: 2,
                p: 0,
            },
            Pool {
                max: true,
                k: 3,
                s: 2,
                p: 1,
            },
            Pool {
                max: false,
                k: 2,
                s: 2,
                p: 0,
            },
            Pool {
                max: false,
                k: 3,
                s: 1,
                p: 1,
            },
        ] {
            // Distinct values, so a max has one argmax and differences are meaningful.
            let mut x: Vec<f64> = (0..b * c * h * w).map(|i| i as f64 * 0.01).collect();
            for i in (1..x.len()).rev() {
                let j = (uniform(&mut r, 1, 0.0, 1.0)[0] * (i + 1) as f32) as usize;
                x.swap(i, j.min(i));
            }
            let (y, from) = forward(&x, b * c, h, w, &pl);
            let u: Vec<f64> = uniform(&mut r, y.len(), -1.0, 1.0)
                .iter()
                .map(|&v| v as f64)
                .collect();
            let mut dx = vec![0.0; x.len()];
            for (o, taps) in from.iter().enumerate() {
                for &t in taps {
                    dx[t] += u[o] / if pl.max { 1.0 } else { (pl.k * pl.k) as f64 };
                }
            }
            // The reference gradient against finite differences.
            let loss = |x: &[f64]| {
                forward(x, b * c, h, w, &pl)
                    .0
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
                tx.max_pool2d(pl.k, pl.s, pl.p)
            } else {
                tx.avg_pool2d(pl.k, pl.s, pl.p)
            }
            .unwrap();
            assert_eq!(ty.shape(), &[b, c, out(h, &pl), out(w, &pl)]);
            let label = format!(
                "{} pool k{} s{} p{}",
                if pl.max { "max" } else { "avg" },
                pl.k,
                pl.s,
                pl.p
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
