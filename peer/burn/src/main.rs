//! `peer-burn`: burn's wgpu backend as the benchmark peer of shadergrad's
//! `bench --peer`. `peer-burn list` prints the workloads; `peer-burn serve`
//! answers `run NAME REPS` / `quit` commands on stdin, one JSON line each.

mod workloads;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use burn::tensor::{Device, DeviceKind, TensorData};
use serde_json::{Value, json};
use workloads::{Workload, specs};

const BURN_VERSION: &str = "0.22.1";
/// Warm-up: at least `WARM_MIN_RUNS` runs, at most `WARM_MAX_RUNS`, stopping
/// once `WARM_BUDGET` has passed and the last run was no slower than
/// `WARM_STEADY` times the fastest (so one that is still compiling kernels,
/// slow on a software adapter, does not end the warm-up).
const WARM_MAX_RUNS: usize = 10;
const WARM_MIN_RUNS: usize = 3;
const WARM_BUDGET: Duration = Duration::from_secs(3);
const WARM_STEADY: f64 = 1.5;

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("list") => println!("{}", list()),
        Some("serve") => serve(),
        _ => {
            eprintln!("usage: peer-burn list | peer-burn serve");
            std::process::exit(2);
        }
    }
}

fn list() -> Value {
    let workloads: Vec<Value> = specs()
        .iter()
        .map(|s| json!({"name": s.name, "flops": s.flops, "what": s.what}))
        .collect();
    json!({"peer": "burn", "version": BURN_VERSION, "workloads": workloads})
}

fn serve() {
    let device = Device::wgpu(DeviceKind::DefaultDevice);
    eprintln!("peer-burn: burn {BURN_VERSION}, device {device:?}");
    let mut cache: HashMap<&'static str, Workload> = HashMap::new();
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("peer-burn: stdin: {e}");
                break;
            }
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            [] => continue,
            ["quit"] => break,
            ["run", name, reps] => match reps.parse::<usize>() {
                Ok(reps) => answer_run(&device, &mut cache, name, reps),
                Err(_) => json!({"name": name, "error": format!("bad REPS {reps:?}")}),
            },
            _ => {
                json!({"error": format!("unknown command {line:?}; expected `run NAME REPS` or `quit`")})
            }
        };
        writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .expect("stdout");
    }
}

/// Runs `name` `reps` times, catching a panic inside burn as an error answer.
fn answer_run(
    device: &Device,
    cache: &mut HashMap<&'static str, Workload>,
    name: &str,
    reps: usize,
) -> Value {
    let Some(spec) = specs().into_iter().find(|s| s.name == name) else {
        return json!({"name": name, "error": "unknown workload"});
    };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut warm_ms = 0.0;
        let workload = cache.entry(spec.name).or_insert_with(|| {
            let start = Instant::now();
            let mut w = (spec.make)(device);
            warm_up(&mut w, device);
            warm_ms = ms(start.elapsed());
            w
        });
        let (times, checksum) = timed(workload, reps);
        json!({"name": name, "ms": times, "warm_ms": warm_ms, "checksum": checksum})
    }));
    result.unwrap_or_else(|panic| {
        cache.remove(spec.name);
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into());
        json!({"name": name, "error": why})
    })
}

/// Runs until autotune and the fusion caches have seen this workload, then syncs.
fn warm_up(w: &mut Workload, device: &Device) {
    let start = Instant::now();
    let (mut runs, mut last, mut fastest) = (0, f64::INFINITY, f64::INFINITY);
    let steady = |last: f64, fastest: f64| last <= WARM_STEADY * fastest;
    while runs < WARM_MAX_RUNS
        && (runs < WARM_MIN_RUNS || start.elapsed() < WARM_BUDGET || !steady(last, fastest))
    {
        let inputs = w.inputs(runs);
        let t = Instant::now();
        w.run(inputs);
        last = ms(t.elapsed());
        fastest = fastest.min(last);
        runs += 1;
    }
    device.sync().expect("device sync");
    eprintln!(
        "peer-burn: warmed up in {runs} runs, {:.0} ms",
        ms(start.elapsed())
    );
}

/// `reps` timed runs on rotating input sets: the times (ms) and the first run's checksum.
fn timed(w: &mut Workload, reps: usize) -> (Vec<f64>, f64) {
    let mut times = Vec::with_capacity(reps);
    let mut checksum = 0.0;
    for i in 0..reps {
        let inputs = w.inputs(i);
        let start = Instant::now();
        let outputs = w.run(inputs);
        times.push(ms(start.elapsed()));
        if i == 0 {
            checksum = outputs.iter().map(sum).sum();
        }
    }
    (times, checksum)
}

fn sum(data: &TensorData) -> f64 {
    data.iter::<f32>().map(f64::from).sum()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
