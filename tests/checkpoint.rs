//! safetensors checkpoints: a round trip of every dtype with metadata, and
//! every kind of bad file as a typed error naming the file and the byte
//! offset, the file written atomically (a failed write keeps the old one).

use shadergrad::{Device, Error, Tensor, checkpoint};

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("shadergrad-ckpt-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// This test binary running only its test `test`, with `env` set to `path`:
/// the child process the kill tests kill.
fn child(test: &str, env: &str, path: &std::path::Path) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads", "1"])
        .env(env, path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
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
    // Every tensor is read back in one submit (`h` computed in it).
    let before = d.counters();
    checkpoint::save(
        &path,
        &[("layer.weight", &w), ("half", &h), ("count", &n)],
        &meta,
    )
    .unwrap();
    assert_eq!((d.counters() - before).submits, 1);
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

/// The writer the disk tests run as a child process: with a file size limit
/// (a disk that fills during the write) or without write permission on the
/// directory (root drops to nobody, whom the directory's mode keeps out),
/// a save over `path` is an error naming the file and the step that failed.
#[test]
fn limited_writer_child() {
    let (env, at) = match (
        std::env::var("SHADERGRAD_FULL_DISK"),
        std::env::var("SHADERGRAD_READ_ONLY"),
    ) {
        (Ok(p), _) => (p, "write"),
        (_, Ok(p)) => (p, "create"),
        _ => return,
    };
    let d = Device::new().unwrap();
    let big = Tensor::zeros(&d, &[100_000], shadergrad::DType::F32).unwrap();
    big.realize().unwrap();
    // SAFETY: plain libc calls on this single-threaded child's own limits.
    unsafe {
        if at == "write" {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 4096,
                rlim_max: 4096,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        } else if libc::geteuid() == 0 {
            assert_eq!(libc::setgid(65534), 0);
            assert_eq!(libc::setuid(65534), 0);
        }
    }
    match checkpoint::save(&env, &[("big", &big)], &[]) {
        Err(Error::Data { file, at: got, .. }) => {
            assert_eq!(file, env);
            assert_eq!(got, at);
        }
        other => panic!("{other:?}"),
    }
}

/// A disk that fills during the write, and a directory that is not
/// writable: each a typed error naming the file; the previous checkpoint
/// survives whole.
#[test]
fn a_full_disk_or_a_read_only_directory_keeps_the_previous_checkpoint() {
    use std::os::unix::fs::PermissionsExt;
    let d = Device::new().unwrap();
    for env in ["SHADERGRAD_FULL_DISK", "SHADERGRAD_READ_ONLY"] {
        let root = dir(&env.to_lowercase());
        let path = root.join("ckpt.safetensors");
        let a = Tensor::from_slice(&d, &[1.0f32, 2.0], &[2]).unwrap();
        checkpoint::save(&path, &[("a", &a)], &[]).unwrap();
        let before = std::fs::read(&path).unwrap();
        let mode = |m: u32| std::fs::set_permissions(&root, std::fs::Permissions::from_mode(m));
        if env == "SHADERGRAD_READ_ONLY" {
            mode(0o555).unwrap();
        }
        let status = child("limited_writer_child", env, &path).wait().unwrap();
        mode(0o755).unwrap();
        assert!(
            status.success(),
            "{env}: the child's save was not the expected error"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "{env}");
        let left = std::fs::read_dir(&root).unwrap().count();
        assert_eq!(left, 1, "{env}: a temporary file was left");
    }
}

/// Mutates valid checkpoints (bit flips, byte overwrites, truncation,
/// insertions, header-length rewrites) and feeds random bytes to the reader:
/// every input is a value or a typed error, never a panic. Inputs: 20,000,
/// or `SHADERGRAD_FUZZ` of them.
#[test]
fn the_loader_survives_mutated_and_random_files() {
    use rand::{Rng, SeedableRng};
    let d = Device::new().unwrap();
    let root = dir("fuzz");
    let a = Tensor::from_slice(&d, &[1.0f32, 2.0, 3.0], &[3]).unwrap();
    let b = Tensor::from_slice(&d, &[4i32, 5], &[1, 2]).unwrap();
    let h = a.cast(shadergrad::DType::F16).unwrap();
    let seed_path = root.join("seed.safetensors");
    checkpoint::save(
        &seed_path,
        &[("a", &a), ("b", &b), ("h", &h)],
        &[("step", "3")],
    )
    .unwrap();
    let seed = std::fs::read(&seed_path).unwrap();
    let n: usize = std::env::var("SHADERGRAD_FUZZ")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut r = rand::rngs::StdRng::seed_from_u64(77);
    let (mut accepted, mut loaded) = (0, 0);
    for i in 0..n {
        let mut x = if i % 10 == 9 {
            (0..r.random_range(0..64)).map(|_| r.random()).collect()
        } else {
            seed.clone()
        };
        for _ in 0..r.random_range(1..4) {
            if x.is_empty() {
                break;
            }
            let at = r.random_range(0..x.len());
            match r.random_range(0..6) {
                0 => x[at] ^= 1 << r.random_range(0..8),
                1 => x[at] = r.random(),
                2 => x.truncate(at),
                3 => x.insert(at, r.random()),
                4 => {
                    let k = 8.min(x.len());
                    x[..k].copy_from_slice(&r.random::<u64>().to_le_bytes()[..k]);
                }
                _ => x[at] = b"{}[]\",:0123456789"[r.random_range(0..17)],
            }
        }
        if checkpoint::inspect("fuzz", &x).is_ok() {
            accepted += 1;
            // What passes the header check loads: a value, or a typed error.
            if i % 16 == 0 {
                let p = root.join("case.safetensors");
                std::fs::write(&p, &x).unwrap();
                if checkpoint::load(&d, &p).is_ok() {
                    loaded += 1;
                }
            }
        }
    }
    eprintln!("{n} inputs: {accepted} headers accepted, {loaded} of those sampled loaded");
    assert!(accepted > 0, "the mutations never kept a valid file");
}

/// The writer the kill test runs as a child process: checkpoints in a loop,
/// version k holding 1M values all k, until it is killed.
#[test]
fn checkpoint_writer_child() {
    let Ok(path) = std::env::var("SHADERGRAD_CKPT_WRITER") else {
        return;
    };
    let d = Device::new().unwrap();
    for k in 0.. {
        let t = Tensor::full(&d, &[1 << 20], k as f64, shadergrad::DType::F32).unwrap();
        let step = k.to_string();
        checkpoint::save(&path, &[("w", &t)], &[("step", &step)]).unwrap();
    }
}

/// A process killed (SIGKILL) while it writes checkpoints, at 12 random
/// moments: the file on disk is always a whole checkpoint, its values the
/// ones its step says.
#[test]
fn a_writer_killed_mid_write_leaves_a_whole_checkpoint() {
    use rand::{Rng, SeedableRng};
    let d = Device::new().unwrap();
    let root = dir("kill");
    let path = root.join("ckpt.safetensors");
    let mut r = rand::rngs::StdRng::seed_from_u64(5);
    let mut seen = 0;
    for _ in 0..12 {
        let mut child = child("checkpoint_writer_child", "SHADERGRAD_CKPT_WRITER", &path);
        std::thread::sleep(std::time::Duration::from_millis(r.random_range(300..900)));
        child.kill().unwrap();
        child.wait().unwrap();
        if !path.exists() {
            continue;
        }
        let back = checkpoint::load(&d, &path).expect("a whole checkpoint");
        let step: f32 = back.metadata["step"].parse().unwrap();
        let w = back.tensors[0].1.to_vec::<f32>().unwrap();
        assert_eq!(w.len(), 1 << 20);
        assert!(
            w.iter().all(|&v| v == step),
            "values of another step than {step}"
        );
        seen += 1;
    }
    assert!(
        seen >= 6,
        "only {seen} of 12 runs got to write a checkpoint"
    );
    let left = std::fs::read_dir(&root).unwrap().count();
    // The killed writer may leave its temporary file; never a torn target.
    assert!(left <= 2, "{left} files");
}

/// A small CNN with batch norm, as the tour builds them.
fn cnn(d: &Device) -> shadergrad::nn::Sequential {
    use shadergrad::nn::{BatchNorm, Conv2d, Flatten, Linear, Relu, Sequential};
    let p = shadergrad::ConvParams {
        padding: [1, 1],
        ..Default::default()
    };
    Sequential::new()
        .push(Conv2d::new(d, 1, 4, 3, p).unwrap())
        .push(BatchNorm::new(d, 4).unwrap())
        .push(Relu)
        .push(Flatten)
        .push(Linear::new(d, 4 * 5 * 5, 3).unwrap())
}

#[test]
fn a_state_dict_saved_and_loaded_gives_the_same_model() {
    use shadergrad::nn::{Module, Stateful};
    let d = Device::new().unwrap();
    d.manual_seed(1);
    let a = cnn(&d);
    let x = Tensor::randn(&d, &[2, 1, 5, 5]).unwrap();
    // A training step moves the running statistics off their start.
    a.forward(&x)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let names: Vec<String> = a.state_dict().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "4.weight",
            "4.bias",
            "1.running_mean",
            "1.running_var",
            "1.num_batches_tracked"
        ]
    );
    let path = dir("state").join("cnn.safetensors");
    let state = a.state_dict();
    let refs: Vec<(&str, &Tensor)> = state.iter().map(|(n, t)| (n.as_str(), t)).collect();
    checkpoint::save(&path, &refs, &[("model", "cnn")]).unwrap();
    d.manual_seed(2);
    let b = cnn(&d);
    let mut opt = shadergrad::optim::Optimizer::sgd(&b.parameters(), 0.1, 0.0).unwrap();
    b.load_state_dict(&checkpoint::load(&d, &path).unwrap().tensors, true)
        .unwrap();
    a.eval();
    b.eval();
    let count = |m: &dyn Module| m.state_dict()[8].1.to_vec::<f32>().unwrap();
    assert_eq!(count(&a), [1.0]);
    assert_eq!(count(&b), [1.0]);
    let (ya, yb) = (a.forward(&x).unwrap(), b.forward(&x).unwrap());
    assert_eq!(ya.to_vec::<f32>().unwrap(), yb.to_vec::<f32>().unwrap());
    // Loaded in place: the optimizer made before the load still trains b.
    b.train();
    b.forward(&x)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    opt.step().unwrap();
    b.eval();
    assert_ne!(
        b.forward(&x).unwrap().to_vec::<f32>().unwrap(),
        ya.to_vec::<f32>().unwrap()
    );
}

