//! shadergrad: a deep-learning engine whose every kernel is hand-written WGSL
//! running on wgpu (Vulkan, Metal, DX12, GL).
//!
//! Ops on [`Tensor`]s record a lazy graph; reading a value (or [`Tensor::realize`])
//! plans the graph (fusing elementwise chains, assigning buffers by liveness),
//! and runs it in one submit. A graph seen before replays its cached plan.
//!
//! ```no_run
//! use shadergrad::{Device, Tensor};
//! let dev = Device::new()?;
//! let a = Tensor::from_slice(&dev, &[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
//! let b = a.matmul(&a.t()?)?.relu()?.sum(&[1], false)?;
//! assert_eq!(b.to_vec::<f32>()?, vec![16.0, 36.0]);
//! # Ok::<(), shadergrad::Error>(())
//! ```
//!
//! A complete training loop (model, optimizer, batches, loss, evaluation) is
//! in the README, compiled as a doc test here, and `examples/` holds whole
//! programs.

// The derive macro names the crate `::shadergrad`, inside it too.
extern crate self as shadergrad;

pub mod autodiff;
mod autodiff_sparse;
mod autodiff_sum;
pub mod checkpoint;
mod counters;
pub mod data;
mod device;
mod display;
mod dtype;
mod error;
mod exec;
pub use exec::KernelTime;
mod graph;
pub mod kernels;
pub mod loss;
pub mod nn;
mod ops;
pub mod optim;
mod pipeline;
mod plan;
mod pool;
mod shape;
mod tensor;
mod tuning;

pub use autodiff::{NoGradGuard, no_grad, without_grad};
pub use autodiff_sparse::SparseGrad;
pub use counters::CounterSnapshot;
pub use device::{Caps, DETERMINISTIC_ENV, Device, DeviceOptions, PLAIN_ENV};
pub use dtype::{DType, Element};
pub use error::{Error, GpuCause, Result, StateDictFault};
pub use graph::{BinaryOp, ReduceOp, UnaryOp};
pub use kernels::attention::AttnParams;
pub use kernels::conv2d::ConvParams;
pub use kernels::pool2d::PoolParams;
pub use ops::{AttentionMask, Rhs, SplitSizes};
pub use tensor::Tensor;
pub use tuning::{ConvVariant, MatmulVariant, Tuning};

/// f16, re-exported so callers need not depend on `half` themselves.
pub use half::f16;

/// The wgpu this crate is built on, for hosts that embed it.
pub use wgpu;

/// The README's Rust examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
