//! What the PyTorch fixture tests share: the fixtures' paths and the match.

use shadergrad::Tensor;

/// tests/fixtures/torch-NAME.safetensors (scripts/make-*-fixtures.py).
pub fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/torch-{name}.safetensors",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Within 1e-5 of the largest |want|; a tensor that is zero in exact
/// arithmetic (a conv's bias gradient ahead of batch norm) within 1e-7.
pub fn assert_matches(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    let (g, w) = (got.to_vec::<f32>().unwrap(), want.to_vec::<f32>().unwrap());
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = g
        .iter()
        .zip(&w)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    let ok = err <= 1e-5 * scale || (scale < 1e-7 && err < 1e-7);
    assert!(ok, "{what}: {err:.2e} against {scale:.2e}\n{g:?}\n{w:?}");
}
