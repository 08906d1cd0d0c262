//! The tour's transformers, one Adam training step each, on synthetic
//! random ids of the tours' shapes: forward, backward, clipping and the
//! update, one submit replayed from the cached plan, timed by the wall
//! clock. The rows report target tokens per second.
//!
//! - `g2p_step`: the G2P encoder-decoder (tour/chapters/seq2seq.rs, the
//!   config of g2p.rs's `Lexicon::config` at CMUdict's 29 letter and 72
//!   phoneme ids): 128 words, sources of 9 to 12 letters and targets of 8
//!   to 11 phonemes (both 12 wide after padding), Adam (0.9, 0.98), clip 1,
//!   label smoothing 0.1 with the padding ignored (`SMOOTHED`). Tokens: the
//!   labels that are not padding. Quick: dim 32, 1+1 layers, 8 words.
//! - `gpt_step`: GPT (tour/chapters/gpt.rs) on 16 windows of 64 over a
//!   65-character vocabulary, AdamW, clip 1. Tokens: 16 x 64. Quick: 2 x 16.
//!
//! Gate: the first loss against the float64 forward of the whole model
//! from its own weights (shadergrad_reference::transformer). The note also
//! splits one step's GPU time (timestamps, a step outside the timer) into
//! attention forward and backward, matmul and the rest.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shadergrad::loss::cross_entropy;
use shadergrad::nn::Stateful;
use shadergrad::optim::Optimizer;
use shadergrad::{DType, Device, Result, Tensor};
use shadergrad_reference::cross_entropy::CrossEntropy;
use shadergrad_reference::transformer::{Params, Shape, gpt_logits, seq2seq_logits};
use shadergrad_reference::widen;

use crate::bench::case::{Case, Method};
use crate::bench::measure::Ctx;
use crate::bench::suites::models::loss_gate;
use crate::tour::chapters::g2p::{Batch, IGNORE, Lexicon, SMOOTHED, batch, loss};
use crate::tour::chapters::gpt::{DIM, Gpt, HEADS, LAYERS};
use crate::tour::chapters::seq2seq::{Config, Seq2Seq};

/// Input sets rotated between runs.
const SETS: usize = 4;
/// The Shakespeare plays' characters.
pub(crate) const GPT_VOCAB: usize = 65;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if ctx.wants(&["g2p_step"]) {
        g2p_step(ctx)?;
    }
    if ctx.wants(&["gpt_step"]) {
        gpt_step(ctx)?;
    }
    Ok(())
}

/// A model's parameters by name, in float64, for the reference.
pub(crate) fn params(m: &impl Stateful) -> Result<Params> {
    m.named_parameters()
        .into_iter()
        .map(|(n, t)| Ok((n, widen(&t.to_vec::<f32>()?))))
        .collect()
}

/// The G2P config at CMUdict's vocabularies: the tour's, or a tiny one.
fn g2p_config(quick: bool) -> Config {
    let lexicon = Lexicon {
        letters: vec!['a'; 28],
        phonemes: vec![String::new(); 69],
        train: Vec::new(),
        test: Vec::new(),
    };
    let full = lexicon.config();
    match quick {
        false => full,
        true => Config {
            dim: 32,
            heads: 2,
            ff: 64,
            encoder_layers: 1,
            decoder_layers: 1,
            ..full
        },
    }
}

/// `rows` random words: letters of length in `src`, phonemes in `tgt`.
fn words(
    cfg: &Config,
    rows: usize,
    src: (usize, usize),
    tgt: (usize, usize),
    rng: &mut StdRng,
) -> Batch {
    let pairs: Vec<(Vec<i32>, Vec<i32>)> = (0..rows)
        .map(|_| {
            let s = rng.random_range(src.0..=src.1);
            let t = rng.random_range(tgt.0..=tgt.1);
            let letters: Vec<i32> = (0..s)
                .map(|_| rng.random_range(1..cfg.src_vocab as i32))
                .collect();
            let phones: Vec<i32> = (0..t)
                .map(|_| rng.random_range(3..cfg.tgt_vocab as i32))
                .collect();
            (letters, phones)
        })
        .collect();
    let refs: Vec<&(Vec<i32>, Vec<i32>)> = pairs.iter().collect();
    batch(&refs)
}

