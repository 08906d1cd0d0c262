//! Multi-head attention and the transformer blocks (自注意力机制, multi-head
//! attention, seq2seq's encoder and decoder), on the fused attention kernel.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{Dropout, Gelu, LayerNorm, Linear, Module, Sequential};
use crate::ops::AttentionMask;
use crate::tensor::Tensor;

/// W^q, W^k, W^v and the output projection, `heads` heads of dim / heads.
pub struct MultiHeadAttention {
    pub wq: Linear,
    pub wk: Linear,
    pub wv: Linear,
    pub wo: Linear,
    pub heads: usize,
}

impl MultiHeadAttention {
    pub fn new(dev: &Device, dim: usize, heads: usize) -> Result<MultiHeadAttention> {
        if heads == 0 || !dim.is_multiple_of(heads) {
            return Err(Error::InvalidArgument {
                op: "multi-head attention",
                shape: vec![dim],
                msg: format!("{dim} features do not split into {heads} heads"),
            });
        }
        Ok(MultiHeadAttention {
            wq: Linear::new(dev, dim, dim)?,
            wk: Linear::new(dev, dim, dim)?,
            wv: Linear::new(dev, dim, dim)?,
            wo: Linear::new(dev, dim, dim)?,
            heads,
        })
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
        let q = self.split(&self.wq.forward(x)?)?;
        let k = self.split(&self.wk.forward(memory)?)?;
        let v = self.split(&self.wv.forward(memory)?)?;
        let o = Tensor::attention(&q, &k, &v, mask, None)?;
        let s = x.shape();
        self.wo
            .forward(&o.permute(&[0, 2, 1, 3])?.reshape(&[s[0], s[1], s[2]])?)
    }
}

impl Module for MultiHeadAttention {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.attend(x, x, AttentionMask::default())
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        for (n, l) in [
            ("q", &self.wq),
            ("k", &self.wk),
            ("v", &self.wv),
            ("out", &self.wo),
        ] {
            v.extend(prefixed(n, l));
        }
        v
    }
}

fn feed_forward(dev: &Device, dim: usize, hidden: usize, dropout: f64) -> Result<Sequential> {
    Ok(Sequential::new()
        .push(Linear::new(dev, dim, hidden)?)
        .push(Gelu)
        .push(Dropout::new(dropout)?)
        .push(Linear::new(dev, hidden, dim)?))
}

fn prefixed(prefix: &str, m: &dyn Module) -> Vec<(String, Tensor)> {
    crate::nn::prefixed(prefix, m.named_parameters())
}

/// The encoder block: self-attention, residual, layer norm, feed-forward,
/// residual, layer norm (the "add & norm" of the notes).
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

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = prefixed("attn", &self.attn);
        v.extend(prefixed("norm1", &self.norm1));
        v.extend(prefixed("ff", &self.ff));
        v.extend(prefixed("norm2", &self.norm2));
        v
    }

    fn set_training(&self, on: bool) {
        self.ff.set_training(on);
        self.dropout.set_training(on);
    }
}

/// The decoder block: masked (causal) self-attention, cross attention to the
/// encoder's output, feed-forward; each with residual and layer norm.
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
        let a = self
            .dropout
            .forward(&self.self_attn.attend(x, x, causal)?)?;
        let h = self.norm1.forward(&x.add(&a)?)?;
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

    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = prefixed("self_attn", &self.self_attn);
        v.extend(prefixed("norm1", &self.norm1));
        v.extend(prefixed("cross", &self.cross));
        v.extend(prefixed("norm2", &self.norm2));
        v.extend(prefixed("ff", &self.ff));
        v.extend(prefixed("norm3", &self.norm3));
        v
    }

    pub fn set_training(&self, on: bool) {
        self.ff.set_training(on);
        self.dropout.set_training(on);
    }
}
