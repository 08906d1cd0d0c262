//! Fused attention (`shaders/attention.wgsl`), one kernel each way, never
//! writing the N x N scores: the lanes form where the adapter has fixed
//! 8-lane subgroups, the row form otherwise (chosen at launch). The forward
//! writes O with the row log-sum-exp in one (B, H, Nq, Dv + 1) tensor; the
//! backward is FlashAttention-2's: D = rowsum(dO * O) by a fused reduction,
//! then a dK/dV kernel and a dQ kernel that recompute the probabilities.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::{Arg, Call, Desc, Kernel, Launch, dispatch_limit, no_second_order, shader};
use crate::pipeline::{BindKind, KernelSource};
use crate::tensor::Tensor;

const WG: usize = 64;

/// The largest head dimension the kernels' fixed per-lane arrays hold.
pub(crate) const MAX_HEAD_DIM: usize = 128;
/// Storage buffers a stage binds: the row forms, and the lanes forms (which
/// add vec4 views of q, k, v and dO). Below the row forms' count,
/// `Tensor::attention` records the composed maths instead.
pub(crate) const ROWS_STORAGE: u32 = 8;
const LANES_STORAGE: u32 = 12;

/// Dispatches span at most 65535 workgroups per dimension: batch x heads on
/// one, rows on the other (at least 4 per workgroup in every form).
pub(crate) const MAX_BATCH_HEADS: usize = 65535;
pub(crate) const MAX_LEN: usize = 4 * 65535;

/// Which keys a query sees (see shaders/attention.wgsl).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AttnParams {
    /// Key j is visible to query i only when j <= i.
    pub causal: bool,
    /// Key j is visible only when |i - j| <= window.
    pub window: Option<usize>,
    /// A (B) i32 tensor of key lengths follows v in the inputs.
    pub padded: bool,
}

impl AttnParams {
    fn key(&self, key: &mut Vec<u64>) {
        let window = self.window.map_or(u64::MAX, |w| w as u64);
        key.extend([self.causal as u64, self.padded as u64, window]);
    }
}

/// softmax(Q K^T * scale + mask) V: inputs [q (B, H, Nq, D), k (B, H, Nk, D),
/// v (B, H, Nk, Dv), lens (B) when padded] -> (B, H, Nq, Dv + 1): O, then
/// the row log-sum-exp the gradient recomputes from.
pub(crate) struct Attention {
    pub params: AttnParams,
    pub scale: f32,
}

/// dK and dV: inputs [q, k, v, forward, dO, rowsum(dO * O), lens?] ->
/// (B, H, Nk, D + Dv).
pub(crate) struct AttentionGradKV {
    pub params: AttnParams,
    pub scale: f32,
}

/// dQ: the same inputs -> (B, H, Nq, D).
pub(crate) struct AttentionGradQ {
    pub params: AttnParams,
    pub scale: f32,
}

/// The launch of the forward (kind 0), dK/dV (1) or dQ (2) kernel.
fn launch(params: AttnParams, kind: usize, call: &Call) -> Result<Vec<Launch>> {
    let lanes = call.opts.lanes;
    let (qs, ks, vs) = (
        call.inputs[0].shape,
        call.inputs[1].shape,
        call.inputs[2].shape,
    );
    let (b, h, nq, d) = (qs[0], qs[1], qs[2], qs[3]);
    let (nk, dv) = (ks[2], vs[3]);
    let bh = b * h;
    // The lanes forms hold 8 rows x (vec4 slices of D) per lane: for LANES = 8
    // and head dims that are whole vec4s.
    let use_lanes =
        lanes == 8 && d % 4 == 0 && dv % 4 == 0 && call.opts.storage_buffers >= LANES_STORAGE;
    let (entry, rows) = match (kind, use_lanes) {
        (0, true) => ("attention_lanes", nq),
        (0, false) => ("attention_rows", nq),
        (1, true) => ("attention_grad_kv_lanes", nk),
        (1, false) => ("attention_grad_kv_rows", nk),
        (_, true) => ("attention_grad_q_lanes", nq),
        (_, false) => ("attention_grad_q_rows", nq),
    };
    // The lanes forms take 8 queries (TQ) or 4 keys (TK) per workgroup; the
    // row forms WG rows.
    let per = match (kind, use_lanes) {
        (1, true) => 4,
        (_, true) => 8,
        _ => WG,
    };
    let mut layout = vec![BindKind::ReadWrite];
    layout.extend([BindKind::Read; 4]);
    layout.push(BindKind::Uniform);
    // Key lengths follow v (forward) or the gradient's six inputs. Without
    // them the kernel still declares the binding: bind q there.
    let lens = match (params.padded, kind) {
        (true, 0) => 3,
        (true, _) => 6,
        (false, _) => 0,
    };
    let (q, k, v) = (Arg::In(0), Arg::In(1), Arg::In(2));
    let mut args = vec![Arg::Out, q, k, v, Arg::In(lens), Arg::Scalars];
    // The gradients' inputs (forward output, dO, rowsum); the forward's shared
    // helpers name them too, so it binds q in their places.
    layout.extend([BindKind::Read; 3]);
    if kind > 0 {
        args.extend([Arg::In(3), Arg::In(4), Arg::In(5)]);
    } else {
        args.extend([q, q, q]);
    }
    if use_lanes {
        // q, k, v and dO again, seen as vec4 (dO is q's place in the forward).
        let dout = if kind > 0 { Arg::In(4) } else { q };
        layout.extend([BindKind::Read; 4]);
        args.extend([q, k, v, dout]);
    } else {
        layout.extend([BindKind::Unused; 4]);
        args.extend([q; 4]);
    }
    // The lengths, where the pipeline does not bake them in.
    layout.push(BindKind::Uniform);
    args.push(Arg::Meta);
    let mut s = KernelSource::new("attention", shader("attention").into(), entry, layout);
    for (name, value) in [
        ("H", h),
        ("D", d),
        ("DV", dv),
        ("CAUSAL", params.causal as usize),
        ("PADDED", params.padded as usize),
        ("WINDOW", params.window.is_some() as usize),
        ("W", params.window.unwrap_or(0)),
        ("LANES", if use_lanes { lanes as usize } else { 8 }),
        ("WG", WG),
    ] {
        s = s.with(name, value as f64);
    }
    let workgroups = dispatch_limit("attention", qs, [rows.div_ceil(per), bh, 1])?;
    Ok(vec![
        Launch::new(s, args, workgroups)
            .scalars(vec![0])
            .meta(vec![nq as u32, nk as u32])
            .shape_overrides(&[("NQ", nq), ("NK", nk)]),
    ])
}

