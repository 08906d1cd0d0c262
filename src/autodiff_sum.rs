//! Summing a node's gradient contributions. Most are added in turn; but the
//! gradients of disjoint contiguous blocks of one tensor (every step's slice
//! of an RNN's input projection, the chunks of a split) are placements into
//! zeros, and adding T of them costs T full-size passes: T^2 work for T
//! slices. Those join as one concatenation instead (zeros in the gaps),
//! linear in the tensor's size.

use crate::error::Result;
use crate::graph::Op;
use crate::shape::contiguous_strides;
use crate::tensor::Tensor;

/// A gradient placed into the block [start, start + g.numel()) of its
/// source's flat layout.
struct Block {
    start: usize,
    g: Tensor,
}

/// The sum of `parts`, each of `shape`.
pub(crate) fn sum(shape: &[usize], parts: Vec<Tensor>) -> Result<Tensor> {
    let (mut blocks, mut rest) = (Vec::new(), Vec::new());
    for p in parts {
        match block(&p) {
            Some(b) => blocks.push((b, p)),
            None => rest.push(p),
        }
    }
    blocks.sort_by_key(|(b, _)| b.start);
    let disjoint = blocks
        .windows(2)
        .all(|w| w[0].0.start + w[0].0.g.numel() <= w[1].0.start);
    if blocks.len() >= 2 && disjoint {
        let bs: Vec<Block> = blocks.into_iter().map(|(b, _)| b).collect();
        rest.push(joined(shape, &bs)?);
    } else {
        // Overlapping (or a single) placement: as any other contribution.
        rest.extend(blocks.into_iter().map(|(_, p)| p));
    }
    let mut parts = rest.into_iter();
    let first = parts.next().expect("a gradient has a contribution");
    parts.try_fold(first, |acc, p| acc.add(&p))
}

/// `p` as a block, when it is the placement (`Op::Unview`) of a view that
/// reads a contiguous run of its source.
fn block(p: &Tensor) -> Option<Block> {
    let s = p.0.state();
    let Some(Op::Unview(v)) = &s.op else {
        return None;
    };
    let row_major = contiguous_strides(&v.shape);
    let dims = v.shape.iter().zip(&v.strides).zip(&row_major);
    let contiguous = dims
        .into_iter()
        .all(|((&d, &st), &r)| d <= 1 || st == r as isize);
    contiguous.then(|| Block {
        start: v.offset,
        g: s.src[0].clone(),
    })
}

/// The blocks, sorted and disjoint, joined with zeros between them.
fn joined(shape: &[usize], blocks: &[Block]) -> Result<Tensor> {
    let total: usize = shape.iter().product();
    let (dev, dtype) = (blocks[0].g.device().clone(), blocks[0].g.dtype());
    let mut pieces = Vec::with_capacity(2 * blocks.len() + 1);
    let mut at = 0;
    for b in blocks {
        if b.start > at {
            pieces.push(Tensor::zeros(&dev, &[b.start - at], dtype)?);
        }
        pieces.push(b.g.reshape(&[b.g.numel()])?);
        at = b.start + b.g.numel();
    }
    if at < total {
        pieces.push(Tensor::zeros(&dev, &[total - at], dtype)?);
    }
    let refs: Vec<&Tensor> = pieces.iter().collect();
    Tensor::cat(&refs, 0)?.reshape(shape)
}
