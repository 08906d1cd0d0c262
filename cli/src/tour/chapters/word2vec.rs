//! 字嵌入, prediction-based: skip-gram with negative sampling and CBOW
//! (Mikolov et al. 2013) on about 2M words of English (news, the King James
//! Bible, Shakespeare's plays, fortunes). The sampling (subsampling of
//! frequent words, dynamic windows, negatives from the unigram^0.75 table)
//! runs on the CPU; the dot products, the logistic loss, its gradient and
//! the update run on the GPU, where both tables have sparse gradients: a
//! step touches the rows it read, never a dense V x d gradient.
//!
//! Training time on lavapipe (2 cores, shared with a second run): skip-gram
//! about 10 minutes (3 epochs in batches of 4096 pairs), CBOW about 6 (6
//! epochs in batches of 1024 windows: it sees each word once an epoch,
//! skip-gram up to 2 WINDOW times, and 3 epochs reached only 0.24).
//! `--quick` trains on every tenth line (about 200k words), skip-gram 2
//! epochs, CBOW 4 (2 scored 0.07), under a minute each.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::tour::chapters::word_eval::{analogies, neighbours, wordsim};
use crate::tour::common::{Ctx, Outcome};
use crate::tour::held_out::{HeldOut, Snapshot};
use shadergrad::Result;
use shadergrad::Tensor;
use shadergrad::data::{Analogy, WordPair, WordVocab};
use shadergrad::nn::{Embedding, Stateful, init};
use shadergrad::optim::Optimizer;

const DIM: usize = 64;
const WINDOW: usize = 5;
const MIN_COUNT: u64 = 3;
/// Frequent words are kept with probability (sqrt(f / T) + 1) T / f.
const SUBSAMPLE: f64 = 1e-4;
const TABLE: usize = 2_000_000;
/// Words whose neighbours are printed.
const PROBES: [&str; 6] = ["king", "god", "love", "war", "water", "night"];

/// Input (word) and output (context) vectors, both with sparse gradients.
#[derive(Stateful)]
pub struct Word2Vec {
    input: Embedding,
    output: Embedding,
}

impl Word2Vec {
    /// word2vec's initialisation: inputs uniform in +-0.5 / dim, outputs zero.
    fn new(ctx: &Ctx, vocab: usize) -> Result<Word2Vec> {
        let h = 0.5 / DIM as f64;
        let zeros = Tensor::zeros(&ctx.dev, &[vocab, DIM], shadergrad::DType::F32)?;
        Ok(Word2Vec {
            input: Embedding::from_table(init::uniform(&ctx.dev, &[vocab, DIM], -h, h)?)?
                .with_sparse_grad(true)?,
            output: Embedding::from_table(zeros)?.with_sparse_grad(true)?,
        })
    }

    /// The word vectors, on the host, (V, DIM) row-major.
    fn vectors(&self) -> Result<Vec<f32>> {
        self.input.table.to_vec::<f32>()
    }
}

/// The corpus as ids, its vocabulary and the two evaluations.
pub struct Text {
    vocab: WordVocab,
    lines: Vec<Vec<u32>>,
    words: usize,
    pairs: Vec<WordPair>,
    questions: Vec<Analogy>,
}

impl Text {
    fn load(ctx: &Ctx) -> Result<Text> {
        let mut raw = shadergrad::data::word2vec_corpus(&ctx.data)?;
        if ctx.quick {
            // Every tenth line: about 200k words from all four sources.
            raw = raw.into_iter().step_by(10).collect();
        }
        let vocab = WordVocab::build(&raw, MIN_COUNT);
        let lines = vocab.encode(&raw);
        Ok(Text {
            words: raw.iter().map(Vec::len).sum(),
            lines,
            vocab,
            pairs: shadergrad::data::wordsim353(&ctx.data)?,
            questions: shadergrad::data::analogy_questions(&ctx.data)?,
        })
    }

    fn tokens(&self) -> usize {
        self.lines.iter().map(Vec::len).sum()
    }

