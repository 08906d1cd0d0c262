//! Seq2seq (the notes' chapter): a transformer encoder over the source, an
//! autoregressive decoder with masked self-attention and cross attention to
//! the encoder's output, trained with teacher forcing; decoded greedily
//! (with or without a KV cache), stopping at END; beam search is beam.rs.

use shadergrad::nn::{
    DecoderBlock, Embedding, EncoderBlock, KvCache, Linear, Module, Positions, Stateful,
};
use shadergrad::{AttentionMask, Device, Error, Result, Tensor, no_grad};

use crate::tour::chapters::gpt::argmax;

/// Target ids every vocabulary shares: padding, BEGIN and END.
pub const PAD: i32 = 0;
pub const BEGIN: i32 = 1;
pub const END: i32 = 2;

/// The architecture: widths, depths, vocabularies, the longest sequence.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub dim: usize,
    pub heads: usize,
    pub ff: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub src_vocab: usize,
    pub tgt_vocab: usize,
    /// Positions in each positional table (source, and target with BEGIN).
    pub max_len: usize,
    pub dropout: f64,
}

/// Sequences padded to one width, row-major (rows, width), with their lengths.
#[derive(Clone, Debug)]
pub struct Padded {
    pub ids: Vec<i32>,
    pub lens: Vec<i32>,
    pub width: usize,
}

impl Padded {
    /// `seqs` padded with PAD to the longest rounded up to a multiple of
    /// `round` (so that few widths occur and training replays its plans).
    pub fn new(seqs: &[&[i32]], round: usize) -> Padded {
        let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let width = longest.div_ceil(round.max(1)) * round.max(1);
        let mut ids = vec![PAD; seqs.len() * width];
        for (row, s) in ids.chunks_mut(width.max(1)).zip(seqs) {
            row[..s.len()].copy_from_slice(s);
        }
        Padded {
            ids,
            lens: seqs.iter().map(|s| s.len() as i32).collect(),
            width,
        }
    }

    pub fn rows(&self) -> usize {
        self.lens.len()
    }
}

/// Source and target embeddings with sinusoidal positions, the encoder and
/// decoder stacks (post-norm, as the original transformer), a linear head.
#[derive(Stateful)]
pub struct Seq2Seq {
    src_embed: Embedding,
    tgt_embed: Embedding,
    src_pos: Positions,
    tgt_pos: Positions,
    encoder: Vec<EncoderBlock>,
    decoder: Vec<DecoderBlock>,
    out: Linear,
    #[stateful(skip)]
    pub cfg: Config,
}

impl Seq2Seq {
    pub fn new(dev: &Device, cfg: Config) -> Result<Seq2Seq> {
        let (d, h, f, p) = (cfg.dim, cfg.heads, cfg.ff, cfg.dropout);
        Ok(Seq2Seq {
            src_embed: Embedding::new(dev, cfg.src_vocab, d)?,
            tgt_embed: Embedding::new(dev, cfg.tgt_vocab, d)?,
            src_pos: Positions::sinusoidal(dev, cfg.max_len, d)?,
            tgt_pos: Positions::sinusoidal(dev, cfg.max_len, d)?,
            encoder: (0..cfg.encoder_layers)
                .map(|_| EncoderBlock::new(dev, d, h, f, p))
                .collect::<Result<_>>()?,
            decoder: (0..cfg.decoder_layers)
                .map(|_| DecoderBlock::new(dev, d, h, f, p))
                .collect::<Result<_>>()?,
            out: Linear::new(dev, d, cfg.tgt_vocab)?,
            cfg,
        })
    }

    /// `p` as (rows, width) ids, checked against `vocab` before any GPU work;
    /// an empty sequence is refused when `nonempty`.
    fn tokens(&self, dev: &Device, p: &Padded, vocab: usize, nonempty: bool) -> Result<Tensor> {
        let shape = vec![p.rows(), p.width];
        let bad = |msg: String| Error::InvalidArgument {
            op: "seq2seq",
            shape: shape.clone(),
            msg,
        };
        if p.width > self.cfg.max_len {
            let max = self.cfg.max_len;
            return Err(bad(format!(
                "{} positions exceed the table's {max}",
                p.width
            )));
        }
        if let Some(row) = p.lens.iter().position(|&n| nonempty && n == 0) {
            return Err(bad(format!("sequence {row} is empty")));
        }
        if let Some(at) = p.ids.iter().position(|&i| i < 0 || i as usize >= vocab) {
            let id = p.ids[at];
            return Err(bad(format!(
                "id {id} at {at} is outside the vocabulary of {vocab}"
            )));
        }
        Tensor::from_slice(dev, &p.ids, &shape)
    }

