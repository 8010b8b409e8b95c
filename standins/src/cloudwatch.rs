//! A loopback Amazon CloudWatch speaking the protocol the AWS SDK for Rust uses for it,
//! Smithy RPC v2 CBOR (`POST /service/GraniteServiceVersion20100801/operation/<Op>`, CBOR
//! bodies, gzip-compressed requests accepted). moto's server, which the S3 tests use, routes
//! CloudWatch only by the query and JSON protocols, so it cannot stand in here.
//!
//! - `PutMetricData`: the input is validated against botocore's CloudWatch model (its
//!   trimmed copy in `fixtures/aws/`, as the service's front door would: required members,
//!   lengths, ranges, enums), then every datum is kept;
//! - `GetMetricData`: `MetricStat` queries over the kept datums with exactly the query's
//!   dimensions, by period, with the statistics `Maximum`, `Minimum`, `Sum`, `Average` and
//!   `SampleCount`, newest first;
//! - `ListMetrics`: the metrics of a namespace (optionally one metric name).
//!
//! Invalid requests get the service's error shape and are kept for the test to read
//! ([`CloudWatchStandin::invalid_requests`]).

mod cbor;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::Value;

use crate::bedrock::model::ServiceModel;
use crate::server::{self, Server};
use cbor::Writer;

const MODEL_JSON: &str = include_str!("../../fixtures/aws/cloudwatch-2010-08-01.trimmed.json");
const PATH_PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";

/// One datum as kept.
#[derive(Debug, Clone, PartialEq)]
struct Datum {
    /// Namespace.
    pub namespace: String,
    /// Metric name.
    pub metric_name: String,
    /// Dimensions, sorted by name.
    pub dimensions: Vec<(String, String)>,
    /// Epoch seconds.
    pub timestamp: f64,
    /// Value.
    pub value: f64,
    /// Unit, if sent.
    pub unit: Option<String>,
}

#[derive(Default)]
struct Shared {
    data: Mutex<Vec<Datum>>,
    invalid: Mutex<Vec<String>>,
    counts: Mutex<BTreeMap<String, usize>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running stand-in; dropping it stops the server.
pub struct CloudWatchStandin {
    _server: Server,
    shared: Arc<Shared>,
    url: String,
}

impl CloudWatchStandin {
    /// Starts the stand-in on `127.0.0.1`, on a port of its own.
    ///
    /// # Errors
    /// The listener or its thread cannot be started.
    pub fn start() -> std::io::Result<CloudWatchStandin> {
        let shared = Arc::new(Shared::default());
        let server = server::start("cloudwatch-standin", shared.clone(), handle)?;
        let url = format!("http://{}", server.addr);
        Ok(CloudWatchStandin {
            _server: server,
            shared,
            url,
        })
    }

    /// `http://127.0.0.1:<port>`, the endpoint URL to give the SDK.
    pub fn endpoint_url(&self) -> &str {
        &self.url
    }

    /// Why each refused request was refused (operation: errors).
    pub fn invalid_requests(&self) -> Vec<String> {
        lock(&self.shared.invalid).clone()
    }

    /// Requests routed to `operation`, refused ones included.
    pub fn request_count(&self, operation: &str) -> usize {
        lock(&self.shared.counts)
            .get(operation)
            .copied()
            .unwrap_or(0)
    }
}

fn model() -> &'static ServiceModel {
    static MODEL: std::sync::OnceLock<ServiceModel> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| ServiceModel::parse(MODEL_JSON))
}

fn reply(status: u16, body: Vec<u8>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("smithy-protocol", "rpc-v2-cbor")
        .header("content-type", "application/cbor")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The service's error: `__type` and `message`.
fn error(
    shared: &Shared,
    status: u16,
    kind: &str,
    operation: &str,
    message: &str,
) -> Response<Full<Bytes>> {
    lock(&shared.invalid).push(format!("{operation}: {message}"));
    let mut w = Writer::default();
    w.map(2)
        .text("__type")
        .text(kind)
        .text("message")
        .text(message);
    reply(status, w.0)
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let Some(operation) = path.strip_prefix(PATH_PREFIX).map(str::to_owned) else {
        return error(
            &shared,
            404,
            "UnknownOperationException",
            "<unrouted>",
            &format!("no CloudWatch operation answers {path}"),
        );
    };
    *lock(&shared.counts).entry(operation.clone()).or_insert(0) += 1;
    if parts
        .headers
        .get("smithy-protocol")
        .and_then(|v| v.to_str().ok())
        != Some("rpc-v2-cbor")
    {
        return error(
            &shared,
            400,
            "ValidationException",
            &operation,
            "missing the header smithy-protocol: rpc-v2-cbor",
        );
    }
    let gzip = parts
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        == Some("gzip");
    let raw = if gzip {
        let mut out = Vec::new();
        if let Err(e) = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out) {
            return error(
                &shared,
                400,
                "ValidationException",
                &operation,
                &format!("a gzip body that does not inflate: {e}"),
            );
        }
        out
    } else {
        body.to_vec()
    };
    let input = if raw.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        match cbor::decode(&raw) {
            Ok(v) => v,
            Err(e) => {
                return error(
                    &shared,
                    400,
                    "SerializationException",
                    &operation,
                    &format!("the body is not CBOR: {e}"),
                );
            }
        }
    };
    match operation.as_str() {
        "PutMetricData" => put_metric_data(&shared, &input),
        "GetMetricData" => reply(200, get_metric_data(&shared, &input)),
        "ListMetrics" => reply(200, list_metrics(&shared, &input)),
        other => error(
            &shared,
            400,
            "UnknownOperationException",
            other,
            &format!("{other} is not served by this stand-in"),
        ),
    }
}

