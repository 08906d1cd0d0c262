//! Which shapes a generated kernel bakes in as constants.
//!
//! A generated kernel (fused elementwise, reduction) comes in two forms: one
//! with every size and stride a WGSL constant, and one that reads them from a
//! uniform (`sh`). The constant form divides by constants when it decodes an
//! index, which matters on lavapipe, where a vector division by a runtime
//! value is a loop over the lanes; but every new shape is a new pipeline to
//! compile. So a kernel gets the constant form for the first few shapes its
//! structure is seen with (a training loop's batch, its last partial batch,
//! its evaluation batch), and the uniform form, compiled once, for every shape
//! after those (variable-length text): a stream of new shapes then compiles
//! nothing new.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use crate::kernels::Launch;
use crate::pipeline::KernelSource;

/// Structures remembered before the record starts over (forgetting costs at
/// most a few constant-form compiles again).
const STRUCTURES: usize = 4096;

/// Per kernel structure (the uniform form's source), the shapes (its uniform
/// words) that got the constant form.
#[derive(Default)]
pub(crate) struct Specializer {
    seen: Mutex<HashMap<u64, Vec<u64>>>,
}

/// A hash of anything hashable.
pub(crate) fn hash_of(x: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    x.hash(&mut h);
    h.finish()
}

impl Specializer {
    /// Whether the kernel of this `structure`, at the shape `words`, takes
    /// the constant form: it does for the first `limit` shapes seen.
    pub fn constants(&self, structure: u64, words: &[u32], limit: usize) -> bool {
        if limit == 0 {
            return false;
        }
        let shape = hash_of(&words);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= STRUCTURES && !seen.contains_key(&structure) {
            seen.clear();
        }
        let shapes = seen.entry(structure).or_default();
        if shapes.contains(&shape) {
            return true;
        }
        if shapes.len() < limit {
            shapes.push(shape);
            return true;
        }
        false
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// The launches a generated kernel takes: `generate(true)` makes its uniform
/// form, `generate(false)` its constant form, which it gets for the first
/// shapes of its structure (the uniform form's sources).
pub(crate) fn generated<T>(
    spec: (&Specializer, usize),
    generate: impl Fn(bool) -> (Vec<Launch>, T),
) -> (Vec<Launch>, T) {
    let uniform = generate(true);
    let srcs: Vec<&KernelSource> = uniform.0.iter().map(|l| &l.src).collect();
    let words: Vec<u32> = uniform.0.iter().flat_map(|l| l.meta.clone()).collect();
    if spec.0.constants(hash_of(&srcs), &words, spec.1) {
        return generate(false);
    }
    uniform
}

/// Sets a hand-written kernel's size overrides (`Launch::shapes`): their
/// values for the structure's first shapes, else 0 (read from the meta words).
pub(crate) fn shape_overrides(l: &mut Launch, spec: (&Specializer, usize)) {
    if l.shapes.is_empty() {
        return;
    }
    let generic = l
        .shapes
        .iter()
        .fold(l.src.clone(), |s, &(name, _)| s.with(name, 0.0));
    let words: Vec<u32> = l.shapes.iter().map(|&(_, v)| v).collect();
    l.src = if spec.0.constants(hash_of(&generic), &words, spec.1) {
        l.shapes
            .iter()
            .fold(l.src.clone(), |s, &(name, v)| s.with(name, v as f64))
    } else {
        generic
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_shapes_of_a_structure_get_constants() {
        let s = Specializer::default();
        assert!(s.constants(1, &[4], 2));
        assert!(s.constants(1, &[5], 2));
        assert!(!s.constants(1, &[6], 2));
        assert!(s.constants(1, &[4], 2), "a shape seen keeps its form");
        assert!(s.constants(2, &[6], 2), "structures count apart");
        assert!(!s.constants(3, &[1], 0), "limit 0: always the uniform form");
    }
}
