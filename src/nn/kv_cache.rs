//! The keys and values of past positions, kept on the GPU for incremental
//! decoding: each new token attends to them and appends its own, so a step
//! costs O(current length) and the prefix is never recomputed.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// One attention layer's cache: keys and values (B, heads, L, head dim).
#[derive(Default)]
pub struct LayerCache {
    kv: Option<(Tensor, Tensor)>,
}

impl LayerCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.shape()[2])
    }

    pub fn is_empty(&self) -> bool {
        self.kv.is_none()
    }

    /// Appends the new positions' keys and values; gives all of them.
    pub(crate) fn append(&mut self, k: Tensor, v: Tensor) -> Result<(Tensor, Tensor)> {
        let kv = match self.kv.take() {
            None => (k, v),
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
        };
        self.kv = Some(kv.clone());
        Ok(kv)
    }
}

/// A decoder's caches, one per layer, bounded by the positional table.
pub struct KvCache {
    pub layers: Vec<LayerCache>,
    pub max_len: usize,
}

impl KvCache {
    pub fn new(layers: usize, max_len: usize) -> KvCache {
        KvCache {
            layers: (0..layers).map(|_| LayerCache::default()).collect(),
            max_len,
        }
    }

    /// Positions held (every layer holds the same).
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, LayerCache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Refuses `new` more positions past the table's end, naming `model`.
    pub fn check_room(&self, model: &'static str, shape: &[usize], new: usize) -> Result<()> {
        if self.len() + new > self.max_len {
            return Err(Error::InvalidArgument {
                op: model,
                shape: shape.to_vec(),
                msg: format!(
                    "{} cached positions and {new} new exceed the positional table's {}",
                    self.len(),
                    self.max_len
                ),
            });
        }
        Ok(())
    }

    /// Cuts the realized caches from the graph that computed them.
    pub fn detach(&mut self) {
        for l in &mut self.layers {
            l.kv = l.kv.take().map(|(k, v)| (k.detach(), v.detach()));
        }
    }

    /// Row `i` of every layer's cache becomes the old row `rows[i]` (`rows`
    /// 1-D indices): beam search keeping each chosen hypothesis's parent.
    pub fn reorder(&mut self, rows: &Tensor) -> Result<()> {
        let mut picked = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            picked.push(match &l.kv {
                Some((k, v)) => Some((k.index_select(0, rows)?, v.index_select(0, rows)?)),
                None => None,
            });
        }
        for (l, kv) in self.layers.iter_mut().zip(picked) {
            l.kv = kv;
        }
        Ok(())
    }

    /// The cached tensors, to realize with the step that appends them (so
    /// the next step reads buffers, not a growing graph).
    pub fn tensors(&self) -> Vec<&Tensor> {
        self.layers
            .iter()
            .filter_map(|l| l.kv.as_ref())
            .flat_map(|(k, v)| [k, v])
            .collect()
    }
}
