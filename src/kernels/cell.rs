//! One time step of a recurrent cell's gate maths (`shaders/cell.wgsl`):
//! the forward reads the step's pre-activations (the input projection of
//! every step, at this step's offset, the recurrent matmul's output and
//! b_hh) and the previous state, and writes h', the LSTM's c' and the
//! activated gates the backward needs, packed in one buffer, in one
//! dispatch; the backward writes the gate pre-activations' gradients and
//! the previous state's in one dispatch. The matmuls stay the planner's.
//!
//! The packed output is one tensor of `slots x B x H` elements (see the
//! shader); the module reads h' and c' as views of it, and the next step's
//! kernel reads its state from it in place, so no step copies a state.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::{Arg, Call, Desc, Kernel, Launch, grid, no_second_order, per_invocation};
use crate::nn::CellKind;
use crate::pipeline::{BindKind, KernelSource};
use crate::shape::View;
use crate::tensor::Tensor;

const WG: u32 = 64;

/// Storage buffers the backward binds (out and five inputs): below it the
/// module records the composed form.
pub(crate) const STORAGE: u32 = 6;

/// The forward: inputs [xp (T, B, G) or one step's (B, G), hp (B, G), state (LSTM c, GRU h; the
/// RNN has none), b_hh (G) when `bias`], reading xp from element
/// `xp_offset` (the step's, a runtime scalar).
pub(crate) struct Cell {
    pub kind: CellKind,
    pub bias: bool,
    pub xp_offset: usize,
}

/// The backward: inputs [dy, y (the packed output), state, hp and b_hh
/// (GRU)]; the RNN's only [dy, y].
pub(crate) struct CellGrad {
    pub kind: CellKind,
    pub bias: bool,
    /// H: the packed inputs do not show it.
    pub hidden: usize,
}

fn code(kind: CellKind) -> f64 {
    match kind {
        CellKind::RnnTanh => 0.0,
        CellKind::RnnRelu => 1.0,
        CellKind::Lstm => 2.0,
        CellKind::Gru => 3.0,
    }
}

fn has_state(kind: CellKind) -> bool {
    matches!(kind, CellKind::Lstm | CellKind::Gru)
}

/// Blocks of B x H in the forward's packed output.
pub(crate) fn slots(kind: CellKind) -> usize {
    match kind {
        CellKind::Lstm => 6,
        CellKind::Gru => 4,
        CellKind::RnnTanh | CellKind::RnnRelu => 1,
    }
}

/// Where the state sits in the packed output: the GRU's h in block 0, the
/// LSTM's c in block 1.
pub(crate) fn state_slot(kind: CellKind) -> usize {
    match kind {
        CellKind::Lstm => 1,
        _ => 0,
    }
}

/// Blocks of B x H in the backward's output.
fn grad_slots(kind: CellKind) -> usize {
    match kind {
        CellKind::Lstm => 5,
        CellKind::Gru => 7,
        CellKind::RnnTanh | CellKind::RnnRelu => 1,
    }
}

pub(crate) fn name(kind: CellKind) -> &'static str {
    match kind {
        CellKind::Lstm => "lstm_cell",
        CellKind::Gru => "gru_cell",
        CellKind::RnnTanh | CellKind::RnnRelu => "rnn_cell",
    }
}

fn grad_name(kind: CellKind) -> &'static str {
    match kind {
        CellKind::Lstm => "lstm_cell.grad",
        CellKind::Gru => "gru_cell.grad",
        CellKind::RnnTanh | CellKind::RnnRelu => "rnn_cell.grad",
    }
}

/// (B, H) from the recurrent projection's shape (B, gates H).
fn batch_hidden(kind: CellKind, hp: &[usize]) -> (usize, usize) {
    (hp[0], hp[1] / kind.gates())
}

/// The state's first element: 0 for a (B, H) tensor, its block in a
/// previous step's packed (1-D) output.
fn state_offset(kind: CellKind, state: &[usize], n: usize) -> usize {
    match state.len() {
        1 => state_slot(kind) * n,
        _ => 0,
    }
}

