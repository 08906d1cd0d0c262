//! The CMU Pronouncing Dictionary for grapheme-to-phoneme: each word's
//! letters and its first pronunciation in ARPAbet, stress digits removed
//! (`AH0` and `AH1` are both `AH`), so 39 phonemes.

use std::path::Path;

use crate::data::source::{data_error, expect_count, file_name, read_text};
use crate::error::Error;

/// A word and its phonemes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pronunciation {
    pub word: String,
    pub phonemes: Vec<String>,
}

/// The words of `seq2seq/cmudict.dict.gz` in file order, one pronunciation
/// each: the first listed (a `word(2)` line is an alternative and is
/// skipped); a `#` starts a comment.
pub fn cmudict(root: &Path) -> Result<Vec<Pronunciation>, Error> {
    let path = root.join("seq2seq/cmudict.dict.gz");
    let file = file_name(&path);
    let text = read_text(&path)?;
    // cmudict 1.1.3: 135,166 lines, 126,052 of them a word's first entry.
    expect_count(&file, "lines", text.lines().count(), 135_166)?;
    let mut words = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(word) = fields.next() else { continue };
        if word.ends_with(')') {
            continue;
        }
        let phonemes: Vec<String> = fields
            .map(|p| p.trim_end_matches(|c: char| c.is_ascii_digit()).to_string())
            .collect();
        let bad = phonemes
            .iter()
            .find(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_uppercase()));
        if phonemes.is_empty() || bad.is_some() {
            let msg = format!("{word:?} has no ARPAbet pronunciation ({bad:?})");
            return Err(data_error(&file, format!("line {}", n + 1), msg));
        }
        words.push(Pronunciation {
            word: word.to_string(),
            phonemes,
        });
    }
    expect_count(&file, "words", words.len(), 126_052)?;
    Ok(words)
}