    /// The encoder's output (B, S, dim) and the source lengths (B) that mask
    /// its padding.
    pub fn encode(&self, dev: &Device, src: &Padded) -> Result<(Tensor, Tensor)> {
        let ids = self.tokens(dev, src, self.cfg.src_vocab, true)?;
        let lens = Tensor::from_slice(dev, &src.lens, &[src.rows()])?;
        let mut x = self.src_pos.add(&self.src_embed.lookup(&ids)?)?;
        let mask = AttentionMask {
            key_lengths: Some(&lens),
            ..Default::default()
        };
        for block in &self.encoder {
            x = block.forward_masked(&x, mask)?;
        }
        Ok((x, lens))
    }

    /// Logits (B T, V) of every position of the decoder's input `tgt`
    /// (B, T), BEGIN first (teacher forcing: the target shifted right).
    pub fn decode(&self, dev: &Device, tgt: &Padded, memory: &(Tensor, Tensor)) -> Result<Tensor> {
        let causal = AttentionMask {
            causal: true,
            ..Default::default()
        };
        self.decode_with(dev, tgt, causal, false, memory)
    }

    /// Logits (B T, V) of every position of `tgt` decoded at once, each
    /// seeing all the others but not the padding: the non-autoregressive
    /// decoder.
    pub fn decode_parallel(
        &self,
        dev: &Device,
        tgt: &Padded,
        memory: &(Tensor, Tensor),
    ) -> Result<Tensor> {
        let lens = Tensor::from_slice(dev, &tgt.lens, &[tgt.rows()])?;
        let mask = AttentionMask {
            key_lengths: Some(&lens),
            ..Default::default()
        };
        self.decode_with(dev, tgt, mask, true, memory)
    }

    fn decode_with(
        &self,
        dev: &Device,
        tgt: &Padded,
        mask: AttentionMask,
        nonempty: bool,
        memory: &(Tensor, Tensor),
    ) -> Result<Tensor> {
        let ids = self.tokens(dev, tgt, self.cfg.tgt_vocab, nonempty)?;
        let mut x = self.tgt_pos.add(&self.tgt_embed.lookup(&ids)?)?;
        for block in &self.decoder {
            x = block.decode_masked(&x, mask, &memory.0, Some(&memory.1))?;
        }
        self.head(&x)
    }

    /// Logits (B, V) of one new id per row (B, 1) after the positions in
    /// `cache`, whose self-attention keys and values each layer appends.
    pub fn decode_cached(
        &self,
        dev: &Device,
        new: &[i32],
        memory: &(Tensor, Tensor),
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let p = Padded {
            ids: new.to_vec(),
            lens: vec![1; new.len()],
            width: 1,
        };
        let ids = self.tokens(dev, &p, self.cfg.tgt_vocab, false)?;
        cache.check_room("seq2seq", ids.shape(), 1)?;
        let mut x = self
            .tgt_pos
            .add_at(&self.tgt_embed.lookup(&ids)?, cache.len())?;
        for (block, layer) in self.decoder.iter().zip(&mut cache.layers) {
            x = block.decode_cached(&x, &memory.0, Some(&memory.1), layer)?;
        }
        self.head(&x)
    }

    fn head(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.shape();
        self.out.forward(&x.reshape(&[s[0] * s[1], s[2]])?)
    }

    pub fn cache(&self) -> KvCache {
        KvCache::new(self.cfg.decoder_layers, self.cfg.max_len)
    }
}

/// The encoder's output realized and cut from the graph, so each decoding
/// step reads it instead of recomputing it.
pub fn memory(model: &Seq2Seq, dev: &Device, src: &Padded) -> Result<(Tensor, Tensor)> {
    let (m, lens) = model.encode(dev, src)?;
    Tensor::realize_all(&[&m])?;
    Ok((m.detach(), lens))
}

/// Each row's ids up to (not including) END, at most `max_len` of them,
/// choosing the likeliest id at each step; with `cached`, one realize of one
/// new position per step, without, the whole prefix again each step.
pub fn greedy(
    model: &Seq2Seq,
    dev: &Device,
    src: &Padded,
    max_len: usize,
    cached: bool,
) -> Result<Vec<Vec<i32>>> {
    let _g = no_grad();
    let rows = src.rows();
    let memory = memory(model, dev, src)?;
    let mut cache = model.cache();
    let mut seqs: Vec<Vec<i32>> = vec![vec![BEGIN]; rows];
    let mut done = vec![false; rows];
    for _ in 0..max_len {
        let last = if cached {
            let new: Vec<i32> = seqs.iter().map(|s| *s.last().unwrap()).collect();
            model.decode_cached(dev, &new, &memory, &mut cache)?
        } else {
            let t = seqs[0].len();
            let views: Vec<&[i32]> = seqs.iter().map(Vec::as_slice).collect();
            let logits = model.decode(dev, &Padded::new(&views, 1), &memory)?;
            let v = model.cfg.tgt_vocab;
            logits.reshape(&[rows, t, v])?.narrow(1, t - 1, 1)?
        };
        let mut all = cache.tensors();
        all.push(&last);
        Tensor::realize_all(&all)?;
        cache.detach();
        let logits = last.to_vec::<f32>()?;
        for (r, row) in logits.chunks(model.cfg.tgt_vocab).enumerate() {
            let id = if done[r] { PAD } else { next_id(row) };
            done[r] |= id == END;
            seqs[r].push(id);
        }
        if done.iter().all(|&d| d) {
            break;
        }
    }
    Ok(seqs.into_iter().map(|s| until_end(&s[1..])).collect())
}

