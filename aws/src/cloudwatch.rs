//! Amazon CloudWatch `PutMetricData`: custom metrics (a run's scores, cost, latency and its
//! gate verdict) sent so that dashboards and alarms see them.
//!
//! A [`MetricDatum`] is plain data that serialises to the JSON of CloudWatch's own
//! `MetricDatum` shape (`MetricName`, `Dimensions`, `Value`, `Unit`, `Timestamp`), so a dry
//! run prints exactly what would be sent, as input the AWS CLI takes
//! (`aws cloudwatch put-metric-data --cli-input-json`). Datums are checked against the
//! constraints of the service model before anything is sent ([`validate`]), and sent in
//! batches of at most [`MAX_DATUMS_PER_CALL`] ([`batches`]).
//!
//! Blocking, over the SDK's async client on a small private runtime like [`crate::Bedrock`],
//! with the same retries (the SDK's standard strategy, [`BedrockOptions`]); each call is one
//! audit line (service `cloudwatch`, the namespace and the datum count; never a value or a
//! dimension, which can name a customer's model or data set).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::types::{self, StandardUnit};
use aws_smithy_types::date_time::{DateTime, Format};
use tokio::runtime::Runtime;

use crate::audit::{AuditLog, audited};
use crate::bedrock::{BedrockOptions, Blocking};
use crate::error::sdk_failure;
use crate::{AwsSettings, Error, Result};

/// Most datums one `PutMetricData` call may carry (the service's limit).
pub const MAX_DATUMS_PER_CALL: usize = 1000;
/// Most dimensions of one datum (`Dimensions`, max 30, in the service model).
pub const MAX_DIMENSIONS: usize = 30;
/// Longest namespace, metric name and dimension name, in characters.
pub const MAX_NAME_LEN: usize = 255;
/// Longest dimension value, in characters.
pub const MAX_DIMENSION_VALUE_LEN: usize = 1024;

/// The unit of a datum: CloudWatch's `StandardUnit` values tunebench publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Unit {
    /// A number of things (`Count`).
    Count,
    /// Milliseconds (`Milliseconds`).
    Milliseconds,
    /// No unit: scores, dollars, flags (`None`).
    None,
}

impl Unit {
    /// CloudWatch's name of the unit.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::None => "None",
        }
    }
}

/// A name/value pair that is part of a metric's identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// Dimension name, e.g. `suite`.
    pub name: String,
    /// Its value, e.g. `gsm8k`.
    pub value: String,
}

/// One data point of one metric.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDatum {
    /// Metric name, e.g. `score`.
    pub metric_name: String,
    /// Dimensions, in the order given (CloudWatch identifies a metric by their set).
    pub dimensions: Vec<Dimension>,
    /// The value (finite; see [`validate`]).
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
    /// When it was measured: RFC 3339 in UTC, e.g. `2026-12-06T02:00:00Z`.
    pub timestamp: String,
}

/// The input of one `PutMetricData` call, as the AWS CLI's `--cli-input-json` takes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricBatch {
    /// The namespace.
    pub namespace: String,
    /// At most [`MAX_DATUMS_PER_CALL`] datums.
    pub metric_data: Vec<MetricDatum>,
}

