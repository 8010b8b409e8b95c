//! The report's tables, built from summaries: the registry versions evaluated, each
//! candidate against the baseline, training jobs, and trends across runs (a suite's
//! leaderboard is [`tunebench_scoring::output::leaderboard`]). Markdown and HTML render the
//! same tables.

use tunebench_scoring::compare::{Comparison, TestKind};
use tunebench_scoring::output::format_p;

use crate::flips::Flips;
use crate::labels::SuiteLabels;
use crate::load::RegistryModel;
use crate::summary::{RunSummary, TrainingSummary};
use crate::table::{DASH, Table, number};

/// Every other candidate against `baseline` on the aggregate score and each metric: both
/// values, the difference, the paired test's p-value, and whether it is significant.
pub fn versus_baseline(suite: &Comparison, baseline: &str) -> Table {
    let mut table = Table::new(&[
        ("candidate", false),
        ("metric", false),
        ("baseline", true),
        ("candidate value", true),
        ("Δ", true),
        ("p", true),
        ("test", false),
        ("verdict", false),
    ]);
    for c in &suite.candidates {
        if c.name == baseline {
            continue;
        }
        let metrics = std::iter::once("score").chain(c.metrics.iter().map(|m| m.name.as_str()));
        for metric in metrics {
            let Some(t) = suite.tests.iter().find(|t| {
                t.metric == metric
                    && ((t.a == baseline && t.b == c.name) || (t.a == c.name && t.b == baseline))
            }) else {
                continue;
            };
            // The test's `diff` is a - b; report candidate - baseline.
            let (base_value, cand_value) = if t.a == baseline {
                (t.value_a, t.value_b)
            } else {
                (t.value_b, t.value_a)
            };
            let diff = cand_value - base_value;
            let verdict = if !t.significant {
                "≈ not significant"
            } else if diff > 0.0 {
                "better"
            } else {
                "worse"
            };
            table.push(vec![
                c.name.clone(),
                metric.to_owned(),
                format!("{base_value:.3}"),
                format!("{cand_value:.3}"),
                format!("{diff:+.3}"),
                format_p(t.p_value),
                match t.test {
                    TestKind::McNemar => "McNemar (exact)".into(),
                    TestKind::PairedBootstrap => "paired bootstrap".into(),
                },
                verdict.to_owned(),
            ]);
        }
    }
    table
}

/// The registry versions behind the run's `registry:` candidates.
pub fn models(models: &[RegistryModel]) -> Table {
    let mut table = Table::new(&[
        ("candidate", false),
        ("asked for", false),
        ("version", false),
        ("what", false),
    ]);
    for m in models {
        table.push(vec![
            m.candidate.clone(),
            m.reference.clone(),
            format!("{}@{}", m.model, m.version),
            m.artifact.clone(),
        ]);
    }
    table
}

/// The examples shown for one candidate: outcome, prompt, reference and both answers.
pub fn shown(f: &Flips) -> Table {
    let mut table = Table::new(&[
        ("example", false),
        ("outcome", false),
        ("prompt", false),
        ("reference", false),
        (f.baseline.as_str(), false),
        (f.candidate.as_str(), false),
    ]);
    for s in &f.shown {
        table.push(vec![
            s.id.clone(),
            s.outcome.as_str().to_string(),
            s.prompt.clone(),
            s.reference.clone(),
            s.baseline.clone(),
            s.candidate.clone(),
        ]);
    }
    table
}

/// A classification suite's candidates: macro-F1 and the label pairs each confuses most
/// (`reference → answer ×count`).
pub fn labels(s: &SuiteLabels) -> Table {
    let mut table = Table::new(&[
        ("candidate", false),
        ("macro-F1", true),
        ("most confused (reference → answer ×count)", false),
    ]);
    for c in &s.candidates {
        let confused: Vec<String> = c
            .confused
            .iter()
            .map(|(r, a, n)| format!("{r} → {a} ×{n}"))
            .collect();
        table.push(vec![
            c.candidate.clone(),
            format!("{:.3}", c.macro_f1),
            if confused.is_empty() {
                DASH.into()
            } else {
                confused.join("; ")
            },
        ]);
    }
    table
}

/// Training jobs: steps, final training loss, best validation loss; and when any job is a
/// reinforcement fine-tuning job, its final training reward and best validation reward.
pub fn training(jobs: &[TrainingSummary]) -> Table {
    let rewards = jobs
        .iter()
        .any(|j| j.final_train_reward.is_some() || j.best_val_reward.is_some());
    let mut columns = vec![
        ("job", false),
        ("steps", true),
        ("final train loss", true),
        ("best val loss", true),
    ];
    if rewards {
        columns.extend([("final train reward", true), ("best val reward", true)]);
    }
    let mut table = Table::new(&columns);
    for j in jobs {
        let mut row = vec![
            j.name.clone(),
            j.steps.to_string(),
            number(j.final_train_loss, 4),
            number(j.best_val_loss, 4),
        ];
        if rewards {
            row.extend([
                number(j.final_train_reward, 4),
                number(j.best_val_reward, 4),
            ]);
        }
        table.push(row);
    }
    table
}

/// The aggregate score of every candidate of `suite` in each run, oldest first.
pub fn trend(runs: &[RunSummary], suite: &str) -> Table {
    let mut names: Vec<&str> = Vec::new();
    for s in runs
        .iter()
        .flat_map(|r| r.suites.iter().filter(|s| s.suite == suite))
    {
        for c in &s.candidates {
            if !names.contains(&c.name.as_str()) {
                names.push(&c.name);
            }
        }
    }
    let mut columns: Vec<(&str, bool)> = vec![("run", false), ("created", false)];
    columns.extend(names.iter().map(|n| (*n, true)));
    let mut table = Table::new(&columns);
    for r in runs {
        let Some(s) = r.suite(suite) else {
            continue;
        };
        let mut row = vec![r.run_id.clone(), r.created.clone()];
        row.extend(names.iter().map(|n| {
            s.candidate(n).map_or_else(
                || DASH.into(),
                |c| {
                    if c.failed {
                        "failed".into()
                    } else {
                        format!("{:.3}", c.score.value)
                    }
                },
            )
        }));
        table.push(row);
    }
    table
}
