//! The `shadergrad` command's library: the course tour and the kernel
//! benchmark suite, written against the engine's public API only.

pub mod bench;
mod font;
pub mod tour;
