//! Bedrock candidates with `mode = "batch"`, service tiers and prompt caching, against the
//! Bedrock stand-in (every request validated against the botocore service model) and the
//! loopback S3 server scripts/test.sh starts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use tunebench_aws::{AwsSettings, S3};
use tunebench_eval::cache::CacheMode;
use tunebench_eval::evaluate::{self, EvalOptions, EvalReport, EvalSettings, SuiteResult};
use tunebench_eval::runner::NoProgress;
use tunebench_standins::bedrock::{BedrockStandin, StandinConfig};

fn s3_endpoint() -> String {
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "AWS_ACCESS_KEY_ID is not set: run the tests with scripts/test.sh"
    );
    tunebench_standins::s3::endpoint()
}

/// A stand-in whose batch jobs read and write the loopback S3 server, and a fresh bucket.
fn standin(config: StandinConfig, bucket: &str) -> BedrockStandin {
    let s3 = s3_endpoint();
    S3::connect(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(s3.clone()),
        ..AwsSettings::default()
    })
    .unwrap()
    .create_bucket(bucket)
    .unwrap();
    BedrockStandin::start(StandinConfig {
        s3_endpoint: Some(s3),
        polls_to_complete: 3,
        ..config
    })
    .unwrap()
}

/// A suite of `n` examples answered by echo (prompt `n<i>`, reference `n<i>`), with a
/// system prompt and one few-shot turn.
fn write_suite(dir: &Path, n: usize) {
    let data: String = (0..n)
        .map(|i| format!("{{\"q\":\"n{i}\",\"a\":\"n{i}\"}}\n"))
        .collect();
    std::fs::write(dir.join("d.jsonl"), data).unwrap();
    std::fs::write(
        dir.join("s.toml"),
        "name = \"echo\"\nversion = \"1\"\ndata = \"d.jsonl\"\nsystem = \"Repeat the input word for word.\"\nfewshot = [{ input = \"a b c\", output = \"a b c\" }]\nprompt = \"{{ q }}\"\nreference = \"{{ a }}\"\nsampling = { max_tokens = 16 }\n[[metrics]]\nkind = \"exact_match\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("pricing.toml"),
        r#"version = 1
updated = "2026-12-07"
[[model]]
id = "amazon.nova-pro-v1:0"
input_per_1k = 1.0
output_per_1k = 2.0
batch_input_per_1k = 0.5
batch_output_per_1k = 1.0
cache_read_per_1k = 0.25
cache_write_per_1k = 1.25
flex = { input_per_1k = 0.5, output_per_1k = 1.0 }
"#,
    )
    .unwrap();
}

fn settings(dir: &Path, standin: &BedrockStandin, candidate: &str, batch: &str) -> EvalSettings {
    let text = format!(
        r#"suites = ["s.toml"]
out_dir = "out"
pricing = "pricing.toml"
[[candidates]]
kind = "bedrock"
name = "nova"
model_id = "amazon.nova-pro-v1:0"
region = "us-east-1"
endpoint_url = "{}"
{candidate}
[batch]
role_arn = "arn:aws:iam::123456789012:role/tunebench-batch"
poll_s = 0.01
max_poll_s = 0.02
endpoint_url = "{}"
{batch}
"#,
        standin.endpoint_url(),
        s3_endpoint()
    );
    toml::from_str::<EvalSettings>(&text)
        .unwrap()
        .resolve(dir)
        .unwrap()
}

/// A suite of `examples` in a fresh folder, evaluated by the Bedrock candidate in batch mode
/// writing under `s3_prefix`, with `extra` lines in `[batch]`.
fn batch_case(
    standin: &BedrockStandin,
    examples: usize,
    s3_prefix: &str,
    extra: &str,
) -> (tempfile::TempDir, EvalSettings) {
    let dir = tempfile::tempdir().unwrap();
    write_suite(dir.path(), examples);
    let s = settings(
        dir.path(),
        standin,
        "mode = \"batch\"",
        &format!("s3_prefix = \"{s3_prefix}\"\n{extra}"),
    );
    (dir, s)
}

