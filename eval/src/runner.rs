//! The runner: sends one candidate every example's request and returns one
//! [`ResponseRecord`] per example, in input order, whatever happens.
//!
//! - **Cache first.** Answers already in the response cache are used as they are (cost 0,
//!   `cached = true`); only the rest is sent. Each new answer is committed to the cache as it
//!   arrives, so a killed run loses at most the calls in flight, and a rerun resumes.
//! - **Concurrency with AIMD.** At most `concurrency` calls are in flight. A throttled call
//!   (HTTP 429 / `ThrottlingException`) halves the allowed concurrency (once per congestion
//!   event: calls that started before the last decrease do not decrease it again, as in
//!   TCP's congestion control), `increase_after` successes in a row raise it by one, up to
//!   the configured limit. A `Retry-After` pauses all sending of this candidate until it
//!   has passed.
//! - **Retries.** Throttled, transient (5xx, network) and timed-out calls are retried up to
//!   `max_attempts` calls in all, after exponential backoff with full jitter (AWS
//!   Architecture Blog, "Exponential Backoff and Jitter": sleep a uniform random time in
//!   `[0, min(cap, base·2^attempt))`), or the server's `Retry-After` when longer. Fatal
//!   errors are recorded at once.
//! - **Cost guard.** A [`CostGuard`] (share one across candidates for a run-wide budget)
//!   stops new examples from being sent once the dollars spent reach `max_cost_usd`; those
//!   examples are recorded with the error `not sent: max_cost_usd reached`. Calls already in
//!   flight finish, so the spend can overshoot by at most `concurrency` calls.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tunebench_core::SplitMix64;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cache::{Cache, CacheMode, CachedResponse, now_unix};
use crate::candidate::{CallError, Candidate, Completion};
use crate::error::{EvalError, Result};
use crate::pricing::CandidatePrice;
use crate::types::{ExampleRequest, ResponseRecord};

/// The error of examples the cost guard kept from being sent.
pub const NOT_SENT_COST: &str = "not sent: max_cost_usd reached";

/// Progress of one run, drawn by the caller (the CLI's progress bar). Cache hits count as
/// progress too.
pub trait RunProgress: Send + Sync {
    /// The run has `total` examples.
    fn start(&self, total: u64);
    /// `n` more examples have their final record.
    fn advance(&self, n: u64);
    /// Every example has its record.
    fn finish(&self);
    /// A status line for what the run is waiting on (a batch job's status); shown beside
    /// the bar where there is one.
    fn note(&self, _message: &str) {}
}

/// A [`RunProgress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl RunProgress for NoProgress {
    fn start(&self, _total: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

/// A spending cap in dollars, shared by every runner that holds it.
#[derive(Debug)]
pub struct CostGuard {
    max_usd: Option<f64>,
    spent_usd: Mutex<f64>,
}

impl CostGuard {
    /// A guard that stops sending once `max_usd` is spent (`None`: never).
    pub fn new(max_usd: Option<f64>) -> Arc<CostGuard> {
        Arc::new(CostGuard {
            max_usd,
            spent_usd: Mutex::new(0.0),
        })
    }

    /// Dollars spent so far.
    pub fn spent(&self) -> f64 {
        *self.spent_usd.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts `usd` as spent.
    pub fn add(&self, usd: f64) {
        *self.spent_usd.lock().unwrap_or_else(|p| p.into_inner()) += usd;
    }

    /// Whether the cap is reached.
    pub fn exhausted(&self) -> bool {
        self.max_usd.is_some_and(|max| self.spent() >= max)
    }
}

/// How the runner sends.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Calls in flight at most (`None`: the candidate's default).
    pub concurrency: Option<usize>,
    /// Per-call timeout (`None`: the candidate's default).
    pub timeout: Option<Duration>,
    /// Calls per example at most, the first included (≥ 1).
    pub max_attempts: u32,
    /// Backoff base: the first retry waits up to this long.
    pub backoff_base: Duration,
    /// Backoff cap.
    pub backoff_max: Duration,
    /// Successes in a row after which the allowed concurrency grows by one.
    pub increase_after: u32,
    /// Use of the response cache.
    pub cache_mode: CacheMode,
    /// Spending cap (`None`: none).
    pub cost_guard: Option<Arc<CostGuard>>,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            concurrency: None,
            timeout: None,
            max_attempts: 6,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            increase_after: 20,
            cache_mode: CacheMode::ReadWrite,
            cost_guard: None,
        }
    }
}

