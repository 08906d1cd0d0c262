//! Beam search for the seq2seq model: per source row, the `k` likeliest
//! prefixes, each extended by every id at every step, stopping at END. With
//! the KV cache each step feeds only the beams' last ids and reorders the
//! cache to the chosen hypotheses' parents (Hugging Face's
//! `_reorder_cache`); without it each step decodes the whole prefixes again.

use shadergrad::{Device, Error, Result, Tensor, no_grad};

use crate::tour::chapters::seq2seq::{BEGIN, END, PAD, Padded, Seq2Seq, memory};

/// A partial hypothesis: ids after BEGIN, and their summed log-probability.
#[derive(Clone)]
struct Hyp {
    ids: Vec<i32>,
    score: f64,
}

/// Beam search of width `k`: a prefix that emits END is finished and ranked
/// by its score divided by its length (with END) to the power `alpha`
/// (length normalisation: 0 ranks by the raw sum, which favours short
/// outputs). A row stops when `k` hypotheses are finished or at `max_len`.
/// `cached` runs each step through the KV cache; the ids are the same.
pub fn beam(
    model: &Seq2Seq,
    dev: &Device,
    src: &Padded,
    k: usize,
    max_len: usize,
    alpha: f64,
    cached: bool,
) -> Result<Vec<Vec<i32>>> {
    if k == 0 {
        return Err(Error::InvalidArgument {
            op: "beam search",
            shape: vec![src.rows(), src.width],
            msg: "beam width 0: at least one hypothesis is kept".into(),
        });
    }
    let _g = no_grad();
    let rows = src.rows();
    let memory = memory(model, dev, &repeat(src, k))?;
    let mut cache = cached.then(|| model.cache());
    let start = Hyp {
        ids: Vec::new(),
        score: 0.0,
    };
    let mut live: Vec<Vec<Hyp>> = vec![vec![start]; rows];
    let mut finished: Vec<Vec<(f64, Vec<i32>)>> = vec![Vec::new(); rows];
    let norm = |h: &Hyp| h.score / ((h.ids.len() + 1) as f64).powf(alpha);
    for t in 0..max_len {
        if live.iter().all(Vec::is_empty) {
            break;
        }
        let lp = match &mut cache {
            Some(c) => cached_log_probs(model, dev, &live, k, &memory, c)?,
            None => step_log_probs(model, dev, &live, k, t, &memory)?,
        };
        let mut parents = Vec::with_capacity(rows * k);
        for r in 0..rows {
            let (next, from) = extend(&live[r], &lp[r * k..(r + 1) * k], k, &mut finished[r], norm);
            // A slot past the live beams copies the first (its cache too).
            let first = from.first().copied().unwrap_or(0);
            parents.extend((0..k).map(|j| (r * k + from.get(j).copied().unwrap_or(first)) as i32));
            live[r] = if finished[r].len() == k {
                Vec::new()
            } else {
                next
            };
        }
        if let Some(c) = &mut cache {
            c.reorder(&Tensor::from_slice(dev, &parents, &[rows * k])?)?;
        }
    }
    Ok((0..rows)
        .map(|r| {
            let mut all = std::mem::take(&mut finished[r]);
            all.extend(live[r].iter().map(|h| (norm(h), h.ids.clone())));
            let best = all.into_iter().max_by(|a, b| a.0.total_cmp(&b.0));
            best.map(|(_, ids)| ids).unwrap_or_default()
        })
        .collect())
}

/// One row's step: the `k` best extensions of its live beams (`lp`: each
/// beam's next-id log-probabilities), those that emit END moved to
/// `finished`; the new live beams and the beam each came from.
fn extend(
    live: &[Hyp],
    lp: &[Vec<f64>],
    k: usize,
    finished: &mut Vec<(f64, Vec<i32>)>,
    norm: impl Fn(&Hyp) -> f64,
) -> (Vec<Hyp>, Vec<usize>) {
    let mut cands: Vec<(f64, usize, i32)> = Vec::new();
    for (b, h) in live.iter().enumerate() {
        for (v, &p) in lp[b].iter().enumerate().skip(END as usize) {
            cands.push((h.score + p, b, v as i32));
        }
    }
    cands.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut next, mut from) = (Vec::new(), Vec::new());
    for (score, b, v) in cands {
        if next.len() == k || finished.len() == k {
            break;
        }
        let mut ids = live[b].ids.clone();
        if v == END {
            let h = Hyp { ids, score };
            finished.push((norm(&h), h.ids));
        } else {
            ids.push(v);
            next.push(Hyp { ids, score });
            from.push(b);
        }
    }
    (next, from)
}

