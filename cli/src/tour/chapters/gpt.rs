//! GPT (the notes' self-supervised chapter: next-token prediction with a
//! decoder-only transformer): a character model of the Shakespeare plays,
//! causal self-attention over a context of 64 with learned positions, the
//! last 5% held out and scored in nats per character; a passage sampled
//! with temperature and top-k, and generation timed with and without the
//! KV cache.
//!
//! Training time on lavapipe (2 idle cores): 1500 steps of 16 windows (1.5M
//! characters, a third of a pass) at about 0.5 s a step, 13 minutes; with
//! scoring, sampling and timing the entry takes about 14 (1.75 nats/char
//! held out). `--quick` trains 40 steps of 8 windows on a 400k-character
//! slice (under a minute).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::tour::chapters::char_lm::{Plays, draw};
use crate::tour::common::{Ctx, Outcome};
use crate::tour::held_out::{HeldOut, Snapshot};
use shadergrad::data::CharVocab;
use shadergrad::loss::cross_entropy;
use shadergrad::nn::Stateful;
use shadergrad::nn::{CausalBlock, Embedding, KvCache, LayerNorm, Linear, Module, Positions};
use shadergrad::optim::{CosineLr, LrScheduler, Optimizer};
use shadergrad::{Device, Error, Result, Tensor, no_grad};

pub const DIM: usize = 128;
pub const LAYERS: usize = 4;
pub const HEADS: usize = 4;
/// Positions a token sees (the positional table's length).
pub const CONTEXT: usize = 64;
/// Held-out blocks scored side by side.
const EVAL_ROWS: usize = 64;

/// How the model trains: `batch` random windows of CONTEXT, AdamW at `lr`
/// (cosine to lr / 10 after a warm-up), gradients clipped to norm 1.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub batch: usize,
    pub steps: usize,
    pub lr: f64,
}

impl Budget {
    pub fn gpt(quick: bool) -> Budget {
        Budget {
            batch: if quick { 8 } else { 16 },
            steps: if quick { 40 } else { 1500 },
            lr: 2e-3,
        }
    }
}

/// Token and position embeddings, causal blocks, a final norm and a linear
/// head; names as GPT-2's (`wte`, `wpe`, `h`, `ln_f`, `lm_head`).
#[derive(Stateful)]
pub struct Gpt {
    wte: Embedding,
    wpe: Positions,
    h: Vec<CausalBlock>,
    ln_f: LayerNorm,
    lm_head: Linear,
    #[stateful(skip)]
    vocab: usize,
    #[stateful(skip)]
    context: usize,
}

impl Gpt {
    /// The tour's model: a context of CONTEXT.
    pub fn new(dev: &Device, vocab: usize, dropout: f64) -> Result<Gpt> {
        Gpt::with_context(dev, vocab, dropout, CONTEXT)
    }

    /// The same architecture over `context` positions (the benchmark
    /// decodes past the tour's CONTEXT).
    pub fn with_context(dev: &Device, vocab: usize, dropout: f64, context: usize) -> Result<Gpt> {
        Ok(Gpt {
            wte: Embedding::new(dev, vocab, DIM)?,
            wpe: Positions::learned(dev, context, DIM)?,
            h: (0..LAYERS)
                .map(|_| CausalBlock::new(dev, DIM, HEADS, 4 * DIM, dropout))
                .collect::<Result<_>>()?,
            ln_f: LayerNorm::new(dev, DIM)?,
            lm_head: Linear::new(dev, DIM, vocab)?,
            vocab,
            context,
        })
    }

    /// Ids (B, N) as a tensor; an id outside the vocabulary is an
    /// `InvalidArgument` naming the model, before any GPU work.
    pub fn tokens(&self, dev: &Device, ids: &[i32], b: usize) -> Result<Tensor> {
        let n = ids.len() / b.max(1);
        if let Some(at) = ids.iter().position(|&i| i < 0 || i as usize >= self.vocab) {
            return Err(Error::InvalidArgument {
                op: "gpt",
                shape: vec![b, n],
                msg: format!(
                    "token id {} at {at} is outside the vocabulary of {}",
                    ids[at], self.vocab
                ),
            });
        }
        Tensor::from_slice(dev, ids, &[b, n])
    }

