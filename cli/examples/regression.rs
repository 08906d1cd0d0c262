//! 回归 and 正则化: linear regression on diabetes; polynomial degrees on Auto,
//! overfitting, and L2 chosen on a validation split.
//! `cargo run --release --example regression [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["linear_regression", "polynomial_l2"]);
}
