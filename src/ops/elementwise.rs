//! Elementwise ops: unary maths, binary ops with numpy broadcasting, comparisons,
//! where/select, casts. The planner fuses chains of these into one kernel.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{BinaryOp, Op, UnaryOp};
use crate::ops::Rhs;
use crate::shape::broadcast_shapes;
use crate::tensor::Tensor;

macro_rules! unary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {
        impl Tensor {
            $( $(#[$doc])* pub fn $name(&self) -> Result<Tensor> { self.unary(UnaryOp::$op) } )*
        }
    };
}

unary_methods! {
    neg => Neg, exp => Exp, log => Log, sqrt => Sqrt,
    /// 1 / sqrt(x)
    rsqrt => Rsqrt,
    tanh => Tanh, sigmoid => Sigmoid, relu => Relu,
    /// x * Phi(x) with the exact normal CDF (PyTorch's default GELU).
    gelu => Gelu,
    /// GELU's tanh approximation (PyTorch's approximate="tanh").
    gelu_tanh => GeluTanh,
    /// x * sigmoid(x)
    silu => Silu,
    abs => Abs, sign => Sign, sin => Sin, cos => Cos, square => Square,
    /// 1 / x
    recip => Recip,
    floor => Floor, ceil => Ceil,
    /// Rounds half to even, as PyTorch does.
    round => Round,
    erf => Erf,
    /// Logical not of a bool tensor.
    logical_not => Not,
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {
        impl Tensor {
            $( $(#[$doc])* pub fn $name<'a>(&self, rhs: impl Into<Rhs<'a>>) -> Result<Tensor> {
                self.binary(BinaryOp::$op, rhs.into())
            } )*
        }
    };
}

binary_methods! {
    add => Add, sub => Sub, mul => Mul, div => Div,
    /// x ** y; a negative base with a non-integer exponent gives NaN, as in PyTorch.
    pow => Pow,
    /// Elementwise maximum (NaN wins, as in torch.maximum).
    maximum => Max,
    /// Elementwise minimum (NaN wins, as in torch.minimum).
    minimum => Min,
    eq => Eq, ne => Ne, lt => Lt, le => Le, gt => Gt, ge => Ge,
    logical_and => And, logical_or => Or,
}

fn op_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "add",
        BinaryOp::Sub => "sub",
        BinaryOp::Mul => "mul",
        BinaryOp::Div => "div",
        BinaryOp::Pow => "pow",
        BinaryOp::Max => "maximum",
        BinaryOp::Min => "minimum",
        BinaryOp::Eq => "eq",
        BinaryOp::Ne => "ne",
        BinaryOp::Lt => "lt",
        BinaryOp::Le => "le",
        BinaryOp::Gt => "gt",
        BinaryOp::Ge => "ge",
        BinaryOp::And => "logical_and",
        BinaryOp::Or => "logical_or",
    }
}

fn unary_name(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "neg",
        UnaryOp::Exp => "exp",
        UnaryOp::Log => "log",
        UnaryOp::Sqrt => "sqrt",
        UnaryOp::Rsqrt => "rsqrt",
        UnaryOp::Tanh => "tanh",
        UnaryOp::Sigmoid => "sigmoid",
        UnaryOp::Relu => "relu",
        UnaryOp::Gelu => "gelu",
        UnaryOp::GeluTanh => "gelu_tanh",
        UnaryOp::Silu => "silu",
        UnaryOp::Softplus => "softplus",
        UnaryOp::Abs => "abs",
        UnaryOp::Sign => "sign",
        UnaryOp::Sin => "sin",
        UnaryOp::Cos => "cos",
        UnaryOp::Square => "square",
        UnaryOp::Recip => "recip",
        UnaryOp::Floor => "floor",
        UnaryOp::Ceil => "ceil",
        UnaryOp::Round => "round",
        UnaryOp::Erf => "erf",
        UnaryOp::Not => "logical_not",
    }
}

impl Tensor {
    /// True where the value is NaN (torch.isnan); false for integers.
    pub fn isnan(&self) -> Result<Tensor> {
        self.ne(self)
    }