    /// Logits (B N, V) of every position of ids (B, N), N <= the context.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let mut x = self.wpe.add(&self.wte.lookup(ids)?)?;
        for block in &self.h {
            x = block.forward(&x)?;
        }
        self.head(&x)
    }

    /// Logits (B N, V) of new ids (B, N) that follow the positions in
    /// `cache`, whose keys and values each layer appends.
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        cache.check_room("gpt", ids.shape(), ids.shape()[1])?;
        let mut x = self.wpe.add_at(&self.wte.lookup(ids)?, cache.len())?;
        for (block, layer) in self.h.iter().zip(&mut cache.layers) {
            x = block.forward_cached(&x, layer)?;
        }
        self.head(&x)
    }

    fn head(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape();
        let x = self.ln_f.forward(x)?.reshape(&[s[0] * s[1], DIM])?;
        self.lm_head.forward(&x)
    }

    pub fn cache(&self) -> KvCache {
        KvCache::new(LAYERS, self.context)
    }
}

/// `rows` windows of CONTEXT + 1 at random offsets: inputs and targets (B, T).
fn windows(ids: &[i32], rows: usize, rng: &mut StdRng) -> (Vec<i32>, Vec<i32>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..rows {
        let at = rng.random_range(0..ids.len() - CONTEXT - 1);
        x.extend_from_slice(&ids[at..at + CONTEXT]);
        y.extend_from_slice(&ids[at + 1..at + CONTEXT + 1]);
    }
    (x, y)
}

/// Mean nats per character over `ids` cut into consecutive blocks of
/// CONTEXT (each character predicted from those before it in its block).
pub fn nats_per_char(ctx: &Ctx, model: &Gpt, ids: &[i32]) -> Result<f64> {
    let _g = no_grad();
    let blocks = ids.len().saturating_sub(1) / CONTEXT;
    let (mut sum, mut n) = (0.0, 0);
    for first in (0..blocks).step_by(EVAL_ROWS) {
        let rows = EVAL_ROWS.min(blocks - first);
        let span = first * CONTEXT..(first + rows) * CONTEXT;
        let x = model.tokens(&ctx.dev, &ids[span.clone()], rows)?;
        let y = &ids[span.start + 1..span.end + 1];
        let y = Tensor::from_slice(&ctx.dev, y, &[y.len()])?;
        let loss = cross_entropy(&model.forward(&x)?, &y)?;
        sum += loss.to_scalar::<f32>()? as f64 * y.numel() as f64;
        n += y.numel();
    }
    Ok(sum / n.max(1) as f64)
}

/// A run: the training losses, (step, held-out slice) points, seconds.
pub struct Run {
    pub losses: Vec<f32>,
    pub curve: Vec<(usize, f64)>,
    pub seconds: f64,
}

