//! Multi-head attention and the transformer blocks (自注意力机制, multi-head
//! attention, seq2seq's encoder and decoder), on the fused attention kernel.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::nn::kv_cache::LayerCache;
use crate::nn::{Dropout, Gelu, LayerNorm, Linear, Module, Sequential, Stateful, init, parameter};
use crate::ops::AttentionMask;
use crate::tensor::Tensor;

/// Multi-head attention laid out as `torch.nn.MultiheadAttention`, so a state
/// dict moves between the two unchanged: `in_proj_weight` (3 dim, dim) holds
/// W^q, W^k and W^v stacked in that order, `in_proj_bias` their biases,
/// `out_proj` the output projection. Inputs are batch first (PyTorch's
/// `batch_first=True`); `heads` heads of dim / heads.
#[derive(Stateful)]
pub struct MultiHeadAttention {
    pub in_proj_weight: Tensor,
    pub in_proj_bias: Tensor,
    pub out_proj: Linear,
    pub heads: usize,
}

impl MultiHeadAttention {
    /// PyTorch's initialisation: Xavier-uniform stacked projections, zero
    /// biases, the output projection a default `Linear` with a zero bias.
    pub fn new(dev: &Device, dim: usize, heads: usize) -> Result<MultiHeadAttention> {
        if heads == 0 || !dim.is_multiple_of(heads) {
            return Err(Error::InvalidArgument {
                op: "multi-head attention",
                shape: vec![dim],
                msg: format!("{dim} features do not split into {heads} heads"),
            });
        }
        let zeros = |n: usize| Tensor::zeros(dev, &[n], DType::F32);
        let w = Linear::new(dev, dim, dim)?.weight;
        Ok(MultiHeadAttention {
            in_proj_weight: parameter(init::xavier_uniform(dev, &[3 * dim, dim])?)?,
            in_proj_bias: parameter(zeros(3 * dim)?)?,
            out_proj: Linear::from_tensors(w.detach(), Some(zeros(dim)?))?,
            heads,
        })
    }

    /// x W^T + b for projection `which` (0 queries, 1 keys, 2 values): rows of
    /// the stacked weight, a view.
    fn project(&self, x: &Tensor, which: usize) -> Result<Tensor> {
        let dim = self.out_proj.weight.shape()[0];
        let w = self.in_proj_weight.narrow(0, which * dim, dim)?;
        let b = self.in_proj_bias.narrow(0, which * dim, dim)?;
        crate::nn::linear::check("multi-head attention", x, &w)?;
        x.matmul(&w.t()?)?.add(&b)
    }

    /// (B, N, dim) -> (B, heads, N, dim / heads): a view.
    fn split(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape();
        x.reshape(&[s[0], s[1], self.heads, s[2] / self.heads])?
            .permute(&[0, 2, 1, 3])
    }

    /// Queries from `x`, keys and values from `memory` (the same tensor for
    /// self-attention; the encoder's output for cross attention).
    pub fn attend(&self, x: &Tensor, memory: &Tensor, mask: AttentionMask) -> Result<Tensor> {
        let (q, k, v) = (
            self.heads(x, 0)?,
            self.heads(memory, 1)?,
            self.heads(memory, 2)?,
        );
        self.combine(&q, &k, &v, mask, x.shape())
    }

    /// Projection `which` of `x`, split into heads (B, heads, N, dim / heads).
    fn heads(&self, x: &Tensor, which: usize) -> Result<Tensor> {
        self.split(&self.project(x, which)?)
    }

    /// Attention per head, the heads joined to `shape` (B, N, dim), projected.
    fn combine(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: AttentionMask,
        shape: &[usize],
    ) -> Result<Tensor> {
        let o = Tensor::attention(q, k, v, mask, None)?;
        self.out_proj.forward(
            &o.permute(&[0, 2, 1, 3])?
                .reshape(&[shape[0], shape[1], shape[2]])?,
        )
    }

    /// Causal self-attention of new positions `x` (B, N, dim) that also sees
    /// the positions in `cache`, whose keys and values it appends: the whole
    /// prompt into an empty cache, then one token at a time.
    pub fn attend_cached(&self, x: &Tensor, cache: &mut LayerCache) -> Result<Tensor> {
        let n = x.shape().get(1).copied().unwrap_or(0);
        if !cache.is_empty() && n != 1 {
            return Err(Error::InvalidArgument {
                op: "cached attention",
                shape: x.shape().to_vec(),
                msg: format!(
                    "{n} new positions after {} cached: after the prompt, one at a time",
                    cache.len()
                ),
            });
        }
        let q = self.heads(x, 0)?;
        let (k, v) = cache.append(self.heads(x, 1)?, self.heads(x, 2)?)?;
        // One new query sees every key; a prompt (N queries, N keys) is causal.
        let mask = AttentionMask {
            causal: n > 1,
            ..Default::default()
        };
        self.combine(&q, &k, &v, mask, x.shape())
    }
}

impl Module for MultiHeadAttention {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.attend(x, x, AttentionMask::default())
    }
}

