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
