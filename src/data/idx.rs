//! The IDX format (LeCun's MNIST files), u8 data only.
//!
//! Layout: two zero bytes, a type code (0x08 = u8), the number of dimensions
//! `d`, then `d` big-endian u32 sizes, then the data row-major. The first four
//! bytes read as a big-endian u32 are the "magic": 2051 for a 3-d u8 file
//! (images), 2049 for a 1-d one (labels).

use std::path::Path;

use crate::error::Error;

use super::source::{data_error, file_name, read_bytes};

const U8_TYPE_CODE: u8 = 0x08;

/// A decoded IDX file of u8 values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idx {
    /// The first four bytes as a big-endian u32 (2051 images, 2049 labels).
    pub magic: u32,
    pub dims: Vec<usize>,
    /// `dims.iter().product()` values, row-major.
    pub data: Vec<u8>,
}

/// Reads an IDX u8 file, gunzipping it first when the name ends in `.gz`.
pub fn read_idx_u8(path: &Path) -> Result<Idx, Error> {
    let bytes = read_bytes(path)?;
    parse_idx_u8(&bytes, &file_name(path))
}

/// Decodes IDX bytes; `file` names the source in errors, which give the
/// (decompressed) byte offset of the problem.
pub fn parse_idx_u8(bytes: &[u8], file: &str) -> Result<Idx, Error> {
    if bytes.len() < 4 {
        return Err(data_error(
            file,
            format!("byte {}", bytes.len()),
            format!("{} bytes is too short for an IDX header", bytes.len()),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(data_error(
            file,
            "byte 0",
            format!("magic number {magic} is not an IDX file's (it starts with two zero bytes)"),
        ));
    }
    if bytes[2] != U8_TYPE_CODE {
        return Err(data_error(
            file,
            "byte 2",
            format!(
                "magic number {magic}: type code 0x{:02X} is not u8 (0x08), the only type read",
                bytes[2]
            ),
        ));
    }
    let rank = bytes[3] as usize;
    if rank == 0 {
        return Err(data_error(
            file,
            "byte 3",
            "an IDX file needs at least one dimension",
        ));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(data_error(
            file,
            format!("byte {}", bytes.len()),
            format!("the file ends inside the header of {rank} dimensions ({header} bytes)"),
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    // Checked, because a corrupt header can claim sizes whose product overflows.
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| data_error(file, "byte 4", format!("dimensions {dims:?} overflow")))?;
    let body = bytes.len() - header;
    if body < count {
        return Err(data_error(
            file,
            format!("byte {}", bytes.len()),
            format!("the data ends after {body} bytes; dimensions {dims:?} need {count}"),
        ));
    }
    if body > count {
        return Err(data_error(
            file,
            format!("byte {}", header + count),
            format!(
                "{} bytes follow the {count} that dimensions {dims:?} describe",
                body - count
            ),
        ));
    }
    Ok(Idx {
        magic,
        dims,
        data: bytes[header..].to_vec(),
    })
}