fn run(s: &EvalSettings) -> SuiteResult {
    let opts = EvalOptions {
        cache_mode: CacheMode::ReadWrite,
        ..EvalOptions::default()
    };
    match evaluate::evaluate(s, &opts, &NoProgress).unwrap() {
        EvalReport::Results(mut r) => r.remove(0),
        EvalReport::DryRun(_) => unreachable!(),
    }
}

fn responses(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("out/echo/nova/responses.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_suite_runs_through_one_batch_job_priced_at_the_batch_rate_and_cached() {
    let bucket = format!("tb-batch-{}", std::process::id());
    let standin = standin(StandinConfig::default(), &bucket);
    let (dir, s) = batch_case(&standin, 300, &format!("s3://{bucket}/batch/"), "");
    let r = run(&s);
    let (_, stats) = &r.stats[0];
    assert_eq!(
        (
            stats.batch_jobs,
            stats.answered,
            stats.cache_hits,
            stats.calls
        ),
        (1, 300, 0, 0),
        "{stats:?}"
    );
    assert!(stats.notes.is_empty(), "{:?}", stats.notes);
    assert_eq!(standin.request_count("CreateModelInvocationJob"), 1);
    assert_eq!(standin.request_count("Converse"), 0);
    let job = standin.last_input("CreateModelInvocationJob").unwrap();
    assert_eq!(job["modelInvocationType"], "Converse");
    assert!(job["clientRequestToken"].as_str().unwrap().len() >= 32);
    assert_eq!(
        r.comparison.candidates[0].score.value, 1.0,
        "every echo is exact"
    );
    // Tokens are the output's usage; dollars the batch rate (0.5 / 1.0 per 1k), not 1 / 2.
    let rs = responses(dir.path());
    let (input, output): (u64, u64) = rs.iter().fold((0, 0), |(i, o), r| {
        (
            i + r["input_tokens"].as_u64().unwrap(),
            o + r["output_tokens"].as_u64().unwrap(),
        )
    });
    assert_eq!(output, 300, "one word each");
    let expected = (input as f64 * 0.5 + output as f64 * 1.0) / 1000.0;
    assert!(
        (stats.cost_usd - expected).abs() < 1e-9,
        "{} vs {expected}",
        stats.cost_usd
    );
    // The job's records, output and state are in the candidate's folder.
    let batch = dir.path().join("out/echo/nova/batch");
    let state: Vec<_> = std::fs::read_dir(&batch)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    assert_eq!(state.len(), 1, "{state:?}");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(batch.join(&state[0])).unwrap()).unwrap();
    assert_eq!(
        (state["status"].as_str(), state["joined"].as_bool()),
        (Some("Completed"), Some(true))
    );

    // A rerun answers everything from the cache: nothing is sent.
    let again = run(&s);
    assert_eq!(again.stats[0].1.cache_hits, 300);
    assert_eq!(standin.request_count("CreateModelInvocationJob"), 1);
    assert_eq!(standin.request_count("Converse"), 0);
    standin.assert_valid();
}

