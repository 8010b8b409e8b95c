//! Joining a Bedrock batch job's output: a generated 100,000-record `.jsonl.out` (Converse
//! answers in shuffled order, 1% of records with an error) read and joined by record id
//! ([`tunebench_eval::batch::read_output`]), its answers stored in the response cache in one
//! transaction ([`Cache::put_many`], what `mode = "batch"` does) and scored (exact match)
//! against a suite of as many examples: records/s of each step and of the whole, and the
//! process's peak RSS per step.
//!
//! Peak RSS is the process's `VmHWM`, reset before each step (`/proc/self/clear_refs`
//! `5`), so each figure is that step's own high-water mark (the suite, its requests and
//! their cache keys, loaded before, are in every figure). The join holds one slot per
//! request (the record ids are the indexes) and streams the file line by line; what grows
//! with the record count is the answers it returns, which scoring needs.
//!
//! Run: `cargo bench -p tunebench-eval --bench batch_join` (release profile);
//! `TUNEBENCH_BENCH_RECORDS=N` changes the record count. The best of three runs is printed.

use std::error::Error;
use std::io::{BufReader, Write};
use std::path::Path;
use std::time::Instant;

use tunebench_core::SplitMix64;
use tunebench_eval::batch;
use tunebench_eval::cache::{Cache, CachedResponse, now_unix};
use tunebench_eval::pricing::CandidatePrice;
use tunebench_eval::score::{self, ScoreOptions};
use tunebench_eval::suite::Suite;

const RUNS: usize = 3;

/// A `/proc/self/status` figure in MiB (`None` off Linux).
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The process's peak RSS since the last reset, MiB.
fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

fn reset_peak() {
    // Best effort: without it each figure is the peak so far.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A suite of `n` examples (`q<i>` → `a<i>`) in `dir`.
fn write_suite(dir: &Path, n: usize) -> Result<Suite, Box<dyn Error>> {
    let mut data = std::io::BufWriter::new(std::fs::File::create(dir.join("d.jsonl"))?);
    for i in 0..n {
        writeln!(data, "{{\"q\":\"What is item {i}?\",\"a\":\"answer {i}\"}}")?;
    }
    data.flush()?;
    std::fs::write(
        dir.join("s.toml"),
        "name = \"join\"\nversion = \"1\"\ndata = \"d.jsonl\"\nprompt = \"{{ q }}\"\nreference = \"{{ a }}\"\n[[metrics]]\nkind = \"exact_match\"\n",
    )?;
    Ok(Suite::load(dir.join("s.toml"))?)
}

/// The job's output for `n` records, shuffled; every 100th record failed, every 3rd answer
/// wrong.
fn write_output(path: &Path, n: usize) -> Result<(), Box<dyn Error>> {
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix64(11).shuffle(&mut order);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in order {
        let rid = batch::record_id(i);
        let line = if i % 100 == 99 {
            serde_json::json!({
                "recordId": rid,
                "modelInput": {"messages": [{"role": "user", "content": [{"text": format!("What is item {i}?")}]}]},
                "error": {"errorCode": 400, "errorMessage": "Malformed input request"},
            })
        } else {
            let answer = if i % 3 == 0 {
                format!("answer {}", i + 1)
            } else {
                format!("answer {i}")
            };
            serde_json::json!({
                "recordId": rid,
                "modelInput": {"messages": [{"role": "user", "content": [{"text": format!("What is item {i}?")}]}], "inferenceConfig": {"maxTokens": 256}},
                "modelOutput": {
                    "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15},
                    "metrics": {"latencyMs": 0},
                },
            })
        };
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let n: usize = std::env::var("TUNEBENCH_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let suite = write_suite(dir.path(), n)?;
    let requests = suite.requests()?;
    let output = dir.path().join("input.jsonl.out");
    write_output(&output, n)?;
    let size_mib = std::fs::metadata(&output)?.len() as f64 / (1024.0 * 1024.0);
    let price = CandidatePrice::tokens(0.0004, 0.0016);
    println!("{n} records, {size_mib:.1} MiB of output; best of {RUNS} runs");
    // The cache keys are computed when the run starts (its cache lookup), before any job.
    let identity = "bedrock:us-east-1:amazon.nova-pro-v1:0";
    let t = Instant::now();
    let keys: Vec<String> = requests
        .iter()
        .map(|r| Cache::key(identity, &r.request))
        .collect();
    println!(
        "(cache keys, computed before the job is sent: {:.3} s)",
        t.elapsed().as_secs_f64()
    );
    let mut best = [f64::INFINITY; 3];
    let mut peaks = [0f64; 3];
    let mut before = 0f64;
    for run in 0..RUNS {
        before = before.max(status_mib("VmRSS:").unwrap_or(0.0));
        let cache = Cache::open(dir.path().join(format!("cache-{run}.sqlite")))?;

        reset_peak();
        let t = Instant::now();
        let file = std::fs::File::open(&output)?;
        let records = batch::read_output(BufReader::new(file), &output, &requests, &price)?;
        let join_s = t.elapsed().as_secs_f64();
        let join_peak = peak_rss_mib().unwrap_or(0.0);

        reset_peak();
        let t = Instant::now();
        let entries: Vec<(&str, CachedResponse)> = records
            .iter()
            .zip(&keys)
            .filter_map(|(r, k)| {
                let r = r.as_ref().filter(|r| r.error.is_none())?;
                Some((
                    k.as_str(),
                    CachedResponse {
                        text: r.text.clone(),
                        input_tokens: r.input_tokens,
                        output_tokens: r.output_tokens,
                        latency_ms: r.latency_ms,
                        created_at: now_unix(),
                    },
                ))
            })
            .collect();
        cache.put_many(identity, &entries)?;
        let cache_s = t.elapsed().as_secs_f64();
        let cache_peak = peak_rss_mib().unwrap_or(0.0);
        drop(entries);

        reset_peak();
        let t = Instant::now();
        let records: Vec<_> = records.into_iter().flatten().collect();
        let scores = score::score(&suite, &records, &ScoreOptions::new("nova-pro"))?;
        let score_s = t.elapsed().as_secs_f64();
        let score_peak = peak_rss_mib().unwrap_or(0.0);
        assert_eq!(
            scores.summary.errors,
            n / 100,
            "every failed record is an errored example"
        );
        for (b, s) in best.iter_mut().zip([join_s, cache_s, score_s]) {
            *b = b.min(s);
        }
        for (p, s) in peaks.iter_mut().zip([join_peak, cache_peak, score_peak]) {
            *p = p.max(s);
        }
        if run == 0 {
            println!(
                "exact match {:.4} over {} examples ({} errored)",
                scores.summary.score.value, scores.summary.n, scores.summary.errors
            );
        }
    }
    println!("RSS before the join (suite, requests, keys): {before:.0} MiB");
    let total: f64 = best.iter().sum();
    for (step, (s, p)) in ["join", "cache", "score"]
        .iter()
        .zip(best.iter().zip(peaks))
    {
        println!(
            "{step:>5}: {s:.3} s, {:.0} records/s, peak RSS {p:.0} MiB (+{:.0})",
            n as f64 / s,
            p - before
        );
    }
    println!("total: {total:.3} s, {:.0} records/s", n as f64 / total);
    Ok(())
}
