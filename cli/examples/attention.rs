//! 自注意力机制, 位置编码: a transformer encoder tagging Chinese characters
//! B/M/E/S (word segmentation), with learned positions and without any, to
//! show that attention alone cannot tell order.
//! `cargo run --release --example attention [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["transformer_segmentation"]);
}
