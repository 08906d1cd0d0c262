//! Plain text for character models: the Shakespeare plays as one string, and
//! a character vocabulary that turns text into token ids and back, refusing
//! a character or an id it does not know.

use std::path::Path;

use crate::data::source::{expect_count, file_name, read_text};
use crate::error::Error;

/// The 38 plays of `text/shakespeare_plays.txt.gz`, each speech a `Speaker:`
/// line and its lines, as one string of 4,830,841 characters.
pub fn shakespeare(root: &Path) -> Result<String, Error> {
    let path = root.join("text/shakespeare_plays.txt.gz");
    let text = read_text(&path)?;
    expect_count(
        &file_name(&path),
        "characters",
        text.chars().count(),
        4_830_841,
    )?;
    Ok(text)
}

/// The characters of a text, sorted; a token id is a position in that list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharVocab {
    chars: Vec<char>,
}

impl CharVocab {
    /// Every character that occurs in `text`.
    pub fn of(text: &str) -> CharVocab {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        CharVocab { chars }
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The id of every character of `text`; a character outside the
    /// vocabulary is an `InvalidArgument` naming it and where it is.
    pub fn encode(&self, text: &str) -> Result<Vec<i32>, Error> {
        text.chars()
            .enumerate()
            .map(|(i, c)| match self.chars.binary_search(&c) {
                Ok(id) => Ok(id as i32),
                Err(_) => Err(Error::InvalidArgument {
                    op: "vocab encode",
                    shape: vec![self.len()],
                    msg: format!("character {c:?} at {i} is not in the vocabulary"),
                }),
            })
            .collect()
    }

    /// The text of `ids`; an id outside 0..len is an `InvalidArgument`.
    pub fn decode(&self, ids: &[i32]) -> Result<String, Error> {
        ids.iter()
            .map(|&id| {
                usize::try_from(id)
                    .ok()
                    .and_then(|i| self.chars.get(i).copied())
                    .ok_or_else(|| Error::InvalidArgument {
                        op: "vocab decode",
                        shape: vec![self.len()],
                        msg: format!("token id {id} is outside the vocabulary of {}", self.len()),
                    })
            })
            .collect()
    }
}
