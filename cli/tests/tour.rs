//! The tour's quick variants, as CI runs them: each entry trains on a subset of
//! its real data, its loss falls, and its held-out metric meets the quick
//! target. Each trained model is then saved as `tour --save` saves it and
//! scored again by `shadergrad eval` in a process of its own: the metric it
//! prints is the one the tour reported, bit for bit.

use std::path::PathBuf;

use shadergrad::{Device, DeviceOptions};
use shadergrad_cli::tour::{Outcome, entries, run_entry, save};

fn check(name: &str) {
    let o = check_on(&Device::new().expect("an adapter"), name);
    evaluates_the_same(&[(name, o)], "adapter");
}

fn check_on(dev: &Device, name: &str) -> Outcome {
    let o = run_entry(dev, name, true).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        o.last_loss < o.first_loss,
        "{name}: loss {} -> {}",
        o.first_loss,
        o.last_loss
    );
    for (what, ok) in &o.checks {
        assert!(ok, "{name}: {what}");
    }
    let met = if o.higher_is_better {
        o.value >= o.target
    } else {
        o.value <= o.target
    };
    assert!(
        met,
        "{name}: {} = {} misses {}",
        o.metric, o.value, o.target
    );
    o
}

/// Saves each outcome's model (into a folder per `limits`), runs `shadergrad
/// eval` on the files with SHADERGRAD_LIMITS=`limits`, and checks that every
/// metric it prints is the tour's, bit for bit.
fn evaluates_the_same(outcomes: &[(&str, Outcome)], limits: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("tour-save")
        .join(limits);
    let files: Vec<PathBuf> = outcomes
        .iter()
        .map(|(name, o)| save::save(&dir, name, o, true).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadergrad"))
        .arg("eval")
        .args(&files)
        .env("SHADERGRAD_LIMITS", limits)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), outcomes.len(), "{text}");
    for ((name, o), line) in outcomes.iter().zip(lines) {
        // "<entry> (quick mode, ...): <metric> = <value> (recorded <value>: identical)"
        assert!(line.starts_with(&format!("{name} (quick mode")), "{line}");
        let printed = line.rsplit_once(" = ").expect("a metric").1;
        let value: f64 = printed.split(' ').next().unwrap().parse().unwrap();
        let held = &o.held_out;
        assert_eq!(
            value.to_bits(),
            held.value.to_bits(),
            "{name}: eval prints {value}, the tour {}",
            held.value
        );
        if held.metric == o.metric {
            assert_eq!(o.value.to_bits(), held.value.to_bits(), "{name}");
        }
        assert!(line.contains(&format!(": {} = ", held.metric)), "{line}");
        assert!(line.ends_with(": identical)"), "{line}");
    }
}

#[test]
fn linear_regression() {
    check("linear_regression");
}

#[test]
fn polynomial_l2() {
    check("polynomial_l2");
}

#[test]
fn logistic_regression() {
    check("logistic_regression");
}

#[test]
fn softmax_wine() {
    check("softmax_wine");
}

#[test]
fn softmax_digits() {
    check("softmax_digits");
}

#[test]
fn nonlinear_mlp() {
    check("nonlinear_mlp");
}

#[test]
fn mlp_mnist() {
    check("mlp_mnist");
}

#[test]
fn cnn() {
    check("cnn");
}

#[test]
fn cnn_batchnorm() {
    check("cnn_batchnorm");
}

#[test]
fn spatial_transformer() {
    check("spatial_transformer");
}

#[test]
fn depthwise_separable() {
    check("depthwise_separable");
}

#[test]
fn rnn_gradients() {
    check("rnn_gradients");
}

#[test]
fn bilstm_segmentation() {
    check("bilstm_segmentation");
}

#[test]
fn char_lm() {
    check("char_lm");
}

#[test]
fn word2vec_skipgram() {
    check("word2vec_skipgram");
}

#[test]
fn word2vec_cbow() {
    check("word2vec_cbow");
}

#[test]
fn transformer_segmentation() {
    check("transformer_segmentation");
}

#[test]
fn g2p_cmudict() {
    check("g2p_cmudict");
}

#[test]
fn g2p_sampling() {
    check("g2p_sampling");
}

#[test]
fn g2p_nat() {
    check("g2p_nat");
}

#[test]
fn g2p_restore() {
    check("g2p_restore");
}

#[test]
fn gpt_char() {
    check("gpt_char");
}

#[test]
fn bert_sentiment() {
    check("bert_sentiment");
}

/// Every entry on a device with wgpu's downlevel limits (four storage buffers
/// a stage): the kernels over it take their smaller forms or are composed;
/// `eval` on such a device scores each saved model as the tour did.
#[test]
fn every_entry_on_a_downlevel_device() {
    let dev = Device::with_options(&DeviceOptions {
        limits: Some(shadergrad::wgpu::Limits::downlevel_defaults()),
        ..Default::default()
    })
    .expect("an adapter");
    let outcomes: Vec<(&str, Outcome)> = entries()
        .iter()
        .map(|e| (e.name, check_on(&dev, e.name)))
        .collect();
    evaluates_the_same(&outcomes, "downlevel");
}
