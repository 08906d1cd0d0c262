//! ISLP's Auto data set (cars, mpg regression).

use std::path::Path;

use crate::error::Error;

use super::dataset::{Dataset, Target};
use super::fields::{at_line, data_lines, expect_fields, parse_number};
use super::source::{data_error, expect_count, file_name, read_text};

/// Auto: 392 cars from ISLP's `Auto.csv`. Target: `mpg` as `Target::Values`
/// with 1 output. Features: every other column except the car's `name`, in
/// file order: cylinders, displacement, horsepower, weight, acceleration, year,
/// origin (1 American, 2 European, 3 Japanese: a category kept as its code;
/// one-hot it for a linear model).
///
/// ISLP already dropped the 5 cars of the original data whose horsepower was
/// `?`, and this loader drops nothing: a `?` or empty value is an error
/// naming its line and column, so the row count is always the file's.
pub fn auto_mpg(root: &Path) -> Result<Dataset, Error> {
    const TARGET: &str = "mpg";
    const DROPPED: &str = "name";
    let path = root.join("tabular/Auto.csv");
    let file = file_name(&path);
    let text = read_text(&path)?;
    let mut lines = data_lines(&text);
    let Some((header_line, header)) = lines.next() else {
        return Err(data_error(&file, "line 1", "the file is empty"));
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name: &str| {
        columns.iter().position(|c| *c == name).ok_or_else(|| {
            data_error(
                &file,
                at_line(header_line),
                format!("no column {name:?} in the header"),
            )
        })
    };
    let target_col = find(TARGET)?;
    let dropped_col = find(DROPPED)?;
    let feature_cols: Vec<usize> = (0..columns.len())
        .filter(|&c| c != target_col && c != dropped_col)
        .collect();

    let mut x = Vec::new();
    let mut values = Vec::new();
    for (line, row) in lines {
        // The name is free text and the last column, so it keeps any commas.
        let fields: Vec<&str> = row.splitn(columns.len(), ',').map(str::trim).collect();
        expect_fields(&fields, columns.len(), &file, line)?;
        values.push(parse_number(fields[target_col], TARGET, &file, line)?);
        for &c in &feature_cols {
            x.push(parse_number(fields[c], columns[c], &file, line)?);
        }
    }
    // ISLP's Auto: 392 cars (the header names columns, not a count).
    expect_count(&file, "cars", values.len(), 392)?;
    Ok(Dataset {
        name: "auto_mpg".into(),
        x,
        sample_shape: vec![feature_cols.len()],
        target: Target::Values { values, outputs: 1 },
        feature_names: feature_cols
            .iter()
            .map(|&c| columns[c].to_string())
            .collect(),
    })
}
