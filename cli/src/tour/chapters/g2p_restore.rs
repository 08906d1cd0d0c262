//! Pretraining a seq2seq model by restoring corrupted input (the notes' last
//! self-supervised idea, BART's): before it sees a phoneme, the G2P
//! encoder-decoder learns to write a word's letters back from a corrupted
//! copy (the letters shuffled, or some masked), on the training words'
//! spellings alone, with no labels. Its target vocabulary holds phonemes and
//! letters, so one head serves both tasks. Then G2P at a small budget from
//! the pretrained weights, beside the same model trained from scratch with
//! the same budget on the same batches; both scored greedily.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::tour::chapters::g2p::{
    Budget, GREEDY, Lexicon, batch, fit, loss, score, train, transcribe,
};
use crate::tour::chapters::seq2seq::{Config, Seq2Seq};
use crate::tour::common::{Ctx, Outcome};
use crate::tour::held_out::{HeldOut, Snapshot};
use shadergrad::nn::Stateful;
use shadergrad::{Result, Tensor};

/// The share of a word's letters a masked copy hides (at least one).
const MASK_RATE: f64 = 0.3;
/// Held-out words both G2P models are scored on (and the restoration).
const SCORED: usize = 2000;

/// The G2P dictionary with the joint vocabularies: a MASK letter after the
/// letters on the source side, the letters after the phonemes on the target.
pub struct Joint(pub Lexicon);

impl Joint {
    pub fn config(&self) -> Config {
        let c = self.0.config();
        Config {
            src_vocab: c.src_vocab + 1,
            tgt_vocab: c.tgt_vocab + self.0.letters.len(),
            ..c
        }
    }

    /// The source id that hides a letter.
    pub fn mask(&self) -> i32 {
        self.0.letters.len() as i32 + 1
    }

    /// A word's letters (source ids, 1..) as target ids, after the phonemes.
    pub fn spelled(&self, letters: &[i32]) -> Vec<i32> {
        let first = self.0.phonemes.len() as i32 + 3;
        letters.iter().map(|&l| first + l - 1).collect()
    }

    /// Target ids as text: phoneme names, or letters.
    pub fn spell(&self, ids: &[i32]) -> String {
        let p = self.0.phonemes.len();
        let names: Vec<String> = ids
            .iter()
            .map(|&i| match (i as usize).checked_sub(3) {
                Some(k) if k < p => self.0.phonemes[k].clone(),
                Some(k) if k < p + self.0.letters.len() => self.0.letters[k - p].to_string(),
                _ => "?".into(),
            })
            .collect();
        names.join(" ")
    }

    /// The scored held-out words.
    fn scored(&self) -> &[(Vec<i32>, Vec<i32>)] {
        &self.0.test[..self.0.test.len().min(SCORED)]
    }
}

/// A corrupted copy of `letters`: shuffled or, with even odds, each letter
/// hidden behind `mask` with probability MASK_RATE (at least one hidden).
pub fn corrupt(letters: &[i32], mask: i32, rng: &mut StdRng) -> Vec<i32> {
    let mut out = letters.to_vec();
    if rng.random_bool(0.5) {
        out.shuffle(rng);
        return out;
    }
    for l in &mut out {
        if rng.random_bool(MASK_RATE) {
            *l = mask;
        }
    }
    if !out.is_empty() && !out.contains(&mask) {
        out[rng.random_range(0..letters.len())] = mask;
    }
    out
}

/// Restoration pairs for the spellings of `words`: (corrupted, spelled).
fn restoration(
    data: &Joint,
    words: &[&(Vec<i32>, Vec<i32>)],
    rng: &mut StdRng,
) -> Vec<(Vec<i32>, Vec<i32>)> {
    let mask = data.mask();
    words
        .iter()
        .map(|w| (corrupt(&w.0, mask, rng), data.spelled(&w.0)))
        .collect()
}

/// Pretrains `model` on restoring the training words' spellings, each batch
/// corrupted afresh; the losses and seconds.
fn pretrain(ctx: &Ctx, model: &Seq2Seq, data: &Joint, budget: Budget) -> Result<(Vec<f32>, f64)> {
    let dev = &ctx.dev;
    let mut rng = StdRng::seed_from_u64(5);
    model.train();
    let out = fit(ctx, &model.parameters(), &data.0, budget, |words, _| {
        let pairs = restoration(data, words, &mut rng);
        loss(model, dev, &batch(&pairs.iter().collect::<Vec<_>>()))
    });
    model.eval();
    out
}

/// The pretraining budget and the small G2P budget both models train with.
pub fn budgets(quick: bool) -> (Budget, Budget) {
    let g2p = Budget::g2p(quick);
    let pre = Budget {
        steps: if quick { 40 } else { 300 },
        ..g2p
    };
    let fine = Budget {
        steps: if quick { 60 } else { 150 },
        ..g2p
    };
    (pre, fine)
}

impl HeldOut for Joint {
    type Model = Seq2Seq;

    fn prepare(ctx: &Ctx) -> Result<Joint> {
        Ok(Joint(Lexicon::load(ctx)?))
    }

    fn build(&self, ctx: &Ctx) -> Result<Seq2Seq> {
        Seq2Seq::new(&ctx.dev, self.config())
    }

    fn metric(&self) -> String {
        format!("held-out phoneme error rate (greedy, first {SCORED} words)")
    }

    fn evaluate(&self, ctx: &Ctx, model: &Seq2Seq) -> Result<f64> {
        Ok(score(ctx, model, self.scored(), GREEDY)?.0)
    }
}

