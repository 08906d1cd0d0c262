//! A non-autoregressive decoder (NAT, the notes' seq2seq chapter): a
//! classifier on the encoder's output predicts how many phonemes a word has,
//! and the decoder reads that many BEGIN tokens (each told apart only by its
//! position) and writes every phoneme at once in one pass, its positions
//! seeing each other. No END, no loop over positions: decoding is one
//! realize a batch, at the price of positions that cannot see each other's
//! choices (the multimodality problem). Beside it, the autoregressive model
//! of the same size and budget, greedy with its KV cache.

use crate::tour::chapters::g2p::{
    Budget, GREEDY, IGNORE, Lexicon, ROUND, SMOOTHED, fit, score, train,
};
use crate::tour::chapters::gpt::argmax;
use crate::tour::chapters::seq2seq::{BEGIN, Padded, Seq2Seq, error_rates};
use crate::tour::common::{Ctx, Outcome};
use crate::tour::held_out::{HeldOut, Snapshot};
use shadergrad::loss::{cross_entropy, cross_entropy_with};
use shadergrad::nn::{Linear, Module, Stateful};
use shadergrad::{Device, Result, Tensor, no_grad};

/// The length classifier predicts the target's length minus the source's,
/// clamped to +-SPAN: 2 SPAN + 1 classes.
const SPAN: i32 = 8;

/// The seq2seq model decoded in parallel, and the length classifier on the
/// mean of the encoder's output over the real source positions.
#[derive(Stateful)]
pub struct Nat {
    s2s: Seq2Seq,
    length: Linear,
}

impl Nat {
    pub fn new(dev: &Device, data: &Lexicon) -> Result<Nat> {
        let cfg = data.config();
        Ok(Nat {
            s2s: Seq2Seq::new(dev, cfg)?,
            length: Linear::new(dev, cfg.dim, (2 * SPAN + 1) as usize)?,
        })
    }

    /// The encoder's output and lengths, and the length logits (B, 2 SPAN + 1).
    fn encode(&self, dev: &Device, src: &Padded) -> Result<((Tensor, Tensor), Tensor)> {
        let memory = self.s2s.encode(dev, src)?;
        let w = src.width;
        let mut weights = vec![0f32; src.rows() * w];
        for (row, &n) in weights.chunks_mut(w).zip(&src.lens) {
            row[..n as usize].fill(1.0 / n as f32);
        }
        let weights = Tensor::from_slice(dev, &weights, &[src.rows(), w, 1])?;
        let pooled = memory.0.mul(&weights)?.sum(&[1], false)?;
        let lengths = self.length.forward(&pooled)?;
        Ok((memory, lengths))
    }

    /// Each row's phonemes: its length from the classifier, then every
    /// position at once.
    pub fn transcribe(&self, dev: &Device, src: &Padded) -> Result<Vec<Vec<i32>>> {
        let _g = no_grad();
        let (memory, lengths) = self.encode(dev, src)?;
        let classes = (2 * SPAN + 1) as usize;
        let lengths = lengths.to_vec::<f32>()?;
        let most = self.s2s.cfg.max_len as i32;
        let lens: Vec<usize> = lengths
            .chunks(classes)
            .zip(&src.lens)
            .map(|(row, &n)| (n + argmax(row) - SPAN).clamp(1, most) as usize)
            .collect();
        let begins: Vec<Vec<i32>> = lens.iter().map(|&n| vec![BEGIN; n]).collect();
        let views: Vec<&[i32]> = begins.iter().map(Vec::as_slice).collect();
        let tgt = Padded::new(&views, ROUND);
        let logits = self.s2s.decode_parallel(dev, &tgt, &memory)?;
        let v = self.s2s.cfg.tgt_vocab;
        let logits = logits.to_vec::<f32>()?;
        let rows = logits.chunks(v * tgt.width);
        // Phonemes only: PAD, BEGIN and END (ids 0..3) are never written.
        Ok(rows
            .zip(&lens)
            .map(|(row, &n)| row.chunks(v).take(n).map(|p| 3 + argmax(&p[3..])).collect())
            .collect())
    }
}

