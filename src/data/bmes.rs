//! People's Daily 1998 with every character tagged B, M, E or S (begin,
//! middle, end of a word, or a single-character word): Chinese word
//! segmentation as sequence labelling.

use std::path::Path;

use crate::data::source::{data_error, expect_count, file_name, read_bytes};
use crate::error::Error;

/// Tags in class order.
pub const BMES: [char; 4] = ['B', 'M', 'E', 'S'];

/// One line of text: its characters and their tags (indices into `BMES`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tagged {
    pub chars: Vec<char>,
    pub tags: Vec<u8>,
}

/// The tagged lines of `zh/peoples_daily_1998_bmes.txt.gz`, in file order.
pub fn peoples_daily(root: &Path) -> Result<Vec<Tagged>, Error> {
    let path = root.join("zh/peoples_daily_1998_bmes.txt.gz");
    let file = file_name(&path);
    let bytes = read_bytes(&path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| data_error(&file, format!("byte {}", e.valid_up_to()), "not UTF-8"))?;
    // January 1998 of the corpus: 19,484 lines (the file has no header).
    expect_count(&file, "lines", text.lines().count(), 19_484)?;
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut t = Tagged {
            chars: Vec::new(),
            tags: Vec::new(),
        };
        for token in line.split_whitespace() {
            let bad = || {
                data_error(
                    &file,
                    format!("line {}", n + 1),
                    format!("token {token:?} is not char/tag"),
                )
            };
            let (c, tag) = token.rsplit_once('/').ok_or_else(bad)?;
            let mut cs = c.chars();
            let (Some(ch), None) = (cs.next(), cs.next()) else {
                return Err(bad());
            };
            let tag = match tag {
                "b" => 0,
                "m" => 1,
                "e" => 2,
                "s" => 3,
                _ => return Err(bad()),
            };
            t.chars.push(ch);
            t.tags.push(tag);
        }
        if !t.chars.is_empty() {
            lines.push(t);
        }
    }
    Ok(lines)
}