fn dimensions(v: &Value) -> Vec<(String, String)> {
    let mut dims: Vec<(String, String)> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    (
                        d["Name"].as_str().unwrap_or("").to_owned(),
                        d["Value"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    dims.sort();
    dims
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn put_metric_data(shared: &Shared, input: &Value) -> Response<Full<Bytes>> {
    let errors = model().check_input("PutMetricDataInput", input);
    if !errors.is_empty() {
        return error(
            shared,
            400,
            "InvalidParameterValueException",
            "PutMetricData",
            &errors.join("; "),
        );
    }
    let namespace = input["Namespace"].as_str().unwrap_or("").to_owned();
    if namespace.starts_with("AWS/") {
        return error(
            shared,
            400,
            "InvalidParameterValueException",
            "PutMetricData",
            "The value AWS/ for parameter Namespace is invalid.",
        );
    }
    let mut data = lock(&shared.data);
    for d in input["MetricData"].as_array().into_iter().flatten() {
        let Some(value) = d["Value"].as_f64() else {
            continue;
        };
        data.push(Datum {
            namespace: namespace.clone(),
            metric_name: d["MetricName"].as_str().unwrap_or("").to_owned(),
            dimensions: dimensions(&d["Dimensions"]),
            timestamp: d["Timestamp"].as_f64().unwrap_or_else(now),
            value,
            unit: d["Unit"].as_str().map(str::to_owned),
        });
    }
    let mut w = Writer::default();
    w.map(0);
    reply(200, w.0)
}

/// The statistic `stat` of `values` (not empty).
fn statistic(stat: &str, values: &[f64]) -> Option<f64> {
    let sum: f64 = values.iter().sum();
    Some(match stat {
        "Maximum" => values.iter().copied().fold(f64::MIN, f64::max),
        "Minimum" => values.iter().copied().fold(f64::MAX, f64::min),
        "Sum" => sum,
        "Average" => sum / values.len() as f64,
        "SampleCount" => values.len() as f64,
        _ => return None,
    })
}

fn get_metric_data(shared: &Shared, input: &Value) -> Vec<u8> {
    let start = input["StartTime"].as_f64().unwrap_or(0.0);
    let end = input["EndTime"].as_f64().unwrap_or(f64::MAX);
    let data = lock(&shared.data);
    let queries = input["MetricDataQueries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut w = Writer::default();
    w.map(1).text("MetricDataResults").array(queries.len());
    for q in &queries {
        let stat = &q["MetricStat"];
        let metric = &stat["Metric"];
        let period = stat["Period"].as_f64().unwrap_or(60.0).max(1.0);
        let dims = dimensions(&metric["Dimensions"]);
        let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for d in data.iter().filter(|d| {
            Some(d.namespace.as_str()) == metric["Namespace"].as_str()
                && Some(d.metric_name.as_str()) == metric["MetricName"].as_str()
                && d.dimensions == dims
                && d.timestamp >= start
                && d.timestamp < end
        }) {
            buckets
                .entry((d.timestamp / period).floor() as i64)
                .or_default()
                .push(d.value);
        }
        let points: Vec<(f64, f64)> = buckets
            .iter()
            .rev()
            .filter_map(|(b, v)| {
                Some((
                    *b as f64 * period,
                    statistic(stat["Stat"].as_str().unwrap_or(""), v)?,
                ))
            })
            .collect();
        let id = q["Id"].as_str().unwrap_or("");
        let label = format!(
            "{} {}",
            metric["MetricName"].as_str().unwrap_or(""),
            stat["Stat"].as_str().unwrap_or("")
        );
        w.map(5)
            .text("Id")
            .text(id)
            .text("Label")
            .text(&label)
            .text("Timestamps")
            .array(points.len());
        for (t, _) in &points {
            w.timestamp(*t);
        }
        w.text("Values").array(points.len());
        for (_, v) in &points {
            w.f64(*v);
        }
        w.text("StatusCode").text("Complete");
    }
    w.0
}

fn list_metrics(shared: &Shared, input: &Value) -> Vec<u8> {
    let data = lock(&shared.data);
    /// Namespace, metric name, dimensions.
    type Metric<'a> = (&'a str, &'a str, &'a [(String, String)]);
    let mut metrics: Vec<Metric<'_>> = data
        .iter()
        .filter(|d| input["Namespace"].as_str().is_none_or(|n| n == d.namespace))
        .filter(|d| {
            input["MetricName"]
                .as_str()
                .is_none_or(|n| n == d.metric_name)
        })
        .map(|d| {
            (
                d.namespace.as_str(),
                d.metric_name.as_str(),
                d.dimensions.as_slice(),
            )
        })
        .collect();
    metrics.sort();
    metrics.dedup();
    let mut w = Writer::default();
    w.map(1).text("Metrics").array(metrics.len());
    for (namespace, name, dims) in metrics {
        w.map(3)
            .text("Namespace")
            .text(namespace)
            .text("MetricName")
            .text(name)
            .text("Dimensions")
            .array(dims.len());
        for (n, v) in dims {
            w.map(2).text("Name").text(n).text("Value").text(v);
        }
    }
    w.0
}
