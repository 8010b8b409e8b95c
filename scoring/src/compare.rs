//! Comparing candidates on one suite: paired significance tests for every pair and every
//! metric, Pareto frontiers and ranks. [`Comparison`] is the one record of a suite's
//! results: `comparison.json`, and what a report's `summary.json` and the history store.
//!
//! Tests are paired on the examples both candidates were scored on. A metric whose values
//! are all 0 or 1 for both candidates is tested with the exact McNemar test (only the
//! discordant examples matter); anything else with the paired bootstrap, which for BLEU and
//! chrF recomputes the corpus score of each resample (Koehn 2004, "Statistical Significance
//! Tests for Machine Translation Evaluation"; sacreBLEU's `--paired-bs`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::score::{Aggregate, CandidateScores, Column, Estimate, ExampleScore, Summary};
use crate::stats::{
    BootstrapConfig, ParetoPoint, mcnemar_exact, paired_bootstrap_by, pareto_frontier,
};
use crate::suite::Suite;

/// Significance level of [`PairTest::significant`].
pub const ALPHA: f64 = 0.05;

/// Which test a [`PairTest`] used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    /// Exact McNemar test on pass/fail outcomes.
    McNemar,
    /// Paired bootstrap of the difference.
    PairedBootstrap,
}

/// One metric compared between two candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairTest {
    /// First candidate.
    pub a: String,
    /// Second candidate.
    pub b: String,
    /// Metric name, or `score` for the weighted aggregate.
    pub metric: String,
    /// The test used.
    pub test: TestKind,
    /// Examples both were scored on.
    pub n: usize,
    /// `a`'s value on those examples.
    pub value_a: f64,
    /// `b`'s value on those examples.
    pub value_b: f64,
    /// `value_a - value_b`.
    pub diff: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// `p_value < 0.05`.
    pub significant: bool,
    /// McNemar: examples `a` passes and `b` fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a_only: Option<u64>,
    /// McNemar: examples `b` passes and `a` fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_only: Option<u64>,
}

/// The format of `comparison.json`, and of the comparisons a report's `summary.json` (and so
/// the history) stores. Format 1, before it had a number, gave each candidate its score as
/// three numbers and each metric without its interval or tokens; [`format1`] reads it.
pub const FORMAT: u32 = 2;

/// The format number of a file tunebench wrote before it numbered its formats.
pub fn unnumbered() -> u32 {
    1
}

/// The `format` number of a JSON document tunebench wrote (`comparison.json`, a report's
/// `summary.json`), [`unnumbered`] when it has none; the rest of the document is skipped.
///
/// # Errors
/// The text is not a JSON object.
pub fn format_of(text: &str) -> serde_json::Result<u32> {
    #[derive(Deserialize)]
    struct Header {
        #[serde(default = "unnumbered")]
        format: u32,
    }
    Ok(serde_json::from_str::<Header>(text)?.format)
}

/// A candidate's row in the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRow {
    /// Candidate name.
    pub name: String,
    /// Examples scored.
    pub n: usize,
    /// Errored responses (scored 0).
    pub errors: usize,
    /// Examples without a response.
    pub missing: usize,
    /// Weighted aggregate with its 95% interval.
    pub score: Estimate,
    /// Every metric with its interval, in suite order.
    pub metrics: Vec<MetricValue>,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Dollars.
    pub cost_usd: f64,
    /// Score per dollar (none when nothing was spent).
    pub quality_per_dollar: Option<f64>,
    /// Median latency (ms).
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile latency (ms).
    pub latency_p95_ms: Option<f64>,
    /// Every request failed (or nothing was scored): the score measures nothing, so the
    /// candidate is left out of `best`, the ranks, the Pareto fronts and the paired tests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
}

impl CandidateRow {
    /// The value of `metric` (`score` is the aggregate).
    pub fn metric(&self, metric: &str) -> Option<Estimate> {
        if metric == "score" {
            return Some(self.score);
        }
        self.metrics
            .iter()
            .find(|m| m.name == metric)
            .map(|m| m.estimate)
    }
}

