//! GPU random numbers: reproducible from a seed, and distributed as claimed.

use crate::common::*;
use shadergrad::Tensor;

fn moments(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var)
}

#[test]
fn uniform_and_normal_have_the_right_moments() {
    let n = 100_003;
    let u = read(&Tensor::rand_seeded(dev(), &[n], 7, false).unwrap());
    assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
    let (m, v) = moments(&u);
    // Standard errors: 0.29/sqrt(n) ~ 1e-3 for the mean; bounds at ~5 sigma.
    assert!(
        (m - 0.5).abs() < 5e-3 && (v - 1.0 / 12.0).abs() < 2e-3,
        "uniform mean {m} var {v}"
    );
    let z = read(&Tensor::rand_seeded(dev(), &[n], 7, true).unwrap());
    let (m, v) = moments(&z);
    assert!(
        m.abs() < 0.016 && (v - 1.0).abs() < 0.03,
        "normal mean {m} var {v}"
    );
    let tail = z.iter().filter(|x| x.abs() > 1.96).count() as f64 / n as f64;
    assert!(
        (tail - 0.05).abs() < 0.005,
        "two-sided 5% tail holds {tail}"
    );
}

#[test]
fn seeds_reproduce_and_differ() {
    let a = read(&Tensor::rand_seeded(dev(), &[1000], 42, false).unwrap());
    let b = read(&Tensor::rand_seeded(dev(), &[1000], 42, false).unwrap());
    let c = read(&Tensor::rand_seeded(dev(), &[1000], 43, false).unwrap());
    assert_eq!(a, b);
    assert!(a.iter().zip(&c).filter(|(x, y)| x == y).count() < 5);
    // Neighbouring elements are not correlated.
    let (m, _) = moments(&a);
    let lag: f64 = a
        .windows(2)
        .map(|w| (w[0] as f64 - m) * (w[1] as f64 - m))
        .sum::<f64>()
        / 999.0;
    assert!(lag.abs() < 0.01, "lag-1 covariance {lag}");
    // The device generator advances: two draws differ, a reseed repeats them.
    let d = shadergrad::Device::new().unwrap();
    d.manual_seed(5);
    let x = Tensor::rand(&d, &[8]).unwrap().to_vec::<f32>().unwrap();
    let y = Tensor::rand(&d, &[8]).unwrap().to_vec::<f32>().unwrap();
    d.manual_seed(5);
    let x2 = Tensor::rand(&d, &[8]).unwrap().to_vec::<f32>().unwrap();
    assert_ne!(x, y);
    assert_eq!(x, x2);
}
