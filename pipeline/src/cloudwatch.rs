//! A run's results in Amazon CloudWatch (`[report] cloudwatch`): after the report (and the
//! gate), `tunebench run` and `tunebench report` send one datum per suite, candidate and
//! quantity, and the gate's verdict, so dashboards chart the nightly runs and an alarm fires
//! on a regression (configs/cloudwatch-gate-alarm.json).
//!
//! # Metrics
//!
//! | metric | unit | dimensions | value |
//! |---|---|---|---|
//! | `score` | None | pipeline, suite, candidate | the weighted aggregate |
//! | each suite metric, e.g. `accuracy` | None | pipeline, suite, candidate | its value |
//! | `cost_usd` | None | pipeline, suite, candidate | dollars spent |
//! | `latency_p50_ms`, `latency_p95_ms` | Milliseconds | pipeline, suite, candidate | latency percentiles |
//! | `errors` | Count | pipeline, suite, candidate | errored responses |
//! | `gate_passed` | None | pipeline | 1 when every check passed, else 0 |
//! | `gate_failed_checks` | Count | pipeline | failed checks |
//!
//! `pipeline` is the config file's name without `.toml` (`nightly` for configs/nightly.toml).
//! Every datum has the run's time: when `tunebench run` started it (`run.json`), else when
//! its report was made, so publishing a run's report again adds samples at the same instant
//! rather than a new point.
//!
//! Design: the quantity is the metric name, not a `metric` dimension. CloudWatch identifies a
//! metric by its name and its whole set of dimensions, and a metric has one unit; with one
//! name per quantity, each has its own unit (Milliseconds, Count, None), an alarm or a graph
//! names exactly what it watches (`MetricName = "score"`, `suite`, `candidate`), and a search
//! expression such as `SEARCH('{tunebench,pipeline,suite,candidate} MetricName="score"',
//! 'Average', 86400)` charts every candidate at once; a `metric` dimension would add a
//! dimension every query must repeat and mix units under one name. The price is that a suite
//! metric may not take one of the names tunebench uses ([`RESERVED`]); `tunebench run`
//! checks that before any stage. `pipeline` is a dimension of every datum, not only of the
//! gate's: two configs that evaluate the same suite and candidate (a nightly run on the
//! whole test set, a quick one on ten examples) are two series, not one that mixes them.
//!
//! A candidate without a latency has no latency datum; a candidate marked failed (every
//! request errored) has no `score` or suite metric datums (its score measures nothing), only
//! `errors` and `cost_usd`.

use std::path::Path;

use tunebench_aws::cloudwatch::{self, MetricBatch};
use tunebench_aws::{BedrockOptions, CloudWatch, Dimension, MetricDatum, Unit};
use tunebench_reports::gate::GateReport;
use tunebench_reports::summary::RunSummary;

use crate::config::{ConfigError, Loaded, Scope};
use crate::error::Result;
use crate::run::RunManifest;

/// The namespace when `[report] cloudwatch` names none.
pub const DEFAULT_NAMESPACE: &str = "tunebench";
/// The aggregate score.
pub const SCORE: &str = "score";
/// Dollars spent.
pub const COST_USD: &str = "cost_usd";
/// Median latency.
pub const LATENCY_P50_MS: &str = "latency_p50_ms";
/// 95th percentile latency.
pub const LATENCY_P95_MS: &str = "latency_p95_ms";
/// Errored responses.
pub const ERRORS: &str = "errors";
/// 1 when the gate passed, else 0.
pub const GATE_PASSED: &str = "gate_passed";
/// Failed checks of the gate.
pub const GATE_FAILED_CHECKS: &str = "gate_failed_checks";
/// Metric names a suite metric may not take (`score` the suites refuse themselves).
pub const RESERVED: [&str; 6] = [
    COST_USD,
    LATENCY_P50_MS,
    LATENCY_P95_MS,
    ERRORS,
    GATE_PASSED,
    GATE_FAILED_CHECKS,
];

