//! Pooling and reshaping as modules.

use crate::error::Result;
use crate::nn::Module;
use crate::tensor::Tensor;

/// Max pooling, square window.
pub struct MaxPool2d {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl MaxPool2d {
    pub fn new(kernel: usize) -> MaxPool2d {
        MaxPool2d {
            kernel,
            stride: kernel,
            padding: 0,
        }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.max_pool2d(self.kernel, self.stride, self.padding)
    }
}

/// Average pooling, square window.
pub struct AvgPool2d {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl AvgPool2d {
    pub fn new(kernel: usize) -> AvgPool2d {
        AvgPool2d {
            kernel,
            stride: kernel,
            padding: 0,
        }
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.avg_pool2d(self.kernel, self.stride, self.padding)
    }
}

/// Mean over the spatial axes: (B, C, H, W) -> (B, C).
pub struct GlobalAvgPool;

impl Module for GlobalAvgPool {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.global_avg_pool2d()
    }
}

/// (B, ...) -> (B, rest): a view, no copy.
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.flatten(1, -1)
    }
}
