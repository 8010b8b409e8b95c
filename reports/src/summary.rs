//! `summary.json`: the compact record of one run (every candidate's score, metrics with
//! intervals, tokens, cost and latency per suite, and each training job's losses). History
//! stores it and the gate compares two of them.

use serde::{Deserialize, Serialize};
use tunebench_scoring::compare::PairTest;
use tunebench_scoring::score::Estimate;

use crate::load::{RegistryModel, RunResults, TrainingCurve};

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run's id.
    pub run_id: String,
    /// When the report was made (UTC, RFC 3339).
    pub created: String,
    /// Per suite.
    pub suites: Vec<SuiteSummary>,
    /// Per training job.
    pub training: Vec<TrainingSummary>,
    /// The registry versions its `registry:` candidates were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<RegistryModel>,
}

/// One suite of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteSummary {
    /// Suite name.
    pub suite: String,
    /// Suite version.
    pub version: String,
    /// Examples in the suite.
    pub examples: usize,
    /// Best candidate by score.
    pub best: Option<String>,
    /// Candidates by score, best first.
    pub rank_quality: Vec<String>,
    /// Candidates by score per dollar, best first (those that spent nothing left out).
    pub rank_quality_per_dollar: Vec<String>,
    /// Non-dominated candidates on (score, cost).
    pub pareto_cost: Vec<String>,
    /// Non-dominated candidates on (score, latency p50).
    pub pareto_latency: Vec<String>,
    /// The candidates, in the order evaluated.
    pub candidates: Vec<CandidateSummary>,
    /// Paired tests between candidates (every metric and the aggregate `score`).
    pub tests: Vec<PairTest>,
}

impl SuiteSummary {
    /// The candidate called `name`.
    pub fn candidate(&self, name: &str) -> Option<&CandidateSummary> {
        self.candidates.iter().find(|c| c.name == name)
    }
}

/// One candidate on one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateSummary {
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
    /// Every request failed (or nothing was scored): its score measures nothing, and it is
    /// marked failed and left out of the ranks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
}

impl CandidateSummary {
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

/// A metric's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    /// Metric name.
    pub name: String,
    /// Value and 95% interval.
    #[serde(flatten)]
    pub estimate: Estimate,
}

/// One training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Job name.
    pub name: String,
    /// Last step logged.
    pub steps: u64,
    /// Training loss at the last step.
    pub final_train_loss: Option<f64>,
    /// Lowest validation loss.
    pub best_val_loss: Option<f64>,
    /// Mean reward at the last step that reported one (reinforcement fine-tuning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_train_reward: Option<f64>,
    /// Highest mean validation reward (reinforcement fine-tuning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_val_reward: Option<f64>,
}

/// Summarises `run`; `created` is the report's time (see [`tunebench_core::time::utc_rfc3339`]).
pub fn summarize(run: &RunResults, created: &str) -> RunSummary {
    let suites = run
        .suites
        .iter()
        .map(|s| {
            let c = &s.comparison;
            SuiteSummary {
                suite: c.suite.clone(),
                version: c.suite_version.clone(),
                examples: c.suite_examples,
                best: c.best.clone(),
                rank_quality: c.rank_quality.clone(),
                rank_quality_per_dollar: c.rank_quality_per_dollar.clone(),
                pareto_cost: c.pareto_cost.clone(),
                pareto_latency: c.pareto_latency.clone(),
                candidates: s
                    .candidates
                    .iter()
                    .map(|cand| {
                        let m = &cand.summary;
                        CandidateSummary {
                            name: m.candidate.clone(),
                            n: m.n,
                            errors: m.errors,
                            missing: m.missing,
                            score: m.score,
                            metrics: m
                                .metrics
                                .iter()
                                .map(|x| MetricValue {
                                    name: x.name.clone(),
                                    estimate: x.estimate,
                                })
                                .collect(),
                            input_tokens: m.input_tokens,
                            output_tokens: m.output_tokens,
                            cost_usd: m.cost_usd,
                            quality_per_dollar: m.quality_per_dollar,
                            latency_p50_ms: m.latency_p50_ms,
                            latency_p95_ms: m.latency_p95_ms,
                            failed: m.all_failed(),
                        }
                    })
                    .collect(),
                tests: c.tests.clone(),
            }
        })
        .collect();
    RunSummary {
        run_id: run.run_id.clone(),
        created: created.to_owned(),
        suites,
        training: run.training.iter().map(training_summary).collect(),
        models: run.models.clone(),
    }
}

fn training_summary(curve: &TrainingCurve) -> TrainingSummary {
    let last = curve.points.iter().rev().find(|p| p.train_loss.is_some());
    TrainingSummary {
        name: curve.name.clone(),
        steps: curve.points.last().map_or(0, |p| p.step),
        final_train_loss: last.and_then(|p| p.train_loss),
        best_val_loss: curve
            .points
            .iter()
            .filter_map(|p| p.val_loss)
            .min_by(f64::total_cmp),
        final_train_reward: curve.points.iter().rev().find_map(|p| p.train_reward),
        best_val_reward: curve
            .points
            .iter()
            .filter_map(|p| p.val_reward)
            .max_by(f64::total_cmp),
    }
}
