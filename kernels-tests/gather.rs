//! gather, index_select (embedding lookup) and one_hot against float64, and
//! out-of-range indices reported as errors at readback, never read out of bounds.

use crate::common::*;
use shadergrad::{Error, Tensor};
use shadergrad_reference::gather as reference;
use shadergrad_reference::widen;

fn idx(v: &[i32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(dev(), v, shape).unwrap()
}

#[test]
fn gather_along_each_axis() {
    let mut r = rng(40);
    let shape = [3, 5, 4];
    let v = uniform(&mut r, 60, -1.0, 1.0);
    let x = tensor(&v, &shape);
    for axis in 0..3 {
        // Index smaller than x outside `axis`, odd-sized along it.
        let ishape = [2, 3, 3];
        let n: usize = ishape.iter().product();
        let ind: Vec<i32> = (0..n)
            .map(|i| ((i * 7 + axis) % shape[axis]) as i32)
            .collect();
        let y = x.gather(axis as isize, &idx(&ind, &ishape)).unwrap();
        let positions: Vec<usize> = ind.iter().map(|&i| i as usize).collect();
        let want = reference::gather(&widen(&v), &shape, axis, &positions, &ishape);
        assert_close(&format!("gather axis {axis}"), &read(&y), &want, 0.0, 0.0);
    }
}

#[test]
fn index_select_is_an_embedding_lookup() {
    let mut r = rng(41);
    let (vocab, dim) = (11, 7);
    let table = uniform(&mut r, vocab * dim, -1.0, 1.0);
    let ids = [3i32, 0, 10, 3, 7];
    let e = tensor(&table, &[vocab, dim])
        .index_select(0, &idx(&ids, &[5]))
        .unwrap();
    assert_eq!(e.shape(), &[5, dim]);
    let rows: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
    let want = reference::index_select_rows(&widen(&table), dim, &rows);
    assert_close("embedding", &read(&e), &want, 0.0, 0.0);
    // Along the last axis of a transposed view: strided source, strided index.
    let cols = tensor(&table, &[vocab, dim])
        .t()
        .unwrap()
        .index_select(1, &idx(&[1, 9], &[2]))
        .unwrap();
    let want: Vec<f64> = (0..dim)
        .flat_map(|j| [1usize, 9].map(|i| table[i * dim + j] as f64))
        .collect();
    assert_close("index_select axis 1", &read(&cols), &want, 0.0, 0.0);
}

#[test]
fn one_hot_of_labels() {
    let labels = idx(&[2, 0, 4, 1], &[4]);
    let h = labels.one_hot(5).unwrap();
    assert_eq!(h.shape(), &[4, 5]);
    let mut want = vec![0.0; 20];
    for (i, &l) in [2usize, 0, 4, 1].iter().enumerate() {
        want[i * 5 + l] = 1.0;
    }
    assert_close("one_hot", &read(&h), &want, 0.0, 0.0);
}

#[test]
fn out_of_range_indices_are_errors_not_reads() {
    let d = shadergrad::Device::new().unwrap();
    let x = Tensor::from_slice(&d, &[1.0f32, 2.0, 3.0], &[3]).unwrap();
    let bad = Tensor::from_slice(&d, &[0i32, 3], &[2]).unwrap();
    let y = x.index_select(0, &bad).unwrap();
    assert!(matches!(
        y.to_vec::<f32>(),
        Err(Error::IndexOutOfRange { op: "gather" })
    ));
    // The flag is cleared once reported.
    let ok = Tensor::from_slice(&d, &[2i32, 1], &[2]).unwrap();
    assert_eq!(
        x.index_select(0, &ok).unwrap().to_vec::<f32>().unwrap(),
        vec![3.0, 2.0]
    );
    let neg = Tensor::from_slice(&d, &[-1i32], &[1]).unwrap();
    assert!(x.index_select(0, &neg).unwrap().to_vec::<f32>().is_err());
    let label = Tensor::from_slice(&d, &[1i32, 5], &[2]).unwrap();
    assert!(matches!(
        label.one_hot(3).unwrap().to_vec::<f32>(),
        Err(Error::IndexOutOfRange { .. })
    ));
}
