//! Masked language modelling (BERT's pretraining task): a character
//! vocabulary with BERT's special tokens, and the masking rule: 15% of a
//! sequence's characters are chosen; of those, 80% become MASK, 10% a random
//! character and 10% stay as they are, and the model predicts the original
//! of every chosen one.

use std::collections::HashMap;

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::index::sample;

/// Padding (seq2seq's PAD, so its `Padded` pads with it), an unknown
/// character, the classification token, the mask token and a separator
/// between packed texts.
pub const PAD: i32 = 0;
const _: () = assert!(PAD == crate::tour::chapters::seq2seq::PAD);
pub const UNK: i32 = 1;
pub const CLS: i32 = 2;
pub const MASK: i32 = 3;
pub const SEP: i32 = 4;
/// The first character's id.
pub const SPECIALS: i32 = 5;
/// The loss's label for rows that score nothing (PyTorch's default).
pub const IGNORE: i32 = -100;
/// The share of characters chosen, and the shares of the chosen that are
/// masked and replaced by a random character (the rest are kept).
pub const CHOSEN: f64 = 0.15;
pub const MASKED: f64 = 0.8;
pub const RANDOM: f64 = 0.1;

/// The specials, then the most frequent characters of a text; any other
/// character reads as UNK.
#[derive(Clone, Debug)]
pub struct Vocab {
    chars: Vec<char>,
    ids: HashMap<char, i32>,
}

impl Vocab {
    /// The `n` most frequent characters of `texts` (ties by code point, so
    /// the same texts give the same ids), whitespace left out.
    pub fn most_frequent<'a>(texts: impl Iterator<Item = &'a str>, n: usize) -> Vocab {
        let mut counts: HashMap<char, usize> = HashMap::new();
        for c in texts.flat_map(str::chars).filter(|c| !c.is_whitespace()) {
            *counts.entry(c).or_default() += 1;
        }
        let mut ranked: Vec<(char, usize)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let chars: Vec<char> = ranked.into_iter().take(n).map(|(c, _)| c).collect();
        let ids = chars
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i as i32 + SPECIALS))
            .collect();
        Vocab { chars, ids }
    }

    /// Ids, the specials included.
    pub fn size(&self) -> usize {
        self.chars.len() + SPECIALS as usize
    }

    /// The ids of `text`'s characters (whitespace skipped).
    pub fn encode(&self, text: &str) -> Vec<i32> {
        text.chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| self.ids.get(&c).copied().unwrap_or(UNK))
            .collect()
    }
}

/// A batch after masking: the model's input ids (rows, width), the flat
/// positions (row * width + column) the loss reads, and the original id of
/// each (IGNORE in the slots past the batch's chosen positions).
#[derive(Clone, Debug)]
pub struct Masked {
    pub inputs: Vec<i32>,
    pub picks: Vec<i32>,
    pub labels: Vec<i32>,
}

/// How many positions a batch of `rows` sequences of `width` (CLS first)
/// can have chosen: a fixed count, so every step has the same shapes and
/// replays one plan.
pub fn slots(rows: usize, width: usize) -> usize {
    rows * chosen(width.saturating_sub(1))
}

/// How many of `n` characters are chosen: 15%, at least one.
fn chosen(n: usize) -> usize {
    ((n as f64 * CHOSEN).round() as usize).clamp(n.min(1), n)
}

/// BERT's rule on `ids` (rows, width) with real lengths `lens`: per row,
/// 15% of the characters after CLS (padding never) chosen at random; each
/// chosen one is MASK with probability 0.8, a random character (not a
/// special) with 0.1, and unchanged otherwise.
pub fn mask(ids: &[i32], lens: &[i32], width: usize, vocab: usize, rng: &mut StdRng) -> Masked {
    let mut m = Masked {
        inputs: ids.to_vec(),
        picks: Vec::new(),
        labels: Vec::new(),
    };
    for (row, &len) in lens.iter().enumerate() {
        let chars = (len as usize).saturating_sub(1);
        for at in sample(rng, chars, chosen(chars)) {
            let flat = row * width + 1 + at;
            m.picks.push(flat as i32);
            m.labels.push(ids[flat]);
            let r: f64 = rng.random();
            if r < MASKED {
                m.inputs[flat] = MASK;
            } else if r < MASKED + RANDOM {
                m.inputs[flat] = rng.random_range(SPECIALS..vocab as i32);
            }
        }
    }
    let room = slots(lens.len(), width);
    m.picks.resize(room.max(m.picks.len()), 0);
    m.labels.resize(room.max(m.labels.len()), IGNORE);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fifteen_percent_chosen_then_80_masked_10_random_10_kept() {
        let (rows, width, vocab) = (400, 64, 300);
        let mut rng = StdRng::seed_from_u64(3);
        let lens: Vec<i32> = (0..rows).map(|r| 21 + (r % 44) as i32).collect();
        let mut ids = vec![PAD; rows * width];
        for (r, &len) in lens.iter().enumerate() {
            ids[r * width] = CLS;
            for c in 1..len as usize {
                ids[r * width + c] = rng.random_range(SPECIALS..vocab);
            }
        }
        let m = mask(&ids, &lens, width, vocab as usize, &mut rng);
        assert_eq!(m.picks.len(), slots(rows, width));
        let real: Vec<(i32, i32)> = m
            .picks
            .iter()
            .zip(&m.labels)
            .filter(|(_, l)| **l != IGNORE)
            .map(|(&p, &l)| (p, l))
            .collect();
        // Exactly round(15%) of each row's characters, never CLS or padding.
        for (r, &len) in lens.iter().enumerate() {
            let row: Vec<usize> = real
                .iter()
                .map(|&(p, _)| p as usize)
                .filter(|p| p / width == r)
                .collect();
            let n = len as usize - 1;
            assert_eq!(row.len(), (n as f64 * 0.15).round().max(1.0) as usize);
            assert!(row.iter().all(|p| (1..len as usize).contains(&(p % width))));
        }
        let (mut masked, mut kept, mut random) = (0, 0, 0);
        for &(p, label) in &real {
            assert_eq!(label, ids[p as usize], "the label is the original");
            match m.inputs[p as usize] {
                MASK => masked += 1,
                i if i == label => kept += 1,
                i => {
                    assert!((SPECIALS..vocab).contains(&i));
                    random += 1;
                }
            }
        }
        let n = real.len() as f64;
        // ~3,000 chosen: each share within 2.5 points (about 4 sigma).
        let share = |k: i32| k as f64 / n;
        assert!((share(masked) - 0.8).abs() < 0.025, "{masked}/{n}");
        // A random replacement may draw the original (1 in 295): it counts as kept.
        assert!((share(random) - 0.1).abs() < 0.025, "{random}/{n}");
        assert!((share(kept) - 0.1).abs() < 0.025, "{kept}/{n}");
        // Every position that was not chosen is unchanged.
        let picked: std::collections::HashSet<i32> = real.iter().map(|&(p, _)| p).collect();
        for (i, (&a, &b)) in ids.iter().zip(&m.inputs).enumerate() {
            assert!(picked.contains(&(i as i32)) || a == b);
        }
    }

    #[test]
    fn the_vocabulary_ranks_by_frequency_and_reads_the_rest_as_unknown() {
        let v = Vocab::most_frequent(["好好好 书书 差"].into_iter(), 2);
        assert_eq!(v.size(), 7);
        assert_eq!(v.encode("好书 差"), vec![SPECIALS, SPECIALS + 1, UNK]);
    }
}
