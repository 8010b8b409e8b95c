//! What each command prints on stdout: a summary for people, the result as JSON with
//! `--json`, nothing with `--quiet`. `tunebench run` prints each stage's result the same way.

use std::path::Path;

use tunebench_datasets::Prepared;
use tunebench_eval::evaluate::EvalReport;
use tunebench_eval::output;
use tunebench_pipeline::cloudwatch::Published;
use tunebench_pipeline::lifecycle::Recorded;
use tunebench_pipeline::registry::{AliasMove, AuditEntry, ModelEntry, Registered, Version};
use tunebench_reports::gate::GateReport;
use tunebench_reports::render::Written;
use tunebench_reports::table::Table;
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
                let approx = if p.estimate.counter == "chars/4" {
                    "~"
                } else {
                    ""
                };
                println!(
                    "{} / {}: {} requests to send ({} cached), {approx}{} input tokens ({}), ≤ {} output tokens, {cost}",
                    p.suite,
                    p.candidate,
                    p.estimate.requests,
                    p.cached,
                    p.estimate.input_tokens,
                    p.estimate.counter,
                    p.estimate.max_output_tokens
                );
                if let Some(b) = &p.batch {
                    match &b.on_demand {
                        Some(why) => println!("  batch: {why}"),
                        None if b.records == 0 => println!("  batch: nothing to send"),
                        None => println!(
                            "  batch: one job of {} records, input {}, output under {}",
                            b.records, b.input_uri, b.output_uri
                        ),
                    }
                }
                for w in &p.warnings {
                    println!("  warning: {w}");
                }
            }
        }
        EvalReport::Results(results) => {
            for r in results {
                println!("{}", output::markdown(&r.comparison));
                for (name, s) in &r.stats {
                    let jobs = match s.batch_jobs {
                        0 => String::new(),
                        1 => ", 1 batch job".to_string(),
                        n => format!(", {n} batch jobs"),
                    };
                    println!(
                        "{name}: {} answered, {} from cache, {} failed, {} not sent, {} retries{jobs}, ${:.4} spent",
                        s.answered, s.cache_hits, s.failed, s.not_sent, s.retries, s.cost_usd
                    );
                    for note in &s.notes {
                        println!("  {note}");
                    }
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

/// Versions the train stage registered.
pub fn registered(global: &Global, versions: &[Registered]) -> std::io::Result<()> {
    if global.json {
        println!("{}", serde_json::to_string_pretty(versions)?);
    } else if !global.quiet {
        for r in versions {
            match r.created {
                true => println!("registered {}@{}", r.model, r.version),
                false => println!("already registered as {}@{}", r.model, r.version),
            }
        }
    }
    Ok(())
}

/// The registry's record of a run; printed even with `--quiet` when a gate failure kept
/// an alias where it was.
pub fn recorded(global: &Global, recorded: &Recorded) -> std::io::Result<()> {
    if global.json {
        println!("{}", serde_json::to_string_pretty(recorded)?);
        return Ok(());
    }
    if !global.quiet && !recorded.evaluated.is_empty() {
        println!(
            "registry: results recorded for {}",
            recorded.evaluated.join(", ")
        );
    }
    if let Some(m) = &recorded.promoted
        && !global.quiet
    {
        println!("registry: {}", moved_line(m, "promoted"));
    }
    if let Some(kept) = &recorded.kept {
        println!("registry: {kept}");
    }
    Ok(())
}

fn moved_line(m: &AliasMove, verb: &str) -> String {
    match m.previous {
        Some(p) if p == m.version => format!("{}@{} already points at {}", m.model, m.alias, p),
        Some(p) => format!(
            "{verb} {}@{} → version {} (was {p})",
            m.model, m.alias, m.version
        ),
        None => format!("{verb} {}@{} → version {}", m.model, m.alias, m.version),
    }
}

/// An alias moved by `model promote` or `model rollback`.
pub fn alias_move(global: &Global, m: &AliasMove, verb: &str) -> anyhow::Result<()> {
    either(global, &serde_json::to_value(m)?, &moved_line(m, verb));
    Ok(())
}

/// The registry's models.
pub fn models(global: &Global, models: &[ModelEntry]) -> anyhow::Result<()> {
    if global.json {
        println!("{}", serde_json::to_string_pretty(models)?);
        return Ok(());
    }
    if global.quiet {
        return Ok(());
    }
    if models.is_empty() {
        println!("the registry is empty: `tunebench model register` adds a version");
        return Ok(());
    }
    let mut table = Table::new(&[("model", false), ("versions", true), ("aliases", false)]);
    for m in models {
        let aliases: Vec<String> = m
            .aliases
            .iter()
            .map(|(a, v)| format!("{a} → {v}"))
            .collect();
        table.push(vec![
            m.name.clone(),
            m.versions.to_string(),
            aliases.join(", "),
        ]);
    }
    print!("{}", table.to_markdown());
    Ok(())
}

/// A model's versions, oldest first.
pub fn versions(global: &Global, versions: &[Version]) -> anyhow::Result<()> {
    if global.json {
        println!("{}", serde_json::to_string_pretty(versions)?);
        return Ok(());
    }
    if global.quiet {
        return Ok(());
    }
    let mut table = Table::new(&[
        ("version", true),
        ("registered", false),
        ("aliases", false),
        ("gate", false),
        ("run", false),
        ("what", false),
    ]);
    for v in versions {
        table.push(vec![
            v.version.to_string(),
            v.created.clone(),
            v.aliases.join(", "),
            v.gate.clone().unwrap_or_else(|| "-".into()),
            v.lineage.run_id.clone().unwrap_or_else(|| "-".into()),
            v.artifact.describe(),
        ]);
    }
    print!("{}", table.to_markdown());
    Ok(())
}

/// One version in full, and the model's audit trail.
pub fn version(global: &Global, v: &Version, audit: &[AuditEntry]) -> anyhow::Result<()> {
    if global.json {
        let shown = serde_json::json!({"version": v, "audit": audit});
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(());
    }
    if global.quiet {
        return Ok(());
    }
    let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    println!("{}@{}: {}", v.model, v.version, v.artifact.describe());
    println!("  registered: {}", v.created);
    println!(
        "  aliases:    {}",
        if v.aliases.is_empty() {
            "-".into()
        } else {
            v.aliases.join(", ")
        }
    );
    println!("  gate:       {}", dash(&v.gate));
    if let Some(note) = &v.note {
        println!("  note:       {note}");
    }
    let l = &v.lineage;
    println!("  run:        {}", dash(&l.run_id));
    println!("  base model: {}", dash(&l.base_model));
    println!("  config:     {}", dash(&l.config_sha256));
    println!("  data:       {}", dash(&l.data_manifest_sha256));
    if let Some(t) = &l.training {
        let loss = t.get("final_train_loss").or_else(|| t.get("training_loss"));
        let steps = t.get("steps");
        println!(
            "  training:   {} steps, final train loss {}",
            steps.map_or_else(|| "-".into(), ToString::to_string),
            loss.map_or_else(|| "-".into(), ToString::to_string)
        );
    }
    if !v.evaluations.is_empty() {
        let mut table = Table::new(&[
            ("run", false),
            ("suite", false),
            ("as", false),
            ("score", true),
            ("95% CI", true),
            ("cost $", true),
            ("gate", false),
        ]);
        for e in &v.evaluations {
            table.push(vec![
                e.run_id.clone(),
                e.suite.clone(),
                e.candidate.clone(),
                format!("{:.4}", e.score),
                format!("{:.4}–{:.4}", e.lower, e.upper),
                format!("{:.4}", e.cost_usd),
                dash(&e.gate),
            ]);
        }
        println!("\nevaluations:\n{}", table.to_markdown());
    }
    let mut table = Table::new(&[
        ("at", false),
        ("who", false),
        ("action", false),
        ("version", true),
        ("alias", false),
        ("was", true),
        ("reason", false),
    ]);
    let num = |n: Option<u32>| n.map_or_else(|| "-".into(), |n| n.to_string());
    for a in audit {
        table.push(vec![
            a.at.clone(),
            a.who.clone(),
            if a.forced {
                format!("{} (forced)", a.action)
            } else {
                a.action.clone()
            },
            num(a.version),
            dash(&a.alias),
            num(a.previous),
            dash(&a.reason),
        ]);
    }
    println!("\naudit of {}:\n{}", v.model, table.to_markdown());
    Ok(())
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
