//! The regression gate: a run against a baseline run (pinned, or the last passing one in the
//! history), or a candidate against another candidate of the same run (`against`, e.g. the
//! newest model version against the one in production), under per-metric rules. A rule can set an absolute floor (`min`), a largest
//! allowed drop from the baseline (`max_drop`), and whether a drop must also be significant
//! in a paired test on the same examples before it fails (`require_significant`, default
//! true: exact McNemar for pass/fail metrics, paired bootstrap otherwise).

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tunebench_scoring::score::ExampleScore;
use tunebench_scoring::stats::{BootstrapConfig, mcnemar_exact, paired_bootstrap};

use crate::error::{ReportError, Result};
use crate::exports::Case;
use crate::flips::{DEFAULT_PASS_THRESHOLD, flips};
use crate::load::{CandidateResults, RunResults};

/// Significance level of the paired tests.
pub const ALPHA: f64 = 0.05;

/// At most this many example ids are listed per failed check.
pub const MAX_LISTED: usize = 20;

/// `[gate]` of a config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSettings {
    /// Baseline run folder; without it, the last passing run in `history`.
    pub baseline: Option<PathBuf>,
    /// History file (SQLite) the run is recorded in and the last passing run is found in.
    pub history: Option<PathBuf>,
    /// Score at or above which an example passes, for the flipped-example lists (0.5).
    pub pass_threshold: Option<f64>,
    /// The rules; every one must hold.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule, applied to every matching suite and candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Suite name; every suite when absent.
    pub suite: Option<String>,
    /// Candidate name; every candidate when absent.
    pub candidate: Option<String>,
    /// Metric name, or `score` for the weighted aggregate.
    pub metric: String,
    /// Fails when the value is below this.
    pub min: Option<f64>,
    /// Fails when the value dropped more than this below the baseline's.
    pub max_drop: Option<f64>,
    /// Compare with this candidate of the same run, on the same examples, instead of the
    /// same candidate in the baseline run.
    pub against: Option<String>,
    /// Fails a drop over `max_drop` only when a paired test finds it significant (p < 0.05).
    #[serde(default = "yes")]
    pub require_significant: bool,
}

fn yes() -> bool {
    true
}

/// The outcome of one rule on one suite and candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Suite.
    pub suite: String,
    /// Candidate.
    pub candidate: String,
    /// Metric.
    pub metric: String,
    /// Its value in the run.
    pub value: f64,
    /// Its value in the baseline, when the baseline has the candidate.
    pub baseline: Option<f64>,
    /// Two-sided p-value of the paired test of the change, when one ran.
    pub p_value: Option<f64>,
    /// Whether the rule held.
    pub passed: bool,
    /// Why, in words.
    pub reason: String,
    /// Examples that pass in the baseline and fail in the run (at most [`MAX_LISTED`]).
    pub broken: Vec<String>,
    /// How many examples broke in all.
    pub broken_count: usize,
}

/// Every check of a gate run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// The run checked.
    pub run_id: String,
    /// The baseline run, if any.
    pub baseline_run: Option<String>,
    /// One per rule and matching suite and candidate.
    pub checks: Vec<Check>,
    /// Whether every check passed.
    pub passed: bool,
}

impl GateReport {
    /// The verdict and each check as lines of text (failures first).
    pub fn explain(&self) -> String {
        let mut out = format!(
            "gate: run {} against {}: {}\n",
            self.run_id,
            self.baseline_run
                .as_deref()
                .map_or_else(|| "no baseline".to_owned(), |b| format!("baseline {b}")),
            if self.passed { "PASS" } else { "REGRESSION" }
        );
        let mut checks: Vec<&Check> = self.checks.iter().collect();
        checks.sort_by_key(|c| c.passed);
        for c in checks {
            out.push_str(&format!(
                "  {} {}/{} {}: {}\n",
                if c.passed { "ok  " } else { "FAIL" },
                c.suite,
                c.candidate,
                c.metric,
                c.reason
            ));
            if !c.broken.is_empty() {
                let more = c.broken_count.saturating_sub(c.broken.len());
                out.push_str(&format!(
                    "       {} example{} now fail: {}{}\n",
                    c.broken_count,
                    if c.broken_count == 1 { "" } else { "s" },
                    c.broken.join(", "),
                    if more > 0 {
                        format!(" … and {more} more")
                    } else {
                        String::new()
                    }
                ));
            }
        }
        out
    }

    /// JUnit test cases: one per check.
    pub fn cases(&self) -> Vec<Case> {
        self.checks
            .iter()
            .map(|c| Case {
                class: format!("gate.{}", c.suite),
                name: format!("{} {}", c.candidate, c.metric),
                failure: (!c.passed).then(|| {
                    let mut msg = c.reason.clone();
                    if !c.broken.is_empty() {
                        msg.push_str(&format!("\nnow failing: {}", c.broken.join(", ")));
                    }
                    msg
                }),
                output: c.reason.clone(),
            })
            .collect()
    }
}

