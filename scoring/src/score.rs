//! Scoring one candidate's responses on a suite: per-example metric values (`scores.jsonl`)
//! and a summary (`summary.json`) with seeded bootstrap intervals, corpus metrics, the
//! weighted aggregate, classification reports, tokens, latency and cost.
//!
//! Every example of the suite is accounted for: an errored response scores 0 on every metric
//! and is counted in `errors`; an example without a response is an error unless
//! [`ScoreOptions::allow_missing`] is set, and then it is counted in `missing` and left out of
//! every statistic. A response for an id the suite does not have is always an error.
//!
//! BLEU and chrF keep each example's sufficient statistics, so their summary value is the
//! corpus score (not a mean of sentence scores) and their intervals resample examples and
//! recompute the corpus score, as sacreBLEU's paired bootstrap does.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Result, ScoreError};
use crate::judge::{JudgeTally, Judged};
use crate::metrics::MetricError;
use crate::metrics::bleu::{BleuConfig, BleuScorer, BleuStats, compute_bleu};
use crate::metrics::chrf::{ChrfConfig, ChrfScorer, ChrfStats, compute_chrf};
use crate::metrics::classification::{
    ClassificationReport, ConfusionMatrix, classification_report, confusion_matrix,
};
use crate::metrics::json::json_validity;
use crate::metrics::numeric::numeric_match;
use crate::metrics::rouge::{RougeScorer, RougeScores};
use crate::metrics::string_match::{contains, exact_match, regex_match, token_f1};
use crate::stats::{BootstrapConfig, bootstrap_ci_by, quality_per_dollar, quantile_sorted};
use crate::suite::{Metric, MetricKind, Suite};
use crate::types::{Loglikelihood, ResponseRecord};

/// The predicted label of an errored response in classification reports.
pub const ERROR_LABEL: &str = "(error)";

/// How to score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreOptions {
    /// The candidate's name (names its output folder).
    pub candidate: String,
    /// Count examples without a response as missing instead of failing.
    pub allow_missing: bool,
    /// Bootstrap settings of the intervals (seeded, so reruns agree).
    pub bootstrap: BootstrapConfig,
    /// Judge metric name → the judge's verdicts on these responses (see [`crate::judge`];
    /// [`crate::evaluate`] fills it by calling the judges).
    #[serde(skip)]
    pub judged: BTreeMap<String, Judged>,
}

impl ScoreOptions {
    /// Defaults for `candidate`: no missing responses allowed, 1000 resamples, seed 0, 95%.
    pub fn new(candidate: impl Into<String>) -> Self {
        ScoreOptions {
            candidate: candidate.into(),
            allow_missing: false,
            bootstrap: BootstrapConfig::default(),
            judged: BTreeMap::new(),
        }
    }
}

/// Sufficient statistics of a corpus metric for one example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentStats {
    /// BLEU n-gram counts and lengths.
    Bleu(BleuStats),
    /// chrF n-gram counts.
    Chrf(ChrfStats),
    /// Log-probability and token count of the reference.
    Loglikelihood(Loglikelihood),
}

/// Longest [`ExampleScore::prompt`], in characters.
pub const PROMPT_CHARS: usize = 200;

/// One line of `scores.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleScore {
    /// The example's id.
    pub id: String,
    /// The start of the example's prompt (its last user turn), at most [`PROMPT_CHARS`]
    /// characters, for reports that show examples.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    /// The extracted answer; `None` when the extractor found nothing or the call failed.
    pub extracted: Option<String>,
    /// The references it was scored against.
    pub reference: Vec<String>,
    /// Weighted aggregate of this example's metric values.
    pub score: f64,
    /// Metric name → value in `[0, 1]` (sentence-level for BLEU and chrF).
    pub metrics: BTreeMap<String, f64>,
    /// Why there is no answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Corpus metric name → this example's sufficient statistics.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub corpus_stats: BTreeMap<String, SegmentStats>,
    /// Judge metric name → why the judge gave no usable verdict (scored 0).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub judge_errors: BTreeMap<String, String>,
}

/// A value with its bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The value.
    pub value: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
}

