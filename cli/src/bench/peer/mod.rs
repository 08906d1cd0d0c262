//! Whole workloads timed end to end, and the same-run peer comparison.
//!
//! Each workload is defined by the peer protocol (`client.rs`) and run the
//! same way on both sides: inputs uploaded from one of 4 rotating host sets
//! inside the timed region, the work, and the whole output (or the loss)
//! read back. Ours are built with the engine's public API (`kernels.rs`:
//! matmul, conv2d, softmax, attention; `models.rs`: the MLP and CNN steps; `recurrent.rs`: the LSTM step),
//! gated against the float64 references like every other case, and keep the
//! row identities of the old `e2e` rows.
//!
//! With `--peer PATH` each of our cases alternates with the peer: rounds of
//! (the peer's REPS runs, then our REPS runs), so both see the same machine
//! state; the medians and their ratio are printed as soon as a workload is
//! done, and the rows go into the report and the JSON. No peer figure is a
//! constant. Without `--peer` only our rounds run, and no ratio is shown.
//! `--quick` keeps the small MLP workloads.

mod client;
mod kernels;
mod models;
mod recurrent;

use std::path::PathBuf;

use shadergrad::Result;

use crate::bench::case::{Case, Method};
use crate::bench::measure::{Ctx, median};
use crate::bench::results::{PeerReport, PeerRow};

/// The peer harness, serving.
struct Peer {
    path: PathBuf,
    listing: client::Listing,
    server: client::Server,
}

/// The workloads' runner: our cases, and the peer's runs between them.
pub(crate) struct Bench {
    peer: Option<Peer>,
    rows: Vec<PeerRow>,
    rounds: usize,
}

/// Every workload (the small MLP ones alone with `--quick`); the peer's
/// report when one was given.
pub(crate) fn run(ctx: &mut Ctx) -> Result<Option<PeerReport>> {
    let peer = match &ctx.opts.peer {
        Some(path) => {
            let listing = client::list(path)?;
            eprintln!(
                "bench: peer {} {} ({} workloads) from {}",
                listing.peer,
                listing.version,
                listing.workloads.len(),
                path.display()
            );
            let server = client::Server::start(path)?;
            Some(Peer {
                path: path.clone(),
                listing,
                server,
            })
        }
        None => None,
    };
    let mut bench = Bench {
        peer,
        rows: Vec::new(),
        rounds: if ctx.quick() { 2 } else { 3 },
    };
    models::mlp_grad(ctx, &mut bench)?;
    models::mlp_step(ctx, &mut bench)?;
    if !ctx.quick() {
        for n in [512, 1024] {
            kernels::matmul(ctx, &mut bench, n)?;
        }
        kernels::conv2d(ctx, &mut bench)?;
        kernels::softmax(ctx, &mut bench)?;
        for n in [256, 1024] {
            kernels::attention(ctx, &mut bench, n)?;
        }
        models::cnn_step(ctx, &mut bench)?;
        recurrent::lstm_step(ctx, &mut bench)?;
    }
    Ok(bench.peer.map(|p| PeerReport {
        path: p.path.display().to_string(),
        name: p.listing.peer,
        version: p.listing.version,
        rows: bench.rows,
    }))
}

/// The peer's side of one workload, gathered over the rounds.
#[derive(Default)]
struct PeerRuns {
    ms: Vec<f64>,
    warm_ms: Option<f64>,
    checksum: Option<f64>,
    error: Option<String>,
}

impl Bench {
    /// Whether the filter lets workload `name` (our `kernel` rows) through.
    pub fn wants(&self, ctx: &Ctx, name: &str, kernel: &str) -> bool {
        ctx.wanted(name) || ctx.wanted(kernel)
    }

    /// Measures our `case` of `workload` in rounds, each after the peer's
    /// runs of it, and prints the ratio.
    pub fn measure(&mut self, ctx: &mut Ctx, workload: &str, case: Case) {
        let (rounds, quick) = (self.rounds, ctx.quick());
        let offered = self.peer.as_ref().map(|p| {
            let w = p.listing.workloads.iter().find(|w| w.name == workload);
            (w.map(|w| w.what.clone()), w.is_some())
        });
        let mut theirs = PeerRuns::default();
        if let Some((_, false)) = offered {
            theirs.error = Some("the peer does not offer this workload".into());
        }
        let server = match offered {
            Some((_, true)) => self.peer.as_mut().map(|p| &mut p.server),
            _ => None,
        };
        let row = ctx.measure_with(case, |runner, samples| {
            let reps = (runner.budget_reps(quick) / rounds).clamp(2, 10);
            let mut server = server;
            for _ in 0..rounds {
                if let Some(s) = server.as_deref_mut() {
                    match s.run(workload, reps) {
                        Ok(r) => {
                            theirs.ms.extend(r.ms);
                            theirs.warm_ms = theirs.warm_ms.or(r.warm_ms);
                            theirs.checksum = r.checksum;
                        }
                        Err(e) => {
                            theirs.error = Some(e.to_string());
                            server = None;
                        }
                    }
                }
                runner.runs(reps, samples)?;
            }
            Ok(())
        });
        let Some((what, _)) = offered else {
            return;
        };
        let peer_ms = (!theirs.ms.is_empty()).then(|| median(&mut theirs.ms.clone()));
        let ratio = peer_ms.zip(row.median_ms).map(|(p, o)| p / o);
        let p = self.peer.as_ref().expect("a peer");
        eprintln!(
            "bench: peer {workload}: {} {} {} ms, shadergrad {} {} ms: {}",
            p.listing.peer,
            p.listing.version,
            peer_ms.map_or("-".into(), |m| format!("{m:.3}")),
            row.variant,
            row.median_ms.map_or("-".into(), |m| format!("{m:.3}")),
            ratio.map_or_else(
                || theirs.error.clone().unwrap_or_default(),
                |r| format!("{r:.2}x (peer / ours)")
            )
        );
        self.rows.push(PeerRow {
            workload: workload.to_string(),
            what: what.unwrap_or_default(),
            flops: row.flops,
            kernel: row.kernel.clone(),
            variant: row.variant.clone(),
            shape: row.shape.clone(),
            ours_ms: row.median_ms,
            peer_ms,
            peer_runs: theirs.ms,
            peer_warm_ms: theirs.warm_ms,
            peer_checksum: theirs.checksum,
            ratio,
            rounds,
            error: theirs.error,
        });
    }
}

/// A workload case: end to end, the engine's choice, in its own group.
fn e2e<'a>(workload: &str, kernel: &str, variant: &str, shape: impl Into<String>) -> Case<'a> {
    Case::new(kernel, variant, shape, shadergrad::DType::F32)
        .method(Method::EndToEnd)
        .sets(kernels::SETS)
        .chosen(true)
        .group(format!("e2e {workload}"))
}
