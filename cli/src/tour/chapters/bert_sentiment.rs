//! BERT on Chinese (the notes' self-supervised chapter: pretrain, then
//! fine-tune): a small character encoder pretrained as a masked language
//! model on unlabelled Chinese (the training reviews' text, People's Daily,
//! the Tang poems), saved to a file, then fine-tuned from that file with a
//! [CLS] classifier on the reviews' sentiment. Fine-tuned on 2,000 labelled
//! reviews it is set against the same architecture trained from scratch on
//! the same reviews with the same budget; then it is fine-tuned on the
//! whole training split.
//!
//! The reviews repeat (35,123 of them, 17,363 distinct texts of one label):
//! the split is of distinct texts, so no held-out review is seen in
//! training, and the held-out text is not in the pretraining text either.
//!
//! Training time on lavapipe, 2 cores shared with other trainings (load
//! 5 to 8, so slow and noisy): pretraining 400 steps of 64 windows in 796 s
//! (2.0 s a step; 0.76 s in a lighter-loaded run), the two fine-tunes on
//! 2,000 reviews 154 s and 145 s, the one on every review 600 steps of 64
//! in 652 s; 1773 s for the whole entry. It reached 0.797 held out (the
//! target is 0.88) and pretraining gave +1.2 points on 2,000 reviews (the
//! target is 3): both missed at this budget. `--quick` trains 30 + 2 x 20
//! + 80 small steps on subsets (about 3 minutes under that load).

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::tour::chapters::bert::{Classifier, Config, Encoder, MaskedLm};
use crate::tour::chapters::mlm::{CLS, SEP, Vocab, mask};
use crate::tour::chapters::seq2seq::Padded;
use crate::tour::common::{Ctx, Outcome};
use crate::tour::held_out::{HeldOut, Snapshot};
use crate::tour::training::{buckets, train_steps};
use shadergrad::data::{peoples_daily, sentiment, tang_poems};
use shadergrad::loss::cross_entropy;
use shadergrad::nn::Stateful;
use shadergrad::optim::{CosineLr, LrScheduler, Optimizer};
use shadergrad::{Result, Tensor, no_grad};

/// Characters in the vocabulary (98.9% of the reviews' characters; each
/// row of the tables is then seen often enough in a short pretraining).
const CHARS: usize = 2000;
/// The longest sequence, [CLS] included: a review is cut to its first
/// MAX_LEN - 1 characters.
const MAX_LEN: usize = 64;
/// Widths are rounded up to a multiple of this (few plans, little padding).
const ROUND: usize = 16;
/// Reviews scored side by side.
const EVAL_ROWS: usize = 256;
/// The small labelled subset, where pretraining matters most.
const SMALL: usize = 2000;

/// A review as ids ([CLS], its characters) and its label (1 positive).
pub type Example = (Vec<i32>, i32);

/// The distinct reviews split 90/10 with a fixed seed, the vocabulary of
/// the pretraining text, and that text as one stream of ids (SEP between
/// texts).
pub struct Reviews {
    pub vocab: Vocab,
    pub train: Vec<Example>,
    pub test: Vec<Example>,
    pub corpus: Vec<i32>,
}

impl Reviews {
    pub fn load(ctx: &Ctx) -> Result<Reviews> {
        let mut labels: std::collections::BTreeMap<String, Vec<bool>> = Default::default();
        for r in sentiment(&ctx.data)? {
            labels.entry(r.text).or_default().push(r.positive);
        }
        // A text labelled both ways says nothing; the rest once each.
        let mut texts: Vec<(String, bool)> = labels
            .into_iter()
            .filter(|(_, l)| l.iter().all(|&p| p == l[0]))
            .map(|(t, l)| (t, l[0]))
            .collect();
        texts.shuffle(&mut StdRng::seed_from_u64(1234));
        let (test, train) = texts.split_at(texts.len() / 10);
        let daily: Vec<String> = peoples_daily(&ctx.data)?
            .into_iter()
            .map(|t| t.chars.into_iter().collect())
            .collect();
        let poems = tang_poems(&ctx.data)?;
        let unlabelled = || {
            let reviews = train.iter().map(|(t, _)| t.as_str());
            reviews
                .chain(daily.iter().map(String::as_str))
                .chain(poems.lines())
        };
        let vocab = Vocab::most_frequent(unlabelled(), CHARS);
        let mut corpus = Vec::new();
        for text in unlabelled() {
            corpus.extend(vocab.encode(text));
            corpus.push(SEP);
        }
        let example = |(t, p): &(String, bool)| -> Example {
            let mut ids = vec![CLS];
            ids.extend(vocab.encode(t).into_iter().take(MAX_LEN - 1));
            (ids, i32::from(*p))
        };
        let train: Vec<Example> = train.iter().map(example).collect();
        let test: Vec<Example> = test.iter().map(example).collect();
        Ok(Reviews {
            train: train[..ctx.pick(train.len(), 1_500)].to_vec(),
            test: test[..ctx.pick(test.len(), 400)].to_vec(),
            corpus: corpus[..ctx.pick(corpus.len(), 400_000)].to_vec(),
            vocab,
        })
    }

