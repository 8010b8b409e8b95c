//! One evaluation run: every candidate of `[eval]` on every suite, then the comparison.
//!
//! Candidates take turns: each is built (a local model loaded) for its turn, answers every
//! suite, and is dropped before the next one is built, so one local model is resident at a
//! time. On each suite it gets one response per example (recorded responses are read; the
//! others go through the cached runner), which are scored and written to
//! `<out_dir>/<suite>/<candidate>/{responses,scores,summary}`. Then each suite compares its
//! candidates (paired tests, Pareto fronts, ranks) into `<out_dir>/<suite>/comparison.*`.
//! Judges serve every candidate and stay built. A dry run renders and prices everything,
//! loads no model and calls nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tunebench_models::hub::ModelSource;

use crate::batch::job::{BatchPlan, BatchRun, BatchSettings};
use crate::bedrock::BedrockCandidate;
use crate::cache::{Cache, CacheMode};
use crate::candidate::{self, BedrockMode, BedrockSettings, Candidate, CandidateSettings};
use crate::compare::{self, Comparison};
use crate::error::{EvalError, Location, Result};
use crate::grader::{Grade, GraderSettings, Sample, Turn};
use crate::judge::{JudgeTally, Judged};
use crate::output;
use crate::pricing::{self, CandidatePrice, CostEstimate, Counted, Pricing};
use crate::responses;
use crate::runner::{self, CostGuard, RunProgress, RunStats, RunnerOptions};
use crate::score::{self, ScoreOptions};
use crate::suite::{Metric, Suite};
use crate::types::{ExampleRequest, ResponseRecord};

/// `[eval]` as written; paths are relative to the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSettings {
    /// Suite files (TOML; see `configs/suites/`).
    pub suites: Vec<PathBuf>,
    /// The models to compare (`[[eval.candidates]]`, `kind` = local, openai, bedrock,
    /// responses).
    pub candidates: Vec<CandidateSettings>,
    /// Where results go.
    pub out_dir: PathBuf,
    /// The response cache (SQLite; default `<out_dir>/response-cache.sqlite`).
    #[serde(default)]
    pub cache: Option<PathBuf>,
    /// The pricing table (default: none, so only local time is priced).
    #[serde(default)]
    pub pricing: Option<PathBuf>,
    /// Stop sending requests once this many dollars are spent in this run.
    #[serde(default)]
    pub max_cost_usd: Option<f64>,
    /// Calls per example at most, retries included (default 6).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// The judges `judge` metrics name (`[[eval.judges]]`: any candidate kind; a
    /// `responses` judge reads verdicts recorded under ids `<candidate>/<example id>`).
    /// They are not evaluated themselves; their calls share the cache and `max_cost_usd`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judges: Vec<CandidateSettings>,
    /// Evaluate only the first `limit` examples of each suite (quick runs); recorded
    /// responses to the examples left out are then ignored.
    #[serde(default)]
    pub limit: Option<usize>,
    /// The local graders `grader` metrics name (`[[eval.graders]]`: a command or a Python
    /// Lambda handler file speaking the reward-function batch contract; see
    /// `tunebench_scoring::grader`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub graders: Vec<GraderSettings>,
    /// How Bedrock candidates with `mode = "batch"` run (`[eval.batch]`).
    #[serde(default, skip_serializing_if = "BatchSettings::is_default")]
    pub batch: BatchSettings,
}