/// The first batch's loss in float64 from the model's weights.
fn g2p_reference(c: Config, p: &Params, b: &Batch) -> f64 {
    let lens: Vec<usize> = b.src.lens.iter().map(|&n| n as usize).collect();
    let logits = seq2seq_logits(
        p,
        (c.dim, c.heads, (c.encoder_layers, c.decoder_layers)),
        (&b.src.ids, &lens),
        &b.tgt_in.ids,
        b.tgt_in.width,
    );
    let loss = CrossEntropy {
        classes: c.tgt_vocab,
        smoothing: SMOOTHED.label_smoothing as f64,
        ignore: Some(IGNORE),
    };
    loss.mean(&logits, &b.labels).0
}

/// One Adam step: the gradients zeroed, the loss backpropagated, the update recorded.
fn step(opt: &mut Optimizer, loss: impl FnOnce() -> Result<Tensor>) -> Result<Vec<Tensor>> {
    opt.zero_grad();
    let l = loss()?;
    l.backward()?;
    opt.record()?;
    Ok(vec![l])
}

fn g2p_step(ctx: &mut Ctx) -> Result<()> {
    let (dev, quick) = (ctx.dev, ctx.quick());
    let cfg = g2p_config(quick);
    let (rows, src, tgt) = match quick {
        true => (8, (3, 4), (2, 3)),
        false => (128, (9, 12), (8, 11)),
    };
    let mut rng = StdRng::seed_from_u64(141);
    let data: Vec<Batch> = (0..SETS)
        .map(|_| words(&cfg, rows, src, tgt, &mut rng))
        .collect();
    let tokens = data
        .iter()
        .map(|b| b.labels.iter().filter(|&&l| l != IGNORE).count())
        .sum::<usize>()
        / SETS;
    dev.manual_seed(23);
    let model = Seq2Seq::new(dev, cfg)?;
    model.train();
    let loss0 = g2p_reference(cfg, &params(&model)?, &data[0]);
    let adam = |lr| {
        Ok::<_, shadergrad::Error>(
            Optimizer::adam(&model.parameters(), lr)?
                .with_betas(0.9, 0.98)
                .with_clip_grad_norm(1.0),
        )
    };
    // Learning rate 0 outside the timer: the weights stay the gate's.
    let share = share(dev, || {
        step(&mut adam(0.0)?, || loss(&model, dev, &data[0]))
    })?;
    let opt = RefCell::new(adam(2e-3)?);
    let (model, data, opt) = (&model, &data, &opt);
    let (w, s) = (data[0].tgt_in.width, data[0].src.width);
    let layers = format!("{}+{}", cfg.encoder_layers, cfg.decoder_layers);
    ctx.case(
        Case::new(
            "g2p_step",
            "adam",
            format!(
                "{rows} words, src {s}, tgt {w}, dim {}, {layers} layers",
                cfg.dim
            ),
            DType::F32,
        )
        .tokens(tokens)
        .sets(SETS)
        .chosen(true)
        .method(Method::Wall)
        .note(format!(
            "{tokens} target tokens per step; {share}; gate: the first loss against the \
             float64 model"
        ))
        .run(move |i| step(&mut opt.borrow_mut(), || loss(model, dev, &data[i % SETS])))
        .check(move |o| loss_gate(o, loss0)),
    );
    Ok(())
}

/// GPT's loss on windows (inputs, targets) of `b` rows in float64.
fn gpt_reference(p: &Params, b: usize, (x, y): &(Vec<i32>, Vec<i32>)) -> f64 {
    let shape = Shape {
        batch: b,
        n: x.len() / b,
        dim: DIM,
        heads: HEADS,
    };
    let logits = gpt_logits(p, shape, LAYERS, x);
    CrossEntropy::new(GPT_VOCAB).mean(&logits, y).0
}

