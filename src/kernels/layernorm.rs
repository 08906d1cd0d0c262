//! Layer norm and RMSNorm over the last axis (`shaders/layernorm.wgsl`), each
//! direction one node whose form is chosen at launch: where the adapter has
//! fixed-width subgroups (software adapters), one kernel with a subgroup per
//! row (the lanes stride the row, loads and stores stay contiguous, the second
//! pass finds the row in cache); elsewhere a per-row reduction into a scratch
//! buffer, then an element per invocation. The backward recomputes the row
//! statistics (one read of x: the forward keeps none) and takes the closed
//! form; gamma's and beta's gradients are column sums the planner fuses.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::{
    Arg, Call, Desc, Kernel, Launch, grid, no_second_order, shader, subgroup_rows,
};
use crate::pipeline::{BindKind, KernelSource};
use crate::tensor::Tensor;

const WG: u32 = 64;

/// y = (x - mean) * rstd * gamma (+ beta) per row: inputs [x, gamma, (beta)].
pub(crate) struct LayerNorm {
    pub rms: bool,
    pub eps: f32,
}

/// Per-row statistics of x: -> (rows, 2) = mean and 1/sqrt(var + eps); for
/// RMSNorm 0 and 1/sqrt(mean(x^2) + eps).
pub(crate) struct LnStats {
    pub rms: bool,
    pub eps: f32,
}

/// Storage buffers a stage binds in the gradient's element form (out, x,
/// dy, gamma, stats, sums); below it layer norm is recorded composed.
pub(crate) const STORAGE: u32 = 6;

/// dx in closed form: inputs [x, dy, gamma, stats].
pub(crate) struct LayerNormGrad {
    pub rms: bool,
}

fn name(rms: bool) -> &'static str {
    if rms { "rms_norm" } else { "layer_norm" }
}

/// The pipeline of `entry` for x of `rows` rows of `c`; `layout` its bindings.
fn source(entry: &'static str, c: usize, rms: bool, layout: usize) -> KernelSource {
    let mut kinds = vec![BindKind::ReadWrite];
    kinds.extend(std::iter::repeat_n(BindKind::Read, layout - 1));
    if entry.contains("stats") || entry.contains("forward") {
        kinds.push(BindKind::Uniform);
    }
    // Binding 6: the row count, where the pipeline does not bake it in.
    kinds.resize(6, BindKind::Unused);
    kinds.push(BindKind::Uniform);
    let mut src = KernelSource::new("layernorm", shader("layernorm").into(), entry, kinds);
    for (n, v) in [("C", c), ("RMS", rms as usize), ("WG", WG as usize)] {
        src = src.with(n, v as f64);
    }
    src
}

fn rows_cols(x: &[usize]) -> (usize, usize) {
    let c = *x.last().unwrap_or(&1);
    (crate::shape::numel(x) / c.max(1), c)
}

/// A launch of `src` binding `args` (then the row count, binding 6) over
/// `groups` workgroups, for x of `rows` rows.
fn with_rows(src: KernelSource, mut args: Vec<Arg>, groups: [u32; 3], rows: usize) -> Launch {
    args.resize(6, Arg::In(0));
    args.push(Arg::Meta);
    Launch::new(src, args, groups)
        .meta(vec![rows as u32])
        .shape_overrides(&[("ROWS", rows)])
}

/// A launch of `entry` with a row per invocation (`per_row`) or an element.
fn plain(src: KernelSource, args: Vec<Arg>, work: usize, rows: usize) -> Launch {
    with_rows(src, args, grid((work as u64).div_ceil(WG as u64)), rows)
}

