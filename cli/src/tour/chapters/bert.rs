//! BERT (the notes' self-supervised chapter): a transformer encoder over
//! characters, [CLS] first, learned positions, padding masked; a masked-LM
//! head for pretraining, a linear classifier on [CLS] for fine-tuning. The
//! pretrained encoder goes to a safetensors file and a classifier starts
//! from that file.

use std::path::Path;

use crate::tour::chapters::seq2seq::Padded;
use shadergrad::loss::{CrossEntropy, cross_entropy_with};
use shadergrad::nn::{
    Dropout, Embedding, EncoderBlock, LayerNorm, Linear, Module, Positions, Stateful, init,
};
use shadergrad::{AttentionMask, Device, Error, Result, Tensor, checkpoint};

use crate::tour::chapters::mlm::{IGNORE, Masked};

/// The encoder's architecture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    pub vocab: usize,
    pub dim: usize,
    pub heads: usize,
    pub ff: usize,
    pub layers: usize,
    /// Positions in the table ([CLS] included): the longest sequence.
    pub max_len: usize,
    pub dropout: f64,
}

/// Token and position embeddings and the encoder blocks (post-norm, as
/// BERT's), named as the file the pretraining writes.
#[derive(Stateful)]
pub struct Encoder {
    tok: Embedding,
    pos: Positions,
    norm: LayerNorm,
    blocks: Vec<EncoderBlock>,
    #[stateful(skip)]
    pub cfg: Config,
}

fn invalid(shape: &[usize], msg: String) -> Error {
    Error::InvalidArgument {
        op: "bert encoder",
        shape: shape.to_vec(),
        msg,
    }
}

impl Encoder {
    pub fn new(dev: &Device, cfg: Config) -> Result<Encoder> {
        let (d, p) = (cfg.dim, cfg.dropout);
        // BERT's initialisation: small tables (Adam's steps move a rare
        // character's row in a few updates), a layer norm on their sum.
        let table = |n: usize| -> Result<Embedding> {
            Embedding::from_table(init::normal(dev, &[n, d], 0.02)?)
        };
        Ok(Encoder {
            tok: table(cfg.vocab)?,
            pos: Positions::Learned(table(cfg.max_len)?),
            norm: LayerNorm::new(dev, d)?,
            blocks: (0..cfg.layers)
                .map(|_| EncoderBlock::new(dev, d, cfg.heads, cfg.ff, p))
                .collect::<Result<_>>()?,
            cfg,
        })
    }

    /// `p` as (rows, width) ids, checked before any GPU work: a width past
    /// the positional table, an empty sequence and an id outside the
    /// vocabulary are errors naming the encoder and the shapes.
    fn tokens(&self, dev: &Device, p: &Padded) -> Result<Tensor> {
        let shape = [p.rows(), p.width];
        let max = self.cfg.max_len;
        if p.width > max {
            let msg = format!("{} positions exceed the positional table's {max}", p.width);
            return Err(invalid(&shape, msg));
        }
        if let Some(row) = p.lens.iter().position(|&n| n == 0) {
            return Err(invalid(&shape, format!("sequence {row} is empty")));
        }
        let v = self.cfg.vocab;
        if let Some(at) = p.ids.iter().position(|&i| i < 0 || i as usize >= v) {
            let msg = format!("id {} at {at} is outside the vocabulary of {v}", p.ids[at]);
            return Err(invalid(&shape, msg));
        }
        Tensor::from_slice(dev, &p.ids, &shape)
    }

    /// Hidden states (rows, width, dim); each position attends to its row's
    /// real positions only.
    pub fn forward(&self, dev: &Device, p: &Padded) -> Result<Tensor> {
        let ids = self.tokens(dev, p)?;
        let lens = Tensor::from_slice(dev, &p.lens, &[p.rows()])?;
        let mask = AttentionMask {
            key_lengths: Some(&lens),
            ..Default::default()
        };
        let mut x = self.norm.forward(&self.pos.add(&self.tok.lookup(&ids)?)?)?;
        for block in &self.blocks {
            x = block.forward_masked(&x, mask)?;
        }
        Ok(x)
    }

    /// Writes the encoder's state to `path` with its architecture in the
    /// metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        let state = self.state_dict();
        let named: Vec<(&str, &Tensor)> = state.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let c = self.cfg;
        let (vocab, dim, max_len) = (c.vocab.to_string(), c.dim.to_string(), c.max_len);
        let max_len = max_len.to_string();
        let meta = [
            ("model", "bert encoder"),
            ("vocab", vocab.as_str()),
            ("dim", dim.as_str()),
            ("max_len", max_len.as_str()),
        ];
        checkpoint::save(path, &named, &meta)
    }

    /// An encoder of `cfg` with the state in `path`. A file of another
    /// vocabulary (or width) is an error naming the model, the file and
    /// both token tables' shapes; any other difference is the state dict's
    /// own error.
    pub fn load(dev: &Device, cfg: Config, path: &Path) -> Result<Encoder> {
        let loaded = checkpoint::load(dev, path)?;
        let enc = Encoder::new(dev, cfg)?;
        let want = enc.tok.table.shape().to_vec();
        let table = loaded.tensors.iter().find(|(n, _)| n == "tok.weight");
        if let Some((_, t)) = table.filter(|(_, t)| t.shape() != want.as_slice()) {
            return Err(invalid(
                t.shape(),
                format!(
                    "{} holds a token table of {:?} (a vocabulary of {}); the model's is \
                     {want:?} (a vocabulary of {})",
                    path.display(),
                    t.shape(),
                    t.shape()[0],
                    cfg.vocab
                ),
            ));
        }
        enc.load_state_dict(&loaded.tensors, true)?;
        Ok(enc)
    }

    pub fn dim(&self) -> usize {
        self.cfg.dim
    }
}

