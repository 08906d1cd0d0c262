//! Conv2d as a module: weights (Cout, Cin/groups, KH, KW), PyTorch's default
//! initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

use crate::device::Device;
use crate::error::Result;
use crate::kernels::conv2d::ConvParams;
use crate::nn::{Module, Stateful, init, parameter};
use crate::tensor::Tensor;

#[derive(Stateful)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    #[stateful(skip)]
    pub params: ConvParams,
}

impl Conv2d {
    /// A square kernel with stride, padding, dilation 1 and groups as given.
    pub fn new(
        dev: &Device,
        cin: usize,
        cout: usize,
        kernel: usize,
        params: ConvParams,
    ) -> Result<Conv2d> {
        let fan_in = (cin / params.groups.max(1)) * kernel * kernel;
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let shape = [cout, cin / params.groups.max(1), kernel, kernel];
        Ok(Conv2d {
            weight: parameter(init::uniform(dev, &shape, -bound, bound)?)?,
            bias: Some(parameter(init::uniform(dev, &[cout], -bound, bound)?)?),
            params,
        })
    }

    /// 3x3 (or k x k), stride 1, "same" padding.
    pub fn same(dev: &Device, cin: usize, cout: usize, kernel: usize) -> Result<Conv2d> {
        let p = ConvParams {
            padding: [kernel / 2; 2],
            ..ConvParams::default()
        };
        Conv2d::new(dev, cin, cout, kernel, p)
    }

    /// A depthwise conv: one k x k filter per channel (groups = channels).
    pub fn depthwise(dev: &Device, channels: usize, kernel: usize) -> Result<Conv2d> {
        let p = ConvParams {
            padding: [kernel / 2; 2],
            groups: channels,
            ..ConvParams::default()
        };
        Conv2d::new(dev, channels, channels, kernel, p)
    }

    /// A pointwise (1x1) conv: mixes channels, no spatial extent.
    pub fn pointwise(dev: &Device, cin: usize, cout: usize) -> Result<Conv2d> {
        Conv2d::new(dev, cin, cout, 1, ConvParams::default())
    }

    pub fn without_bias(mut self) -> Conv2d {
        self.bias = None;
        self
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.conv2d(&self.weight, self.bias.as_ref(), self.params)
    }
}
