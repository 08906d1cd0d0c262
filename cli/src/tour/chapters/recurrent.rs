//! RNN, Bidirectional RNN and LSTM: Chinese word segmentation as sequence
//! labelling (each character tagged B, M, E or S) by a bidirectional LSTM,
//! scored as the field scores segmenters, by F1 over whole words; and the
//! same LSTM reading one way only, which at each character sees only what
//! came before it (the notes' reason for the bidirectional RNN).

use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::tour::chapters::bmes::{Chunk, Corpus, IGNORE, LEN, accuracy, batch, word_f1};
use crate::tour::common::{Ctx, Outcome};
use crate::tour::held_out::{HeldOut, Snapshot};
use shadergrad::Device;
use shadergrad::Result;
use shadergrad::Tensor;
use shadergrad::loss::{CrossEntropy, cross_entropy_with};
use shadergrad::nn::{Embedding, Linear, Lstm, Module, RecurrentOptions, Stateful};
use shadergrad::no_grad;
use shadergrad::optim::{CosineLr, LrScheduler, Optimizer};

const DIM: usize = 64;
const HIDDEN: usize = 128;

/// Character embedding, an LSTM (per-chunk lengths), a linear tag head.
#[derive(Stateful)]
pub struct LstmTagger {
    emb: Embedding,
    lstm: Lstm,
    head: Linear,
}

impl LstmTagger {
    fn new(dev: &Device, vocab: usize, bidirectional: bool) -> Result<LstmTagger> {
        let opts = RecurrentOptions {
            batch_first: true,
            bidirectional,
            ..Default::default()
        };
        let dirs = 1 + bidirectional as usize;
        Ok(LstmTagger {
            emb: Embedding::new(dev, vocab, DIM)?,
            lstm: Lstm::new(dev, DIM, HIDDEN, opts)?,
            head: Linear::new(dev, dirs * HIDDEN, 4)?,
        })
    }

    /// Logits (B LEN, 4) of ids (B, LEN) whose real lengths are `lens`.
    fn logits(&self, ids: &Tensor, lens: &[usize]) -> Result<Tensor> {
        let out = self
            .lstm
            .forward_with(&self.emb.lookup(ids)?, None, Some(lens))?
            .output;
        let width = out.shape()[2];
        self.head
            .forward(&out.reshape(&[ids.shape()[0] * LEN, width])?)
    }
}

fn lengths(cs: &[&Chunk]) -> Vec<usize> {
    cs.iter().map(|c| c.len).collect()
}

/// Trains `model`; returns (steps, first loss, last-epoch loss).
fn train(
    ctx: &Ctx,
    model: &LstmTagger,
    chunks: &[Chunk],
    epochs: usize,
) -> Result<(usize, f64, f64)> {
    let mut opt = Optimizer::adam(&model.parameters(), 5e-3)?.with_clip_grad_norm(1.0);
    let total = epochs * chunks.len().div_ceil(32);
    let cosine = CosineLr {
        base: 5e-3,
        min: 1e-4,
        warmup: total / 20,
        total,
    };
    let mut sched = LrScheduler::new(cosine, &mut opt);
    let opts = CrossEntropy {
        ignore_index: Some(IGNORE),
        label_smoothing: 0.0,
    };
    let mut order: Vec<usize> = (0..chunks.len()).collect();
    let (mut first, mut last, mut steps) = (0.0, 0.0, 0);
    model.train();
    for epoch in 0..epochs {
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(epoch as u64));
        let (mut sum, mut n) = (0.0, 0);
        for idx in order.chunks(32) {
            let cs: Vec<&Chunk> = idx.iter().map(|&i| &chunks[i]).collect();
            let (ids, tags, _) = batch(&ctx.dev, &cs)?;
            opt.zero_grad();
            let loss = cross_entropy_with(&model.logits(&ids, &lengths(&cs))?, &tags, opts)?;
            loss.backward()?;
            opt.record()?;
            sched.step(&mut opt);
            let l = loss.to_scalar::<f32>()? as f64;
            first = if steps == 0 { l } else { first };
            (sum, n, steps) = (sum + l, n + 1, steps + 1);
            ctx.tick(l as f32);
        }
        last = sum / n as f64;
    }
    model.eval();
    Ok((steps, first, last))
}

