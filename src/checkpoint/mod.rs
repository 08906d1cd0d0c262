//! Tensors to and from safetensors files, the format PyTorch's
//! `safetensors.torch` reads and writes. Writing is atomic (`atomic.rs`);
//! reading takes the file in one read and checks its header before trusting
//! any of it (`header.rs`): a fault is `Error::Data` naming the file and the
//! byte offset.

mod atomic;
mod header;
mod run;

pub use run::Checkpoint;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// What `load` read: the tensors in file order, and the file's metadata.
pub struct Loaded {
    pub tensors: Vec<(String, Tensor)>,
    pub metadata: BTreeMap<String, String>,
}

/// Writes `tensors` (f32, f16 or i32) with `metadata` to `path` as a
/// safetensors file, replacing it atomically.
pub fn save(
    path: impl AsRef<Path>,
    tensors: &[(&str, &Tensor)],
    metadata: &[(&str, &str)],
) -> Result<()> {
    let path = path.as_ref();
    let mut dtypes = Vec::with_capacity(tensors.len());
    for &(_, t) in tensors {
        dtypes.push(match t.dtype() {
            DType::F32 => Dtype::F32,
            DType::F16 => Dtype::F16,
            DType::I32 => Dtype::I32,
            other => {
                return Err(Error::UnsupportedDType {
                    op: "checkpoint::save",
                    dtype: other,
                    reason: "checkpoints hold f32, f16 and i32 tensors",
                });
            }
        });
    }
    // Every tensor's bytes in one submit (their storage is the file's layout).
    let ts: Vec<&Tensor> = tensors.iter().map(|&(_, t)| t).collect();
    let data = crate::exec::read_all(&ts)?;
    let bad = |msg: String| Error::Data {
        file: path.display().to_string(),
        at: "write".into(),
        msg,
    };
    let views = tensors
        .iter()
        .zip(dtypes)
        .zip(&data)
        .map(|((&(name, t), dtype), bytes)| {
            let view = TensorView::new(dtype, t.shape().to_vec(), bytes);
            Ok((name.to_string(), view.map_err(|e| bad(e.to_string()))?))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta: HashMap<String, String> = metadata
        .iter()
        .map(|&(k, v)| (k.into(), v.into()))
        .collect();
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| bad(e.to_string()))?;
    atomic::write(path, &bytes)
}

/// Reads the safetensors file at `path` onto `device`: f32, f16, i32, and i64
/// (stored as i32; a value outside i32 is `ValueOutOfRange`).
pub fn load(device: &Device, path: impl AsRef<Path>) -> Result<Loaded> {
    let path = path.as_ref();
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::Data {
        file: file.clone(),
        at: "open".into(),
        msg: e.to_string(),
    })?;
    let h = header::read(&file, &bytes)?;
    let start = bytes.len() - h.entries.iter().map(|e| e.end - e.begin).sum::<usize>();
    let mut tensors = Vec::with_capacity(h.entries.len());
    for e in &h.entries {
        let raw = &bytes[start + e.begin..start + e.end];
        let t = match e.dtype.as_str() {
            "F32" => upload::<f32, 4>(device, raw, &e.shape, f32::from_le_bytes),
            "F16" => upload::<half::f16, 2>(device, raw, &e.shape, half::f16::from_le_bytes),
            "I32" => upload::<i32, 4>(device, raw, &e.shape, i32::from_le_bytes),
            _ => upload::<i64, 8>(device, raw, &e.shape, i64::from_le_bytes),
        };
        tensors.push((e.name.clone(), t?));
    }
    Ok(Loaded {
        tensors,
        metadata: h.metadata,
    })
}

/// One tensor a file holds, as its header describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// safetensors' dtype name (F32, F16, I32, I64).
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// The tensors and metadata the bytes of a safetensors file `file` hold,
/// checked as `load` checks them, without reading any tensor.
pub fn inspect(file: &str, bytes: &[u8]) -> Result<(Vec<TensorInfo>, BTreeMap<String, String>)> {
    let h = header::read(file, bytes)?;
    let infos = h
        .entries
        .into_iter()
        .map(|e| TensorInfo {
            name: e.name,
            dtype: e.dtype,
            shape: e.shape,
        })
        .collect();
    Ok((infos, h.metadata))
}

/// `raw` as a tensor: cast in place where it is aligned (safetensors pads
/// its header to 8 bytes) on a little-endian host, else decoded word by word.
fn upload<T: crate::dtype::Element, const N: usize>(
    device: &Device,
    raw: &[u8],
    shape: &[usize],
    f: fn([u8; N]) -> T,
) -> Result<Tensor> {
    if cfg!(target_endian = "little")
        && let Ok(v) = bytemuck::try_cast_slice::<u8, T>(raw)
    {
        return Tensor::from_slice(device, v, shape);
    }
    Tensor::from_slice(device, &words(raw, f), shape)
}

/// Little-endian words of `raw` (whose length the header check made a multiple
/// of N); the file's offsets need not be aligned for a cast.
fn words<T, const N: usize>(raw: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
    raw.chunks_exact(N)
        .map(|c| f(c.try_into().expect("N bytes")))
        .collect()
}