/// Checks `namespace` and `datums` against the service model's constraints (and the limits
/// its documentation states): names of 1 to 255 ASCII characters without control
/// characters, at most 30 dimensions with distinct names and values of at most 1,024
/// characters, finite values within CloudWatch's range, RFC 3339 UTC timestamps.
///
/// # Errors
/// [`Error::InvalidMetricData`], naming the datum and what is wrong.
pub fn validate(namespace: &str, datums: &[MetricDatum]) -> Result<()> {
    let invalid = |reason: String| Error::InvalidMetricData {
        namespace: namespace.to_owned(),
        reason,
    };
    text("the namespace", namespace, MAX_NAME_LEN, true).map_err(&invalid)?;
    if namespace.starts_with("AWS/") {
        return Err(invalid(
            "namespaces starting with `AWS/` belong to AWS services\nhint: choose another, e.g. `tunebench`".into(),
        ));
    }
    for (i, d) in datums.iter().enumerate() {
        let at = |what: String| invalid(format!("datum {} (`{}`): {what}", i + 1, d.metric_name));
        text("the metric name", &d.metric_name, MAX_NAME_LEN, false).map_err(at)?;
        if d.dimensions.len() > MAX_DIMENSIONS {
            return Err(at(format!(
                "{} dimensions, CloudWatch takes at most {MAX_DIMENSIONS}",
                d.dimensions.len()
            )));
        }
        let mut names = BTreeSet::new();
        for dim in &d.dimensions {
            text("a dimension name", &dim.name, MAX_NAME_LEN, true).map_err(at)?;
            text(
                &format!("the value of dimension `{}`", dim.name),
                &dim.value,
                MAX_DIMENSION_VALUE_LEN,
                false,
            )
            .map_err(at)?;
            if !names.insert(dim.name.as_str()) {
                return Err(at(format!("dimension `{}` is given twice", dim.name)));
            }
        }
        // CloudWatch refuses NaN and the infinities, and magnitudes outside 2^-360..2^360.
        let magnitude = d.value.abs();
        let in_range = d.value.is_finite()
            && (magnitude == 0.0 || (2f64.powi(-360)..=2f64.powi(360)).contains(&magnitude));
        if !in_range {
            return Err(at(format!(
                "value {} cannot be sent\nhint: CloudWatch takes finite values between -2^360 and 2^360; leave a datum out when there is no value",
                d.value
            )));
        }
        DateTime::from_str(&d.timestamp, Format::DateTime).map_err(|e| {
            at(format!(
                "timestamp {:?} is not RFC 3339 in UTC ({e})",
                d.timestamp
            ))
        })?;
    }
    Ok(())
}

/// Checks a name or value: `min`imum 1 character, at most `max`, ASCII, no control
/// characters, not only whitespace; `name`s may not start with `:`.
fn text(what: &str, s: &str, max: usize, name: bool) -> std::result::Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii() || c.is_ascii_control()) {
        return Err(format!(
            "{what} {s:?} has the character {c:?}\nhint: CloudWatch takes printable ASCII only; rename it"
        ));
    }
    // ASCII: one byte per character.
    if s.len() > max {
        return Err(format!(
            "{what} has {} characters, CloudWatch takes at most {max}",
            s.len()
        ));
    }
    if name && s.starts_with(':') {
        return Err(format!(
            "{what} {s:?} starts with `:`, which CloudWatch refuses"
        ));
    }
    Ok(())
}

/// `datums`, validated, as the inputs of the `PutMetricData` calls that send them: at most
/// [`MAX_DATUMS_PER_CALL`] each, in order. No datums, no call.
///
/// # Errors
/// [`Error::InvalidMetricData`] (see [`validate`]).
pub fn batches(namespace: &str, datums: &[MetricDatum]) -> Result<Vec<MetricBatch>> {
    validate(namespace, datums)?;
    Ok(datums
        .chunks(MAX_DATUMS_PER_CALL)
        .map(|chunk| MetricBatch {
            namespace: namespace.to_owned(),
            metric_data: chunk.to_vec(),
        })
        .collect())
}

/// A blocking CloudWatch client.
pub struct CloudWatch {
    rt: Runtime,
    client: Client,
    audit: Option<Arc<AuditLog>>,
    max_attempts: u32,
}

impl CloudWatch {
    /// Builds a client from the default credential chain, `settings` (region, profile,
    /// endpoint override, audit log) and `opts` (the retries and audit log the Bedrock
    /// clients take too).
    ///
    /// # Errors
    /// [`Error::Runtime`], or [`Error::Io`] when the audit log cannot be opened.
    pub fn connect(settings: &AwsSettings, opts: &BedrockOptions) -> Result<CloudWatch> {
        let Blocking { rt, config, audit } = Blocking::start(settings, opts)?;
        Ok(CloudWatch {
            client: Client::new(&config),
            rt,
            audit,
            max_attempts: opts.max_attempts.max(1),
        })
    }

    /// The underlying SDK client, for calls this wrapper does not cover (run them with
    /// [`CloudWatch::block_on`]).
    pub fn sdk(&self) -> &Client {
        &self.client
    }

    /// Runs `fut` (e.g. an SDK call on [`CloudWatch::sdk`]) on this client's runtime.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }

    /// Sends `datums` to `namespace` in batches of at most [`MAX_DATUMS_PER_CALL`] (every
    /// datum is validated before the first call); returns the number of calls made.
    ///
    /// # Errors
    /// [`Error::InvalidMetricData`] before anything is sent; [`Error::CloudWatch`] when a
    /// call fails after the retries (the batches before it were sent).
    pub fn put_metric_data(&self, namespace: &str, datums: &[MetricDatum]) -> Result<usize> {
        let batches = batches(namespace, datums)?;
        for batch in &batches {
            self.send(batch)?;
        }
        Ok(batches.len())
    }

