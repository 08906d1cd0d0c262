//! Convolution, pooling, batch norm and the spatial transformer's sampler:
//! shapes checked when recorded, kernels in shaders/{conv2d,pool2d,
//! batchnorm,grid_sample}.wgsl.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::batchnorm;
use crate::kernels::conv2d::{Conv2d, ConvParams};
use crate::kernels::grid_sample::GridSample;
use crate::kernels::pool2d::{Pool2d, PoolParams};
use crate::tensor::Tensor;

impl Tensor {
    fn require_f32_rank(&self, op: &'static str, rank: usize) -> Result<()> {
        if self.dtype() != DType::F32 {
            return Err(Error::UnsupportedDType {
                op,
                dtype: self.dtype(),
                reason: "f32 only",
            });
        }
        if self.rank() != rank {
            return Err(Error::InvalidArgument {
                op,
                shape: self.shape().to_vec(),
                msg: format!("needs rank {rank}"),
            });
        }
        Ok(())
    }

    /// 2-D convolution of NCHW input with weights (Cout, Cin/groups, KH, KW),
    /// like torch.nn.functional.conv2d. Output size per axis:
    /// (H + 2P - D(K-1) - 1) / S + 1.
    pub fn conv2d(&self, weight: &Tensor, bias: Option<&Tensor>, p: ConvParams) -> Result<Tensor> {
        let y = Tensor::apply(Conv2d(p), &[self, weight])?;
        match bias {
            None => Ok(y),
            Some(b) => {
                let cout = weight.shape()[0];
                if b.shape() != [cout] {
                    return Err(Error::ShapeMismatch {
                        op: "conv2d",
                        lhs: weight.shape().to_vec(),
                        rhs: b.shape().to_vec(),
                        detail: ": the bias needs one value per output channel".into(),
                    });
                }
                y.add(&b.reshape(&[1, cout, 1, 1])?)
            }
        }
    }

    /// Max or average pooling with PyTorch's options (rectangular windows,
    /// stride, padding, dilation, ceil_mode, count_include_pad: see
    /// [`PoolParams`]), like torch.nn.functional.max_pool2d and avg_pool2d,
    /// of a (B, C, H, W) tensor. Bad geometry (a zero kernel, stride or
    /// dilation, padding over half the kernel, dilated average pooling, an
    /// empty output) is an `InvalidArgument` naming the op and the shape.
    pub fn pool2d(&self, p: PoolParams) -> Result<Tensor> {
        Tensor::apply(Pool2d(p.normalised()), &[self])
    }

    /// Max pooling with a square window (PyTorch's max_pool2d).
    pub fn max_pool2d(&self, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
        self.pool2d(PoolParams {
            stride: [stride; 2],
            padding: [padding; 2],
            ..PoolParams::max_pool([kernel; 2])
        })
    }

    /// Average pooling with a square window, padding counted in the divisor.
    pub fn avg_pool2d(&self, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
        self.pool2d(PoolParams {
            stride: [stride; 2],
            padding: [padding; 2],
            ..PoolParams::avg_pool([kernel; 2])
        })
    }

    /// Mean over the spatial axes: (B, C, H, W) -> (B, C).
    pub fn global_avg_pool2d(&self) -> Result<Tensor> {
        self.require_f32_rank("global_avg_pool2d", 4)?;
        self.mean(&[2, 3], false)
    }

    /// Mean over the spatial axes keeping them: (B, C, H, W) -> (B, C, 1, 1),
    /// as PyTorch's adaptive_avg_pool2d(x, 1) returns it.
    pub fn global_avg_pool2d_keepdim(&self) -> Result<Tensor> {
        self.require_f32_rank("global_avg_pool2d", 4)?;
        self.mean(&[2, 3], true)
    }

