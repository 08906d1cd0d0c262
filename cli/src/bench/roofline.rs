//! The adapter itself, measured with raw wgpu (no engine kernel involved):
//!
//! - copy bandwidth: a vec4 copy kernel over a large buffer; bytes read plus
//!   bytes written per second;
//! - FMA throughput: each invocation runs independent chains of vec4 `fma`
//!   (2 flops per lane per fma), a few chain counts tried, the best kept;
//! - dispatch overhead probes: empty dispatches within one pass, one pass per
//!   dispatch, an empty submit + wait, a 4-byte readback round trip, and the
//!   engine's own smallest realize and readback.
//!
//! Kernels are timed with GPU timestamps around their pass where the adapter
//! has TIMESTAMP_QUERY, else with the wall clock around submit + wait; a
//! ceiling is the best of several runs (and configurations), the probes are
//! medians.

use shadergrad::wgpu;
use std::time::Instant;

use crate::bench::{Probe, Roofline};
use shadergrad::Device;
use shadergrad::Tensor;
use shadergrad::{Error, Result};

const COPY_WGSL: &str = r#"
@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
override WG: u32 = 256u;
@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i < arrayLength(&dst)) {
        dst[i] = src[i];
    }
}
"#;

/// CHAINS independent vec4 accumulators per invocation, iters x UNROLL fmas each.
const FMA_WGSL: &str = r#"
struct P { iters: u32, b: f32, c: f32, pad: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(1) var<uniform> p: P;
override WG: u32 = 256u;
override CHAINS: u32 = 4u;
override UNROLL: u32 = 8u;
@compute @workgroup_size(WG)
fn fma_peak(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    let b = vec4<f32>(p.b);
    let c = vec4<f32>(p.c);
    let s = f32(i & 1023u) * 1e-6;
    var a0 = vec4<f32>(s, s + 0.1, s + 0.2, s + 0.3);
    var a1 = a0 + 0.01;
    var a2 = a0 + 0.02;
    var a3 = a0 + 0.03;
    var a4 = a0 + 0.04;
    var a5 = a0 + 0.05;
    for (var k = 0u; k < p.iters; k = k + 1u) {
        for (var u = 0u; u < UNROLL; u = u + 1u) {
            a0 = fma(a0, b, c);
            a1 = fma(a1, b, c);
            if (CHAINS > 2u) { a2 = fma(a2, b, c); }
            if (CHAINS > 3u) { a3 = fma(a3, b, c); }
            if (CHAINS > 4u) { a4 = fma(a4, b, c); }
            if (CHAINS > 5u) { a5 = fma(a5, b, c); }
        }
    }
    if (i < arrayLength(&out)) {
        out[i] = a0 + a1 + a2 + a3 + a4 + a5;
    }
}
"#;

const EMPTY_WGSL: &str = "@compute @workgroup_size(1) fn empty() {}";

struct Raw<'a> {
    dev: &'a Device,
    stamps: bool,
}

fn gpu_err(e: impl std::fmt::Display) -> Error {
    Error::Gpu(format!("roofline: {e}"))
}

impl<'a> Raw<'a> {
    fn device(&self) -> &wgpu::Device {
        self.dev.wgpu_device()
    }