impl EvalSettings {
    /// Makes paths absolute against `base` (the config's folder) and checks the settings.
    pub fn resolve(mut self, base: &Path) -> Result<Self> {
        let bad = |m: String| EvalError::input(Location::file(base), m);
        // A local model is a folder or a Hugging Face id, fetched when the candidate loads.
        for c in self.candidates.iter_mut().chain(&mut self.judges) {
            if let CandidateSettings::Local(l) = c {
                l.model_dir = ModelSource::parse(base, &l.model_dir).to_setting();
            }
        }
        let this = self.map_paths(|p| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        });
        if this.limit == Some(0) {
            return Err(bad("[eval] limit must be at least 1".into()));
        }
        if this.suites.is_empty() {
            return Err(bad(
                "[eval] suites is empty: name at least one suite file".into()
            ));
        }
        if this.candidates.is_empty() {
            return Err(bad("[eval] has no [[eval.candidates]]".into()));
        }
        let mut this = this;
        this.graders = std::mem::take(&mut this.graders)
            .into_iter()
            .map(|g| {
                g.resolve(base).map_err(|e| {
                    EvalError::input(Location::file(base).field("eval.graders"), e.to_string())
                })
            })
            .collect::<Result<_>>()?;
        for c in this.candidates.iter().chain(&this.judges) {
            if let CandidateSettings::Bedrock(b) = c {
                b.check().map_err(bad)?;
                if b.mode == BedrockMode::Batch {
                    this.batch.check_for(&b.name, base)?;
                }
            }
        }
        for (list, what) in [(&this.candidates, "candidates"), (&this.judges, "judges")] {
            let mut names: Vec<&str> = list.iter().map(CandidateSettings::name).collect();
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(bad(format!("two {what} are named {:?}", w[0])));
            }
        }
        Ok(this)
    }

    /// The settings with `f` applied to every path in them (suites, output, cache, pricing,
    /// model, adapter and responses paths): how [`EvalSettings::resolve`] makes them
    /// absolute, and how the CLI folds `..` away so they read well.
    pub fn map_paths(mut self, f: impl Fn(&Path) -> PathBuf) -> Self {
        self.suites = self.suites.iter().map(|p| f(p)).collect();
        self.out_dir = f(&self.out_dir);
        self.cache = self.cache.as_deref().map(&f);
        self.pricing = self.pricing.as_deref().map(&f);
        for c in self.candidates.iter_mut().chain(&mut self.judges) {
            c.map_paths(&f);
        }
        for g in &mut self.graders {
            g.lambda = g.lambda.as_deref().map(&f);
        }
        self
    }

    /// The response cache file.
    pub fn cache_path(&self) -> PathBuf {
        self.cache
            .clone()
            .unwrap_or_else(|| self.out_dir.join("response-cache.sqlite"))
    }
}

/// How this invocation runs.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// Use of the response cache (`--no-cache`, `--refresh`).
    pub cache_mode: CacheMode,
    /// Price and render everything, call nothing.
    pub dry_run: bool,
    /// The AWS audit log Bedrock candidates append one line per call to (see
    /// `tunebench_aws::audit`); `None`: no audit.
    pub aws_audit_log: Option<PathBuf>,
    /// In a dry run, count Bedrock candidates' input tokens with `CountTokens` (one call per
    /// request, nothing generated or billed) instead of characters / 4.
    pub count_tokens: bool,
}

/// What a candidate would cost on a suite (dry run).
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// Suite name.
    pub suite: String,
    /// Candidate name.
    pub candidate: String,
    /// Examples the cache already answers (not sent).
    pub cached: u64,
    /// The estimate for the rest.
    pub estimate: CostEstimate,
    /// For a batch candidate: the job's records and S3 objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchPlan>,
    /// What the pricing table cannot price of this candidate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The result of one suite.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteResult {
    /// The comparison of every candidate.
    pub comparison: Comparison,
    /// Where its files are.
    pub dir: PathBuf,
    /// Runner counters per called candidate.
    #[serde(skip)]
    pub stats: Vec<(String, RunStats)>,
    /// Candidates that answered nothing (every request failed), one line each with the
    /// first error; they are marked `failed` in the comparison and not ranked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<String>,
}

/// What [`evaluate`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalReport {
    /// A dry run's plan.
    DryRun(Vec<Planned>),
    /// Results per suite.
    Results(Vec<SuiteResult>),
}

impl EvalReport {
    /// [`EvalError::CandidatesFailed`] when a candidate answered nothing on some suite (its
    /// results are written and marked failed; a run with one is not a success).
    pub fn check(&self) -> Result<()> {
        let failures: Vec<String> = match self {
            EvalReport::DryRun(_) => Vec::new(),
            EvalReport::Results(r) => r.iter().flat_map(|s| s.failed.iter().cloned()).collect(),
        };
        if failures.is_empty() {
            Ok(())
        } else {
            Err(EvalError::CandidatesFailed { failures })
        }
    }
}