/// The checks that need no results: there are rules, and each sets `min` or `max_drop`.
fn check_shape(settings: &GateSettings) -> Result<()> {
    if settings.rules.is_empty() {
        return Err(ReportError::Gate(
            "no rules\nhint: add [[gate.rules]] with metric = \"...\" and min and/or max_drop"
                .into(),
        ));
    }
    for (i, rule) in settings.rules.iter().enumerate() {
        if rule.min.is_none() && rule.max_drop.is_none() {
            return Err(ReportError::Gate(format!(
                "rule {} ({}) sets neither min nor max_drop",
                i + 1,
                rule.metric
            )));
        }
    }
    Ok(())
}

/// Checks `settings` against the eval that will make the run, before it runs: `suites` (each
/// suite's name and metric names) and `candidates` (their names). Every rule's suite and
/// candidate must exist, and its metric must be `score` or a metric of a suite it applies to.
///
/// # Errors
/// [`ReportError::Gate`] naming the rule and what is known instead.
pub fn validate(
    settings: &GateSettings,
    suites: &[(String, Vec<String>)],
    candidates: &[String],
) -> Result<()> {
    check_shape(settings)?;
    fn list<'a>(names: impl Iterator<Item = &'a String>) -> String {
        names
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
    for (i, rule) in settings.rules.iter().enumerate() {
        let n = i + 1;
        if let Some(s) = &rule.suite
            && !suites.iter().any(|(name, _)| name == s)
        {
            return Err(ReportError::Gate(format!(
                "rule {n} names suite `{s}`, which the eval does not run\nhint: the suites are {} (their `name`)",
                list(suites.iter().map(|(name, _)| name))
            )));
        }
        if let Some(c) = &rule.candidate
            && !candidates.contains(c)
        {
            return Err(ReportError::Gate(format!(
                "rule {n} names candidate `{c}`, which the eval does not have\nhint: the candidates are {}",
                list(candidates.iter())
            )));
        }
        if let Some(a) = &rule.against {
            if !candidates.contains(a) {
                return Err(ReportError::Gate(format!(
                    "rule {n} compares against candidate `{a}`, which the eval does not have\nhint: the candidates are {}",
                    list(candidates.iter())
                )));
            }
            if rule.candidate.as_ref() == Some(a) {
                return Err(ReportError::Gate(format!(
                    "rule {n} compares candidate `{a}` against itself\nhint: `against` names the other candidate, e.g. the one in production"
                )));
            }
            if rule.max_drop.is_none() {
                return Err(ReportError::Gate(format!(
                    "rule {n} sets `against = \"{a}\"` but no max_drop, so nothing is compared\nhint: add max_drop = 0.0 to fail on any significant drop"
                )));
            }
        }
        let applies: Vec<&(String, Vec<String>)> = suites
            .iter()
            .filter(|(name, _)| rule.suite.as_ref().is_none_or(|s| s == name))
            .collect();
        if rule.metric != "score" && !applies.iter().any(|(_, m)| m.contains(&rule.metric)) {
            let mut known: Vec<&String> = applies.iter().flat_map(|(_, m)| m).collect();
            known.sort();
            known.dedup();
            return Err(ReportError::Gate(format!(
                "rule {n} names metric `{}`, which no suite it applies to has\nhint: the known metrics are {}, and `score` (the weighted aggregate)",
                rule.metric,
                list(known.into_iter())
            )));
        }
    }
    Ok(())
}

/// Checks `run` against `baseline` under `settings.rules`.
///
/// # Errors
/// [`ReportError::Gate`] when there are no rules, or a rule matches no suite, candidate or
/// metric of the run (a typo would otherwise pass silently).
pub fn check(
    run: &RunResults,
    baseline: Option<&RunResults>,
    settings: &GateSettings,
) -> Result<GateReport> {
    check_shape(settings)?;
    let threshold = settings.pass_threshold.unwrap_or(DEFAULT_PASS_THRESHOLD);
    let mut checks = Vec::new();
    for (i, rule) in settings.rules.iter().enumerate() {
        let before = checks.len();
        for suite in run
            .suites
            .iter()
            .filter(|s| rule.suite.as_ref().is_none_or(|n| *n == s.comparison.suite))
        {
            for cand in suite.candidates.iter().filter(|c| {
                rule.candidate
                    .as_ref()
                    .is_none_or(|n| *n == c.summary.candidate)
                    && rule.against.as_ref() != Some(&c.summary.candidate)
            }) {
                let Some(value) = metric_value(cand, &rule.metric) else {
                    continue;
                };
                let base = match &rule.against {
                    Some(other) => suite.candidate(other).map(|b| (other.as_str(), b)),
                    None => baseline.and_then(|b| {
                        b.suites
                            .iter()
                            .find(|s| s.comparison.suite == suite.comparison.suite)
                            .and_then(|s| s.candidate(&cand.summary.candidate))
                            .map(|c| ("baseline", c))
                    }),
                };
                checks.push(check_one(rule, cand, value, base, threshold));
            }
        }
        if checks.len() == before {
            return Err(ReportError::Gate(format!(
                "rule {} matches nothing in run {}: suite {}, candidate {}, metric {}\nhint: suites and candidates are named as in the eval config; metrics as in the suite (or `score`)",
                i + 1,
                run.run_id,
                rule.suite.as_deref().unwrap_or("(any)"),
                rule.candidate.as_deref().unwrap_or("(any)"),
                rule.metric
            )));
        }
    }
    Ok(GateReport {
        run_id: run.run_id.clone(),
        baseline_run: baseline.map(|b| b.run_id.clone()),
        passed: checks.iter().all(|c| c.passed),
        checks,
    })
}

