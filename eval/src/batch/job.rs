//! A Bedrock candidate with `mode = "batch"`: the examples the response cache does not
//! answer go to AWS as one batch inference job, at the batch rate.
//!
//! 1. Cache first, exactly as on demand. Fewer uncached examples than `min_records` (the
//!    model's per-job minimum quota) are sent on demand instead, and the run says so.
//! 2. The job's records ([`super::input_jsonl`]) are written to
//!    `<out_dir>/<suite>/<candidate>/batch/<digest>.input.jsonl`; the digest is the sha256
//!    of the candidate's identity and those records. Its state, `<digest>.json`, is written
//!    *before* anything is sent: job name and idempotency token (derived from the digest and
//!    the time of the first attempt), then the job ARN once submitted. A killed run that
//!    reruns finds it and resumes watching the same job; one killed between submission and
//!    saving the ARN resubmits with the same name and token, which Bedrock answers with the
//!    same job. Nothing is ever submitted twice.
//! 3. The records go up to `<s3_prefix>/<digest>/input.jsonl`, the job is created
//!    (`modelInvocationType = Converse`) with its output under `<s3_prefix>/<digest>/output/`,
//!    and polled with the backoff of `train bedrock wait` ([`tunebench_aws::wait::poll`]),
//!    its status and record counts on the progress bar.
//! 4. Once it ends (`Completed`, `PartiallyCompleted`, `Expired`, `Stopped`), the output
//!    `<output>/<job id>/input.jsonl.out` is downloaded beside the input and joined by record
//!    id ([`super::read_output`]): answers go into the response cache like on-demand ones,
//!    priced at the batch rate; a record's error becomes that example's error. A `Failed`
//!    job is an error naming the job and its message.
//! 5. Examples the job left unprocessed (a `PartiallyCompleted` or `Expired` job) go to
//!    another job while at least `min_records` remain and fewer than `max_jobs` jobs ran;
//!    the rest on demand (`fallback = "on_demand"`, the default) or recorded as not sent
//!    (`fallback = "none"`). Each such step is a line of [`RunStats::notes`].
//!
//! The cost guard (`max_cost_usd`) is checked before each job; a job's cost is only known
//! once it ends, so a run can overshoot by at most one job.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tunebench_aws::wait::{WaitSettings, poll};
use tunebench_aws::{
    AwsSettings, Bedrock, BedrockOptions, InvocationJob, InvocationJobSpec, S3, S3Uri,
    UploadOptions,
};

use crate::cache::{Cache, CacheMode, CachedResponse, now_unix};
use crate::candidate::{BedrockSettings, Candidate};
use crate::error::{EvalError, Location, Result};
use crate::pricing::CandidatePrice;
use crate::runner::{self, NOT_SENT_COST, RunOutcome, RunProgress, RunStats, RunnerOptions};
use crate::types::{ExampleRequest, ResponseRecord};

fn default_min_records() -> usize {
    100
}

fn default_max_jobs() -> u32 {
    2
}

fn default_poll_s() -> f64 {
    60.0
}

fn default_max_poll_s() -> f64 {
    600.0
}

/// What happens to examples no batch job answers: too few for a job, or left unprocessed
/// after the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Sent on demand, at the on-demand price.
    #[default]
    OnDemand,
    /// Recorded as not sent.
    None,
}

/// `[eval.batch]`: how `mode = "batch"` candidates run.
///
/// ```toml
/// [eval.batch]
/// s3_prefix = "s3://my-bucket/tunebench/batch/"
/// role_arn = "arn:aws:iam::123456789012:role/BedrockBatch"
/// min_records = 100
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSettings {
    /// `s3://bucket/prefix/` under which each job's input and output go.
    #[serde(default)]
    pub s3_prefix: Option<String>,
    /// The IAM role Bedrock assumes to read the input and write the output.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Fewest uncached examples worth a job: the model's "minimum number of records per
    /// batch inference job" quota (100 in current AWS examples). Fewer go on demand.
    #[serde(default = "default_min_records")]
    pub min_records: usize,
    /// Jobs per candidate and suite at most, the first included: what a job leaves
    /// unprocessed goes to the next one.
    #[serde(default = "default_max_jobs")]
    pub max_jobs: u32,
    /// What becomes of examples no job answers (`on_demand` or `none`).
    #[serde(default)]
    pub fallback: Fallback,
    /// Hours before Bedrock stops a job (24 to 168; the service's default when unset).
    #[serde(default)]
    pub timeout_hours: Option<i32>,
    /// First interval between status polls, seconds; it doubles up to `max_poll_s`.
    #[serde(default = "default_poll_s")]
    pub poll_s: f64,
    /// Longest interval between status polls, seconds.
    #[serde(default = "default_max_poll_s")]
    pub max_poll_s: f64,
    /// S3 endpoint override (S3-compatible stores, local stand-ins in tests).
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            s3_prefix: None,
            role_arn: None,
            min_records: default_min_records(),
            max_jobs: default_max_jobs(),
            fallback: Fallback::default(),
            timeout_hours: None,
            poll_s: default_poll_s(),
            max_poll_s: default_max_poll_s(),
            endpoint_url: None,
        }
    }
}

