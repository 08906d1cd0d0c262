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

/// The tests take turns: each measures the whole process's memory.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Variable-length batches: every length a new shape for every kernel.
fn step(d: &Device, len: usize) -> f32 {
    let x = Tensor::randn(d, &[len, 5]).unwrap();
    let w = Tensor::randn(d, &[5, 3]).unwrap();
    let y = x.mul(2.0).unwrap().add(1.0).unwrap().softmax(-1).unwrap();
    y.matmul(&w)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

#[test]
fn ten_thousand_new_shapes_compile_a_bounded_number_of_pipelines() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let free_cap = 8 << 20;
    let d = Device::with_options(&shadergrad::DeviceOptions {
        plan_capacity: Some(8),
        pool_free_capacity: Some(free_cap),
        ..Default::default()
    })
    .unwrap();
    for len in 1..=100 {
        step(&d, len);
    }
    let (warm, rss_warm) = (d.counters(), rss_bytes());
    for len in 101..=10_100 {
        step(&d, len);
    }
    let c = d.counters() - warm;
    let grown = rss_bytes().saturating_sub(rss_warm);
    eprintln!("{c:?}; RSS grew {} MB", grown >> 20);
    // Sizes come from uniforms once a kernel has seen 4 shapes, so what a new
    // shape can still compile is bounded by the kernel's work splits, which
    // saturate: elements per invocation (6 values), a reduction's entry point
    // and chunked sums, softmax's rows per workgroup (8). Measured: 34 for
    // these 10,000 lengths, 59 cached in all.
    assert!(c.pipelines_compiled <= 48, "{c:?}");
    assert!(c.pipelines_cached <= 80, "{c:?}");
    assert_eq!(c.pipelines_evicted, 0, "{c:?}");
    assert_eq!(c.plans_built, 10_000, "{c:?}");
    // Ever larger tensors: each size class's free buffers are released
    // oldest first past the pool's free capacity.
    assert!(c.bytes_free <= free_cap, "{c:?}");
    // Measured: 30 MB (the new pipelines, ~0.4 MB each on lavapipe, and the
    // free buffers).
    assert!(
        grown < 48 << 20,
        "RSS grew {} MB over 10,000 new shapes",
        grown >> 20
    );
}

#[test]
fn the_pipeline_cache_is_bounded_when_every_shape_compiles() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let cap = 48;
    let d = Device::with_options(&shadergrad::DeviceOptions {
        pipeline_capacity: Some(cap),
        plan_capacity: Some(8),
        ..Default::default()
    })
    .unwrap();
    // Constants for every shape: each new length compiles its own pipelines.
    d.set_tuning(shadergrad::Tuning {
        shape_constants: usize::MAX,
        ..d.tuning()
    });
    for len in 1..=30 {
        step(&d, len);
    }
    let (warm, rss_warm) = (d.counters(), rss_bytes());
    for len in 31..=100 {
        step(&d, len);
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

#[test]
fn cached_plans_hold_a_bounded_number_of_bind_groups() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let cap = 64;
    let d = Device::with_options(&shadergrad::DeviceOptions {
        bind_group_capacity: Some(cap),
        ..Default::default()
    })
    .unwrap();
    let free = Device::new().unwrap();
    for len in 1..=200 {
        // The same numbers as on a device that keeps every plan.
        d.manual_seed(len as u64);
        free.manual_seed(len as u64);
        assert_eq!(step(&d, len).to_bits(), step(&free, len).to_bits(), "{len}");
    }
    let (c, kept) = (d.counters(), free.counters());
    eprintln!("capped {c:?}\nuncapped {kept:?}");
    // 200 plans of a few steps each: the uncapped device holds them all
    // (its plan capacity is 256); the capped one drops the oldest.
    assert!(kept.bind_groups_live > 4 * cap, "{kept:?}");
    assert!(c.bind_groups_live <= cap, "{c:?}");
    assert!(c.plans_evicted > 0 && kept.plans_evicted == 0, "{c:?}");
}