impl Cell {
    fn check(&self, inputs: &[Desc]) -> Result<(usize, usize)> {
        let op = name(self.kind);
        let want = 2 + has_state(self.kind) as usize + self.bias as usize;
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|d| d.shape.to_vec()).collect();
        let refuse = |msg: String| Error::InvalidArgument {
            op,
            shape: shapes.concat(),
            msg: format!("{msg} (inputs {shapes:?})"),
        };
        if inputs.len() != want {
            return Err(refuse(format!("needs {want} inputs")));
        }
        if let Some(d) = inputs.iter().find(|d| d.dtype != DType::F32) {
            return Err(Error::UnsupportedDType {
                op,
                dtype: d.dtype,
                reason: "f32 only",
            });
        }
        let (xp, hp) = (inputs[0].shape, inputs[1].shape);
        let g = self.kind.gates();
        if hp.len() != 2 || hp[1] == 0 || hp[1] % g != 0 || hp[0] == 0 {
            return Err(refuse(format!(
                "the recurrent projection must be (B, {g} H) with B, H >= 1"
            )));
        }
        let (b, h) = batch_hidden(self.kind, hp);
        let n = b * h;
        // (T, B, G), or one step's (B, G).
        let step = &xp[xp.len().saturating_sub(2)..];
        let whole: usize = xp.iter().product();
        if !matches!(xp.len(), 2 | 3) || step != [b, g * h] || self.xp_offset + b * g * h > whole {
            return Err(refuse(format!(
                "the input projection must be (T, {b}, {}) and hold the step",
                g * h
            )));
        }
        if has_state(self.kind) {
            let s = inputs[2].shape;
            let packed = s == [slots(self.kind) * n];
            if s != [b, h] && !packed {
                return Err(refuse(format!("the state must be ({b}, {h})")));
            }
        }
        if self.bias && inputs[want - 1].shape != [g * h] {
            return Err(refuse(format!("b_hh must hold {} values", g * h)));
        }
        Ok((b, h))
    }
}

/// The launch of `entry` over B x H elements binding `args` (out first).
fn launch(
    entry: &'static str,
    kind: CellKind,
    bias: bool,
    args: Vec<Arg>,
    dims: [usize; 3],
    cpu: bool,
) -> Launch {
    let forward = entry == "cell_forward";
    let mut layout = vec![BindKind::ReadWrite];
    layout.extend([BindKind::Read; 4]);
    layout.push(if forward {
        BindKind::Unused
    } else {
        BindKind::Read
    });
    layout.push(BindKind::Uniform);
    layout.push(if forward {
        BindKind::Uniform
    } else {
        BindKind::Unused
    });
    let src = KernelSource::new("cell", crate::kernels::shader("cell").into(), entry, layout)
        .with("KIND", code(kind))
        .with("BIAS", bias as u8 as f64)
        .with("WG", WG as f64);
    let n = dims[0] * dims[1];
    let per = per_invocation(n, WG, cpu) as usize;
    let groups = n.div_ceil(WG as usize * per) as u64;
    let l = Launch::new(src, args, grid(groups)).meta(vec![
        dims[0] as u32,
        dims[1] as u32,
        dims[2] as u32,
        0,
    ]);
    if forward { l.scalars(vec![0]) } else { l }
}

