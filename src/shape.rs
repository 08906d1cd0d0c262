//! Shapes, broadcasting, and strided views: the zero-copy movement ops
//! (permute, expand, slice, reshape, flip) are a change of strides, never a copy.

use crate::error::{Error, Result};

/// Elements in `shape`; saturates (rather than wrapping to a small count) so
/// an absurd shape fails the size checks instead of passing as empty.
pub fn numel(shape: &[usize]) -> usize {
    if shape.contains(&0) {
        return 0;
    }
    shape.iter().fold(1usize, |a, &d| a.saturating_mul(d))
}

/// Row-major strides, in elements.
pub fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut acc: usize = 1;
    for i in (0..shape.len()).rev() {
        strides[i] = acc;
        acc = acc.saturating_mul(shape[i]);
    }
    strides
}

/// numpy broadcasting: align right, a dimension of 1 stretches.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Resolves a possibly negative axis against `rank`.
pub fn normalize_axis(op: &'static str, axis: isize, rank: usize) -> Result<usize> {
    let r = rank as isize;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::InvalidAxis { op, axis, rank });
    }
    Ok(a as usize)
}

/// Resolves a list of axes, sorted and without repeats.
pub fn normalize_axes(op: &'static str, axes: &[isize], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let a = normalize_axis(op, a, rank)?;
        if out.contains(&a) {
            return Err(Error::InvalidArgument {
                op,
                shape: vec![],
                msg: format!("axis {a} is given twice"),
            });
        }
        out.push(a);
    }
    out.sort_unstable();
    Ok(out)
}

/// A strided window onto the contiguous layout of a source tensor:
/// element `c` of the view is element `offset + sum(c[i] * strides[i])` of the source.
/// A negative stride reads its dim backwards (a flip); `offset` is then the
/// source index of the view's first element, not of the lowest one it reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct View {
    pub shape: Vec<usize>,
    pub strides: Vec<isize>,
    pub offset: usize,
}

/// Row-major strides as a view's signed strides.
fn signed(strides: Vec<usize>) -> Vec<isize> {
    strides.into_iter().map(|s| s as isize).collect()
}

/// `offset + delta`, for a delta that stays inside the source (callers check).
fn shifted(offset: usize, delta: isize) -> usize {
    offset.wrapping_add_signed(delta)
}

impl View {
    pub fn contiguous(shape: &[usize]) -> View {
        View {
            shape: shape.to_vec(),
            strides: signed(contiguous_strides(shape)),
            offset: 0,
        }
    }

    /// True when some dim of more than one element is read backwards.
    pub fn is_reversed(&self) -> bool {
        self.shape
            .iter()
            .zip(&self.strides)
            .any(|(&d, &s)| d > 1 && s < 0)
    }

    /// The strides, if none is negative (the form the hand-written primitives
    /// that read a view in place take).
    pub fn unsigned_strides(&self) -> Option<Vec<usize>> {
        self.strides
            .iter()
            .map(|&s| usize::try_from(s).ok())
            .collect()
    }

    /// The same elements read with every dim forwards, and the dims that were
    /// read backwards: element `c` of `self` is element `c'` of the result with
    /// `c'[d] = shape[d] - 1 - c[d]` on those dims.
    pub fn forwards(&self) -> (View, Vec<usize>) {
        let mut v = self.clone();
        let mut flipped = Vec::new();
        for d in 0..v.shape.len() {
            if v.shape[d] > 1 && v.strides[d] < 0 {
                v = v.flip(d);
                flipped.push(d);
            }
        }
        (v, flipped)
    }

    /// True when the view reads its source in order from the start: a no-op.
    pub fn is_identity(&self) -> bool {
        self.offset == 0 && self.is_dense()
    }

    /// True when the elements are consecutive in the source (from `offset`).
    pub fn is_dense(&self) -> bool {
        let mut acc: isize = 1;
        for i in (0..self.shape.len()).rev() {
            if self.shape[i] != 1 && self.strides[i] != acc {
                return false;
            }
            acc *= self.shape[i] as isize;
        }
        true
    }

    pub fn permute(&self, perm: &[usize]) -> View {
        View {
            shape: perm.iter().map(|&p| self.shape[p]).collect(),
            strides: perm.iter().map(|&p| self.strides[p]).collect(),
            offset: self.offset,
        }
    }

    /// Broadcast to `shape` (already checked compatible): stretched dims get stride 0.
    pub fn expand(&self, shape: &[usize]) -> View {
        let lead = shape.len() - self.shape.len();
        let strides = (0..shape.len())
            .map(|i| {
                if i < lead || self.shape[i - lead] != shape[i] {
                    0
                } else {
                    self.strides[i - lead]
                }
            })
            .collect();
        View {
            shape: shape.to_vec(),
            strides,
            offset: self.offset,
        }
    }

    pub fn slice(&self, axis: usize, start: usize, len: usize, step: usize) -> View {
        let mut v = self.clone();
        if len > 0 {
            v.offset = shifted(v.offset, start as isize * self.strides[axis]);
        }
        v.shape[axis] = len;
        v.strides[axis] *= step as isize;
        v
    }

