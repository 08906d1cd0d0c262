//! 逻辑回归: sigmoid + binary cross-entropy on breast cancer.
//! `cargo run --release --example logistic_regression [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["logistic_regression"]);
}