    fn check_bn(&self, op: &'static str, gamma: &Tensor, beta: &Tensor) -> Result<usize> {
        self.same_device(op, &[gamma, beta])?;
        if self.dtype() != DType::F32 || self.rank() < 2 {
            return Err(Error::InvalidArgument {
                op,
                shape: self.shape().to_vec(),
                msg: "needs an f32 tensor (B, C, ...)".into(),
            });
        }
        let c = self.shape()[1];
        if gamma.shape() != [c] || beta.shape() != [c] {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: gamma.shape().to_vec(),
                detail: format!(": gamma and beta need {c} values (one per channel)"),
            });
        }
        Ok(c)
    }

    /// Batch norm with this batch's statistics (training mode). Returns the
    /// output and the (2, C) statistics (mean, biased variance) for the
    /// running averages. Its gradient is the closed form, in one reduction and
    /// one fused elementwise kernel.
    pub fn batch_norm_train(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        eps: f64,
    ) -> Result<(Tensor, Tensor)> {
        let c = self.check_bn("batch_norm", gamma, beta)?;
        let per_channel = self.numel() / c.max(1);
        if per_channel < 2 {
            return Err(Error::InvalidArgument {
                op: "batch_norm",
                shape: self.shape().to_vec(),
                msg: "training mode needs more than one value per channel (a batch of one \
                      has no variance); use evaluation mode"
                    .into(),
            });
        }
        batchnorm::train(self, gamma, beta, eps)
    }

    /// Batch norm with given (running) statistics: evaluation mode.
    pub fn batch_norm_eval(
        &self,
        gamma: &Tensor,
        beta: &Tensor,
        mean: &Tensor,
        var: &Tensor,
        eps: f64,
    ) -> Result<Tensor> {
        let c = self.check_bn("batch_norm", gamma, beta)?;
        let mut shape = vec![1; self.rank()];
        shape[1] = c;
        let b = |t: &Tensor| t.reshape(&shape);
        let scale = b(gamma)?.mul(&b(var)?.add(eps)?.rsqrt()?)?;
        self.sub(&b(mean)?)?.mul(&scale)?.add(&b(beta)?)
    }

    /// Bilinear sampling of this (B, C, H, W) tensor at `grid` (B, Ho, Wo, 2)
    /// holding (x, y) in [-1, 1]; zero outside (torch.nn.functional.grid_sample
    /// with padding_mode="zeros"). Differentiable in both arguments. The
    /// input's gradient is a scatter-add, non-deterministic by default (the
    /// float adds into a pixel meet in arbitrary order, so runs can differ in
    /// the last bits); `Device::set_deterministic` fixes their order.
    pub fn grid_sample(&self, grid: &Tensor, align_corners: bool) -> Result<Tensor> {
        Tensor::apply(GridSample { align_corners }, &[self, grid])
    }

    /// The sampling grid (B, H, W, 2) of affine maps `theta` (B, 2, 3): the
    /// six parameters of the notes' spatial transformer, applied to the target
    /// pixel coordinates in [-1, 1]. Differentiable in theta.
    pub fn affine_grid(theta: &Tensor, size: [usize; 4], align_corners: bool) -> Result<Tensor> {
        let [b, _, h, w] = size;
        if theta.shape() != [b, 2, 3] {
            return Err(Error::ShapeMismatch {
                op: "affine_grid",
                lhs: theta.shape().to_vec(),
                rhs: size.to_vec(),
                detail: ": theta must be (B, 2, 3) for output size (B, C, H, W)".into(),
            });
        }
        let coord = |i: usize, n: usize| -> f32 {
            if align_corners {
                if n == 1 {
                    0.0
                } else {
                    -1.0 + 2.0 * i as f32 / (n - 1) as f32
                }
            } else {
                (2.0 * i as f32 + 1.0) / n as f32 - 1.0
            }
        };
        let mut base = Vec::with_capacity(h * w * 3);
        for i in 0..h {
            for j in 0..w {
                base.extend([coord(j, w), coord(i, h), 1.0]);
            }
        }
        let base = Tensor::from_slice(theta.device(), &base, &[1, h * w, 3])?;
        base.matmul(&theta.transpose(1, 2)?)?.reshape(&[b, h, w, 2])
    }
}
