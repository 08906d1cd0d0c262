//! stack, split and chunk against the float64 references: values on odd
//! shapes and every axis, pieces' sizes as torch.split and torch.chunk cut
//! them, gradients (whose references are checked by finite differences), and
//! typed errors for bad arguments.

use crate::common::*;
use shadergrad::{DType, Error, Tensor};
use shadergrad_reference::movement::{split, split_backward, stack, stack_backward};
use shadergrad_reference::widen;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn stack_on_every_axis_and_its_gradient() {
    let mut r = rng(300);
    let shape = [3, 5];
    let vals: Vec<Vec<f32>> = (0..3).map(|_| uniform(&mut r, 15, -1.0, 1.0)).collect();
    let wide: Vec<Vec<f64>> = vals.iter().map(|v| widen(v)).collect();
    let views: Vec<&[f64]> = wide.iter().map(|v| v.as_slice()).collect();
    for axis in [0isize, 1, 2, -1, -3] {
        let ax = axis.rem_euclid(3) as usize;
        let xs: Vec<Tensor> = vals
            .iter()
            .map(|v| shadergrad::nn::parameter(tensor(v, &shape)).unwrap())
            .collect();
        let y = Tensor::stack(&xs.iter().collect::<Vec<_>>(), axis).unwrap();
        let mut want_shape = shape.to_vec();
        want_shape.insert(ax, 3);
        assert_eq!(y.shape(), &want_shape, "stack axis {axis}");
        let what = format!("stack axis {axis}");
        assert_close(&what, &read(&y), &stack(&views, &shape, ax), 0.0, 0.0);
        let u = uniform(&mut r, 45, -1.0, 1.0);
        y.backward_with(&tensor(&u, y.shape())).unwrap();
        let want = stack_backward(&widen(&u), &shape, 3, ax);
        for (k, x) in xs.iter().enumerate() {
            let g = read(&x.grad().unwrap());
            assert_close(&format!("{what} d/dx{k}"), &g, &want[k], 0.0, 0.0);
        }
    }
}

#[test]
fn split_and_chunk_cut_like_torch_and_route_the_gradient_back() {
    let mut r = rng(301);
    let shape = [7, 5];
    let v = uniform(&mut r, 35, -1.0, 1.0);
    // (how it is cut, axis, the sizes torch gives)
    type Cut = Box<dyn Fn(&Tensor) -> shadergrad::Result<Vec<Tensor>>>;
    let cases: Vec<(&str, Cut, usize, Vec<usize>)> = vec![
        ("split 3", Box::new(|x| x.split(3, 0)), 0, vec![3, 3, 1]),
        (
            "split list",
            Box::new(|x| x.split(&[1, 0, 4, 2], 0)),
            0,
            vec![1, 0, 4, 2],
        ),
        (
            "split 2 last",
            Box::new(|x| x.split(2, -1)),
            1,
            vec![2, 2, 1],
        ),
        ("split 9", Box::new(|x| x.split(9, 1)), 1, vec![5]),
        ("chunk 3", Box::new(|x| x.chunk(3, 0)), 0, vec![3, 3, 1]),
        // torch.chunk(5 elements, 4) gives 3 pieces: 2, 2, 1.
        ("chunk 4", Box::new(|x| x.chunk(4, 1)), 1, vec![2, 2, 1]),
        ("chunk 9", Box::new(|x| x.chunk(9, 1)), 1, vec![1; 5]),
    ];
    for (what, cut, axis, sizes) in cases {
        let x = shadergrad::nn::parameter(tensor(&v, &shape)).unwrap();
        let pieces = cut(&x).unwrap();
        let want = split(&widen(&v), &shape, axis, &sizes);
        assert_eq!(pieces.len(), sizes.len(), "{what}: piece count");
        // The last piece reaches no loss: its part of the gradient is zero.
        let mut loss: Option<Tensor> = None;
        let mut seeds = Vec::new();
        for (k, (p, w)) in pieces.iter().zip(&want).enumerate() {
            assert_eq!(p.shape()[axis], sizes[k], "{what}: piece {k}");
            assert_close(&format!("{what} piece {k}"), &read(p), w, 0.0, 0.0);
            if k + 1 == pieces.len() {
                seeds.push(None);
                continue;
            }
            let u = uniform(&mut r, p.numel(), -1.0, 1.0);
            let term = p.mul(&tensor(&u, p.shape())).unwrap().sum_all().unwrap();
            loss = Some(match loss {
                Some(l) => l.add(&term).unwrap(),
                None => term,
            });
            seeds.push(Some(widen(&u)));
        }
        if let Some(loss) = loss {
            loss.backward().unwrap();
            let want = split_backward(&seeds, &shape, axis, &sizes);
            let g = read(&x.grad().unwrap());
            assert_close(&format!("{what} gradient"), &g, &want, 1e-6, 1e-6);
        }
    }
}