/// Each source row `k` times in a row: a row per beam.
fn repeat(src: &Padded, k: usize) -> Padded {
    let w = src.width;
    let mut p = Padded {
        ids: Vec::new(),
        lens: Vec::new(),
        width: w,
    };
    for (row, &len) in src.ids.chunks(w.max(1)).zip(&src.lens) {
        for _ in 0..k {
            p.ids.extend_from_slice(row);
            p.lens.push(len);
        }
    }
    p
}

/// The next id's log-probabilities for every beam of every row (rows k,
/// V), decoding the whole prefixes; a row with fewer than k live beams runs
/// copies of its first (or of BEGIN alone), whose rows are not read.
fn step_log_probs(
    model: &Seq2Seq,
    dev: &Device,
    live: &[Vec<Hyp>],
    k: usize,
    t: usize,
    memory: &(Tensor, Tensor),
) -> Result<Vec<Vec<f64>>> {
    let mut ids = Vec::with_capacity(live.len() * k * (t + 1));
    for beams in live {
        for b in 0..k {
            ids.push(BEGIN);
            match beams.get(b).or(beams.first()) {
                Some(h) => ids.extend_from_slice(&h.ids),
                None => ids.extend(std::iter::repeat_n(PAD, t)),
            }
        }
    }
    let n = live.len() * k;
    let p = Padded {
        ids,
        lens: vec![(t + 1) as i32; n],
        width: t + 1,
    };
    let v = model.cfg.tgt_vocab;
    let logits = model.decode(dev, &p, memory)?;
    let last = logits.reshape(&[n, t + 1, v])?.narrow(1, t, 1)?;
    Ok(last.to_vec::<f32>()?.chunks(v).map(log_softmax).collect())
}

/// As `step_log_probs`, feeding only each beam's last id (BEGIN first)
/// after the positions `cache` holds, whose rows follow the beams.
fn cached_log_probs(
    model: &Seq2Seq,
    dev: &Device,
    live: &[Vec<Hyp>],
    k: usize,
    memory: &(Tensor, Tensor),
    cache: &mut shadergrad::nn::KvCache,
) -> Result<Vec<Vec<f64>>> {
    let mut new = Vec::with_capacity(live.len() * k);
    for beams in live {
        for b in 0..k {
            new.push(match beams.get(b).or(beams.first()) {
                Some(h) => h.ids.last().copied().unwrap_or(BEGIN),
                None => PAD,
            });
        }
    }
    let last = model.decode_cached(dev, &new, memory, cache)?;
    let mut all = cache.tensors();
    all.push(&last);
    Tensor::realize_all(&all)?;
    cache.detach();
    let v = model.cfg.tgt_vocab;
    Ok(last.to_vec::<f32>()?.chunks(v).map(log_softmax).collect())
}

/// log softmax of one row of logits, in f64.
fn log_softmax(row: &[f32]) -> Vec<f64> {
    let top = row.iter().copied().fold(f32::MIN, f32::max) as f64;
    let sum: f64 = row.iter().map(|&l| (l as f64 - top).exp()).sum();
    row.iter().map(|&l| l as f64 - top - sum.ln()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tour::chapters::seq2seq::Config;
    use shadergrad::nn::Stateful;

    #[test]
    fn beam_search_through_the_reordered_cache_writes_what_it_writes_without() {
        let dev = Device::new().unwrap();
        dev.manual_seed(4);
        let cfg = Config {
            dim: 16,
            heads: 2,
            ff: 32,
            encoder_layers: 1,
            decoder_layers: 2,
            src_vocab: 6,
            tgt_vocab: 12,
            max_len: 12,
            dropout: 0.0,
        };
        let m = Seq2Seq::new(&dev, cfg).unwrap();
        m.eval();
        let words: [&[i32]; 4] = [&[1, 2, 3, 4, 5], &[5, 4], &[2], &[3, 3, 1, 2]];
        let src = Padded::new(&words, 1);
        for k in [2, 3, 5] {
            let with = beam(&m, &dev, &src, k, 10, 1.0, true).unwrap();
            let without = beam(&m, &dev, &src, k, 10, 1.0, false).unwrap();
            assert_eq!(with, without, "k {k}");
            assert!(with.iter().any(|s| s.len() > 2), "{with:?}");
        }
    }
}
