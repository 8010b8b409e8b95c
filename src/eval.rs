//! `tunebench eval`: resolve `[eval]`, run it with a progress bar, print the comparison
//! (or the dry-run estimate, or JSON).

use anyhow::Context;
use std::path::Path;
use tunebench_eval::cache::CacheMode;
use tunebench_eval::candidate::CandidateSettings;

use tunebench_eval::evaluate::{EvalOptions, EvalReport, EvalSettings, evaluate};
use tunebench_eval::output;

use crate::cli::{EvalArgs, Global};
use crate::config::{self, ConfigError};
use crate::progress::Bars;

/// `[eval]` resolved against the config's folder, with `.` and `..` folded out of every
/// path so that messages and `--show-settings` read `runs/...`, not `configs/../runs/...`.
pub fn resolve(raw: EvalSettings, base: &Path) -> anyhow::Result<EvalSettings> {
    Ok(raw
        .resolve(base)?
        .map_paths(|p| tunebench_core::paths::under(Path::new(""), p)))
}

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
    let settings = resolve(raw, &base)?;
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }
    // The endpoints' API keys are kept out of every log line and message.
    for c in settings.candidates.iter().chain(&settings.judges) {
        if let CandidateSettings::Openai(o) = c
            && let Some(var) = &o.api_key_env
        {
            crate::redact::add_var(var);
        }
    }
    let aws = config::audited(file.aws.unwrap_or_default(), &base, &settings.out_dir);
    let opts = EvalOptions {
        cache_mode: match (args.no_cache, args.refresh) {
            (true, _) => CacheMode::Off,
            (_, true) => CacheMode::Refresh,
            _ => CacheMode::ReadWrite,
        },
        dry_run: args.dry_run,
        aws_audit_log: aws.audit_log,
    };
    let bar = Bars::new(global.quiet || global.json);
    let report = evaluate(&settings, &opts, &bar)?;
    // Printed and written first; a candidate that answered nothing then fails the command.
    print_report(global, &report)?;
    Ok(report.check()?)
}

fn print_report(global: &Global, report: &EvalReport) -> anyhow::Result<()> {
    if global.json {
        println!("{}", serde_json::to_string_pretty(report)?);
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
