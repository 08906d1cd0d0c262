//! Exposure bias and scheduled sampling (the notes' seq2seq chapter): under
//! teacher forcing the decoder only ever reads correct prefixes, but at test
//! time it reads its own guesses, and one early mistake leads it where it
//! never trained. Scheduled sampling feeds it its own guesses during
//! training with a probability that rises from 0. This entry trains the G2P
//! model twice from the same seed on the same batches, once each way, and
//! scores both with greedy decoding.

use rand::Rng;
use rand::rngs::StdRng;

use crate::tour::chapters::g2p::{Batch, Budget, GREEDY, Lexicon, train, transcribe};
use crate::tour::chapters::seq2seq::{Padded, Seq2Seq, error_rates, next_id};
use crate::tour::common::{Ctx, Outcome};
use crate::tour::held_out::{HeldOut, Snapshot};
use shadergrad::nn::Stateful;
use shadergrad::{Device, Result, Tensor, no_grad};

/// The probability of reading a guess at the last step; it rises linearly
/// from 0 at the first.
const TOP: f64 = 0.3;

/// The decoder's input for `b` with each position after BEGIN replaced, with
/// probability `p`, by the model's guess for it: the two-pass form
/// transformers use, since their decoder reads all positions at once. The
/// first pass runs under teacher forcing without gradients.
pub fn own_guesses(
    model: &Seq2Seq,
    dev: &Device,
    b: &Batch,
    p: f64,
    coin: &mut StdRng,
) -> Result<Padded> {
    let mut tgt = b.tgt_in.clone();
    if p <= 0.0 {
        return Ok(tgt);
    }
    let guesses = {
        let _g = no_grad();
        let memory = model.encode(dev, &b.src)?;
        model.decode(dev, &b.tgt_in, &memory)?.to_vec::<f32>()?
    };
    let (w, v) = (tgt.width, model.cfg.tgt_vocab);
    for (r, &len) in b.tgt_in.lens.iter().enumerate() {
        for t in 1..len as usize {
            if coin.random_bool(p) {
                // The logits at t - 1 guess the phoneme read at t.
                let at = r * w + t - 1;
                tgt.ids[r * w + t] = next_id(&guesses[at * v..(at + 1) * v]);
            }
        }
    }
    Ok(tgt)
}

/// Both budgets: the G2P entry's batch and rate, fewer steps, so that two
/// trainings fit the time of one.
fn budgets(quick: bool) -> (Budget, Budget) {
    let forced = Budget {
        steps: if quick { 40 } else { 300 },
        ..Budget::g2p(quick)
    };
    let sampled = Budget {
        sampling: TOP,
        ..forced
    };
    (forced, sampled)
}

/// What one training gave.
struct Trained {
    per: f64,
    wer: f64,
    seconds: f64,
    model: Seq2Seq,
    guesses: Vec<Vec<i32>>,
    ends: (f32, f32),
}

/// One model trained with `budget` from seed 23, scored greedily.
fn trained(ctx: &Ctx, data: &Lexicon, budget: Budget) -> Result<Trained> {
    ctx.start(budget.steps, &format!("sampling up to {}", budget.sampling));
    ctx.dev.manual_seed(23);
    let model = data.build(ctx)?;
    let (losses, seconds) = train(ctx, &model, data, budget)?;
    let guesses = transcribe(ctx, &model, &data.test, GREEDY)?;
    let truths: Vec<&[i32]> = data.test.iter().map(|p| p.1.as_slice()).collect();
    let (per, wer) = error_rates(&guesses, &truths);
    let ends = (losses[0], *losses.last().unwrap_or(&f32::NAN));
    Ok(Trained {
        per,
        wer,
        seconds,
        model,
        guesses,
        ends,
    })
}

