//! Fused attention (shaders/attention.wgsl): shapes checked when recorded.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{AttnParams, Op};
use crate::kernels::attention::{MAX_BATCH_HEADS, MAX_HEAD_DIM, MAX_LEN};
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
        q.same_device("attention", &[k, v])?;
        let bad = |msg: String| Error::ShapeMismatch {
            op: "attention",
            lhs: q.shape().to_vec(),
            rhs: k.shape().to_vec(),
            detail: format!(": {msg}"),
        };
        for t in [q, k, v] {
            if t.dtype() != DType::F32 || t.rank() != 4 {
                return Err(bad(format!(
                    "q, k, v must be f32 (B, H, N, D); one is {} {:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
        }
        let (qs, ks, vs) = (q.shape(), k.shape(), v.shape());
        if ks[..2] != qs[..2] || vs[..2] != qs[..2] {
            return Err(bad(format!("batch and heads differ (v is {vs:?})")));
        }
        if ks[3] != qs[3] {
            return Err(bad(format!(
                "head dims differ: q has {}, k has {}",
                qs[3], ks[3]
            )));
        }
        if vs[2] != ks[2] {
            return Err(bad(format!("k has {} keys but v has {}", ks[2], vs[2])));
        }
        let (d, dv) = (qs[3], vs[3]);
        if d == 0 || dv == 0 || d > MAX_HEAD_DIM || dv > MAX_HEAD_DIM {
            return Err(bad(format!(
                "head dims {d} and {dv} must be in 1..={MAX_HEAD_DIM}"
            )));
        }
        if qs[0] * qs[1] > MAX_BATCH_HEADS || qs[2] > MAX_LEN || ks[2] > MAX_LEN {
            return Err(bad(format!(
                "batch x heads must be at most {MAX_BATCH_HEADS} and lengths at most \
                 {MAX_LEN} (one dispatch); split the batch or the sequence"
            )));
        }
        let mut src = vec![q.contiguous()?, k.contiguous()?, v.contiguous()?];
        if let Some(lens) = mask.key_lengths {
            q.same_device("attention", &[lens])?;
            if lens.dtype() != DType::I32 || lens.shape() != [qs[0]] {
                return Err(Error::ShapeMismatch {
                    op: "attention",
                    lhs: qs.to_vec(),
                    rhs: lens.shape().to_vec(),
                    detail: format!(
                        ": key lengths must be i32 ({}), one per batch element",
                        qs[0]
                    ),
                });
            }
            src.push(lens.contiguous()?);
        }
        let params = AttnParams {
            causal: mask.causal,
            window: mask.window,
            padded: mask.key_lengths.is_some(),
        };
        let scale = scale.unwrap_or(1.0 / (d as f64).sqrt()) as f32;
        let shape = vec![qs[0], qs[1], qs[2], dv + 1];
        Tensor::check_size(q.device(), "attention", &shape, DType::F32)?;
        let packed = Tensor::record(
            q.device(),
            shape,
            DType::F32,
            Op::Attention { params, scale },
            src,
        );
        packed.narrow(-1, 0, dv)
    }
}