    fn send(&self, batch: &MetricBatch) -> Result<()> {
        let data = batch
            .metric_data
            .iter()
            .map(|d| {
                // `validate` parsed every timestamp already.
                let timestamp = DateTime::from_str(&d.timestamp, Format::DateTime).ok();
                types::MetricDatum::builder()
                    .metric_name(&d.metric_name)
                    .set_dimensions(Some(
                        d.dimensions
                            .iter()
                            .map(|x| {
                                types::Dimension::builder()
                                    .name(&x.name)
                                    .value(&x.value)
                                    .build()
                            })
                            .collect(),
                    ))
                    .value(d.value)
                    .unit(StandardUnit::from(d.unit.as_str()))
                    .set_timestamp(timestamp)
                    .build()
            })
            .collect();
        let resources = BTreeMap::from([
            ("namespace".to_owned(), batch.namespace.clone()),
            ("datums".to_owned(), batch.metric_data.len().to_string()),
        ]);
        let call = self
            .client
            .put_metric_data()
            .namespace(&batch.namespace)
            .set_metric_data(Some(data))
            .send();
        self.rt
            .block_on(audited(
                self.audit.as_deref(),
                "cloudwatch",
                "PutMetricData",
                resources,
                call,
                |_| Vec::new(),
            ))
            .map(|_| ())
            .map_err(|e| cloudwatch_error(&batch.namespace, self.max_attempts, &e))
    }
}

