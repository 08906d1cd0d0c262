//! Image data sets: sklearn's 8x8 digits and the first 10,000 MNIST images.

use std::path::Path;

use crate::error::Error;

use super::dataset::{Dataset, Target};
use super::fields::{
    Separator, data_lines, expect_fields, parse_label, parse_number, split_fields,
};
use super::idx::{Idx, read_idx_u8};
use super::source::{data_error, expect_count, file_name, read_text};

const DIGIT_CLASSES: usize = 10;

/// Names pixels like sklearn does: `pixel_<row>_<col>`.
fn pixel_names(height: usize, width: usize) -> Vec<String> {
    (0..height)
        .flat_map(|r| (0..width).map(move |c| format!("pixel_{r}_{c}")))
        .collect()
}

/// sklearn's digits: 1,797 images of 8x8 pixels with values 0..16 (kept as
/// is, not scaled), 10 classes. `images/digits.csv.gz`: 64 pixels then the
/// label per line, no header.
pub fn digits(root: &Path) -> Result<Dataset, Error> {
    const SIDE: usize = 8;
    let path = root.join("images/digits.csv.gz");
    let file = file_name(&path);
    let text = read_text(&path)?;
    let pixels = SIDE * SIDE;
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for (line, row) in data_lines(&text) {
        let fields = split_fields(row, Separator::Comma);
        expect_fields(&fields, pixels + 1, &file, line)?;
        for (col, field) in fields[..pixels].iter().enumerate() {
            x.push(parse_number(field, &format!("pixel {col}"), &file, line)?);
        }
        labels.push(parse_label(fields[pixels], DIGIT_CLASSES, &file, line)?);
    }
    // sklearn's digits: 1,797 images (the file has no header to say so).
    expect_count(&file, "samples", labels.len(), 1797)?;
    Ok(Dataset {
        name: "digits".into(),
        x,
        sample_shape: vec![1, SIDE, SIDE],
        target: Target::Classes {
            labels,
            classes: DIGIT_CLASSES,
        },
        feature_names: pixel_names(SIDE, SIDE),
    })
}

/// The first 10,000 MNIST training images, 28x28, scaled to [0, 1]
/// (byte / 255), 10 classes. The files store the images class by class, so
/// split with [`Dataset::split`] (which shuffles) rather than by position.
pub fn mnist10k(root: &Path) -> Result<Dataset, Error> {
    const IMAGES_MAGIC: u32 = 2051;
    const LABELS_MAGIC: u32 = 2049;
    let images_path = root.join("images/mnist10k-images-idx3-ubyte.gz");
    let labels_path = root.join("images/mnist10k-labels-idx1-ubyte.gz");
    let images_file = file_name(&images_path);
    let labels_file = file_name(&labels_path);
    let images = read_idx_u8(&images_path)?;
    expect_magic(&images, IMAGES_MAGIC, 3, &images_file)?;
    let labels = read_idx_u8(&labels_path)?;
    expect_magic(&labels, LABELS_MAGIC, 1, &labels_file)?;
    let (n, height, width) = (images.dims[0], images.dims[1], images.dims[2]);
    if (height, width) != (28, 28) {
        return Err(data_error(
            &images_file,
            "byte 8",
            format!("images are {height}x{width}, expected 28x28"),
        ));
    }
    if labels.dims[0] != n {
        return Err(data_error(
            &labels_file,
            "byte 4",
            format!("{} labels for {n} images in {images_file}", labels.dims[0]),
        ));
    }
    // Label i sits after the 8-byte header of a 1-d IDX file.
    if let Some(i) = labels
        .data
        .iter()
        .position(|&l| l as usize >= DIGIT_CLASSES)
    {
        return Err(data_error(
            &labels_file,
            format!("byte {}", 8 + i),
            format!("label {} is outside 0..{DIGIT_CLASSES}", labels.data[i]),
        ));
    }
    Ok(Dataset {
        name: "mnist10k".into(),
        x: images.data.iter().map(|&b| b as f32 / 255.0).collect(),
        sample_shape: vec![1, height, width],
        target: Target::Classes {
            labels: labels.data.iter().map(|&l| l as i32).collect(),
            classes: DIGIT_CLASSES,
        },
        feature_names: pixel_names(height, width),
    })
}

/// Checks the magic number and rank, which catches the image and label
/// files being swapped.
fn expect_magic(idx: &Idx, magic: u32, rank: usize, file: &str) -> Result<(), Error> {
    if idx.magic != magic || idx.dims.len() != rank {
        return Err(data_error(
            file,
            "byte 0",
            format!(
                "magic number {} with {} dimensions, expected {magic} with {rank}",
                idx.magic,
                idx.dims.len()
            ),
        ));
    }
    Ok(())
}
