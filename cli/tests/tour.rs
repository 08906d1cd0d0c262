//! The tour's quick variants, as CI runs them: each entry trains on a subset of
//! its real data, its loss falls, and its held-out metric meets the quick target.

use shadergrad::{Device, DeviceOptions};
use shadergrad_cli::tour::{entries, run_entry};

fn check(name: &str) {
    check_on(&Device::new().expect("an adapter"), name);
}

fn check_on(dev: &Device, name: &str) {
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
fn transformer_segmentation() {
    check("transformer_segmentation");
}

/// Every entry on a device with wgpu's downlevel limits (four storage buffers
/// a stage): the kernels over it take their smaller forms or are composed.
#[test]
fn every_entry_on_a_downlevel_device() {
    let dev = Device::with_options(&DeviceOptions {
        limits: Some(shadergrad::wgpu::Limits::downlevel_defaults()),
        ..Default::default()
    })
    .expect("an adapter");
    for e in entries() {
        check_on(&dev, e.name);
    }
}