fn gpt_step(ctx: &mut Ctx) -> Result<()> {
    let (dev, quick) = (ctx.dev, ctx.quick());
    let (b, n) = if quick { (2, 16) } else { (16, 64) };
    let mut rng = StdRng::seed_from_u64(151);
    let mut ids = || -> Vec<i32> {
        (0..b * n)
            .map(|_| rng.random_range(0..GPT_VOCAB as i32))
            .collect()
    };
    let data: Vec<(Vec<i32>, Vec<i32>)> = (0..SETS).map(|_| (ids(), ids())).collect();
    dev.manual_seed(17);
    let model = Gpt::with_context(dev, GPT_VOCAB, 0.0, n)?;
    model.train();
    let loss0 = gpt_reference(&params(&model)?, b, &data[0]);
    let loss = |s: &(Vec<i32>, Vec<i32>)| -> Result<Tensor> {
        let logits = model.forward(&model.tokens(dev, &s.0, b)?)?;
        cross_entropy(&logits, &Tensor::from_slice(dev, &s.1, &[b * n])?)
    };
    let adamw = |lr| -> Result<Optimizer> {
        Ok(Optimizer::adamw(&model.parameters(), lr, 0.01)?.with_clip_grad_norm(1.0))
    };
    let share = share(dev, || step(&mut adamw(0.0)?, || loss(&data[0])))?;
    let opt = RefCell::new(adamw(2e-3)?);
    let (data, opt, loss) = (&data, &opt, &loss);
    ctx.case(
        Case::new(
            "gpt_step",
            "adamw",
            format!("{b} x {n}, dim {DIM}, {LAYERS} layers, {HEADS} heads"),
            DType::F32,
        )
        .tokens(b * n)
        .sets(SETS)
        .chosen(true)
        .method(Method::Wall)
        .note(format!(
            "{} tokens per step; {share}; gate: the first loss against the float64 model",
            b * n
        ))
        .run(move |i| step(&mut opt.borrow_mut(), || loss(&data[i % SETS])))
        .check(move |o| loss_gate(o, loss0)),
    );
    Ok(())
}

/// One step's GPU time by kernel, from the timestamps of a profiled step
/// (the second of two, so no first-run work is in it).
fn share(dev: &Device, step: impl Fn() -> Result<Vec<Tensor>>) -> Result<String> {
    if !dev.caps().timestamps {
        return Ok("no GPU timestamps on this adapter: the attention share is not measured".into());
    }
    dev.set_profiling(true);
    let mut profile = Vec::new();
    for _ in 0..2 {
        for t in step()? {
            t.to_vec::<f32>()?;
        }
        profile = dev.last_profile();
    }
    dev.set_profiling(false);
    let total: f64 = profile.iter().map(|k| k.ms).sum();
    let part = |f: &dyn Fn(&shadergrad::KernelTime) -> bool| {
        100.0 * profile.iter().filter(|k| f(k)).map(|k| k.ms).sum::<f64>() / total.max(1e-12)
    };
    let attention = |k: &shadergrad::KernelTime| k.op.starts_with("attention");
    let fwd = part(&|k| attention(k) && !k.backward);
    let bwd = part(&|k| attention(k) && k.backward);
    let matmul = part(&|k| k.op.starts_with("matmul"));
    Ok(format!(
        "GPU time of a step ({total:.1} ms, {} dispatches, timestamps): attention {:.0}% \
         (forward {fwd:.0}%, backward {bwd:.0}%), matmul {matmul:.0}%, the rest {:.0}%",
        profile.len(),
        fwd + bwd,
        100.0 - fwd - bwd - matmul
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's first loss passes the gate against the float64 model,
    /// and fails it once the reference's head is scaled by 1.1.
    fn gate_tells(loss: Tensor, mut p: Params, head: &str, reference: impl Fn(&Params) -> f64) {
        let loss = vec![loss.to_vec::<f32>().unwrap()];
        let r = loss_gate(&loss, reference(&p));
        assert!(r.passed, "{}", r.detail);
        p.get_mut(head).unwrap().iter_mut().for_each(|w| *w *= 1.1);
        assert!(!loss_gate(&loss, reference(&p)).passed);
    }

    #[test]
    fn the_g2p_gate_passes_the_model_and_fails_a_wrong_one() {
        let dev = Device::new().unwrap();
        let cfg = g2p_config(true);
        let b = words(&cfg, 3, (2, 4), (1, 3), &mut StdRng::seed_from_u64(3));
        let model = Seq2Seq::new(&dev, cfg).unwrap();
        let p = params(&model).unwrap();
        let loss = loss(&model, &dev, &b).unwrap();
        gate_tells(loss, p, "out.weight", |p| g2p_reference(cfg, p, &b));
    }

    #[test]
    fn the_gpt_gate_passes_the_model_and_fails_a_wrong_one() {
        let dev = Device::new().unwrap();
        let model = Gpt::with_context(&dev, GPT_VOCAB, 0.0, 5).unwrap();
        let w: (Vec<i32>, Vec<i32>) = (vec![1, 7, 7, 30, 64], vec![7, 7, 30, 64, 2]);
        let logits = model
            .forward(&model.tokens(&dev, &w.0, 1).unwrap())
            .unwrap();
        let y = Tensor::from_slice(&dev, &w.1, &[5]).unwrap();
        let loss = cross_entropy(&logits, &y).unwrap();
        let p = params(&model).unwrap();
        gate_tells(loss, p, "lm_head.weight", |p| gpt_reference(p, 1, &w));
    }
}
