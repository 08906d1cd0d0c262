//! The tour's transformers in float64, built from the attention, layer norm
//! and linear references: the encoder-decoder of seq2seq (post-norm blocks,
//! sinusoidal positions, padding masks from the lengths) and GPT (pre-norm
//! causal blocks, learned positions). Parameters come by their state-dict
//! names (`encoder.0.attn.in_proj_weight`), so the layout is the engine
//! modules' without sharing their code. Dropout is left out: the benchmark's
//! models have none.

use std::collections::HashMap;

use crate::attention::Attention;
use crate::layernorm::Norm;
use crate::matmul::linear as linear_scaled;
use crate::values;

/// Parameters by state-dict name, row-major as the engine stores them.
pub type Params = HashMap<String, Vec<f64>>;

fn get<'a>(p: &'a Params, name: &str) -> &'a [f64] {
    p.get(name)
        .unwrap_or_else(|| panic!("the reference needs parameter {name}"))
}

/// x (rows, inputs) through `{name}.weight` (outputs, inputs) and `{name}.bias`.
fn linear(p: &Params, name: &str, x: &[f64], inputs: usize) -> Vec<f64> {
    let (w, b) = (
        get(p, &format!("{name}.weight")),
        get(p, &format!("{name}.bias")),
    );
    values(&linear_scaled(x, x.len() / inputs, w, b, inputs))
}

/// Layer norm over rows of `dim` (the engine's eps, 1e-5).
fn layer_norm(p: &Params, name: &str, x: &[f64], dim: usize) -> Vec<f64> {
    let (g, b) = (
        get(p, &format!("{name}.weight")),
        get(p, &format!("{name}.bias")),
    );
    let norm = Norm {
        cols: dim,
        rms: false,
        eps: 1e-5,
    };
    values(&norm.forward(x, g, Some(b)))
}

fn add(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// erf: its Maclaurin series below 2.5 (terms at most ~500, so ~1e-13 lost
/// to cancellation), the continued fraction of erfc above (exact to ~1e-16
/// at 60 levels there).
pub fn erf(x: f64) -> f64 {
    let a = x.abs();
    let v = if a < 2.5 {
        let (mut term, mut sum, mut n) = (a, a, 0.0);
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -a * a / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let mut f = a;
        for k in (1..=60).rev() {
            f = a + (k as f64 / 2.0) / f;
        }
        1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
    };
    v.copysign(x)
}

/// GELU, the exact (erf) form the engine's `gelu` computes.
pub fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

/// A batch of sequences: `batch` rows of `n` positions of `dim` features.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub batch: usize,
    pub n: usize,
    pub dim: usize,
    pub heads: usize,
}

/// Multi-head attention `name` (stacked `in_proj_*`, `out_proj`): queries
/// from x (batch, nq, dim), keys and values from mem (batch, nk, dim).
fn attend(p: &Params, name: &str, x: &[f64], mem: &[f64], s: Shape, mask: Mask) -> Vec<f64> {
    let (d, h) = (s.dim, s.heads);
    let dh = d / h;
    let (nq, nk) = (x.len() / (s.batch * d), mem.len() / (s.batch * d));
    let (w, b) = (
        get(p, &format!("{name}.in_proj_weight")),
        get(p, &format!("{name}.in_proj_bias")),
    );
    // Projection `which` of src, split into heads: (batch, heads, n, dh).
    let heads = |which: usize, src: &[f64], n: usize| {
        let rows = values(&linear_scaled(
            src,
            s.batch * n,
            &w[which * d * d..(which + 1) * d * d],
            &b[which * d..(which + 1) * d],
            d,
        ));
        let mut out = vec![0.0; rows.len()];
        for (e, v) in rows.into_iter().enumerate() {
            let (bi, i, c) = (e / (n * d), e / d % n, e % d);
            out[((bi * h + c / dh) * n + i) * dh + c % dh] = v;
        }
        out
    };
    let (q, k, v) = (heads(0, x, nq), heads(1, mem, nk), heads(2, mem, nk));
    let att = Attention {
        batch: s.batch,
        heads: h,
        nq,
        nk,
        d: dh,
        dv: dh,
        causal: mask.causal,
        window: None,
        key_lengths: mask.key_lengths.map(<[usize]>::to_vec),
    };
    let o = values(&att.forward(&q, &k, &v));
    // Heads joined back to (batch, nq, dim), then projected.
    let mut joined = vec![0.0; o.len()];
    for (e, v) in o.into_iter().enumerate() {
        let (bh, i, c) = (e / (nq * dh), e / dh % nq, e % dh);
        joined[((bh / h) * nq + i) * d + (bh % h) * dh + c] = v;
    }
    linear(p, &format!("{name}.out_proj"), &joined, d)
}

/// Which keys a query sees.
#[derive(Clone, Copy, Default)]
struct Mask<'a> {
    causal: bool,
    key_lengths: Option<&'a [usize]>,
}

