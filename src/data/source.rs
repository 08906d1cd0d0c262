//! Reading a data file into memory: whole-file reads, gzip by file name, and
//! the one error constructor every loader uses.

use std::io::Read;
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use crate::error::Error;

/// The name a data error reports: the path exactly as the caller built it.
pub(crate) fn file_name(path: &Path) -> String {
    path.display().to_string()
}

pub(crate) fn data_error(file: &str, at: impl Into<String>, msg: impl Into<String>) -> Error {
    Error::Data {
        file: file.to_string(),
        at: at.into(),
        msg: msg.into(),
    }
}

/// Fails unless a file without a header holds the `want` samples its data set
/// has: a file cut at a line boundary parses cleanly, and must not load as a
/// smaller data set without a word.
pub(crate) fn expect_count(file: &str, what: &str, got: usize, want: usize) -> Result<(), Error> {
    if got == want {
        return Ok(());
    }
    Err(data_error(
        file,
        "end of file",
        format!(
            "{got} {what}; the data set has {want} (is the file cut short, or another data set?)"
        ),
    ))
}

/// The file's bytes, decompressed when its name ends in `.gz`.
pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, Error> {
    let file = file_name(path);
    let raw = std::fs::read(path)
        .map_err(|e| data_error(&file, "open", format!("cannot read the file: {e}")))?;
    if path.extension().is_some_and(|ext| ext == "gz") {
        gunzip(&raw, &file)
    } else {
        Ok(raw)
    }
}

/// Decompresses a whole gzip stream. A corrupt stream is reported at the
/// compressed byte the decoder had reached, so a truncated download shows up
/// as "byte <file length>".
fn gunzip(compressed: &[u8], file: &str) -> Result<Vec<u8>, Error> {
    // Decoding from a slice (bufread, not read) leaves the unread rest in the
    // slice, which gives the byte offset of a failure.
    let mut decoder = MultiGzDecoder::new(compressed);
    // Data files compress 3-10x; reserving avoids most regrowth.
    let mut out = Vec::with_capacity(compressed.len() * 4);
    match decoder.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(e) => {
            let at = compressed.len() - decoder.get_ref().len();
            Err(data_error(
                file,
                format!("byte {at}"),
                format!("corrupt gzip data: {e}"),
            ))
        }
    }
}

/// The file as UTF-8 text (decompressed when `.gz`).
pub(crate) fn read_text(path: &Path) -> Result<String, Error> {
    let bytes = read_bytes(path)?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        data_error(&file_name(path), format!("byte {at}"), "not UTF-8 text")
    })
}
