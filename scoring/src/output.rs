//! Writing results: per suite and candidate `<out>/<suite>/<candidate>/{responses.jsonl,
//! scores.jsonl, summary.json}`, per suite `<out>/<suite>/{comparison.json, comparison.md}`,
//! and the Markdown comparison table (readable in a terminal and as a PR comment).
//!
//! Every file is written to a temporary file in the same folder and renamed into place, so a
//! reader never sees half a file and an interrupted run leaves the previous one intact.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compare::{Comparison, TestKind};
use crate::error::{Location, Result, ScoreError};
use crate::score::CandidateScores;
use crate::suite::safe_name;
use crate::table::{Table, number};
use crate::types::ResponseRecord;

/// Writes a candidate's `responses.jsonl`, `scores.jsonl` and `summary.json` under
/// `<out>/<suite>/<candidate>/` and returns that folder.
///
/// # Errors
/// [`ScoreError::Io`] when a file cannot be written; [`ScoreError::Input`] when the candidate
/// name cannot name a folder.
pub fn write_candidate(
    out: &Path,
    responses: &[ResponseRecord],
    scores: &CandidateScores,
) -> Result<PathBuf> {
    let s = &scores.summary;
    let dir = out.join(checked(&s.suite)?).join(checked(&s.candidate)?);
    std::fs::create_dir_all(&dir).map_err(|e| ScoreError::io(&dir, e))?;
    write_atomic(&dir.join("responses.jsonl"), &jsonl(responses)?)?;
    write_atomic(&dir.join("scores.jsonl"), &jsonl(&scores.examples)?)?;
    write_atomic(&dir.join("summary.json"), &pretty(s)?)?;
    Ok(dir)
}

/// Writes `<out>/<suite>/comparison.json` and `comparison.md` (see [`markdown`]) and returns
/// the suite folder.
///
/// # Errors
/// [`ScoreError::Io`] when a file cannot be written.
pub fn write_comparison(out: &Path, comparison: &Comparison) -> Result<PathBuf> {
    let dir = out.join(checked(&comparison.suite)?);
    std::fs::create_dir_all(&dir).map_err(|e| ScoreError::io(&dir, e))?;
    write_atomic(&dir.join("comparison.json"), &pretty(comparison)?)?;
    write_atomic(&dir.join("comparison.md"), markdown(comparison).as_bytes())?;
    Ok(dir)
}

fn checked(name: &str) -> Result<&str> {
    if safe_name(name) {
        Ok(name)
    } else {
        Err(ScoreError::input(
            Location::file(name),
            "cannot name an output folder\nhint: use letters, digits, '-', '_' and '.'",
        ))
    }
}

fn jsonl<T: Serialize>(items: &[T]) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    for item in items {
        serde_json::to_writer(&mut buf, item).map_err(|e| ScoreError::io("<jsonl>", e.into()))?;
        buf.push(b'\n');
    }
    Ok(buf)
}

fn pretty<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut buf =
        serde_json::to_vec_pretty(value).map_err(|e| ScoreError::io("<json>", e.into()))?;
    buf.push(b'\n');
    Ok(buf)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
///
/// # Errors
/// [`ScoreError::Io`] when the file cannot be written (the temporary file is removed).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    tunebench_core::write_atomic(path, bytes).map_err(|e| ScoreError::io(path, e))
}

/// The comparison as a Markdown table, candidates as rows: score with its 95% interval,
/// each metric, cost, score per dollar, latency p50/p95, errors, and the p-value of the
/// paired test against the best candidate (`≈` when the difference is not significant).
/// A candidate that answered nothing reads `failed` instead of a score and is not ranked.
/// Columns are padded so the table also reads as plain text.
pub fn markdown(c: &Comparison) -> String {
    let metric_names: Vec<&str> = c
        .candidates
        .first()
        .map(|r| r.metrics.iter().map(|(n, _)| n.as_str()).collect())
        .unwrap_or_default();
    // Text columns (the first and last) left-aligned, numbers right-aligned.
    let mut columns: Vec<(&str, bool)> = vec![("candidate", false), ("score (95% CI)", true)];
    columns.extend(metric_names.iter().map(|n| (*n, true)));
    columns.extend([
        ("cost $", true),
        ("score/$", true),
        ("p50 ms", true),
        ("p95 ms", true),
        ("errors", true),
        ("vs best", false),
    ]);
    let mut table = Table::new(&columns);
    let best = c.best.as_deref();
    for r in &c.candidates {
        let mut row = vec![
            if Some(r.name.as_str()) == best {
                format!("**{}**", r.name)
            } else {
                r.name.clone()
            },
            if r.failed {
                "failed".into()
            } else {
                format!("{:.3} [{:.3}, {:.3}]", r.score, r.lower, r.upper)
            },
        ];
        row.extend(r.metrics.iter().map(|(_, v)| {
            if r.failed {
                "–".into()
            } else {
                format!("{v:.3}")
            }
        }));
        row.push(format!("{:.4}", r.cost_usd));
        row.push(number(r.quality_per_dollar, 1));
        row.push(number(r.latency_p50_ms, 0));
        row.push(number(r.latency_p95_ms, 0));
        row.push(if r.missing > 0 {
            format!("{} (+{} missing)", r.errors, r.missing)
        } else {
            r.errors.to_string()
        });
        row.push(match best {
            _ if r.failed => "failed, not ranked".into(),
            Some(b) if b == r.name => "best".into(),
            Some(b) => match c.test(b, &r.name, "score") {
                Some(t) => {
                    let kind = match t.test {
                        TestKind::McNemar => "McNemar",
                        TestKind::PairedBootstrap => "bootstrap",
                    };
                    let mark = if t.significant { "" } else { " ≈" };
                    format!("p={:.3} {kind}{mark}", t.p_value)
                }
                None => "–".into(),
            },
            None => "–".into(),
        });
        table.push(row);
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "### {} (v{}): {} candidate{} on {} example{}\n",
        c.suite,
        c.suite_version,
        c.candidates.len(),
        plural(c.candidates.len()),
        c.suite_examples,
        plural(c.suite_examples)
    );
    out.push_str(&table.to_markdown());
    out.push('\n');
    if let Some(b) = best {
        let _ = writeln!(
            out,
            "Best: **{b}**. `≈`: not significantly different from the best (paired test on the aggregate score, p ≥ 0.05)."
        );
    }
    let failed: Vec<&str> = c
        .candidates
        .iter()
        .filter(|r| r.failed)
        .map(|r| r.name.as_str())
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(
            out,
            "**Failed** (every request errored; not ranked, not compared): {}. The errors are in each one's responses.jsonl.",
            failed.join(", ")
        );
    }
    let list = |names: &[String]| {
        if names.is_empty() {
            "–".to_owned()
        } else {
            names.join(", ")
        }
    };
    let _ = writeln!(
        out,
        "Pareto frontier, score vs cost: {}; score vs p50 latency: {}.",
        list(&c.pareto_cost),
        list(&c.pareto_latency)
    );
    let _ = writeln!(
        out,
        "Rank by score: {}; by score per dollar: {}.",
        list(&c.rank_quality),
        list(&c.rank_quality_per_dollar)
    );
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
