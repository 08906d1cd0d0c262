//! Movement ops: reshape, permute, expand, slice, flip, concat, stack, split.
//! All but concat and stack are zero-copy views; a chain of them folds into one
//! strided view at record time.

use crate::error::{Error, Result};
use crate::graph::Op;
use crate::shape::{View, broadcast_shapes, normalize_axes, normalize_axis, numel};
use crate::tensor::Tensor;

/// How `split` cuts an axis, as torch.split's int or list: pieces of one size
/// (the last shorter when it does not divide the axis), or every piece's size.
#[derive(Clone, Copy, Debug)]
pub enum SplitSizes<'a> {
    Each(usize),
    List(&'a [usize]),
}

impl From<usize> for SplitSizes<'_> {
    fn from(size: usize) -> Self {
        SplitSizes::Each(size)
    }
}

impl<'a> From<&'a [usize]> for SplitSizes<'a> {
    fn from(sizes: &'a [usize]) -> Self {
        SplitSizes::List(sizes)
    }
}

impl<'a, const N: usize> From<&'a [usize; N]> for SplitSizes<'a> {
    fn from(sizes: &'a [usize; N]) -> Self {
        SplitSizes::List(sizes)
    }
}

impl<'a> From<&'a Vec<usize>> for SplitSizes<'a> {
    fn from(sizes: &'a Vec<usize>) -> Self {
        SplitSizes::List(sizes)
    }
}

/// Inputs one concat kernel reads at most (WebGPU's default allows 8 storage
/// buffers per stage; the output and the status word take two); a device with
/// fewer (downlevel: 4) reads fewer.
const CAT_GROUP: usize = 4;

/// Inputs one concat kernel may read on `dev`.
fn cat_group(dev: &crate::device::Device) -> usize {
    let storage = dev.limits().max_storage_buffers_per_shader_stage as usize;
    storage.saturating_sub(2).clamp(2, CAT_GROUP)
}

impl Tensor {
    /// The view this tensor already is (over its source), if it is a lazy view.
    fn as_view(&self) -> Option<(View, Tensor)> {
        match self.0.state().pending() {
            Some((Op::View(v), src)) => Some((v.clone(), src[0].clone())),
            _ => None,
        }
    }

    /// Records a view over this tensor's contiguous layout (no checks: callers check).
    pub(crate) fn view_unchecked(&self, view: View) -> Tensor {
        if view.is_identity() && view.shape == self.0.shape {
            return self.clone();
        }
        Tensor::record(
            self.device(),
            view.shape.clone(),
            self.dtype(),
            Op::View(view),
            vec![self.clone()],
        )
    }

    /// Applies a coordinate-wise view change, folding it into an existing view.
    fn map_view(&self, f: impl Fn(&View) -> View) -> Tensor {
        match self.as_view() {
            Some((v, src)) => src.view_unchecked(f(&v)),
            None => self.view_unchecked(f(&View::contiguous(self.shape()))),
        }
    }

