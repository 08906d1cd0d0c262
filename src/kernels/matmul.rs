//! Launcher for `shaders/matmul.wgsl`, and the choice of version per adapter.
//!
//! The choice: software adapters (lavapipe, where a workgroup barrier suspends
//! every lane and every load in a loop is a per-lane scalar load) get the
//! barrier-free `lanes` version when subgroups are on (a workgroup is one
//! subgroup; loads are shared by shuffles) and the register-tiled one when they
//! are off; GPUs get the workgroup-memory tiled version.
//! `SHADERGRAD_MATMUL=naive|register|tiled|lanes` overrides it, and the
//! benchmark suite measures every version side by side.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::{
    Arg, Desc, Launch, dispatch_limit, grid, per_invocation, shader, with_prelude,
};
use crate::pipeline::{BindKind, KernelSource};
use crate::shape::View;
use crate::tuning::{MatmulVariant, PlanOptions};

impl MatmulVariant {
    /// The versions this device can run.
    pub fn available(device: &Device) -> Vec<MatmulVariant> {
        let mut v = vec![
            MatmulVariant::Naive,
            MatmulVariant::Register,
            MatmulVariant::Tiled,
        ];
        if device.lanes().is_some() {
            v.push(MatmulVariant::Lanes);
        }
        v
    }

    /// The version this device runs now, with the reason.
    pub fn choose(device: &Device) -> (MatmulVariant, &'static str) {
        choose(&device.plan_options())
    }
}

/// The version a plan with these options runs, with the reason.
fn choose(opts: &PlanOptions) -> (MatmulVariant, &'static str) {
    match opts.tuning.matmul {
        Some(MatmulVariant::Lanes) if opts.lanes == 0 => {}
        Some(v) => return (v, "set in the device's tuning (or SHADERGRAD_MATMUL)"),
        None => {}
    }
    if opts.cpu && opts.lanes > 0 {
        (
            MatmulVariant::Lanes,
            "software adapter with subgroups: loads shared by shuffles, no barrier",
        )
    } else if opts.cpu {
        (
            MatmulVariant::Register,
            "software adapter: barriers are costly, register tiles win",
        )
    } else {
        (
            MatmulVariant::Tiled,
            "GPU: workgroup-memory tiles reuse each load 64 times",
        )
    }
}

/// Batch dims of both operands, merged where both are contiguous across them,
/// padded to 4 (leading 1s). More than 4 unmergeable dims is an error.
fn batch_layout(
    dims: &[usize],
    sa: &[usize],
    sb: &[usize],
) -> Option<([u32; 4], [u32; 4], [u32; 4])> {
    let mut d: Vec<usize> = Vec::new();
    let mut a: Vec<usize> = Vec::new();
    let mut b: Vec<usize> = Vec::new();
    for i in 0..dims.len() {
        if dims[i] == 1 {
            continue;
        }
        if let (Some(ld), Some(la), Some(lb)) = (d.last_mut(), a.last_mut(), b.last_mut())
            && *la == sa[i] * dims[i]
            && *lb == sb[i] * dims[i]
        {
            *ld *= dims[i];
            *la = sa[i];
            *lb = sb[i];
            continue;
        }
        d.push(dims[i]);
        a.push(sa[i]);
        b.push(sb[i]);
    }
    if d.len() > 4 {
        return None;
    }
    let pad = |v: &[usize], fill: u32| {
        let mut out = [fill; 4];
        for (o, x) in out[4 - v.len()..].iter_mut().zip(v) {
            *o = *x as u32;
        }
        out
    };
    Some((pad(&d, 1), pad(&a, 0), pad(&b, 0)))
}

/// One operand as the kernel reads it: offset, row and column strides, and
/// its stride per batch dim (0 where broadcast).
#[derive(Clone, Copy)]
struct Side {
    off: usize,
    rows: usize,
    cols: usize,
    batch: [u32; 4],
}

impl Side {
    /// True when the kernel can read it as vec4 along its columns (`width` of
    /// them): contiguous rows whose starts are all multiples of 4.
    fn vec4(&self, width: usize) -> bool {
        let four = |x: usize| x.is_multiple_of(4);
        self.cols == 1
            && four(self.rows)
            && four(self.off)
            && four(width)
            && self.batch.iter().all(|&s| s.is_multiple_of(4))
    }
}

