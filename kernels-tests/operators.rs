//! Rust operators on tensor references, Display, item() and copy(): the
//! habits a PyTorch user brings.

use crate::common::*;
use shadergrad::{DType, Result, Tensor};

#[test]
fn operators_record_the_ops_and_chain_with_question_marks() -> Result<()> {
    let a = tensor(&[1.0, 2.0, 3.0], &[3]);
    let b = tensor(&[0.5, -1.0, 4.0], &[3]);
    assert_eq!(read(&(&a + &b)?), vec![1.5, 1.0, 7.0]);
    assert_eq!(read(&(&a - &b)?), vec![0.5, 3.0, -1.0]);
    assert_eq!(read(&(&a * &b)?), vec![0.5, -2.0, 12.0]);
    assert_eq!(read(&(&a / &b)?), vec![2.0, -2.0, 0.75]);
    assert_eq!(read(&(&a * 2.0)?), vec![2.0, 4.0, 6.0]);
    assert_eq!(read(&(&a + 1.0f32)?), vec![2.0, 3.0, 4.0]);
    assert_eq!(read(&(-&a)?), vec![-1.0, -2.0, -3.0]);
    assert_eq!(read(&(&(&a + &b)? * 0.5)?), vec![0.75, 0.5, 3.5]);
    // Shapes are still checked when recorded.
    assert!((&a + &tensor(&[1.0, 2.0], &[2])).is_err());
    Ok(())
}

#[test]
fn display_shows_the_values_as_pytorch_does() -> Result<()> {
    let m = tensor(&[1.0, -2.5, 3.0, 0.25], &[2, 2]);
    assert_eq!(
        m.to_string(),
        "tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  0.2500]])"
    );
    let i = Tensor::from_slice(dev(), &[3i32, -1, 20], &[3])?;
    assert_eq!(i.to_string(), "tensor([ 3, -1, 20], dtype=i32)");
    assert_eq!(tensor(&[2.5], &[]).to_string(), "tensor(2.5000)");
    let big = tensor(&[1e9, 1.0], &[2]);
    assert_eq!(big.to_string(), "tensor([1.0000e+09, 1.0000e+00])");
    let nan = tensor(&[f32::NAN, f32::INFINITY], &[2]);
    assert_eq!(nan.to_string(), "tensor([nan, inf])");
    assert_eq!(
        tensor(&[1.0, 0.0], &[2]).gt(0.5)?.to_string(),
        "tensor([ True, False], dtype=bool)"
    );
    // Large tensors are summarised: the first and last 3 along each axis.
    let v: Vec<f32> = (0..2000).map(|x| x as f32).collect();
    let s = tensor(&v, &[2000]).to_string();
    assert!(
        s.starts_with("tensor([   0.0000,    1.0000,    2.0000, ...,"),
        "{s}"
    );
    assert!(s.ends_with("1999.0000])"), "{s}");
    Ok(())
}

#[test]
fn item_and_copy() -> Result<()> {
    let x = tensor(&[4.0], &[1]);
    assert_eq!(x.item::<f32>()?, 4.0);
    assert!(tensor(&[1.0, 2.0], &[2]).item::<f32>().is_err());
    // copy() owns its buffer: it is realized, and the original's handle is not it.
    let a = tensor(&[1.0, 2.0], &[2]);
    let c = a.copy()?;
    assert!(c.is_realized());
    assert_eq!(read(&c), vec![1.0, 2.0]);
    let lazy = a.mul(3.0)?;
    assert_eq!(read(&lazy.copy()?), vec![3.0, 6.0]);
    assert_eq!(
        Tensor::zeros(dev(), &[2], DType::I32)?.copy()?.dtype(),
        DType::I32
    );
    Ok(())
}