impl BatchSettings {
    /// Whether these are the defaults (left out of `--show-settings`).
    pub fn is_default(&self) -> bool {
        *self == BatchSettings::default()
    }

    /// What is wrong with these settings for running `candidate` in batch, if anything;
    /// `config` names the file in the error.
    pub fn check_for(&self, candidate: &str, config: &Path) -> Result<()> {
        let bad = |field: &str, m: String| {
            EvalError::input(
                Location::file(config).field(format!("eval.batch.{field}")),
                m,
            )
        };
        match self.s3_prefix.as_deref() {
            None => {
                return Err(bad(
                    "s3_prefix",
                    format!(
                        "candidate `{candidate}` has mode = \"batch\", which needs an S3 prefix for the job's records\nhint: add [eval.batch] s3_prefix = \"s3://BUCKET/PREFIX/\""
                    ),
                ));
            }
            Some(p) => {
                p.parse::<S3Uri>()
                    .map_err(|e| bad("s3_prefix", e.to_string()))?;
            }
        }
        if self.role_arn.is_none() {
            return Err(bad(
                "role_arn",
                format!(
                    "candidate `{candidate}` has mode = \"batch\", which needs the IAM role Bedrock reads the records and writes the answers as\nhint: add [eval.batch] role_arn = \"arn:aws:iam::ACCOUNT:role/NAME\" (see the Bedrock guide, \"Create a custom service role for batch inference\")"
                ),
            ));
        }
        if self.min_records == 0 {
            return Err(bad("min_records", "must be at least 1".into()));
        }
        if self.max_jobs == 0 {
            return Err(bad("max_jobs", "must be at least 1".into()));
        }
        if let Some(h) = self.timeout_hours
            && !(24..=168).contains(&h)
        {
            return Err(bad(
                "timeout_hours",
                format!("{h} is outside 24 to 168, the range Bedrock accepts"),
            ));
        }
        if !(self.poll_s > 0.0 && self.max_poll_s >= self.poll_s) {
            return Err(bad(
                "poll_s",
                "poll_s must be > 0 and max_poll_s at least poll_s".into(),
            ));
        }
        Ok(())
    }

    fn s3_prefix(&self) -> Result<S3Uri> {
        Ok(self.s3_prefix.as_deref().unwrap_or_default().parse()?)
    }
}

/// What a batch candidate would send, for `--dry-run`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchPlan {
    /// Records of the first job (the uncached examples); 0 when they go on demand or
    /// everything is cached.
    pub records: u64,
    /// Where the records would be uploaded.
    pub input_uri: String,
    /// Where Bedrock would write the answers.
    pub output_uri: String,
    /// Why the examples would go on demand instead, if they would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_demand: Option<String>,
}

/// The state of one job, `<digest>.json` in the candidate's `batch` folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct JobState {
    digest: String,
    job_name: String,
    client_request_token: String,
    model_id: String,
    records: usize,
    input_uri: String,
    output_uri: String,
    job_arn: Option<String>,
    status: String,
    /// Whether its answers were joined into the cache and the records (a later run with the
    /// same records, e.g. `--refresh`, then starts a new job).
    joined: bool,
}

/// A batch candidate's run: its settings, where its state goes, its prices.
pub struct BatchRun<'a> {
    /// The candidate.
    pub settings: &'a BedrockSettings,
    /// `[eval.batch]`.
    pub batch: &'a BatchSettings,
    /// `<out_dir>/<suite>/<candidate>/batch`.
    pub dir: PathBuf,
    /// The batch rate.
    pub batch_price: CandidatePrice,
    /// The on-demand price, for the fallback.
    pub on_demand_price: CandidatePrice,
    /// The AWS audit log.
    pub audit_log: Option<&'a Path>,
}

