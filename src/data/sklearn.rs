//! scikit-learn's bundled tabular data sets: iris, wine, breast cancer
//! (classification) and diabetes (regression).
//!
//! The classification files share one convention: the first line is
//! `samples,features,class names...`, then one line per sample with the
//! features and the class index last. The files carry no feature names, so
//! the names here are sklearn's.

use std::path::Path;

use crate::error::Error;

use super::dataset::{Dataset, Target};
use super::fields::{
    Separator, at_line, data_lines, expect_fields, parse_label, parse_number, split_fields,
};
use super::source::{data_error, expect_count, file_name, read_text};

/// Iris: 150 flowers x 4 measurements, 3 classes of 50.
pub fn iris(root: &Path) -> Result<Dataset, Error> {
    let names = [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    ];
    read_classification(&root.join("tabular/iris.csv"), "iris", &names)
}

/// Wine: 178 wines x 13 chemical measurements, 3 cultivars.
pub fn wine(root: &Path) -> Result<Dataset, Error> {
    let names = [
        "alcohol",
        "malic_acid",
        "ash",
        "alcalinity_of_ash",
        "magnesium",
        "total_phenols",
        "flavanoids",
        "nonflavanoid_phenols",
        "proanthocyanins",
        "color_intensity",
        "hue",
        "od280/od315_of_diluted_wines",
        "proline",
    ];
    read_classification(&root.join("tabular/wine_data.csv"), "wine", &names)
}

/// Breast cancer (Wisconsin diagnostic): 569 tumours x 30 features, 2 classes
/// (0 malignant, 1 benign).
pub fn breast_cancer(root: &Path) -> Result<Dataset, Error> {
    let measures = [
        "radius",
        "texture",
        "perimeter",
        "area",
        "smoothness",
        "compactness",
        "concavity",
        "concave points",
        "symmetry",
        "fractal dimension",
    ];
    // sklearn's column order: the 10 means, then their standard errors, then the worst values.
    let names: Vec<String> = measures
        .iter()
        .map(|m| format!("mean {m}"))
        .chain(measures.iter().map(|m| format!("{m} error")))
        .chain(measures.iter().map(|m| format!("worst {m}")))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    read_classification(
        &root.join("tabular/breast_cancer.csv"),
        "breast_cancer",
        &names,
    )
}

/// Reads a file in sklearn's classification CSV convention, checking the
/// header's counts against the rows and `feature_names`.
fn read_classification(path: &Path, name: &str, feature_names: &[&str]) -> Result<Dataset, Error> {
    let file = file_name(path);
    let text = read_text(path)?;
    let mut lines = data_lines(&text);
    let Some((header_line, header)) = lines.next() else {
        return Err(data_error(&file, "line 1", "the file is empty"));
    };
    let header = split_fields(header, Separator::Comma);
    let count = |i: usize, what: &str| -> Result<usize, Error> {
        header
            .get(i)
            .and_then(|f| f.parse::<usize>().ok())
            .ok_or_else(|| {
                data_error(
                    &file,
                    at_line(header_line),
                    format!("the header must start with the {what} count (samples,features,class names...)"),
                )
            })
    };
    let samples = count(0, "sample")?;
    let features = count(1, "feature")?;
    let classes = header.len() - 2;
    if features != feature_names.len() {
        return Err(data_error(
            &file,
            at_line(header_line),
            format!(
                "the header says {features} features; {name} has {}",
                feature_names.len()
            ),
        ));
    }
    if classes == 0 {
        return Err(data_error(
            &file,
            at_line(header_line),
            "the header names no classes",
        ));
    }

    let mut x = Vec::with_capacity(samples * features);
    let mut labels = Vec::with_capacity(samples);
    for (line, row) in lines {
        let fields = split_fields(row, Separator::Comma);
        expect_fields(&fields, features + 1, &file, line)?;
        for (field, feature) in fields.iter().zip(feature_names) {
            x.push(parse_number(field, feature, &file, line)?);
        }
        labels.push(parse_label(fields[features], classes, &file, line)?);
    }
    if labels.len() != samples {
        return Err(data_error(
            &file,
            at_line(header_line),
            format!(
                "the header says {samples} samples; the file has {}",
                labels.len()
            ),
        ));
    }
    Ok(Dataset {
        name: name.into(),
        x,
        sample_shape: vec![features],
        target: Target::Classes { labels, classes },
        feature_names: feature_names.iter().map(|s| s.to_string()).collect(),
    })
}

/// Diabetes: 442 patients x 10 baseline measurements (raw, unscaled: age,
/// sex, bmi, bp, s1..s6 blood serum), target = disease progression one year
/// later, as `Target::Values` with 1 output. Features come from the
/// space-separated `diabetes_data_raw.csv.gz`, targets one a line from
/// `diabetes_target.csv.gz`.
pub fn diabetes(root: &Path) -> Result<Dataset, Error> {
    let names = [
        "age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6",
    ];
    let data_path = root.join("tabular/diabetes_data_raw.csv.gz");
    let target_path = root.join("tabular/diabetes_target.csv.gz");
    let data_file = file_name(&data_path);
    let target_file = file_name(&target_path);

    let data_text = read_text(&data_path)?;
    let mut x = Vec::new();
    for (line, row) in data_lines(&data_text) {
        let fields = split_fields(row, Separator::Whitespace);
        expect_fields(&fields, names.len(), &data_file, line)?;
        for (field, feature) in fields.iter().zip(names) {
            x.push(parse_number(field, feature, &data_file, line)?);
        }
    }
    let samples = x.len() / names.len();
    // sklearn's diabetes: 442 patients (neither file has a header).
    expect_count(&data_file, "samples", samples, 442)?;

    let target_text = read_text(&target_path)?;
    let mut values = Vec::with_capacity(samples);
    let mut last_line = 0;
    for (line, row) in data_lines(&target_text) {
        let fields = split_fields(row, Separator::Whitespace);
        expect_fields(&fields, 1, &target_file, line)?;
        values.push(parse_number(fields[0], "target", &target_file, line)?);
        last_line = line;
    }
    if values.len() != samples {
        return Err(data_error(
            &target_file,
            at_line(last_line + 1),
            format!(
                "{} targets for {samples} samples in {data_file}",
                values.len()
            ),
        ));
    }
    Ok(Dataset {
        name: "diabetes".into(),
        x,
        sample_shape: vec![names.len()],
        target: Target::Values { values, outputs: 1 },
        feature_names: names.iter().map(|s| s.to_string()).collect(),
    })
}
