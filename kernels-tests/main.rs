//! Kernel conformance: every kernel, against a float64 reference written here,
//! on shapes that are not tile multiples, with outputs poisoned by NaN first.

mod common;

mod counters;
mod device;
mod elementwise;
mod errors;
mod gather;
mod grad;
mod matmul;
mod movement;
mod naga;
mod optim;
mod random;
mod reduce;
mod softmax;
