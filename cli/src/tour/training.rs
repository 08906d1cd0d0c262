//! What the tour's sequence models share in training: batches bucketed by
//! length, and the step loop around a batch's loss.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use shadergrad::optim::{LrScheduler, Optimizer};
use shadergrad::{Result, Tensor};

use crate::tour::common::Ctx;

/// An epoch's batches of `size` of the `n` examples: shuffled, then pools of
/// `pool` batches sorted by `key` (a length) and cut, so a batch holds
/// examples of similar lengths (little padding, few widths, plans replayed),
/// in a random order of batches.
pub fn buckets<K: Ord>(
    n: usize,
    size: usize,
    pool: usize,
    key: impl Fn(usize) -> K,
    rng: &mut StdRng,
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut out = Vec::new();
    for chunk in order.chunks(size * pool) {
        let mut chunk = chunk.to_vec();
        chunk.sort_by_key(|&i| key(i));
        out.extend(chunk.chunks(size).map(<[usize]>::to_vec));
    }
    out.shuffle(rng);
    out
}

/// `steps` training steps: `loss(step)` records a batch's loss, then the
/// gradients are zeroed before it, backpropagated, the update recorded and
/// the schedule stepped; one submit a step, when the loss is read. The
/// losses and the seconds the steps took.
pub fn train_steps(
    ctx: &Ctx,
    opt: &mut Optimizer,
    sched: &mut LrScheduler,
    steps: usize,
    mut loss: impl FnMut(usize) -> Result<Tensor>,
) -> Result<(Vec<f32>, f64)> {
    let (mut losses, mut seconds) = (Vec::with_capacity(steps), 0.0);
    for step in 0..steps {
        let clock = Instant::now();
        opt.zero_grad();
        let l = loss(step)?;
        l.backward()?;
        opt.record()?;
        sched.step(opt);
        let l = l.to_scalar::<f32>()?;
        seconds += clock.elapsed().as_secs_f64();
        losses.push(l);
        ctx.tick(l);
    }
    Ok((losses, seconds))
}
