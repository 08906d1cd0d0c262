//! 逻辑回归的缺陷以及引入神经网络: a problem no line separates (iris
//! versicolor on petal size), then an MLP on MNIST 10k.
//! `cargo run --release --example tour_mlp [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["nonlinear_mlp", "mlp_mnist"]);
}