    /// Same elements, new shape (row-major order), like `torch.reshape`:
    /// a view when strides allow, a copy when they do not.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if numel(shape) != self.numel() {
            return Err(Error::ShapeMismatch {
                op: "reshape",
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
                detail: format!(": {} elements cannot become {}", self.numel(), numel(shape)),
            });
        }
        if shape == self.shape() {
            return Ok(self.clone());
        }
        if let Some((v, src)) = self.as_view()
            && let Some(r) = v.reshape(shape)
        {
            return Ok(src.view_unchecked(r));
        }
        // Our own layout is contiguous, so this always succeeds; a kernel that
        // reads through it decodes our coordinates first (no copy unless needed).
        Ok(self.view_unchecked(View::contiguous(shape)))
    }

    /// Reorders the axes: `perm[i]` is the old axis that becomes axis i.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor> {
        let r = self.rank();
        let mut seen = vec![false; r];
        if perm.len() != r
            || perm
                .iter()
                .any(|&p| p >= r || std::mem::replace(&mut seen[p], true))
        {
            return Err(Error::InvalidArgument {
                op: "permute",
                shape: self.shape().to_vec(),
                msg: format!("{perm:?} is not a permutation of {r} axes"),
            });
        }
        Ok(self.map_view(|v| v.permute(perm)))
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let a = normalize_axis("transpose", a, self.rank())?;
        let b = normalize_axis("transpose", b, self.rank())?;
        let mut perm: Vec<usize> = (0..self.rank()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Swaps the last two axes (a matrix transpose, batched).
    pub fn t(&self) -> Result<Tensor> {
        if self.rank() < 2 {
            return Err(Error::InvalidArgument {
                op: "t",
                shape: self.shape().to_vec(),
                msg: "needs at least 2 axes".into(),
            });
        }
        self.transpose(-2, -1)
    }

    /// Broadcasts to `shape` (numpy rules), with no copy.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        Tensor::check_count("broadcast_to", shape)?;
        match broadcast_shapes(self.shape(), shape) {
            Some(s) if s == shape => Ok(self.map_view(|v| v.expand(shape))),
            _ => Err(Error::ShapeMismatch {
                op: "broadcast_to",
                lhs: self.shape().to_vec(),
                rhs: shape.to_vec(),
                detail: String::new(),
            }),
        }
    }

    /// `start..end` in steps of `step` along `axis` (negative axis counts from the end).
    /// The step is positive, as in PyTorch (numpy's negative steps are
    /// `flip(&[axis])` and then a slice: both are views, so no copy either way).
    pub fn slice(&self, axis: isize, start: usize, end: usize, step: usize) -> Result<Tensor> {
        let ax = normalize_axis("slice", axis, self.rank())?;
        let dim = self.shape()[ax];
        if step == 0 || start > end || end > dim {
            return Err(Error::InvalidArgument {
                op: "slice",
                shape: self.shape().to_vec(),
                msg: format!("range {start}..{end} step {step} on axis {ax} of size {dim}"),
            });
        }
        let len = (end - start).div_ceil(step);
        Ok(self.map_view(|v| v.slice(ax, start, len, step)))
    }

    /// `len` elements from `start` along `axis`, like `torch.narrow`.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        self.slice(axis, start, start.saturating_add(len), 1)
    }

    /// The elements in reverse order along each of `axes`, like torch.flip
    /// (an axis given twice is an error, as in PyTorch). A view that reads
    /// backwards, not a copy as in PyTorch: it folds into other views and the
    /// kernels that read it compute it inline, and its gradient is the flip of
    /// the gradient (matmul and gather copy a flipped operand first).
    pub fn flip(&self, axes: &[isize]) -> Result<Tensor> {
        let axes = normalize_axes("flip", axes, self.rank())?;
        Ok(self.map_view(|v| axes.iter().fold(v.clone(), |v, &a| v.flip(a))))
    }

    /// Inserts an axis of size 1 at `axis` (which may equal the rank).
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let ax = normalize_axis("unsqueeze", axis, self.rank() + 1)?;
        let mut s = self.shape().to_vec();
        s.insert(ax, 1);
        self.reshape(&s)
    }

    /// Removes an axis of size 1.
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let ax = normalize_axis("squeeze", axis, self.rank())?;
        if self.shape()[ax] != 1 {
            return Err(Error::InvalidArgument {
                op: "squeeze",
                shape: self.shape().to_vec(),
                msg: format!("axis {ax} has size {}, not 1", self.shape()[ax]),
            });
        }
        let mut s = self.shape().to_vec();
        s.remove(ax);
        self.reshape(&s)
    }

    /// Merges axes `start..=end` into one.
    pub fn flatten(&self, start: isize, end: isize) -> Result<Tensor> {
        if self.rank() == 0 {
            return self.reshape(&[1]);
        }
        let a = normalize_axis("flatten", start, self.rank())?;
        let b = normalize_axis("flatten", end, self.rank())?;
        if a > b {
            return Err(Error::InvalidArgument {
                op: "flatten",
                shape: self.shape().to_vec(),
                msg: format!("start axis {a} is after end axis {b}"),
            });
        }
        let s = self.shape();
        let mut out = s[..a].to_vec();
        out.push(s[a..=b].iter().product());
        out.extend_from_slice(&s[b + 1..]);
        self.reshape(&out)
    }

    /// A tensor whose own buffer holds the elements in order: a copy when this
    /// tensor is a strided view, itself otherwise.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.as_view().is_none() {
            return Ok(self.clone());
        }
        Ok(Tensor::record(
            self.device(),
            self.shape().to_vec(),
            self.dtype(),
            Op::Cast,
            vec![self.clone()],
        ))
    }

    /// The gradient of a view: `g` (the view's shape) placed back into a tensor of
    /// the source's shape, zeros where the view read nothing.
    pub(crate) fn unview(g: &Tensor, view: View, src_shape: &[usize]) -> Result<Tensor> {
        // Autodiff flips the gradient of a reversed view first.
        let Some(strides) = view.unsigned_strides() else {
            return Err(Error::InvalidArgument {
                op: "backward",
                shape: view.shape.clone(),
                msg: "a view read backwards is placed through the flip of its gradient".into(),
            });
        };
        // Greedy decoding (largest stride first) inverts a view exactly when no
        // stride can be reached by the smaller dims together.
        let mut dims: Vec<usize> = (0..view.shape.len())
            .filter(|&d| view.shape[d] > 1)
            .collect();
        dims.sort_by(|&a, &b| strides[b].cmp(&strides[a]));
        let mut reach = 0usize;
        for &d in dims.iter().rev() {
            if strides[d] <= reach {
                return Err(Error::InvalidArgument {
                    op: "backward",
                    shape: view.shape.clone(),
                    msg: "a view that reads an element twice has no placement gradient".into(),
                });
            }
            reach += (view.shape[d] - 1) * strides[d];
        }
        if numel(&view.shape) == 0 {
            return Tensor::zeros(g.device(), src_shape, g.dtype());
        }
        Ok(Tensor::record(
            g.device(),
            src_shape.to_vec(),
            g.dtype(),
            Op::Unview(view),
            vec![g.clone()],
        ))
    }

    /// Joins tensors along `axis`; all other axes must match.
    pub fn cat(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
        let Some(first) = tensors.first() else {
            return Err(Error::InvalidArgument {
                op: "cat",
                shape: vec![],
                msg: "needs at least one tensor".into(),
            });
        };
        let ax = normalize_axis("cat", axis, first.rank())?;
        first.same_device("cat", tensors)?;
        let mut shape = first.shape().to_vec();
        shape[ax] = 0;
        for t in tensors {
            first.require_dtype("cat", t)?;
            let ok = t.rank() == first.rank()
                && (0..t.rank()).all(|i| i == ax || t.shape()[i] == first.shape()[i]);
            if !ok {
                return Err(Error::ShapeMismatch {
                    op: "cat",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                    detail: format!(": only axis {ax} may differ"),
                });
            }
            shape[ax] += t.shape()[ax];
        }
        // An empty input adds nothing, and a kernel would decode its empty
        // shape (dividing by 0): leave it out.
        let tensors: Vec<&Tensor> = tensors.iter().copied().filter(|t| t.numel() > 0).collect();
        match tensors.as_slice() {
            [] => return Tensor::zeros(first.device(), &shape, first.dtype()),
            [one] => return Ok((*one).clone()),
            _ => {}
        }
        Tensor::check_size(first.device(), "cat", &shape, first.dtype())?;
        // One kernel binds every input: many inputs join in groups first, so
        // no kernel binds more buffers than an adapter allows.
        let group = cat_group(first.device());
        if tensors.len() > group {
            let parts = tensors
                .chunks(group)
                .map(|c| Tensor::cat(c, axis))
                .collect::<Result<Vec<_>>>()?;
            return Tensor::cat(&parts.iter().collect::<Vec<_>>(), axis);
        }
        Ok(Tensor::record(
            first.device(),
            shape,
            first.dtype(),
            Op::Concat { axis: ax },
            tensors.iter().map(|t| (*t).clone()).collect(),
        ))
    }
}

