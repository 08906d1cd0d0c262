//! Per-sequence lengths as step masks: step t of sequence b is real when
//! t < lengths[b]; past the end a direction keeps its state and outputs zero,
//! which is what PyTorch's packed sequences give.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// For each step, a (B, 1) bool mask of the sequences still running; `None`
/// when every sequence has all `t` steps.
pub fn masks(
    op: &'static str,
    dev: &Device,
    lengths: Option<&[usize]>,
    t: usize,
    b: usize,
) -> Result<Option<Vec<Tensor>>> {
    let Some(lengths) = lengths else {
        return Ok(None);
    };
    if lengths.len() != b || lengths.iter().any(|&l| l == 0 || l > t) {
        return Err(Error::InvalidArgument {
            op,
            shape: vec![t, b],
            msg: format!("lengths {lengths:?} must be one per sequence (B = {b}), each in 1..={t}"),
        });
    }
    if lengths.iter().all(|&l| l == t) {
        return Ok(None);
    }
    let running: Vec<f32> = (0..t)
        .flat_map(|s| lengths.iter().map(move |&l| (s < l) as u8 as f32))
        .collect();
    let all = Tensor::from_slice(dev, &running, &[t, b, 1])?.gt(0.5)?;
    (0..t)
        .map(|s| all.narrow(0, s, 1)?.reshape(&[b, 1]))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}
