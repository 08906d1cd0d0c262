//! Activations with parameters, as PyTorch defines them, and their derivatives.

/// SELU's alpha and scale, as PyTorch has them.
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
pub const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// x for x > 0, alpha * (e^x - 1) otherwise.
pub fn elu(x: f64, alpha: f64) -> f64 {
    if x > 0.0 { x } else { alpha * x.exp_m1() }
}

/// d elu / dx: 1 for x > 0, alpha * e^x otherwise (PyTorch's side at 0).
pub fn elu_grad(x: f64, alpha: f64) -> f64 {
    if x > 0.0 { 1.0 } else { alpha * x.exp() }
}

pub fn selu(x: f64) -> f64 {
    SELU_SCALE * elu(x, SELU_ALPHA)
}

pub fn selu_grad(x: f64) -> f64 {
    SELU_SCALE * elu_grad(x, SELU_ALPHA)
}

/// log(1 + e^(beta x)) / beta, or x where beta x > threshold.
pub fn softplus(x: f64, beta: f64, threshold: f64) -> f64 {
    let bx = beta * x;
    if bx > threshold {
        x
    } else {
        // log(1 + e^bx) without overflow: max(bx, 0) + log1p(e^-|bx|).
        (bx.max(0.0) + (-bx.abs()).exp().ln_1p()) / beta
    }
}

/// d softplus / dx: sigmoid(beta x), or 1 where beta x > threshold.
pub fn softplus_grad(x: f64, beta: f64, threshold: f64) -> f64 {
    let bx = beta * x;
    if bx > threshold {
        1.0
    } else {
        1.0 / (1.0 + (-bx).exp())
    }
}