/// A metric's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Metric name.
    pub name: String,
    /// What it measures.
    pub kind: MetricKind,
    /// Weight in the aggregate.
    pub weight: f64,
    /// Whether the value is a corpus score (BLEU, chrF) rather than a mean.
    pub corpus: bool,
    /// Value and interval.
    #[serde(flatten)]
    pub estimate: Estimate,
}

/// Classification report of an `accuracy` metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// Accuracy, macro/weighted/micro F1 and per-label scores.
    pub report: ClassificationReport<String>,
    /// Rows: reference label; columns: predicted label ([`ERROR_LABEL`] for failed calls).
    pub confusion: ConfusionMatrix<String>,
}

/// `summary.json`: one candidate on one suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Suite name.
    pub suite: String,
    /// Suite version.
    pub suite_version: String,
    /// Candidate name.
    pub candidate: String,
    /// Examples scored (errored ones included).
    pub n: usize,
    /// Responses with an error (scored 0).
    pub errors: usize,
    /// Examples without a response (only with `allow_missing`; not scored).
    pub missing: usize,
    /// Weighted aggregate of the metric values.
    pub score: Estimate,
    /// Every metric, in suite order.
    pub metrics: Vec<MetricSummary>,
    /// Metric name → report, for `accuracy` metrics.
    pub classification: BTreeMap<String, Classification>,
    /// Metric name → perplexity `exp(-Σ log p / Σ tokens)`, for `loglikelihood` metrics
    /// (errored examples, having no likelihood, are left out of it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub perplexity: BTreeMap<String, f64>,
    /// Judge metric name → the judge's own calls, tokens and dollars (not in `cost_usd`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub judges: BTreeMap<String, JudgeTally>,
    /// Input tokens, summed.
    pub input_tokens: u64,
    /// Output tokens, summed.
    pub output_tokens: u64,
    /// Input tokens read from a prompt cache, summed (apart from `input_tokens`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_tokens: u64,
    /// Input tokens written to a prompt cache, summed (apart from `input_tokens`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
    /// Answers served from the response cache.
    pub cached: usize,
    /// Median latency of the answered calls that have one (ms); `None` when none has.
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile latency of the answered calls (ms).
    pub latency_p95_ms: Option<f64>,
    /// Dollars, summed.
    pub cost_usd: f64,
    /// `score / cost_usd`; `None` when nothing was spent.
    pub quality_per_dollar: Option<f64>,
    /// The bootstrap settings of the intervals.
    pub bootstrap: BootstrapConfig,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Summary {
    /// Whether the candidate answered nothing: every example scored errored (a candidate
    /// whose endpoint was down, whose key was refused), or nothing was scored at all. Such
    /// a candidate's score of 0 measures nothing: it is marked failed and never ranked.
    pub fn all_failed(&self) -> bool {
        self.errors >= self.n
    }
}

/// A candidate's scores on a suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScores {
    /// Per example, in suite order (missing examples left out).
    pub examples: Vec<ExampleScore>,
    /// The summary.
    pub summary: Summary,
}