#[test]
fn a_partially_completed_job_ends_every_example_scored_or_errored() {
    let bucket = format!("tb-batch-partial-{}", std::process::id());
    let standin = partial_standin(&bucket);
    // Retried through a second job: the 30 unprocessed records are at least min_records.
    let (dir, s) = batch_case(
        &standin,
        300,
        &format!("s3://{bucket}/a/"),
        "min_records = 20",
    );
    let r = run(&s);
    let (_, stats) = &r.stats[0];
    assert_eq!(standin.request_count("CreateModelInvocationJob"), 2);
    assert_eq!(stats.batch_jobs, 2);
    // First job: 30 unprocessed, 5% of the 270 processed fail (13); the second job's 30
    // records: 5% fail (1).
    assert_eq!((stats.answered, stats.failed), (300 - 14, 14), "{stats:?}");
    assert!(
        stats.notes[0].contains("PartiallyCompleted with 30 of 300 records unprocessed"),
        "{:?}",
        stats.notes
    );
    let rs = responses(dir.path());
    assert_eq!(rs.len(), 300);
    let errors: Vec<&str> = rs.iter().filter_map(|r| r["error"].as_str()).collect();
    assert_eq!(errors.len(), 14);
    assert!(
        errors
            .iter()
            .all(|e| e.starts_with("batch record failed: 400 ValidationException")),
        "{errors:?}"
    );
    assert_eq!(standin.request_count("Converse"), 0);

    // Retried on demand: 30 left is fewer than min_records = 100.
    let standin = partial_standin(&format!("{bucket}-b"));
    let (_dir, s) = batch_case(&standin, 300, &format!("s3://{bucket}-b/b/"), "");
    let r = run(&s);
    let (_, stats) = &r.stats[0];
    assert_eq!(
        (stats.batch_jobs, stats.on_demand, stats.calls),
        (1, 30, 30),
        "{stats:?}"
    );
    assert_eq!(standin.request_count("Converse"), 30);
    assert!(
        stats
            .notes
            .iter()
            .any(|n| n.contains("30 examples left, fewer than min_records = 100: sent on demand")),
        "{:?}",
        stats.notes
    );
    assert_eq!(stats.answered + stats.failed, 300);
    standin.assert_valid();
}

/// A stand-in whose first batch job leaves 10% of its records unprocessed and fails 5% of
/// the processed ones.
fn partial_standin(bucket: &str) -> BedrockStandin {
    standin(
        StandinConfig {
            batch_error_share: 0.05,
            batch_unprocessed_share: 0.1,
            ..StandinConfig::default()
        },
        bucket,
    )
}

#[test]
fn too_few_examples_for_a_job_run_on_demand_and_say_so() {
    let bucket = format!("tb-batch-few-{}", std::process::id());
    let standin = standin(StandinConfig::default(), &bucket);
    let (dir, s) = batch_case(&standin, 40, &format!("s3://{bucket}/few/"), "");
    // The dry run says so too, with the on-demand estimate.
    let opts = EvalOptions {
        dry_run: true,
        ..EvalOptions::default()
    };
    let EvalReport::DryRun(plan) = evaluate::evaluate(&s, &opts, &NoProgress).unwrap() else {
        unreachable!()
    };
    let batch = plan[0].batch.as_ref().unwrap();
    assert!(
        batch
            .on_demand
            .as_deref()
            .unwrap()
            .contains("40 uncached examples, fewer than min_records = 100"),
        "{batch:?}"
    );
    let r = run(&s);
    let (_, stats) = &r.stats[0];
    assert_eq!((stats.batch_jobs, stats.on_demand), (0, 40), "{stats:?}");
    assert_eq!(standin.request_count("CreateModelInvocationJob"), 0);
    assert_eq!(standin.request_count("Converse"), 40);
    assert!(stats.notes[0].contains("sent on demand at the on-demand price"));
    // On demand at 1 / 2 per 1k, not the batch rate.
    let rs = responses(dir.path());
    let (input, output): (u64, u64) = rs.iter().fold((0, 0), |(i, o), r| {
        (
            i + r["input_tokens"].as_u64().unwrap(),
            o + r["output_tokens"].as_u64().unwrap(),
        )
    });
    let expected = (input as f64 + output as f64 * 2.0) / 1000.0;
    assert!(
        (stats.cost_usd - expected).abs() < 1e-9,
        "{} vs {expected}",
        stats.cost_usd
    );
}