/// The line of [`SuiteResult::failed`] for a candidate none of whose `records` was answered.
fn failure_line(candidate: &str, suite: &str, records: &[ResponseRecord]) -> String {
    /// Server messages are kept short: the line is for a terminal.
    const MAX_CHARS: usize = 300;
    let first = records.iter().find_map(|r| r.error.as_deref());
    match first {
        None => format!("candidate `{candidate}` on suite `{suite}`: no response to score"),
        Some(e) => {
            let mut e: String = e.chars().take(MAX_CHARS).collect();
            if e.len() < first.map_or(0, str::len) {
                e.push('…');
            }
            format!(
                "candidate `{candidate}` on suite `{suite}`: all {} requests failed; first error: {e}",
                records.len()
            )
        }
    }
}

/// A candidate's settings and, unless it is recorded `responses`, the built candidate.
type Built<'a> = (&'a CandidateSettings, Option<Arc<dyn Candidate>>);

/// A candidate's settings and, unless it is recorded `responses`, its identity
/// ([`Candidate::identity`]).
type Identified<'a> = (&'a CandidateSettings, Option<String>);

/// `c` built (its model loaded), or `None` for recorded `responses`, which are read, not built.
fn build(c: &CandidateSettings, opts: &EvalOptions) -> Result<Option<Arc<dyn Candidate>>> {
    match c {
        CandidateSettings::Responses(_) => Ok(None),
        _ => Ok(Some(candidate::build_audited(
            c,
            opts.aws_audit_log.as_deref(),
        )?)),
    }
}

/// Each of `list` with its identity (`None` for recorded responses), which for a local model
/// finds and hashes its files (once; see `tunebench_models::hub`).
fn identified(list: &[CandidateSettings]) -> Result<Vec<Identified<'_>>> {
    list.iter()
        .map(|c| match c {
            CandidateSettings::Responses(_) => Ok((c, None)),
            c => Ok((c, Some(candidate::identity(c)?))),
        })
        .collect()
}

/// A `responses` judge's recorded verdict for each of `requests` (by id); a request without
/// one gets an error record.
fn recorded_verdicts(
    judge: &CandidateSettings,
    requests: &[ExampleRequest],
) -> Result<Vec<ResponseRecord>> {
    let CandidateSettings::Responses(r) = judge else {
        return Err(EvalError::Runner(format!(
            "judge `{}` not built",
            judge.name()
        )));
    };
    let mut recorded: HashMap<String, ResponseRecord> = responses::read(&r.path)?
        .into_iter()
        .map(|rec| (rec.id.clone(), rec))
        .collect();
    Ok(requests
        .iter()
        .map(|q| {
            recorded.remove(&q.id).unwrap_or_else(|| {
                ResponseRecord::failed(
                    &q.id,
                    format!("{} has no verdict with id {:?}", r.path.display(), q.id),
                )
            })
        })
        .collect())
}

/// Refuses, before any call, a suite's output folder (`<out_dir>/<suite>/`, where every
/// candidate's responses, scores and summary and the comparison are written) that is or holds
/// one of the evaluation's inputs: e.g. recorded responses kept in an earlier run's output,
/// which this run would overwrite.
fn refuse_outputs_over_inputs(settings: &EvalSettings, suites: &[Suite]) -> Result<()> {
    let mut inputs: Vec<(String, &Path)> = Vec::new();
    for suite in suites {
        inputs.push((format!("suite `{}`", suite.name), &suite.path));
        inputs.push((
            format!("the data of suite `{}`", suite.name),
            &suite.data_path,
        ));
    }
    for c in settings.candidates.iter().chain(&settings.judges) {
        match c {
            CandidateSettings::Local(l) => {
                inputs.push((format!("the model of `{}`", l.name), &l.model_dir));
                if let Some(a) = &l.adapter {
                    inputs.push((format!("the adapter of `{}`", l.name), a));
                }
            }
            CandidateSettings::Responses(r) => {
                inputs.push((format!("the responses of `{}`", r.name), &r.path));
            }
            CandidateSettings::Openai(_)
            | CandidateSettings::Bedrock(_)
            | CandidateSettings::Registry(_) => {}
        }
    }
    if let Some(p) = &settings.pricing {
        inputs.push(("the pricing table".into(), p));
    }
    let inputs: Vec<(&str, &Path)> = inputs.iter().map(|(r, p)| (r.as_str(), *p)).collect();
    for suite in suites {
        let dir = settings.out_dir.join(&suite.name);
        tunebench_core::refuse_overlap(("the eval output folder", &dir), &inputs)?;
    }
    Ok(())
}

