//! GPT: a decoder-only character model of the Shakespeare plays (held-out
//! nats per character, a passage sampled with temperature and top-k,
//! generation with and without the KV cache): the tour's `gpt_char` entry.
//! `cargo run --release --example gpt [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["gpt_char"]);
}