/// What happened in a run besides the records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunStats {
    /// Examples.
    pub examples: u64,
    /// Examples answered from the cache.
    pub cache_hits: u64,
    /// Calls made (attempts, retries included).
    pub calls: u64,
    /// Examples answered by a call in this run.
    pub answered: u64,
    /// Examples that ended with an error after their calls.
    pub failed: u64,
    /// Examples not sent because of the cost guard.
    pub not_sent: u64,
    /// Throttled calls.
    pub throttled: u64,
    /// Retried calls.
    pub retries: u64,
    /// Answers the cache failed to store (logged; the run goes on).
    pub cache_write_errors: u64,
    /// The allowed concurrency at the start.
    pub initial_concurrency: usize,
    /// The lowest allowed concurrency during the run.
    pub min_concurrency: usize,
    /// The allowed concurrency at the end.
    pub final_concurrency: usize,
    /// Dollars spent by this run's calls.
    pub cost_usd: f64,
    /// Wall time of the run, seconds.
    pub wall_s: f64,
    /// Batch inference jobs whose answers this run joined (`mode = "batch"`).
    pub batch_jobs: u64,
    /// Examples a batch candidate answered on demand instead (too few for a job, or left
    /// unprocessed by the last one).
    pub on_demand: u64,
    /// What a batch candidate did besides its jobs, one line each (a fallback to on-demand,
    /// records a job left unprocessed).
    pub notes: Vec<String>,
}

/// Records and stats of a run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// One record per example, in input order.
    pub records: Vec<ResponseRecord>,
    /// Counters.
    pub stats: RunStats,
}

/// Runs `requests` on `candidate`; see the module docs. Errors only when the run cannot
/// start (bad options, an unreadable cache); failed calls are in the records.
pub async fn run(
    candidate: Arc<dyn Candidate>,
    requests: &[ExampleRequest],
    cache: Option<&Cache>,
    opts: &RunnerOptions,
    pricing: &CandidatePrice,
    progress: &dyn RunProgress,
) -> Result<Vec<ResponseRecord>> {
    Ok(
        run_with_stats(candidate, requests, cache, opts, pricing, progress)
            .await?
            .records,
    )
}

/// [`run`] on a runtime of its own, for callers that are not async. Must not be called from
/// inside a tokio runtime.
pub fn run_blocking(
    candidate: Arc<dyn Candidate>,
    requests: &[ExampleRequest],
    cache: Option<&Cache>,
    opts: &RunnerOptions,
    pricing: &CandidatePrice,
    progress: &dyn RunProgress,
) -> Result<RunOutcome> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| EvalError::Runner(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(run_with_stats(
        candidate, requests, cache, opts, pricing, progress,
    ))
}

/// One call's result, as a task returns it.
struct Attempt {
    idx: usize,
    attempt: u32,
    epoch: u64,
    latency: Duration,
    result: Result<Completion, CallError>,
}

/// A call to retry at `ready_at`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Retry {
    ready_at: Instant,
    idx: usize,
    attempt: u32,
}

/// Additive-increase / multiplicative-decrease limit on calls in flight.
struct Aimd {
    limit: usize,
    max: usize,
    min_seen: usize,
    streak: u32,
    increase_after: u32,
    epoch: u64,
}

impl Aimd {
    fn success(&mut self) {
        self.streak += 1;
        if self.streak >= self.increase_after && self.limit < self.max {
            self.limit += 1;
            self.streak = 0;
        }
    }

    /// A throttled call that started in `epoch`.
    fn throttled(&mut self, epoch: u64) {
        self.streak = 0;
        if epoch == self.epoch {
            self.limit = (self.limit / 2).max(1);
            self.min_seen = self.min_seen.min(self.limit);
            self.epoch += 1;
        }
    }
}

/// SplitMix64, for backoff jitter only.
struct Jitter(SplitMix64);