/// The encoder and the masked-LM head: a linear map to the vocabulary,
/// applied only at the chosen positions.
#[derive(Stateful)]
pub struct MaskedLm {
    pub encoder: Encoder,
    head: Linear,
}

impl MaskedLm {
    pub fn new(dev: &Device, cfg: Config) -> Result<MaskedLm> {
        Ok(MaskedLm {
            encoder: Encoder::new(dev, cfg)?,
            head: Linear::new(dev, cfg.dim, cfg.vocab)?,
        })
    }

    /// The mean cross-entropy of the original ids at the chosen positions of
    /// `m`, whose inputs have `p`'s lengths and width.
    pub fn loss(&self, dev: &Device, p: &Padded, m: &Masked) -> Result<Tensor> {
        let input = Padded {
            ids: m.inputs.clone(),
            lens: p.lens.clone(),
            width: p.width,
        };
        let h = self.encoder.forward(dev, &input)?;
        let d = self.encoder.dim();
        let flat = h.reshape(&[p.rows() * p.width, d])?;
        let picks = Tensor::from_slice(dev, &m.picks, &[m.picks.len()])?;
        let logits = self.head.forward(&flat.index_select(0, &picks)?)?;
        let labels = Tensor::from_slice(dev, &m.labels, &[m.labels.len()])?;
        let opts = CrossEntropy {
            ignore_index: Some(IGNORE),
            label_smoothing: 0.0,
        };
        cross_entropy_with(&logits, &labels, opts)
    }
}

/// The encoder and a linear classifier on [CLS]'s hidden state.
#[derive(Stateful)]
pub struct Classifier {
    pub encoder: Encoder,
    dropout: Dropout,
    head: Linear,
}

impl Classifier {
    pub fn new(dev: &Device, encoder: Encoder, classes: usize) -> Result<Classifier> {
        Ok(Classifier {
            head: Linear::new(dev, encoder.dim(), classes)?,
            dropout: Dropout::new(encoder.cfg.dropout)?,
            encoder,
        })
    }

    /// Logits (rows, classes) of the sequences `p` ([CLS] first).
    pub fn logits(&self, dev: &Device, p: &Padded) -> Result<Tensor> {
        let h = self.encoder.forward(dev, p)?;
        let cls = h
            .narrow(1, 0, 1)?
            .reshape(&[p.rows(), self.encoder.dim()])?;
        self.head.forward(&self.dropout.forward(&cls)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vocab: usize) -> Config {
        Config {
            vocab,
            dim: 8,
            heads: 2,
            ff: 16,
            layers: 1,
            max_len: 6,
            dropout: 0.0,
        }
    }

    fn refused<T>(r: Result<T>, what: &str) {
        match r {
            Err(Error::InvalidArgument { op, msg, .. }) => {
                assert_eq!(op, "bert encoder", "{msg}");
                assert!(msg.contains(what), "{what}: {msg}");
            }
            Err(e) => panic!("{what}: expected InvalidArgument, got {e}"),
            Ok(_) => panic!("{what}: expected InvalidArgument, got a result"),
        }
    }

    #[test]
    fn long_or_empty_sequences_and_another_vocabulary_are_typed_errors() {
        let dev = Device::new().unwrap();
        let enc = Encoder::new(&dev, cfg(9)).unwrap();
        let ok: &[i32] = &[2, 5, 6];
        refused(
            enc.forward(&dev, &Padded::new(&[&[2; 7]], 1)),
            "7 positions exceed the positional table's 6",
        );
        refused(
            enc.forward(&dev, &Padded::new(&[ok, &[]], 1)),
            "sequence 1 is empty",
        );
        refused(
            enc.forward(&dev, &Padded::new(&[&[2, 9]], 1)),
            "id 9 at 1 is outside the vocabulary of 9",
        );
        let dir = std::env::temp_dir().join(format!("bert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("encoder.safetensors");
        enc.save(&file).unwrap();
        refused(
            Encoder::load(&dev, cfg(12), &file),
            "token table of [9, 8] (a vocabulary of 9); the model's is [12, 8]",
        );
        // The same architecture loads, and gives the same hidden states.
        let back = Encoder::load(&dev, cfg(9), &file).unwrap();
        let p = Padded::new(&[ok, &[2, 7]], 1);
        let a = enc.forward(&dev, &p).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(a, back.forward(&dev, &p).unwrap().to_vec::<f32>().unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
