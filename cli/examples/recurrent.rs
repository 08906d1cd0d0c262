//! RNN, BPTT, 梯度消失/爆炸 and the bidirectional LSTM: gradient norms against
//! sequence length (vanishing, exploding, and the LSTM's forget gate carrying
//! them), clipping by global norm, then a BiLSTM segmenting Chinese text
//! (word F1) against the same LSTM reading one way.
//! `cargo run --release --example recurrent [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["rnn_gradients", "bilstm_segmentation"]);
}