impl Tensor {
    /// Joins tensors of one shape along a new axis (torch.stack): the result
    /// has one more axis, and a negative `axis` counts from its end.
    pub fn stack(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
        let Some(first) = tensors.first() else {
            return Err(Error::InvalidArgument {
                op: "stack",
                shape: vec![],
                msg: "needs at least one tensor".into(),
            });
        };
        let ax = normalize_axis("stack", axis, first.rank() + 1)?;
        first.same_device("stack", tensors)?;
        for t in tensors {
            first.require_dtype("stack", t)?;
            if t.shape() != first.shape() {
                return Err(Error::ShapeMismatch {
                    op: "stack",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                    detail: ": stacked tensors must all have one shape".into(),
                });
            }
        }
        // Each input seen with a new axis of 1 (a view), joined along it.
        let parts = tensors
            .iter()
            .map(|t| t.unsqueeze(ax as isize))
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&parts.iter().collect::<Vec<_>>(), ax as isize)
    }

    /// Consecutive pieces along `axis`, like torch.split: `size` (a `usize`)
    /// gives pieces of that size, the last one shorter when it does not divide
    /// the axis; a list (`&[usize]`) gives every piece's size and must add up
    /// to the axis. Each piece is a view; a size of 0 can only cut an empty axis.
    pub fn split<'a>(&self, sizes: impl Into<SplitSizes<'a>>, axis: isize) -> Result<Vec<Tensor>> {
        let bad = |msg: String| Error::InvalidArgument {
            op: "split",
            shape: self.shape().to_vec(),
            msg,
        };
        if self.rank() == 0 {
            return Err(bad("needs at least one axis".into()));
        }
        let ax = normalize_axis("split", axis, self.rank())?;
        let dim = self.shape()[ax];
        let sizes: Vec<usize> = match sizes.into() {
            SplitSizes::Each(0) if dim > 0 => {
                return Err(bad(format!(
                    "a size of 0 cannot cut axis {ax} of size {dim}"
                )));
            }
            SplitSizes::Each(0) => vec![0],
            // At least one piece, as torch.split gives for an empty axis.
            SplitSizes::Each(size) => (0..dim.div_ceil(size).max(1))
                .map(|i| size.min(dim - i * size))
                .collect(),
            SplitSizes::List(list) => {
                let total = list.iter().try_fold(0usize, |a, &b| a.checked_add(b));
                if total != Some(dim) {
                    return Err(bad(format!(
                        "sizes {list:?} do not add up to axis {ax}'s {dim} elements"
                    )));
                }
                list.to_vec()
            }
        };
        let mut start = 0;
        sizes
            .into_iter()
            .map(|len| {
                start += len;
                self.narrow(ax as isize, start - len, len)
            })
            .collect()
    }

    /// `chunks` pieces along `axis` of ceil(len / chunks) elements each, the
    /// last one shorter, like torch.chunk: fewer come back when the axis is too
    /// short for that many (7 in chunks of 3 are 3, 3, 1; 5 in 4 are 2, 2, 1),
    /// and an empty axis gives `chunks` empty pieces.
    pub fn chunk(&self, chunks: usize, axis: isize) -> Result<Vec<Tensor>> {
        if chunks == 0 || self.rank() == 0 {
            return Err(Error::InvalidArgument {
                op: "chunk",
                shape: self.shape().to_vec(),
                msg: format!("cannot cut {chunks} chunks (needs at least one, and an axis)"),
            });
        }
        let ax = normalize_axis("chunk", axis, self.rank())?;
        match self.shape()[ax] {
            0 => self.split(&vec![0; chunks], axis),
            dim => self.split(dim.div_ceil(chunks), axis),
        }
    }
}
