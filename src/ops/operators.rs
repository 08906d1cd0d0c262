//! Rust's operators on tensor references, as candle has them: `&a + &b`,
//! `&a * 2.0`, `-&a`. Each returns `Result<Tensor>` (shapes are checked when
//! the op is recorded), so they chain with `?`: `(&(&a + &b)? * 0.5)?`.

use std::ops::{Add, Div, Mul, Neg, Sub};

use crate::error::Result;
use crate::tensor::Tensor;

macro_rules! binary_operator {
    ($($trait:ident $fn:ident),*) => {$(
        impl $trait<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: &Tensor) -> Result<Tensor> {
                Tensor::$fn(self, rhs)
            }
        }

        impl $trait<f64> for &Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: f64) -> Result<Tensor> {
                Tensor::$fn(self, rhs)
            }
        }

        impl $trait<f32> for &Tensor {
            type Output = Result<Tensor>;
            fn $fn(self, rhs: f32) -> Result<Tensor> {
                Tensor::$fn(self, rhs)
            }
        }
    )*};
}

binary_operator!(Add add, Sub sub, Mul mul, Div div);

impl Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        Tensor::neg(self)
    }
}