/// The product C (m x n) = A (m x k) B (k x n) over `batch` matrices, as one
/// kernel computes it; `inputs` says which recorded input is its A and B.
#[derive(Clone, Copy)]
struct Gemm {
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    bdims: [u32; 4],
    a: Side,
    b: Side,
    /// C's strides: (n, 1), or (1, m) when it computes C^T.
    c: (usize, usize),
    inputs: [usize; 2],
}

impl Gemm {
    fn of(out: Desc, a: &View, b: &View) -> Result<Gemm> {
        let r = out.shape.len();
        let (m, n) = (out.shape[r - 2], out.shape[r - 1]);
        // The planner copies a reversed (flipped) operand first.
        let forwards = |v: &View| {
            v.unsigned_strides().ok_or_else(|| Error::InvalidArgument {
                op: "matmul",
                shape: v.shape.clone(),
                msg: "an operand read backwards must be copied first".into(),
            })
        };
        let (sa, sb) = (forwards(a)?, forwards(b)?);
        let (bdims, a_sb, b_sb) = batch_layout(&out.shape[..r - 2], &sa[..r - 2], &sb[..r - 2])
            .ok_or_else(|| Error::InvalidArgument {
                op: "matmul",
                shape: out.shape.to_vec(),
                msg: "more than 4 batch dims that cannot be merged; make an operand contiguous"
                    .into(),
            })?;
        let side = |v: &View, st: &[usize], batch| Side {
            off: v.offset,
            rows: st[r - 2],
            cols: st[r - 1],
            batch,
        };
        Ok(Gemm {
            m,
            n,
            k: a.shape[r - 1],
            batch: out.shape[..r - 2].iter().product(),
            bdims,
            a: side(a, &sa, a_sb),
            b: side(b, &sb, b_sb),
            c: (n, 1),
            inputs: [0, 1],
        })
    }

    /// C^T = B^T A^T: the same product with the operands' roles swapped.
    fn transposed(&self) -> Gemm {
        let flip = |s: Side| Side {
            rows: s.cols,
            cols: s.rows,
            ..s
        };
        Gemm {
            m: self.n,
            n: self.m,
            a: flip(self.b),
            b: flip(self.a),
            c: (1, self.n),
            inputs: [1, 0],
            ..*self
        }
    }

    /// The kernels' uniform (struct Meta in shaders/matmul.wgsl).
    fn meta(&self) -> Vec<u32> {
        let (a, b) = (&self.a, &self.b);
        let mut meta: Vec<u32> = [
            self.m,
            self.n,
            self.k,
            self.batch,
            a.off,
            a.rows,
            a.cols,
            b.off,
            b.rows,
            b.cols,
            self.c.0,
            self.c.1,
            self.m * self.n,
            0,
            0,
            0,
        ]
        .iter()
        .map(|&x| x as u32)
        .collect();
        meta.extend(self.bdims);
        meta.extend(a.batch);
        meta.extend(b.batch);
        meta
    }

    /// B copied into a contiguous panel of rows padded to a multiple of 4
    /// (one copy per distinct batch): the pack's uniform, the panel's bytes,
    /// and the product reading the panel instead.
    fn packed(&self, elem_bytes: usize) -> (Vec<u32>, u64, Gemm) {
        let n4 = self.n.next_multiple_of(4);
        // Broadcast batch dims are stored once.
        let pdims = std::array::from_fn::<u32, 4, _>(|i| {
            if self.b.batch[i] == 0 {
                1
            } else {
                self.bdims[i]
            }
        });
        let batches: usize = pdims.iter().map(|&d| d as usize).product();
        let mut stride = self.k * n4;
        let mut pb = [0u32; 4];
        for i in (0..4).rev() {
            if self.b.batch[i] != 0 {
                pb[i] = stride as u32;
                stride *= pdims[i] as usize;
            }
        }
        let pack = Gemm {
            m: n4,
            batch: batches,
            bdims: pdims,
            ..*self
        };
        let panel = Gemm {
            b: Side {
                off: 0,
                rows: n4,
                cols: 1,
                batch: pb,
            },
            ..*self
        };
        let bytes = (batches * self.k * n4 * elem_bytes) as u64;
        (pack.meta(), bytes, panel)
    }
}

