//! Softmax cross-entropy over class indices, fused, and its gradient, fused
//! (`shaders/cross_entropy.wgsl`): the softmax is never written out. A label
//! outside [0, C) raises the class-index bit of the status word.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::{Arg, Call, Desc, Kernel, Launch, grid, no_second_order, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::tensor::Tensor;

const WG: u32 = 64;

/// The loss per row (N) of logits (N, C) f32 against labels (N) i32; 0 for
/// ignored rows. Label smoothing is a runtime scalar.
pub(crate) struct CrossEntropy {
    pub ignore: Option<i32>,
    pub smoothing: f32,
}

/// Its gradient: inputs [logits, labels, dloss (N)] -> dlogits (N, C) =
/// dloss * (softmax - smoothed one-hot).
pub(crate) struct CrossEntropyGrad {
    pub ignore: Option<i32>,
    pub smoothing: f32,
}

fn ignore_key(ignore: Option<i32>) -> u64 {
    ignore.map_or(u64::MAX, |i| i as u32 as u64)
}

/// The launch of `entry` over logits `x`, reading the bindings `uses` marks.
fn launch_one(entry: &'static str, x: Desc, ignore: Option<i32>, uses: [BindKind; 7]) -> Launch {
    let cols = *x.shape.last().unwrap_or(&1);
    let rows = x.numel() / cols.max(1);
    let args = [
        Arg::Out,
        Arg::In(0),
        Arg::In(1),
        Arg::Scalars,
        Arg::Meta,
        Arg::Status,
        Arg::In(2),
    ];
    // dloss (input 2) only where read: the forward has no such input.
    let n = if uses[6] == BindKind::Unused { 6 } else { 7 };
    let src = KernelSource::new(
        "cross_entropy",
        shader("cross_entropy").into(),
        entry,
        uses[..n].to_vec(),
    )
    .with("WG", WG as f64)
    .with("HAS_IGNORE", ignore.is_some() as u8 as f64)
    .with("IGNORE", ignore.unwrap_or(-100) as f64);
    Launch::new(
        src,
        args[..n].to_vec(),
        grid((rows as u64).div_ceil(WG as u64)),
    )
    .meta(vec![rows as u32, cols as u32])
    .scalars(vec![0])
}

/// The forward, or the gradient: one pass where five storage buffers fit a
/// stage, else two (unscaled gradient, then each row times its dloss).
fn launch(x: Desc, ignore: Option<i32>, grad: bool, storage_buffers: u32) -> Vec<Launch> {
    use BindKind::{Read, ReadWrite, Uniform, Unused};
    let body = [ReadWrite, Read, Read, Uniform, Uniform, ReadWrite];
    let with = |last| {
        let mut k = [Unused; 7];
        k[..6].copy_from_slice(&body);
        k[6] = last;
        k
    };
    if !grad {
        return vec![launch_one("cross_entropy", x, ignore, with(Unused))];
    }
    if storage_buffers >= 5 {
        return vec![launch_one("cross_entropy_backward", x, ignore, with(Read))];
    }
    let scale = [ReadWrite, Unused, Unused, Unused, Uniform, Unused, Read];
    vec![
        launch_one("cross_entropy_backward_unscaled", x, ignore, with(Unused)),
        launch_one("cross_entropy_scale_rows", x, ignore, scale),
    ]
}

impl Kernel for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross_entropy"
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.push(ignore_key(self.ignore));
    }

    fn scalars(&self) -> Vec<u32> {
        vec![self.smoothing.to_bits()]
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        let (x, labels) = (inputs[0], inputs[1]);
        if x.dtype != DType::F32 || labels.dtype != DType::I32 {
            return Err(Error::UnsupportedDType {
                op: "cross_entropy",
                dtype: if x.dtype != DType::F32 {
                    x.dtype
                } else {
                    labels.dtype
                },
                reason: "logits must be f32 and labels i32",
            });
        }
        if x.shape.len() != 2 || labels.shape != [x.shape[0]] {
            return Err(Error::ShapeMismatch {
                op: "cross_entropy",
                lhs: x.shape.to_vec(),
                rhs: labels.shape.to_vec(),
                detail: ": logits must be (N, C) and labels (N)".into(),
            });
        }
        if !(0.0..=1.0).contains(&self.smoothing) {
            return Err(Error::InvalidArgument {
                op: "cross_entropy",
                shape: x.shape.to_vec(),
                msg: format!("label smoothing {} is outside [0, 1]", self.smoothing),
            });
        }
        Ok((vec![x.shape[0]], DType::F32))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        Ok(launch(
            call.inputs[0],
            self.ignore,
            false,
            call.opts.storage_buffers,
        ))
    }

    fn backward(&self, inputs: &[Tensor], _: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let grad = CrossEntropyGrad {
            ignore: self.ignore,
            smoothing: self.smoothing,
        };
        let d = Tensor::apply(grad, &[&inputs[0], &inputs[1], g])?;
        Ok(vec![Some(d), None])
    }
}

impl Kernel for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "cross_entropy.grad"
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.push(ignore_key(self.ignore));
    }

    fn scalars(&self) -> Vec<u32> {
        vec![self.smoothing.to_bits()]
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((inputs[0].shape.to_vec(), DType::F32))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        Ok(launch(
            call.inputs[0],
            self.ignore,
            true,
            call.opts.storage_buffers,
        ))
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}