impl From<&Summary> for CandidateRow {
    fn from(s: &Summary) -> Self {
        CandidateRow {
            name: s.candidate.clone(),
            n: s.n,
            errors: s.errors,
            missing: s.missing,
            score: s.score,
            metrics: s
                .metrics
                .iter()
                .map(|m| MetricValue {
                    name: m.name.clone(),
                    estimate: m.estimate,
                })
                .collect(),
            input_tokens: s.input_tokens,
            output_tokens: s.output_tokens,
            cost_usd: s.cost_usd,
            quality_per_dollar: s.quality_per_dollar,
            latency_p50_ms: s.latency_p50_ms,
            latency_p95_ms: s.latency_p95_ms,
            failed: s.all_failed(),
        }
    }
}

/// A metric's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    /// Metric name.
    pub name: String,
    /// Value and 95% interval.
    #[serde(flatten)]
    pub estimate: Estimate,
}

/// `comparison.json`: every candidate on one suite. A report's `summary.json` and the
/// history store the same, one per suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// [`FORMAT`] when written; 1 in comparisons of summaries written before it had a number.
    #[serde(default = "unnumbered")]
    pub format: u32,
    /// Suite name.
    pub suite: String,
    /// Suite version.
    #[serde(alias = "version")]
    pub suite_version: String,
    /// Examples in the suite.
    #[serde(alias = "examples")]
    pub suite_examples: usize,
    /// Candidates, in the order given.
    pub candidates: Vec<CandidateRow>,
    /// Every pair (`a` before `b` in the candidate order) and every metric, plus `score`.
    pub tests: Vec<PairTest>,
    /// Candidate with the best score (first on ties); failed candidates never are.
    pub best: Option<String>,
    /// Non-dominated candidates on (score ↑, cost ↓), cheapest first.
    pub pareto_cost: Vec<String>,
    /// Non-dominated candidates on (score ↑, latency p50 ↓), fastest first; candidates
    /// without latency are left out.
    pub pareto_latency: Vec<String>,
    /// Candidates by score, best first (ties by name); failed candidates are left out.
    pub rank_quality: Vec<String>,
    /// Candidates by score per dollar, best first; those that spent nothing are left out.
    pub rank_quality_per_dollar: Vec<String>,
    /// Bootstrap settings of the paired tests; none in the comparisons of summaries written
    /// before format 2, which did not keep them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<BootstrapConfig>,
}

impl Comparison {
    /// The test of `metric` between `x` and `y`, in either order.
    pub fn test(&self, x: &str, y: &str, metric: &str) -> Option<&PairTest> {
        self.tests
            .iter()
            .find(|t| t.metric == metric && ((t.a == x && t.b == y) || (t.a == y && t.b == x)))
    }

    /// The candidate called `name`.
    pub fn candidate(&self, name: &str) -> Option<&CandidateRow> {
        self.candidates.iter().find(|c| c.name == name)
    }
}

pub mod format1 {
    //! `comparison.json` as tunebench wrote it before [`FORMAT`](super::FORMAT) 2: each
    //! candidate's score as `score`, `lower` and `upper`, its metrics as `[name, value]` pairs
    //! without intervals, and no tokens. The rows are rebuilt from each candidate's
    //! `summary.json`, which has all of it; the rest reads as it is.

    use serde::Deserialize;

    use super::{CandidateRow, Comparison, PairTest};
    use crate::score::Summary;
    use crate::stats::BootstrapConfig;

    /// A format-1 `comparison.json`, its candidates by name only.
    #[derive(Debug, Clone, Deserialize)]
    pub struct Comparison1 {
        suite: String,
        suite_version: String,
        suite_examples: usize,
        candidates: Vec<Named>,
        tests: Vec<PairTest>,
        best: Option<String>,
        pareto_cost: Vec<String>,
        pareto_latency: Vec<String>,
        rank_quality: Vec<String>,
        rank_quality_per_dollar: Vec<String>,
        bootstrap: BootstrapConfig,
    }

