//! CloudWatch client against the loopback CloudWatch stand-in (Smithy RPC v2 CBOR, inputs
//! validated against botocore's model), with static test credentials. No test talks to AWS.

// Helpers here panic on anything unexpected: a panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Metric, MetricDataQuery, MetricStat};
use tunebench_aws::{
    AuditEntry, AwsSettings, BedrockOptions, CloudWatch, Dimension, Error, MetricDatum, Outcome,
    Unit,
};

/// The stand-in every test of this binary shares (each uses its own namespace).
fn standin() -> &'static tunebench_standins::cloudwatch::CloudWatchStandin {
    static STANDIN: std::sync::OnceLock<tunebench_standins::cloudwatch::CloudWatchStandin> =
        std::sync::OnceLock::new();
    STANDIN.get_or_init(|| tunebench_standins::cloudwatch::CloudWatchStandin::start().unwrap())
}

fn endpoint() -> String {
    standin().endpoint_url().to_owned()
}

fn client(endpoint: &str, max_attempts: u32, audit: &Path) -> CloudWatch {
    CloudWatch::connect(
        &AwsSettings {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint.into()),
            ..AwsSettings::default()
        },
        &BedrockOptions {
            max_attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            audit_log: Some(audit.to_path_buf()),
        },
    )
    .unwrap()
}

fn audit(path: &Path) -> Vec<AuditEntry> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn datum(value: f64) -> MetricDatum {
    MetricDatum {
        metric_name: "score".into(),
        dimensions: vec![Dimension {
            name: "candidate".into(),
            value: "tuned".into(),
        }],
        value,
        unit: Unit::None,
        timestamp: DateTime::from_secs(now())
            .fmt(aws_sdk_cloudwatch::primitives::DateTimeFormat::DateTime)
            .unwrap(),
    }
}

/// 2,345 datums go out in three calls (1,000 + 1,000 + 345, the first two large enough for
/// the SDK to compress), each one audit line with the namespace and its datum count, and all
/// of them arrive.
#[test]
fn datums_are_sent_in_batches_of_a_thousand_each_audited() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let cw = client(&endpoint(), 3, &log);
    let namespace = format!("tunebench-aws-test/batches/{}", std::process::id());
    let datums: Vec<MetricDatum> = (0..2345).map(|i| datum(f64::from(i % 7))).collect();
    assert_eq!(cw.put_metric_data(&namespace, &datums).unwrap(), 3);

    let entries = audit(&log);
    let counts: Vec<&str> = entries
        .iter()
        .map(|e| e.resources["datums"].as_str())
        .collect();
    assert_eq!(counts, ["1000", "1000", "345"]);
    for e in &entries {
        assert_eq!(
            (e.service.as_str(), e.operation.as_str(), e.outcome),
            ("cloudwatch", "PutMetricData", Outcome::Ok)
        );
        assert_eq!(e.resources["namespace"], namespace);
        assert_eq!(e.resources.len(), 2, "only the namespace and the count");
    }

    let query = MetricDataQuery::builder()
        .id("n")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(&namespace)
                        .metric_name("score")
                        .dimensions(
                            aws_sdk_cloudwatch::types::Dimension::builder()
                                .name("candidate")
                                .value("tuned")
                                .build(),
                        )
                        .build(),
                )
                .period(3600)
                .stat("SampleCount")
                .build(),
        )
        .build();
    let out = cw
        .block_on(
            cw.sdk()
                .get_metric_data()
                .metric_data_queries(query)
                .start_time(DateTime::from_secs(now() - 7200))
                .end_time(DateTime::from_secs(now() + 3600))
                .send(),
        )
        .unwrap();
    let total: f64 = out.metric_data_results()[0].values().iter().sum();
    assert_eq!(total, 2345.0);
    assert_eq!(standin().invalid_requests(), Vec::<String>::new());
}

/// A datum CloudWatch would refuse stops the whole send before the first call: nothing is
/// sent and nothing is audited.
#[test]
fn an_invalid_datum_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let cw = client(&endpoint(), 1, &log);
    let mut datums: Vec<MetricDatum> = (0..1500).map(|_| datum(1.0)).collect();
    datums[1200].value = f64::NAN;
    let err = cw
        .put_metric_data("tunebench-aws-test/invalid", &datums)
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidMetricData { reason, .. } if reason.starts_with("datum 1201 (`score`): value NaN")),
        "{err}"
    );
    assert!(audit(&log).is_empty());
}

/// A server that cannot be reached: the error names the operation and namespace with a hint,
/// and the failed call is audited as a transport error.
#[test]
fn an_unreachable_endpoint_is_an_error_with_a_hint_and_an_audit_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let cw = client("http://127.0.0.1:9", 2, &log);
    let err = cw
        .put_metric_data("tunebench-aws-test/down", &[datum(1.0)])
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("CloudWatch PutMetricData to namespace \"tunebench-aws-test/down\":")
            && text.contains("hint: check the network"),
        "{text}"
    );
    let entries = audit(&log);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].outcome, Outcome::Error);
    assert_eq!(entries[0].error_code.as_deref(), Some("transport"));
}