    pub fn config(&self) -> Config {
        Config {
            vocab: self.vocab.size(),
            dim: 128,
            heads: 4,
            ff: 256,
            layers: 2,
            max_len: MAX_LEN,
            dropout: 0.1,
        }
    }
}

/// How a model trains: `steps` batches of `batch`, AdamW at `lr` (a warm-up
/// of a tenth of the steps, then cosine to lr / 10), gradients clipped to 1.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub batch: usize,
    pub steps: usize,
    pub lr: f64,
}

impl Budget {
    pub fn pretrain(quick: bool) -> Budget {
        Budget {
            batch: if quick { 16 } else { 64 },
            steps: if quick { 30 } else { 400 },
            lr: 2e-3,
        }
    }

    /// Fine-tuning on the small subset (both starts): a step costs about
    /// the same at 64 reviews as at 32 on lavapipe, so batches are large.
    pub fn small(quick: bool) -> Budget {
        Budget {
            batch: if quick { 16 } else { 64 },
            steps: if quick { 20 } else { 150 },
            lr: 1e-3,
        }
    }

    pub fn full(quick: bool) -> Budget {
        Budget {
            batch: if quick { 32 } else { 64 },
            steps: if quick { 80 } else { 600 },
            lr: 1e-3,
        }
    }

    fn optimizer(&self, params: &[Tensor]) -> Result<(Optimizer, LrScheduler)> {
        let mut opt = Optimizer::adamw(params, self.lr, 0.01)?.with_clip_grad_norm(1.0);
        let cosine = CosineLr {
            base: self.lr,
            min: self.lr / 10.0,
            warmup: (self.steps / 10).max(1),
            total: self.steps,
        };
        let sched = LrScheduler::new(cosine, &mut opt);
        Ok((opt, sched))
    }
}

/// Training losses and seconds.
pub struct Run {
    pub losses: Vec<f32>,
    pub seconds: f64,
}

/// Masked-LM pretraining on random windows of the stream: [CLS] then
/// MAX_LEN - 1 ids, masked afresh each step.
pub fn pretrain(ctx: &Ctx, model: &MaskedLm, corpus: &[i32], budget: Budget) -> Result<Run> {
    let (mut opt, mut sched) = budget.optimizer(&model.parameters())?;
    let mut rng = StdRng::seed_from_u64(5);
    let vocab = model.encoder.cfg.vocab;
    model.train();
    let (losses, seconds) = train_steps(ctx, &mut opt, &mut sched, budget.steps, |_| {
        let mut ids = Vec::with_capacity(budget.batch * MAX_LEN);
        for _ in 0..budget.batch {
            let at = rng.random_range(0..corpus.len() - MAX_LEN);
            ids.push(CLS);
            ids.extend_from_slice(&corpus[at..at + MAX_LEN - 1]);
        }
        let p = Padded {
            ids,
            lens: vec![MAX_LEN as i32; budget.batch],
            width: MAX_LEN,
        };
        let m = mask(&p.ids, &p.lens, p.width, vocab, &mut rng);
        model.loss(&ctx.dev, &p, &m)
    })?;
    model.eval();
    Ok(Run { losses, seconds })
}

fn padded(data: &[Example], rows: &[usize]) -> (Padded, Vec<i32>) {
    let seqs: Vec<&[i32]> = rows.iter().map(|&i| data[i].0.as_slice()).collect();
    let labels = rows.iter().map(|&i| data[i].1).collect();
    (Padded::new(&seqs, ROUND), labels)
}

/// Fine-tunes the whole classifier (encoder included) on `data`, in batches
/// of reviews of similar lengths (pools of 16 batches sorted by length).
pub fn fine_tune(ctx: &Ctx, model: &Classifier, data: &[Example], budget: Budget) -> Result<Run> {
    let (mut opt, mut sched) = budget.optimizer(&model.parameters())?;
    let mut rng = StdRng::seed_from_u64(7);
    let mut epoch = Vec::new();
    model.train();
    let (losses, seconds) = train_steps(ctx, &mut opt, &mut sched, budget.steps, |_| {
        if epoch.is_empty() {
            epoch = buckets(data.len(), budget.batch, 16, |i| data[i].0.len(), &mut rng);
        }
        let (p, labels) = padded(data, &epoch.pop().unwrap_or_default());
        let logits = model.logits(&ctx.dev, &p)?;
        let y = Tensor::from_slice(&ctx.dev, &labels, &[labels.len()])?;
        cross_entropy(&logits, &y)
    })?;
    model.eval();
    Ok(Run { losses, seconds })
}

