//! `tunebench eval`: resolve `[eval]`, run it with a progress bar, print the comparison
//! (or the dry-run estimate, or JSON).

use anyhow::Context;
use indicatif::ProgressBar;
use tunebench_eval::cache::CacheMode;
use tunebench_eval::evaluate::{EvalOptions, EvalReport, evaluate};
use tunebench_eval::output;
use tunebench_eval::runner::RunProgress;

use crate::cli::{EvalArgs, Global};
use crate::config::{self, ConfigError};
use crate::progress;

pub fn run(global: &Global, args: &EvalArgs) -> anyhow::Result<()> {
    let (file, base) = config::load(&args.config)?;
    let mut raw = file
        .eval
        .ok_or_else(|| ConfigError(format!("{}: no [eval] section", args.config.display())))?;
    if let Some(out) = &args.out {
        raw.out_dir = std::env::current_dir()
            .context("reading the working directory")?
            .join(out);
    }
    let settings = raw.resolve(&base)?;
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }
    let opts = EvalOptions {
        cache_mode: match (args.no_cache, args.refresh) {
            (true, _) => CacheMode::Off,
            (_, true) => CacheMode::Refresh,
            _ => CacheMode::ReadWrite,
        },
        dry_run: args.dry_run,
    };
    let bar = EvalBar {
        quiet: global.quiet || global.json,
        bar: std::sync::Mutex::new(None),
    };
    let report = evaluate(&settings, &opts, &bar)?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if global.quiet {
        return Ok(());
    }
    match report {
        EvalReport::DryRun(plan) => {
            println!("dry run: nothing was sent");
            for p in plan {
                let cost = p
                    .estimate
                    .max_cost_usd
                    .map_or_else(|| "unpriced".to_string(), |c| format!("≤ ${c:.4}"));
                println!(
                    "{} / {}: {} requests to send ({} cached), ~{} input tokens, ≤ {} output tokens, {cost}",
                    p.suite,
                    p.candidate,
                    p.estimate.requests,
                    p.cached,
                    p.estimate.input_tokens,
                    p.estimate.max_output_tokens
                );
            }
        }
        EvalReport::Results(results) => {
            for r in results {
                println!("{}", output::markdown(&r.comparison));
                for (name, s) in &r.stats {
                    println!(
                        "{name}: {} answered, {} from cache, {} failed, {} not sent, {} retries, ${:.4} spent",
                        s.answered, s.cache_hits, s.failed, s.not_sent, s.retries, s.cost_usd
                    );
                }
                println!("results in {}\n", r.dir.display());
            }
        }
    }
    Ok(())
}

/// One bar per candidate run.
struct EvalBar {
    quiet: bool,
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl RunProgress for EvalBar {
    fn start(&self, total: u64) {
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(progress::bar(self.quiet, "evaluating", total));
        }
    }

    fn advance(&self, n: u64) {
        if let Ok(slot) = self.bar.lock()
            && let Some(b) = slot.as_ref()
        {
            b.inc(n);
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.bar.lock()
            && let Some(b) = slot.take()
        {
            b.finish_and_clear();
        }
    }
}