/// The record-time checks of q (B, H, Nq, D), k (B, H, Nk, D), v (B, H, Nk,
/// Dv) and, when padded, the key lengths (B) i32.
fn check(params: &AttnParams, inputs: &[Desc]) -> Result<()> {
    let (qs, ks, vs) = (inputs[0].shape, inputs[1].shape, inputs[2].shape);
    let bad = |msg: String| Error::ShapeMismatch {
        op: "attention",
        lhs: qs.to_vec(),
        rhs: ks.to_vec(),
        detail: format!(": {msg}"),
    };
    for t in &inputs[..3] {
        if t.dtype != DType::F32 || t.shape.len() != 4 {
            return Err(bad(format!(
                "q, k, v must be f32 (B, H, N, D); one is {} {:?}",
                t.dtype, t.shape
            )));
        }
    }
    if ks[..2] != qs[..2] || vs[..2] != qs[..2] {
        return Err(bad(format!("batch and heads differ (v is {vs:?})")));
    }
    if ks[3] != qs[3] {
        return Err(bad(format!(
            "head dims differ: q has {}, k has {}",
            qs[3], ks[3]
        )));
    }
    if vs[2] != ks[2] {
        return Err(bad(format!("k has {} keys but v has {}", ks[2], vs[2])));
    }
    let (d, dv) = (qs[3], vs[3]);
    if d == 0 || dv == 0 || d > MAX_HEAD_DIM || dv > MAX_HEAD_DIM {
        return Err(bad(format!(
            "head dims {d} and {dv} must be in 1..={MAX_HEAD_DIM}"
        )));
    }
    if qs[0] * qs[1] > MAX_BATCH_HEADS || qs[2] > MAX_LEN || ks[2] > MAX_LEN {
        return Err(bad(format!(
            "batch x heads must be at most {MAX_BATCH_HEADS} and lengths at most {MAX_LEN} \
             (one dispatch); split the batch or the sequence"
        )));
    }
    let lens = inputs.get(3);
    if params.padded && lens.is_none_or(|l| l.dtype != DType::I32 || l.shape != [qs[0]]) {
        return Err(Error::ShapeMismatch {
            op: "attention",
            lhs: qs.to_vec(),
            rhs: lens.map(|l| l.shape.to_vec()).unwrap_or_default(),
            detail: format!(
                ": key lengths must be i32 ({}), one per batch element",
                qs[0]
            ),
        });
    }
    Ok(())
}

impl Kernel for Attention {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn key(&self, key: &mut Vec<u64>) {
        self.params.key(key);
    }

    fn scalars(&self) -> Vec<u32> {
        vec![self.scale.to_bits()]
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        check(&self.params, inputs)?;
        let (qs, dv) = (inputs[0].shape, inputs[2].shape[3]);
        Ok((vec![qs[0], qs[1], qs[2], dv + 1], DType::F32))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        launch(self.params, 0, call)
    }

    fn backward(&self, src: &[Tensor], y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (q, k, v) = (&src[0], &src[1], &src[2]);
        let (d, dv) = (q.shape()[3], v.shape()[3]);
        let go = g.narrow(-1, 0, dv)?.contiguous()?;
        let o = y.narrow(-1, 0, dv)?;
        let drow = go.mul(&o)?.sum(&[-1], false)?;
        let mut gsrc = vec![q, k, v, y, &go, &drow];
        if self.params.padded {
            gsrc.push(&src[3]);
        }
        let (params, scale) = (self.params, self.scale);
        let kv = Tensor::apply(AttentionGradKV { params, scale }, &gsrc)?;
        let dq = Tensor::apply(AttentionGradQ { params, scale }, &gsrc)?;
        let (dk, dvv) = (kv.narrow(-1, 0, d)?, kv.narrow(-1, d, dv)?);
        let mut out = vec![Some(dq), Some(dk), Some(dvv)];
        if self.params.padded {
            out.push(None);
        }
        Ok(out)
    }
}

impl Kernel for AttentionGradKV {
    fn name(&self) -> &'static str {
        "attention.grad_kv"
    }

    fn key(&self, key: &mut Vec<u64>) {
        self.params.key(key);
    }

    fn scalars(&self) -> Vec<u32> {
        vec![self.scale.to_bits()]
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        let mut shape = inputs[1].shape.to_vec();
        shape[3] = inputs[0].shape[3] + inputs[2].shape[3];
        Ok((shape, DType::F32))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        launch(self.params, 1, call)
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}

impl Kernel for AttentionGradQ {
    fn name(&self) -> &'static str {
        "attention.grad_q"
    }

    fn key(&self, key: &mut Vec<u64>) {
        self.params.key(key);
    }

    fn scalars(&self) -> Vec<u32> {
        vec![self.scale.to_bits()]
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((inputs[0].shape.to_vec(), DType::F32))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        launch(self.params, 2, call)
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}
