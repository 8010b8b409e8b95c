//! Runner throughput against the loopback OpenAI stand-in.
//!
//! Run: `cargo bench -p tunebench-eval --bench runner`
//! (`TUNEBENCH_BENCH_EXAMPLES=N` changes the number of examples, default 10,000.)
//!
//! 10,000 examples, 50 ms server latency, concurrency 64: the ideal is 64 / 0.05 s =
//! 1,280 requests/s, so the ratio to it measures the runner's and the HTTP client's own
//! overhead (scheduling, JSON, cache commits). Then the same without the cache (no commits),
//! and the first run again, every answer from the cache.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tunebench_eval::cache::{Cache, CacheMode};
use tunebench_eval::candidate::{self, CandidateSettings, OpenAiSettings};
use tunebench_eval::pricing::CandidatePrice;
use tunebench_eval::runner::{self, NoProgress, RunnerOptions};
use tunebench_eval::types::{ChatRequest, ExampleRequest, Message, Role, Sampling};
use tunebench_standins::openai::{OpenAiConfig, OpenAiStandin};

const LATENCY: Duration = Duration::from_millis(50);
const CONCURRENCY: usize = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("TUNEBENCH_BENCH_EXAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let server = OpenAiStandin::start(OpenAiConfig {
        latency: LATENCY,
        ..OpenAiConfig::default()
    })?;
    let candidate = candidate::build(&CandidateSettings::Openai(OpenAiSettings {
        name: "standin".into(),
        base_url: server.base_url().into(),
        model: "standin-model".into(),
        api_key_env: None,
        headers: Default::default(),
        timeout_s: 30.0,
        concurrency: CONCURRENCY,
    }))?;
    let requests: Vec<ExampleRequest> = (0..n)
        .map(|i| ExampleRequest {
            id: format!("ex{i}"),
            request: ChatRequest {
                system: Some("Answer with the label only.".into()),
                messages: vec![Message {
                    role: Role::User,
                    content: format!(
                        "Classify banking query number {i}: my card has not arrived yet"
                    ),
                }],
                sampling: Sampling::default(),
                scoring: None,
            },
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let cache = Cache::open(dir.path().join("cache.sqlite"))?;
    let price = CandidatePrice::tokens(0.00015, 0.0006);
    let opts = RunnerOptions::default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let t = Instant::now();
    let first = rt.block_on(runner::run_with_stats(
        Arc::clone(&candidate),
        &requests,
        Some(&cache),
        &opts,
        &price,
        &NoProgress,
    ))?;
    let cold = t.elapsed().as_secs_f64();
    let errors = first.records.iter().filter(|r| r.error.is_some()).count();
    let rps = n as f64 / cold;
    let ideal = CONCURRENCY as f64 / LATENCY.as_secs_f64();
    println!(
        "runner/openai-standin: {n} examples, {} ms latency, concurrency {CONCURRENCY}",
        LATENCY.as_millis()
    );
    println!(
        "  cold run:   {cold:.2} s, {rps:.0} requests/s = {:.1}% of the ideal {ideal:.0}/s (server saw {} requests, max {} in flight, {errors} errors)",
        100.0 * rps / ideal,
        server.requests(),
        server.max_in_flight(),
    );

    server.reset_counters();
    let no_cache = RunnerOptions {
        cache_mode: CacheMode::Off,
        ..RunnerOptions::default()
    };
    let t = Instant::now();
    rt.block_on(runner::run(
        Arc::clone(&candidate),
        &requests,
        Some(&cache),
        &no_cache,
        &price,
        &NoProgress,
    ))?;
    let uncached = t.elapsed().as_secs_f64();
    println!(
        "  no cache:   {uncached:.2} s, {:.0} requests/s = {:.1}% of the ideal (cache commits excluded)",
        n as f64 / uncached,
        100.0 * n as f64 / uncached / ideal,
    );

    server.reset_counters();
    let t = Instant::now();
    let second = rt.block_on(runner::run_with_stats(
        candidate,
        &requests,
        Some(&cache),
        &opts,
        &price,
        &NoProgress,
    ))?;
    let warm = t.elapsed().as_secs_f64();
    println!(
        "  cached run: {:.1} ms ({} hits, {} requests sent), {:.2} µs/example",
        warm * 1000.0,
        second.stats.cache_hits,
        server.requests(),
        warm * 1e6 / n as f64,
    );
    Ok(())
}