/// The NAT's training: BEGIN x (true length) in, the phonemes out (no END),
/// plus the length classifier's cross entropy; the autoregressive model's
/// loop, so the same optimiser, schedule and batches.
fn train_nat(ctx: &Ctx, model: &Nat, data: &Lexicon, budget: Budget) -> Result<(Vec<f32>, f64)> {
    let dev = &ctx.dev;
    model.train();
    let out = fit(ctx, &model.parameters(), data, budget, |words, _| {
        let srcs: Vec<&[i32]> = words.iter().map(|p| p.0.as_slice()).collect();
        let begins: Vec<Vec<i32>> = words.iter().map(|p| vec![BEGIN; p.1.len()]).collect();
        let views: Vec<&[i32]> = begins.iter().map(Vec::as_slice).collect();
        let tgt = Padded::new(&views, ROUND);
        let mut labels = vec![IGNORE; tgt.ids.len()];
        for (row, p) in labels.chunks_mut(tgt.width).zip(words) {
            row[..p.1.len()].copy_from_slice(&p.1);
        }
        let offsets: Vec<i32> = words
            .iter()
            .map(|p| (p.1.len() as i32 - p.0.len() as i32).clamp(-SPAN, SPAN) + SPAN)
            .collect();
        let (memory, lengths) = model.encode(dev, &Padded::new(&srcs, ROUND))?;
        let logits = model.s2s.decode_parallel(dev, &tgt, &memory)?;
        let labels = Tensor::from_slice(dev, &labels, &[labels.len()])?;
        let offsets = Tensor::from_slice(dev, &offsets, &[offsets.len()])?;
        cross_entropy_with(&logits, &labels, SMOOTHED)?.add(&cross_entropy(&lengths, &offsets)?)
    });
    model.eval();
    out
}

/// The NAT's transcriptions of `pairs`, 1024 words a pass.
fn transcribe(ctx: &Ctx, model: &Nat, pairs: &[(Vec<i32>, Vec<i32>)]) -> Result<Vec<Vec<i32>>> {
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(1024) {
        let srcs: Vec<&[i32]> = chunk.iter().map(|p| p.0.as_slice()).collect();
        out.extend(model.transcribe(&ctx.dev, &Padded::new(&srcs, ROUND))?);
    }
    Ok(out)
}

/// The NAT on the G2P data: its held-out PER (the `g2p_nat` entry's metric).
pub struct NatLexicon(Lexicon);

impl HeldOut for NatLexicon {
    type Model = Nat;

    fn prepare(ctx: &Ctx) -> Result<NatLexicon> {
        Ok(NatLexicon(Lexicon::load(ctx)?))
    }

    fn build(&self, ctx: &Ctx) -> Result<Nat> {
        Nat::new(&ctx.dev, &self.0)
    }

    fn metric(&self) -> String {
        "held-out phoneme error rate (non-autoregressive)".into()
    }

    fn evaluate(&self, ctx: &Ctx, model: &Nat) -> Result<f64> {
        let guesses = transcribe(ctx, model, &self.0.test)?;
        let truths: Vec<&[i32]> = self.0.test.iter().map(|p| p.1.as_slice()).collect();
        Ok(error_rates(&guesses, &truths).0)
    }
}

/// The budget both models train with: half the G2P entry's steps (the NAT,
/// reading only BEGIN tokens, needs more steps than that in quick mode to
/// leave chance).
pub fn budget(quick: bool) -> Budget {
    Budget {
        steps: if quick { 100 } else { 300 },
        ..Budget::g2p(quick)
    }
}