/// How a job ended, for the driver.
struct Joined {
    job: InvocationJob,
    state: JobState,
    records: Vec<Option<ResponseRecord>>,
}

impl BatchRun<'_> {
    fn aws(&self, endpoint_url: Option<&String>) -> AwsSettings {
        AwsSettings {
            region: self.settings.region.clone(),
            endpoint_url: endpoint_url.cloned(),
            audit_log: self.audit_log.map(Path::to_path_buf),
            ..AwsSettings::default()
        }
    }

    fn wait_settings(&self) -> WaitSettings {
        WaitSettings {
            initial_interval: Duration::from_secs_f64(self.batch.poll_s),
            max_interval: Duration::from_secs_f64(self.batch.max_poll_s),
            timeout: None,
            max_consecutive_errors: 10,
        }
    }

    /// The sha256 (hex) of the candidate's identity and a job's records.
    fn digest(identity: &str, input: &str) -> String {
        let mut h = Sha256::new();
        h.update(identity.as_bytes());
        h.update(b"\n");
        h.update(input.as_bytes());
        hex::encode(h.finalize())
    }

    /// The dry-run view of the first job for `todo` (the uncached requests).
    pub fn plan(&self, identity: &str, todo: &[ExampleRequest]) -> Result<BatchPlan> {
        let digest = Self::digest(identity, &super::input_jsonl(todo));
        let base = self.batch.s3_prefix()?.join(&digest[..16]);
        let on_demand = (!todo.is_empty() && todo.len() < self.batch.min_records).then(|| {
            format!(
                "{} uncached examples, fewer than min_records = {}: sent on demand",
                todo.len(),
                self.batch.min_records
            )
        });
        Ok(BatchPlan {
            records: if on_demand.is_some() {
                0
            } else {
                todo.len() as u64
            },
            input_uri: base.join("input.jsonl").to_string(),
            output_uri: base.join("output/").to_string(),
            on_demand,
        })
    }

    /// Runs `requests` on the candidate (`candidate` answers what goes on demand); see the
    /// module docs. One record per request, in order.
    pub fn run(
        &self,
        candidate: Arc<dyn Candidate>,
        requests: &[ExampleRequest],
        cache: Option<&Cache>,
        opts: &RunnerOptions,
        progress: &dyn RunProgress,
    ) -> Result<RunOutcome> {
        let started = std::time::Instant::now();
        let identity = candidate.identity().to_string();
        let cache = cache.filter(|_| opts.cache_mode != CacheMode::Off);
        let (keys, mut records) =
            runner::cached_records(cache, opts.cache_mode, &identity, requests)?;
        let mut stats = RunStats {
            examples: requests.len() as u64,
            cache_hits: records.iter().filter(|r| r.is_some()).count() as u64,
            ..RunStats::default()
        };
        progress.start(requests.len() as u64);
        progress.advance(stats.cache_hits);
        let guard = opts.cost_guard.clone();
        let mut jobs = 0;
        loop {
            let todo: Vec<usize> = (0..requests.len())
                .filter(|&i| records[i].is_none())
                .collect();
            if todo.is_empty() {
                break;
            }
            let why_not = if todo.len() < self.batch.min_records {
                Some(format!(
                    "{} examples left, fewer than min_records = {}",
                    todo.len(),
                    self.batch.min_records
                ))
            } else if jobs >= self.batch.max_jobs {
                Some(format!(
                    "{} examples left after {jobs} batch job{} (max_jobs = {})",
                    todo.len(),
                    if jobs == 1 { "" } else { "s" },
                    self.batch.max_jobs
                ))
            } else if guard.as_ref().is_some_and(|g| g.exhausted()) {
                for &i in &todo {
                    records[i] = Some(ResponseRecord::failed(&requests[i].id, NOT_SENT_COST));
                }
                stats.not_sent += todo.len() as u64;
                progress.advance(todo.len() as u64);
                break;
            } else {
                None
            };
            if let Some(why) = why_not {
                self.leftovers(
                    &candidate,
                    requests,
                    &todo,
                    &mut records,
                    cache,
                    opts,
                    &mut stats,
                    why,
                )?;
                progress.advance(todo.len() as u64);
                break;
            }
            let sub: Vec<ExampleRequest> = todo.iter().map(|&i| requests[i].clone()).collect();
            let joined = self.job(&identity, &sub, jobs, progress)?;
            jobs += 1;
            stats.batch_jobs += 1;
            let mut to_cache = Vec::new();
            let mut finished = 0;
            let mut unprocessed = 0;
            for (k, record) in joined.records.into_iter().enumerate() {
                let Some(record) = record else {
                    unprocessed += 1;
                    continue;
                };
                let i = todo[k];
                finished += 1;
                if record.error.is_some() {
                    stats.failed += 1;
                } else {
                    stats.answered += 1;
                    stats.cost_usd += record.cost_usd;
                    if let Some(g) = &guard {
                        g.add(record.cost_usd);
                    }
                    if !keys.is_empty() && opts.cache_mode.writes() {
                        to_cache.push((
                            keys[i].as_str(),
                            CachedResponse {
                                text: record.text.clone(),
                                input_tokens: record.input_tokens,
                                output_tokens: record.output_tokens,
                                latency_ms: record.latency_ms,
                                created_at: now_unix(),
                            },
                        ));
                    }
                }
                records[i] = Some(record);
            }
            if let Some(cache) = cache {
                cache.put_many(&identity, &to_cache)?;
            }
            let mut state = joined.state;
            state.joined = true;
            self.save(&state)?;
            progress.advance(finished);
            if unprocessed > 0 {
                stats.notes.push(format!(
                    "batch job {} ended {} with {unprocessed} of {} records unprocessed",
                    joined.job.job_name,
                    joined.job.status,
                    sub.len()
                ));
            }
        }
        stats.wall_s = started.elapsed().as_secs_f64();
        progress.finish();
        Ok(RunOutcome {
            records: runner::finished(records, requests),
            stats,
        })
    }

    /// Examples no job will answer (`todo`, for the reason `why`): on demand, or not sent.
    #[allow(clippy::too_many_arguments)]
    fn leftovers(
        &self,
        candidate: &Arc<dyn Candidate>,
        requests: &[ExampleRequest],
        todo: &[usize],
        records: &mut [Option<ResponseRecord>],
        cache: Option<&Cache>,
        opts: &RunnerOptions,
        stats: &mut RunStats,
        why: String,
    ) -> Result<()> {
        match self.batch.fallback {
            Fallback::OnDemand => {
                stats
                    .notes
                    .push(format!("{why}: sent on demand at the on-demand price"));
                let sub: Vec<ExampleRequest> = todo.iter().map(|&i| requests[i].clone()).collect();
                let outcome = runner::run_blocking(
                    Arc::clone(candidate),
                    &sub,
                    cache,
                    opts,
                    &self.on_demand_price,
                    &runner::NoProgress,
                )?;
                let s = outcome.stats;
                stats.calls += s.calls;
                stats.answered += s.answered;
                stats.failed += s.failed;
                stats.not_sent += s.not_sent;
                stats.throttled += s.throttled;
                stats.retries += s.retries;
                stats.cache_write_errors += s.cache_write_errors;
                stats.cost_usd += s.cost_usd;
                stats.on_demand += s.answered;
                for (k, r) in outcome.records.into_iter().enumerate() {
                    records[todo[k]] = Some(r);
                }
            }
            Fallback::None => {
                stats
                    .notes
                    .push(format!("{why}: not sent (fallback = \"none\")"));
                for &i in todo {
                    records[i] = Some(ResponseRecord::failed(
                        &requests[i].id,
                        format!("not sent: {why}, and [eval.batch] fallback = \"none\""),
                    ));
                }
                stats.not_sent += todo.len() as u64;
            }
        }
        Ok(())
    }

    fn state_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{}.json", &digest[..16]))
    }

    fn save(&self, state: &JobState) -> Result<()> {
        let path = self.state_path(&state.digest);
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| EvalError::Runner(format!("serialising the batch job state: {e}")))?;
        tunebench_core::write_atomic(&path, &bytes).map_err(|e| EvalError::io(&path, e))
    }

    fn load(&self, digest: &str) -> Result<Option<JobState>> {
        let path = self.state_path(digest);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(EvalError::io(&path, e)),
        };
        let state: JobState = serde_json::from_str(&text).map_err(|e| {
            EvalError::input(
                Location::file(&path),
                format!("not a batch job state: {e}\nhint: delete it to submit a new job"),
            )
        })?;
        Ok(Some(state).filter(|s| s.digest == digest))
    }

    /// One job for `sub`, the run's job number `attempt` (from 0): submitted (or resumed),
    /// waited for, its output joined.
    fn job(
        &self,
        identity: &str,
        sub: &[ExampleRequest],
        attempt: u32,
        progress: &dyn RunProgress,
    ) -> Result<Joined> {
        let input = super::input_jsonl(sub);
        let digest = Self::digest(identity, &input);
        std::fs::create_dir_all(&self.dir).map_err(|e| EvalError::io(&self.dir, e))?;
        let short = &digest[..16];
        let local_input = self.dir.join(format!("{short}.input.jsonl"));
        let mut state = match self.load(&digest)? {
            Some(s) if !s.joined => s,
            _ => {
                let base = self.batch.s3_prefix()?.join(short);
                let now = now_unix();
                JobState {
                    digest: digest.clone(),
                    job_name: format!("tunebench-{short}-{now}-{attempt}"),
                    client_request_token: format!("{}-{now}-{attempt}", &digest[..32]),
                    model_id: self.settings.model_id.clone(),
                    records: sub.len(),
                    input_uri: base.join("input.jsonl").to_string(),
                    output_uri: base.join("output/").to_string(),
                    job_arn: None,
                    status: "NotSubmitted".into(),
                    joined: false,
                }
            }
        };
        let bedrock = Bedrock::connect(
            &self.aws(self.settings.endpoint_url.as_ref()),
            &BedrockOptions::default(),
        )?;
        let s3 = S3::connect(&self.aws(self.batch.endpoint_url.as_ref()))?;
        let arn = match state.job_arn.clone() {
            Some(arn) => arn,
            None => {
                // The state is on disk before anything is sent: a rerun after a kill reuses
                // the same name and token, so Bedrock answers with the same job.
                self.save(&state)?;
                tunebench_core::write_atomic(&local_input, input.as_bytes())
                    .map_err(|e| EvalError::io(&local_input, e))?;
                s3.upload(
                    &local_input,
                    &state.input_uri.parse()?,
                    &UploadOptions::default(),
                )?;
                let arn = bedrock.create_invocation_job(&InvocationJobSpec {
                    job_name: state.job_name.clone(),
                    role_arn: self.batch.role_arn.clone().unwrap_or_default(),
                    model_id: state.model_id.clone(),
                    input_s3_uri: state.input_uri.clone(),
                    output_s3_uri: state.output_uri.clone(),
                    client_request_token: Some(state.client_request_token.clone()),
                    timeout_hours: self.batch.timeout_hours,
                })?;
                state.job_arn = Some(arn.clone());
                state.status = "Submitted".into();
                self.save(&state)?;
                arn
            }
        };
        let job = poll(
            &self.wait_settings(),
            &arn,
            || bedrock.get_invocation_job(&arn),
            |j: &InvocationJob| {
                progress.note(&format!(
                    "batch job {} {}: {}/{} records",
                    j.job_name,
                    j.status,
                    j.processed_records.unwrap_or(0),
                    j.total_records.unwrap_or(sub.len() as i64)
                ));
                if j.status != state.status {
                    state.status = j.status.clone();
                    self.save(&state)?;
                }
                Ok::<_, EvalError>(j.is_terminal())
            },
            |j| j.status.clone(),
        )?;
        if job.status == "Failed" {
            return Err(EvalError::Candidate {
                name: self.settings.name.clone(),
                reason: format!(
                    "batch job {} failed: {}\nhint: fix the cause, then delete {} to submit a new job",
                    job.job_arn,
                    job.message.as_deref().unwrap_or("(no message)"),
                    self.state_path(&digest).display()
                ),
            });
        }
        let output: S3Uri = state.output_uri.parse()?;
        let out_object = output.join(job.job_id()).join("input.jsonl.out");
        let local_output = self.dir.join(format!("{short}.jsonl.out"));
        // A job that expired before it ran wrote nothing: every record is unprocessed.
        let written = s3
            .list(&out_object)?
            .iter()
            .any(|o| o.key == out_object.key);
        let records = if written {
            s3.download(&out_object, &local_output)?;
            let file =
                std::fs::File::open(&local_output).map_err(|e| EvalError::io(&local_output, e))?;
            super::read_output(
                std::io::BufReader::new(file),
                &local_output,
                sub,
                &self.batch_price,
            )?
        } else {
            vec![None; sub.len()]
        };
        Ok(Joined {
            job,
            state,
            records,
        })
    }
}
