//! Fusion: decides which nodes get a buffer of their own (are *materialized*).
//! Every other node is computed inline by the kernels that read it, so a chain
//! of elementwise ops, broadcasts and views becomes one kernel.

use crate::graph::Op;
use crate::plan::collect::{Graph, Kind};

/// Which nodes are materialized. `max_inputs` is how many input buffers one
/// fused kernel may bind (the adapter's storage-buffer limit, less the output
/// and status bindings).
pub(crate) fn materialize(g: &Graph, max_inputs: usize, fuse: bool) -> Vec<bool> {
    let n = g.nodes.len();
    let mut mat = vec![false; n];
    for (i, node) in g.nodes.iter().enumerate() {
        mat[i] = match &node.kind {
            Kind::Leaf(_) => true,
            Kind::Op(op) => !op.is_elementwise() || (!fuse && op.is_compute()),
        };
    }
    for &t in &g.targets {
        mat[t] = true;
    }
    for node in &g.nodes {
        match node.op() {
            // The planner's own hand-written kernels read a buffer through at
            // most one strided view, read forwards (a flip is copied).
            Some(Op::Matmul | Op::Gather { .. } | Op::ScatterAdd { .. }) => {
                for &s in &node.src {
                    match g.nodes[s].op() {
                        Some(Op::View(v)) if v.is_reversed() => mat[s] = true,
                        Some(Op::View(_)) => {
                            let u = g.nodes[s].src[0];
                            if matches!(g.nodes[u].op(), Some(Op::View(_))) {
                                mat[s] = true;
                            } else {
                                mat[u] = true;
                            }
                        }
                        _ => mat[s] = true,
                    }
                }
            }
            // Kernels and updates read contiguous buffers.
            Some(Op::Kernel(_) | Op::Update { .. }) => {
                for &s in &node.src {
                    mat[s] = true;
                }
            }
            _ => {}
        }
    }
    share_once(g, &mut mat);
    cap_depth(g, &mut mat);
    fit_bindings(g, &mut mat, max_inputs);
    mat
}

/// The longest chain of ops one fused kernel computes inline. Code generation
/// walks a chain recursively and the shader grows with it: a chain of
/// thousands of ops becomes several kernels instead of one huge one.
const MAX_FUSED_DEPTH: usize = 512;

fn cap_depth(g: &Graph, mat: &mut [bool]) {
    // Sources come before their consumers in `g.nodes`.
    let mut depth = vec![0usize; g.nodes.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        if mat[i] {
            continue;
        }
        let d = 1 + node
            .src
            .iter()
            .filter(|&&s| !mat[s])
            .map(|&s| depth[s])
            .max()
            .unwrap_or(0);
        if d > MAX_FUSED_DEPTH {
            mat[i] = true;
        } else {
            depth[i] = d;
        }
    }
}

/// A compute node inlined into two or more kernels would be computed twice:
/// give it a buffer instead. Walks consumers before producers.
fn share_once(g: &Graph, mat: &mut [bool]) {
    let n = g.nodes.len();
    let mut consumers: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in g.nodes.iter().enumerate() {
        for &s in &node.src {
            if !consumers[s].contains(&i) {
                consumers[s].push(i);
            }
        }
    }
    // The kernels that compute each node inline (for a materialized node, itself).
    let mut roots: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in (0..n).rev() {
        if mat[i] {
            roots[i] = vec![i];
            continue;
        }
        let mut r: Vec<usize> = Vec::new();
        for &c in &consumers[i] {
            for &k in &roots[c] {
                if !r.contains(&k) {
                    r.push(k);
                }
            }
        }
        if r.len() >= 2 && g.nodes[i].op().is_some_and(Op::is_compute) && !cheap(g, mat, i) {
            mat[i] = true;
            roots[i] = vec![i];
        } else {
            roots[i] = r;
        }
    }
}

/// A shared node whose inline work is a few plain elementwise ops (MSE's
/// x - y, read by the loss and by its gradient) is recomputed by each kernel:
/// cheaper than a buffer written, read back and a dispatch between.
fn cheap(g: &Graph, mat: &[bool], root: usize) -> bool {
    const MAX_OPS: usize = 3;
    let mut ops = 0;
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        if n != root && mat[n] {
            continue;
        }
        match g.nodes[n].op() {
            Some(Op::Unary(_) | Op::Binary(_) | Op::Where | Op::Cast) => {
                ops += 1;
                if ops > MAX_OPS {
                    return false;
                }
                stack.extend(g.nodes[n].src.iter().copied());
            }
            // Views, constants and generators cost nothing to recompute.
            Some(op) if !op.is_compute() => stack.extend(g.nodes[n].src.iter().copied()),
            None => {}
            Some(_) => return false,
        }
    }
    true
}

/// The materialized inputs a kernel rooted at `root` would bind.
fn kernel_inputs(g: &Graph, mat: &[bool], root: usize) -> Vec<usize> {
    let mut seen = vec![root];
    let mut inputs = Vec::new();
    let mut stack: Vec<usize> = g.nodes[root].src.clone();
    while let Some(s) = stack.pop() {
        if seen.contains(&s) {
            continue;
        }
        seen.push(s);
        if mat[s] {
            inputs.push(s);
        } else {
            stack.extend(g.nodes[s].src.iter().copied());
        }
    }
    inputs
}

/// Splits fused kernels that would bind more buffers than the adapter allows,
/// by materializing the inlined node that carries the most of them.
fn fit_bindings(g: &Graph, mat: &mut [bool], max_inputs: usize) {
    let fused = |op: &Op| op.is_elementwise() || matches!(op, Op::Reduce { .. });
    // Materializing a node makes it a kernel of its own, which may need splitting
    // in turn: repeat until every kernel fits.
    let mut changed = true;
    while changed {
        changed = false;
        for root in 0..g.nodes.len() {
            if !mat[root] || !g.nodes[root].op().is_some_and(fused) {
                continue;
            }
            while kernel_inputs(g, mat, root).len() > max_inputs {
                let mut best: Option<(usize, usize)> = None;
                let mut stack: Vec<usize> = g.nodes[root].src.clone();
                let mut seen = Vec::new();
                while let Some(s) = stack.pop() {
                    if mat[s] || seen.contains(&s) {
                        continue;
                    }
                    seen.push(s);
                    let count = kernel_inputs(g, mat, s).len();
                    if count > 1 && best.is_none_or(|(_, c)| count > c) {
                        best = Some((s, count));
                    }
                    stack.extend(g.nodes[s].src.iter().copied());
                }
                match best {
                    Some((s, _)) => {
                        mat[s] = true;
                        changed = true;
                    }
                    None => break,
                }
            }
        }
    }
}