/// Predicted tags for each chunk (its real characters only).
fn predict(ctx: &Ctx, model: &LstmTagger, cs: &[Chunk]) -> Result<Vec<Vec<i32>>> {
    let _g = no_grad();
    let mut out = Vec::new();
    for part in cs.chunks(64) {
        let refs: Vec<&Chunk> = part.iter().collect();
        let (ids, _, _) = batch(&ctx.dev, &refs)?;
        let logits = model.logits(&ids, &lengths(&refs))?;
        let pred = logits.argmax(-1, false)?.to_vec::<i32>()?;
        for (k, c) in part.iter().enumerate() {
            out.push(pred[k * LEN..k * LEN + c.len].to_vec());
        }
    }
    Ok(out)
}

/// The BiLSTM's data: People's Daily in chunks.
pub struct Words(Corpus);

impl HeldOut for Words {
    type Model = LstmTagger;

    fn prepare(ctx: &Ctx) -> Result<Words> {
        Corpus::load(ctx, 12000).map(Words)
    }

    /// The bidirectional tagger.
    fn build(&self, ctx: &Ctx) -> Result<LstmTagger> {
        LstmTagger::new(&ctx.dev, self.0.vocab, true)
    }

    fn metric(&self) -> String {
        "held-out word F1".into()
    }

    fn evaluate(&self, ctx: &Ctx, model: &LstmTagger) -> Result<f64> {
        Ok(word_f1(&self.0.test, &predict(ctx, model, &self.0.test)?))
    }
}

/// The bidirectional tagger is the model saved; the one-directional one is
/// what its check compares with.
pub fn bilstm_segmentation(ctx: &Ctx) -> Result<Outcome> {
    let data = Words::prepare(ctx)?;
    // Quick: half the quick corpus's training chunks, for CI's time.
    let train_chunks = &data.0.train[..ctx.pick(data.0.train.len(), 600)];
    let test = &data.0.test;
    let epochs = 3;
    ctx.start(
        2 * epochs * train_chunks.len().div_ceil(32),
        "both directions, then one",
    );
    let clock = std::time::Instant::now();
    ctx.dev.manual_seed(5);
    let bi = data.build(ctx)?;
    let (steps, first, last) = train(ctx, &bi, train_chunks, epochs)?;
    let bi_secs = clock.elapsed().as_secs_f64();
    ctx.dev.manual_seed(5);
    let uni = LstmTagger::new(&ctx.dev, data.0.vocab, false)?;
    let (steps1, _, _) = train(ctx, &uni, train_chunks, epochs)?;
    let uni_secs = clock.elapsed().as_secs_f64() - bi_secs;
    let (p2, p1) = (predict(ctx, &bi, test)?, predict(ctx, &uni, test)?);
    let (f2, f1) = (word_f1(test, &p2), word_f1(test, &p1));
    let held_out = Snapshot::new(data.metric(), f2, &bi);
    let gain = 0.01;
    Ok(Outcome {
        model: format!("character embedding {DIM}, BiLSTM {HIDDEN} per direction, linear tags"),
        dataset: "People's Daily 1998, BMES tags".into(),
        metric: held_out.metric.clone(),
        value: held_out.value,
        target: ctx.pick(0.90, 0.5),
        higher_is_better: true,
        steps: steps + steps1,
        first_loss: first,
        last_loss: last,
        checks: vec![(
            format!(
                "both directions beat one by >= {} points of F1",
                gain * 100.0
            ),
            f2 - f1 >= gain,
        )],
        notes: vec![
            format!(
                "bidirectional: word F1 {f2:.4}, tag accuracy {:.4} ({bi_secs:.0} s of training)",
                accuracy(test, &p2)
            ),
            format!(
                "one direction: word F1 {f1:.4}, tag accuracy {:.4} ({uni_secs:.0} s)",
                accuracy(test, &p1)
            ),
            format!(
                "{} train / {} test chunks of up to {LEN} characters, {} characters, {epochs} \
                 epochs, Adam with a cosine schedule",
                train_chunks.len(),
                test.len(),
                data.0.vocab
            ),
        ],
        held_out,
    })
}