/// The share of `data` whose likelier class is its label (batched by
/// length, in a fixed order).
pub fn accuracy(ctx: &Ctx, model: &Classifier, data: &[Example]) -> Result<f64> {
    let _g = no_grad();
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by_key(|&i| data[i].0.len());
    let mut right = 0;
    for rows in order.chunks(EVAL_ROWS) {
        let (p, labels) = padded(data, rows);
        let logits = model.logits(&ctx.dev, &p)?.to_vec::<f32>()?;
        let hits = logits.chunks(2).zip(&labels);
        right += hits.filter(|(l, y)| i32::from(l[1] > l[0]) == **y).count();
    }
    Ok(right as f64 / data.len().max(1) as f64)
}

impl HeldOut for Reviews {
    type Model = Classifier;

    fn prepare(ctx: &Ctx) -> Result<Reviews> {
        Reviews::load(ctx)
    }

    fn build(&self, ctx: &Ctx) -> Result<Classifier> {
        Classifier::new(&ctx.dev, Encoder::new(&ctx.dev, self.config())?, 2)
    }

    fn metric(&self) -> String {
        "held-out accuracy".into()
    }

    fn evaluate(&self, ctx: &Ctx, model: &Classifier) -> Result<f64> {
        accuracy(ctx, model, &self.test)
    }
}

/// Where the pretrained encoder goes: the report folder, a name of its own
/// for each run in one process (tests run entries side by side).
fn encoder_file(ctx: &Ctx) -> Result<std::path::PathBuf> {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    std::fs::create_dir_all(&ctx.report).map_err(|e| shadergrad::Error::Data {
        file: ctx.report.display().to_string(),
        at: "create".into(),
        msg: e.to_string(),
    })?;
    let name = match n {
        0 => "bert_sentiment_encoder.safetensors".to_string(),
        n => format!("bert_sentiment_encoder-{n}.safetensors"),
    };
    Ok(ctx.report.join(name))
}

/// A classifier from the encoder file (or from scratch), fine-tuned on
/// `data`; its held-out accuracy and run. The seed is set first, so both
/// starts draw the same head and the same dropout masks.
fn classify(
    ctx: &Ctx,
    reviews: &Reviews,
    from: Option<&std::path::Path>,
    data: &[Example],
    budget: Budget,
) -> Result<(Classifier, f64, Run)> {
    ctx.dev.manual_seed(41);
    let cfg = reviews.config();
    let encoder = match from {
        Some(file) => Encoder::load(&ctx.dev, cfg, file)?,
        None => Encoder::new(&ctx.dev, cfg)?,
    };
    let model = Classifier::new(&ctx.dev, encoder, 2)?;
    let run = fine_tune(ctx, &model, data, budget)?;
    let acc = accuracy(ctx, &model, &reviews.test)?;
    Ok((model, acc, run))
}

/// What the entry trains and measures, phase by phase.
struct Phases {
    pre: Budget,
    small: Budget,
    full: Budget,
    pretrained: Run,
    file: std::path::PathBuf,
    subset: usize,
    /// Held-out accuracy and run of the small fine-tunes: pretrained, scratch.
    on_subset: [(f64, Run); 2],
    model: Classifier,
    acc: f64,
    run: Run,
}

/// Pretrains and saves the encoder, fine-tunes from the file on the subset
/// and from scratch beside it, then from the file on every review.
fn phases(ctx: &Ctx, data: &Reviews) -> Result<Phases> {
    let (pre, small, full) = (
        Budget::pretrain(ctx.quick),
        Budget::small(ctx.quick),
        Budget::full(ctx.quick),
    );
    ctx.start(pre.steps, "masked-LM pretraining");
    ctx.dev.manual_seed(31);
    // Pretraining under-fits in this budget: no dropout there.
    let pre_cfg = Config {
        dropout: 0.0,
        ..data.config()
    };
    let mlm = MaskedLm::new(&ctx.dev, pre_cfg)?;
    let pretrained = pretrain(ctx, &mlm, &data.corpus, pre)?;
    let file = encoder_file(ctx)?;
    mlm.encoder.save(&file)?;
    let subset = &data.train[..data.train.len().min(ctx.pick(SMALL, 500))];
    ctx.start(
        small.steps,
        "fine-tuning the pretrained encoder on the subset",
    );
    let (_, pre_acc, pre_run) = classify(ctx, data, Some(&file), subset, small)?;
    ctx.start(small.steps, "training from scratch on the subset");
    let (_, scratch_acc, scratch_run) = classify(ctx, data, None, subset, small)?;
    ctx.start(
        full.steps,
        "fine-tuning the pretrained encoder on every review",
    );
    let (model, acc, run) = classify(ctx, data, Some(&file), &data.train, full)?;
    Ok(Phases {
        pre,
        small,
        full,
        pretrained,
        file,
        subset: subset.len(),
        on_subset: [(pre_acc, pre_run), (scratch_acc, scratch_run)],
        model,
        acc,
        run,
    })
}