/// Trains on random windows of `train`, scoring `probe` `points` times.
pub fn train(
    ctx: &Ctx,
    model: &Gpt,
    train: &[i32],
    probe: &[i32],
    budget: Budget,
    points: usize,
) -> Result<Run> {
    let mut opt = Optimizer::adamw(&model.parameters(), budget.lr, 0.01)?.with_clip_grad_norm(1.0);
    let cosine = CosineLr {
        base: budget.lr,
        min: budget.lr / 10.0,
        warmup: budget.steps / 20,
        total: budget.steps,
    };
    let mut sched = LrScheduler::new(cosine, &mut opt);
    let mut rng = StdRng::seed_from_u64(5);
    let (mut losses, mut curve, mut seconds) = (Vec::new(), Vec::new(), 0.0);
    for step in 0..budget.steps {
        let clock = std::time::Instant::now();
        model.train();
        let (x, y) = windows(train, budget.batch, &mut rng);
        opt.zero_grad();
        let logits = model.forward(&model.tokens(&ctx.dev, &x, budget.batch)?)?;
        let loss = cross_entropy(&logits, &Tensor::from_slice(&ctx.dev, &y, &[y.len()])?)?;
        loss.backward()?;
        opt.record()?;
        sched.step(&mut opt);
        let l = loss.to_scalar::<f32>()?;
        seconds += clock.elapsed().as_secs_f64();
        losses.push(l);
        ctx.tick(l);
        if points > 0 && (step + 1) * points / budget.steps != step * points / budget.steps {
            model.eval();
            curve.push((step + 1, nats_per_char(ctx, model, probe)?));
        }
    }
    model.eval();
    Ok(Run {
        losses,
        curve,
        seconds,
    })
}

/// How generation is sampled: temperature, the k likeliest kept (None:
/// all), or greedy.
#[derive(Clone, Copy)]
pub enum Pick {
    Greedy,
    Sample { temperature: f64, top_k: usize },
}

/// `n` ids after `prompt`. The context is the ids since a start that moves
/// on by half the model's context whenever it is full; with `cached`, the
/// new id's keys and values join a KV cache (refilled from the context at
/// each move), without, the whole context is run again for each id: the
/// same contexts, so the same ids.
pub fn generate(
    dev: &Device,
    model: &Gpt,
    prompt: &[i32],
    n: usize,
    pick: Pick,
    cached: bool,
) -> Result<Vec<i32>> {
    let _g = no_grad();
    let mut rng = StdRng::seed_from_u64(11);
    let context = model.context;
    let mut ids = prompt.to_vec();
    let mut start = ids.len().saturating_sub(context);
    let mut cache = model.cache();
    for _ in 0..n {
        if ids.len() - start > context {
            start = ids.len() - context / 2;
            cache = model.cache();
        }
        let feed = match (cached, cache.is_empty()) {
            (true, false) => &ids[ids.len() - 1..],
            _ => &ids[start..],
        };
        let x = model.tokens(dev, feed, 1)?;
        let logits = match cached {
            true => model.forward_cached(&x, &mut cache)?,
            false => model.forward(&x)?,
        };
        let last = logits.narrow(0, feed.len() - 1, 1)?;
        let mut all = cache.tensors();
        all.push(&last);
        Tensor::realize_all(&all)?;
        cache.detach();
        let row = last.to_vec::<f32>()?;
        ids.push(match pick {
            Pick::Greedy => argmax(&row),
            Pick::Sample { temperature, top_k } => draw(&top(&row, top_k), temperature, &mut rng),
        });
    }
    Ok(ids[prompt.len()..].to_vec())
}

/// The index of the largest logit.
pub fn argmax(row: &[f32]) -> i32 {
    let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1));
    best.map_or(0, |(i, _)| i as i32)
}

/// The logits with all but the `k` largest set to -inf.
fn top(row: &[f32], k: usize) -> Vec<f32> {
    let mut sorted = row.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let floor = sorted[k.clamp(1, row.len()) - 1];
    row.iter()
        .map(|&l| if l >= floor { l } else { f32::NEG_INFINITY })
        .collect()
}

pub struct Shakespeare(Plays);

impl HeldOut for Shakespeare {
    type Model = Gpt;

    fn prepare(ctx: &Ctx) -> Result<Shakespeare> {
        Plays::load(ctx).map(Shakespeare)
    }

    fn build(&self, ctx: &Ctx) -> Result<Gpt> {
        Gpt::new(&ctx.dev, self.0.vocab.len(), 0.0)
    }

    fn metric(&self) -> String {
        "held-out nats/char".into()
    }

