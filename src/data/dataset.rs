//! An in-memory data set: flat features plus a class or regression target.

use crate::error::Error;

/// What each sample is labelled with.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// One class index in `0..classes` per sample.
    Classes { labels: Vec<i32>, classes: usize },
    /// `outputs` regression values per sample, row-major.
    Values { values: Vec<f32>, outputs: usize },
}

impl Target {
    /// The number of samples the target describes.
    pub fn len(&self) -> usize {
        match self {
            Target::Classes { labels, .. } => labels.len(),
            Target::Values { values, outputs } => values.len() / (*outputs).max(1),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The target of the samples at `idx`, in that order.
    pub(crate) fn gather(&self, idx: &[usize]) -> Target {
        match self {
            Target::Classes { labels, classes } => Target::Classes {
                labels: idx.iter().map(|&i| labels[i]).collect(),
                classes: *classes,
            },
            Target::Values { values, outputs } => {
                let mut picked = Vec::with_capacity(idx.len() * outputs);
                for &i in idx {
                    picked.extend_from_slice(&values[i * outputs..(i + 1) * outputs]);
                }
                Target::Values {
                    values: picked,
                    outputs: *outputs,
                }
            }
        }
    }
}

/// Samples stored row-major: sample `i` is `x[i * features() .. (i + 1) * features()]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub x: Vec<f32>,
    /// The shape of one sample: `[features]` for tabular data, `[channels, height, width]` for images.
    pub sample_shape: Vec<usize>,
    pub target: Target,
    /// One name per feature (per pixel for images).
    pub feature_names: Vec<String>,
}

impl Dataset {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.target.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values per sample: the product of `sample_shape`.
    pub fn features(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The samples at `idx`, in that order (an index may repeat); an index
    /// not below `len()` is an error.
    pub fn subset(&self, idx: &[usize]) -> Result<Dataset, Error> {
        if let Some(&bad) = idx.iter().find(|&&i| i >= self.len()) {
            return Err(Error::InvalidArgument {
                op: "subset",
                shape: vec![self.len()],
                msg: format!("sample {bad} is out of range for {} samples", self.len()),
            });
        }
        Ok(Dataset {
            name: self.name.clone(),
            x: self.gather_x(idx),
            sample_shape: self.sample_shape.clone(),
            target: self.target.gather(idx),
            feature_names: self.feature_names.clone(),
        })
    }

    /// The class labels, if this is a classification set.
    pub fn labels(&self) -> Option<&[i32]> {
        match &self.target {
            Target::Classes { labels, .. } => Some(labels),
            Target::Values { .. } => None,
        }
    }

    /// The regression values (row-major, `outputs` per sample), if this is a regression set.
    pub fn values(&self) -> Option<&[f32]> {
        match &self.target {
            Target::Classes { .. } => None,
            Target::Values { values, .. } => Some(values),
        }
    }

    /// The number of classes, if this is a classification set.
    pub fn classes(&self) -> Option<usize> {
        match self.target {
            Target::Classes { classes, .. } => Some(classes),
            Target::Values { .. } => None,
        }
    }

    /// The features of the samples at `idx` (each below `len()`: the callers
    /// check or build them so), concatenated.
    pub(crate) fn gather_x(&self, idx: &[usize]) -> Vec<f32> {
        let f = self.features();
        let mut x = Vec::with_capacity(idx.len() * f);
        for &i in idx {
            x.extend_from_slice(&self.x[i * f..(i + 1) * f]);
        }
        x
    }
}
