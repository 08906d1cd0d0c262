//! 字嵌入, prediction-based: skip-gram with negative sampling and CBOW on
//! about 2M words of English, both tables with sparse gradients; WordSim-353,
//! the Google analogies and nearest neighbours.
//! `cargo run --release --example word2vec [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["word2vec_skipgram", "word2vec_cbow"]);
}
