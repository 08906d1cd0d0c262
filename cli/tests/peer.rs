//! `bench --peer` against a fake peer harness: a shell script that speaks
//! the protocol (`list`, `serve` with `run NAME REPS` / `quit`) with fixed
//! numbers, so the client, the alternating rounds, the ratio and the report
//! are tested without building burn.

use std::path::{Path, PathBuf};

const FAKE_PEER: &str = r#"#!/bin/sh
# A fake peer harness: the protocol, with fixed numbers.
if [ "$1" = list ]; then
  echo '{"peer":"fake","version":"0.0.1","workloads":[{"name":"mlp_grad_b256_64_256_10","flops":29097984.0,"what":"fixed numbers"},{"name":"mlp_step_b256_64_256_10","flops":29097984.0,"what":"always fails"}]}'
  exit 0
fi
[ "$1" = serve ] || exit 3
while read cmd name reps; do
  case "$cmd" in
    run)
      if [ "$name" = mlp_grad_b256_64_256_10 ]; then
        ms=""; i=0
        while [ "$i" -lt "$reps" ]; do ms="$ms${ms:+,}50.0"; i=$((i + 1)); done
        echo "{\"name\":\"$name\",\"ms\":[$ms],\"warm_ms\":1.5,\"checksum\":0.25}"
      else
        echo "{\"name\":\"$name\",\"error\":\"not built in this fake\"}"
      fi ;;
    quit) exit 0 ;;
  esac
done
"#;

/// The fake harness, written executable into a fresh folder.
fn fake_peer(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("fake-peer");
    std::fs::write(&path, FAKE_PEER).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_peer_runs_in_alternating_rounds_and_its_ratio_is_reported() {
    let dir = std::env::temp_dir().join(format!("sg-fake-peer-{}", std::process::id()));
    let peer = fake_peer(&dir);
    let json = dir.join("run.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .args(["bench", "--quick", "--no-report", "--filter"])
        .arg("mlp_grad_b256,mlp_step_b256")
        .arg("--peer")
        .arg(&peer)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let (text, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{text}\n{err}");
    assert!(text.contains("against fake 0.0.1"), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("mlp_grad_b256_64_256_10"))
        .unwrap_or_else(|| panic!("no peer row: {text}"));
    assert!(line.contains("50.000") && line.contains('x'), "{line}");
    // Printed when the workload was done, not only in the table.
    assert!(
        err.contains("bench: peer mlp_grad_b256_64_256_10: fake 0.0.1 50.000 ms"),
        "{err}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = v["peer"]["rows"].as_array().unwrap();
    let (grad, step) = (&rows[0], &rows[1]);
    assert_eq!(grad["workload"], "mlp_grad_b256_64_256_10");
    assert_eq!(grad["peer_ms"], 50.0);
    let ours = grad["ours_ms"].as_f64().unwrap();
    let ratio = grad["ratio"].as_f64().unwrap();
    assert!((ratio - 50.0 / ours).abs() < 1e-9, "{grad}");
    // Every peer run of every round is kept: 2 rounds of at least 2 runs.
    assert!(grad["peer_runs"].as_array().unwrap().len() >= 4, "{grad}");
    assert!(
        step["error"].as_str().unwrap().contains("not built"),
        "{step}"
    );
    assert!(step["ours_ms"].as_f64().is_some(), "{step}");
    assert_eq!(v["peer"]["version"], "0.0.1");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn without_a_peer_no_ratio_is_shown() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .args([
            "bench",
            "--quick",
            "--no-report",
            "--filter",
            "mlp_grad_b256",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("no peer was run"), "{text}");
    assert!(!text.contains("peer/ours"), "{text}");
}
