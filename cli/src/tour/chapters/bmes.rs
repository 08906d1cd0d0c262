//! What the segmentation entries share: People's Daily 1998 (BMES tags) cut
//! into chunks of at most LEN characters, 1500 lines held out by a fixed
//! shuffle, the vocabulary the characters seen twice in the training lines;
//! batches; tag accuracy and the standard word-segmentation metric, F1 over
//! whole words.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::tour::common::Ctx;
use shadergrad::Device;
use shadergrad::Result;
use shadergrad::Tensor;
use shadergrad::data::{Tagged, peoples_daily};

pub const LEN: usize = 48;
pub const PAD: i32 = 0;
const UNK: i32 = 1;
/// Labels of padding positions: ignored by the loss.
pub const IGNORE: i32 = -1;

/// A window of at most LEN characters: ids, tags, real length.
pub struct Chunk {
    pub ids: Vec<i32>,
    pub tags: Vec<i32>,
    pub len: usize,
}

fn chunks(lines: &[Tagged], vocab: &HashMap<char, i32>) -> Vec<Chunk> {
    let mut out = Vec::new();
    for l in lines {
        for start in (0..l.chars.len()).step_by(LEN) {
            let end = (start + LEN).min(l.chars.len());
            if end - start < 4 {
                continue;
            }
            let mut ids: Vec<i32> = l.chars[start..end]
                .iter()
                .map(|c| *vocab.get(c).unwrap_or(&UNK))
                .collect();
            let mut tags: Vec<i32> = l.tags[start..end].iter().map(|&t| t as i32).collect();
            let len = ids.len();
            ids.resize(LEN, PAD);
            tags.resize(LEN, IGNORE);
            out.push(Chunk { ids, tags, len });
        }
    }
    out
}

/// The chunks an entry trains and tests on.
pub struct Corpus {
    pub train: Vec<Chunk>,
    pub test: Vec<Chunk>,
    /// Characters in the vocabulary, padding and unknown included.
    pub vocab: usize,
}

impl Corpus {
    /// `train` training chunks and 1500 test chunks (1200 and 300 quick).
    pub fn load(ctx: &Ctx, train: usize) -> Result<Corpus> {
        let mut lines = peoples_daily(&ctx.data)?;
        lines.shuffle(&mut rand::rngs::StdRng::seed_from_u64(0));
        let (test_lines, train_lines) = lines.split_at(1500);
        let mut counts: HashMap<char, usize> = HashMap::new();
        for l in train_lines {
            for &c in &l.chars {
                *counts.entry(c).or_default() += 1;
            }
        }
        let mut chars: Vec<char> = counts
            .iter()
            .filter(|(_, n)| **n >= 2)
            .map(|(c, _)| *c)
            .collect();
        chars.sort_unstable();
        let vocab: HashMap<char, i32> = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as i32 + 2))
            .collect();
        let size = train;
        let mut train = chunks(train_lines, &vocab);
        train.truncate(ctx.pick(size, 1200));
        let mut test = chunks(test_lines, &vocab);
        test.truncate(ctx.pick(1500, 300));
        Ok(Corpus {
            train,
            test,
            vocab: vocab.len() + 2,
        })
    }
}

/// ids (B, LEN), tags (B LEN) and real lengths (B) of `cs`.
pub fn batch(dev: &Device, cs: &[&Chunk]) -> Result<(Tensor, Tensor, Tensor)> {
    let ids: Vec<i32> = cs.iter().flat_map(|c| c.ids.iter().copied()).collect();
    let tags: Vec<i32> = cs.iter().flat_map(|c| c.tags.iter().copied()).collect();
    let lens: Vec<i32> = cs.iter().map(|c| c.len as i32).collect();
    Ok((
        Tensor::from_slice(dev, &ids, &[cs.len(), LEN])?,
        Tensor::from_slice(dev, &tags, &[cs.len() * LEN])?,
        Tensor::from_slice(dev, &lens, &[cs.len()])?,
    ))
}

pub fn accuracy(cs: &[Chunk], pred: &[Vec<i32>]) -> f64 {
    let (mut ok, mut n) = (0, 0);
    for (c, p) in cs.iter().zip(pred) {
        for (a, b) in c.tags[..c.len].iter().zip(p) {
            ok += (a == b) as usize;
            n += 1;
        }
    }
    ok as f64 / n.max(1) as f64
}

/// The words tags mark, as (start, end) spans: a word starts at B or S (or
/// after an E or S), so any tag sequence reads as words.
fn words(tags: &[i32]) -> Vec<(usize, usize)> {
    let (b, e, s) = (0, 2, 3);
    let mut spans = Vec::new();
    let mut start = 0;
    for i in 1..=tags.len() {
        let cut =
            i == tags.len() || tags[i] == b || tags[i] == s || tags[i - 1] == e || tags[i - 1] == s;
        if cut {
            spans.push((start, i));
            start = i;
        }
    }
    spans
}

/// Word-level F1: precision and recall of whole words (a word counts when
/// both its ends are right), the standard word-segmentation metric.
pub fn word_f1(cs: &[Chunk], pred: &[Vec<i32>]) -> f64 {
    let (mut correct, mut predicted, mut gold) = (0, 0, 0);
    for (c, p) in cs.iter().zip(pred) {
        let want = words(&c.tags[..c.len]);
        let got = words(p);
        gold += want.len();
        predicted += got.len();
        correct += got.iter().filter(|w| want.binary_search(w).is_ok()).count();
    }
    let (p, r) = (
        correct as f64 / predicted.max(1) as f64,
        correct as f64 / gold.max(1) as f64,
    );
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_read_from_tags_and_scored_whole() {
        // 中华 人民 共和国 成立 了: B E B E B M E B E S.
        let gold = [0, 2, 0, 2, 0, 1, 2, 0, 2, 3];
        assert_eq!(words(&gold), [(0, 2), (2, 4), (4, 7), (7, 9), (9, 10)]);
        let c = Chunk {
            ids: vec![0; 10],
            tags: gold.to_vec(),
            len: 10,
        };
        assert_eq!(word_f1(std::slice::from_ref(&c), &[gold.to_vec()]), 1.0);
        // 中华人民 as one word (B M M E): 3 of 4 predicted words right, of 5.
        let pred = vec![0, 1, 1, 2, 0, 1, 2, 0, 2, 3];
        let f1 = word_f1(&[c], &[pred]);
        let (p, r) = (3.0 / 4.0, 3.0 / 5.0);
        assert!((f1 - 2.0 * p * r / (p + r)).abs() < 1e-12);
    }
}