    #[derive(Debug, Clone, Deserialize)]
    struct Named {
        name: String,
    }

    impl Comparison1 {
        /// The candidates' names, in order.
        pub fn names(&self) -> impl Iterator<Item = &str> {
            self.candidates.iter().map(|c| c.name.as_str())
        }

        /// The comparison in today's format, its rows from `summaries` (one per candidate,
        /// in [`Comparison1::names`] order).
        pub fn upgrade(self, summaries: &[Summary]) -> Comparison {
            Comparison {
                format: super::FORMAT,
                suite: self.suite,
                suite_version: self.suite_version,
                suite_examples: self.suite_examples,
                candidates: summaries.iter().map(CandidateRow::from).collect(),
                tests: self.tests,
                best: self.best,
                pareto_cost: self.pareto_cost,
                pareto_latency: self.pareto_latency,
                rank_quality: self.rank_quality,
                rank_quality_per_dollar: self.rank_quality_per_dollar,
                bootstrap: Some(self.bootstrap),
            }
        }
    }
}

/// Compares `candidates` (each scored on `suite`).
pub fn compare(suite: &Suite, candidates: &[CandidateScores]) -> Comparison {
    let bootstrap = candidates
        .first()
        .map(|c| c.summary.bootstrap)
        .unwrap_or_default();
    let rows: Vec<CandidateRow> = candidates
        .iter()
        .map(|c| CandidateRow::from(&c.summary))
        .collect();

    // A candidate that answered nothing is compared with nothing: its zeros would "lose"
    // every test and, alone or among other failures, even come out best.
    let answered: Vec<&CandidateScores> = candidates
        .iter()
        .filter(|c| !c.summary.all_failed())
        .collect();
    let mut tests = Vec::new();
    for (i, a) in answered.iter().enumerate() {
        for b in &answered[i + 1..] {
            tests.extend(pair_tests(suite, a, b, &bootstrap));
        }
    }
    let ranked_rows: Vec<&CandidateRow> = rows.iter().filter(|r| !r.failed).collect();

    let by_score = |x: &&CandidateRow, y: &&CandidateRow| {
        y.score
            .value
            .total_cmp(&x.score.value)
            .then_with(|| x.name.cmp(&y.name))
    };
    let mut ranked: Vec<&CandidateRow> = ranked_rows.clone();
    ranked.sort_by(by_score);
    let best = ranked_rows
        .iter()
        .copied()
        .fold(None::<&CandidateRow>, |best, r| match best {
            Some(b) if b.score.value >= r.score.value => Some(b),
            _ => Some(r),
        })
        .map(|r| r.name.clone());
    let mut per_dollar: Vec<(&CandidateRow, f64)> = ranked_rows
        .iter()
        .copied()
        .filter_map(|r| r.quality_per_dollar.map(|q| (r, q)))
        .collect();
    per_dollar.sort_by(|(x, qx), (y, qy)| qy.total_cmp(qx).then_with(|| x.name.cmp(&y.name)));

    let points = |cost: &dyn Fn(&CandidateRow) -> Option<f64>| -> Vec<ParetoPoint<String>> {
        ranked_rows
            .iter()
            .filter_map(|r| {
                cost(r).map(|c| ParetoPoint {
                    id: r.name.clone(),
                    quality: r.score.value,
                    cost: c,
                })
            })
            .collect()
    };
    Comparison {
        format: FORMAT,
        suite: suite.name.clone(),
        suite_version: suite.version.clone(),
        suite_examples: suite.examples.len(),
        pareto_cost: pareto_frontier(&points(&|r| Some(r.cost_usd))),
        pareto_latency: pareto_frontier(&points(&|r| r.latency_p50_ms)),
        rank_quality: ranked.iter().map(|r| r.name.clone()).collect(),
        rank_quality_per_dollar: per_dollar.iter().map(|(r, _)| r.name.clone()).collect(),
        best,
        candidates: rows,
        tests,
        bootstrap: Some(bootstrap),
    }
}

