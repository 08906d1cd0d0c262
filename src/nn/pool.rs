//! Pooling and reshaping as modules.

use crate::error::Result;
use crate::kernels::pool2d::PoolParams;
use crate::nn::{Module, Stateful};
use crate::tensor::Tensor;

/// Max pooling (torch.nn.MaxPool2d): `new(k)` is a k x k window with
/// PyTorch's defaults (stride k, no padding, dilation 1, floor mode); the
/// `with_*` methods set the rest, each per axis (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    pub params: PoolParams,
}

/// Average pooling (torch.nn.AvgPool2d), built as `MaxPool2d` is, with
/// `with_count_include_pad`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    pub params: PoolParams,
}

/// The window setters both pooling modules share.
macro_rules! pool_builders {
    ($t:ident, $max:expr) => {
        impl $t {
            /// A `kernel[0]` x `kernel[1]` window, strided by itself.
            pub fn rect(kernel: [usize; 2]) -> $t {
                let params = PoolParams {
                    max: $max,
                    ..PoolParams::max_pool(kernel)
                };
                $t { params }
            }

            /// A square `kernel` window, strided by itself.
            pub fn new(kernel: usize) -> $t {
                $t::rect([kernel; 2])
            }

            pub fn with_stride(mut self, stride: [usize; 2]) -> $t {
                self.params.stride = stride;
                self
            }

            /// Implicit padding on each side (at most half the window).
            pub fn with_padding(mut self, padding: [usize; 2]) -> $t {
                self.params.padding = padding;
                self
            }

            /// Output sizes round up: a last partial window is kept.
            pub fn with_ceil_mode(mut self, ceil: bool) -> $t {
                self.params.ceil_mode = ceil;
                self
            }
        }

        impl Stateful for $t {}

        impl Module for $t {
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                x.pool2d(self.params)
            }
        }
    };
}

pool_builders!(MaxPool2d, true);
pool_builders!(AvgPool2d, false);

impl MaxPool2d {
    /// The step between a window's taps.
    pub fn with_dilation(mut self, dilation: [usize; 2]) -> MaxPool2d {
        self.params.dilation = dilation;
        self
    }
}

impl AvgPool2d {
    /// Whether the divisor counts the padding (PyTorch's default, true).
    pub fn with_count_include_pad(mut self, count: bool) -> AvgPool2d {
        self.params.count_include_pad = count;
        self
    }
}

/// Mean over the spatial axes: (B, C, H, W) -> (B, C).
#[derive(Stateful)]
pub struct GlobalAvgPool;

impl Module for GlobalAvgPool {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.global_avg_pool2d()
    }
}

/// (B, ...) -> (B, rest): a view, no copy.
#[derive(Stateful)]
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.flatten(1, -1)
    }
}