impl Jitter {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Jitter(SplitMix64(nanos ^ 0x9E37_79B9_7F4A_7C15))
    }

    /// Uniform in [0, 1).
    fn next_f64(&mut self) -> f64 {
        self.0.next_f64()
    }

    /// Full-jitter backoff before call number `attempt + 1`.
    fn backoff(&mut self, attempt: u32, base: Duration, cap: Duration) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30) as i32;
        let ceiling = (base.as_secs_f64() * 2f64.powi(doublings)).min(cap.as_secs_f64());
        Duration::from_secs_f64(ceiling * self.next_f64())
    }
}

/// [`run`], with counters.
pub async fn run_with_stats(
    candidate: Arc<dyn Candidate>,
    requests: &[ExampleRequest],
    cache: Option<&Cache>,
    opts: &RunnerOptions,
    pricing: &CandidatePrice,
    progress: &dyn RunProgress,
) -> Result<RunOutcome> {
    let started = Instant::now();
    let concurrency = opts
        .concurrency
        .unwrap_or_else(|| candidate.default_concurrency());
    if concurrency == 0 {
        return Err(EvalError::Runner("concurrency must be at least 1".into()));
    }
    if opts.max_attempts == 0 {
        return Err(EvalError::Runner("max_attempts must be at least 1".into()));
    }
    let timeout = opts.timeout.or_else(|| candidate.default_timeout());
    let n = requests.len();
    let mut stats = RunStats {
        examples: n as u64,
        initial_concurrency: concurrency,
        min_concurrency: concurrency,
        ..RunStats::default()
    };
    progress.start(n as u64);

    let identity = candidate.identity().to_string();
    let cache = cache.filter(|_| opts.cache_mode != CacheMode::Off);
    let (keys, mut records) = cached_records(cache, opts.cache_mode, &identity, requests)?;
    stats.cache_hits = records.iter().filter(|r| r.is_some()).count() as u64;
    progress.advance(stats.cache_hits);

    let mut fresh: VecDeque<usize> = (0..n).filter(|&i| records[i].is_none()).collect();
    // Tasks must be 'static: they share one copy of what is left to send.
    let shared: Arc<Vec<ExampleRequest>> = Arc::new(if fresh.is_empty() {
        Vec::new()
    } else {
        requests.to_vec()
    });
    let mut retries: BinaryHeap<Reverse<Retry>> = BinaryHeap::new();
    let mut tasks: JoinSet<Attempt> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, (usize, u32)> = HashMap::new();
    let mut aimd = Aimd {
        limit: concurrency,
        max: concurrency,
        min_seen: concurrency,
        streak: 0,
        increase_after: opts.increase_after.max(1),
        epoch: 0,
    };
    let mut jitter = Jitter::seeded();
    let mut pause_until = Instant::now();
    let mut last_answer_at = Instant::now();
    let guard = opts.cost_guard.clone();

    loop {
        // Start what the limit, the pause and the cost guard allow: due retries first.
        let now = Instant::now();
        while running.len() < aimd.limit && now >= pause_until {
            let (idx, attempt) = match retries.peek() {
                Some(Reverse(r)) if r.ready_at <= now => {
                    let Some(Reverse(r)) = retries.pop() else {
                        break;
                    };
                    (r.idx, r.attempt)
                }
                _ => match fresh.pop_front() {
                    Some(idx) if guard.as_ref().is_some_and(|g| g.exhausted()) => {
                        let mut skipped = 0;
                        for i in std::iter::once(idx).chain(fresh.drain(..)) {
                            records[i] =
                                Some(ResponseRecord::failed(&requests[i].id, NOT_SENT_COST));
                            skipped += 1;
                        }
                        stats.not_sent += skipped;
                        progress.advance(skipped);
                        break;
                    }
                    Some(idx) => (idx, 1),
                    None => break,
                },
            };
            stats.calls += 1;
            let candidate = Arc::clone(&candidate);
            let shared = Arc::clone(&shared);
            let epoch = aimd.epoch;
            let handle = tasks.spawn(async move {
                let t0 = Instant::now();
                let call = candidate.complete(&shared[idx].request);
                let result = match timeout {
                    Some(t) => tokio::time::timeout(t, call)
                        .await
                        .unwrap_or(Err(CallError::Timeout)),
                    None => call.await,
                };
                Attempt {
                    idx,
                    attempt,
                    epoch,
                    latency: t0.elapsed(),
                    result,
                }
            });
            running.insert(handle.id(), (idx, attempt));
        }

        if running.is_empty() && fresh.is_empty() && retries.is_empty() {
            break;
        }

        // When to look again without a call finishing: the pause's end, or the next retry.
        let now = Instant::now();
        let mut wake = None;
        if running.len() < aimd.limit {
            if pause_until > now && !(fresh.is_empty() && retries.is_empty()) {
                wake = Some(pause_until);
            }
            if let Some(Reverse(r)) = retries.peek() {
                let at = r.ready_at.max(pause_until);
                wake = Some(wake.map_or(at, |w: Instant| w.min(at)));
            }
        }

        let joined = tokio::select! {
            joined = tasks.join_next_with_id(), if !running.is_empty() => joined,
            _ = tokio::time::sleep_until(wake.unwrap_or(now)), if wake.is_some() => None,
        };
        let Some(joined) = joined else { continue };
        let done = match joined {
            Ok((id, done)) => {
                running.remove(&id);
                done
            }
            Err(e) => {
                // The task panicked (a candidate bug): that example gets an error record.
                let Some((idx, attempt)) = running.remove(&e.id()) else {
                    continue;
                };
                Attempt {
                    idx,
                    attempt,
                    epoch: aimd.epoch,
                    latency: Duration::ZERO,
                    result: Err(CallError::Fatal(format!("candidate call failed: {e}"))),
                }
            }
        };
        let id = &requests[done.idx].id;
        let now = Instant::now();
        let retry_in = match done.result {
            Ok(c) => {
                aimd.success();
                let cost = pricing.answer_cost(
                    c.input_tokens,
                    c.output_tokens,
                    c.cache_read_tokens,
                    c.cache_write_tokens,
                ) + pricing.time_cost((now - last_answer_at).as_secs_f64());
                last_answer_at = now;
                if let Some(g) = &guard {
                    g.add(cost);
                }
                stats.cost_usd += cost;
                stats.answered += 1;
                let latency_ms = done.latency.as_secs_f64() * 1000.0;
                let record = ResponseRecord {
                    id: id.clone(),
                    text: c.text,
                    input_tokens: c.input_tokens,
                    output_tokens: c.output_tokens,
                    cache_read_tokens: c.cache_read_tokens,
                    cache_write_tokens: c.cache_write_tokens,
                    latency_ms,
                    cost_usd: cost,
                    cached: false,
                    error: None,
                };
                if let Some(cache) = cache
                    && let Err(e) = store(cache, &keys[done.idx], &identity, &record)
                {
                    if stats.cache_write_errors == 0 {
                        tracing::warn!("cannot store an answer in the cache: {e}");
                    }
                    stats.cache_write_errors += 1;
                }
                records[done.idx] = Some(record);
                progress.advance(1);
                None
            }
            Err(CallError::Fatal(msg)) => {
                records[done.idx] = Some(ResponseRecord::failed(id, msg));
                stats.failed += 1;
                progress.advance(1);
                None
            }
            Err(CallError::Throttled { retry_after }) => {
                stats.throttled += 1;
                aimd.throttled(done.epoch);
                if let Some(ra) = retry_after {
                    pause_until = pause_until.max(now + ra);
                }
                let backoff = jitter.backoff(done.attempt, opts.backoff_base, opts.backoff_max);
                let wait = retry_after.map_or(backoff, |ra| ra.max(backoff));
                Some((wait, "throttled (HTTP 429)".to_string()))
            }
            Err(CallError::Retryable(msg)) => {
                aimd.streak = 0;
                let wait = jitter.backoff(done.attempt, opts.backoff_base, opts.backoff_max);
                Some((wait, msg))
            }
            Err(CallError::Timeout) => {
                aimd.streak = 0;
                let wait = jitter.backoff(done.attempt, opts.backoff_base, opts.backoff_max);
                let after = timeout.map_or(0.0, |t| t.as_secs_f64());
                Some((wait, format!("timed out after {after} s")))
            }
        };
        if let Some((wait, msg)) = retry_in {
            if done.attempt >= opts.max_attempts {
                let tries = done.attempt;
                let plural = if tries == 1 { "" } else { "s" };
                records[done.idx] = Some(ResponseRecord::failed(
                    id,
                    format!("{msg} (gave up after {tries} attempt{plural})"),
                ));
                stats.failed += 1;
                progress.advance(1);
            } else {
                stats.retries += 1;
                retries.push(Reverse(Retry {
                    ready_at: now + wait,
                    idx: done.idx,
                    attempt: done.attempt + 1,
                }));
            }
        }
        stats.min_concurrency = stats.min_concurrency.min(aimd.min_seen);
    }

    stats.final_concurrency = aimd.limit;
    stats.wall_s = started.elapsed().as_secs_f64();
    progress.finish();
    Ok(RunOutcome {
        records: finished(records, requests),
        stats,
    })
}

