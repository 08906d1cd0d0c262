//! `gpt_decode`: greedy decoding of N new tokens from an 8-token prompt by
//! the tour's GPT (tour/chapters/gpt.rs `generate`, at random init, its
//! context N + 8 so the window never moves), with the KV cache (one new
//! position per realize) and without (the whole prefix again for each
//! token), at N = 32, 128, 512 (quick: 8). One realize and one readback
//! per token, so the wall clock is the measure; the rows report new tokens
//! per second. On a software adapter the uncached row at 512 is left out
//! (about 80 s a run on lavapipe), though still decoded once for the gate.
//!
//! Gate: the tokens of each form equal the other form's (both decoded
//! once before the rows), and the row's own first run gives them again.

use std::rc::Rc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shadergrad::nn::Stateful;
use shadergrad::{DType, Result, Tensor};

use crate::bench::case::{Case, Method};
use crate::bench::check;
use crate::bench::measure::{Ctx, gate};
use crate::bench::results::CheckOutcome;
use crate::bench::suites::transformer::GPT_VOCAB;
use crate::tour::chapters::gpt::{Gpt, Pick, generate};

const PROMPT: usize = 8;

pub(crate) fn run(ctx: &mut Ctx) -> Result<()> {
    if !ctx.wants(&["gpt_decode"]) {
        return Ok(());
    }
    let lengths: &[usize] = if ctx.quick() { &[8] } else { &[32, 128, 512] };
    for &n in lengths {
        decode(ctx, n)?;
    }
    Ok(())
}

/// The row's tokens against the other form's.
fn same_tokens(o: &[Vec<f32>], want: &[i32], other: &[i32], form: &str) -> CheckOutcome {
    gate(o, 1, |o| {
        let got: Vec<i32> = o[0].iter().map(|&x| x as i32).collect();
        let mut c = match (want == other, got == want) {
            (false, _) => check::fail(
                "cached and uncached decoding chose different tokens".into(),
                0,
            ),
            (true, false) => check::fail(format!("the {form} run chose other tokens"), 0),
            (true, true) => CheckOutcome {
                passed: true,
                ..CheckOutcome::default()
            },
        };
        c.total = want.len();
        c.checked = want.len();
        if c.passed {
            c.detail = format!("{} tokens equal to the other form's", want.len());
        }
        c
    })
}

fn decode(ctx: &mut Ctx, n: usize) -> Result<()> {
    let dev = ctx.dev;
    dev.manual_seed(17);
    let model = Rc::new(Gpt::with_context(dev, GPT_VOCAB, 0.0, PROMPT + n)?);
    model.eval();
    let mut rng = StdRng::seed_from_u64(161 + n as u64);
    let prompt: Vec<i32> = (0..PROMPT)
        .map(|_| rng.random_range(0..GPT_VOCAB as i32))
        .collect();
    let prompt = Rc::new(prompt);
    let cached = generate(dev, &model, &prompt, n, Pick::Greedy, true)?;
    let uncached = generate(dev, &model, &prompt, n, Pick::Greedy, false)?;
    let tokens = Rc::new((cached, uncached));
    for with_cache in [true, false] {
        // Recomputing 512 prefixes is minutes a run on a software adapter:
        // decoded once above for the gate, not timed.
        if !with_cache && n > 128 && dev.is_cpu() {
            ctx.skip(format!("gpt_decode no cache at {n} (about a minute a run)"));
            continue;
        }
        let (model, prompt, tokens) = (model.clone(), prompt.clone(), tokens.clone());
        let form = if with_cache { "kv cache" } else { "no cache" };
        ctx.case(
            Case::new(
                "gpt_decode",
                form,
                format!("{n} new tokens after {PROMPT}, batch 1"),
                DType::F32,
            )
            .tokens(n)
            .baseline(!with_cache)
            .chosen(with_cache)
            .group(format!("gpt_decode {n}"))
            .method(Method::Wall)
            .note("greedy, one realize and readback per token; gate: the tokens of the other form")
            .run(move |_| {
                let ids = generate(dev, &model, &prompt, n, Pick::Greedy, with_cache)?;
                Ok(vec![Tensor::from_slice(dev, &ids, &[ids.len()])?])
            })
            .check(move |o| {
                let (mine, other) = match with_cache {
                    true => (&tokens.0, &tokens.1),
                    false => (&tokens.1, &tokens.0),
                };
                same_tokens(o, mine, other, form)
            }),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decode_gate_fails_when_the_forms_or_the_run_disagree() {
        let run = [vec![3.0, 4.0]];
        assert!(same_tokens(&run, &[3, 4], &[3, 4], "kv cache").passed);
        assert!(!same_tokens(&run, &[3, 4], &[3, 5], "kv cache").passed);
        assert!(!same_tokens(&[vec![3.0, 5.0]], &[3, 4], &[3, 4], "kv cache").passed);
    }
}