fn notes(data: &Reviews, p: &Phases) -> Vec<String> {
    let c = data.config();
    let params = p.model.encoder.parameter_count();
    let per_step = |r: &Run, b: Budget| r.seconds / b.steps.max(1) as f64;
    let [(pre_acc, pre_run), (scratch_acc, scratch_run)] = &p.on_subset;
    vec![
        format!(
            "encoder: {} layers, {} wide, {} heads, ff {}, {} positions, vocabulary {} \
             ({CHARS} characters and 5 specials): {params} parameters; saved to {}",
            c.layers,
            c.dim,
            c.heads,
            c.ff,
            c.max_len,
            c.vocab,
            p.file.display()
        ),
        format!(
            "{} distinct reviews: {} to train, {} held out; pretraining text {} characters",
            data.train.len() + data.test.len(),
            data.train.len(),
            data.test.len(),
            data.corpus.len()
        ),
        format!(
            "masked-LM pretraining: {} steps of {} windows of {MAX_LEN} in {:.0} s ({:.2} s a \
             step); loss by tenth of the steps: {}",
            p.pre.steps,
            p.pre.batch,
            p.pretrained.seconds,
            per_step(&p.pretrained, p.pre),
            tenths(&p.pretrained.losses)
        ),
        format!(
            "{} labelled reviews, {} steps of {}: pretrained {pre_acc:.4} ({:.0} s), from \
             scratch {scratch_acc:.4} ({:.0} s): {:+.1} points",
            p.subset,
            p.small.steps,
            p.small.batch,
            pre_run.seconds,
            scratch_run.seconds,
            100.0 * (pre_acc - scratch_acc)
        ),
        format!(
            "every training review, {} steps of {} ({:.2} passes) from the file: {:.4} in \
             {:.0} s ({:.2} s a step)",
            p.full.steps,
            p.full.batch,
            (p.full.steps * p.full.batch) as f64 / data.train.len().max(1) as f64,
            p.acc,
            p.run.seconds,
            per_step(&p.run, p.full)
        ),
    ]
}

pub fn bert_sentiment(ctx: &Ctx) -> Result<Outcome> {
    let data = Reviews::load(ctx)?;
    let p = phases(ctx, &data)?;
    let gap = p.on_subset[0].0 - p.on_subset[1].0;
    let mut checks = vec![(
        "masked-LM loss falls in pretraining".to_string(),
        tail_mean(&p.pretrained.losses) < p.pretrained.losses[0],
    )];
    if !ctx.quick {
        checks.push((
            format!(
                "pretrained beats scratch on {} reviews by >= 3 points ({:+.1})",
                p.subset,
                100.0 * gap
            ),
            gap >= 0.03,
        ));
    }
    let c = data.config();
    let held_out = Snapshot::new(data.metric(), p.acc, &p.model);
    Ok(Outcome {
        model: format!("BERT, {} x {}, masked-LM pretrained", c.layers, c.dim),
        dataset: "Chinese reviews (sentiment)".into(),
        metric: held_out.metric.clone(),
        value: p.acc,
        target: ctx.pick(0.88, 0.6),
        higher_is_better: true,
        steps: p.pre.steps + 2 * p.small.steps + p.full.steps,
        first_loss: p.run.losses.first().copied().unwrap_or(f32::NAN) as f64,
        last_loss: tail_mean(&p.run.losses) as f64,
        checks,
        notes: notes(&data, &p),
        held_out,
    })
}

/// The mean loss of each tenth of the steps, as a list.
fn tenths(losses: &[f32]) -> String {
    let size = losses.len().div_ceil(10).max(1);
    let means: Vec<String> = losses
        .chunks(size)
        .map(|c| format!("{:.2}", c.iter().sum::<f32>() / c.len() as f32))
        .collect();
    means.join(", ")
}

/// The mean of the last tenth of `losses` (one batch's loss is noisy).
fn tail_mean(losses: &[f32]) -> f32 {
    let tail = &losses[losses.len() - (losses.len() / 10).max(1).min(losses.len())..];
    tail.iter().sum::<f32>() / tail.len().max(1) as f32
}