/// Send the metrics, or only show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// PutMetricData.
    #[default]
    Send,
    /// Return the payload; send nothing.
    DryRun,
}

impl Mode {
    /// [`Mode::DryRun`] when `dry_run` (a command's `--cloudwatch-dry-run`), else [`Mode::Send`].
    pub fn dry_run_if(dry_run: bool) -> Mode {
        if dry_run { Mode::DryRun } else { Mode::Send }
    }
}

/// Where the metrics go: `[report] cloudwatch` resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The namespace (validated).
    pub namespace: String,
    /// Region, profile, endpoint and audit log of the client.
    pub aws: tunebench_aws::AwsSettings,
    /// The `pipeline` dimension: the config file's name without its extension.
    pub pipeline: String,
}

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Published {
    /// The datums were sent.
    Sent {
        /// The namespace.
        namespace: String,
        /// Datums sent.
        datums: usize,
        /// PutMetricData calls made.
        calls: usize,
    },
    /// Nothing was sent: the input of each PutMetricData call that would have been made, as
    /// `aws cloudwatch put-metric-data --cli-input-json` takes it.
    DryRun(Vec<MetricBatch>),
}

/// The config's `[report] cloudwatch` resolved, `None` without one: the namespace (checked),
/// the region over `[aws]`'s, and the audit log of `scope` (`out_dir` for a command by
/// itself).
///
/// # Errors
/// [`ConfigError`] naming the config when the namespace would be refused.
pub fn target(loaded: &Loaded, scope: Scope, out_dir: &Path) -> Result<Option<Target>> {
    let Some(cw) = loaded
        .raw
        .report
        .as_ref()
        .and_then(|r| r.cloudwatch.clone())
    else {
        return Ok(None);
    };
    let namespace = cw.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    cloudwatch::validate(&namespace, &[]).map_err(|e| {
        ConfigError(format!(
            "{}: [report] cloudwatch namespace: {e}",
            loaded.path.display()
        ))
    })?;
    let mut aws = loaded.aws();
    aws.region = cw.region.or(aws.region);
    aws.endpoint_url = cw.endpoint_url;
    let pipeline = loaded
        .path
        .file_stem()
        .map_or_else(|| "run".to_owned(), |s| s.to_string_lossy().into_owned());
    Ok(Some(Target {
        namespace,
        aws: loaded.audited(aws, out_dir, scope),
        pipeline,
    }))
}

/// Refuses a dry run of a config without `[report] cloudwatch`: it would show nothing.
///
/// # Errors
/// [`ConfigError`] naming the config, with the table to add.
pub fn check_mode(loaded: &Loaded, mode: Mode) -> Result<()> {
    let configured = loaded
        .raw
        .report
        .as_ref()
        .is_some_and(|r| r.cloudwatch.is_some());
    if mode == Mode::DryRun && !configured {
        return Err(ConfigError(format!(
            "{}: no [report] cloudwatch to show the payload of\nhint: add `[report]` `cloudwatch = {{ namespace = \"{DEFAULT_NAMESPACE}\", region = \"us-east-1\" }}`",
            loaded.path.display()
        ))
        .into());
    }
    Ok(())
}

/// Refuses suite metrics named like one of tunebench's own ([`RESERVED`]); `suites` are
/// (suite, its metric names).
///
/// # Errors
/// [`ConfigError`] naming the suite and the metric.
pub fn check_metric_names(suites: &[(String, Vec<String>)]) -> Result<()> {
    for (suite, metrics) in suites {
        if let Some(m) = metrics.iter().find(|m| RESERVED.contains(&m.as_str())) {
            return Err(ConfigError(format!(
                "suite `{suite}` has a metric named `{m}`, a name tunebench's CloudWatch metrics use\nhint: give the suite's metric another `name`, or remove [report] cloudwatch"
            ))
            .into());
        }
    }
    Ok(())
}

