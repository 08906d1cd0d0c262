//! The run as one document, laid out once: a summary, the table of every
//! case, the probes, the variant choices, the peer comparison and the
//! failures, as [`Block`]s. The terminal (`text`) and the markdown report
//! (`markdown`) are two thin formats of the same blocks.

use crate::bench::results::{Report, Row};
use crate::bench::table::Table;

/// One part of the document.
pub(crate) enum Block {
    /// A section heading.
    Heading(String),
    /// One-line facts: plain lines in text, a list in markdown.
    Facts(Vec<String>),
    /// A list: indented lines in text, a list in markdown.
    List(Vec<String>),
    /// Notes: plain lines in text, paragraphs in markdown.
    Notes(Vec<String>),
    Table(Table),
}

fn num(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}"),
        _ => "-".into(),
    }
}

/// Bytes as MiB, two decimals.
fn mib(b: u64) -> String {
    format!("{:.2}", b as f64 / (1u64 << 20) as f64)
}

/// Milliseconds with about four significant digits.
pub(crate) fn ms(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.1}"),
        Some(x) if x >= 1.0 => format!("{x:.3}"),
        Some(x) => format!("{x:.4}"),
        None => "-".into(),
    }
}

fn gate(r: &Row) -> String {
    if r.error.is_some() {
        "ERROR".into()
    } else if !r.check.passed {
        "FAIL".into()
    } else if r.check.checked < r.check.total {
        "ok~".into()
    } else {
        "ok".into()
    }
}

fn ceiling(r: &Row) -> String {
    match (&r.bound, r.fraction) {
        (Some(b), Some(f)) => format!(
            "{:.1}% {}",
            f * 100.0,
            if b == "memory" { "mem" } else { "fma" }
        ),
        _ => "-".into(),
    }
}

fn versus(r: &Row) -> String {
    if r.baseline {
        "base".into()
    } else {
        r.speedup
            .map(|s| format!("{s:.2}x"))
            .unwrap_or_else(|| "-".into())
    }
}

fn note(r: &Row) -> String {
    let mut parts = Vec::new();
    if let Some(e) = &r.error {
        parts.push(e.clone());
    }
    if (!r.check.passed || r.check.checked < r.check.total) && !r.check.detail.is_empty() {
        parts.push(r.check.detail.clone());
    }
    if !r.note.is_empty() {
        parts.push(r.note.clone());
    }
    parts.join("; ")
}

/// The table of every case.
pub(crate) fn cases(report: &Report) -> Table {
    let mut t = Table::new(
        &[
            "kernel",
            "variant",
            "shape",
            "dtype",
            "timer",
            "median ms",
            "min ms",
            "wall ms",
            "cold ms (pipes)",
            "peak MiB",
            "GFLOP/s",
            "GB/s",
            "of ceiling",
            "vs base",
            "gate",
            "note",
        ],
        5,
    );
    for r in &report.rows {
        t.push(vec![
            r.kernel.clone(),
            format!("{}{}", r.variant, if r.chosen { "*" } else { "" }),
            r.shape.clone(),
            r.dtype.clone(),
            r.method.clone(),
            ms(r.median_ms),
            ms(r.min_ms),
            ms(r.wall_ms),
            format!("{} ({})", ms(Some(r.first_ms)), r.pipelines),
            mib(r.peak_bytes),
            num(r.gflops, 2),
            num(r.gbps, 2),
            ceiling(r),
            versus(r),
            gate(r),
            note(r),
        ]);
    }
    t
}

fn probes(report: &Report) -> Table {
    let mut t = Table::new(&["probe", "wall us", "gpu us", "how"], 1);
    for p in &report.probes {
        t.push(vec![
            p.name.clone(),
            format!("{:.2}", p.wall_us),
            num(p.gpu_us, 2),
            p.note.clone(),
        ]);
    }
    t
}

/// The peer comparison: each workload with our median and the peer's, taken
/// in the same alternating rounds, and their ratio.
fn peers(report: &Report) -> Option<Block> {
    let peer = report.peer.as_ref()?;
    let mut t = Table::new(
        &[
            "workload",
            "ours",
            "ours ms",
            "peer ms",
            "peer/ours",
            "rounds",
            "gate",
            "note",
        ],
        2,
    );
    for p in &peer.rows {
        let ours = report
            .rows
            .iter()
            .find(|r| r.kernel == p.kernel && r.variant == p.variant && r.shape == p.shape);
        t.push(vec![
            p.workload.clone(),
            p.variant.clone(),
            ms(p.ours_ms),
            ms(p.peer_ms),
            p.ratio
                .map(|x| format!("{x:.2}x"))
                .unwrap_or_else(|| "-".into()),
            p.rounds.to_string(),
            ours.map(gate).unwrap_or_else(|| "-".into()),
            p.error.clone().unwrap_or_default(),
        ]);
    }
    Some(Block::Table(t))
}