/// Tests of every metric and the aggregate between `a` and `b` on their common examples.
fn pair_tests(
    suite: &Suite,
    a: &CandidateScores,
    b: &CandidateScores,
    config: &BootstrapConfig,
) -> Vec<PairTest> {
    let b_by_id: HashMap<&str, &ExampleScore> =
        b.examples.iter().map(|e| (e.id.as_str(), e)).collect();
    let (rows_a, rows_b): (Vec<&ExampleScore>, Vec<&ExampleScore>) = a
        .examples
        .iter()
        .filter_map(|e| b_by_id.get(e.id.as_str()).map(|f| (e, *f)))
        .unzip();
    let n = rows_a.len();
    let names = (&a.summary.candidate, &b.summary.candidate);
    if n == 0 {
        return Vec::new();
    }
    let cols_a: Vec<Column> = suite
        .metrics
        .iter()
        .map(|m| Column::new(m, &rows_a))
        .collect();
    let cols_b: Vec<Column> = suite
        .metrics
        .iter()
        .map(|m| Column::new(m, &rows_b))
        .collect();
    let mut out = Vec::with_capacity(suite.metrics.len() + 1);
    for (m, (ca, cb)) in suite.metrics.iter().zip(cols_a.iter().zip(&cols_b)) {
        out.push(test_columns(
            names,
            &m.name,
            n,
            config,
            (ca.is_binary() && cb.is_binary()).then(|| (ca.passes(), cb.passes())),
            |idx| ca.value(idx),
            |idx| cb.value(idx),
        ));
    }
    // The aggregate is pass/fail only when every example's aggregate is 0 or 1 on both
    // sides and no corpus metric is involved.
    let agg_a = Aggregate::new(suite, &cols_a);
    let agg_b = Aggregate::new(suite, &cols_b);
    let weighted = |cols: &'_ [Column]| -> bool {
        cols.iter()
            .zip(&suite.metrics)
            .any(|(c, m)| m.weight > 0.0 && c.is_corpus())
    };
    let corpus = weighted(&cols_a) || weighted(&cols_b);
    let binary = !corpus
        && rows_a
            .iter()
            .chain(&rows_b)
            .all(|r| r.score == 0.0 || r.score == 1.0);
    let passes = binary.then(|| {
        (
            rows_a.iter().map(|r| r.score == 1.0).collect(),
            rows_b.iter().map(|r| r.score == 1.0).collect(),
        )
    });
    out.push(test_columns(
        names,
        "score",
        n,
        config,
        passes,
        |idx| agg_a.value(idx),
        |idx| agg_b.value(idx),
    ));
    out
}

fn test_columns(
    (a, b): (&String, &String),
    metric: &str,
    n: usize,
    config: &BootstrapConfig,
    passes: Option<(Vec<bool>, Vec<bool>)>,
    mut value_a: impl FnMut(&[usize]) -> f64,
    mut value_b: impl FnMut(&[usize]) -> f64,
) -> PairTest {
    let all: Vec<usize> = (0..n).collect();
    let (va, vb) = (value_a(&all), value_b(&all));
    let mut test = PairTest {
        a: a.clone(),
        b: b.clone(),
        metric: metric.to_owned(),
        test: TestKind::PairedBootstrap,
        n,
        value_a: va,
        value_b: vb,
        diff: va - vb,
        p_value: 1.0,
        significant: false,
        a_only: None,
        b_only: None,
    };
    if let Some((pa, pb)) = passes
        && let Ok(m) = mcnemar_exact(&pa, &pb)
    {
        test.test = TestKind::McNemar;
        test.p_value = m.p_value;
        test.a_only = Some(m.b);
        test.b_only = Some(m.c);
    } else if let Ok(p) = paired_bootstrap_by(n, config, value_a, value_b) {
        test.p_value = p.p_value;
    }
    test.significant = test.p_value < ALPHA;
    test
}
