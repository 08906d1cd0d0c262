//! CNN, 卷积, 池化, batch_normalization, 空间变换层, 架构设计: a CNN on MNIST
//! 10k, the same with batch norm, a spatial transformer on distorted digits,
//! and a depthwise-separable CNN. Training curves go to tour-report/.
//! `cargo run --release --example tour_cnn [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&[
        "cnn",
        "cnn_batchnorm",
        "spatial_transformer",
        "depthwise_separable",
    ]);
}
