//! Fused attention (src/kernels/attention.rs): shapes checked when recorded.
//! On a device whose stages bind fewer storage buffers than the fused kernels
//! need, the same maths composed of matmul, softmax and masks.

use crate::dtype::DType;
use crate::error::Result;
use crate::kernels::attention::{Attention, AttnParams, ROWS_STORAGE};
use crate::tensor::Tensor;

/// Which keys each query may attend to.
#[derive(Clone, Copy, Debug, Default)]
pub struct AttentionMask<'a> {
    /// Query i sees keys 0..=i (top-left aligned, as PyTorch's is_causal).
    pub causal: bool,
    /// Query i sees keys within +-window of i (local attention).
    pub window: Option<usize>,
    /// Per batch element, how many keys are real (the rest are padding): (B) i32.
    pub key_lengths: Option<&'a Tensor>,
}

impl Tensor {
    /// softmax(Q K^T * scale + mask) V for Q (B, H, Nq, D), K (B, H, Nk, D),
    /// V (B, H, Nk, Dv), in one kernel that never writes the Nq x Nk scores;
    /// `scale` defaults to 1/sqrt(D). Differentiable in Q, K and V.
    pub fn attention(
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: AttentionMask,
        scale: Option<f64>,
    ) -> Result<Tensor> {
        let params = AttnParams {
            causal: mask.causal,
            window: mask.window,
            padded: mask.key_lengths.is_some(),
        };
        let d = q.shape().last().copied().unwrap_or(1).max(1);
        let scale = scale.unwrap_or(1.0 / (d as f64).sqrt()) as f32;
        let mut inputs = vec![q, k, v];
        inputs.extend(mask.key_lengths);
        let kernel = Attention { params, scale };
        if q.device().limits().max_storage_buffers_per_shader_stage < ROWS_STORAGE {
            Tensor::kernel_output(&kernel, &inputs)?;
            return composed(q, k, v, mask, scale);
        }
        let packed = Tensor::apply(kernel, &inputs)?;
        let dv = packed.shape()[3] - 1;
        packed.narrow(-1, 0, dv)
    }
}

/// softmax(Q K^T * scale + mask) V as separate ops; a query that sees no key
/// gives 0, as the fused kernel does.
fn composed(q: &Tensor, k: &Tensor, v: &Tensor, mask: AttentionMask, scale: f32) -> Result<Tensor> {
    let scores = q.matmul(&k.transpose(-1, -2)?)?.mul(scale as f64)?;
    let Some(seen) = visible(q, k, mask)? else {
        return scores.softmax(-1)?.matmul(v);
    };
    // A large finite fill, not -inf: a row with no key softmaxes to uniform
    // (then zeroed), never to NaN, and its gradient stays finite.
    let p = scores
        .masked_fill(&seen.logical_not()?, -1e30)?
        .softmax(-1)?;
    p.mul(&seen.cast(DType::F32)?)?.matmul(v)
}

/// Which keys each query sees, broadcastable to (B, H, Nq, Nk); None: all.
fn visible(q: &Tensor, k: &Tensor, mask: AttentionMask) -> Result<Option<Tensor>> {
    let dev = q.device();
    let (nq, nk) = (q.shape()[2], k.shape()[2]);
    let i = Tensor::arange(dev, 0.0, nq as f64, 1.0, DType::I32)?.reshape(&[nq, 1])?;
    let j = Tensor::arange(dev, 0.0, nk as f64, 1.0, DType::I32)?.reshape(&[1, nk])?;
    let mut seen: Option<Tensor> = None;
    let mut and = |m: Tensor| -> Result<()> {
        seen = Some(match seen.take() {
            Some(s) => s.logical_and(&m)?,
            None => m,
        });
        Ok(())
    };
    if mask.causal {
        and(j.le(&i)?)?;
    }
    if let Some(w) = mask.window {
        and(i.sub(&j)?.abs()?.le(w as f64)?)?;
    }
    if let Some(lens) = mask.key_lengths {
        let b = lens.shape()[0];
        and(j
            .reshape(&[1, 1, 1, nk])?
            .lt(&lens.reshape(&[b, 1, 1, 1])?)?)?;
    }
    Ok(seen)
}