impl Kernel for LayerNorm {
    fn name(&self) -> &'static str {
        name(self.rms)
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.push(self.rms as u64);
    }

    fn scalars(&self) -> Vec<u32> {
        vec![self.eps.to_bits()]
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        let (op, x) = (name(self.rms), inputs[0]);
        let c = *x.shape.last().unwrap_or(&0);
        if x.dtype != DType::F32 || x.shape.is_empty() || c == 0 {
            return Err(Error::InvalidArgument {
                op,
                shape: x.shape.to_vec(),
                msg: "needs an f32 tensor with a non-empty last axis".into(),
            });
        }
        for p in &inputs[1..] {
            if p.shape != [c] {
                return Err(Error::ShapeMismatch {
                    op,
                    lhs: x.shape.to_vec(),
                    rhs: p.shape.to_vec(),
                    detail: format!(": weight and bias need {c} values (the last axis)"),
                });
            }
        }
        Ok((x.shape.to_vec(), DType::F32))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        let (rows, c) = rows_cols(call.inputs[0].shape);
        // Beta comes in dy's binding (RMSNorm has none: x stands in).
        let beta = if call.inputs.len() > 2 { 2 } else { 0 };
        let lanes = call.opts.lanes;
        if lanes > 0 {
            let src = source("ln_forward_lanes", c, self.rms, 5);
            let (src, groups) = subgroup_rows(src, rows, lanes);
            let args = vec![
                Arg::Out,
                Arg::In(0),
                Arg::In(beta),
                Arg::In(1),
                Arg::In(0),
                Arg::Scalars,
            ];
            return Ok(vec![
                with_rows(src, args, grid(groups), rows).scalars(vec![0]),
            ]);
        }
        let stats = Arg::Scratch(0, (rows * 8) as u64);
        let x = Arg::In(0);
        Ok(vec![
            plain(
                source("ln_stats", c, self.rms, 5),
                vec![stats, x, x, x, x, Arg::Scalars],
                rows,
                rows,
            )
            .scalars(vec![0]),
            plain(
                source("ln_apply", c, self.rms, 5),
                vec![Arg::Out, x, Arg::In(beta), Arg::In(1), stats],
                rows * c,
                rows,
            ),
        ])
    }

    fn backward(&self, src: &[Tensor], _: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (x, gamma) = (&src[0], &src[1]);
        let stats = {
            let k = LnStats {
                rms: self.rms,
                eps: self.eps,
            };
            Tensor::apply(k, &[x])?
        };
        let dx = Tensor::apply(LayerNormGrad { rms: self.rms }, &[x, g, gamma, &stats])?;
        // dgamma = sum over rows of dy * xhat; dbeta = sum over rows of dy.
        let (rows, c) = rows_cols(x.shape());
        let g2 = g.reshape(&[rows, c])?;
        let xhat = x
            .reshape(&[rows, c])?
            .sub(&stats.narrow(1, 0, 1)?)?
            .mul(&stats.narrow(1, 1, 1)?)?;
        let mut out = vec![Some(dx), Some(g2.mul(&xhat)?.sum(&[0], false)?)];
        if !self.rms {
            out.push(Some(g2.sum(&[0], false)?));
        }
        Ok(out)
    }
}

impl Kernel for LnStats {
    fn name(&self) -> &'static str {
        if self.rms {
            "rms_norm.stats"
        } else {
            "layer_norm.stats"
        }
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.push(self.rms as u64);
    }

    fn scalars(&self) -> Vec<u32> {
        vec![self.eps.to_bits()]
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((vec![rows_cols(inputs[0].shape).0, 2], DType::F32))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        let (rows, c) = rows_cols(call.inputs[0].shape);
        let x = Arg::In(0);
        let args = vec![Arg::Out, x, x, x, x, Arg::Scalars];
        Ok(vec![
            plain(source("ln_stats", c, self.rms, 5), args, rows, rows).scalars(vec![0]),
        ])
    }

    fn backward(&self, src: &[Tensor], _: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        // Only read under the closed form, which accounts for it.
        Ok(vec![None; src.len()])
    }
}

impl Kernel for LayerNormGrad {
    fn name(&self) -> &'static str {
        if self.rms {
            "rms_norm.grad"
        } else {
            "layer_norm.grad"
        }
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.push(self.rms as u64);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        Ok((inputs[0].shape.to_vec(), DType::F32))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        let (rows, c) = rows_cols(call.inputs[0].shape);
        let ins = [Arg::In(0), Arg::In(1), Arg::In(2), Arg::In(3)];
        let lanes = call.opts.lanes;
        if lanes > 0 {
            let src = source("ln_grad_lanes", c, self.rms, 5);
            let (src, groups) = subgroup_rows(src, rows, lanes);
            let mut args = vec![Arg::Out];
            args.extend(ins);
            return Ok(vec![with_rows(src, args, grid(groups), rows)]);
        }
        let sums = Arg::Scratch(0, (rows * 8) as u64);
        let mut reduce = vec![sums];
        reduce.extend(ins);
        let mut apply = vec![Arg::Out];
        apply.extend(ins);
        apply.push(sums);
        Ok(vec![
            plain(source("ln_grad_reduce", c, self.rms, 5), reduce, rows, rows),
            plain(
                source("ln_grad_input", c, self.rms, 6),
                apply,
                rows * c,
                rows,
            ),
        ])
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}