#[test]
fn a_state_dict_that_does_not_match_lists_every_fault() {
    use shadergrad::nn::Stateful;
    let d = Device::new().unwrap();
    let m = cnn(&d);
    let mut state = m.state_dict();
    state.retain(|(n, _)| n != "1.running_var");
    state[0].1 = Tensor::zeros(&d, &[4, 1, 5, 5], shadergrad::DType::F32).unwrap();
    state.push((
        "9.weight".into(),
        Tensor::zeros(&d, &[1], shadergrad::DType::F32).unwrap(),
    ));
    let before = m.state_dict()[1].1.to_vec::<f32>().unwrap();
    match m.load_state_dict(&state, true) {
        Err(Error::StateDict(f)) => {
            assert_eq!(f.missing, ["1.running_var"]);
            assert_eq!(f.unexpected, ["9.weight"]);
            assert_eq!(f.mismatched.len(), 1);
            assert!(
                f.mismatched[0].starts_with("0.weight: f32 [4, 1, 5, 5] given"),
                "{f}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Nothing was copied; non-strict loading still refuses the mismatch.
    assert_eq!(m.state_dict()[1].1.to_vec::<f32>().unwrap(), before);
    assert!(matches!(
        m.load_state_dict(&state, false),
        Err(Error::StateDict(_))
    ));
    state[0].1 = m.state_dict()[0].1.copy().unwrap();
    m.load_state_dict(&state, false).unwrap();
}

/// A file the reference writer made (`scripts/make-safetensors-fixture.py`,
/// safetensors with numpy): every dtype the engine reads, and the metadata.
#[test]
fn a_file_the_reference_writer_made_loads() {
    let d = Device::new().unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/numpy-written.safetensors"
    );
    let got = checkpoint::load(&d, path).unwrap();
    assert_eq!(got.metadata["step"], "5");
    let get = |n: &str| &got.tensors.iter().find(|(k, _)| k == n).unwrap().1;
    assert_eq!(get("w").shape(), [2, 3]);
    assert_eq!(
        get("w").to_vec::<f32>().unwrap(),
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    );
    let h = get("h").cast(shadergrad::DType::F32).unwrap();
    assert_eq!(h.to_vec::<f32>().unwrap(), [0.5, -1.25, 3.0]);
    assert_eq!(get("n").shape(), [] as [usize; 0]);
    assert_eq!(get("n").to_vec::<i32>().unwrap(), [7]);
    assert_eq!(get("idx").to_vec::<i32>().unwrap(), [3, -2]);
}

/// The resume tests' run: an MLP with dropout, Adam and a step schedule, on
/// shuffled mini-batches of a fixed data set (so epochs and their orders
/// matter); `seed` picks the initial weights.
struct Run {
    model: shadergrad::nn::Sequential,
    opt: shadergrad::optim::Optimizer,
    sched: shadergrad::optim::LrScheduler,
    data: shadergrad::data::Dataset,
    loader: shadergrad::data::Loader,
}

/// The resume tests' device: deterministic, as PyTorch's
/// `use_deterministic_algorithms(True)`, so no kernel sums in an order that
/// changes between runs.
fn deterministic() -> Device {
    let d = Device::new().unwrap();
    d.set_deterministic(true);
    d
}

impl Run {
    fn new(d: &Device, seed: u64) -> Run {
        use shadergrad::data::{Dataset, Loader, Target};
        use shadergrad::nn::{Dropout, Linear, Relu, Sequential, Stateful};
        use shadergrad::optim::{LrScheduler, Optimizer, StepLr};
        let wave = |n: usize, f: f32| (0..n).map(|i| (i as f32 * f).sin()).collect::<Vec<f32>>();
        d.manual_seed(seed);
        let model = Sequential::new()
            .push(Linear::new(d, 4, 8).unwrap())
            .push(Relu)
            .push(Dropout::new(0.3).unwrap())
            .push(Linear::new(d, 8, 2).unwrap());
        let mut opt = Optimizer::adam(&model.parameters(), 0.05).unwrap();
        let schedule = StepLr {
            base: 0.05,
            every: 2,
            gamma: 0.5,
        };
        let sched = LrScheduler::new(schedule, &mut opt);
        let data = Dataset {
            name: "waves".into(),
            x: wave(14 * 4, 0.37),
            sample_shape: vec![4],
            target: Target::Values {
                values: wave(14 * 2, 0.11),
                outputs: 2,
            },
            feature_names: (0..4).map(|i| format!("x{i}")).collect(),
        };
        let loader = Loader::new(&data, 4, Some(7)).unwrap();
        Run {
            model,
            opt,
            sched,
            data,
            loader,
        }
    }

    fn train(&mut self, d: &Device, steps: usize) {
        use shadergrad::data::BatchTarget;
        use shadergrad::nn::Module;
        for _ in 0..steps {
            let b = self.loader.next_batch(&self.data).unwrap();
            let BatchTarget::Values(y) = &b.y else {
                unreachable!()
            };
            let x = Tensor::from_slice(d, &b.x, &[b.len, 4]).unwrap();
            let y = Tensor::from_slice(d, y, &[b.len, 2]).unwrap();
            self.opt.zero_grad();
            let out = self.model.forward(&x).unwrap();
            shadergrad::loss::mse(&out, &y).unwrap().backward().unwrap();
            self.opt.step().unwrap();
            self.sched.step(&mut self.opt);
        }
    }

    fn params(&self) -> Vec<Vec<f32>> {
        use shadergrad::nn::Stateful;
        let p = self.model.parameters();
        p.iter().map(|p| p.to_vec::<f32>().unwrap()).collect()
    }

    /// Model, optimizer, schedule, RNG and loader, in one file.
    fn save(&self, d: &Device, path: &std::path::Path, steps_done: usize) {
        checkpoint::Checkpoint::new()
            .with_model(&self.model)
            .with_optimizer(&self.opt)
            .unwrap()
            .with_scheduler(&self.sched)
            .with_rng(d)
            .with_loader(d, &self.loader)
            .unwrap()
            .with_meta("steps", steps_done)
            .save(path)
            .unwrap();
    }

    /// Restores what `save` wrote; returns the steps it had done.
    fn resume(&mut self, d: &Device, path: &std::path::Path) -> usize {
        let c = checkpoint::Checkpoint::load(d, path).unwrap();
        c.restore_model(&self.model, true).unwrap();
        c.restore_optimizer(&mut self.opt).unwrap();
        c.restore_scheduler(&mut self.sched, &mut self.opt).unwrap();
        c.restore_rng(d).unwrap();
        c.restore_loader(&mut self.loader).unwrap();
        c.number("steps").unwrap()
    }
}

/// Training resumed from a checkpoint (the model, the optimizer's moments and
/// step count, the rate schedule's position, the random generator's state)
/// ends with the parameters of a run never stopped, bit for bit.
#[test]
fn training_resumed_from_a_checkpoint_matches_a_run_never_stopped() {
    let d = deterministic();
    let mut whole = Run::new(&d, 3);
    whole.train(&d, 5);
    let mut first = Run::new(&d, 3);
    first.train(&d, 3);
    let path = dir("resume").join("run.safetensors");
    first.save(&d, &path, 3);
    let mut resumed = Run::new(&d, 99);
    assert_eq!(resumed.resume(&d, &path), 3);
    resumed.train(&d, 2);
    assert_eq!(resumed.params(), whole.params());
}

/// The trainer the kill test runs as a child process: 1000 steps, a
/// checkpoint after each, until it is killed.
#[test]
fn resume_trainer_child() {
    let Ok(path) = std::env::var("SHADERGRAD_RESUME_TRAINER") else {
        return;
    };
    let d = deterministic();
    let mut run = Run::new(&d, 3);
    for step in 1..=1000 {
        run.train(&d, 1);
        run.save(&d, std::path::Path::new(&path), step);
    }
}

/// A training process killed (SIGKILL) at a random step, then resumed from
/// its last checkpoint for the rest, ends where a run never stopped does.
#[test]
fn a_run_killed_and_resumed_matches_a_run_never_stopped() {
    use rand::{Rng, SeedableRng};
    let total = 1000;
    let d = deterministic();
    let mut whole = Run::new(&d, 3);
    whole.train(&d, total);
    let want = whole.params();
    let root = dir("kill-resume");
    let path = root.join("run.safetensors");
    let mut r = rand::rngs::StdRng::seed_from_u64(9);
    let mut resumed_from = Vec::new();
    for _ in 0..3 {
        let _ = std::fs::remove_file(&path);
        let mut child = child("resume_trainer_child", "SHADERGRAD_RESUME_TRAINER", &path);
        // A random moment after the first checkpoint (a slow machine may take
        // a while to get there).
        let waited = std::time::Instant::now();
        while !path.exists() && waited.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(r.random_range(0..500)));
        child.kill().unwrap();
        child.wait().unwrap();
        let mut run = Run::new(&d, 99);
        let done = run.resume(&d, &path);
        run.train(&d, total - done);
        assert_eq!(run.params(), want, "resumed after step {done}");
        resumed_from.push(done);
    }
    eprintln!("resumed after steps {resumed_from:?}");
    assert!(
        resumed_from.iter().any(|&s| s < total),
        "no run was killed between its first and last checkpoint: {resumed_from:?}"
    );
}