#[test]
fn the_reference_gradients_match_finite_differences() {
    let mut r = rng(302);
    let shape = [3, 4];
    let xs: Vec<Vec<f64>> = (0..2)
        .map(|_| widen(&uniform(&mut r, 12, -1.0, 1.0)))
        .collect();
    let u = widen(&uniform(&mut r, 24, -1.0, 1.0));
    let loss = |v: &[Vec<f64>]| dot(&u, &stack(&[&v[0], &v[1]], &shape, 1));
    let fd = finite_differences(&[&xs[0], &xs[1]], loss);
    let want = stack_backward(&u, &shape, 2, 1);
    for k in 0..2 {
        assert_matches_differences(&format!("stack d/dx{k}"), &want[k], &fd[k]);
    }
    let sizes = [1, 2, 1];
    // One piece reaches no loss: its part of the gradient is zero.
    let seeds = [Some(vec![u[0]]), None, Some(vec![u[1]])];
    let loss = |v: &[Vec<f64>]| {
        let p = split(&v[0], &[4, 1], 0, &sizes);
        seeds
            .iter()
            .zip(&p)
            .filter_map(|(s, p)| s.as_ref().map(|s| dot(s, p)))
            .sum()
    };
    let x = widen(&uniform(&mut r, 4, -1.0, 1.0));
    let fd = finite_differences(&[&x], loss);
    let want = split_backward(&seeds, &[4, 1], 0, &sizes);
    assert_matches_differences("split", &want, &fd[0]);
}

#[test]
fn empty_axes_and_bad_arguments() {
    let x = tensor(&[0.0; 6], &[2, 3]);
    let e = Tensor::zeros(dev(), &[0, 3], DType::F32).unwrap();
    // torch.split of an empty axis: one empty piece; torch.chunk: `chunks` of them.
    assert_eq!(e.split(2, 0).unwrap().len(), 1);
    assert_eq!(e.split(0, 0).unwrap().len(), 1);
    let c = e.chunk(3, 0).unwrap();
    assert_eq!(c.len(), 3);
    assert!(c.iter().all(|p| p.shape() == [0, 3]));
    let bad = |r: shadergrad::Result<Vec<Tensor>>, op: &str| match r {
        Err(Error::InvalidArgument { op: o, shape, .. }) => {
            assert_eq!((o, shape.as_slice()), (op, &[2usize, 3][..]))
        }
        other => panic!("{op}: expected InvalidArgument, got {other:?}"),
    };
    bad(x.split(0, 1), "split");
    bad(x.split(&[1, 1], 1), "split");
    bad(x.split(&[2, 2], 1), "split");
    bad(x.chunk(0, 0), "chunk");
    assert!(matches!(
        x.split(1, 2),
        Err(Error::InvalidAxis { op: "split", .. })
    ));
    assert!(matches!(
        x.chunk(2, -3),
        Err(Error::InvalidAxis { op: "chunk", .. })
    ));
    let s = tensor(&[1.0], &[]);
    assert!(matches!(
        s.split(1, 0),
        Err(Error::InvalidArgument { op: "split", .. })
    ));
    assert!(matches!(
        s.chunk(1, 0),
        Err(Error::InvalidArgument { op: "chunk", .. })
    ));
    // stack: nothing, different shapes or dtypes, an axis past rank + 1.
    assert!(matches!(
        Tensor::stack(&[], 0),
        Err(Error::InvalidArgument { op: "stack", .. })
    ));
    let y = tensor(&[0.0; 6], &[3, 2]);
    let err = Tensor::stack(&[&x, &y], 0).unwrap_err();
    assert!(
        matches!(&err, Error::ShapeMismatch { op: "stack", lhs, rhs, .. } if lhs == &[2, 3] && rhs == &[3, 2]),
        "{err}"
    );
    let i = Tensor::from_slice(dev(), &[0i32; 6], &[2, 3]).unwrap();
    assert!(matches!(
        Tensor::stack(&[&x, &i], 0),
        Err(Error::DTypeMismatch { op: "stack", .. })
    ));
    assert!(matches!(
        Tensor::stack(&[&x, &x], 3),
        Err(Error::InvalidAxis { op: "stack", .. })
    ));
    assert_eq!(Tensor::stack(&[&x, &x], -3).unwrap().shape(), &[2, 2, 3]);
}

/// Gradients of many slices of one tensor (an RNN's per-step input
/// projections) join as blocks: disjoint slices with gaps between them, or
/// overlapping ones (the same slice twice), beside a slice of a strided view
/// (not a contiguous block), all sum as they should.
#[test]
fn gradients_of_many_slices_join_and_still_sum() {
    let (rows, cols) = (9, 5);
    // (start row, rows, weight).
    let disjoint = [(0, 2, 1.0), (3, 1, 2.0), (5, 1, 3.0), (7, 2, 6.0)];
    let overlapping = [
        (0, 2, 1.0),
        (5, 1, 3.0),
        (5, 1, 4.0),
        (6, 3, 5.0),
        (7, 2, 6.0),
    ];
    for slices in [&disjoint[..], &overlapping] {
        let x = tensor(&vec![0.0; rows * cols], &[rows, cols]);
        x.set_requires_grad(true).unwrap();
        // Column 1 of every row, weighted 7: not a block.
        let mut loss = x
            .narrow(1, 1, 1)
            .unwrap()
            .sum_all()
            .unwrap()
            .mul(7.0)
            .unwrap();
        for &(start, n, w) in slices {
            let part = x.narrow(0, start, n).unwrap().reshape(&[n * cols]).unwrap();
            loss = loss.add(&part.sum_all().unwrap().mul(w).unwrap()).unwrap();
        }
        loss.backward().unwrap();
        let mut want = vec![0.0f64; rows * cols];
        for &(start, n, w) in slices {
            want[start * cols..(start + n) * cols]
                .iter_mut()
                .for_each(|v| *v += w);
        }
        (0..rows).for_each(|r| want[r * cols + 1] += 7.0);
        assert_close(
            "slice gradients",
            &read(&x.grad().unwrap()),
            &want,
            0.0,
            0.0,
        );
    }
}
