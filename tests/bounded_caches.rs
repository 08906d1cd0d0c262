//! A stream of new shapes keeps a bounded number of pipelines and plans, and
//! memory with them. Its own test binary: it measures the process's resident
//! memory, which tests running beside it would move.

use shadergrad::{Device, Tensor};

/// Resident memory of this process, from /proc (Linux); 0 elsewhere.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[test]
fn a_stream_of_new_shapes_keeps_a_bounded_number_of_pipelines() {
    let cap = 48;
    let d = Device::with_options(&shadergrad::DeviceOptions {
        pipeline_capacity: Some(cap),
        plan_capacity: Some(8),
        ..Default::default()
    })
    .unwrap();
    // Variable-length batches: every length a new shape for every kernel.
    let step = |len: usize| {
        let x = Tensor::randn(&d, &[len, 5]).unwrap();
        let w = Tensor::randn(&d, &[5, 3]).unwrap();
        let y = x.mul(2.0).unwrap().add(1.0).unwrap().softmax(-1).unwrap();
        y.matmul(&w)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    for len in 1..=30 {
        step(len);
    }
    let (warm, rss_warm) = (d.counters(), rss_bytes());
    for len in 31..=100 {
        step(len);
    }
    let c = d.counters();
    let grown = rss_bytes().saturating_sub(rss_warm);
    eprintln!("{:?}; RSS grew {} MB", c - warm, grown >> 20);
    assert!(c.pipelines_cached <= cap as u64, "{c:?}");
    assert!((c - warm).pipelines_evicted > 0, "{c:?}");
    assert!((c - warm).plans_evicted == 70, "{c:?}");
    // Unbounded, the 70 new shapes' 140 pipelines held ~60 MB on lavapipe;
    // bounded, ~5 MB.
    assert!(
        grown < 24 << 20,
        "RSS grew {} MB over 70 new shapes",
        grown >> 20
    );
}