/// The datums of a run: per suite and candidate its score, suite metrics, cost, latency and
/// errors, and the gate's verdict when a gate ran; all at `timestamp` (see the module's
/// table).
///
/// # Errors
/// [`ConfigError`] when a suite metric takes a reserved name ([`check_metric_names`]).
pub fn datums(
    summary: &RunSummary,
    gate: Option<&GateReport>,
    pipeline: &str,
    timestamp: &str,
) -> Result<Vec<MetricDatum>> {
    let suites: Vec<(String, Vec<String>)> = summary
        .suites
        .iter()
        .map(|s| {
            let names = s
                .candidates
                .iter()
                .flat_map(|c| c.metrics.iter().map(|m| m.name.clone()));
            (s.suite.clone(), names.collect())
        })
        .collect();
    check_metric_names(&suites)?;
    let dimension = |name: &str, value: &str| Dimension {
        name: name.to_owned(),
        value: value.to_owned(),
    };
    let mut out = Vec::new();
    let mut push = |name: &str, dimensions: &[Dimension], value: Option<f64>, unit: Unit| {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            out.push(MetricDatum {
                metric_name: name.to_owned(),
                dimensions: dimensions.to_vec(),
                value,
                unit,
                timestamp: timestamp.to_owned(),
            });
        }
    };
    for s in &summary.suites {
        for c in &s.candidates {
            let dims = [
                dimension("pipeline", pipeline),
                dimension("suite", &s.suite),
                dimension("candidate", &c.name),
            ];
            if !c.failed {
                push(SCORE, &dims, Some(c.score.value), Unit::None);
                for m in &c.metrics {
                    push(&m.name, &dims, Some(m.estimate.value), Unit::None);
                }
            }
            push(COST_USD, &dims, Some(c.cost_usd), Unit::None);
            push(LATENCY_P50_MS, &dims, c.latency_p50_ms, Unit::Milliseconds);
            push(LATENCY_P95_MS, &dims, c.latency_p95_ms, Unit::Milliseconds);
            push(ERRORS, &dims, Some(c.errors as f64), Unit::Count);
        }
    }
    if let Some(g) = gate {
        let dims = [dimension("pipeline", pipeline)];
        let failed = g.checks.iter().filter(|c| !c.passed).count();
        push(
            GATE_PASSED,
            &dims,
            Some(if g.passed { 1.0 } else { 0.0 }),
            Unit::None,
        );
        push(GATE_FAILED_CHECKS, &dims, Some(failed as f64), Unit::Count);
    }
    Ok(out)
}

/// Sends `datums` to `target` (batched, retried, audited), or with [`Mode::DryRun`] returns
/// the payload, validated, without sending.
///
/// # Errors
/// A datum CloudWatch would refuse (nothing is sent), or a call that failed after retries.
pub fn publish(target: &Target, datums: &[MetricDatum], mode: Mode) -> Result<Published> {
    match mode {
        Mode::DryRun => Ok(Published::DryRun(cloudwatch::batches(
            &target.namespace,
            datums,
        )?)),
        Mode::Send => {
            let client = CloudWatch::connect(&target.aws, &BedrockOptions::default())?;
            let calls = client.put_metric_data(&target.namespace, datums)?;
            Ok(Published::Sent {
                namespace: target.namespace.clone(),
                datums: datums.len(),
                calls,
            })
        }
    }
}

