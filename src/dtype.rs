//! Element types: how each is stored in a GPU buffer and held in a shader register.

use std::borrow::Cow;
use std::fmt;

/// The element type of a tensor.
///
/// Floats compute in f32 registers whatever their storage (f16 is a storage
/// format here, as in most engines' elementwise kernels); `Bool` is stored as
/// one u32 per element because WGSL storage buffers cannot hold `bool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    I32,
    U32,
    Bool,
}

impl DType {
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F16 => 2,
            _ => 4,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::U32)
    }

    /// The WGSL type of one element in a storage buffer.
    pub(crate) fn wgsl_storage(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I32 => "i32",
            DType::U32 | DType::Bool => "u32",
        }
    }

    /// The WGSL type a value of this dtype has while a kernel computes with it.
    pub(crate) fn wgsl_reg(self) -> &'static str {
        match self {
            DType::F32 | DType::F16 => "f32",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::Bool => "bool",
        }
    }

    pub(crate) fn tag(self) -> u64 {
        self as u64
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::Bool => "bool",
        };
        f.write_str(s)
    }
}

/// A Rust type that can cross to and from a tensor buffer.
///
/// Most are stored as themselves. `i64` (how labels and indices usually
/// arrive) is stored as `DType::I32`, the engine's index type: uploading
/// narrows it, refusing a value outside i32's range with
/// `Error::ValueOutOfRange`, and reading an i32 tensor as i64 widens it.
pub trait Element: bytemuck::Pod + Copy + Send + Sync + 'static {
    /// The dtype of a tensor holding these values.
    const DTYPE: DType;
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;

    /// The bytes a buffer of `DTYPE` holds for `data`, or the index of the
    /// first value that dtype cannot hold and that value, written out.
    fn to_storage(data: &[Self]) -> std::result::Result<Cow<'_, [u8]>, (usize, String)> {
        Ok(Cow::Borrowed(bytemuck::cast_slice(data)))
    }

    /// `n` values from the bytes of a buffer of `DTYPE`.
    fn from_storage(bytes: &[u8], n: usize) -> Vec<Self> {
        bytemuck::pod_collect_to_vec(&bytes[..n * std::mem::size_of::<Self>()])
    }
}

/// Stored as i32: labels and indices cross as i64, as PyTorch's do.
impl Element for i64 {
    const DTYPE: DType = DType::I32;
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(v: f64) -> Self {
        v as i64
    }
    fn to_storage(data: &[Self]) -> std::result::Result<Cow<'_, [u8]>, (usize, String)> {
        let narrow: Vec<i32> = data
            .iter()
            .enumerate()
            .map(|(i, &v)| i32::try_from(v).map_err(|_| (i, v.to_string())))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Cow::Owned(bytemuck::cast_slice(&narrow).to_vec()))
    }
    fn from_storage(bytes: &[u8], n: usize) -> Vec<Self> {
        i32::from_storage(bytes, n)
            .into_iter()
            .map(i64::from)
            .collect()
    }
}

/// The primitive element types: `as` converts them.
macro_rules! primitive_elements {
    ($($t:ty => $dtype:ident),*) => {$(
        impl Element for $t {
            const DTYPE: DType = DType::$dtype;
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
        }
    )*};
}

primitive_elements!(f32 => F32, i32 => I32, u32 => U32);

impl Element for half::f16 {
    const DTYPE: DType = DType::F16;
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn from_f64(v: f64) -> Self {
        half::f16::from_f64(v)
    }
}

/// Encodes a scalar of `dtype` as the 32 bits a kernel's constant table holds.
pub(crate) fn scalar_bits(dtype: DType, v: f64) -> u32 {
    match dtype {
        DType::F32 | DType::F16 => (v as f32).to_bits(),
        DType::I32 => (v as i32) as u32,
        DType::U32 => v as u32,
        DType::Bool => (v != 0.0) as u32,
    }
}
