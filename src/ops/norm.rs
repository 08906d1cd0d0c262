//! Layer norm and RMSNorm over the last axis (shaders/layernorm.wgsl): on
//! software adapters the forward is one kernel, a subgroup per row; elsewhere
//! a statistics kernel and a fused elementwise one. The backward is a
//! reduction and a fused elementwise kernel, the gradient in closed form.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::Op;
use crate::tensor::Tensor;

impl Tensor {
    fn norm(&self, gamma: &Tensor, beta: Option<&Tensor>, eps: f64, rms: bool) -> Result<Tensor> {
        let op = if rms { "rms_norm" } else { "layer_norm" };
        self.same_device(op, &[gamma])?;
        let c = *self.shape().last().unwrap_or(&0);
        if self.dtype() != DType::F32 || self.rank() == 0 || c == 0 {
            return Err(Error::InvalidArgument {
                op,
                shape: self.shape().to_vec(),
                msg: "needs an f32 tensor with a non-empty last axis".into(),
            });
        }
        for p in std::iter::once(gamma).chain(beta) {
            if p.shape() != [c] {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: self.shape().to_vec(),
                    rhs: p.shape().to_vec(),
                    detail: format!(": weight and bias need {c} values (the last axis)"),
                });
            }
        }
        let x = self.contiguous()?;
        let rows = x.numel() / c;
        if crate::kernels::matmul::lanes(self.device()).is_some() {
            // Software adapters: the whole forward in one kernel.
            let mut src = vec![x, gamma.clone()];
            src.extend(beta.cloned());
            return Ok(Tensor::record(
                self.device(),
                self.shape().to_vec(),
                DType::F32,
                Op::LnRows {
                    rms,
                    eps: eps as f32,
                },
                src,
            ));
        }
        let stats = {
            let _g = crate::autodiff::no_grad();
            Tensor::record(
                self.device(),
                vec![rows, 2],
                DType::F32,
                Op::LnStats {
                    rms,
                    eps: eps as f32,
                },
                vec![x.clone()],
            )
        };
        let mut src = vec![x, gamma.clone()];
        if let Some(b) = beta {
            src.push(b.clone());
        }
        src.push(stats);
        Ok(Tensor::record(
            self.device(),
            self.shape().to_vec(),
            DType::F32,
            Op::LnApply { rms },
            src,
        ))
    }

    /// (x - mean) / sqrt(var + eps) * gamma + beta over the last axis.
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
        self.same_device("layer_norm", &[beta])?;
        self.norm(gamma, Some(beta), eps, false)
    }

    /// x / sqrt(mean(x^2) + eps) * gamma over the last axis.
    pub fn rms_norm(&self, gamma: &Tensor, eps: f64) -> Result<Tensor> {
        self.norm(gamma, None, eps, true)
    }
}