/// The run's one-line facts: version, load, timer, ceilings.
fn summary(report: &Report) -> Vec<String> {
    let commit = report.git_commit.as_ref().map(|c| {
        let dirty = if report.git_dirty == Some(true) {
            " (modified)"
        } else {
            ""
        };
        format!(", commit {}{dirty}", &c[..c.len().min(12)])
    });
    let mut lines = vec![
        format!("adapter: {}", report.adapter.description),
        format!(
            "shadergrad {} bench{}: {} cases in {:.0} s{}",
            report.crate_version,
            if report.options.quick { " --quick" } else { "" },
            report.rows.len(),
            report.seconds,
            commit.unwrap_or_default(),
        ),
    ];
    if let Some(l) = report.load {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        // The run itself loads the machine; the start says what else did.
        let busy = l.start > 0.5 * cpus as f64;
        lines.push(format!(
            "system load average (1 min): {:.2} at the start, {:.2} at the end, on {cpus} CPUs{}",
            l.start,
            l.end,
            if busy {
                ": other work was running when the run started, times may be skewed"
            } else {
                ""
            }
        ));
    }
    lines.push(
        "timer: gpu-ts = GPU timestamps around each dispatch of the run, summed (a gradient \
         row sums only its kernel's dispatches, see its note); wall = record to GPU idle (on \
         adapters without timestamps, and where CPU time is the point); e2e = inputs uploaded, \
         run, the whole output read back"
            .into(),
    );
    lines.push(match &report.roofline {
        Some(r) => format!(
            "ceilings (measured, {}): copy {:.2} GB/s (read + written, {} MiB), FMA {:.2} \
             GFLOP/s f32 ({}); ridge {:.1} flop/byte",
            r.method,
            r.copy_gbps,
            r.copy_bytes >> 20,
            r.fma_gflops,
            r.detail,
            r.fma_gflops / r.copy_gbps
        ),
        None => "ceilings: not measured".into(),
    });
    lines
}

/// The whole run as blocks, in reading order.
pub(crate) fn document(report: &Report) -> Vec<Block> {
    let mut doc = vec![
        Block::Facts(summary(report)),
        Block::Heading("Every case".into()),
    ];
    doc.push(Block::Table(cases(report)));
    let mut notes = vec![
        "* the engine's choice on this adapter; wall ms = median wall clock of the same runs; \
         vs base = the baseline's median over this row's; gate ok~ = a sampled comparison; \
         cold = first run, pipeline compiles included; of ceiling: the copy ceiling counts a \
         copy's writes, so read-mostly kernels can pass 100%"
            .to_string(),
    ];
    if !report.skipped.is_empty() {
        notes.push(format!(
            "left out on this software adapter (a second or more per run): {}",
            report.skipped.join(", ")
        ));
    }
    doc.push(Block::Notes(notes));
    if !report.probes.is_empty() {
        doc.push(Block::Heading("Dispatch overhead".into()));
        doc.push(Block::Table(probes(report)));
    }
    if !report.choices.is_empty() {
        doc.push(Block::Heading("Variant choice on this adapter".into()));
        let choice = |c: &crate::bench::results::Choice| {
            let measured = if c.measured.is_empty() {
                String::new()
            } else {
                format!("; {}", c.measured)
            };
            format!("{}: {} ({}){measured}", c.kernel, c.chosen, c.reason)
        };
        doc.push(Block::List(report.choices.iter().map(choice).collect()));
    }
    doc.extend(peer_section(report));
    let failed = report.failures();
    if !failed.is_empty() {
        doc.push(Block::Heading(
            "FAILED the correctness gate (not timed, no score)".into(),
        ));
        let what = |r: &&Row| {
            let why = r.error.clone().unwrap_or_else(|| r.check.detail.clone());
            format!("{} {} {} {}: {why}", r.kernel, r.variant, r.shape, r.dtype)
        };
        doc.push(Block::List(failed.iter().map(what).collect()));
    }
    doc
}

/// The peer comparison's heading and table, or the line saying none was run.
fn peer_section(report: &Report) -> Vec<Block> {
    match &report.peer {
        Some(p) => vec![
            Block::Heading(format!(
                "Against {} {} (same run, alternating rounds, both end to end)",
                p.name, p.version
            )),
            peers(report).expect("a peer"),
            Block::Notes(vec![format!(
                "peer/ours = the peer's median over ours (above 1: shadergrad is faster); \
                 each round runs the peer's reps then ours, so both see the same machine; \
                 the peer: {}",
                p.path
            )]),
        ],
        None => vec![Block::Notes(vec![
            "no peer was run: `--peer PATH` times a peer harness (peer/burn) beside the \
             e2e workloads, in the same run"
                .into(),
        ])],
    }
}

/// The blocks for a terminal.
pub(crate) fn text(doc: &[Block]) -> String {
    let mut s = String::new();
    for b in doc {
        match b {
            Block::Heading(h) => s.push_str(&format!("\n{}\n", h.to_lowercase())),
            Block::Facts(lines) | Block::Notes(lines) => {
                lines.iter().for_each(|l| s.push_str(&format!("{l}\n")))
            }
            Block::List(lines) => lines.iter().for_each(|l| s.push_str(&format!("  {l}\n"))),
            Block::Table(t) => s.push_str(&t.text()),
        }
    }
    s
}

/// The blocks as markdown, under `title`.
pub(crate) fn markdown(title: &str, doc: &[Block]) -> String {
    let mut s = format!("# {title}\n");
    for b in doc {
        match b {
            Block::Heading(h) => s.push_str(&format!("\n## {h}\n\n")),
            Block::Facts(lines) | Block::List(lines) => {
                s.push('\n');
                lines.iter().for_each(|l| s.push_str(&format!("- {l}\n")));
            }
            Block::Notes(lines) => {
                lines.iter().for_each(|l| s.push_str(&format!("\n{l}\n")));
            }
            Block::Table(t) => s.push_str(&t.markdown()),
        }
    }
    s
}