/// Example id and its grade, or why it has none.
type Grades = Vec<(String, Result<Grade, String>)>;

/// A grader's grades of the answered `records`, by example id (examples whose call failed
/// are not sent; they score 0 like every metric of a failed call). The grader sees each
/// example's conversation with the answer appended, and its references as
/// `reference_answer` (the reference, or the list when there are several).
fn graded(
    grader: &GraderSettings,
    suite: &Suite,
    requests: &[ExampleRequest],
    records: &[ResponseRecord],
) -> Grades {
    let answers: HashMap<&str, &ResponseRecord> = records
        .iter()
        .filter(|r| r.error.is_none())
        .map(|r| (r.id.as_str(), r))
        .collect();
    let mut samples = Vec::new();
    for (example, request) in suite.examples.iter().zip(requests) {
        let Some(answer) = answers.get(example.id.as_str()) else {
            continue;
        };
        let mut turns: Vec<Turn> = request
            .request
            .system
            .iter()
            .map(|s| Turn {
                role: "system".into(),
                content: s.clone(),
            })
            .collect();
        turns.extend(request.request.messages.iter().map(|m| Turn {
            role: match m.role {
                crate::types::Role::User => "user".into(),
                crate::types::Role::Assistant => "assistant".into(),
            },
            content: m.content.clone(),
        }));
        let reference = match example.references.as_slice() {
            [one] => serde_json::Value::from(one.as_str()),
            many => serde_json::Value::from(many.to_vec()),
        };
        samples.push(Sample::new(&example.id, turns, &answer.text, reference));
    }
    let grades = grader.grade(&samples);
    samples.into_iter().map(|s| s.id).zip(grades).collect()
}

/// One grader metric's values from the grades: the aggregate reward, or with
/// `entry = "<name>"` that entry of each grade's `metrics_list` (a grade without it has no
/// value for this metric, and says so).
fn grader_metric(metric: &Metric, grader: &str, grades: &Grades) -> Judged {
    let value = |g: &Grade| -> Result<f64, String> {
        let Some(entry) = &metric.grader_entry else {
            return Ok(g.aggregate_reward_score);
        };
        g.metrics_list
            .iter()
            .find(|m| &m.name == entry)
            .map(|m| m.value)
            .ok_or_else(|| {
                let names: Vec<&str> = g.metrics_list.iter().map(|m| m.name.as_str()).collect();
                format!(
                    "the grade has no metrics_list entry {entry:?} (it has: {})",
                    names.join(", ")
                )
            })
    };
    let verdicts: HashMap<String, Result<f64, String>> = grades
        .iter()
        .map(|(id, g)| (id.clone(), g.as_ref().map_err(Clone::clone).and_then(value)))
        .collect();
    let failed = verdicts.values().filter(|v| v.is_err()).count();
    Judged {
        tally: JudgeTally {
            judge: grader.to_string(),
            judged: verdicts.len(),
            failed,
            ..JudgeTally::default()
        },
        verdicts,
    }
}

