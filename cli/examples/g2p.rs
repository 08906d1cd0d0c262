//! Grapheme-to-phoneme: a transformer encoder-decoder trained with teacher
//! forcing on CMUdict, scored by phoneme and word error rate with greedy
//! decoding and beam search: the tour's `g2p_cmudict` entry.
//! `cargo run --release --example g2p [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["g2p_cmudict"]);
}
