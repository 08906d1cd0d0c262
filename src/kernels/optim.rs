//! Launcher for `shaders/optim.wgsl`: the in-place update of a parameter (one pass; sparse Adam two).

use crate::graph::UpdateRule;
use crate::kernels::{Arg, Launch, grid, per_invocation, shader};
use crate::pipeline::{BindKind, KernelSource};

const WG: u32 = 256;

/// The update of a parameter of `numel` elements: input 0 the parameter,
/// 1 its gradient, 2 the clipping scale (a uniform), then the rule's state. The caller
/// adds the eight hyperparameter words. It reads the realize's status word
/// and writes nothing when a kernel of the realize met a bad index.
pub(crate) fn launch(
    rule: UpdateRule,
    param: &[usize],
    grad_numel: usize,
    cpu: bool,
    deterministic: bool,
) -> Vec<Launch> {
    let numel: usize = param.iter().product();
    use BindKind::{Read, ReadWrite, Uniform};
    let src = |entry| KernelSource::new("optim", shader("optim").into(), entry, vec![]);
    let (mut args, mut layout, src) = match rule {
        UpdateRule::Ema => (
            vec![Arg::In(0), Arg::In(1)],
            vec![ReadWrite, Read],
            src("ema"),
        ),
        UpdateRule::Sgd { nesterov } => (
            vec![Arg::In(0), Arg::In(1), Arg::In(3), Arg::In(2)],
            vec![ReadWrite, Read, ReadWrite, Uniform],
            src("sgd").with("NESTEROV", nesterov as u8 as f64),
        ),
        UpdateRule::SparseSgd if deterministic => {
            return sparse_sgd_sorted(param, grad_numel, cpu);
        }
        UpdateRule::SparseSgd => {
            return vec![sparse(param, grad_numel, cpu, Sparse::Sgd)];
        }
        UpdateRule::SparseAdam => {
            // Two passes of four storage buffers each, what a small device
            // allows: the moments of the rows read, then those rows.
            return vec![
                sparse(param, grad_numel, cpu, Sparse::AdamMoments),
                sparse(param, grad_numel, cpu, Sparse::AdamStep),
            ];
        }
        UpdateRule::Adam { decoupled } => (
            vec![Arg::In(0), Arg::In(1), Arg::In(3), Arg::In(4), Arg::In(2)],
            vec![ReadWrite, Read, ReadWrite, ReadWrite, Uniform],
            src("adam").with("DECOUPLED", decoupled as u8 as f64),
        ),
    };
    // The realize's status word last: the update is skipped when a kernel
    // before it met a bad index.
    args.extend([Arg::Scalars, Arg::Meta, Arg::Status]);
    layout.extend([Uniform, Uniform, Uniform]);
    let per = per_invocation(numel, WG, cpu);
    let groups = grid((numel as u64).div_ceil(WG as u64 * per as u64));
    vec![
        Launch::new(
            KernelSource {
                layout,
                ..src.with("WG", WG as f64)
            },
            args,
            groups,
        )
        .meta(vec![numel as u32, per]),
    ]
}

/// The sparse updates' kernels.
#[derive(Clone, Copy)]
enum Sparse {
    Sgd,
    AdamMoments,
    AdamStep,
}

/// A sparse update's kernel: one invocation per element of the row
/// gradients (`grad_numel` = N * d), each at its element of a table of shape
/// `param` = [V, d]. `src` is [table, row gradients, scale, row ids, m, v].
/// Bindings, four storage buffers at most:
/// - sgd: table (atomic words), row gradients, row ids, scale,
///   hyperparameters, cfg, status;
/// - adam moments: m, row gradients, row ids, v, scale, hyperparameters,
///   cfg, status;
/// - adam step: table, m, row ids, v, hyperparameters, cfg, status.
fn sparse(param: &[usize], grad_numel: usize, cpu: bool, form: Sparse) -> Launch {
    use BindKind::{Read, ReadWrite, Uniform};
    // Per kernel: its entry, its bindings' kinds before the hyperparameters,
    // cfg and status, and the sources bound there.
    let (entry, mut layout, inputs) = match form {
        Sparse::Sgd => (
            "sparse_sgd",
            vec![ReadWrite, Read, Read, Uniform],
            vec![0, 1, 3, 2],
        ),
        Sparse::AdamMoments => (
            "sparse_adam_moments",
            vec![ReadWrite, Read, Read, ReadWrite, Uniform],
            vec![4, 1, 3, 5, 2],
        ),
        Sparse::AdamStep => (
            "sparse_adam_step",
            vec![ReadWrite, Read, Read, ReadWrite],
            vec![0, 4, 3, 5],
        ),
    };
    layout.extend([Uniform; 3]);
    let mut args: Vec<Arg> = inputs.into_iter().map(Arg::In).collect();
    args.extend([Arg::Scalars, Arg::Meta, Arg::Status]);
    let per = per_invocation(grad_numel, WG, cpu);
    let groups = grid((grad_numel as u64).div_ceil(WG as u64 * per as u64));
    let src = KernelSource::new("optim", shader("optim").into(), entry, layout);
    let src = src.with("WG", WG as f64).with("WIDTH", param[1] as f64);
    Launch::new(src, args, groups).meta(vec![
        grad_numel as u32,
        per,
        param[1] as u32,
        param[0] as u32,
    ])
}

/// Deterministic mode's sparse SGD: buckets.wgsl's five passes group the
/// rows in use by the table row they add into, then `sparse_sgd_sum` adds
/// each group in ascending order (see `gather::launch_scatter`'s form). Each
/// pass binds only what it reads: at most four storage buffers.
fn sparse_sgd_sorted(param: &[usize], grad_numel: usize, cpu: bool) -> Vec<Launch> {
    use BindKind::{Read, ReadWrite, Uniform, Unused};
    let (rows, width) = (param[0], param[1]);
    let sources = grad_numel / width;
    let bytes = 4 * (1 + 2 * rows as u64 + sources as u64);
    // Bindings: table, row gradients, row ids, scale, hyperparameters, cfg,
    // status, scratch.
    let args = vec![
        Arg::In(0),
        Arg::In(1),
        Arg::In(3),
        Arg::In(2),
        Arg::Scalars,
        Arg::Meta,
        Arg::Status,
        Arg::Scratch(0, bytes),
    ];
    let scratch = vec![
        Unused, Unused, Unused, Unused, Unused, Uniform, Unused, ReadWrite,
    ];
    let by_id = vec![
        Unused, Unused, Read, Unused, Uniform, Uniform, Unused, ReadWrite,
    ];
    let sum = vec![
        ReadWrite, Read, Read, Uniform, Uniform, Uniform, Uniform, ReadWrite,
    ];
    let per = per_invocation(grad_numel, WG, cpu);
    let passes = [
        ("bucket_zero", scratch.clone(), rows as u64 + 1),
        ("bucket_count", by_id.clone(), sources as u64),
        ("bucket_alloc", scratch.clone(), rows as u64),
        ("bucket_fill", by_id, sources as u64),
        ("bucket_sort", scratch, rows as u64),
        (
            "sparse_sgd_sum",
            sum,
            (grad_numel as u64).div_ceil(per as u64),
        ),
    ];
    passes
        .into_iter()
        .map(|(entry, layout, n)| {
            let src = KernelSource::new("optim", shader("optim").into(), entry, layout);
            let src = src.with("WG", WG as f64).with("WIDTH", width as f64);
            let meta = vec![grad_numel as u32, per, width as u32, rows as u32];
            Launch::new(src, args.clone(), grid(n.div_ceil(WG as u64))).meta(meta)
        })
        .collect()
}
