//! i64 at the API boundary: labels and indices arrive as i64 (as PyTorch's
//! do) and are stored as the engine's i32. Uploads narrow them exactly and
//! refuse a value outside i32's range by name; reads widen an i32 tensor.

use crate::common::*;
use shadergrad::{DType, Error, Tensor, loss};
use shadergrad_reference::cross_entropy::CrossEntropy;
use shadergrad_reference::widen;

#[test]
fn i64_uploads_as_i32_and_reads_back_exactly() {
    let v: Vec<i64> = vec![0, -1, 7, i32::MAX as i64, i32::MIN as i64, 123_456];
    let t = Tensor::from_slice(dev(), &v, &[2, 3]).unwrap();
    assert_eq!(t.dtype(), DType::I32);
    let narrow: Vec<i32> = v.iter().map(|&x| x as i32).collect();
    assert_eq!(t.to_vec::<i32>().unwrap(), narrow);
    assert_eq!(t.to_vec::<i64>().unwrap(), v);
    // Computed i32 values read as i64 too; so do scalars.
    let s = t.add(1).unwrap().slice(1, 1, 3, 1).unwrap();
    assert_eq!(
        s.to_vec::<i64>().unwrap(),
        vec![0, 8, i32::MIN as i64 + 1, 123_457]
    );
    let one = Tensor::scalar(dev(), -5i64).unwrap();
    assert_eq!(one.item::<i64>().unwrap(), -5);
    // Odd counts: no padding word reads back as an element.
    let odd = Tensor::from_slice(dev(), &[3i64, 4, 5], &[3]).unwrap();
    assert_eq!(odd.to_vec::<i64>().unwrap(), vec![3, 4, 5]);
}

#[test]
fn a_value_outside_i32_is_a_typed_error() {
    for (v, at) in [(vec![1i64, 2, 1 << 31], 2), (vec![-(1i64 << 31) - 1, 0], 0)] {
        let e = Tensor::from_slice(dev(), &v, &[v.len()]).unwrap_err();
        match &e {
            Error::ValueOutOfRange {
                op: "from_slice",
                shape,
                index,
                value,
                dtype,
            } => {
                assert_eq!(
                    (shape.as_slice(), *index, *dtype),
                    (&[v.len()][..], at, DType::I32)
                );
                assert_eq!(value, &v[at].to_string());
            }
            other => panic!("expected ValueOutOfRange, got {other:?}"),
        }
        assert!(e.to_string().contains("from_slice"), "{e}");
    }
    // A float tensor is not read as i64.
    assert!(matches!(
        tensor(&[1.0], &[1]).to_vec::<i64>(),
        Err(Error::DTypeMismatch { op: "to_vec", .. })
    ));
}

#[test]
fn i64_labels_and_indices_drive_the_ops_that_take_them() {
    let mut r = rng(350);
    let (rows, classes) = (5, 7);
    let logits = uniform(&mut r, rows * classes, -2.0, 2.0);
    let labels: Vec<i64> = vec![3, 0, 6, 2, 6];
    let x = tensor(&logits, &[rows, classes]);
    let y = Tensor::from_slice(dev(), &labels, &[rows]).unwrap();
    let l = loss::cross_entropy(&x, &y).unwrap();
    let positions: Vec<usize> = labels.iter().map(|&c| c as usize).collect();
    let narrow: Vec<i32> = labels.iter().map(|&c| c as i32).collect();
    let want = CrossEntropy::new(classes).mean(&widen(&logits), &narrow).0;
    assert_close(
        "cross_entropy with i64 labels",
        &read(&l),
        &[want],
        1e-5,
        1e-6,
    );
    let picked = x.index_select(1, &y).unwrap();
    assert_eq!(picked.shape(), &[rows, rows]);
    let want: Vec<f64> = (0..rows * rows)
        .map(|e| logits[(e / rows) * classes + positions[e % rows]] as f64)
        .collect();
    assert_close(
        "index_select with i64 indices",
        &read(&picked),
        &want,
        0.0,
        0.0,
    );
}