/// The records of a run whose loop ended, one per request (every slot is filled by then; an
/// empty one would be a bug, and gets an error record rather than a panic).
pub(crate) fn finished(
    records: Vec<Option<ResponseRecord>>,
    requests: &[ExampleRequest],
) -> Vec<ResponseRecord> {
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| ResponseRecord::failed(&requests[i].id, "internal: no record"))
        })
        .collect()
}

/// The cache keys of `requests` under `identity` (empty when there is no cache) and, per
/// request, the cache's answer as a record (cost 0, `cached`) when the mode reads the cache.
pub(crate) fn cached_records(
    cache: Option<&Cache>,
    mode: CacheMode,
    identity: &str,
    requests: &[ExampleRequest],
) -> Result<(Vec<String>, Vec<Option<ResponseRecord>>)> {
    let mut records: Vec<Option<ResponseRecord>> = vec![None; requests.len()];
    let Some(cache) = cache.filter(|_| mode != CacheMode::Off) else {
        return Ok((Vec::new(), records));
    };
    let keys: Vec<String> = requests
        .iter()
        .map(|r| Cache::key(identity, &r.request))
        .collect();
    if mode.reads() {
        for (i, hit) in cache.get_many(&keys)?.into_iter().enumerate() {
            records[i] = hit.map(|hit| ResponseRecord {
                id: requests[i].id.clone(),
                text: hit.text,
                input_tokens: hit.input_tokens,
                output_tokens: hit.output_tokens,
                latency_ms: hit.latency_ms,
                cached: true,
                ..ResponseRecord::default()
            });
        }
    }
    Ok((keys, records))
}