    fn pipeline(
        &self,
        src: &str,
        entry: &str,
        constants: &[(&str, f64)],
    ) -> Result<wgpu::ComputePipeline> {
        let d = self.device();
        let scope = d.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("bench roofline"),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        let p = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(gpu_err(e));
        }
        Ok(p)
    }

    fn buffer(&self, bytes: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
        self.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("bench roofline"),
            size: bytes,
            usage,
            mapped_at_creation: false,
        })
    }

    fn wait(&self) -> Result<()> {
        self.dev.synchronize()
    }

    /// Maps `bytes` of a MAP_READ buffer and returns them.
    fn read(&self, buf: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let slice = buf.slice(0..bytes);
        let (tx, rx) = futures::channel::oneshot::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        pollster::block_on(rx)
            .map_err(|_| gpu_err("readback cancelled"))?
            .map_err(gpu_err)?;
        let v = slice.get_mapped_range().map_err(gpu_err)?.to_vec();
        buf.unmap();
        Ok(v)
    }

    /// Encodes `passes` compute passes with `record(pass_index, pass)`, submits,
    /// waits; returns (wall ms, GPU ms from the first pass's start to the last
    /// pass's end, when timestamps exist).
    fn time_passes(
        &self,
        passes: usize,
        mut record: impl FnMut(usize, &mut wgpu::ComputePass),
    ) -> Result<(f64, Option<f64>)> {
        let d = self.device();
        let q = self.dev.wgpu_queue();
        let set = self.stamps.then(|| {
            d.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("bench roofline"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            })
        });
        let resolve = self.buffer(
            16,
            wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        );
        let staging = self.buffer(
            16,
            wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        );
        let scope = d.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("bench roofline"),
        });
        for p in 0..passes {
            let ends = p == 0 || p + 1 == passes;
            let writes = set
                .as_ref()
                .filter(|_| ends)
                .map(|s| wgpu::ComputePassTimestampWrites {
                    query_set: s,
                    beginning_of_pass_write_index: (p == 0).then_some(0),
                    end_of_pass_write_index: (p + 1 == passes).then_some(1),
                });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("bench roofline"),
                timestamp_writes: writes,
            });
            record(p, &mut pass);
        }
        if let Some(s) = &set {
            enc.resolve_query_set(s, 0..2, &resolve, 0);
            enc.copy_buffer_to_buffer(&resolve, 0, &staging, 0, 16);
        }
        let t = Instant::now();
        q.submit([enc.finish()]);
        self.wait()?;
        let wall = t.elapsed().as_secs_f64() * 1e3;
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(gpu_err(e));
        }
        let gpu = match set {
            Some(_) => {
                let raw = self.read(&staging, 16)?;
                let t: Vec<u64> = bytemuck::pod_collect_to_vec(&raw);
                let period = q.get_timestamp_period() as f64;
                Some(t[1].saturating_sub(t[0]) as f64 * period / 1e6)
            }
            None => None,
        };
        Ok((wall, gpu))
    }

    /// Fastest of `reps` runs by the GPU time (or the wall clock without
    /// timestamps): a ceiling is the best the adapter can do.
    fn best_ms(
        &self,
        reps: usize,
        mut once: impl FnMut() -> Result<(f64, Option<f64>)>,
    ) -> Result<f64> {
        let mut v = Vec::with_capacity(reps);
        for _ in 0..reps {
            let (wall, gpu) = once()?;
            v.push(gpu.unwrap_or(wall));
        }
        Ok(v.into_iter().fold(f64::INFINITY, f64::min))
    }
}

/// Workgroups for `n` invocations of `wg` lanes, laid out in 2-D.
fn grid(n: u64, wg: u64) -> (u32, u32) {
    let groups = n.div_ceil(wg).max(1);
    let x = groups.min(65535);
    (x as u32, groups.div_ceil(x) as u32)
}

fn copy_bandwidth(raw: &Raw, quick: bool) -> Result<(f64, u64)> {
    let limit = raw.dev.max_binding_bytes();
    let want: u64 = if quick { 16 << 20 } else { 256 << 20 };
    let bytes = want.min(limit) / 16 * 16;
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
    let src = raw.buffer(bytes, usage);
    let dst = raw.buffer(bytes, usage);
    let mut best = 0.0f64;
    for wg in [64u32, 256] {
        let pipe = raw.pipeline(COPY_WGSL, "copy", &[("WG", wg as f64)])?;
        let bg = raw.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipe.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: src.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: dst.as_entire_binding(),
                },
            ],
        });
        let (gx, gy) = grid(bytes / 16, wg as u64);
        let once = || {
            raw.time_passes(1, |_, pass| {
                pass.set_pipeline(&pipe);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(gx, gy, 1);
            })
        };
        once()?; // warm-up (first touch of the pages)
        let ms = raw.best_ms(if quick { 3 } else { 7 }, once)?;
        best = best.max(2.0 * bytes as f64 / ms / 1e6);
    }
    Ok((best, bytes))
}

fn fma_throughput(raw: &Raw, quick: bool) -> Result<(f64, String)> {
    let d = raw.device();
    let invocations: u64 = if raw.dev.is_cpu() { 1 << 14 } else { 1 << 21 };
    let out = raw.buffer(invocations * 16, wgpu::BufferUsages::STORAGE);
    let params = raw.buffer(
        16,
        wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    );
    let q = raw.dev.wgpu_queue();
    let mut best = (0.0f64, String::new());
    for (chains, unroll) in [(2u32, 1u32), (4, 1), (6, 1), (4, 4)] {
        let pipe = raw.pipeline(
            FMA_WGSL,
            "fma_peak",
            &[
                ("WG", 256.0),
                ("CHAINS", chains as f64),
                ("UNROLL", unroll as f64),
            ],
        )?;
        let bg = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipe.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: out.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: params.as_entire_binding(),
                },
            ],
        });
        let (gx, gy) = grid(invocations, 256);
        let run = |iters: u32| {
            let words: [u32; 4] = [iters, 0.999f32.to_bits(), 1e-4f32.to_bits(), 0];
            q.write_buffer(&params, 0, bytemuck::cast_slice(&words));
            raw.time_passes(1, |_, pass| {
                pass.set_pipeline(&pipe);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(gx, gy, 1);
            })
        };
        // Grow the loop until one run takes long enough to time well.
        let target = if quick { 5.0 } else { 20.0 };
        let mut iters = 64u32;
        loop {
            let (wall, gpu) = run(iters)?;
            if gpu.unwrap_or(wall) >= target || iters >= 1 << 20 {
                break;
            }
            iters *= 2;
        }
        let ms = raw.best_ms(if quick { 3 } else { 5 }, || run(iters))?;
        let flops = invocations as f64 * iters as f64 * unroll as f64 * chains as f64 * 4.0 * 2.0;
        let g = flops / ms / 1e6;
        if g > best.0 {
            best = (
                g,
                format!(
                    "{chains} vec4 fma chains x {} fmas x {invocations} invocations",
                    iters * 8
                ),
            );
        }
    }
    Ok(best)
}

