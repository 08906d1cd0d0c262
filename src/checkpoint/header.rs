//! The header of a safetensors file, read without trusting it: every length,
//! name, dtype, shape and offset is checked against the file before any
//! tensor is read, and each fault is an error naming the file and the byte
//! offset where it is.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};

use crate::error::{Error, Result};

/// One tensor as the header places it: its data is `file[begin..end]`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<usize>,
    pub begin: usize,
    pub end: usize,
}

/// A checked header: the tensors in file order and the metadata.
pub(crate) struct Header {
    pub entries: Vec<Entry>,
    pub metadata: BTreeMap<String, String>,
}

/// Bytes per element of the dtypes read (safetensors' names).
pub(crate) fn dtype_size(dtype: &str) -> Option<usize> {
    match dtype {
        "F32" | "I32" => Some(4),
        "F16" => Some(2),
        "I64" => Some(8),
        _ => None,
    }
}

/// The header's JSON object, keys in file order, duplicates kept (a map would
/// keep only the last of a duplicated name).
struct Pairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = m.next_entry()? {
                    out.push(kv);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Reads and checks the header of `bytes`, the whole file `file`.
pub(crate) fn read(file: &str, bytes: &[u8]) -> Result<Header> {
    let bad = |at: usize, msg: String| Error::Data {
        file: file.to_string(),
        at: format!("byte {at}"),
        msg,
    };
    let Some(len) = bytes.get(..8) else {
        return Err(bad(
            0,
            format!(
                "{} bytes: too short for the 8-byte header length",
                bytes.len()
            ),
        ));
    };
    let n = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    let data_start = 8u64.checked_add(n).filter(|&e| e <= bytes.len() as u64);
    let Some(data_start) = data_start else {
        return Err(bad(
            0,
            format!(
                "header length {n} runs past the end of the file ({} bytes)",
                bytes.len()
            ),
        ));
    };
    let data_start = data_start as usize;
    let text = std::str::from_utf8(&bytes[8..data_start])
        .map_err(|e| bad(8 + e.valid_up_to(), "the header is not UTF-8".into()))?;
    let pairs: Pairs = serde_json::from_str(text.trim_end_matches(' ')).map_err(|e| {
        bad(
            8 + json_offset(text, &e),
            format!("the header is not a JSON object: {e}"),
        )
    })?;
    let mut header = Header {
        entries: Vec::new(),
        metadata: BTreeMap::new(),
    };
    for (name, value) in pairs.0 {
        let at = 8 + text.find(&format!("\"{name}\"")).unwrap_or(0);
        if name == "__metadata__" {
            header.metadata = serde_json::from_value(value)
                .map_err(|e| bad(at, format!("__metadata__ must map strings to strings: {e}")))?;
            continue;
        }
        if header.entries.iter().any(|e| e.name == name) {
            return Err(bad(at, format!("tensor {name:?} is named twice")));
        }
        header
            .entries
            .push(entry(name, value).map_err(|m| bad(at, m))?);
    }
    check_offsets(&header.entries, bytes.len() - data_start)
        .map_err(|(e, m)| bad(data_start + e, m))?;
    Ok(header)
}

/// Where a JSON error is, as a byte offset into `text` (serde_json counts
/// lines and columns from 1).
fn json_offset(text: &str, e: &serde_json::Error) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum();
    line_start + e.column().saturating_sub(1)
}

/// One tensor's entry, its fields checked for type and agreement.
fn entry(name: String, value: serde_json::Value) -> std::result::Result<Entry, String> {
    let field = |k: &str| value.get(k).ok_or(format!("tensor {name:?} has no {k}"));
    let dtype = field("dtype")?
        .as_str()
        .ok_or(format!("tensor {name:?}: dtype is not a string"))?;
    let size = dtype_size(dtype).ok_or(format!(
        "tensor {name:?}: dtype {dtype} (this engine reads F32, F16, I32, I64)"
    ))?;
    let ints = |k: &str| -> std::result::Result<Vec<usize>, String> {
        let a = field(k)?
            .as_array()
            .ok_or(format!("tensor {name:?}: {k} is not a list"))?;
        a.iter()
            .map(|v| v.as_u64().and_then(|u| usize::try_from(u).ok()))
            .collect::<Option<Vec<usize>>>()
            .ok_or(format!(
                "tensor {name:?}: {k} holds a value that is not a size"
            ))
    };
    let shape = ints("shape")?;
    let offsets = ints("data_offsets")?;
    let [begin, end] = offsets[..] else {
        return Err(format!(
            "tensor {name:?}: data_offsets needs 2 values, has {}",
            offsets.len()
        ));
    };
    let bytes = shape
        .iter()
        .try_fold(size, |a, &d| a.checked_mul(d))
        .ok_or(format!("tensor {name:?}: shape {shape:?} overflows"))?;
    if end < begin || end - begin != bytes {
        return Err(format!(
            "tensor {name:?}: {dtype} {shape:?} is {bytes} bytes, data_offsets [{begin}, {end}] hold {}",
            end.saturating_sub(begin)
        ));
    }
    Ok(Entry {
        name,
        dtype: dtype.to_string(),
        shape,
        begin,
        end,
    })
}

/// The tensors tile the data exactly: no overlap, no gap, nothing past it.
fn check_offsets(entries: &[Entry], data_len: usize) -> std::result::Result<(), (usize, String)> {
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_by_key(|e| (e.begin, e.end));
    let mut at = 0;
    for e in order {
        if e.begin != at {
            let what = if e.begin < at {
                "overlaps the tensor before it"
            } else {
                "leaves a gap before it"
            };
            return Err((
                e.begin,
                format!("tensor {:?} at [{}, {}] {what}", e.name, e.begin, e.end),
            ));
        }
        if e.end > data_len {
            return Err((
                e.begin,
                format!(
                    "tensor {:?} at [{}, {}] runs past the data ({data_len} bytes)",
                    e.name, e.begin, e.end
                ),
            ));
        }
        at = e.end;
    }
    if at != data_len {
        return Err((at, format!("{} bytes after the last tensor", data_len - at)));
    }
    Ok(())
}
