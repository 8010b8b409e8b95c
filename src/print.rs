//! What each command prints on stdout: a summary for people, the result as JSON with
//! `--json`, nothing with `--quiet`. `tunebench run` prints each stage's result the same way.

use std::path::Path;

use tunebench_datasets::Prepared;
use tunebench_eval::evaluate::EvalReport;
use tunebench_eval::output;
use tunebench_pipeline::cloudwatch::Published;
use tunebench_reports::gate::GateReport;
use tunebench_reports::render::Written;
use tunebench_train::{Status, Summary};

use crate::cli::Global;

/// The JSON answer with `--json`, else the line (nothing with `--quiet`).
pub fn either(global: &Global, value: &serde_json::Value, line: &str) {
    if global.json {
        println!("{value:#}");
    } else if !global.quiet {
        println!("{line}");
    }
}

/// A prepared data set: the manifest, or what went where.
pub fn prepared(global: &Global, prepared: &Prepared) -> std::io::Result<()> {
    let m = &prepared.manifest;
    if global.json {
        println!("{}", serde_json::to_string_pretty(m)?);
        return Ok(());
    }
    if global.quiet {
        return Ok(());
    }
    let c = &m.counts;
    let split = |s: &str| m.splits.get(s).map_or(0, |o| o.records);
    let verb = if prepared.reused {
        "up to date"
    } else {
        "prepared"
    };
    println!(
        "{verb}: {} records in → {} kept (train {}, validation {}, test {})",
        c.input,
        c.kept,
        split("train"),
        split("validation"),
        split("test")
    );
    println!(
        "dropped: {} rejected (unreadable {}, empty {}, too large {}, PII {}, target rules {}), {} duplicates (exact {}, near {}), {} over the token limit",
        c.rejected,
        c.unreadable,
        c.empty,
        c.too_large,
        c.pii_rejected,
        c.invalid_for_target,
        c.duplicates,
        c.exact_duplicates,
        c.near_duplicates,
        c.filtered
    );
    let pii: Vec<String> = m
        .pii
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !pii.is_empty() {
        println!("PII found: {}", pii.join(", "));
    }
    if m.leakage.moved > 0 || !m.leakage.reported.is_empty() {
        println!(
            "leakage: {} moved into train, {} reported",
            m.leakage.moved,
            m.leakage.reported.len()
        );
    }
    for u in &m.uploaded {
        println!("uploaded {} → {} ({})", u.file, u.uri, u.outcome);
    }
    println!(
        "target {}; outputs in {}",
        m.target,
        prepared.out_dir.display()
    );
    Ok(())
}

/// A local training's summary.
pub fn trained(global: &Global, summary: &Summary, out_dir: &Path) -> std::io::Result<()> {
    if global.json {
        println!("{}", serde_json::to_string_pretty(summary)?);
    } else if !global.quiet {
        let loss = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
        println!(
            "{}: {} steps ({:.2} epochs, {} tokens) in {:.1} s; train loss {}, validation loss {} (best {} at step {})",
            match summary.status {
                Status::EarlyStopped => "stopped early",
                _ => "trained",
            },
            summary.steps,
            summary.epochs,
            summary.tokens_seen,
            summary.wall_time_s,
            loss(summary.final_train_loss),
            loss(summary.final_val_loss),
            loss(summary.best_val_loss),
            summary
                .best_step
                .map_or_else(|| "-".to_string(), |s| s.to_string()),
        );
        println!("outputs in {}", out_dir.display());
    }
    Ok(())
}

/// An eval's comparison tables and per-candidate counts, or its dry-run estimate.
pub fn evaluated(global: &Global, report: &EvalReport) -> std::io::Result<()> {
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

/// The report's Markdown as written (it fits a terminal and a PR comment).
pub fn report(global: &Global, written: &Written) {
    if !global.silent() {
        println!("{}", written.markdown_text);
    }
}

/// The gate's explanation; printed even with `--quiet` when it failed.
pub fn gate(global: &Global, report: &GateReport) {
    if !global.quiet || !report.passed {
        print!("{}", report.explain());
    }
}

/// What went to CloudWatch; a dry run's payload is printed as JSON whatever the flags, being
/// what was asked for.
pub fn published(global: &Global, published: &Published) -> std::io::Result<()> {
    match published {
        Published::DryRun(batches) => println!("{}", serde_json::to_string_pretty(batches)?),
        Published::Sent {
            namespace,
            datums,
            calls,
        } => either(
            global,
            &serde_json::to_value(published)?,
            &format!(
                "cloudwatch: {datums} datums sent to namespace {namespace} in {calls} PutMetricData call(s)"
            ),
        ),
    }
    Ok(())
}
