//! safetensors checkpoints: a round trip of every dtype with metadata, and
//! every kind of bad file as a typed error naming the file and the byte
//! offset, the file written atomically (a failed write keeps the old one).

use shadergrad::{Device, Error, Tensor, checkpoint};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("shadergrad-ckpt-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A file of `header` (JSON) then `data`.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    b.extend(data);
    b
}

#[test]
fn tensors_and_metadata_round_trip() {
    let d = Device::new().unwrap();
    let w = Tensor::from_slice(&d, &[1.5f32, -2.0, 3.25, 0.0, 1e-30, -7.0], &[2, 3]).unwrap();
    let h = w.cast(shadergrad::DType::F16).unwrap();
    let n = Tensor::from_slice(&d, &[7i32], &[]).unwrap();
    let path = dir("round").join("model.safetensors");
    let meta = [("step", "12"), ("model", "mlp")];
    checkpoint::save(
        &path,
        &[("layer.weight", &w), ("half", &h), ("count", &n)],
        &meta,
    )
    .unwrap();
    let back = checkpoint::load(&d, &path).unwrap();
    let names: Vec<&str> = back.tensors.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 3);
    for (name, t) in &back.tensors {
        let want = match name.as_str() {
            "layer.weight" => &w,
            "half" => &h,
            _ => &n,
        };
        assert_eq!(t.shape(), want.shape(), "{name}");
        assert_eq!(t.dtype(), want.dtype(), "{name}");
        assert_eq!(
            t.cast(shadergrad::DType::F32)
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
            want.cast(shadergrad::DType::F32)
                .unwrap()
                .to_vec::<f32>()
                .unwrap(),
            "{name}"
        );
    }
    assert_eq!(back.metadata["step"], "12");
    assert_eq!(back.metadata["model"], "mlp");
    // I64 (PyTorch's num_batches_tracked) arrives as i32.
    let p = dir("i64").join("n.safetensors");
    let hdr = r#"{"n":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#;
    let data: Vec<u8> = [5i64, -3].iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&p, file(hdr, &data)).unwrap();
    let t = &checkpoint::load(&d, &p).unwrap().tensors[0].1;
    assert_eq!(t.to_vec::<i32>().unwrap(), [5, -3]);
}

#[test]
fn a_bad_file_is_an_error_naming_the_file_and_the_offset() {
    let d = Device::new().unwrap();
    let t = |shape: &str, offsets: &str| {
        format!(r#"{{"a":{{"dtype":"F32","shape":{shape},"data_offsets":{offsets}}}}}"#)
    };
    let ok = t("[2]", "[0,8]");
    let mut non_utf8 = file(&ok, &[0; 8]);
    non_utf8[10] = 0xFF;
    let mut huge = file(&ok, &[0; 8]);
    huge[..8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let two = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}"#;
    let dup = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let big_i64 = r#"{"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#;
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("short", vec![1, 2, 3], "byte 0", "too short"),
        ("header past the end", huge, "byte 0", "runs past the end"),
        ("not UTF-8", non_utf8, "byte 10", "not UTF-8"),
        (
            "not JSON",
            file("{\"a\": [1,", &[]),
            "byte 16",
            "not a JSON object",
        ),
        (
            "bytes disagree",
            file(&t("[3]", "[0,8]"), &[0; 8]),
            "byte 9",
            "is 12 bytes",
        ),
        (
            "past the data",
            file(&t("[2]", "[0,8]"), &[0; 4]),
            "byte",
            "runs past the data",
        ),
        ("overlap", file(two, &[0; 6]), "byte", "overlaps"),
        ("duplicate", file(dup, &[0; 8]), "byte", "named twice"),
        (
            "dtype",
            file(
                r#"{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}"#,
                &[0; 2],
            ),
            "byte 9",
            "BF16",
        ),
        (
            "trailing",
            file(&ok, &[0; 12]),
            "byte",
            "after the last tensor",
        ),
    ];
    let root = dir("bad");
    for (what, bytes, at_prefix, msg) in cases {
        let p = root.join(format!("{}.safetensors", what.replace(' ', "_")));
        std::fs::write(&p, &bytes).unwrap();
        match checkpoint::load(&d, &p) {
            Err(Error::Data { file, at, msg: m }) => {
                assert!(file.ends_with(".safetensors"), "{what}: {file}");
                assert!(at.starts_with(at_prefix), "{what}: at {at}, {m}");
                assert!(m.contains(msg), "{what}: {m}");
            }
            Err(other) => panic!("{what}: {other:?}"),
            Ok(_) => panic!("{what}: loaded"),
        }
    }
    let p = root.join("big.safetensors");
    std::fs::write(&p, file(big_i64, &(1i64 << 40).to_le_bytes())).unwrap();
    assert!(matches!(
        checkpoint::load(&d, &p),
        Err(Error::ValueOutOfRange { .. })
    ));
    let missing = checkpoint::load(&d, root.join("missing.safetensors"));
    assert!(matches!(missing, Err(Error::Data { ref at, .. }) if at == "open"));
}

#[test]
fn a_failed_write_keeps_the_previous_checkpoint() {
    let d = Device::new().unwrap();
    let root = dir("atomic");
    let path = root.join("ckpt.safetensors");
    let a = Tensor::from_slice(&d, &[1.0f32, 2.0], &[2]).unwrap();
    checkpoint::save(&path, &[("a", &a)], &[]).unwrap();
    let before = std::fs::read(&path).unwrap();
    // A bool tensor cannot be written: nothing on disk changes.
    let b = a.gt(1.5).unwrap();
    assert!(checkpoint::save(&path, &[("a", &a), ("b", &b)], &[]).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // A directory that does not exist: a typed error naming the file.
    let gone = root.join("no").join("such").join("ckpt.safetensors");
    match checkpoint::save(&gone, &[("a", &a)], &[]) {
        Err(Error::Data { file, at, .. }) => {
            assert!(file.ends_with("ckpt.safetensors"));
            assert_eq!(at, "create");
        }
        other => panic!("{other:?}"),
    }
    // No temporary file is left beside the checkpoint.
    let left: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
    assert_eq!(left.len(), 1);
}
