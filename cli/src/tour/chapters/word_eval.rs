//! Evaluating word vectors: WordSim-353 (Spearman's rank correlation of
//! cosine similarity with human judgements), the Google analogies
//! (a : b :: c : ?, answered by the nearest word to b - a + c, 3CosAdd) and
//! nearest neighbours.

use shadergrad::data::{Analogy, WordPair, WordVocab};
use shadergrad::{Device, Result, Tensor, no_grad};

/// Analogy answers are searched among this many of the most frequent words
/// (gensim's `restrict_vocab`).
const ANALOGY_VOCAB: usize = 30_000;
/// Questions scored per matmul.
const CHUNK: usize = 512;

/// Rows scaled to unit length (a zero row stays zero).
fn unit_rows(vecs: &[f32], dim: usize) -> Vec<f32> {
    let mut out = vecs.to_vec();
    for row in out.chunks_mut(dim) {
        let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            row.iter_mut().for_each(|x| *x /= n);
        }
    }
    out
}

fn cosine(vecs: &[f32], dim: usize, a: u32, b: u32) -> f64 {
    let (a, b) = (a as usize * dim, b as usize * dim);
    let (x, y) = (&vecs[a..a + dim], &vecs[b..b + dim]);
    let dot: f64 = x.iter().zip(y).map(|(p, q)| (p * q) as f64).sum();
    let nx: f64 = x.iter().map(|p| (p * p) as f64).sum::<f64>().sqrt();
    let ny: f64 = y.iter().map(|q| (q * q) as f64).sum::<f64>().sqrt();
    dot / (nx * ny).max(1e-12)
}

/// Ranks from 1, ties sharing their mean rank.
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rho: Pearson's correlation of the ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt().max(1e-300)
}

pub struct WordSim {
    pub spearman: f64,
    pub used: usize,
    pub missing: usize,
}

/// WordSim-353 on the pairs whose words are both in the vocabulary.
pub fn wordsim(vocab: &WordVocab, vecs: &[f32], dim: usize, pairs: &[WordPair]) -> WordSim {
    let (mut human, mut model) = (Vec::new(), Vec::new());
    for p in pairs {
        if let (Some(a), Some(b)) = (vocab.id(&p.a), vocab.id(&p.b)) {
            human.push(p.score);
            model.push(cosine(vecs, dim, a, b));
        }
    }
    WordSim {
        spearman: if human.len() >= 2 {
            spearman(&human, &model)
        } else {
            0.0
        },
        used: human.len(),
        missing: pairs.len() - human.len(),
    }
}

pub struct Analogies {
    pub right: usize,
    pub asked: usize,
    pub missing: usize,
}

/// 3CosAdd over the most frequent words: the scores of every candidate are
/// one matmul per chunk of questions on the GPU; the best candidate other
/// than the question's three words is picked on the host.
pub fn analogies(
    dev: &Device,
    vocab: &WordVocab,
    vecs: &[f32],
    dim: usize,
    questions: &[Analogy],
) -> Result<Analogies> {
    let _g = no_grad();
    let v = vocab.len().min(ANALOGY_VOCAB);
    let unit = unit_rows(&vecs[..v * dim], dim);
    let id = |w: &str| vocab.id(w).filter(|&i| (i as usize) < v);
    let asked: Vec<[u32; 4]> = questions
        .iter()
        .filter_map(|q| {
            let ids: Vec<u32> = q.words.iter().filter_map(|w| id(w)).collect();
            <[u32; 4]>::try_from(ids).ok()
        })
        .collect();
    let table = Tensor::from_slice(dev, &unit, &[v, dim])?;
    let mut right = 0;
    for part in asked.chunks(CHUNK) {
        let mut q = vec![0.0f32; part.len() * dim];
        for (row, [a, b, c, _]) in q.chunks_mut(dim).zip(part) {
            for (k, x) in row.iter_mut().enumerate() {
                let at = |w: &u32| unit[*w as usize * dim + k];
                *x = at(b) - at(a) + at(c);
            }
        }
        let qt = Tensor::from_slice(dev, &q, &[part.len(), dim])?;
        let scores = qt.matmul(&table.t()?)?.to_vec::<f32>()?;
        for (row, [a, b, c, d]) in scores.chunks(v).zip(part) {
            let best = (0..v as u32)
                .filter(|w| w != a && w != b && w != c)
                .max_by(|&x, &y| row[x as usize].total_cmp(&row[y as usize]));
            right += (best == Some(*d)) as usize;
        }
    }
    Ok(Analogies {
        right,
        asked: asked.len(),
        missing: questions.len() - asked.len(),
    })
}

/// The `k` nearest words to `word` by cosine, or `None` if it is unknown.
pub fn neighbours(
    vocab: &WordVocab,
    vecs: &[f32],
    dim: usize,
    word: &str,
    k: usize,
) -> Option<Vec<String>> {
    let w = vocab.id(word)?;
    let mut sims: Vec<(f64, usize)> = (0..vocab.len())
        .filter(|&i| i != w as usize)
        .map(|i| (cosine(vecs, dim, w, i as u32), i))
        .collect();
    sims.sort_by(|x, y| y.0.total_cmp(&x.0));
    Some(
        sims.iter()
            .take(k)
            .map(|&(s, i)| format!("{} {s:.2}", vocab.words[i]))
            .collect(),
    )
}