/// Publishes the run in `run_dir` (its report's `summary.json` at `summary`, and `gate` when
/// the gate ran) to the config's `[report] cloudwatch`; `None` when the config has none.
/// The audit line goes to the run's log under `tunebench run`, else beside `summary`.
///
/// # Errors
/// `summary.json` or `run.json` cannot be read, or [`publish`] failed.
pub fn publish_run(
    loaded: &Loaded,
    scope: Scope,
    run_dir: &Path,
    summary: &Path,
    gate: Option<&GateReport>,
    mode: Mode,
) -> Result<Option<Published>> {
    check_mode(loaded, mode)?;
    let out_dir = summary.parent().unwrap_or(run_dir);
    let Some(target) = target(loaded, scope, out_dir)? else {
        return Ok(None);
    };
    let summary = crate::report::read_summary(summary)?;
    let time = RunManifest::load(&tunebench_core::RunDir::new(run_dir))?
        .map_or_else(|| summary.created.clone(), |m| m.started);
    let datums = datums(&summary, gate, &target.pipeline, &time)?;
    publish(&target, &datums, mode)
        .map(Some)
        .map_err(|e| e.context(format!("publishing run {} to CloudWatch", summary.run_id)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tunebench_eval::compare::{CandidateRow, Comparison, FORMAT, MetricValue};
    use tunebench_eval::score::Estimate;
    use tunebench_reports::gate::Check;

    fn estimate(value: f64) -> Estimate {
        Estimate {
            value,
            lower: value - 0.1,
            upper: value + 0.1,
        }
    }

    fn candidate(name: &str, score: f64, latency: Option<f64>) -> CandidateRow {
        CandidateRow {
            name: name.into(),
            n: 10,
            errors: 2,
            missing: 0,
            score: estimate(score),
            metrics: vec![MetricValue {
                name: "accuracy".into(),
                estimate: estimate(score),
            }],
            input_tokens: 100,
            output_tokens: 10,
            cost_usd: 0.25,
            quality_per_dollar: None,
            latency_p50_ms: latency,
            latency_p95_ms: latency.map(|l| l * 2.0),
            failed: false,
        }
    }

    fn summary(candidates: Vec<CandidateRow>) -> RunSummary {
        RunSummary {
            format: tunebench_reports::summary::FORMAT,
            run_id: "nightly-1".into(),
            created: "2026-12-06T02:00:00Z".into(),
            suites: vec![Comparison {
                format: FORMAT,
                suite: "gsm8k".into(),
                suite_version: "1".into(),
                suite_examples: 10,
                best: None,
                rank_quality: vec![],
                rank_quality_per_dollar: vec![],
                pareto_cost: vec![],
                pareto_latency: vec![],
                candidates,
                tests: vec![],
                bootstrap: None,
            }],
            training: vec![],
            models: vec![],
        }
    }

    fn gate(failed: usize) -> GateReport {
        let check = |passed| Check {
            suite: "gsm8k".into(),
            candidate: "tuned".into(),
            metric: "accuracy".into(),
            value: 0.5,
            baseline: None,
            p_value: None,
            passed,
            reason: String::new(),
            broken: vec![],
            broken_count: 0,
        };
        let mut checks = vec![check(true)];
        checks.extend((0..failed).map(|_| check(false)));
        GateReport {
            run_id: "nightly-1".into(),
            baseline_run: None,
            checks,
            passed: failed == 0,
        }
    }

    /// (metric, dimension values, value, unit) of each datum.
    fn rows(datums: &[MetricDatum]) -> Vec<(String, Vec<String>, f64, Unit)> {
        datums
            .iter()
            .map(|d| {
                (
                    d.metric_name.clone(),
                    d.dimensions
                        .iter()
                        .map(|x| format!("{}={}", x.name, x.value))
                        .collect(),
                    d.value,
                    d.unit,
                )
            })
            .collect()
    }

    #[test]
    fn each_candidate_has_its_quantities_and_the_gate_its_verdict() {
        let s = summary(vec![
            candidate("tuned", 0.75, Some(120.0)),
            candidate("recorded", 0.5, None),
        ]);
        let d = datums(&s, Some(&gate(2)), "nightly", "2026-12-06T01:00:00Z").unwrap();
        assert!(d.iter().all(|d| d.timestamp == "2026-12-06T01:00:00Z"));
        let dims = |c: &str| {
            vec![
                "pipeline=nightly".to_owned(),
                "suite=gsm8k".into(),
                format!("candidate={c}"),
            ]
        };
        let r = rows(&d);
        let expected = vec![
            ("score".to_owned(), dims("tuned"), 0.75, Unit::None),
            ("accuracy".into(), dims("tuned"), 0.75, Unit::None),
            ("cost_usd".into(), dims("tuned"), 0.25, Unit::None),
            (
                "latency_p50_ms".into(),
                dims("tuned"),
                120.0,
                Unit::Milliseconds,
            ),
            (
                "latency_p95_ms".into(),
                dims("tuned"),
                240.0,
                Unit::Milliseconds,
            ),
            ("errors".into(), dims("tuned"), 2.0, Unit::Count),
            // No latency: no latency datums.
            ("score".into(), dims("recorded"), 0.5, Unit::None),
            ("accuracy".into(), dims("recorded"), 0.5, Unit::None),
            ("cost_usd".into(), dims("recorded"), 0.25, Unit::None),
            ("errors".into(), dims("recorded"), 2.0, Unit::Count),
            (
                "gate_passed".into(),
                vec!["pipeline=nightly".into()],
                0.0,
                Unit::None,
            ),
            (
                "gate_failed_checks".into(),
                vec!["pipeline=nightly".into()],
                2.0,
                Unit::Count,
            ),
        ];
        assert_eq!(r, expected);
        let passing = datums(&s, Some(&gate(0)), "nightly", "2026-12-06T01:00:00Z").unwrap();
        let verdict: Vec<f64> = passing.iter().rev().take(2).map(|d| d.value).collect();
        assert_eq!(verdict, [0.0, 1.0], "gate_failed_checks 0, gate_passed 1");
        // Without a gate, no verdict.
        assert!(
            datums(&s, None, "nightly", "2026-12-06T01:00:00Z")
                .unwrap()
                .iter()
                .all(|d| !d.metric_name.starts_with("gate_"))
        );
    }

    #[test]
    fn a_failed_candidate_reports_errors_and_cost_but_no_score() {
        let mut c = candidate("down", 0.0, None);
        c.failed = true;
        let names: Vec<String> = datums(&summary(vec![c]), None, "p", "2026-12-06T01:00:00Z")
            .unwrap()
            .into_iter()
            .map(|d| d.metric_name)
            .collect();
        assert_eq!(names, ["cost_usd", "errors"]);
    }

    #[test]
    fn a_suite_metric_named_like_a_tunebench_metric_is_refused() {
        let mut c = candidate("tuned", 0.5, None);
        c.metrics[0].name = "errors".into();
        let err = datums(&summary(vec![c]), None, "p", "2026-12-06T01:00:00Z")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("suite `gsm8k` has a metric named `errors`") && err.contains("hint:"),
            "{err}"
        );
    }

    /// configs/cloudwatch-gate-alarm.json watches what [`datums`] sends for configs/nightly.toml,
    /// and is a valid PutMetricAlarm input of the service model (fixtures/aws).
    #[test]
    fn the_shipped_alarm_watches_the_gate_metric_and_is_a_put_metric_alarm_input() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |p: &str| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(root.join(p)).unwrap()).unwrap()
        };
        let alarm = read("configs/cloudwatch-gate-alarm.json");
        let model = read("fixtures/aws/cloudwatch-2010-08-01.trimmed.json");
        let shapes = &model["shapes"];
        let input = &shapes["PutMetricAlarmInput"];
        let members = input["members"].as_object().unwrap();
        let alarm_obj = alarm.as_object().unwrap();
        for key in alarm_obj.keys() {
            assert!(
                members.contains_key(key),
                "{key} is not a PutMetricAlarmInput member"
            );
        }
        for key in input["required"].as_array().unwrap() {
            assert!(
                alarm_obj.contains_key(key.as_str().unwrap()),
                "{key} is required"
            );
        }
        for (key, value) in alarm_obj {
            let shape = &shapes[members[key]["shape"].as_str().unwrap()];
            if let Some(allowed) = shape["enum"].as_array() {
                assert!(
                    allowed.contains(value),
                    "{key} = {value} is not one of {allowed:?}"
                );
            }
        }
        for dim in alarm["Dimensions"].as_array().unwrap() {
            let keys: Vec<&String> = dim.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["Name", "Value"]);
        }

        // What publish sends for configs/nightly.toml (pipeline `nightly`, the default
        // namespace), on a failing and a passing gate.
        assert_eq!(alarm["Namespace"], DEFAULT_NAMESPACE);
        let s = summary(vec![candidate("tuned", 0.5, None)]);
        for (failed, fires) in [(1, true), (0, false)] {
            let sent = datums(&s, Some(&gate(failed)), "nightly", "2026-12-06T01:00:00Z").unwrap();
            let watched: Vec<&MetricDatum> = sent
                .iter()
                .filter(|d| {
                    d.metric_name == alarm["MetricName"]
                        && serde_json::to_value(&d.dimensions).unwrap() == alarm["Dimensions"]
                })
                .collect();
            assert_eq!(watched.len(), 1, "the alarm must match exactly one datum");
            assert_eq!(
                serde_json::to_value(watched[0].unit).unwrap(),
                alarm["Unit"],
                "an alarm with another unit sees no data"
            );
            let threshold = alarm["Threshold"].as_f64().unwrap();
            let breaches = match alarm["ComparisonOperator"].as_str().unwrap() {
                "GreaterThanOrEqualToThreshold" => watched[0].value >= threshold,
                "LessThanThreshold" => watched[0].value < threshold,
                other => panic!("update this test for {other}"),
            };
            assert_eq!(breaches, fires, "{failed} failed checks");
        }
    }

    #[test]
    fn the_target_is_the_config_s_cloudwatch_table_over_its_aws_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nightly.toml");
        let write = |cloudwatch: &str| {
            std::fs::write(
                &path,
                format!(
                    "[aws]\nregion = \"eu-west-1\"\nprofile = \"team\"\nendpoint_url = \"http://127.0.0.1:9000\"\n[report]\n{cloudwatch}\n"
                ),
            )
            .unwrap();
            crate::config::load(&path, None).unwrap()
        };
        let out = dir.path().join("out");
        assert_eq!(target(&write(""), Scope::Command, &out).unwrap(), None);
        let t = target(&write("cloudwatch = {}"), Scope::Command, &out)
            .unwrap()
            .unwrap();
        assert_eq!(t.namespace, DEFAULT_NAMESPACE);
        assert_eq!(t.pipeline, "nightly");
        assert_eq!(t.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(t.aws.profile.as_deref(), Some("team"));
        // [aws] endpoint_url is the S3-compatible store's, not CloudWatch's.
        assert_eq!(t.aws.endpoint_url, None);
        assert_eq!(t.aws.audit_log, Some(out.join("aws-audit.jsonl")));
        let loaded = write(
            "cloudwatch = { namespace = \"ml/nightly\", region = \"us-east-1\", endpoint_url = \"http://127.0.0.1:5000\" }",
        );
        let t = target(&loaded, Scope::Run, &out).unwrap().unwrap();
        assert_eq!(t.namespace, "ml/nightly");
        assert_eq!(t.aws.region.as_deref(), Some("us-east-1"));
        assert_eq!(t.aws.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(t.aws.audit_log, Some(loaded.run.audit_log()));
        let err = target(
            &write("cloudwatch = { namespace = \"AWS/Bedrock\" }"),
            Scope::Command,
            &out,
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("[report] cloudwatch namespace")
                && err.to_string().contains("belong to AWS services"),
            "{err}"
        );
    }
}