    /// True where the value is +inf or -inf (torch.isinf).
    pub fn isinf(&self) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return self.ne(self);
        }
        self.abs()?.eq(f64::INFINITY)
    }

    /// True where the value is neither NaN nor infinite (torch.isfinite).
    pub fn isfinite(&self) -> Result<Tensor> {
        if !self.dtype().is_float() {
            return self.eq(self);
        }
        self.abs()?.lt(f64::INFINITY)
    }

    /// NaN replaced by `nan`, +inf by `posinf`, -inf by `neginf`
    /// (torch.nan_to_num; PyTorch's defaults are 0 and the dtype's largest and
    /// smallest finite values: pass `f32::MAX as f64` and its negation).
    pub fn nan_to_num(&self, nan: f64, posinf: f64, neginf: f64) -> Result<Tensor> {
        self.require_float("nan_to_num")?;
        let pos = Tensor::full(self.device(), &[], posinf, self.dtype())?;
        let x = self.gt(0.0)?.select(&pos, neginf)?;
        let x = self.isinf()?.select(&x, self)?;
        self.isnan()?.select(nan, &x)
    }

    pub(crate) fn unary(&self, op: UnaryOp) -> Result<Tensor> {
        let name = unary_name(op);
        match op {
            UnaryOp::Not if self.dtype() != DType::Bool => {
                return Err(Error::UnsupportedDType {
                    op: "logical_not",
                    dtype: self.dtype(),
                    reason: "needs a bool tensor",
                });
            }
            UnaryOp::Not => {}
            _ if op.float_only() => self.require_float(name)?,
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign if self.dtype() == DType::U32 => {
                return Err(Error::UnsupportedDType {
                    op: name,
                    dtype: DType::U32,
                    reason: "unsigned",
                });
            }
            _ => self.require_not_bool(name)?,
        }
        Ok(Tensor::record(
            self.device(),
            self.shape().to_vec(),
            self.dtype(),
            Op::Unary(op),
            vec![self.clone()],
        ))
    }

    /// Broadcasts `self` and `other` to one shape (numpy rules).
    pub(crate) fn broadcast_pair(
        &self,
        op: &'static str,
        other: &Tensor,
    ) -> Result<(Tensor, Tensor, Vec<usize>)> {
        let shape =
            broadcast_shapes(self.shape(), other.shape()).ok_or_else(|| Error::ShapeMismatch {
                op,
                lhs: self.shape().to_vec(),
                rhs: other.shape().to_vec(),
                detail: " for broadcasting".into(),
            })?;
        Tensor::check_count(op, &shape)?;
        Ok((
            self.broadcast_to(&shape)?,
            other.broadcast_to(&shape)?,
            shape,
        ))
    }

    pub(crate) fn binary(&self, op: BinaryOp, rhs: Rhs<'_>) -> Result<Tensor> {
        let name = op_name(op);
        let rhs = self.rhs_tensor(name, rhs)?;
        self.require_dtype(name, &rhs)?;
        match op {
            BinaryOp::And | BinaryOp::Or => {
                if self.dtype() != DType::Bool {
                    return Err(Error::UnsupportedDType {
                        op: name,
                        dtype: self.dtype(),
                        reason: "needs bool tensors",
                    });
                }
            }
            BinaryOp::Eq | BinaryOp::Ne => {}
            BinaryOp::Pow => self.require_float(name)?,
            _ => self.require_not_bool(name)?,
        }
        let (a, b, shape) = self.broadcast_pair(name, &rhs)?;
        let dtype = if op.is_comparison() {
            DType::Bool
        } else {
            self.dtype()
        };
        Ok(Tensor::record(
            self.device(),
            shape,
            dtype,
            Op::Binary(op),
            vec![a, b],
        ))
    }

    /// Elementwise `cond ? on_true : on_false` (torch.where), with broadcasting.
    /// `self` is the condition, a bool tensor.
    pub fn select<'a, 'b>(
        &self,
        on_true: impl Into<Rhs<'a>>,
        on_false: impl Into<Rhs<'b>>,
    ) -> Result<Tensor> {
        if self.dtype() != DType::Bool {
            return Err(Error::UnsupportedDType {
                op: "select",
                dtype: self.dtype(),
                reason: "the condition must be bool (compare first)",
            });
        }
        let (t, f) = match (on_true.into(), on_false.into()) {
            (Rhs::Tensor(t), f) => {
                self.same_device("select", &[t])?;
                (t.clone(), t.rhs_tensor("select", f)?)
            }
            (t, Rhs::Tensor(f)) => {
                self.same_device("select", &[f])?;
                (f.rhs_tensor("select", t)?, f.clone())
            }
            (Rhs::Scalar(a), Rhs::Scalar(b)) => (
                Tensor::full(self.device(), &[], a, DType::F32)?,
                Tensor::full(self.device(), &[], b, DType::F32)?,
            ),
        };
        t.require_dtype("select", &f)?;
        let (t, f, tf_shape) = t.broadcast_pair("select", &f)?;
        let (c, _, shape) = self.broadcast_pair("select", &t)?;
        let (t, f) = if shape != tf_shape {
            (t.broadcast_to(&shape)?, f.broadcast_to(&shape)?)
        } else {
            (t, f)
        };
        Ok(Tensor::record(
            self.device(),
            shape,
            t.dtype(),
            Op::Where,
            vec![c, t, f],
        ))
    }

    /// `value` where `mask` is true, this tensor elsewhere (torch.masked_fill).
    /// The mask is bool and broadcasts to this tensor's shape, never the other
    /// way; `value` is a number or a 0-d tensor (cast to this dtype, as PyTorch
    /// does), whose gradient is the sum of the output's over the filled
    /// places. The gradient reaching this tensor is zero where it is masked.
    pub fn masked_fill<'a>(&self, mask: &Tensor, value: impl Into<Rhs<'a>>) -> Result<Tensor> {
        self.same_device("masked_fill", &[mask])?;
        if mask.dtype() != DType::Bool {
            return Err(Error::UnsupportedDType {
                op: "masked_fill",
                dtype: mask.dtype(),
                reason: "the mask must be bool (compare first)",
            });
        }
        let fits = broadcast_shapes(mask.shape(), self.shape()).is_some_and(|s| s == self.shape());
        if !fits {
            return Err(Error::ShapeMismatch {
                op: "masked_fill",
                lhs: self.shape().to_vec(),
                rhs: mask.shape().to_vec(),
                detail: ": the mask must broadcast to the tensor's shape".into(),
            });
        }
        let value = match value.into() {
            Rhs::Tensor(v) if v.rank() != 0 => {
                return Err(Error::ShapeMismatch {
                    op: "masked_fill",
                    lhs: self.shape().to_vec(),
                    rhs: v.shape().to_vec(),
                    detail: ": the value must be a 0-d tensor".into(),
                });
            }
            Rhs::Tensor(v) => {
                self.same_device("masked_fill", &[v])?;
                v.cast(self.dtype())?
            }
            Rhs::Scalar(x) => Tensor::full(self.device(), &[], x, self.dtype())?,
        };
        mask.select(&value, self)
    }

    /// Converts to `dtype` (floats to ints truncate toward zero, as in PyTorch).
    pub fn cast(&self, dtype: DType) -> Result<Tensor> {
        if dtype == self.dtype() {
            return Ok(self.clone());
        }
        if dtype == DType::F16 && !self.device().caps().f16 {
            return Err(Error::MissingFeature {
                op: "cast",
                feature: "SHADER_F16",
                why: " (f16 storage)",
            });
        }
        Ok(Tensor::record(
            self.device(),
            self.shape().to_vec(),
            dtype,
            Op::Cast,
            vec![self.clone()],
        ))
    }

    /// Limits every element to [lo, hi].
    pub fn clamp(&self, lo: f64, hi: f64) -> Result<Tensor> {
        if lo > hi {
            return Err(Error::InvalidArgument {
                op: "clamp",
                shape: self.shape().to_vec(),
                msg: format!("lower bound {lo} is above upper bound {hi}"),
            });
        }
        self.maximum(lo)?.minimum(hi)
    }

    /// x for x > 0, slope * x otherwise.
    pub fn leaky_relu(&self, slope: f64) -> Result<Tensor> {
        self.gt(0.0)?.select(self, &self.mul(slope)?)
    }
}