/// Turns an SDK error into [`Error::CloudWatch`] with a hint for the usual causes.
fn cloudwatch_error<E>(namespace: &str, max_attempts: u32, err: &SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message) = sdk_failure(err);
    let hint = match code.as_deref() {
        None => Some(
            "check the network, the region and the endpoint ([report] cloudwatch region / endpoint_url)"
                .to_owned(),
        ),
        Some("AccessDenied" | "AccessDeniedException") => Some(
            "the IAM identity needs `cloudwatch:PutMetricData` for this namespace (configs/iam-policy.json, statement TunebenchMetrics)"
                .to_owned(),
        ),
        Some("InvalidParameterValue" | "InvalidParameterCombination" | "MissingParameter") => Some(
            "the message names the field; CloudWatch refuses timestamps more than two weeks old, so publish a run's metrics within two weeks of it"
                .to_owned(),
        ),
        Some("Throttling" | "ThrottlingException" | "LimitExceeded") => Some(format!(
            "still throttled after {max_attempts} attempts with backoff: try again later or request a higher PutMetricData quota"
        )),
        Some("InternalServiceError" | "InternalServiceFault") => Some(format!(
            "the service failed {max_attempts} times; try again later"
        )),
        Some(
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "ExpiredTokenException",
        ) => Some(
            "check the credentials of the default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID) and the clock"
                .to_owned(),
        ),
        Some(_) => None,
    };
    Error::CloudWatch {
        namespace: namespace.to_owned(),
        message,
        hint,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn datum(name: &str) -> MetricDatum {
        MetricDatum {
            metric_name: name.into(),
            dimensions: vec![
                Dimension {
                    name: "suite".into(),
                    value: "gsm8k".into(),
                },
                Dimension {
                    name: "candidate".into(),
                    value: "tuned".into(),
                },
            ],
            value: 0.5,
            unit: Unit::None,
            timestamp: "2026-12-06T02:00:00Z".into(),
        }
    }

    fn reason(namespace: &str, d: &MetricDatum) -> String {
        match validate(namespace, std::slice::from_ref(d)) {
            Err(Error::InvalidMetricData { reason, .. }) => reason,
            other => panic!("expected InvalidMetricData, got {other:?}"),
        }
    }

    /// The trimmed service model committed under fixtures/aws.
    fn model() -> serde_json::Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/aws/cloudwatch-2010-08-01.trimmed.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn limits_and_units_are_the_service_models() {
        let m = model();
        let shapes = &m["shapes"];
        let max = |shape: &str| shapes[shape]["max"].as_u64().unwrap() as usize;
        assert_eq!(max("Namespace"), MAX_NAME_LEN);
        assert_eq!(max("MetricName"), MAX_NAME_LEN);
        assert_eq!(max("DimensionName"), MAX_NAME_LEN);
        assert_eq!(max("DimensionValue"), MAX_DIMENSION_VALUE_LEN);
        assert_eq!(max("Dimensions"), MAX_DIMENSIONS);
        let units: Vec<&str> = shapes["StandardUnit"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for unit in [Unit::Count, Unit::Milliseconds, Unit::None] {
            assert!(units.contains(&unit.as_str()), "{unit:?}");
            // The JSON a dry run prints holds the same name.
            assert_eq!(serde_json::to_value(unit).unwrap(), unit.as_str());
        }
        // Every key a datum serialises to is a member of the model's MetricDatum.
        let members = shapes["MetricDatum"]["members"].as_object().unwrap();
        let json = serde_json::to_value(datum("score")).unwrap();
        for key in json.as_object().unwrap().keys() {
            assert!(members.contains_key(key), "{key}");
        }
        let dim_members = shapes["Dimension"]["members"].as_object().unwrap();
        for key in json["Dimensions"][0].as_object().unwrap().keys() {
            assert!(dim_members.contains_key(key), "{key}");
        }
        let input = shapes["PutMetricDataInput"]["members"].as_object().unwrap();
        let batch =
            serde_json::to_value(&batches("tunebench", &[datum("score")]).unwrap()[0]).unwrap();
        for key in batch.as_object().unwrap().keys() {
            assert!(input.contains_key(key), "{key}");
        }
    }

    #[test]
    fn batches_hold_at_most_a_thousand_datums_in_order() {
        let datums: Vec<MetricDatum> = (0..2345).map(|i| datum(&format!("m{i}"))).collect();
        let b = batches("tunebench", &datums).unwrap();
        let sizes: Vec<usize> = b.iter().map(|b| b.metric_data.len()).collect();
        assert_eq!(sizes, [1000, 1000, 345]);
        assert_eq!(b[2].metric_data[0].metric_name, "m2000");
        assert!(batches("tunebench", &[]).unwrap().is_empty());
    }

    #[test]
    fn validation_names_the_datum_and_the_problem() {
        assert!(validate("tunebench", &[datum("score")]).is_ok());
        let mut d = datum("score");
        d.value = f64::NAN;
        assert!(reason("tunebench", &d).contains("datum 1 (`score`): value NaN"));
        d.value = f64::INFINITY;
        assert!(reason("tunebench", &d).contains("value inf"));
        d.value = 2f64.powi(361);
        assert!(reason("tunebench", &d).contains("-2^360 and 2^360"));
        d.value = 2f64.powi(-361);
        assert!(reason("tunebench", &d).contains("cannot be sent"));
        d.value = 0.0;
        assert!(validate("tunebench", std::slice::from_ref(&d)).is_ok());

        let long = "x".repeat(256);
        assert!(reason("tunebench", &datum(&long)).contains("256 characters"));
        assert!(validate("tunebench", &[datum(&"x".repeat(255))]).is_ok());
        assert!(reason("tunebench", &datum("")).contains("metric name is empty"));
        assert!(reason(&long, &datum("score")).contains("namespace has 256"));
        assert!(reason("AWS/Bedrock", &datum("score")).contains("belong to AWS"));
        assert!(reason(":ns", &datum("score")).contains("starts with `:`"));

        let mut d = datum("score");
        d.dimensions[1].value = "modèle".into();
        let r = reason("tunebench", &d);
        assert!(
            r.contains("dimension `candidate`") && r.contains("'è'"),
            "{r}"
        );
        d.dimensions[1].value = "v".repeat(1025);
        assert!(reason("tunebench", &d).contains("1025 characters"));
        d.dimensions[1].value = " ".into();
        assert!(reason("tunebench", &d).contains("is empty"));
        d.dimensions[1] = d.dimensions[0].clone();
        assert!(reason("tunebench", &d).contains("`suite` is given twice"));
        d.dimensions = (0..31)
            .map(|i| Dimension {
                name: format!("d{i}"),
                value: "v".into(),
            })
            .collect();
        assert!(reason("tunebench", &d).contains("31 dimensions"));
        d.dimensions.pop();
        assert!(validate("tunebench", std::slice::from_ref(&d)).is_ok());
        d.timestamp = "yesterday".into();
        assert!(reason("tunebench", &d).contains("not RFC 3339"));
    }
}
