//! LSTM: a character language model of the Shakespeare plays (held-out
//! nats per character, a sampled passage, against a tanh RNN): the tour's
//! `char_lm` entry. With `--steps N`, the LSTM alone on the entry's schedule
//! stretched to N steps, its curve printed: what a longer run reaches.
//! `cargo run --release --example char_lm [-- --quick | --steps N]`

use shadergrad::nn::CellKind;
use shadergrad_cli::tour::Ctx;
use shadergrad_cli::tour::char_lm::{Budget, CharLm, HIDDEN, Plays, nats_per_char, sample, train};

fn longer(steps: usize) -> shadergrad::Result<()> {
    let dev = shadergrad::Device::new()?;
    dev.manual_seed(13);
    let ctx = Ctx::new(dev.clone(), false, indicatif::ProgressBar::hidden());
    let data = Plays::load(&ctx)?;
    let model = CharLm::new(&dev, data.vocab.len(), CellKind::Lstm, HIDDEN)?;
    let budget = Budget {
        steps,
        ..Budget::lstm(false)
    };
    let probe = &data.test[..32_768];
    let run = train(&ctx, &model, &data.train, probe, budget, 12)?;
    println!(
        "LSTM {HIDDEN}, {steps} steps of B {} x T {}: {:.1} s ({:.3} s a step after the first)",
        budget.batch,
        budget.seq,
        run.seconds,
        (run.seconds - run.first_seconds) / (steps.max(2) - 1) as f64
    );
    for (s, train, held) in &run.curve {
        println!("  step {s:>6}: train {train:.4}, held-out slice {held:.4} nats/char");
    }
    let nats = nats_per_char(&ctx, &model, &data.test)?;
    println!("held-out nats/char: {nats:.4}");
    println!("{}", sample(&ctx, &model, &data.vocab, "\n", 400, 0.8)?);
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let steps = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse::<usize>());
    match steps {
        None => shadergrad_cli::tour::example_main(&["char_lm"]),
        Some(Ok(n)) if n > 0 => {
            if let Err(e) = longer(n) {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
        Some(_) => {
            eprintln!("--steps takes a positive number of steps");
            std::process::exit(1);
        }
    }
}