fn probes(raw: &Raw, quick: bool) -> Result<Vec<Probe>> {
    let n = if quick { 200 } else { 1000 };
    let reps = if quick { 3 } else { 5 };
    let empty = raw.pipeline(EMPTY_WGSL, "empty", &[])?;
    let mut out = dispatch_probes(raw, &empty, n, reps)?;
    out.extend(queue_probes(raw, n)?);
    out.extend(engine_probes(raw.dev, n)?);
    out.push(op_per_dispatch(raw, &empty, n, reps)?);
    Ok(out)
}

/// Empty dispatches, all in one pass and one pass each.
fn dispatch_probes(
    raw: &Raw,
    empty: &wgpu::ComputePipeline,
    n: usize,
    reps: usize,
) -> Result<Vec<Probe>> {
    let mut out = Vec::new();
    // Empty dispatches, all in one pass.
    let mut walls = Vec::new();
    let mut gpus = Vec::new();
    for _ in 0..reps + 1 {
        let (w, g) = raw.time_passes(1, |_, pass| {
            pass.set_pipeline(empty);
            for _ in 0..n {
                pass.dispatch_workgroups(1, 1, 1);
            }
        })?;
        walls.push(w);
        gpus.push(g);
    }
    out.push(per_op(
        "empty dispatch, one pass",
        n,
        &walls[1..],
        &gpus[1..],
        "",
    ));
    // One pass per dispatch.
    let (mut walls, mut gpus) = (Vec::new(), Vec::new());
    for _ in 0..reps + 1 {
        let (w, g) = raw.time_passes(n, |_, pass| {
            pass.set_pipeline(empty);
            pass.dispatch_workgroups(1, 1, 1);
        })?;
        walls.push(w);
        gpus.push(g);
    }
    out.push(per_op(
        "empty dispatch, one pass each",
        n,
        &walls[1..],
        &gpus[1..],
        "",
    ));
    Ok(out)
}

/// The queue itself: an empty submit and a 4-byte readback.
fn queue_probes(raw: &Raw, n: usize) -> Result<Vec<Probe>> {
    let (d, q) = (raw.device(), raw.dev.wgpu_queue());
    let mut out = Vec::new();
    // Submit + wait of an empty command buffer.
    let mut v = Vec::new();
    for _ in 0..n / 4 {
        let enc = d.create_command_encoder(&Default::default());
        let t = Instant::now();
        q.submit([enc.finish()]);
        raw.wait()?;
        v.push(t.elapsed().as_secs_f64() * 1e6);
    }
    out.push(median_probe("submit + wait (empty)", &mut v, "per submit"));
    // Readback round trip: copy 4 bytes, submit, map, wait, read.
    let src = raw.buffer(
        16,
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    );
    let staging = raw.buffer(
        16,
        wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
    );
    let mut v = Vec::new();
    for _ in 0..n / 4 {
        let t = Instant::now();
        let mut enc = d.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&src, 0, &staging, 0, 4);
        q.submit([enc.finish()]);
        std::hint::black_box(raw.read(&staging, 4)?);
        v.push(t.elapsed().as_secs_f64() * 1e6);
    }
    out.push(median_probe(
        "readback round trip (4 bytes)",
        &mut v,
        "copy, submit, map, wait",
    ));
    Ok(out)
}

/// The engine's smallest units of work: one fused op on one element.
fn engine_probes(dev: &Device, n: usize) -> Result<Vec<Probe>> {
    let mut out = Vec::new();
    let x = Tensor::from_slice(dev, &[1.0f32], &[1])?;
    let mut v = Vec::new();
    for i in 0..n / 4 {
        let t = Instant::now();
        x.add(i as f64)?.realize()?;
        dev.synchronize()?;
        v.push(t.elapsed().as_secs_f64() * 1e6);
    }
    out.push(median_probe(
        "engine: realize x + c (1 element)",
        &mut v[1..],
        "record, plan replay, submit, wait",
    ));
    let mut v = Vec::new();
    for i in 0..n / 4 {
        let t = Instant::now();
        std::hint::black_box(x.add(i as f64)?.to_vec::<f32>()?);
        v.push(t.elapsed().as_secs_f64() * 1e6);
    }
    out.push(median_probe(
        "engine: to_vec of x + c (1 element)",
        &mut v[1..],
        "the same with the readback",
    ));
    Ok(out)
}