/// The feed-forward `name`: linear (`0`), GELU, linear (`3`), as the
/// engine's Sequential numbers them (dropout at 2).
fn feed_forward(p: &Params, name: &str, x: &[f64], dim: usize) -> Vec<f64> {
    let hidden = get(p, &format!("{name}.0.bias")).len();
    let h: Vec<f64> = linear(p, &format!("{name}.0"), x, dim)
        .into_iter()
        .map(gelu)
        .collect();
    linear(p, &format!("{name}.3"), &h, hidden)
}

/// Token embeddings `table` of ids, plus a position table (n, dim) per row.
fn embed(table: &[f64], ids: &[i32], pos: &[f64], s: Shape) -> Vec<f64> {
    let d = s.dim;
    (0..ids.len() * d)
        .map(|e| table[ids[e / d] as usize * d + e % d] + pos[(e / d % s.n) * d + e % d])
        .collect()
}

/// PE(i, 2j) = sin(i / 10000^(2j/d)), PE(i, 2j+1) = cos(the same).
pub fn sinusoidal(positions: usize, dim: usize) -> Vec<f64> {
    (0..positions * dim)
        .map(|e| {
            let (i, c) = (e / dim, e % dim);
            let angle = i as f64 / 10000f64.powf((c / 2 * 2) as f64 / dim as f64);
            if c % 2 == 0 { angle.sin() } else { angle.cos() }
        })
        .collect()
}

/// The seq2seq model's logits (batch tgt_width, vocab) for sources `src`
/// (batch, src_width) of lengths `src_lens` and decoder inputs `tgt`
/// (batch, tgt_width), with `layers` (encoder, decoder) blocks.
pub fn seq2seq_logits(
    p: &Params,
    (dim, heads, layers): (usize, usize, (usize, usize)),
    (src, src_lens): (&[i32], &[usize]),
    tgt: &[i32],
    tgt_width: usize,
) -> Vec<f64> {
    let batch = src_lens.len();
    let es = Shape {
        batch,
        n: src.len() / batch,
        dim,
        heads,
    };
    let ds = Shape { n: tgt_width, ..es };
    let pad = Mask {
        causal: false,
        key_lengths: Some(src_lens),
    };
    let pe = sinusoidal(es.n.max(ds.n), dim);
    let mut x = embed(get(p, "src_embed.weight"), src, &pe, es);
    for l in 0..layers.0 {
        let b = format!("encoder.{l}");
        let a = attend(p, &format!("{b}.attn"), &x, &x, es, pad);
        let h = layer_norm(p, &format!("{b}.norm1"), &add(&x, &a), dim);
        let f = feed_forward(p, &format!("{b}.ff"), &h, dim);
        x = layer_norm(p, &format!("{b}.norm2"), &add(&h, &f), dim);
    }
    let mut y = embed(get(p, "tgt_embed.weight"), tgt, &pe, ds);
    let causal = Mask {
        causal: true,
        key_lengths: None,
    };
    for l in 0..layers.1 {
        let b = format!("decoder.{l}");
        let a = attend(p, &format!("{b}.self_attn"), &y, &y, ds, causal);
        let h = layer_norm(p, &format!("{b}.norm1"), &add(&y, &a), dim);
        let c = attend(p, &format!("{b}.cross"), &h, &x, ds, pad);
        let h = layer_norm(p, &format!("{b}.norm2"), &add(&h, &c), dim);
        let f = feed_forward(p, &format!("{b}.ff"), &h, dim);
        y = layer_norm(p, &format!("{b}.norm3"), &add(&h, &f), dim);
    }
    linear(p, "out", &y, dim)
}

/// GPT's logits (batch n, vocab) for ids (batch, n): `layers` pre-norm
/// causal blocks (`h.{l}`), `ln_f`, `lm_head`.
pub fn gpt_logits(p: &Params, s: Shape, layers: usize, ids: &[i32]) -> Vec<f64> {
    let d = s.dim;
    let mut x = embed(get(p, "wte.weight"), ids, get(p, "wpe.weight"), s);
    let causal = Mask {
        causal: true,
        key_lengths: None,
    };
    for l in 0..layers {
        let b = format!("h.{l}");
        let n = layer_norm(p, &format!("{b}.ln_1"), &x, d);
        let a = attend(p, &format!("{b}.attn"), &n, &n, s, causal);
        let h = add(&x, &a);
        let f = feed_forward(
            p,
            &format!("{b}.mlp"),
            &layer_norm(p, &format!("{b}.ln_2"), &h, d),
            d,
        );
        x = add(&h, &f);
    }
    linear(p, "lm_head", &layer_norm(p, "ln_f", &x, d), d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_tabulated_values_on_both_branches() {
        for (x, want) in [
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (2.4, 0.999_311_486_103_354_9),
            (3.0, 0.999_977_909_503_001_4),
        ] {
            assert!((erf(x) - want).abs() < 1e-14, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + want).abs() < 1e-14);
        }
    }
}