fn metric_value(c: &CandidateResults, metric: &str) -> Option<f64> {
    if metric == "score" {
        return Some(c.summary.score.value);
    }
    c.summary
        .metrics
        .iter()
        .find(|m| m.name == metric)
        .map(|m| m.estimate.value)
}

fn example_value(e: &ExampleScore, metric: &str) -> f64 {
    if metric == "score" {
        e.score
    } else {
        e.metrics.get(metric).copied().unwrap_or(0.0)
    }
}

/// One rule on one candidate; `base` is what it is compared with: the same candidate in the
/// baseline run, or the rule's `against` candidate, with the word the reason calls it by.
fn check_one(
    rule: &Rule,
    cand: &CandidateResults,
    value: f64,
    base: Option<(&str, &CandidateResults)>,
    threshold: f64,
) -> Check {
    let (label, base) = base.map_or(("baseline", None), |(l, b)| (l, Some(b)));
    let name = &cand.summary.candidate;
    let mut check = Check {
        suite: cand.summary.suite.clone(),
        candidate: name.clone(),
        metric: rule.metric.clone(),
        value,
        baseline: base.and_then(|b| metric_value(b, &rule.metric)),
        p_value: None,
        passed: true,
        reason: String::new(),
        broken: Vec::new(),
        broken_count: 0,
    };
    if let Some(b) = base {
        let f = flips(
            &b.summary.candidate,
            &b.examples,
            name,
            &cand.examples,
            threshold,
        );
        check.broken_count = f.broken.len();
        check.broken = f.broken.into_iter().take(MAX_LISTED).collect();
    }
    let mut reasons = Vec::new();
    if let Some(min) = rule.min {
        if value < min {
            check.passed = false;
            reasons.push(format!("{value:.4} is below the floor {min}"));
        } else {
            reasons.push(format!("{value:.4} ≥ floor {min}"));
        }
    }
    if let Some(max_drop) = rule.max_drop {
        match (base, check.baseline) {
            (Some(b), Some(base_value)) => {
                let drop = base_value - value;
                let p = paired_p(&b.examples, &cand.examples, &rule.metric);
                check.p_value = p;
                let p_text = p.map_or_else(|| "no paired test".to_owned(), |p| format!("p={p:.3}"));
                if drop <= max_drop {
                    reasons.push(format!(
                        "change {:+.4} from {label} {base_value:.4} is within max_drop {max_drop}",
                        // `+ 0.0` turns -0.0 into 0.0.
                        -drop + 0.0
                    ));
                } else if rule.require_significant && p.is_none_or(|p| p >= ALPHA) {
                    reasons.push(format!(
                        "dropped {drop:.4} from {label} {base_value:.4} (max_drop {max_drop}) but not significantly ({p_text}): within noise"
                    ));
                } else {
                    check.passed = false;
                    reasons.push(format!(
                        "dropped {drop:.4} from {label} {base_value:.4}, more than max_drop {max_drop} ({p_text})"
                    ));
                }
            }
            _ => reasons.push(format!("no {label} for this candidate: drop not checked")),
        }
    }
    check.reason = reasons.join("; ");
    check
}

/// p-value of the paired test between the baseline's and the run's per-example values of
/// `metric`, on the examples both scored: exact McNemar when every value is 0 or 1, paired
/// bootstrap otherwise. `None` when they share no example.
fn paired_p(base: &[ExampleScore], run: &[ExampleScore], metric: &str) -> Option<f64> {
    let by_id: HashMap<&str, f64> = base
        .iter()
        .map(|e| (e.id.as_str(), example_value(e, metric)))
        .collect();
    let (a, b): (Vec<f64>, Vec<f64>) = run
        .iter()
        .filter_map(|e| Some((*by_id.get(e.id.as_str())?, example_value(e, metric))))
        .unzip();
    if a.is_empty() {
        return None;
    }
    let binary = a.iter().chain(&b).all(|v| *v == 0.0 || *v == 1.0);
    if binary {
        let pass = |v: &Vec<f64>| v.iter().map(|x| *x == 1.0).collect::<Vec<bool>>();
        mcnemar_exact(&pass(&a), &pass(&b)).ok().map(|m| m.p_value)
    } else {
        paired_bootstrap(&a, &b, &BootstrapConfig::default())
            .ok()
            .map(|t| t.p_value)
    }
}
