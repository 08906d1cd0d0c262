//! 多分类: softmax regression on wine and on digits 8x8.
//! `cargo run --release --example softmax_regression [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["softmax_wine", "softmax_digits"]);
}
