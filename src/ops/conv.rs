//! Convolution, pooling, batch norm and the spatial transformer's sampler:
//! shapes checked when recorded, kernels in shaders/{conv2d,pool2d,
//! batchnorm,grid_sample}.wgsl.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{ConvParams, Op, PoolParams};
use crate::kernels::conv2d::out_size;
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
        self.same_device("conv2d", &[weight])?;
        self.require_f32_rank("conv2d", 4)?;
        weight.require_f32_rank("conv2d", 4)?;
        let (x, w) = (self.shape(), weight.shape());
        let bad = |msg: String| Error::ShapeMismatch {
            op: "conv2d",
            lhs: x.to_vec(),
            rhs: w.to_vec(),
            detail: format!(": {msg}"),
        };
        if p.groups == 0 || x[1] % p.groups != 0 || w[0] % p.groups != 0 {
            return Err(bad(format!(
                "{} input and {} output channels are not divisible by {} groups",
                x[1], w[0], p.groups
            )));
        }
        if w[1] != x[1] / p.groups {
            return Err(bad(format!(
                "weights expect {} input channels per group, input gives {}",
                w[1],
                x[1] / p.groups
            )));
        }
        if p.stride.contains(&0) || p.dilation.contains(&0) || w[2] == 0 || w[3] == 0 {
            return Err(bad(
                "stride, dilation and kernel size must be positive".into()
            ));
        }
        let ho = out_size(x[2], w[2], p.stride[0], p.padding[0], p.dilation[0]);
        let wo = out_size(x[3], w[3], p.stride[1], p.padding[1], p.dilation[1]);
        let (Some(ho), Some(wo)) = (ho, wo) else {
            return Err(bad(format!(
                "the kernel {}x{} (dilation {:?}) is larger than the padded input {}x{}",
                w[2],
                w[3],
                p.dilation,
                x[2] + 2 * p.padding[0],
                x[3] + 2 * p.padding[1]
            )));
        };
        let shape = vec![x[0], w[0], ho, wo];
        Tensor::check_size(self.device(), "conv2d", &shape, DType::F32)?;
        let y = Tensor::record(
            self.device(),
            shape,
            DType::F32,
            Op::Conv2d(p),
            vec![self.clone(), weight.clone()],
        );
        match bias {
            None => Ok(y),
            Some(b) => {
                if b.shape() != [w[0]] {
                    return Err(Error::ShapeMismatch {
                        op: "conv2d",
                        lhs: w.to_vec(),
                        rhs: b.shape().to_vec(),
                        detail: ": the bias needs one value per output channel".into(),
                    });
                }
                y.add(&b.reshape(&[1, w[0], 1, 1])?)
            }
        }
    }

    fn pool(&self, p: PoolParams, op: &'static str) -> Result<Tensor> {
        self.require_f32_rank(op, 4)?;
        let x = self.shape();
        if p.kernel.contains(&0)
            || p.stride.contains(&0)
            || p.padding[0] * 2 > p.kernel[0]
            || p.padding[1] * 2 > p.kernel[1]
        {
            return Err(Error::InvalidArgument {
                op,
                shape: x.to_vec(),
                msg: format!(
                    "kernel {:?}, stride {:?}: positive, with padding at most half the kernel ({:?})",
                    p.kernel, p.stride, p.padding
                ),
            });
        }
        let ho = out_size(x[2], p.kernel[0], p.stride[0], p.padding[0], 1);
        let wo = out_size(x[3], p.kernel[1], p.stride[1], p.padding[1], 1);
        let (Some(ho), Some(wo)) = (ho, wo) else {
            return Err(Error::InvalidArgument {
                op,
                shape: x.to_vec(),
                msg: format!("the window {:?} is larger than the padded input", p.kernel),
            });
        };
        Ok(Tensor::record(
            self.device(),
            vec![x[0], x[1], ho, wo],
            DType::F32,
            Op::Pool2d(p),
            vec![self.contiguous()?],
        ))
    }

    /// Max pooling with a square window (PyTorch's max_pool2d).
    pub fn max_pool2d(&self, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
        self.pool(
            PoolParams {
                max: true,
                kernel: [kernel; 2],
                stride: [stride; 2],
                padding: [padding; 2],
            },
            "max_pool2d",
        )
    }

    /// Average pooling with a square window, padding counted in the divisor.
    pub fn avg_pool2d(&self, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
        self.pool(
            PoolParams {
                max: false,
                kernel: [kernel; 2],
                stride: [stride; 2],
                padding: [padding; 2],
            },
            "avg_pool2d",
        )
    }

    /// Mean over the spatial axes: (B, C, H, W) -> (B, C).
    pub fn global_avg_pool2d(&self) -> Result<Tensor> {
        self.require_f32_rank("global_avg_pool2d", 4)?;
        self.mean(&[2, 3], false)
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
        let x = self.contiguous()?;
        let stats = {
            let _g = crate::autodiff::no_grad();
            Tensor::record(
                self.device(),
                vec![2, c],
                DType::F32,
                Op::BnStats,
                vec![x.clone()],
            )
        };
        let y = Tensor::record(
            self.device(),
            self.shape().to_vec(),
            DType::F32,
            Op::BnTrain { eps: eps as f32 },
            vec![x, gamma.clone(), beta.clone(), stats.clone()],
        );
        Ok((y, stats))
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
    /// with padding_mode="zeros"). Differentiable in both arguments.
    pub fn grid_sample(&self, grid: &Tensor, align_corners: bool) -> Result<Tensor> {
        self.same_device("grid_sample", &[grid])?;
        self.require_f32_rank("grid_sample", 4)?;
        let (x, g) = (self.shape(), grid.shape());
        if grid.dtype() != DType::F32 || g.len() != 4 || g[0] != x[0] || g[3] != 2 {
            return Err(Error::ShapeMismatch {
                op: "grid_sample",
                lhs: x.to_vec(),
                rhs: g.to_vec(),
                detail: ": the grid must be f32 (B, Ho, Wo, 2) with the input's batch".into(),
            });
        }
        let shape = vec![x[0], x[1], g[1], g[2]];
        Tensor::check_size(self.device(), "grid_sample", &shape, DType::F32)?;
        Ok(Tensor::record(
            self.device(),
            shape,
            DType::F32,
            Op::GridSample { align_corners },
            vec![self.contiguous()?, grid.contiguous()?],
        ))
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
