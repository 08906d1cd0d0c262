//! Exposure bias: the G2P model trained with teacher forcing and with
//! scheduled sampling on the same batches, both scored by greedy decoding:
//! the tour's `g2p_sampling` entry.
//! `cargo run --release --example g2p_sampling [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["g2p_sampling"]);
}