pub(crate) fn feed_forward(
    dev: &Device,
    dim: usize,
    hidden: usize,
    dropout: f64,
) -> Result<Sequential> {
    Ok(Sequential::new()
        .push(Linear::new(dev, dim, hidden)?)
        .push(Gelu)
        .push(Dropout::new(dropout)?)
        .push(Linear::new(dev, hidden, dim)?))
}

/// The encoder block: self-attention, residual, layer norm, feed-forward,
/// residual, layer norm (the "add & norm" of the notes).
#[derive(Stateful)]
pub struct EncoderBlock {
    pub attn: MultiHeadAttention,
    pub norm1: LayerNorm,
    pub ff: Sequential,
    pub norm2: LayerNorm,
    pub dropout: Dropout,
}

impl EncoderBlock {
    pub fn new(
        dev: &Device,
        dim: usize,
        heads: usize,
        hidden: usize,
        dropout: f64,
    ) -> Result<EncoderBlock> {
        Ok(EncoderBlock {
            attn: MultiHeadAttention::new(dev, dim, heads)?,
            norm1: LayerNorm::new(dev, dim)?,
            ff: feed_forward(dev, dim, hidden, dropout)?,
            norm2: LayerNorm::new(dev, dim)?,
            dropout: Dropout::new(dropout)?,
        })
    }

    /// With a mask (padding, window) on the self-attention.
    pub fn forward_masked(&self, x: &Tensor, mask: AttentionMask) -> Result<Tensor> {
        let a = self.dropout.forward(&self.attn.attend(x, x, mask)?)?;
        let h = self.norm1.forward(&x.add(&a)?)?;
        let f = self.dropout.forward(&self.ff.forward(&h)?)?;
        self.norm2.forward(&h.add(&f)?)
    }
}

impl Module for EncoderBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_masked(x, AttentionMask::default())
    }
}

/// The decoder block: masked (causal) self-attention, cross attention to the
/// encoder's output, feed-forward; each with residual and layer norm.
#[derive(Stateful)]
pub struct DecoderBlock {
    pub self_attn: MultiHeadAttention,
    pub norm1: LayerNorm,
    pub cross: MultiHeadAttention,
    pub norm2: LayerNorm,
    pub ff: Sequential,
    pub norm3: LayerNorm,
    pub dropout: Dropout,
}

impl DecoderBlock {
    pub fn new(
        dev: &Device,
        dim: usize,
        heads: usize,
        hidden: usize,
        dropout: f64,
    ) -> Result<DecoderBlock> {
        Ok(DecoderBlock {
            self_attn: MultiHeadAttention::new(dev, dim, heads)?,
            norm1: LayerNorm::new(dev, dim)?,
            cross: MultiHeadAttention::new(dev, dim, heads)?,
            norm2: LayerNorm::new(dev, dim)?,
            ff: feed_forward(dev, dim, hidden, dropout)?,
            norm3: LayerNorm::new(dev, dim)?,
            dropout: Dropout::new(dropout)?,
        })
    }

    /// `x` the decoder's input so far, `memory` the encoder's output, and the
    /// memory's key lengths (padding) if any.
    pub fn decode(
        &self,
        x: &Tensor,
        memory: &Tensor,
        memory_lengths: Option<&Tensor>,
    ) -> Result<Tensor> {
        let causal = AttentionMask {
            causal: true,
            ..Default::default()
        };
        self.decode_masked(x, causal, memory, memory_lengths)
    }

    /// `decode` with the self-attention masked by `mask` instead of
    /// causally: a non-autoregressive decoder, whose positions all see each
    /// other, masks only its padding.
    pub fn decode_masked(
        &self,
        x: &Tensor,
        mask: AttentionMask,
        memory: &Tensor,
        memory_lengths: Option<&Tensor>,
    ) -> Result<Tensor> {
        let a = self.self_attn.attend(x, x, mask)?;
        self.after_self_attention(x, a, memory, memory_lengths)
    }

    /// `decode` of new positions `x` whose self-attention also sees the
    /// positions in `cache` (and appends theirs): incremental decoding.
    pub fn decode_cached(
        &self,
        x: &Tensor,
        memory: &Tensor,
        memory_lengths: Option<&Tensor>,
        cache: &mut LayerCache,
    ) -> Result<Tensor> {
        let a = self.self_attn.attend_cached(x, cache)?;
        self.after_self_attention(x, a, memory, memory_lengths)
    }

    /// Add & norm of the self-attention `a`, cross attention, feed-forward.
    fn after_self_attention(
        &self,
        x: &Tensor,
        a: Tensor,
        memory: &Tensor,
        memory_lengths: Option<&Tensor>,
    ) -> Result<Tensor> {
        let h = self.norm1.forward(&x.add(&self.dropout.forward(&a)?)?)?;
        let cross = AttentionMask {
            key_lengths: memory_lengths,
            ..Default::default()
        };
        let c = self
            .dropout
            .forward(&self.cross.attend(&h, memory, cross)?)?;
        let h = self.norm2.forward(&h.add(&c)?)?;
        let f = self.dropout.forward(&self.ff.forward(&h)?)?;
        self.norm3.forward(&h.add(&f)?)
    }
}