/// The share of held-out spellings restored exactly from a corrupted copy,
/// and one example.
fn restored(ctx: &Ctx, model: &Seq2Seq, data: &Joint) -> Result<(f64, String)> {
    let mut rng = StdRng::seed_from_u64(17);
    let words: Vec<_> = data.scored().iter().collect();
    let pairs = restoration(data, &words, &mut rng);
    let out = transcribe(ctx, model, &pairs, GREEDY)?;
    let right = out.iter().zip(&pairs).filter(|(o, p)| **o == p.1).count();
    let letter = |&i: &i32| match data.0.letters.get((i - 1) as usize) {
        Some(c) => *c,
        None => '_',
    };
    let example = format!(
        "  e.g. {} -> {} (the word: {})",
        pairs[0].0.iter().map(letter).collect::<String>(),
        data.spell(&out[0]),
        data.spell(&pairs[0].1)
    );
    Ok((right as f64 / pairs.len().max(1) as f64, example))
}

pub fn g2p_restore(ctx: &Ctx) -> Result<Outcome> {
    let data = Joint::prepare(ctx)?;
    let (pre, fine) = budgets(ctx.quick);
    ctx.start(pre.steps, "restoring corrupted spellings");
    ctx.dev.manual_seed(23);
    let model = data.build(ctx)?;
    let (pre_losses, pre_s) = pretrain(ctx, &model, &data, pre)?;
    let (exact, example) = restored(ctx, &model, &data)?;
    ctx.start(fine.steps, "G2P from the pretrained weights");
    let (losses, fine_s) = train(ctx, &model, &data.0, fine)?;
    let (per, wer) = score(ctx, &model, data.scored(), GREEDY)?;
    ctx.start(fine.steps, "G2P from scratch, the same budget");
    ctx.dev.manual_seed(23);
    let scratch = data.build(ctx)?;
    let (_, scratch_s) = train(ctx, &scratch, &data.0, fine)?;
    let (s_per, s_wer) = score(ctx, &scratch, data.scored(), GREEDY)?;
    let helps = per < s_per && wer <= s_wer;
    let n = data.scored().len();
    let params: usize = model.parameters().iter().map(Tensor::numel).sum();
    let notes = vec![
        format!(
            "pretraining: {} steps of {} corrupted spellings (shuffled, or {}% of letters \
             masked), loss {:.3} -> {:.3} in {pre_s:.0} s; {:.1}% of {n} held-out \
             corrupted spellings restored exactly",
            pre.steps,
            pre.batch,
            100.0 * MASK_RATE,
            pre_losses.first().copied().unwrap_or(f32::NAN),
            pre_losses.last().copied().unwrap_or(f32::NAN),
            100.0 * exact
        ),
        example,
        format!(
            "G2P, {} steps of {} words each ({params} parameters, the same batches), \
             greedy on {n} held-out words:",
            fine.steps, fine.batch
        ),
        format!(
            "  pretrained: PER {:.2}%, WER {:.2}% ({fine_s:.0} s)",
            100.0 * per,
            100.0 * wer
        ),
        format!(
            "  from scratch: PER {:.2}%, WER {:.2}% ({scratch_s:.0} s)",
            100.0 * s_per,
            100.0 * s_wer
        ),
        format!(
            "pretraining {} here",
            if helps { "helps" } else { "does not help" }
        ),
    ];
    let held_out = Snapshot::new(data.metric(), per, &model);
    Ok(Outcome {
        model: "transformer encoder-decoder, pretrained by restoring spellings".into(),
        dataset: "CMUdict".into(),
        metric: held_out.metric.clone(),
        value: per,
        target: ctx.pick(0.5, 0.8),
        higher_is_better: false,
        steps: pre.steps + fine.steps,
        first_loss: losses.first().copied().unwrap_or(f32::NAN) as f64,
        last_loss: losses.last().copied().unwrap_or(f32::NAN) as f64,
        checks: Vec::new(),
        notes,
        held_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupted_copy_is_a_shuffle_or_hides_at_least_one_letter() {
        let mut rng = StdRng::seed_from_u64(0);
        let word = [1, 2, 3, 4, 5, 6];
        let (mut shuffled, mut masked) = (0, 0);
        for _ in 0..200 {
            let c = corrupt(&word, 9, &mut rng);
            assert_eq!(c.len(), word.len());
            if c.contains(&9) {
                masked += 1;
                let kept = c.iter().zip(&word).filter(|(a, b)| a == b).count();
                assert_eq!(kept + c.iter().filter(|&&l| l == 9).count(), word.len());
            } else {
                shuffled += 1;
                let mut sorted = c.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, word);
            }
        }
        assert!(shuffled > 50 && masked > 50, "{shuffled} {masked}");
        assert_eq!(corrupt(&[4], 9, &mut StdRng::seed_from_u64(1)).len(), 1);
    }

    #[test]
    fn letters_follow_the_phonemes_in_the_joint_target_vocabulary() {
        let data = Joint(Lexicon {
            letters: vec!['a', 'b'],
            phonemes: vec!["AA".into(), "B".into(), "K".into()],
            train: Vec::new(),
            test: Vec::new(),
        });
        assert_eq!(data.mask(), 3);
        assert_eq!(data.spelled(&[1, 2]), vec![6, 7]);
        assert_eq!(data.spell(&[3, 7, 6]), "AA b a");
        let c = data.config();
        assert_eq!((c.src_vocab, c.tgt_vocab), (4, 8));
    }
}
