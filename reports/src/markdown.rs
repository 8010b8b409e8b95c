//! `report.md`: per suite the leaderboard, the Pareto frontiers and ranks, each candidate
//! against the baseline with significance, and the flipped examples; then training and
//! trends. Short enough for a PR comment or a chat message.

use std::fmt::Write as _;

use tunebench_scoring::compare::Comparison;
use tunebench_scoring::output::leaderboard;

use crate::render::{MAX_LISTED, Report};
use crate::sections;

/// The report as Markdown.
pub fn render(report: &Report) -> String {
    let s = &report.summary;
    let mut out = String::new();
    let _ = writeln!(out, "# tunebench report: {}\n", s.run_id);
    let _ = writeln!(
        out,
        "{} · {} suite{} · {} training job{}\n",
        s.created,
        s.suites.len(),
        plural(s.suites.len()),
        s.training.len(),
        plural(s.training.len())
    );
    if !s.models.is_empty() {
        out.push_str("## Models from the registry\n\n");
        out.push_str(&sections::models(&s.models).to_markdown());
        out.push('\n');
    }
    for suite in &s.suites {
        let _ = writeln!(
            out,
            "## {} (v{}, {} examples)\n",
            suite.suite, suite.suite_version, suite.suite_examples
        );
        out.push_str(&leaderboard(suite).to_markdown());
        out.push('\n');
        out.push_str(&frontier_lines(suite));
        if let Some(f) = report.flips.iter().find(|f| f.suite == suite.suite) {
            let versus = sections::versus_baseline(suite, &f.baseline);
            if !versus.rows.is_empty() {
                let _ = writeln!(out, "\n### Against the baseline `{}`\n", f.baseline);
                out.push_str(&versus.to_markdown());
                out.push_str(
                    "\n`≈ not significant`: p ≥ 0.05 in the paired test on the same examples (exact McNemar for pass/fail metrics, paired bootstrap otherwise).\n",
                );
            }
            if !f.flips.is_empty() {
                let _ = writeln!(out, "\n### Flipped examples against `{}`\n", f.baseline);
                for flip in &f.flips {
                    let _ = writeln!(
                        out,
                        "- **{}**: {} fixed (fail → pass), {} broken (pass → fail) of {} compared.",
                        flip.candidate,
                        flip.fixed.len(),
                        flip.broken.len(),
                        flip.compared
                    );
                    for (label, ids) in [("Broken", &flip.broken), ("Fixed", &flip.fixed)] {
                        if !ids.is_empty() {
                            let _ = writeln!(out, "  - {label}: {}", listed(ids));
                        }
                    }
                    if !flip.shown.is_empty() {
                        out.push('\n');
                        out.push_str(&sections::shown(flip).to_markdown());
                        out.push('\n');
                    }
                }
            }
        }
        if let Some(l) = report.labels.iter().find(|l| l.suite == suite.suite) {
            let _ = writeln!(
                out,
                "\n### Per label ({} labels, metric `{}`)\n",
                l.labels, l.metric
            );
            out.push_str(&sections::labels(l).to_markdown());
        }
        out.push('\n');
    }
    if !s.training.is_empty() {
        out.push_str("## Training\n\n");
        out.push_str(&sections::training(&s.training).to_markdown());
        out.push('\n');
    }
    if !report.trend.is_empty() {
        let _ = writeln!(out, "## Trend over {} runs\n", report.trend.len());
        for suite in &s.suites {
            let _ = writeln!(out, "### {}: score\n", suite.suite);
            out.push_str(&sections::trend(&report.trend, &suite.suite).to_markdown());
            out.push('\n');
        }
    }
    out
}

/// The Pareto frontiers and the ranking by score per dollar, as sentences.
pub fn frontier_lines(suite: &Comparison) -> String {
    let list = |names: &[String]| {
        if names.is_empty() {
            "–".to_owned()
        } else {
            names.join(", ")
        }
    };
    let mut out = String::new();
    if let Some(best) = &suite.best {
        let _ = writeln!(out, "Best by score: **{best}**.");
    }
    let failed: Vec<String> = suite
        .candidates
        .iter()
        .filter(|c| c.failed)
        .map(|c| c.name.clone())
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(
            out,
            "**Failed** (every request errored; not ranked): {}.",
            failed.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "Pareto frontier, score vs cost: {}; score vs latency: {}.",
        list(&suite.pareto_cost),
        list(&suite.pareto_latency)
    );
    if suite.rank_quality_per_dollar.is_empty() {
        out.push_str(
            "Score per dollar: nothing was spent (local models at $0/hour in the pricing table).\n",
        );
    } else {
        let _ = writeln!(
            out,
            "By score per dollar: {}.",
            list(&suite.rank_quality_per_dollar)
        );
    }
    out
}

/// Up to [`MAX_LISTED`] ids, then how many more.
pub fn listed(ids: &[String]) -> String {
    let shown: Vec<&str> = ids.iter().take(MAX_LISTED).map(String::as_str).collect();
    let more = ids.len().saturating_sub(MAX_LISTED);
    if more > 0 {
        format!("{} … and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