    /// `axis` read backwards (torch.flip): the first element becomes the last.
    pub fn flip(&self, axis: usize) -> View {
        let mut v = self.clone();
        let n = v.shape[axis];
        if n > 1 {
            v.offset = shifted(v.offset, (n as isize - 1) * v.strides[axis]);
            v.strides[axis] = -v.strides[axis];
        }
        v
    }

    /// The same elements seen with a new shape, if strides can express it
    /// (the rule torch's `view` follows); `None` means a copy is needed.
    pub fn reshape(&self, new_shape: &[usize]) -> Option<View> {
        if numel(new_shape) == 0 || self.is_dense() {
            return Some(View {
                shape: new_shape.to_vec(),
                strides: signed(contiguous_strides(new_shape)),
                offset: self.offset,
            });
        }
        // torch's computeStride: signed strides (a flipped dim) work unchanged.
        let (old, old_st) = (&self.shape, &self.strides);
        let mut new_st = vec![0isize; new_shape.len()];
        let mut view_d = new_shape.len() as isize - 1;
        let mut chunk_base = *old_st.last()?;
        let mut tensor_numel = 1usize;
        let mut view_numel = 1usize;
        for td in (0..old.len()).rev() {
            tensor_numel *= old[td];
            if td == 0 || (old[td - 1] != 1 && old_st[td - 1] != tensor_numel as isize * chunk_base)
            {
                while view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d as usize] == 1)
                {
                    new_st[view_d as usize] = view_numel as isize * chunk_base;
                    view_numel *= new_shape[view_d as usize];
                    view_d -= 1;
                }
                if view_numel != tensor_numel {
                    return None;
                }
                if td > 0 {
                    chunk_base = old_st[td - 1];
                    tensor_numel = 1;
                    view_numel = 1;
                }
            }
        }
        if view_d != -1 {
            return None;
        }
        Some(View {
            shape: new_shape.to_vec(),
            strides: new_st,
            offset: self.offset,
        })
    }

    /// Drops size-1 dims and merges dims that are contiguous with each other,
    /// so a kernel decodes as few coordinates as possible.
    pub fn collapsed(&self) -> View {
        let mut shape: Vec<usize> = Vec::new();
        let mut strides: Vec<isize> = Vec::new();
        for (&d, &s) in self.shape.iter().zip(&self.strides) {
            if d == 1 {
                continue;
            }
            if let (Some(ld), Some(ls)) = (shape.last_mut(), strides.last_mut())
                && *ls == s * d as isize
            {
                *ld *= d;
                *ls = s;
                continue;
            }
            shape.push(d);
            strides.push(s);
        }
        View {
            shape,
            strides,
            offset: self.offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_numpy() {
        assert_eq!(broadcast_shapes(&[3, 1], &[4]), Some(vec![3, 4]));
        assert_eq!(broadcast_shapes(&[2, 1, 5], &[3, 1]), Some(vec![2, 3, 5]));
        assert_eq!(broadcast_shapes(&[3], &[4]), None);
        assert_eq!(broadcast_shapes(&[], &[2]), Some(vec![2]));
    }

    #[test]
    fn reshape_of_transpose_needs_copy_only_when_dims_mix() {
        let t = View::contiguous(&[2, 3]).permute(&[1, 0]);
        assert!(t.reshape(&[6]).is_none());
        assert_eq!(t.reshape(&[3, 2, 1]).unwrap().strides, vec![1, 3, 3]);
        let e = View::contiguous(&[1, 4]).expand(&[3, 4]);
        assert_eq!(e.reshape(&[3, 2, 2]).unwrap().strides, vec![0, 2, 1]);
    }

    #[test]
    fn collapse_merges_contiguous_dims() {
        let v = View::contiguous(&[2, 1, 3, 4]).collapsed();
        assert_eq!((v.shape, v.strides), (vec![24], vec![1]));
        let v = View::contiguous(&[2, 3]).permute(&[1, 0]).collapsed();
        assert_eq!((v.shape, v.strides), (vec![3, 2], vec![1, 3]));
        // Flipping every dim of a contiguous tensor is one reversed run.
        let v = View::contiguous(&[2, 3]).flip(0).flip(1).collapsed();
        assert_eq!((v.shape, v.strides, v.offset), (vec![6], vec![-1], 5));
    }

    #[test]
    fn a_flip_folds_with_slices_and_reshapes() {
        // [0..6] flipped, then elements 1, 3: source elements 4 and 2.
        let v = View::contiguous(&[6]).flip(0).slice(0, 1, 2, 2);
        assert_eq!((v.offset, v.strides.clone()), (4, vec![-2]));
        let r = View::contiguous(&[6]).flip(0).reshape(&[2, 3]).unwrap();
        assert_eq!((r.offset, r.strides), (5, vec![-3, -1]));
        let (f, dims) = View::contiguous(&[2, 3]).flip(1).forwards();
        assert_eq!((f, dims), (View::contiguous(&[2, 3]), vec![1]));
    }
}