/// Scores `responses` (one candidate) on `suite`.
///
/// # Errors
/// [`ScoreError::Responses`] for responses to unknown ids, duplicate responses, examples
/// without a response (unless allowed) or nothing to score; metric and statistics errors.
pub fn score(
    suite: &Suite,
    responses: &[ResponseRecord],
    options: &ScoreOptions,
) -> Result<CandidateScores> {
    let fail = |message: String| ScoreError::Responses {
        candidate: options.candidate.clone(),
        suite: suite.name.clone(),
        message,
    };
    let mut by_id: HashMap<&str, &ResponseRecord> = HashMap::with_capacity(responses.len());
    for r in responses {
        if by_id.insert(r.id.as_str(), r).is_some() {
            return Err(fail(format!("two responses for example {:?}", r.id)));
        }
    }
    let known: HashSet<&str> = suite.examples.iter().map(|e| e.id.as_str()).collect();
    let unknown: Vec<&str> = responses
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !known.contains(id))
        .collect();
    if !unknown.is_empty() {
        return Err(fail(format!(
            "{} response(s) for ids the suite does not have: {}\nhint: were these responses recorded for another suite or version?",
            unknown.len(),
            preview(&unknown)
        )));
    }
    let missing: Vec<&str> = suite
        .examples
        .iter()
        .map(|e| e.id.as_str())
        .filter(|id| !by_id.contains_key(id))
        .collect();
    if !missing.is_empty() && !options.allow_missing {
        return Err(fail(format!(
            "{} example(s) have no response: {}\nhint: record responses for them, or, for recorded responses, set `allow_missing = true` in the candidate's [[eval.candidates]] entry (kind = \"responses\") to score the rest and count these as missing",
            missing.len(),
            preview(&missing)
        )));
    }

    let mut scorers = Scorers::new()?;
    let total_weight: f64 = suite.metrics.iter().map(|m| m.weight).sum();
    let mut examples = Vec::with_capacity(suite.examples.len() - missing.len());
    let mut answered = Vec::new();
    for example in &suite.examples {
        let Some(response) = by_id.get(example.id.as_str()) else {
            continue;
        };
        let extracted = match response.error {
            Some(_) => None,
            None => suite.extraction.apply(&response.text),
        };
        let prediction = extracted.as_deref().unwrap_or("");
        let mut metrics = BTreeMap::new();
        let mut judge_errors = BTreeMap::new();
        let mut corpus_stats = BTreeMap::new();
        let mut weighted = 0.0;
        let rouge = scorers.rouge_if_needed(suite, &example.references, prediction);
        for metric in &suite.metrics {
            let judged = options.judged.get(&metric.name);
            let (value, stats) = if matches!(metric.kind, MetricKind::Judge | MetricKind::Grader) {
                match judged.and_then(|j| j.verdicts.get(&example.id)) {
                    Some(Ok(v)) => (*v, None),
                    Some(Err(why)) => {
                        judge_errors.insert(metric.name.clone(), why.clone());
                        (0.0, None)
                    }
                    None if response.error.is_some() => (0.0, None), // not judged
                    None => {
                        let (what, who) = match metric.kind {
                            MetricKind::Grader => ("grade", "runs the grader"),
                            _ => ("judge verdict", "calls the judge"),
                        };
                        return Err(fail(format!(
                            "metric `{}` has no {what} for example {:?}\nhint: {} metrics are scored by `tunebench eval`, which {who}",
                            metric.name,
                            example.id,
                            metric.kind.as_str()
                        )));
                    }
                }
            } else if response.error.is_some() && metric.kind == MetricKind::Loglikelihood {
                (0.0, None) // no likelihood to count
            } else {
                scorers
                    .metric(metric, prediction, &example.references, rouge.as_ref())
                    .map_err(|e| fail(format!("example {:?}: {e}", example.id)))?
            };
            // A failed call scores 0 everywhere; its corpus statistics (an empty
            // hypothesis) still count, so corpus BLEU/chrF are penalised for it too.
            let value = if response.error.is_some() { 0.0 } else { value };
            weighted += metric.weight * value;
            metrics.insert(metric.name.clone(), value);
            if let Some(s) = stats {
                corpus_stats.insert(metric.name.clone(), s);
            }
        }
        if response.error.is_none() {
            answered.push(*response);
        }
        let prompt = example.messages.last().map_or("", |m| m.content.as_str());
        examples.push(ExampleScore {
            id: example.id.clone(),
            prompt: prompt.chars().take(PROMPT_CHARS).collect(),
            extracted,
            reference: example.references.clone(),
            score: weighted / total_weight,
            metrics,
            error: response.error.clone(),
            corpus_stats,
            judge_errors,
        });
    }
    if examples.is_empty() {
        return Err(fail("no example has a response".into()));
    }

    let config = &options.bootstrap;
    let rows: Vec<&ExampleScore> = examples.iter().collect();
    let columns: Vec<Column> = suite
        .metrics
        .iter()
        .map(|m| Column::new(m, &rows))
        .collect();
    let mut metric_summaries = Vec::with_capacity(suite.metrics.len());
    for (metric, column) in suite.metrics.iter().zip(&columns) {
        metric_summaries.push(MetricSummary {
            name: metric.name.clone(),
            kind: metric.kind,
            weight: metric.weight,
            corpus: column.is_corpus(),
            estimate: estimate(rows.len(), config, |idx| column.value(idx))?,
        });
    }
    let perplexity = suite
        .metrics
        .iter()
        .zip(&columns)
        .filter(|(m, _)| m.kind == MetricKind::Loglikelihood)
        .map(|(m, c)| {
            (
                m.name.clone(),
                1.0 / c.value(&(0..rows.len()).collect::<Vec<_>>()),
            )
        })
        .collect();
    let aggregate = Aggregate::new(suite, &columns);
    let score = estimate(rows.len(), config, |idx| aggregate.value(idx))?;

    let mut classification = BTreeMap::new();
    for metric in suite
        .metrics
        .iter()
        .filter(|m| m.kind == MetricKind::Accuracy)
    {
        let truth: Vec<String> = examples
            .iter()
            .map(|e| metric.normalize.apply(&e.reference[0]))
            .collect();
        let predicted: Vec<String> = examples
            .iter()
            .map(|e| match e.error {
                Some(_) => ERROR_LABEL.to_owned(),
                None => metric.normalize.apply(e.extracted.as_deref().unwrap_or("")),
            })
            .collect();
        classification.insert(
            metric.name.clone(),
            Classification {
                report: classification_report(&truth, &predicted)
                    .map_err(|e| fail(e.to_string()))?,
                confusion: confusion_matrix(&truth, &predicted).map_err(|e| fail(e.to_string()))?,
            },
        );
    }

    // A latency of 0 is none measured (recorded responses without `latency_ms`): counting it
    // would make such a candidate the fastest.
    let mut latencies: Vec<f64> = answered
        .iter()
        .map(|r| r.latency_ms)
        .filter(|l| l.is_finite() && *l > 0.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let percentile = |q: f64| (!latencies.is_empty()).then(|| quantile_sorted(&latencies, q));
    let cost_usd: f64 = examples
        .iter()
        .filter_map(|e| by_id.get(e.id.as_str()))
        .map(|r| r.cost_usd)
        .sum();
    let scored: Vec<&ResponseRecord> = examples
        .iter()
        .filter_map(|e| by_id.get(e.id.as_str()).copied())
        .collect();
    let summary = Summary {
        suite: suite.name.clone(),
        suite_version: suite.version.clone(),
        candidate: options.candidate.clone(),
        n: examples.len(),
        errors: examples.iter().filter(|e| e.error.is_some()).count(),
        missing: missing.len(),
        score,
        metrics: metric_summaries,
        classification,
        perplexity,
        judges: options
            .judged
            .iter()
            .map(|(name, j)| (name.clone(), j.tally.clone()))
            .collect(),
        input_tokens: scored.iter().map(|r| r.input_tokens).sum(),
        output_tokens: scored.iter().map(|r| r.output_tokens).sum(),
        cache_read_tokens: scored.iter().map(|r| r.cache_read_tokens).sum(),
        cache_write_tokens: scored.iter().map(|r| r.cache_write_tokens).sum(),
        cached: scored.iter().filter(|r| r.cached).count(),
        latency_p50_ms: percentile(0.5),
        latency_p95_ms: percentile(0.95),
        cost_usd,
        quality_per_dollar: quality_per_dollar(score.value, cost_usd),
        bootstrap: *config,
    };
    Ok(CandidateScores { examples, summary })
}

