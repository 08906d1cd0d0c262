//! Fused attention (src/kernels/attention.rs): shapes checked when recorded.

use crate::error::Result;
use crate::kernels::attention::{Attention, AttnParams};
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
        let packed = Tensor::apply(Attention { params, scale }, &inputs)?;
        let dv = packed.shape()[3] - 1;
        packed.narrow(-1, 0, dv)
    }
}