pub fn g2p_nat(ctx: &Ctx) -> Result<Outcome> {
    let data = NatLexicon::prepare(ctx)?;
    let budget = budget(ctx.quick);
    ctx.start(budget.steps, "NAT: all positions at once");
    ctx.dev.manual_seed(23);
    let nat = data.build(ctx)?;
    let (losses, nat_s) = train_nat(ctx, &nat, &data.0, budget)?;
    let clock = std::time::Instant::now();
    let guesses = transcribe(ctx, &nat, &data.0.test)?;
    let nat_decode = clock.elapsed().as_secs_f64();
    let truths: Vec<&[i32]> = data.0.test.iter().map(|p| p.1.as_slice()).collect();
    let (per, wer) = error_rates(&guesses, &truths);
    let exact = guesses
        .iter()
        .zip(&truths)
        .filter(|(g, t)| g.len() == t.len());
    let lengths_right = exact.count() as f64 / truths.len() as f64;
    ctx.start(budget.steps, "autoregressive, the same budget");
    ctx.dev.manual_seed(23);
    let at = data.0.build(ctx)?;
    let (_, at_s) = train(ctx, &at, &data.0, budget)?;
    let clock = std::time::Instant::now();
    let (at_per, at_wer) = score(ctx, &at, &data.0.test, GREEDY)?;
    let at_decode = clock.elapsed().as_secs_f64();
    let n = data.0.test.len() as f64;
    let notes = vec![
        format!(
            "both: {} steps of {} words, the same optimiser, schedule and batches; {} \
             held-out words decoded 1024 at a time",
            budget.steps, budget.batch, n
        ),
        format!(
            "NAT: PER {:.2}%, WER {:.2}%, length right for {:.1}% of words; {nat_s:.0} s \
             of training; decoding {:.2} ms a word",
            100.0 * per,
            100.0 * wer,
            100.0 * lengths_right,
            1e3 * nat_decode / n
        ),
        format!(
            "autoregressive (greedy, KV cache): PER {:.2}%, WER {:.2}%; {at_s:.0} s of \
             training; decoding {:.2} ms a word ({:.1}x the NAT's)",
            100.0 * at_per,
            100.0 * at_wer,
            1e3 * at_decode / n,
            at_decode / nat_decode
        ),
    ];
    let held_out = Snapshot::new(data.metric(), per, &nat);
    Ok(Outcome {
        model: "non-autoregressive transformer encoder-decoder + length classifier".into(),
        dataset: "CMUdict".into(),
        metric: held_out.metric.clone(),
        value: per,
        target: ctx.pick(0.5, 0.92),
        higher_is_better: false,
        steps: budget.steps,
        first_loss: losses.first().copied().unwrap_or(f32::NAN) as f64,
        last_loss: losses.last().copied().unwrap_or(f32::NAN) as f64,
        checks: vec![(
            "the NAT decodes faster than the autoregressive model".into(),
            nat_decode < at_decode,
        )],
        notes,
        held_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon() -> Lexicon {
        Lexicon {
            letters: vec!['a', 'b', 'c'],
            phonemes: vec!["AA".into(), "B".into(), "K".into()],
            train: Vec::new(),
            test: Vec::new(),
        }
    }

    #[test]
    fn transcribes_a_predicted_length_of_phonemes_and_refuses_an_empty_word() {
        let dev = Device::new().expect("an adapter");
        dev.manual_seed(3);
        let nat = Nat::new(&dev, &lexicon()).unwrap();
        nat.eval();
        let words: [&[i32]; 2] = [&[1, 2, 3], &[2]];
        let out = nat.transcribe(&dev, &Padded::new(&words, ROUND)).unwrap();
        assert_eq!(out.len(), 2);
        for (row, w) in out.iter().zip(words) {
            let n = row.len() as i32;
            assert!((1..=32).contains(&n), "{n} phonemes");
            assert!((n - w.len() as i32).abs() <= SPAN);
            assert!(row.iter().all(|&p| (3..6).contains(&p)), "{row:?}");
        }
        let empty: [&[i32]; 2] = [&[1], &[]];
        let e = nat
            .transcribe(&dev, &Padded::new(&empty, ROUND))
            .unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
