//! `shadergrad tour`: every chapter of the course notes, trained on real data,
//! each checked against a held-out metric. An entry is a function from a
//! context (device, quick mode, progress bar) to an `Outcome`; the runner
//! times it, prints it (or one JSON object a line), saves its model with
//! `--save` (save.rs) and fails when a target is missed. `shadergrad eval`
//! (eval.rs) scores a saved model again through the entry's `HeldOut`.

pub(crate) mod chapters;
mod common;
pub mod eval;
mod held_out;
pub mod plot;
pub mod save;
mod training;

pub use chapters::char_lm;
pub use common::{Ctx, Outcome};
pub use held_out::{Restore, Score, Snapshot};

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use shadergrad::Device;
use shadergrad::Result;

/// One tour entry.
pub struct Entry {
    pub name: &'static str,
    pub chapter: &'static str,
    /// Trains the entry's model on its data and reports, the trained model
    /// and its held-out metric included.
    pub run: fn(&Ctx) -> Result<Outcome>,
    /// Rebuilds the entry's model, loads a state dict into it strictly and
    /// scores it on the held-out data, as `run` scored it.
    pub eval: Restore,
}

pub fn entries() -> Vec<Entry> {
    chapters::all()
}

#[derive(Clone, Debug, Default)]
pub struct TourOptions {
    /// Only these entries: a name that is an entry's exact name selects that
    /// entry alone, any other selects every entry whose name contains it.
    pub only: Vec<String>,
    /// CI-sized: subsets and fewer steps, with the quick targets.
    pub quick: bool,
    /// One JSON object per entry on stdout instead of the text report.
    pub json: bool,
    /// Where plots go (default `tour-report/`).
    pub report: Option<PathBuf>,
    /// Where each entry's trained model goes, as `<entry name>.safetensors`.
    pub save: Option<PathBuf>,
}

/// The entries `only` selects (all when empty), or the error listing them.
fn select<'a>(all: &'a [Entry], only: &[String]) -> Result<Vec<&'a Entry>> {
    let picks = |o: &str, name: &str| {
        if all.iter().any(|e| e.name == o) {
            name == o
        } else {
            name.contains(o)
        }
    };
    let selected: Vec<&Entry> = all
        .iter()
        .filter(|e| only.is_empty() || only.iter().any(|o| picks(o, e.name)))
        .collect();
    if selected.is_empty() {
        return Err(shadergrad::Error::InvalidArgument {
            op: "tour",
            shape: vec![],
            msg: format!(
                "no entry matches {only:?}; entries: {}",
                all.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    Ok(selected)
}

/// Runs the selected entries; true when every one met its target.
pub fn run(opts: &TourOptions) -> Result<bool> {
    let dev = Device::new()?;
    dev.manual_seed(0);
    if !opts.json {
        println!("device: {}", dev.describe());
    }
    let mut all_pass = true;
    let all = entries();
    for e in select(&all, &opts.only)? {
        let bar = ProgressBar::new(1);
        if opts.json {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(e.name);
        // Each entry starts from the same seed, whatever ran before it.
        dev.manual_seed(0);
        let mut ctx = Ctx::new(dev.clone(), opts.quick, bar.clone());
        if let Some(r) = &opts.report {
            ctx.report = r.clone();
        }
        let start = Instant::now();
        let result = (e.run)(&ctx).and_then(|o| {
            let saved = match &opts.save {
                Some(dir) => Some(save::save(dir, e.name, &o, opts.quick)?),
                None => None,
            };
            Ok((o, saved))
        });
        let seconds = start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        // A failing entry is reported and the tour goes on to the next one.
        match result {
            Ok((outcome, saved)) => {
                all_pass &= outcome.pass();
                report(e.name, &outcome, seconds, saved.as_deref(), opts.json);
            }
            Err(err) => {
                all_pass = false;
                if opts.json {
                    let line = serde_json::json!({
                        "model": e.name,
                        "pass": false,
                        "seconds": seconds,
                        "error": err.to_string(),
                    });
                    println!("{line}");
                } else {
                    println!("{:<24} ERROR after {seconds:.1} s: {err}", e.name);
                }
            }
        }
    }
    Ok(all_pass)
}

/// Prints one entry's result: a JSON object, or its line, notes and checks.
fn report(name: &str, outcome: &Outcome, seconds: f64, saved: Option<&Path>, json: bool) {
    if json {
        let mut line = outcome.json(name, seconds);
        if let Some(path) = saved {
            line["saved"] = path.display().to_string().into();
        }
        println!("{line}");
        return;
    }
    println!(
        "{:<24} {:<28} {} = {:.4} (target {} {}) {} in {:.1} s, {} steps",
        name,
        outcome.dataset,
        outcome.metric,
        outcome.value,
        if outcome.higher_is_better { ">=" } else { "<=" },
        outcome.target,
        if outcome.pass() { "PASS" } else { "FAIL" },
        seconds,
        outcome.steps
    );
    for line in &outcome.notes {
        println!("    {line}");
    }
    for (check, ok) in &outcome.checks {
        println!("    [{}] {check}", if *ok { "ok" } else { "MISSED" });
    }
    if outcome.last_loss >= outcome.first_loss {
        println!("    [MISSED] the training loss did not fall");
    }
    if let Some(path) = saved {
        println!("    saved to {}", path.display());
    }
}

/// Runs one entry by exact name on `dev` (its progress bar hidden).
pub fn run_entry(dev: &Device, name: &str, quick: bool) -> Result<Outcome> {
    let e = entries()
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| shadergrad::Error::InvalidArgument {
            op: "tour",
            shape: vec![],
            msg: format!("no entry named {name}"),
        })?;
    dev.manual_seed(0);
    let bar = ProgressBar::hidden();
    (e.run)(&Ctx::new(dev.clone(), quick, bar))
}

/// The body of an example: runs the named entries, exits non-zero on a miss.
pub fn example_main(names: &[&str]) {
    let opts = TourOptions {
        only: names.iter().map(|s| s.to_string()).collect(),
        quick: std::env::args().any(|a| a == "--quick"),
        json: false,
        report: None,
        save: None,
    };
    match run(&opts) {
        Ok(true) => {}
        Ok(false) => std::process::exit(2),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