/// Stores an answered `record` in the cache under `key`.
pub(crate) fn store(
    cache: &Cache,
    key: &str,
    identity: &str,
    record: &ResponseRecord,
) -> Result<()> {
    let entry = CachedResponse {
        text: record.text.clone(),
        input_tokens: record.input_tokens,
        output_tokens: record.output_tokens,
        latency_ms: record.latency_ms,
        created_at: now_unix(),
    };
    cache.put(key, identity, &entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aimd_halves_once_per_congestion_event_and_grows_slowly() {
        let mut a = Aimd {
            limit: 16,
            max: 16,
            min_seen: 16,
            streak: 0,
            increase_after: 2,
            epoch: 0,
        };
        a.throttled(0);
        a.throttled(0); // same event: started before the decrease
        assert_eq!(a.limit, 8);
        a.throttled(1);
        assert_eq!(a.limit, 4);
        a.success();
        a.success();
        assert_eq!(a.limit, 5);
        assert_eq!(a.min_seen, 4);
        for _ in 0..10 {
            a.throttled(a.epoch);
        }
        assert_eq!(a.limit, 1);
    }

    #[test]
    fn backoff_is_full_jitter_below_the_cap() {
        let mut j = Jitter(SplitMix64(7));
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(1);
        for attempt in 1..20 {
            let d = j.backoff(attempt, base, cap);
            let ceiling = (0.1 * 2f64.powi(attempt as i32 - 1)).min(1.0);
            assert!(d.as_secs_f64() < ceiling, "{d:?} ≥ {ceiling}");
        }
    }
}
