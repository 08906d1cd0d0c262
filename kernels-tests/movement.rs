//! Views (permute, slice, expand, reshape) and concat: checked by reading them
//! back, which runs the fused copy through the view's index math.

use crate::common::*;
use shadergrad::Tensor;

fn seq(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

/// Element of a row-major tensor at `c`.
fn at(data: &[f32], shape: &[usize], c: &[usize]) -> f64 {
    let s = strides(shape);
    data[c.iter().zip(&s).map(|(a, b)| a * b).sum::<usize>()] as f64
}

#[test]
fn permute_and_transpose() {
    let shape = [3, 4, 5];
    let v = seq(60);
    let x = tensor(&v, &shape);
    let p = x.permute(&[2, 0, 1]).unwrap();
    assert_eq!(p.shape(), &[5, 3, 4]);
    let want: Vec<f64> = (0..60)
        .map(|i| {
            let c = coords(i, &[5, 3, 4]);
            at(&v, &shape, &[c[1], c[2], c[0]])
        })
        .collect();
    assert_close("permute", &read(&p), &want, 0.0, 0.0);
    let t = x.transpose(0, -1).unwrap();
    let want: Vec<f64> = (0..60)
        .map(|i| {
            let c = coords(i, &[5, 4, 3]);
            at(&v, &shape, &[c[2], c[1], c[0]])
        })
        .collect();
    assert_close("transpose", &read(&t), &want, 0.0, 0.0);
}

#[test]
fn slices_with_steps_compose() {
    let shape = [7, 9];
    let v = seq(63);
    let x = tensor(&v, &shape);
    // rows 1, 3, 5; columns 2..8 step 3 -> 2, 5; then the transpose of that.
    let s = x
        .slice(0, 1, 7, 2)
        .unwrap()
        .slice(1, 2, 8, 3)
        .unwrap()
        .t()
        .unwrap();
    assert_eq!(s.shape(), &[2, 3]);
    let want: Vec<f64> = [2, 5]
        .iter()
        .flat_map(|&c| [1, 3, 5].map(|r| at(&v, &shape, &[r, c])))
        .collect();
    assert_close("slice", &read(&s), &want, 0.0, 0.0);
    let n = x.narrow(-1, 8, 1).unwrap();
    assert_eq!(
        read(&n),
        (0..7).map(|r| (r * 9 + 8) as f32).collect::<Vec<_>>()
    );
}

#[test]
fn reshape_of_a_transpose_reads_in_the_new_order() {
    let v = seq(24);
    let x = tensor(&v, &[4, 6]);
    // A transposed view cannot be flattened by strides: the planner decodes it.
    let r = x.t().unwrap().reshape(&[3, 8]).unwrap();
    let want: Vec<f64> = (0..24)
        .map(|i| {
            let c = coords(i, &[6, 4]);
            at(&v, &[4, 6], &[c[1], c[0]])
        })
        .collect();
    assert_close("reshape(t)", &read(&r), &want, 0.0, 0.0);
    let f = x
        .unsqueeze(1)
        .unwrap()
        .flatten(0, 1)
        .unwrap()
        .squeeze(0)
        .err();
    assert!(f.is_some(), "squeezing a dim of size 4 is an error");
    let u = x.unsqueeze(0).unwrap().unsqueeze(-1).unwrap();
    assert_eq!(u.shape(), &[1, 4, 6, 1]);
    assert_eq!(read(&u.squeeze(0).unwrap().flatten(0, -1).unwrap()), v);
}

#[test]
fn broadcast_reads_one_value_many_times() {
    let x = tensor(&[1.0, 2.0, 3.0], &[3, 1]);
    let b = x.broadcast_to(&[2, 3, 4]).unwrap();
    let want: Vec<f64> = (0..24)
        .map(|i| (coords(i, &[2, 3, 4])[1] + 1) as f64)
        .collect();
    assert_close("broadcast", &read(&b), &want, 0.0, 0.0);
    assert!(x.broadcast_to(&[3, 2, 2]).is_err());
}

#[test]
fn cat_joins_along_any_axis() {
    let (a, b, c) = (seq(2 * 3), seq(2 * 4 * 3), seq(2 * 2 * 3));
    let (ta, tb, tc) = (
        tensor(&a, &[2, 1, 3]),
        tensor(&b, &[2, 4, 3]),
        tensor(&c, &[2, 2, 3]),
    );
    let y = Tensor::cat(&[&ta, &tb.mul(-1.0).unwrap(), &tc], 1).unwrap();
    assert_eq!(y.shape(), &[2, 7, 3]);
    let want: Vec<f64> = (0..42)
        .map(|i| {
            let k = coords(i, &[2, 7, 3]);
            match k[1] {
                0 => at(&a, &[2, 1, 3], &[k[0], 0, k[2]]),
                1..=4 => -at(&b, &[2, 4, 3], &[k[0], k[1] - 1, k[2]]),
                _ => at(&c, &[2, 2, 3], &[k[0], k[1] - 5, k[2]]),
            }
        })
        .collect();
    assert_close("cat", &read(&y), &want, 0.0, 0.0);
    // An empty input adds nothing (a kernel decoding its shape would divide by 0).
    let empty = tb.narrow(1, 2, 0).unwrap();
    let y = Tensor::cat(&[&ta, &empty, &tc], 1).unwrap();
    assert_eq!(y.shape(), &[2, 3, 3]);
    let want: Vec<f64> = (0..18)
        .map(|i| {
            let k = coords(i, &[2, 3, 3]);
            match k[1] {
                0 => at(&a, &[2, 1, 3], &[k[0], 0, k[2]]),
                _ => at(&c, &[2, 2, 3], &[k[0], k[1] - 1, k[2]]),
            }
        })
        .collect();
    assert_close("cat with an empty input", &read(&y), &want, 0.0, 0.0);
    let last = Tensor::cat(&[&ta, &ta], -1).unwrap();
    assert_eq!(last.shape(), &[2, 1, 6]);
    assert_eq!(
        read(&last),
        vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 3.0, 4.0, 5.0]
    );
    // Forty uploaded tensors: more inputs than one kernel may bind anywhere.
    let parts: Vec<Tensor> = (0..40)
        .map(|i| tensor(&[i as f32, -(i as f32)], &[1, 2]))
        .collect();
    let many = Tensor::cat(&parts.iter().collect::<Vec<_>>(), 0).unwrap();
    assert_eq!(many.shape(), &[40, 2]);
    let want: Vec<f64> = (0..40).flat_map(|i| [i as f64, -(i as f64)]).collect();
    assert_close("cat of 40", &read(&many), &want, 0.0, 0.0);
}

#[test]
fn contiguous_copies_only_views() {
    let x = tensor(&seq(6), &[2, 3]);
    let c = x.t().unwrap().contiguous().unwrap();
    c.realize().unwrap();
    assert_eq!(read(&c), vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
    // The copy is its own buffer: its reshape is a plain view again.
    assert_eq!(
        read(&c.reshape(&[6]).unwrap()),
        vec![0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    );
}