/// The first few ids, for messages.
fn preview(ids: &[&str]) -> String {
    let mut s = ids
        .iter()
        .take(5)
        .map(|id| format!("{id:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > 5 {
        s.push_str(&format!(", … ({} more)", ids.len() - 5));
    }
    s
}

fn estimate(
    n: usize,
    config: &BootstrapConfig,
    mut statistic: impl FnMut(&[usize]) -> f64,
) -> Result<Estimate> {
    let all: Vec<usize> = (0..n).collect();
    let value = statistic(&all);
    let (lower, upper) = bootstrap_ci_by(n, config, statistic)?;
    Ok(Estimate {
        value,
        lower,
        upper,
    })
}

/// Reusable metric scorers (their buffers survive between examples).
struct Scorers {
    rouge: RougeScorer,
    bleu: BleuScorer,
    chrf: ChrfScorer,
}

impl Scorers {
    fn new() -> Result<Self> {
        Ok(Scorers {
            rouge: RougeScorer::new(),
            bleu: BleuScorer::new(BleuConfig::default())?,
            chrf: ChrfScorer::new(ChrfConfig::default())?,
        })
    }

    fn rouge_if_needed(
        &mut self,
        suite: &Suite,
        references: &[String],
        prediction: &str,
    ) -> Option<RougeScores> {
        suite
            .metrics
            .iter()
            .any(|m| {
                matches!(
                    m.kind,
                    MetricKind::Rouge1 | MetricKind::Rouge2 | MetricKind::RougeL
                )
            })
            .then(|| self.rouge.score_multi(references, prediction))
    }

    /// One metric's value for one example, with its corpus statistics where it has some.
    fn metric(
        &mut self,
        metric: &Metric,
        prediction: &str,
        references: &[String],
        rouge: Option<&RougeScores>,
    ) -> Result<(f64, Option<SegmentStats>)> {
        let zero_one = |b: bool| if b { 1.0 } else { 0.0 };
        let rouge = rouge.copied().unwrap_or_default();
        Ok(match metric.kind {
            MetricKind::ExactMatch => {
                (exact_match(prediction, references, &metric.normalize), None)
            }
            MetricKind::Contains => (contains(prediction, references, &metric.normalize), None),
            MetricKind::Regex => (
                metric
                    .pattern
                    .as_ref()
                    .map_or(0.0, |re| regex_match(prediction, re)),
                None,
            ),
            MetricKind::TokenF1 => (token_f1(prediction, references), None),
            MetricKind::Rouge1 => (rouge.rouge1.fmeasure, None),
            MetricKind::Rouge2 => (rouge.rouge2.fmeasure, None),
            MetricKind::RougeL => (rouge.rouge_l.fmeasure, None),
            MetricKind::Bleu => {
                let stats = self.bleu.segment_stats(prediction, references)?;
                // Sentence BLEU uses the same statistics with effective order on.
                let value = compute_bleu(&stats, &BleuConfig::sentence()).score / 100.0;
                (value, Some(SegmentStats::Bleu(stats)))
            }
            MetricKind::Chrf => {
                let stats = self.chrf.segment_stats(prediction, references)?;
                let value = compute_chrf(&stats, self.chrf.config()) / 100.0;
                (value, Some(SegmentStats::Chrf(stats)))
            }
            MetricKind::Accuracy => (
                exact_match(prediction, &references[..1], &metric.normalize),
                None,
            ),
            MetricKind::Numeric => (
                references
                    .iter()
                    .map(|r| numeric_match(prediction, r, metric.tolerance))
                    .fold(0.0, f64::max),
                None,
            ),
            MetricKind::JsonValid => (json_validity(prediction), None),
            // Scored from the judge's verdicts in `score`, never here.
            MetricKind::Judge | MetricKind::Grader => (0.0, None),
            MetricKind::Loglikelihood => {
                let ll: Loglikelihood = serde_json::from_str(prediction).map_err(|e| {
                    ScoreError::Metric(MetricError::InvalidArgument(format!(
                        "a loglikelihood answer is JSON like {{\"logprob\": -12.5, \"tokens\": 7}} ({e}), got {:?}\nhint: were these responses generated rather than scored by a local candidate?",
                        prediction.chars().take(80).collect::<String>()
                    )))
                })?;
                (
                    per_token_likelihood(ll.logprob, ll.tokens),
                    Some(SegmentStats::Loglikelihood(ll)),
                )
            }
            MetricKind::JsonSchema => {
                let valid = serde_json::from_str::<serde_json::Value>(prediction)
                    .ok()
                    .zip(metric.schema.as_ref())
                    .is_some_and(|(doc, schema)| schema.is_valid(&doc));
                (zero_one(valid), None)
            }
        })
    }
}

/// One metric's values over a list of examples, from which the summary value of any
/// subset (a bootstrap resample) is computed: the mean, or for BLEU/chrF the corpus score
/// of the summed statistics.
pub(crate) enum Column<'a> {
    Mean(Vec<f64>),
    Bleu(Vec<&'a BleuStats>),
    Chrf(Vec<&'a ChrfStats>),
    /// `None`: an errored example, left out of the pooled likelihood.
    Loglikelihood(Vec<Option<&'a Loglikelihood>>),
}

impl<'a> Column<'a> {
    /// The column of `metric` over `rows`. Corpus metrics fall back to the mean of their
    /// sentence-level values when an example lacks statistics (scores read from an older
    /// file).
    pub(crate) fn new(metric: &Metric, rows: &[&'a ExampleScore]) -> Self {
        let stats = |row: &&'a ExampleScore| row.corpus_stats.get(&metric.name);
        match metric.kind {
            MetricKind::Bleu => {
                let s: Option<Vec<&BleuStats>> = rows
                    .iter()
                    .map(|r| match stats(r) {
                        Some(SegmentStats::Bleu(b)) => Some(b),
                        _ => None,
                    })
                    .collect();
                if let Some(s) = s {
                    return Column::Bleu(s);
                }
            }
            MetricKind::Chrf => {
                let s: Option<Vec<&ChrfStats>> = rows
                    .iter()
                    .map(|r| match stats(r) {
                        Some(SegmentStats::Chrf(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if let Some(s) = s {
                    return Column::Chrf(s);
                }
            }
            MetricKind::Loglikelihood => {
                return Column::Loglikelihood(
                    rows.iter()
                        .map(|r| match stats(r) {
                            Some(SegmentStats::Loglikelihood(l)) => Some(l),
                            _ => None,
                        })
                        .collect(),
                );
            }
            _ => {}
        }
        Column::Mean(
            rows.iter()
                .map(|r| r.metrics.get(&metric.name).copied().unwrap_or(0.0))
                .collect(),
        )
    }

    pub(crate) fn is_corpus(&self) -> bool {
        !matches!(self, Column::Mean(_))
    }

    /// Whether every value is 0 or 1 (a pass/fail metric).
    pub(crate) fn is_binary(&self) -> bool {
        match self {
            Column::Mean(v) => v.iter().all(|&x| x == 0.0 || x == 1.0),
            _ => false,
        }
    }

    /// The values as pass/fail, for binary columns.
    pub(crate) fn passes(&self) -> Vec<bool> {
        match self {
            Column::Mean(v) => v.iter().map(|&x| x == 1.0).collect(),
            _ => Vec::new(),
        }
    }

    /// The summary value over the examples at `idx` (repeats allowed).
    pub(crate) fn value(&self, idx: &[usize]) -> f64 {
        match self {
            Column::Mean(v) => idx.iter().map(|&i| v[i]).sum::<f64>() / idx.len() as f64,
            Column::Bleu(s) => {
                let mut total = BleuStats::new(BleuConfig::default().max_ngram_order);
                for &i in idx {
                    total.add(s[i]);
                }
                compute_bleu(&total, &BleuConfig::default()).score / 100.0
            }
            Column::Chrf(s) => {
                let config = ChrfConfig::default();
                let mut total = ChrfStats::new(config.char_order + config.word_order);
                for &i in idx {
                    total.add(s[i]);
                }
                compute_chrf(&total, &config) / 100.0
            }
            Column::Loglikelihood(s) => {
                let (logprob, tokens) = idx
                    .iter()
                    .filter_map(|&i| s[i])
                    .fold((0.0, 0), |(l, t), x| (l + x.logprob, t + x.tokens));
                per_token_likelihood(logprob, tokens)
            }
        }
    }
}

/// `exp(logprob / tokens)`: the geometric mean of the token probabilities, the inverse of the
/// perplexity; 0 for no tokens.
fn per_token_likelihood(logprob: f64, tokens: u64) -> f64 {
    if tokens == 0 {
        0.0
    } else {
        (logprob / tokens as f64).exp()
    }
}

/// The weighted aggregate over a suite's metric columns.
pub(crate) struct Aggregate<'c, 'a> {
    columns: &'c [Column<'a>],
    weights: Vec<f64>,
    total: f64,
}

impl<'c, 'a> Aggregate<'c, 'a> {
    pub(crate) fn new(suite: &Suite, columns: &'c [Column<'a>]) -> Self {
        let weights: Vec<f64> = suite.metrics.iter().map(|m| m.weight).collect();
        let total = weights.iter().sum();
        Aggregate {
            columns,
            weights,
            total,
        }
    }

    pub(crate) fn value(&self, idx: &[usize]) -> f64 {
        self.columns
            .iter()
            .zip(&self.weights)
            .filter(|(_, w)| **w > 0.0)
            .map(|(c, w)| w * c.value(idx))
            .sum::<f64>()
            / self.total
    }
}
