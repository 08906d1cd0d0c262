//! The command line, run as a user runs it.

#[test]
fn an_adapter_name_that_matches_nothing_is_an_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .arg("info")
        .env("WGPU_ADAPTER_NAME", "no-such-adapter-xyz")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-adapter-xyz") && err.contains("found"),
        "{err}"
    );
}

/// The command line's stdout with the plain path forced; it must succeed.
fn plain(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .args(args)
        .env(shadergrad::PLAIN_ENV, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn features_are_detected_and_the_plain_path_can_be_forced() {
    let text = plain(&["info"]);
    assert!(
        text.contains("f16=false") && text.contains("subgroups=false"),
        "{text}"
    );
}

#[test]
fn the_plain_path_runs_the_subgroup_kernel_families() {
    // Without SUBGROUP the lanes entry points are left out of each module (a
    // module is validated whole); matmul, conv2d, attention, softmax and the
    // norms then run their plain forms and pass the benchmark's float64 gate.
    let text = plain(&[
        "bench",
        "--quick",
        "--no-report",
        "--filter",
        "matmul,conv2d,attention,softmax,layernorm,rmsnorm",
    ]);
    for kernel in [
        "matmul ",
        "conv2d ",
        "attention ",
        "softmax ",
        "layernorm ",
        "rmsnorm ",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(kernel) && l.contains(" ok")),
            "{kernel}: {text}"
        );
    }
}

/// The command line's stderr with `var=value`; it must fail.
fn fails_with(var: &str, value: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .arg("info")
        .env(var, value)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{var}={value} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_environment_values_are_errors_that_name_them() {
    // A backend filter that leaves no adapter names itself and what it left
    // out (not the install-lavapipe hint).
    let err = fails_with("WGPU_BACKEND", "dx12");
    assert!(
        err.contains("WGPU_BACKEND") && err.contains("left out"),
        "{err}"
    );
    assert!(!err.contains("install"), "{err}");
    for (var, value, accepted) in [
        ("WGPU_BACKEND", "bogus", "vulkan"),
        ("WGPU_POWER_PREF", "fastest", "low, high"),
        ("SHADERGRAD_MATMUL", "quick", "lanes"),
    ] {
        let err = fails_with(var, value);
        assert!(
            err.contains(var) && err.contains(value) && err.contains(accepted),
            "{var}={value}: {err}"
        );
    }
}

/// A fresh folder under the test target's scratch space.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn tour_save_writes_each_model_and_eval_scores_it_again() {
    let dir = scratch("cli-tour-save");
    let names = ["linear_regression", "logistic_regression"];
    let mut args = vec!["tour", "--quick", "--json", "--save", dir.to_str().unwrap()];
    for n in names {
        args.extend(["--only", n]);
    }
    let report = dir.join("report");
    args.extend(["--report", report.to_str().unwrap()]);
    let text = plain(&args);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut files = Vec::new();
    for (name, line) in names.iter().zip(&lines) {
        let file = dir.join(format!("{name}.safetensors"));
        assert_eq!(line["saved"].as_str(), file.to_str(), "{line}");
        // The metadata says what eval needs, beside the state dict's names.
        let bytes = std::fs::read(&file).unwrap();
        let (tensors, meta) =
            shadergrad::checkpoint::inspect(file.to_str().unwrap(), &bytes).unwrap();
        let mut keys: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["bias", "weight"]);
        assert_eq!(meta["entry"], *name);
        assert_eq!(meta["quick"], "true");
        assert_eq!(meta["metric"], line["metric"].as_str().unwrap());
        assert_eq!(meta["steps"], line["steps"].to_string());
        assert_eq!(meta["shadergrad_version"], env!("CARGO_PKG_VERSION"));
        let recorded: f64 = meta["value"].parse().unwrap();
        assert!((recorded - line["value"].as_f64().unwrap()).abs() < 1e-12);
        files.push(file);
    }
    let mut args = vec!["eval"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let text = plain(&args);
    for (name, line) in names.iter().zip(text.lines()) {
        assert!(line.starts_with(&format!("{name} (quick mode")), "{line}");
        assert!(line.ends_with(": identical)"), "{line}");
    }
}

#[test]
fn eval_of_a_file_it_cannot_score_is_an_error_naming_the_file() {
    use shadergrad::{DType, Device, Tensor, checkpoint};
    let dir = scratch("cli-eval-bad");
    let d = Device::new().unwrap();
    let w = Tensor::zeros(&d, &[1, 10], DType::F32).unwrap();
    let b = Tensor::zeros(&d, &[1], DType::F32).unwrap();
    let tensors = [("weight", &w), ("bias", &b)];
    let meta = |entry: &'static str| {
        vec![
            ("entry", entry),
            ("metric", "test accuracy"),
            ("value", "0.5"),
            ("quick", "true"),
            ("steps", "1"),
            ("shadergrad_version", "0.1.0"),
        ]
    };
    let write = |name: &str, meta: &[(&str, &str)]| {
        let path = dir.join(name);
        checkpoint::save(&path, &tensors, meta).unwrap();
        path
    };
    // A linear_regression model (10 -> 1) that says it is logistic
    // regression's (30 -> 1); a file without metadata; an unknown entry;
    // a missing file; a file that is no checkpoint.
    let cases = [
        (
            write("other.safetensors", &meta("logistic_regression")),
            "logistic_regression model: size mismatches: weight",
        ),
        (write("bare.safetensors", &[]), "no `entry`"),
        (
            write("unknown.safetensors", &meta("no_such_entry")),
            "\"no_such_entry\"",
        ),
        (dir.join("missing.safetensors"), "at open"),
        (dir.join("garbage.safetensors"), "not a readable checkpoint"),
    ];
    std::fs::write(dir.join("garbage.safetensors"), b"not a checkpoint at all").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .arg("eval")
        .args(cases.iter().map(|(p, _)| p))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), cases.len(), "{err}");
    for ((path, why), line) in cases.iter().zip(lines) {
        let file = path.display().to_string();
        assert!(line.starts_with(&format!("error: {file}: ")), "{line}");
        assert!(line.contains(why), "{why}: {line}");
    }
}
