//! Matrix multiply (batched, numpy broadcasting of batch dims) and row softmax.
//! A transposed operand stays a strided view: the matmul kernel reads it in
//! place, so `a.matmul(&b.t()?)` never copies b.

use crate::error::{Error, Result};
use crate::graph::Op;
use crate::kernels::cumsum::Cumsum;
use crate::kernels::softmax::Softmax;
use crate::shape::{broadcast_shapes, normalize_axis};
use crate::tensor::Tensor;

impl Tensor {
    /// Matrix product with numpy semantics: 1-D operands are promoted and the
    /// added axis removed again; leading (batch) axes broadcast.
    pub fn matmul(&self, rhs: &Tensor) -> Result<Tensor> {
        self.same_device("matmul", &[rhs])?;
        self.require_float("matmul")?;
        self.require_dtype("matmul", rhs)?;
        if self.rank() == 0 || rhs.rank() == 0 {
            return Err(Error::ShapeMismatch {
                op: "matmul",
                lhs: self.shape().to_vec(),
                rhs: rhs.shape().to_vec(),
                detail: ": both operands need at least one axis".into(),
            });
        }
        let a = if self.rank() == 1 {
            self.unsqueeze(0)?
        } else {
            self.clone()
        };
        let b = if rhs.rank() == 1 {
            rhs.unsqueeze(1)?
        } else {
            rhs.clone()
        };
        let (ra, rb) = (a.rank(), b.rank());
        let (m, k) = (a.shape()[ra - 2], a.shape()[ra - 1]);
        let (k2, n) = (b.shape()[rb - 2], b.shape()[rb - 1]);
        let batch = broadcast_shapes(&a.shape()[..ra - 2], &b.shape()[..rb - 2]);
        let Some(batch) = batch.filter(|_| k == k2) else {
            return Err(Error::ShapeMismatch {
                op: "matmul",
                lhs: self.shape().to_vec(),
                rhs: rhs.shape().to_vec(),
                detail: format!(
                    ": inner dims {k} and {k2} must match and batch dims {:?}, {:?} broadcast",
                    &a.shape()[..ra - 2],
                    &b.shape()[..rb - 2]
                ),
            });
        };
        let shape_of = |x: usize, y: usize| {
            let mut s = batch.clone();
            s.extend([x, y]);
            s
        };
        let a = a.broadcast_to(&shape_of(m, k))?;
        let b = b.broadcast_to(&shape_of(k, n))?;
        let out_shape = shape_of(m, n);
        Tensor::check_size(self.device(), "matmul", &out_shape, self.dtype())?;
        let out = Tensor::record(
            self.device(),
            out_shape,
            self.dtype(),
            Op::Matmul,
            vec![a, b],
        );
        // Drop the axes the 1-D operands were promoted with.
        let mut shape = batch;
        if self.rank() > 1 {
            shape.push(m);
        }
        if rhs.rank() > 1 {
            shape.push(n);
        }
        out.reshape(&shape)
    }

    fn softmax_op(&self, axis: isize, log: bool) -> Result<Tensor> {
        let name = if log { "log_softmax" } else { "softmax" };
        self.require_float(name)?;
        let ax = normalize_axis(name, axis, self.rank().max(1))?;
        if self.rank() == 0 {
            return self.unsqueeze(0)?.softmax_op(0, log)?.squeeze(0);
        }
        let last = self.rank() - 1;
        if ax != last {
            let moved = self.transpose(ax as isize, last as isize)?;
            return moved
                .softmax_op(-1, log)?
                .transpose(ax as isize, last as isize);
        }
        Tensor::apply(Softmax { log }, &[self])
    }

    /// Inclusive cumulative sums along `axis`, as torch.cumsum (f32 or i32;
    /// PyTorch widens integers to i64, here i32 stays i32).
    pub fn cumsum(&self, axis: isize) -> Result<Tensor> {
        let ax = normalize_axis("cumsum", axis, self.rank().max(1))?;
        if self.rank() == 0 {
            return self.unsqueeze(0)?.cumsum(0)?.squeeze(0);
        }
        let last = self.rank() - 1;
        if ax != last {
            let moved = self.transpose(ax as isize, last as isize)?;
            return moved.cumsum(-1)?.transpose(ax as isize, last as isize);
        }
        Tensor::apply(Cumsum { reverse: false }, &[self])
    }

    /// exp(x - max) / sum(exp(x - max)) along `axis`.
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        self.softmax_op(axis, false)
    }

    /// x - max - log(sum(exp(x - max))) along `axis`.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        self.softmax_op(axis, true)
    }
}
