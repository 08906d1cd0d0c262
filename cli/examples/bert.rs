//! BERT: a character encoder pretrained as a masked language model on
//! Chinese text, saved, then fine-tuned from the file on the reviews'
//! sentiment, against the same model trained from scratch: the tour's
//! `bert_sentiment` entry. `cargo run --release --example bert [-- --quick]`

fn main() {
    shadergrad_cli::tour::example_main(&["bert_sentiment"]);
}
