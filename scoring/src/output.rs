//! Writing results: per suite and candidate `<out>/<suite>/<candidate>/{responses.jsonl,
//! scores.jsonl, summary.json}`, per suite `<out>/<suite>/{comparison.json, comparison.md}`,
//! and the Markdown comparison table (readable in a terminal and as a PR comment).
//!
//! Every file is written to a temporary file in the same folder and renamed into place, so a
//! reader never sees half a file and an interrupted run leaves the previous one intact.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compare::{CandidateRow, Comparison};
use crate::error::{Location, Result, ScoreError};
use crate::score::CandidateScores;
use crate::suite::safe_name;
use crate::table::{DASH, Table, number};
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

/// The comparison as Markdown: a heading, the [`leaderboard`], which candidate is best and
/// which failed, the Pareto frontiers and the ranks. Columns are padded so it also reads as
/// plain text (in a terminal, or as a PR comment).
pub fn markdown(c: &Comparison) -> String {
    let best = c.best.as_deref();
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
    out.push_str(&leaderboard(c).to_markdown());
    out.push('\n');
    if let Some(b) = best {
        let _ = writeln!(
            out,
            "Best: **{b}**. `≈ not significant`: p ≥ 0.05 in the paired test on the same examples (exact McNemar for pass/fail scores, paired bootstrap otherwise)."
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
            DASH.to_owned()
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

/// The candidates of a comparison, best score first: score with its 95% interval, each
/// metric, cost, score per dollar, latency, errors, and the paired test of the aggregate
/// score against the best candidate (`≈ not significant` when p ≥ 0.05). Candidates that
/// answered nothing come last, unranked, marked `failed` instead of a score. The one table
/// of a comparison: `comparison.md`, `tunebench eval`'s output and the reports show it.
pub fn leaderboard(c: &Comparison) -> Table {
    let metrics: Vec<&str> = c
        .candidates
        .first()
        .map(|r| r.metrics.iter().map(|m| m.name.as_str()).collect())
        .unwrap_or_default();
    let mut columns: Vec<(&str, bool)> = vec![("rank", true), ("candidate", false)];
    columns.push(("score (95% CI)", true));
    columns.extend(metrics.iter().map(|m| (*m, true)));
    columns.extend([
        ("cost $", true),
        ("score/$", true),
        ("rank by score/$", true),
        ("p50 ms", true),
        ("p95 ms", true),
        ("errors", true),
        ("vs best", false),
    ]);
    let mut table = Table::new(&columns);
    // Summaries written before candidates could fail rank them too: skip them there.
    let ranked = c
        .rank_quality
        .iter()
        .filter(|n| c.candidate(n).is_some_and(|r| !r.failed));
    for (rank, name) in ranked.enumerate() {
        let Some(r) = c.candidate(name) else {
            continue;
        };
        let marker = if c.best.as_deref() == Some(name.as_str()) {
            " (best)"
        } else {
            ""
        };
        let mut row = vec![
            (rank + 1).to_string(),
            format!("{name}{marker}"),
            format!(
                "{:.3} [{:.3}, {:.3}]",
                r.score.value, r.score.lower, r.score.upper
            ),
        ];
        row.extend(
            metrics
                .iter()
                .map(|m| number(r.metric(m).map(|e| e.value), 3)),
        );
        row.push(format!("{:.4}", r.cost_usd));
        row.push(number(r.quality_per_dollar, 1));
        row.push(
            c.rank_quality_per_dollar
                .iter()
                .position(|n| n == name)
                .map_or_else(|| DASH.into(), |i| (i + 1).to_string()),
        );
        row.push(number(r.latency_p50_ms, 0));
        row.push(number(r.latency_p95_ms, 0));
        row.push(errors(r));
        row.push(versus_best(c, name));
        table.push(row);
    }
    for r in c.candidates.iter().filter(|r| r.failed) {
        let mut row = vec![DASH.into(), format!("{} (failed)", r.name), "failed".into()];
        row.extend(metrics.iter().map(|_| DASH.into()));
        row.extend([
            format!("{:.4}", r.cost_usd),
            DASH.into(),
            DASH.into(),
            DASH.into(),
            DASH.into(),
            errors(r),
            "every request failed: not ranked".into(),
        ]);
        table.push(row);
    }
    table
}

fn errors(r: &CandidateRow) -> String {
    if r.missing > 0 {
        format!("{} (+{} missing)", r.errors, r.missing)
    } else {
        r.errors.to_string()
    }
}

/// The paired test of the aggregate score against the best candidate: its p-value, marked
/// `≈ not significant` when the difference is not significant.
fn versus_best(c: &Comparison, name: &str) -> String {
    let Some(best) = c.best.as_deref() else {
        return DASH.into();
    };
    if best == name {
        return "best".into();
    }
    c.test(best, name, "score").map_or_else(
        || DASH.into(),
        |t| {
            let p = format_p(t.p_value);
            let p = if p.starts_with('<') {
                format!("p{p}")
            } else {
                format!("p={p}")
            };
            if t.significant {
                p
            } else {
                format!("{p} ≈ not significant")
            }
        },
    )
}

/// A p-value with three decimals, or `<0.001`.
pub fn format_p(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}