pub fn g2p_sampling(ctx: &Ctx) -> Result<Outcome> {
    let data = Lexicon::load(ctx)?;
    let (forced, sampled) = budgets(ctx.quick);
    let f = trained(ctx, &data, forced)?;
    let s = trained(ctx, &data, sampled)?;
    let (f_per, f_wer, f_s) = (f.per, f.wer, f.seconds);
    let (s_per, s_wer, s_s) = (s.per, s.wer, s.seconds);
    let differ = f.guesses.iter().zip(&s.guesses).filter(|(a, b)| a != b);
    let differ = differ.count() as f64 / f.guesses.len().max(1) as f64;
    let winner = if s_wer < f_wer || (s_wer == f_wer && s_per < f_per) {
        "scheduled sampling"
    } else {
        "teacher forcing"
    };
    let notes = vec![
        format!(
            "both: {} steps of {} words, Adam {} with warm-up and 1/sqrt decay, the same \
             seed and batches; greedy decoding of {} held-out words",
            forced.steps,
            forced.batch,
            forced.lr,
            data.test.len()
        ),
        format!(
            "teacher forcing: PER {:.2}%, WER {:.2}% ({f_s:.0} s of training)",
            100.0 * f_per,
            100.0 * f_wer
        ),
        format!(
            "scheduled sampling (own guesses read with a probability rising 0 -> {TOP}): \
             PER {:.2}%, WER {:.2}% ({s_s:.0} s, the extra gradient-free pass included)",
            100.0 * s_per,
            100.0 * s_wer
        ),
        format!(
            "{winner} wins here (lower WER); the two transcribe {:.1}% of the words differently",
            100.0 * differ
        ),
    ];
    let (model, (first, last)) = (s.model, s.ends);
    let held_out = Snapshot::new(data.metric(), s_per, &model);
    let params: usize = model.parameters().iter().map(Tensor::numel).sum();
    Ok(Outcome {
        model: format!("transformer encoder-decoder ({params} parameters), scheduled sampling"),
        dataset: "CMUdict".into(),
        metric: held_out.metric.clone(),
        value: s_per,
        target: ctx.pick(0.35, 0.7),
        higher_is_better: false,
        steps: sampled.steps,
        first_loss: first as f64,
        last_loss: last as f64,
        checks: Vec::new(),
        notes,
        held_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tour::chapters::g2p::batch;
    use rand::SeedableRng;

    fn pairs() -> Vec<(Vec<i32>, Vec<i32>)> {
        vec![(vec![1, 2, 3], vec![3, 4]), (vec![2], vec![5, 6, 7, 3])]
    }

    #[test]
    fn guesses_replace_only_positions_after_begin_inside_each_target() {
        let dev = Device::new().expect("an adapter");
        let data = pairs();
        let words: Vec<_> = data.iter().collect();
        let b = batch(&words);
        let cfg = crate::tour::chapters::seq2seq::Config {
            dim: 16,
            heads: 2,
            ff: 32,
            encoder_layers: 1,
            decoder_layers: 1,
            src_vocab: 4,
            tgt_vocab: 8,
            max_len: 8,
            dropout: 0.0,
        };
        let model = Seq2Seq::new(&dev, cfg).unwrap();
        model.eval();
        let mut coin = StdRng::seed_from_u64(1);
        let same = own_guesses(&model, &dev, &b, 0.0, &mut coin).unwrap();
        assert_eq!(same.ids, b.tgt_in.ids);
        let all = own_guesses(&model, &dev, &b, 1.0, &mut coin).unwrap();
        let w = b.tgt_in.width;
        for (r, &len) in b.tgt_in.lens.iter().enumerate() {
            let row = &all.ids[r * w..(r + 1) * w];
            assert_eq!(row[0], b.tgt_in.ids[r * w], "BEGIN kept");
            assert!(row[1..len as usize].iter().all(|&i| (2..8).contains(&i)));
            assert_eq!(
                &row[len as usize..],
                &b.tgt_in.ids[r * w + len as usize..(r + 1) * w]
            );
        }
    }
}
