//! Modules applied in order; parameters named by position ("0.weight").

use crate::error::Result;
use crate::nn::{Module, Stateful};
use crate::tensor::Tensor;

#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential { layers: Vec::new() }
    }

    pub fn push(mut self, m: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(m));
        self
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

impl Sequential {
    /// What `f` names in each layer, under the layer's index.
    fn nested(&self, f: impl Fn(&dyn Module) -> Vec<(String, Tensor)>) -> Vec<(String, Tensor)> {
        let layers = self.layers.iter().enumerate();
        layers
            .flat_map(|(i, l)| crate::nn::prefixed(&i.to_string(), f(l.as_ref())))
            .collect()
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for l in &self.layers {
            h = l.forward(&h)?;
        }
        Ok(h)
    }
}

impl Stateful for Sequential {
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.nested(|l| l.named_parameters())
    }

    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.nested(|l| l.named_buffers())
    }

    fn set_training(&self, on: bool) {
        for l in &self.layers {
            l.set_training(on);
        }
    }
}