/// The batch run of `c` if it is a Bedrock candidate with `mode = "batch"`, its state in
/// `dir`.
fn batch_run<'a>(
    c: &'a CandidateSettings,
    settings: &'a EvalSettings,
    opts: &'a EvalOptions,
    pricing: Option<&Pricing>,
    dir: PathBuf,
) -> Option<BatchRun<'a>> {
    let CandidateSettings::Bedrock(b) = c else {
        return None;
    };
    if b.mode != BedrockMode::Batch {
        return None;
    }
    let price = |c: &CandidateSettings| pricing.map(|p| p.for_candidate(c)).unwrap_or_default();
    let on_demand = CandidateSettings::Bedrock(BedrockSettings {
        mode: BedrockMode::OnDemand,
        ..b.clone()
    });
    Some(BatchRun {
        settings: b,
        batch: &settings.batch,
        dir,
        batch_price: price(c),
        on_demand_price: price(&on_demand),
        audit_log: opts.aws_audit_log.as_deref(),
    })
}

/// Runs the evaluation `settings` describe.
pub fn evaluate(
    settings: &EvalSettings,
    opts: &EvalOptions,
    progress: &dyn RunProgress,
) -> Result<EvalReport> {
    let pricing = match &settings.pricing {
        Some(p) => Some(Pricing::load(p)?),
        None => None,
    };
    let quote = |c: &CandidateSettings| {
        pricing.as_ref().map_or_else(
            || pricing::Quote {
                price: CandidatePrice::Unpriced,
                warnings: Vec::new(),
            },
            |p| p.quote(c),
        )
    };
    let price = |c: &CandidateSettings| quote(c).price;
    let mut suites: Vec<Suite> = settings
        .suites
        .iter()
        .map(Suite::load)
        .collect::<std::result::Result<_, _>>()?;
    if let Some(n) = settings.limit {
        for s in &mut suites {
            s.examples.truncate(n);
        }
    }
    refuse_outputs_over_inputs(settings, &suites)?;
    let cache = match opts.cache_mode {
        CacheMode::Off => None,
        _ => {
            std::fs::create_dir_all(&settings.out_dir)
                .map_err(|e| EvalError::io(&settings.out_dir, e))?;
            Some(Cache::open(settings.cache_path())?)
        }
    };

    // A candidate's calls: a batch candidate through its jobs (state in `batch_dir`), any
    // other through the runner.
    let call = |c: &CandidateSettings,
                model: &Arc<dyn Candidate>,
                requests: &[ExampleRequest],
                batch_dir: PathBuf,
                runner_opts: &RunnerOptions|
     -> Result<runner::RunOutcome> {
        match batch_run(c, settings, opts, pricing.as_ref(), batch_dir) {
            Some(b) => b.run(
                Arc::clone(model),
                requests,
                cache.as_ref(),
                runner_opts,
                progress,
            ),
            None => runner::run_blocking(
                Arc::clone(model),
                requests,
                cache.as_ref(),
                runner_opts,
                &price(c),
                progress,
            ),
        }
    };

    for suite in &suites {
        for (i, m) in suite.metrics.iter().enumerate() {
            if let Some(j) = &m.judge
                && !settings.judges.iter().any(|c| c.name() == j.judge)
            {
                let known: Vec<&str> = settings.judges.iter().map(|c| c.name()).collect();
                return Err(EvalError::input(
                    Location::file(&suite.path).field(format!("metrics[{i}].judge")),
                    format!(
                        "no judge named {:?} in [[eval.judges]] ({})\nhint: add [[eval.judges]] with name = {:?} and any candidate kind",
                        j.judge,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        },
                        j.judge
                    ),
                ));
            }
        }
    }

    for suite in &suites {
        for (i, m) in suite.metrics.iter().enumerate() {
            if let Some(g) = &m.grader
                && !settings.graders.iter().any(|x| &x.name == g)
            {
                return Err(EvalError::input(
                    Location::file(&suite.path).field(format!("metrics[{i}].grader")),
                    format!(
                        "no grader named {g:?} in [[eval.graders]]\nhint: add [[eval.graders]] with name = {g:?} and `lambda = \"reward.py\"` or `command = [...]`"
                    ),
                ));
            }
        }
    }

    for suite in suites.iter().filter(|s| s.needs_loglikelihood()) {
        if let Some(c) = settings.candidates.iter().find(|c| !c.scores_likelihood()) {
            let field = if suite.choices.is_some() {
                "choices"
            } else {
                "loglikelihood"
            };
            return Err(EvalError::input(
                Location::file(&suite.path).field(field),
                format!(
                    "this suite is scored by log-likelihood, which needs the model's token probabilities, and candidate `{}` cannot give them\nhint: evaluate it with local candidates (or recorded responses) only",
                    c.name()
                ),
            ));
        }
    }

    // Local candidates are loaded one at a time, for their turn (below): their model and
    // adapter files are found and hashed now, so that a missing file stops the run before
    // the first model answers rather than after. (`None`: recorded responses.)
    let candidates = identified(&settings.candidates)?;
    let judges = identified(&settings.judges)?;

    if opts.dry_run {
        // What the candidate `c` (of identity `identity`) still has to answer of `requests`
        // (cache hits left out), priced. Nothing is built: no model is loaded.
        let plan_for = |suite: &Suite,
                        name: String,
                        identity: &str,
                        c: &CandidateSettings,
                        requests: &[ExampleRequest]|
         -> Result<Planned> {
            let mut todo = Vec::new();
            for r in requests {
                let hit = match (&cache, opts.cache_mode.reads()) {
                    (Some(cache), true) => cache.get(&Cache::key(identity, &r.request))?.is_some(),
                    _ => false,
                };
                if !hit {
                    todo.push(r.clone());
                }
            }
            let quote = quote(c);
            let batch = batch_run(c, settings, opts, pricing.as_ref(), PathBuf::new())
                .map(|b| b.plan(identity, &todo).map(|p| (p, b.on_demand_price)))
                .transpose()?;
            let price = match &batch {
                Some((plan, on_demand)) if plan.on_demand.is_some() => *on_demand,
                _ => quote.price,
            };
            let counts = match c {
                CandidateSettings::Bedrock(b) if opts.count_tokens => {
                    let counter =
                        BedrockCandidate::new(b).with_audit_log(opts.aws_audit_log.as_deref());
                    Some(
                        counter
                            .count_tokens(&todo.iter().map(|r| &r.request).collect::<Vec<_>>())?,
                    )
                }
                _ => None,
            };
            let counted = counts.as_deref().map(|input_tokens| Counted {
                counter: "Bedrock CountTokens",
                input_tokens,
            });
            Ok(Planned {
                suite: suite.name.clone(),
                candidate: name,
                cached: (requests.len() - todo.len()) as u64,
                estimate: pricing::estimate(&todo, &price, counted),
                batch: batch.map(|(plan, _)| plan),
                warnings: quote.warnings,
            })
        };
        let mut plan = Vec::new();
        for suite in &suites {
            let requests = suite.requests()?;
            for (c, identity) in &candidates {
                let answers = match (c, identity) {
                    (CandidateSettings::Responses(r), _) => responses::read(&r.path)?,
                    (c, identity) => {
                        let identity = identity.as_deref().unwrap_or_default();
                        plan.push(plan_for(suite, c.name().into(), identity, c, &requests)?);
                        // Answers the cache holds are what the judges will see; the others
                        // are taken as `max_tokens` long (the chars/4 rule), so the judges'
                        // estimates are upper bounds.
                        let placeholder = "x ".repeat(2 * suite.sampling.max_tokens as usize);
                        let mut answers = Vec::with_capacity(requests.len());
                        for r in &requests {
                            let cached = match (&cache, opts.cache_mode.reads()) {
                                (Some(cache), true) => {
                                    cache.get(&Cache::key(identity, &r.request))?
                                }
                                _ => None,
                            };
                            answers.push(ResponseRecord {
                                id: r.id.clone(),
                                text: cached.map_or_else(|| placeholder.clone(), |h| h.text),
                                ..ResponseRecord::default()
                            });
                        }
                        answers
                    }
                };
                for metric in &suite.metrics {
                    let Some(spec) = &metric.judge else { continue };
                    let Some((judge, Some(judge_identity))) =
                        judges.iter().find(|(j, _)| j.name() == spec.judge)
                    else {
                        continue; // a recorded judge costs nothing
                    };
                    let (judge_requests, _) = spec.requests(c.name(), &suite.examples, &answers);
                    let name =
                        format!("{} (judge `{}` of {})", judge.name(), metric.name, c.name());
                    plan.push(plan_for(
                        suite,
                        name,
                        judge_identity,
                        judge,
                        &judge_requests,
                    )?);
                }
            }
        }
        return Ok(EvalReport::DryRun(plan));
    }

    for c in settings.candidates.iter().chain(&settings.judges) {
        for w in quote(c).warnings {
            tracing::warn!("{w}");
        }
    }
    let runner_opts = RunnerOptions {
        cache_mode: opts.cache_mode,
        cost_guard: Some(CostGuard::new(settings.max_cost_usd)),
        max_attempts: settings
            .max_attempts
            .unwrap_or(RunnerOptions::default().max_attempts),
        ..RunnerOptions::default()
    };
    // Judges serve every candidate, so they are built once and kept.
    let judges: Vec<Built> = settings
        .judges
        .iter()
        .map(|j| Ok((j, build(j, opts)?)))
        .collect::<Result<_>>()?;
    let requests: Vec<Vec<ExampleRequest>> = suites
        .iter()
        .map(Suite::requests)
        .collect::<std::result::Result<_, _>>()?;
    /// One suite's results so far, a candidate at a time.
    #[derive(Default)]
    struct Collected {
        scored: Vec<score::CandidateScores>,
        stats: Vec<(String, RunStats)>,
        failed: Vec<String>,
    }
    let mut collected: Vec<Collected> = suites.iter().map(|_| Collected::default()).collect();
    // Candidates one at a time, each on every suite: a local model is loaded for its turn and
    // dropped before the next one loads, so one local model is resident at a time.
    for settings_c in &settings.candidates {
        let built = build(settings_c, opts)?;
        for ((suite, requests), into) in suites.iter().zip(&requests).zip(&mut collected) {
            let records = match built.as_ref() {
                None => {
                    let CandidateSettings::Responses(r) = settings_c else {
                        unreachable!("only recorded responses are not built")
                    };
                    let mut recorded = responses::read(&r.path)?;
                    if settings.limit.is_some() {
                        recorded.retain(|rec| suite.example(&rec.id).is_some());
                    }
                    recorded
                }
                Some(model) => {
                    let batch_dir = settings
                        .out_dir
                        .join(&suite.name)
                        .join(settings_c.name())
                        .join("batch");
                    let outcome = call(settings_c, model, requests, batch_dir, &runner_opts)?;
                    into.stats
                        .push((settings_c.name().to_string(), outcome.stats));
                    outcome.records
                }
            };
            let mut options = ScoreOptions::new(settings_c.name());
            if let CandidateSettings::Responses(r) = settings_c {
                options.allow_missing = r.allow_missing;
            }
            for metric in &suite.metrics {
                let Some(spec) = &metric.judge else { continue };
                let (judge, built) = judges
                    .iter()
                    .find(|(c, _)| c.name() == spec.judge)
                    .ok_or_else(|| {
                        EvalError::Runner(format!("judge {:?} not built", spec.judge))
                    })?;
                let (requests, unrendered) =
                    spec.requests(settings_c.name(), &suite.examples, &records);
                let verdicts = match built {
                    None => recorded_verdicts(judge, &requests)?,
                    Some(model) => {
                        let batch_dir = settings
                            .out_dir
                            .join(&suite.name)
                            .join(settings_c.name())
                            .join(format!("batch-judge-{}", judge.name()));
                        let outcome = call(judge, model, &requests, batch_dir, &runner_opts)?;
                        into.stats.push((
                            format!(
                                "{} (judge `{}` of {})",
                                judge.name(),
                                metric.name,
                                settings_c.name()
                            ),
                            outcome.stats,
                        ));
                        outcome.records
                    }
                };
                options.judged.insert(
                    metric.name.clone(),
                    Judged::collect(spec, settings_c.name(), &verdicts, unrendered),
                );
            }
            // Each grader runs once per candidate; its metrics read the same grades.
            let mut grades: HashMap<&str, Grades> = HashMap::new();
            for metric in &suite.metrics {
                let Some(name) = &metric.grader else { continue };
                let Some(grader) = settings.graders.iter().find(|g| &g.name == name) else {
                    continue; // checked above
                };
                let of_grader = grades
                    .entry(name.as_str())
                    .or_insert_with(|| graded(grader, suite, requests, &records));
                options
                    .judged
                    .insert(metric.name.clone(), grader_metric(metric, name, of_grader));
            }
            let scores = score::score(suite, &records, &options)?;
            output::write_candidate(&settings.out_dir, &records, &scores)?;
            if scores.summary.all_failed() {
                into.failed
                    .push(failure_line(settings_c.name(), &suite.name, &records));
            }
            into.scored.push(scores);
        }
    }
    let mut results = Vec::new();
    for (suite, into) in suites.iter().zip(collected) {
        let comparison = compare::compare(suite, &into.scored);
        let dir = output::write_comparison(&settings.out_dir, &comparison)?;
        results.push(SuiteResult {
            comparison,
            dir,
            stats: into.stats,
            failed: into.failed,
        });
    }
    Ok(EvalReport::Results(results))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::grader::GradeMetric;

    /// A two-metric grader suite: the aggregate reward and the grades' `format` entry.
    fn grader_suite(dir: &Path) -> Suite {
        std::fs::write(dir.join("d.jsonl"), "{\"q\":\"1+1\",\"a\":\"2\"}\n").unwrap();
        let toml = r#"
name = "t"
version = "1"
data = "d.jsonl"
prompt = "{{ q }}"
reference = "{{ a }}"
[[metrics]]
kind = "grader"
name = "reward"
grader = "g"
[[metrics]]
kind = "grader"
name = "format"
grader = "g"
entry = "format"
weight = 0.0
"#;
        std::fs::write(dir.join("s.toml"), toml).unwrap();
        Suite::load(dir.join("s.toml")).unwrap()
    }

    #[test]
    fn a_grader_metric_reads_the_aggregate_or_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        let suite = grader_suite(dir.path());
        let grade = |reward: f64, entries: &[(&str, f64)]| -> Result<Grade, String> {
            Ok(Grade {
                aggregate_reward_score: reward,
                metrics_list: entries
                    .iter()
                    .map(|(n, v)| GradeMetric {
                        name: (*n).into(),
                        value: *v,
                        kind: "Metric".into(),
                    })
                    .collect(),
            })
        };
        let grades = vec![
            ("a".to_string(), grade(0.2, &[("format", 1.0)])),
            ("b".to_string(), grade(1.0, &[("correct", 1.0)])),
            ("c".to_string(), Err("the grader crashed on it".to_string())),
        ];
        let reward = grader_metric(&suite.metrics[0], "g", &grades);
        assert_eq!(reward.verdicts["a"], Ok(0.2));
        assert_eq!(reward.verdicts["b"], Ok(1.0));
        assert_eq!((reward.tally.judged, reward.tally.failed), (3, 1));
        let format = grader_metric(&suite.metrics[1], "g", &grades);
        assert_eq!(format.verdicts["a"], Ok(1.0));
        let missing = format.verdicts["b"].clone().unwrap_err();
        assert!(
            missing.contains("no metrics_list entry \"format\"") && missing.contains("correct"),
            "{missing}"
        );
        assert_eq!(format.verdicts["c"], Err("the grader crashed on it".into()));
        assert_eq!((format.tally.judge.as_str(), format.tally.failed), ("g", 2));
    }

    #[test]
    fn entry_is_only_for_grader_metrics() {
        let dir = tempfile::tempdir().unwrap();
        grader_suite(dir.path());
        let toml = std::fs::read_to_string(dir.path().join("s.toml")).unwrap();
        let bad = toml.replace(
            "kind = \"grader\"\nname = \"format\"\ngrader = \"g\"",
            "kind = \"exact_match\"\nname = \"format\"",
        );
        std::fs::write(dir.path().join("s.toml"), bad).unwrap();
        let err = Suite::load(dir.path().join("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("entry") && err.contains("only to grader"),
            "{err}"
        );
    }
}
