//! The G2P model pretrained on restoring corrupted spellings, then trained
//! on G2P beside the same model from scratch: the tour's `g2p_restore` entry.
//! `cargo run --release --example g2p_restore [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["g2p_restore"]);
}
