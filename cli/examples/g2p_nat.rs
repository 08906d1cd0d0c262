//! A non-autoregressive G2P decoder (a length classifier, then every phoneme
//! at once) beside the autoregressive one: the tour's `g2p_nat` entry.
//! `cargo run --release --example g2p_nat [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["g2p_nat"]);
}