/// C = A x B for C `out`, A and B read through their views.
pub(crate) fn launch(out: Desc, a: &View, b: &View, opts: &PlanOptions) -> Result<Vec<Launch>> {
    let variant = choose(opts).0;
    let g = Gemm::of(out, a, b)?;
    let layout = vec![
        BindKind::ReadWrite,
        BindKind::Read,
        BindKind::Read,
        BindKind::Uniform,
    ];
    let source = |entry| {
        let src = KernelSource::new(
            "matmul",
            with_prelude(shader("matmul"), out.dtype),
            entry,
            layout.clone(),
        );
        match variant {
            MatmulVariant::Lanes => src.with("LANES", opts.lanes as f64),
            _ => src,
        }
    };
    let (m, n, batch) = (g.m, g.n, g.batch);
    let one = |entry, groups: [usize; 3], g: &Gemm| -> Result<Vec<Launch>> {
        let groups = dispatch_limit("matmul", out.shape, groups)?;
        let args = vec![
            Arg::Out,
            Arg::In(g.inputs[0]),
            Arg::In(g.inputs[1]),
            Arg::Meta,
        ];
        Ok(vec![
            Launch::new(source(entry), args, groups).meta(g.meta()),
        ])
    };
    let lanes = opts.lanes as usize;
    match variant {
        MatmulVariant::Naive => one("matmul_naive", [n.div_ceil(8), m.div_ceil(8), batch], &g),
        MatmulVariant::Register => one(
            "matmul_register",
            [n.div_ceil(32), m.div_ceil(32), batch],
            &g,
        ),
        MatmulVariant::Tiled => one("matmul_tiled", [n.div_ceil(64), m.div_ceil(64), batch], &g),
        MatmulVariant::Lanes => {
            // The vec4 form wants B contiguous along n: as it is, by computing
            // C^T = B^T A^T, or copied into a padded panel. A product of a
            // few rows is not worth the copy: the scalar form takes it.
            let t = g.transposed();
            let lanes_groups = |g: &Gemm| [g.n.div_ceil(4 * lanes), g.m.div_ceil(8), batch];
            if g.b.vec4(g.n) {
                one("matmul_lanes", lanes_groups(&g), &g)
            } else if t.b.vec4(t.n) {
                one("matmul_lanes", lanes_groups(&t), &t)
            } else if m < 8 {
                one(
                    "matmul_lanes_strided",
                    [n.div_ceil(2 * lanes), m.div_ceil(12), batch],
                    &g,
                )
            } else {
                packed(&g, out, opts, &source, lanes_groups)
            }
        }
    }
}

/// B packed into a scratch panel, then the vec4 product on it.
fn packed(
    g: &Gemm,
    out: Desc,
    opts: &PlanOptions,
    source: &dyn Fn(&'static str) -> KernelSource,
    groups: impl Fn(&Gemm) -> [usize; 3],
) -> Result<Vec<Launch>> {
    let (pack_meta, bytes, panel) = g.packed(out.dtype.size_bytes());
    let scratch = Arg::Scratch(0, bytes);
    let vec4s = bytes as usize / (4 * out.dtype.size_bytes());
    let per = per_invocation(vec4s, 64, opts.cpu);
    let pack_groups = grid((vec4s as u64).div_ceil(64 * per as u64));
    let args = |first| vec![first, Arg::In(0), Arg::In(1), Arg::Meta];
    Ok(vec![
        Launch::new(
            source("matmul_pack_b").with("PER", per as f64),
            args(scratch),
            pack_groups,
        )
        .meta(pack_meta),
        Launch::new(
            source("matmul_lanes"),
            vec![Arg::Out, Arg::In(0), scratch, Arg::Meta],
            dispatch_limit("matmul", out.shape, groups(&panel))?,
        )
        .meta(panel.meta()),
    ])
}
