//! The fused elementwise kernel's workloads: a tanh-form GELU, a
//! multiply-add, and a long chain of tiny ops.

use crate::Scaled;

/// GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
pub fn gelu_tanh(x: f64) -> f64 {
    let inner = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
    0.5 * x * (1.0 + inner.tanh())
}

/// `gelu_tanh` with its scale: every term is of the size of x.
pub fn gelu_tanh_scaled(x: f64) -> Scaled {
    (gelu_tanh(x), x.abs())
}

/// x * y + z, and its two terms' sizes.
pub fn mul_add(x: f64, y: f64, z: f64) -> Scaled {
    let (term1, term2) = (x * y, z);
    (term1 + term2, term1.abs() + term2.abs())
}

/// `ops` alternating steps from x: multiply by 0.999 (even steps), add
/// 0.001 (odd steps). Each f32 step may round by half an ulp of the running
/// value, so the scale is the value's size.
pub fn chain(x: f64, ops: usize) -> Scaled {
    let y = (0..ops).fold(x, |y, k| if k % 2 == 0 { y * 0.999 } else { y + 0.001 });
    (y, y.abs())
}