fn until_end(ids: &[i32]) -> Vec<i32> {
    ids.iter()
        .copied()
        .take_while(|&i| i != END && i != PAD)
        .collect()
}

/// The likeliest id that may follow: END or a token (never PAD or BEGIN).
pub fn next_id(row: &[f32]) -> i32 {
    END + argmax(&row[END as usize..])
}

/// Levenshtein distance between two id sequences.
pub fn edit_distance(a: &[i32], b: &[i32]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let sub = diag + usize::from(x != y);
            diag = row[j + 1];
            row[j + 1] = sub.min(row[j] + 1).min(diag + 1);
        }
    }
    row[b.len()]
}

/// (phoneme error rate, word error rate) of `guesses` against `truths`: the
/// summed edit distance over the summed reference length, and the share of
/// words not exactly right.
pub fn error_rates(guesses: &[Vec<i32>], truths: &[&[i32]]) -> (f64, f64) {
    let (mut edits, mut phones, mut wrong) = (0, 0, 0);
    for (g, t) in guesses.iter().zip(truths) {
        let e = edit_distance(g, t);
        edits += e;
        phones += t.len();
        wrong += usize::from(e > 0);
    }
    let n = guesses.len().max(1) as f64;
    (edits as f64 / phones.max(1) as f64, wrong as f64 / n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tour::chapters::beam::beam;

    fn tiny(dev: &Device, tgt_vocab: usize) -> Seq2Seq {
        let cfg = Config {
            dim: 8,
            heads: 2,
            ff: 16,
            encoder_layers: 1,
            decoder_layers: 1,
            src_vocab: 5,
            tgt_vocab,
            max_len: 6,
            dropout: 0.0,
        };
        let m = Seq2Seq::new(dev, cfg).unwrap();
        m.eval();
        m
    }

    fn refused<T: std::fmt::Debug>(r: Result<T>, op: &str, what: &str) {
        match r {
            Err(Error::InvalidArgument { op: o, msg, .. }) => {
                assert_eq!(o, op, "{msg}");
                assert!(msg.contains(what), "{msg}");
            }
            other => panic!("{what}: expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn bad_sources_beam_widths_and_checkpoints_are_typed_errors() {
        let dev = Device::new().unwrap();
        let m = tiny(&dev, 7);
        let ok: &[i32] = &[1, 2, 3];
        refused(
            m.encode(&dev, &Padded::new(&[ok, &[]], 1)),
            "seq2seq",
            "sequence 1 is empty",
        );
        let long = [1; 7];
        refused(
            m.encode(&dev, &Padded::new(&[&long], 1)),
            "seq2seq",
            "exceed the table's 6",
        );
        refused(
            m.encode(&dev, &Padded::new(&[&[1, 5]], 1)),
            "seq2seq",
            "id 5 at 1",
        );
        refused(
            beam(&m, &dev, &Padded::new(&[ok], 1), 0, 4, 1.0, true),
            "beam search",
            "width 0",
        );
        // A checkpoint of another target vocabulary: named, before any copy.
        let other = tiny(&dev, 9);
        match m.load_state_dict(&other.state_dict(), true) {
            Err(Error::StateDict { .. }) => {}
            r => panic!("expected a StateDict error, got {r:?}"),
        }
    }

    #[test]
    fn greedy_with_and_without_the_cache_and_beam_of_one_agree() {
        let dev = Device::new().unwrap();
        dev.manual_seed(9);
        let m = tiny(&dev, 7);
        let a: &[i32] = &[1, 2, 3, 4];
        let src = Padded::new(&[a, &[4, 3], &[2]], 1);
        let cached = greedy(&m, &dev, &src, 5, true).unwrap();
        assert_eq!(cached, greedy(&m, &dev, &src, 5, false).unwrap());
        // Width 1 keeps the likeliest id at each step: greedy's choice (a
        // hypothesis that ends is kept as is).
        assert_eq!(cached, beam(&m, &dev, &src, 1, 5, 0.0, true).unwrap());
        assert!(
            cached
                .iter()
                .all(|s| s.len() <= 5 && s.iter().all(|&i| i > END))
        );
    }

    #[test]
    fn error_rates_count_edits_over_reference_phonemes() {
        assert_eq!(edit_distance(&[3, 4, 5], &[3, 5]), 1);
        assert_eq!(edit_distance(&[], &[3, 4]), 2);
        assert_eq!(edit_distance(&[3, 4, 5, 6], &[4, 3, 5, 6]), 2);
        let (per, wer) = error_rates(&[vec![3, 4], vec![5]], &[&[3, 4], &[5, 6, 7]]);
        assert_eq!((per, wer), (2.0 / 5.0, 0.5));
    }
}
