//! Kernel conformance: every kernel, against a float64 reference written here,
//! on shapes that are not tile multiples, with outputs poisoned by NaN first.

mod common;

mod activation;
mod attention;
mod batchnorm;
mod cell;
mod conv2d;

mod counters;
mod cumsum;
mod deterministic;
mod device;
mod downlevel;
mod elementwise;
mod errors;
mod flip;
mod gather;
mod grad;
mod grid_sample;
mod int64;
mod kv_cache;
mod layernorm;
mod masked_fill;
mod matmul;
mod movement;
mod naga;
mod nn;
mod operators;
mod optim;
mod pad;
mod pool2d;
mod random;
mod recurrent;
mod reduce;
mod shape_uniforms;
mod softmax;
mod sort;
mod sparse_sgd;
mod stack_split;