#[test]
fn service_tier_and_cache_points_go_on_the_wire_and_are_priced() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_suite(dir.path(), 4);
    let s = settings(
        dir.path(),
        &standin,
        "service_tier = \"flex\"\ncache_prompt = true\nconcurrency = 1",
        "",
    );
    let r = run(&s);
    let input = standin.last_input("Converse").unwrap();
    assert_eq!(input["serviceTier"], serde_json::json!({"type": "flex"}));
    // The cache point closes the few-shot turns (the turn before the question).
    let messages = input["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(
        messages[1]["content"][1],
        serde_json::json!({"cachePoint": {"type": "default"}})
    );
    let rs = responses(dir.path());
    // The prefix (system + few-shot turns, 6 + 3 + 3 words) is written once, then read.
    let writes: Vec<u64> = rs
        .iter()
        .map(|r| r["cache_write_tokens"].as_u64().unwrap_or(0))
        .collect();
    let reads: Vec<u64> = rs
        .iter()
        .map(|r| r["cache_read_tokens"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(writes, [12, 0, 0, 0]);
    assert_eq!(reads, [0, 12, 12, 12]);
    // Flex prices (0.5 / 1.0), cache reads 0.25, writes 1.25 per 1k.
    let (_, stats) = &r.stats[0];
    let tokens: u64 = rs.iter().map(|r| r["input_tokens"].as_u64().unwrap()).sum();
    assert_eq!(tokens, 4, "only the question is uncached");
    let expected = (tokens as f64 * 0.5 + 4.0 * 1.0 + 36.0 * 0.25 + 12.0 * 1.25) / 1000.0;
    assert!(
        (stats.cost_usd - expected).abs() < 1e-9,
        "{} vs {expected}",
        stats.cost_usd
    );
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/echo/nova/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (
            summary["cache_read_tokens"].as_u64(),
            summary["cache_write_tokens"].as_u64()
        ),
        (Some(36), Some(12))
    );
    standin.assert_valid();
}

#[test]
fn dry_run_counts_tokens_with_count_tokens_and_warns_of_unpriced_tiers() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_suite(dir.path(), 5);
    let s = settings(dir.path(), &standin, "service_tier = \"priority\"", "");
    let opts = EvalOptions {
        dry_run: true,
        count_tokens: true,
        ..EvalOptions::default()
    };
    let EvalReport::DryRun(plan) = evaluate::evaluate(&s, &opts, &NoProgress).unwrap() else {
        unreachable!()
    };
    let p = &plan[0];
    assert_eq!(p.estimate.counter, "Bedrock CountTokens");
    // system (6 words) + few-shot (3 + 3) + question (1) per request.
    assert_eq!(p.estimate.input_tokens, 5 * 13);
    assert_eq!(standin.request_count("CountTokens"), 5);
    assert_eq!(standin.request_count("Converse"), 0);
    assert_eq!(p.estimate.max_cost_usd, None, "no priority price: unpriced");
    assert!(
        p.warnings[0].contains("no price for `amazon.nova-pro-v1:0` in the priority tier"),
        "{:?}",
        p.warnings
    );
    standin.assert_valid();
}

#[test]
fn batch_settings_are_checked_before_anything_is_sent() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_suite(dir.path(), 2);
    let text = |candidate: &str, batch: &str| {
        format!(
            "suites = [\"s.toml\"]\nout_dir = \"out\"\n[[candidates]]\nkind = \"bedrock\"\nname = \"nova\"\nmodel_id = \"m\"\nendpoint_url = \"{}\"\n{candidate}\n[batch]\n{batch}\n",
            standin.endpoint_url()
        )
    };
    let err = |candidate: &str, batch: &str| {
        toml::from_str::<EvalSettings>(&text(candidate, batch))
            .unwrap()
            .resolve(dir.path())
            .unwrap_err()
            .to_string()
    };
    let e = err("mode = \"batch\"", "role_arn = \"arn:aws:iam::1:role/r\"");
    assert!(
        e.contains("field `eval.batch.s3_prefix`")
            && e.contains("hint: add [eval.batch] s3_prefix"),
        "{e}"
    );
    let e = err("mode = \"batch\"", "s3_prefix = \"s3://bkt/p/\"");
    assert!(e.contains("eval.batch.role_arn"), "{e}");
    let e = err(
        "mode = \"batch\"",
        "s3_prefix = \"s3://bkt/p/\"\nrole_arn = \"r\"\ntimeout_hours = 12",
    );
    assert!(e.contains("outside 24 to 168"), "{e}");
    let e = err(
        "mode = \"batch\"\nservice_tier = \"flex\"",
        "s3_prefix = \"s3://bkt/p/\"\nrole_arn = \"r\"",
    );
    assert!(e.contains("service_tier applies to on-demand calls"), "{e}");
}
