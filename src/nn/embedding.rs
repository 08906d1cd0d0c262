//! Embeddings (字嵌入) and positional encodings (位置编码).

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{Module, Stateful, init, parameter};
use crate::tensor::Tensor;

/// A table of `count` vectors of `dim`: ids (i32, any shape) -> (..., dim).
///
/// With a sparse gradient (torch's `nn.Embedding(..., sparse=True)`), the
/// table's gradient is the rows a step read and their gradients
/// ([`Tensor::sparse_grad`]), never a dense `count x dim` tensor, and the
/// optimizer updates just those rows: plain SGD adds them, Adam updates
/// them and their moments as torch's SparseAdam (which needs each row once
/// a step, as `lookup_ids` reads them).
pub struct Embedding {
    pub table: Tensor,
}

impl Embedding {
    /// Entries drawn from N(0, 1), as torch.nn.Embedding.
    pub fn new(dev: &Device, count: usize, dim: usize) -> Result<Embedding> {
        Embedding::from_table(init::normal(dev, &[count, dim], 1.0)?)
    }

    /// A table with a sparse gradient, entries drawn from N(0, 1).
    pub fn sparse(dev: &Device, count: usize, dim: usize) -> Result<Embedding> {
        Embedding::new(dev, count, dim)?.with_sparse_grad(true)
    }

    /// The given (count, dim) values as the table, a fresh parameter.
    pub fn from_table(values: Tensor) -> Result<Embedding> {
        if values.rank() != 2 {
            return Err(Error::InvalidArgument {
                op: "Embedding",
                shape: values.shape().to_vec(),
                msg: "the table must be (count, dim)".into(),
            });
        }
        Ok(Embedding {
            table: parameter(values)?,
        })
    }

    /// Keeps the table's gradient sparse (or dense again).
    pub fn with_sparse_grad(self, on: bool) -> Result<Embedding> {
        self.table.set_sparse_grad(on)?;
        Ok(self)
    }

    pub fn count(&self) -> usize {
        self.table.shape()[0]
    }

    pub fn dim(&self) -> usize {
        self.table.shape()[1]
    }

    /// Looks up `ids`; an id outside the table is reported at the next readback.
    pub fn lookup(&self, ids: &Tensor) -> Result<Tensor> {
        let mut shape = ids.shape().to_vec();
        shape.push(self.dim());
        self.table
            .index_select(0, &ids.reshape(&[ids.numel()])?)?
            .reshape(&shape)
    }

    /// Looks up ids given on the host, of `shape`: an id outside the table is
    /// refused here, naming the module, the id and both shapes. A sparse
    /// table reads each distinct id once, so its gradient comes coalesced.
    pub fn lookup_ids(&self, ids: &[i32], shape: &[usize]) -> Result<Tensor> {
        let bad = ids
            .iter()
            .position(|&i| i < 0 || i as usize >= self.count());
        if let Some(index) = bad {
            return Err(Error::TokenOutOfRange {
                module: "Embedding",
                ids: shape.to_vec(),
                table: self.table.shape().to_vec(),
                index,
                id: ids[index] as i64,
            });
        }
        let dev = self.table.device();
        if !self.table.has_sparse_grad() {
            return self.lookup(&Tensor::from_slice(dev, ids, shape)?);
        }
        // A sparse table reads each row once (torch's coalesced gradient), the
        // distinct ids padded with row 0 to the count given, so the step's
        // shapes, and its plan, repeat.
        let (rows, at) = coalesce(ids);
        let distinct = rows.len();
        let mut padded = rows;
        padded.resize(ids.len(), 0);
        let rows = Tensor::from_slice(dev, &padded, &[ids.len()])?;
        rows.mark_distinct_rows(distinct);
        let at = Tensor::from_slice(dev, &at, &[ids.len()])?;
        let mut out = shape.to_vec();
        out.push(self.dim());
        self.table
            .index_select(0, &rows)?
            .index_select(0, &at)?
            .reshape(&out)
    }
}

/// The distinct ids in order of first use, and where each id is among them.
fn coalesce(ids: &[i32]) -> (Vec<i32>, Vec<i32>) {
    let mut first = std::collections::HashMap::with_capacity(ids.len());
    let mut rows = Vec::new();
    let at = ids
        .iter()
        .map(|&id| {
            *first.entry(id).or_insert_with(|| {
                rows.push(id);
                rows.len() as i32 - 1
            })
        })
        .collect();
    (rows, at)
}

impl Module for Embedding {
    fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        self.lookup(ids)
    }
}

impl Stateful for Embedding {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".into(), self.table.clone())]
    }
}

/// The notes' sinusoidal positional encoding, exactly:
/// PE(i, 2j) = sin(i / 10000^(2j/d)), PE(i, 2j+1) = cos(i / 10000^(2j/d)).
pub fn sinusoidal(positions: usize, dim: usize) -> Vec<f32> {
    let mut pe = vec![0.0f32; positions * dim];
    for i in 0..positions {
        for c in 0..dim {
            let j2 = (c / 2 * 2) as f64;
            let angle = i as f64 / 10000f64.powf(j2 / dim as f64);
            pe[i * dim + c] = if c % 2 == 0 { angle.sin() } else { angle.cos() } as f32;
        }
    }
    pe
}

/// How a sequence model learns where each token is.
pub enum Positions {
    /// The fixed sinusoidal table of the notes (no parameters).
    Sinusoidal(Tensor),
    /// A learned vector per position.
    Learned(Embedding),
    /// None: attention alone cannot tell order (the notes' point).
    None,
}

impl Positions {
    pub fn sinusoidal(dev: &Device, max_len: usize, dim: usize) -> Result<Positions> {
        let t = Tensor::from_slice(dev, &sinusoidal(max_len, dim), &[max_len, dim])?;
        Ok(Positions::Sinusoidal(t))
    }

    pub fn learned(dev: &Device, max_len: usize, dim: usize) -> Result<Positions> {
        Ok(Positions::Learned(Embedding::new(dev, max_len, dim)?))
    }

    /// x (B, N, dim) plus the encoding of positions 0..N.
    pub fn add(&self, x: &Tensor) -> Result<Tensor> {
        self.add_at(x, 0)
    }

    /// x (B, N, dim) plus the encoding of positions start..start + N (the
    /// new tokens of incremental decoding).
    pub fn add_at(&self, x: &Tensor, start: usize) -> Result<Tensor> {
        let n = x.shape()[1];
        let table = match self {
            Positions::None => return Ok(x.clone()),
            Positions::Sinusoidal(t) => t,
            Positions::Learned(e) => &e.table,
        };
        if start + n > table.shape()[0] {
            return Err(Error::InvalidArgument {
                op: "positional encoding",
                shape: x.shape().to_vec(),
                msg: format!(
                    "positions {start}..{} run past the table's {}",
                    start + n,
                    table.shape()[0]
                ),
            });
        }
        x.add(&table.narrow(0, start, n)?)
    }
}

impl Stateful for Positions {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        match self {
            Positions::Learned(e) => e.named_parameters(),
            _ => vec![],
        }
    }
}