    fn evaluate(&self, ctx: &Ctx, model: &Gpt) -> Result<f64> {
        nats_per_char(ctx, model, &self.0.test)
    }
}

/// Generation speed in ids/s, cached and not, over `n` ids from `prompt`.
fn speed(ctx: &Ctx, model: &Gpt, prompt: &[i32], n: usize) -> Result<(f64, f64)> {
    let time = |cached| -> Result<f64> {
        let clock = std::time::Instant::now();
        generate(&ctx.dev, model, prompt, n, Pick::Greedy, cached)?;
        Ok(n as f64 / clock.elapsed().as_secs_f64())
    };
    Ok((time(true)?, time(false)?))
}

fn passage(ctx: &Ctx, model: &Gpt, vocab: &CharVocab, n: usize) -> Result<String> {
    let prompt = vocab.encode("\n")?;
    let pick = Pick::Sample {
        temperature: 0.8,
        top_k: 10,
    };
    vocab.decode(&generate(&ctx.dev, model, &prompt, n, pick, true)?)
}

pub fn gpt_char(ctx: &Ctx) -> Result<Outcome> {
    let data = Shakespeare::prepare(ctx)?;
    let budget = Budget::gpt(ctx.quick);
    let probe = &data.0.test[..data.0.test.len().min(32_768)];
    ctx.start(budget.steps, "random windows of the plays");
    ctx.dev.manual_seed(17);
    let model = data.build(ctx)?;
    let run = train(ctx, &model, &data.0.train, probe, budget, ctx.pick(10, 2))?;
    let nats = data.evaluate(ctx, &model)?;
    let text = passage(ctx, &model, &data.0.vocab, ctx.pick(400, 80))?;
    let same = {
        let prompt = data.0.vocab.encode("ROMEO:")?;
        let with = generate(&ctx.dev, &model, &prompt, 2 * CONTEXT, Pick::Greedy, true)?;
        with == generate(&ctx.dev, &model, &prompt, 2 * CONTEXT, Pick::Greedy, false)?
    };
    let (fast, slow) = speed(ctx, &model, &data.0.vocab.encode("\n")?, ctx.pick(256, 64))?;
    let params: usize = model.parameters().iter().map(Tensor::numel).sum();
    let curve: Vec<String> = run
        .curve
        .iter()
        .map(|(s, h)| format!("{s}: {h:.3}"))
        .collect();
    let mut notes = vec![
        format!(
            "{LAYERS} layers, {HEADS} heads, {DIM} wide, context {CONTEXT}: {params} parameters; \
             {} steps of {} windows ({} characters) in {:.0} s ({:.2} s a step); AdamW {} \
             with a cosine decay",
            budget.steps,
            budget.batch,
            budget.steps * budget.batch * CONTEXT,
            run.seconds,
            run.seconds / budget.steps.max(1) as f64,
            budget.lr
        ),
        format!("held-out slice by step: {}", curve.join(", ")),
        format!(
            "generation (greedy, one realize per character): {fast:.1} characters/s with the \
             KV cache, {slow:.1} without"
        ),
        "sampled at temperature 0.8, top-k 10:".to_string(),
    ];
    notes.extend(text.lines().map(|l| format!("  | {l}")));
    let held_out = Snapshot::new(data.metric(), nats, &model);
    Ok(Outcome {
        model: format!("GPT, {LAYERS} x {DIM}, {HEADS} heads, learned positions"),
        dataset: "Shakespeare plays".into(),
        metric: held_out.metric.clone(),
        value: nats,
        target: ctx.pick(1.90, 3.0),
        higher_is_better: false,
        steps: budget.steps,
        first_loss: run.losses.first().copied().unwrap_or(f32::NAN) as f64,
        last_loss: run.losses.last().copied().unwrap_or(f32::NAN) as f64,
        checks: vec![(
            "decoding with the KV cache gives the ids of decoding without it".into(),
            same,
        )],
        notes,
        held_out,
    })
}
