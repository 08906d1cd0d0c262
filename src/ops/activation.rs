//! Activations with parameters (ELU, SELU, softplus with beta and threshold),
//! composed from elementwise primitives: the fuser makes each one kernel with
//! what surrounds it, and the rules of where, exp and the arithmetic give the
//! gradients, so no kernel or backward rule of their own is needed.

use crate::error::{Error, Result};
use crate::graph::UnaryOp;
use crate::tensor::Tensor;

/// SELU's constants, as PyTorch has them (Klambauer et al., 2017).
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

impl Tensor {
    /// x for x > 0, alpha * (exp(x) - 1) otherwise (torch.nn.functional.elu;
    /// PyTorch's default alpha is 1). WGSL has no expm1, so near 0 the
    /// negative side is exact to about 1e-7 absolute, not relative.
    pub fn elu(&self, alpha: f64) -> Result<Tensor> {
        self.require_float("elu")?;
        require_finite(self, "elu", "alpha", alpha)?;
        self.scaled_elu(alpha, 1.0)
    }

    /// scale * elu(x, alpha) with SELU's fixed alpha and scale
    /// (torch.nn.functional.selu).
    pub fn selu(&self) -> Result<Tensor> {
        self.require_float("selu")?;
        self.scaled_elu(SELU_ALPHA, SELU_SCALE)
    }

    fn scaled_elu(&self, alpha: f64, scale: f64) -> Result<Tensor> {
        let pos = self.gt(0.0)?;
        // exp reads 0 where x > 0: the branch not taken stays finite, so its
        // zero gradient never meets exp's overflow as 0 * inf = NaN. A select
        // rather than a minimum, whose tie at 0 would halve the gradient there.
        let neg = pos.select(0.0, self)?.exp()?.sub(1.0)?.mul(alpha * scale)?;
        let lin = if scale == 1.0 {
            self.clone()
        } else {
            self.mul(scale)?
        };
        pos.select(&lin, &neg)
    }

    /// log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold
    /// (torch.nn.functional.softplus; PyTorch's defaults are beta 1 and
    /// threshold 20). Unlike PyTorch, beta must be positive and finite (a zero
    /// beta divides by zero there).
    pub fn softplus(&self, beta: f64, threshold: f64) -> Result<Tensor> {
        self.require_float("softplus")?;
        if !(beta > 0.0 && beta.is_finite()) || threshold.is_nan() {
            return Err(Error::InvalidArgument {
                op: "softplus",
                shape: self.shape().to_vec(),
                msg: format!(
                    "beta {beta} must be positive and finite, threshold {threshold} a number"
                ),
            });
        }
        let bx = if beta == 1.0 {
            self.clone()
        } else {
            self.mul(beta)?
        };
        // The primitive is overflow-free for every x, so the branch not taken
        // (and its gradient, sigmoid(beta x)) stays finite.
        let soft = bx.unary(UnaryOp::Softplus)?;
        let soft = if beta == 1.0 { soft } else { soft.div(beta)? };
        bx.gt(threshold)?.select(self, &soft)
    }
}

/// A typed error unless `v`, the op's parameter `name`, is finite.
fn require_finite(t: &Tensor, op: &'static str, name: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        op,
        shape: t.shape().to_vec(),
        msg: format!("{name} {v} is not a finite number"),
    })
}