fn op_per_dispatch(
    raw: &Raw,
    empty: &wgpu::ComputePipeline,
    n: usize,
    reps: usize,
) -> Result<Probe> {
    let dev = raw.dev;
    // The engine's per-op cost when nothing is fused: a chain of dependent
    // ops, one dispatch each, planned and submitted at once, timed by the wall
    // clock without profiling (timestamps between dispatches cost more than
    // the dispatches on a software adapter). Each run alternates with a run of
    // the empty-dispatch floor, and the ratio is the median of the pairs', so
    // a noisy machine moves both sides of it together.
    let tuning = dev.tuning();
    dev.set_tuning(shadergrad::Tuning {
        fusion: false,
        ..tuning
    });
    let y = Tensor::from_slice(dev, &vec![0.5f32; 1024], &[1024])?;
    let (mut v, mut ratios) = (Vec::new(), Vec::new());
    for rep in 0..2 * reps + 1 {
        let t = Instant::now();
        let mut z = y.clone();
        for k in 0..n {
            z = if k % 2 == 0 {
                z.mul(0.999)?
            } else {
                z.add(0.001)?
            };
        }
        z.realize()?;
        dev.synchronize()?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let (floor, _) = raw.time_passes(1, |_, pass| {
            pass.set_pipeline(empty);
            for _ in 0..n {
                pass.dispatch_workgroups(1, 1, 1);
            }
        })?;
        // The first run plans; the rest replay.
        if rep > 0 {
            v.push(ms);
            ratios.push(ms / floor);
        }
    }
    dev.set_tuning(tuning);
    ratios.sort_by(f64::total_cmp);
    let mut op = per_op("engine: op per dispatch, one submit", n, &v, &[], "");
    op.note = format!(
        "{n} dependent ops on 1024 values, fusion off: record, plan, submit, wait; {:.2}x the empty-dispatch floor (median of {} paired runs)",
        ratios[ratios.len() / 2],
        ratios.len()
    );
    Ok(op)
}

fn per_op(name: &str, n: usize, walls: &[f64], gpus: &[Option<f64>], note: &str) -> Probe {
    let mut w = walls.to_vec();
    w.sort_by(f64::total_cmp);
    let mut g: Vec<f64> = gpus.iter().flatten().copied().collect();
    g.sort_by(f64::total_cmp);
    Probe {
        name: name.into(),
        wall_us: w[w.len() / 2] * 1e3 / n as f64,
        gpu_us: (!g.is_empty()).then(|| g[g.len() / 2] * 1e3 / n as f64),
        count: n,
        note: if note.is_empty() {
            format!("{n} dispatches per submit, per dispatch")
        } else {
            note.into()
        },
    }
}

fn median_probe(name: &str, v: &mut [f64], note: &str) -> Probe {
    v.sort_by(f64::total_cmp);
    Probe {
        name: name.into(),
        wall_us: v[v.len() / 2],
        gpu_us: None,
        count: v.len(),
        note: note.into(),
    }
}

/// The ceilings and the probes. A failure here is reported, not fatal: the
/// rows then go without a fraction of the ceiling.
pub(crate) fn measure(dev: &Device, quick: bool) -> Result<(Option<Roofline>, Vec<Probe>)> {
    let raw = Raw {
        dev,
        stamps: dev.caps().timestamps,
    };
    let method = if raw.stamps {
        "GPU timestamps around the pass, best of several runs and configurations"
    } else {
        "wall clock around submit + wait, best of several runs and configurations"
    };
    eprint!("bench: roofline (copy bandwidth, FMA throughput) ... ");
    let roof = copy_bandwidth(&raw, quick).and_then(|(bw, bytes)| {
        let (flops, detail) = fma_throughput(&raw, quick)?;
        Ok(Roofline {
            copy_gbps: bw,
            fma_gflops: flops,
            copy_bytes: bytes,
            method: method.into(),
            detail,
        })
    });
    let roof = match roof {
        Ok(r) => {
            eprintln!("{:.1} GB/s, {:.1} GFLOP/s", r.copy_gbps, r.fma_gflops);
            Some(r)
        }
        Err(e) => {
            eprintln!("failed: {e}");
            None
        }
    };
    eprint!("bench: dispatch overhead probes ... ");
    let p = probes(&raw, quick)?;
    eprintln!("done");
    Ok((roof, p))
}
