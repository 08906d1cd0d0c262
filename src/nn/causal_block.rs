//! The decoder-only (GPT) block: pre-norm causal self-attention and
//! feed-forward, each added to the residual stream (GPT-2's layout, which
//! trains without warm-up tricks at small sizes), with a cached form for
//! incremental decoding.

use crate::device::Device;
use crate::error::Result;
use crate::nn::attention::feed_forward;
use crate::nn::kv_cache::LayerCache;
use crate::nn::{Dropout, LayerNorm, Module, MultiHeadAttention, Sequential, Stateful};
use crate::ops::AttentionMask;
use crate::tensor::Tensor;

/// x + attn(ln_1(x)), then + mlp(ln_2(x)); names as GPT-2's (`ln_1`,
/// `attn`, `ln_2`, `mlp`).
#[derive(Stateful)]
pub struct CausalBlock {
    pub ln_1: LayerNorm,
    pub attn: MultiHeadAttention,
    pub ln_2: LayerNorm,
    pub mlp: Sequential,
    pub dropout: Dropout,
}

impl CausalBlock {
    pub fn new(
        dev: &Device,
        dim: usize,
        heads: usize,
        hidden: usize,
        dropout: f64,
    ) -> Result<CausalBlock> {
        Ok(CausalBlock {
            ln_1: LayerNorm::new(dev, dim)?,
            attn: MultiHeadAttention::new(dev, dim, heads)?,
            ln_2: LayerNorm::new(dev, dim)?,
            mlp: feed_forward(dev, dim, hidden, dropout)?,
            dropout: Dropout::new(dropout)?,
        })
    }

    /// The block over new positions `x` (B, N, dim) that also attend to the
    /// cached ones, appending theirs.
    pub fn forward_cached(&self, x: &Tensor, cache: &mut LayerCache) -> Result<Tensor> {
        let a = self.attn.attend_cached(&self.ln_1.forward(x)?, cache)?;
        self.feed(&x.add(&self.dropout.forward(&a)?)?)
    }

    fn feed(&self, h: &Tensor) -> Result<Tensor> {
        let f = self.mlp.forward(&self.ln_2.forward(h)?)?;
        h.add(&self.dropout.forward(&f)?)
    }
}

impl Module for CausalBlock {
    /// Every position sees itself and those before it.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let causal = AttentionMask {
            causal: true,
            ..Default::default()
        };
        let n = self.ln_1.forward(x)?;
        let a = self.attn.attend(&n, &n, causal)?;
        self.feed(&x.add(&self.dropout.forward(&a)?)?)
    }
}