impl Kernel for Cell {
    fn name(&self) -> &'static str {
        name(self.kind)
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.extend([code(self.kind) as u64, self.bias as u64]);
    }

    fn scalars(&self) -> Vec<u32> {
        vec![self.xp_offset as u32]
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        let (b, h) = self.check(inputs)?;
        Ok((vec![slots(self.kind) * b * h], DType::F32))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        let (b, h) = batch_hidden(self.kind, call.inputs[1].shape);
        let stateful = has_state(self.kind);
        let state = if stateful { Arg::In(2) } else { Arg::In(0) };
        let soff = match stateful {
            true => state_offset(self.kind, call.inputs[2].shape, b * h),
            false => 0,
        };
        let bias = match self.bias {
            true => Arg::In(call.inputs.len() - 1),
            false => Arg::In(0),
        };
        let args = vec![
            Arg::Out,
            Arg::In(0),
            Arg::In(1),
            state,
            bias,
            Arg::In(0),
            Arg::Meta,
            Arg::Scalars,
        ];
        let l = launch(
            "cell_forward",
            self.kind,
            self.bias,
            args,
            [b, h, soff],
            call.opts.cpu,
        );
        Ok(vec![l])
    }

    fn backward(&self, src: &[Tensor], y: &Tensor, g: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let (xp, hp) = (&src[0], &src[1]);
        let (b, h) = batch_hidden(self.kind, hp.shape());
        let (n, gh) = (b * h, self.kind.gates() * h);
        let k = CellGrad {
            kind: self.kind,
            bias: self.bias,
            hidden: h,
        };
        let mut ins = vec![g, y];
        if has_state(self.kind) {
            ins.push(&src[2]);
        }
        if self.kind == CellKind::Gru {
            ins.push(hp);
            if self.bias {
                ins.push(&src[3]);
            }
        }
        let d = Tensor::apply(k, &ins)?;
        let dx = d.narrow(0, 0, b * gh)?.reshape(&[1, b, gh])?;
        let dh = match self.kind {
            CellKind::Gru => d.narrow(0, b * gh, b * gh)?.reshape(&[b, gh])?,
            _ => dx.reshape(&[b, gh])?,
        };
        // The step's block of the whole input projection's gradient: every
        // step's join as one concatenation (autodiff_sum).
        let at = View {
            shape: vec![1, b, gh],
            strides: vec![(b * gh) as isize, gh as isize, 1],
            offset: self.xp_offset,
        };
        let dxp = match xp.rank() {
            2 => dx.reshape(&[b, gh])?,
            _ => Tensor::unview(&dx, at, xp.shape())?,
        };
        let mut out = vec![Some(dxp), Some(dh.clone())];
        if has_state(self.kind) {
            let s = &src[2];
            let ds = d.narrow(0, (grad_slots(self.kind) - 1) * n, n)?;
            let ds = match s.rank() {
                1 => {
                    let at = View {
                        shape: vec![n],
                        strides: vec![1],
                        offset: state_slot(self.kind) * n,
                    };
                    Tensor::unview(&ds, at, s.shape())?
                }
                _ => ds.reshape(&[b, h])?,
            };
            out.push(Some(ds));
        }
        if self.bias {
            out.push(Some(dh.sum(&[0], false)?));
        }
        Ok(out)
    }
}

impl Kernel for CellGrad {
    fn name(&self) -> &'static str {
        grad_name(self.kind)
    }

    fn key(&self, key: &mut Vec<u64>) {
        key.extend([code(self.kind) as u64, self.bias as u64, self.hidden as u64]);
    }

    fn scalars(&self) -> Vec<u32> {
        Vec::new()
    }

    fn output(&self, inputs: &[Desc]) -> Result<(Vec<usize>, DType)> {
        // Recorded by `Cell::backward` alone, from shapes it has checked.
        let n = inputs[1].numel() / slots(self.kind);
        Ok((vec![grad_slots(self.kind) * n], DType::F32))
    }

    fn launch(&self, call: &Call) -> Result<Vec<Launch>> {
        let n = call.inputs[1].numel() / slots(self.kind);
        let stateful = has_state(self.kind);
        let soff = match stateful {
            true => state_offset(self.kind, call.inputs[2].shape, n),
            false => 0,
        };
        let h = self.hidden;
        let gru = self.kind == CellKind::Gru;
        let pick = |i: usize, on: bool| if on { Arg::In(i) } else { Arg::In(0) };
        let args = vec![
            Arg::Out,
            Arg::In(0),
            Arg::In(1),
            pick(2, stateful),
            pick(3, gru),
            pick(4, gru && self.bias),
            Arg::Meta,
            Arg::In(0),
        ];
        let l = launch(
            "cell_backward",
            self.kind,
            self.bias,
            args,
            [n / h, h, soff],
            call.opts.cpu,
        );
        Ok(vec![l])
    }

    fn backward(&self, _: &[Tensor], out: &Tensor, _: &Tensor) -> Result<Vec<Option<Tensor>>> {
        Err(no_second_order(self.name(), out))
    }
}