    fn spearman(&self, model: &Word2Vec) -> Result<f64> {
        Ok(wordsim(&self.vocab, &model.vectors()?, DIM, &self.pairs).spearman)
    }
}

/// Which of the two models an entry trains.
#[derive(Clone, Copy, PartialEq)]
enum Arch {
    SkipGram,
    Cbow,
}

impl Arch {
    /// Negatives drawn per positive target (word2vec's default of 5 for
    /// CBOW; 10 scored 0.20 on WordSim against 0.26 here, and skip-gram,
    /// whose batches are 4 times the size, keeps 4).
    fn negatives(self) -> usize {
        match self {
            Arch::SkipGram => 4,
            Arch::Cbow => 5,
        }
    }
}

/// What one step feeds the GPU: per example its context (skip-gram: the
/// centre word; CBOW: the window, padded) and its targets (the word to
/// predict, then the negatives).
struct Batch {
    ctx: Vec<i32>,
    weight: Vec<f32>,
    targets: Vec<i32>,
}

/// The CPU side of training: subsampling, windows and negatives.
struct Sampler {
    keep: Vec<f64>,
    table: Vec<u32>,
    rng: StdRng,
}

impl Sampler {
    fn new(vocab: &WordVocab, tokens: usize, seed: u64) -> Sampler {
        let keep = vocab
            .counts
            .iter()
            .map(|&c| {
                let f = c as f64 / tokens as f64;
                ((f / SUBSAMPLE).sqrt() + 1.0) * SUBSAMPLE / f
            })
            .collect();
        // The unigram distribution to the 3/4, as a table drawn from uniformly.
        let pow: Vec<f64> = vocab
            .counts
            .iter()
            .map(|&c| (c as f64).powf(0.75))
            .collect();
        let total: f64 = pow.iter().sum();
        let mut table = Vec::with_capacity(TABLE);
        for (w, p) in pow.iter().enumerate() {
            let n = (p / total * TABLE as f64).round().max(1.0) as usize;
            table.extend(std::iter::repeat_n(w as u32, n));
        }
        Sampler {
            keep,
            table,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    fn negative(&mut self) -> i32 {
        self.table[self.rng.random_range(0..self.table.len())] as i32
    }

    /// One epoch's examples in batches of `size`, handed to `step` (the
    /// last partial batch is dropped, so every step replays one plan).
    fn epoch(
        &mut self,
        lines: &[Vec<u32>],
        arch: Arch,
        size: usize,
        step: &mut dyn FnMut(&Batch) -> Result<()>,
    ) -> Result<()> {
        let mut b = Batch {
            ctx: Vec::new(),
            weight: Vec::new(),
            targets: Vec::new(),
        };
        let mut count = 0;
        for line in lines {
            let kept: Vec<u32> = line
                .iter()
                .copied()
                .filter(|&w| self.rng.random::<f64>() < self.keep[w as usize])
                .collect();
            for (i, &w) in kept.iter().enumerate() {
                let reach = self.rng.random_range(1..=WINDOW);
                let lo = i.saturating_sub(reach);
                let hi = (i + reach + 1).min(kept.len());
                let around = (lo..hi).filter(|&j| j != i).map(|j| kept[j] as i32);
                match arch {
                    Arch::SkipGram => {
                        for c in around {
                            b.ctx.push(w as i32);
                            self.push_targets(&mut b.targets, c, arch);
                            count += 1;
                            if count == size {
                                step(&b)?;
                                b.ctx.clear();
                                b.targets.clear();
                                count = 0;
                            }
                        }
                    }
                    Arch::Cbow => {
                        let window: Vec<i32> = around.collect();
                        if window.is_empty() {
                            continue;
                        }
                        let share = 1.0 / window.len() as f32;
                        for k in 0..2 * WINDOW {
                            b.ctx.push(window.get(k).copied().unwrap_or(0));
                            b.weight.push(if k < window.len() { share } else { 0.0 });
                        }
                        self.push_targets(&mut b.targets, w as i32, arch);
                        count += 1;
                        if count == size {
                            step(&b)?;
                            b.ctx.clear();
                            b.weight.clear();
                            b.targets.clear();
                            count = 0;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn push_targets(&mut self, t: &mut Vec<i32>, word: i32, arch: Arch) {
        t.push(word);
        for _ in 0..arch.negatives() {
            t.push(self.negative());
        }
    }
}

/// The summed negative-sampling loss of a batch: -log sigmoid(u_o . h) -
/// sum over negatives of log sigmoid(-u_n . h), h the centre word's vector
/// (skip-gram) or the window's mean (CBOW).
fn loss(model: &Word2Vec, arch: Arch, b: &Batch, sign: &Tensor) -> Result<Tensor> {
    let k = arch.negatives() + 1;
    let n = b.targets.len() / k;
    let h = match arch {
        Arch::SkipGram => model.input.lookup_ids(&b.ctx, &[n])?,
        Arch::Cbow => {
            let dev = model.input.table.device();
            let w = Tensor::from_slice(dev, &b.weight, &[n, 2 * WINDOW, 1])?;
            let ctx = model.input.lookup_ids(&b.ctx, &[n, 2 * WINDOW])?;
            ctx.mul(&w)?.sum(&[1], false)?
        }
    };
    let u = model.output.lookup_ids(&b.targets, &[n, k])?;
    let score = u.mul(&h.unsqueeze(1)?)?.sum(&[-1], false)?;
    score.mul(sign)?.neg()?.softplus(1.0, 20.0)?.sum_all()
}

struct Trained {
    steps: usize,
    first: f64,
    last: f64,
    secs: f64,
}

/// Adam on both sparse tables (torch's SparseAdam: only the rows a batch
/// read, and their moments, change), the rate falling linearly to 1e-4 of
/// its start (word2vec's schedule). Plain SGD with the summed gradient of a
/// batch this size sends a frequent word's row hundreds of stale updates at
/// once and pulls every vector onto one direction; Adam bounds each row's
/// step by the rate.
fn train(ctx: &Ctx, data: &Text, model: &Word2Vec, arch: Arch) -> Result<Trained> {
    let (batch, lr0, epochs) = match arch {
        Arch::SkipGram => (ctx.pick(4096, 512), 0.03, ctx.pick(3, 2)),
        Arch::Cbow => (ctx.pick(1024, 256), 0.03, ctx.pick(6, 4)),
    };
    // Examples per epoch, estimated from the kept tokens, for the schedule.
    let mut sampler = Sampler::new(&data.vocab, data.tokens(), 7);
    let kept: f64 = data
        .lines
        .iter()
        .flatten()
        .map(|&w| sampler.keep[w as usize].min(1.0))
        .sum();
    let per_token = match arch {
        Arch::SkipGram => (WINDOW + 1) as f64,
        Arch::Cbow => 1.0,
    };
    let total = ((kept * per_token / batch as f64) as usize * epochs).max(1);
    ctx.start(total, "sampling on the CPU, steps on the GPU");
    let k = arch.negatives() + 1;
    let mut signs = vec![-1.0f32; batch * k];
    signs.iter_mut().step_by(k).for_each(|s| *s = 1.0);
    let sign = Tensor::from_slice(&ctx.dev, &signs, &[batch, k])?;
    let mut opt = Optimizer::adam(&model.parameters(), lr0)?;
    let clock = std::time::Instant::now();
    let (mut steps, mut first, mut recent) = (0usize, None, Vec::new());
    for _ in 0..epochs {
        sampler.epoch(&data.lines, arch, batch, &mut |b| {
            let frac = (steps as f64 / total as f64).min(1.0);
            opt.set_lr(lr0 * (1.0 - frac).max(1e-4));
            opt.zero_grad();
            let l = loss(model, arch, b, &sign)?;
            l.backward()?;
            opt.record()?;
            let per = l.to_scalar::<f32>()? as f64 / batch as f64;
            first.get_or_insert(per);
            recent.push(per);
            if recent.len() > 50 {
                recent.remove(0);
            }
            steps += 1;
            ctx.tick(per as f32);
            Ok(())
        })?;
    }
    let last = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
    Ok(Trained {
        steps,
        first: first.unwrap_or(0.0),
        last,
        secs: clock.elapsed().as_secs_f64(),
    })
}

pub struct SkipGram(Text);
pub struct Cbow(Text);

macro_rules! held_out {
    ($t:ident, $name:literal) => {
        impl HeldOut for $t {
            type Model = Word2Vec;

            fn prepare(ctx: &Ctx) -> Result<$t> {
                Text::load(ctx).map($t)
            }

            fn build(&self, ctx: &Ctx) -> Result<Word2Vec> {
                Word2Vec::new(ctx, self.0.vocab.len())
            }

            fn metric(&self) -> String {
                concat!("WordSim-353 Spearman (", $name, ")").into()
            }

            fn evaluate(&self, _ctx: &Ctx, model: &Word2Vec) -> Result<f64> {
                self.0.spearman(model)
            }
        }
    };
}

held_out!(SkipGram, "skip-gram");
held_out!(Cbow, "CBOW");

/// Trains one model and reports WordSim, the analogies and neighbours.
fn entry(ctx: &Ctx, data: &Text, arch: Arch, target: f64, metric: String) -> Result<Outcome> {
    ctx.dev.manual_seed(11);
    let model = Word2Vec::new(ctx, data.vocab.len())?;
    let t = train(ctx, data, &model, arch)?;
    let vecs = model.vectors()?;
    let ws = wordsim(&data.vocab, &vecs, DIM, &data.pairs);
    let an = analogies(&ctx.dev, &data.vocab, &vecs, DIM, &data.questions)?;
    let held_out = Snapshot {
        metric: metric.clone(),
        value: ws.spearman,
        state: model.state_dict(),
    };
    let name = match arch {
        Arch::SkipGram => "skip-gram",
        Arch::Cbow => "CBOW",
    };
    let mut notes = vec![
        format!(
            "{} words, {} in the vocabulary (min count {MIN_COUNT}), {} after dropping rare \
             words; {} steps in {:.0} s of training (lavapipe on a shared CPU: an \
             inflated time)",
            data.words,
            data.vocab.len(),
            data.tokens(),
            t.steps,
            t.secs
        ),
        format!(
            "WordSim-353: Spearman {:.3} on {} pairs in the vocabulary ({} out of it)",
            ws.spearman, ws.used, ws.missing
        ),
        format!(
            "Google analogies (3CosAdd, 30k most frequent words): {}/{} right = {:.1}% of the \
             questions in the vocabulary ({} of 19,544 out of it)",
            an.right,
            an.asked,
            100.0 * an.right as f64 / an.asked.max(1) as f64,
            an.missing
        ),
    ];
    for w in PROBES {
        if let Some(n) = neighbours(&data.vocab, &vecs, DIM, w, 6) {
            notes.push(format!("{name} neighbours of {w:?}: {}", n.join(", ")));
        }
    }
    Ok(Outcome {
        model: format!(
            "{name}, {DIM}-d, window {WINDOW}, {} negatives, sparse Adam on both tables",
            arch.negatives()
        ),
        dataset: "lee_background + KJV (English) + Shakespeare + fortunes".into(),
        metric,
        value: ws.spearman,
        target,
        higher_is_better: true,
        steps: t.steps,
        first_loss: t.first,
        last_loss: t.last,
        checks: vec![],
        notes,
        held_out,
    })
}

pub fn skipgram(ctx: &Ctx) -> Result<Outcome> {
    let data = SkipGram::prepare(ctx)?;
    let metric = data.metric();
    entry(ctx, &data.0, Arch::SkipGram, ctx.pick(0.25, 0.10), metric)
}

pub fn cbow(ctx: &Ctx) -> Result<Outcome> {
    let data = Cbow::prepare(ctx)?;
    let metric = data.metric();
    entry(ctx, &data.0, Arch::Cbow, ctx.pick(0.25, 0.10), metric)
}
