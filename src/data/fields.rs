//! Numbers in delimited text lines, with 1-based line numbers for errors.

use crate::error::Error;

use super::source::data_error;

/// How the fields of a line are separated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Separator {
    Comma,
    /// Runs of spaces or tabs (sklearn's raw diabetes file).
    Whitespace,
}

/// The non-blank lines of `text` with their 1-based line numbers; blank lines
/// (a trailing newline, a stray empty line) carry no data.
pub(crate) fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim().is_empty())
}

/// The fields of one line, trimmed.
pub(crate) fn split_fields(line: &str, sep: Separator) -> Vec<&str> {
    match sep {
        Separator::Comma => line.split(',').map(str::trim).collect(),
        Separator::Whitespace => line.split_whitespace().collect(),
    }
}

/// Where an error points, in the `at` field's "line N" form.
pub(crate) fn at_line(line: usize) -> String {
    format!("line {line}")
}

/// A finite number. `what` names the column for the message.
pub(crate) fn parse_number(field: &str, what: &str, file: &str, line: usize) -> Result<f32, Error> {
    match field.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        // NaN and infinities parse, but a data set has no use for them and
        // they would poison every statistic computed from it.
        Ok(_) => Err(data_error(
            file,
            at_line(line),
            format!("{what}: {field:?} is not a finite number"),
        )),
        Err(_) if field == "?" || field.is_empty() => Err(data_error(
            file,
            at_line(line),
            format!("{what}: missing value {field:?}"),
        )),
        Err(_) => Err(data_error(
            file,
            at_line(line),
            format!("{what}: {field:?} is not a number"),
        )),
    }
}

/// A class label in `0..classes`.
pub(crate) fn parse_label(
    field: &str,
    classes: usize,
    file: &str,
    line: usize,
) -> Result<i32, Error> {
    match field.parse::<i32>() {
        Ok(label) if label >= 0 && (label as usize) < classes => Ok(label),
        Ok(label) => Err(data_error(
            file,
            at_line(line),
            format!("label {label} is outside 0..{classes}"),
        )),
        Err(_) => Err(data_error(
            file,
            at_line(line),
            format!("label {field:?} is not an integer"),
        )),
    }
}

/// Checks a row's width, so a short or long row is named by its line.
pub(crate) fn expect_fields(
    fields: &[&str],
    expected: usize,
    file: &str,
    line: usize,
) -> Result<(), Error> {
    if fields.len() == expected {
        Ok(())
    } else {
        Err(data_error(
            file,
            at_line(line),
            format!("{} fields, expected {expected}", fields.len()),
        ))
    }
}
