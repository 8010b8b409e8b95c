//! A loopback stand-in for Amazon Bedrock (control plane) and Bedrock Runtime, for tests.
//!
//! One HTTP/1.1 server on `127.0.0.1:<free port>` answers both services (their paths do not
//! overlap), so both SDK clients can take the same `endpoint_url`. Every request is checked
//! against the botocore service models in `standins/models/` (the models the AWS SDKs are
//! generated from): the operation is found from method and path, the input is assembled from
//! path labels, query string, headers and JSON body, and required members, types, lengths,
//! ranges, enums, patterns and nested shapes are checked. A request that fails is answered
//! with a `ValidationException` naming the member, and recorded: a test ends with
//! `standin.assert_valid()`. Our own responses are checked against the
//! output shapes too ([`BedrockStandin::invalid_responses`]).
//!
//! What it implements (with the state machines a client sees):
//! - model customization jobs: create (idempotent on `clientRequestToken`), get (InProgress →
//!   Completed after [`StandinConfig::polls_to_complete`] polls, sub-statuses moving along,
//!   metrics CSVs written to S3 on completion), list (filters, `nextToken` pages), stop;
//! - custom models (get), custom model deployments (Creating → Active), provisioned
//!   throughput (Creating → InService), model import jobs (InProgress → Completed), batch
//!   inference jobs (Submitted → InProgress → Completed or PartiallyCompleted; on completion
//!   the records are read from the S3 server, answered like Converse, with
//!   [`StandinConfig::batch_error_share`] of them failing, and written back as
//!   `<output>/<job id>/<input file>.out` plus `manifest.json.out`);
//! - Runtime `Converse` with a deterministic [`ConversePolicy`] and word-count token usage;
//!   `serviceTier` and `performanceConfig` are echoed, and a `cachePoint` caches the words
//!   before it (usage reports cache writes the first time, cache reads after); a resource
//!   ARN as `modelId` (provisioned, deployment, custom or imported model) must be one it made
//!   (an imported model once its import job completed), else 404; `CountTokens` counts a
//!   Converse input's words.
//!
//! Faults are injected through the handle: [`BedrockStandin::throttle_next`] (429
//! `ThrottlingException`), [`BedrockStandin::fail_next`] (500 `InternalServerException`),
//! [`BedrockStandin::set_latency`]. [`BedrockStandin::request_count`] counts requests per
//! operation, faulted ones included. Signatures are not checked.

pub(crate) mod model;
mod service;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

pub use model::skipped_patterns;

/// How the stand-in behaves.
#[derive(Clone)]
pub struct StandinConfig {
    /// Account id in the ARNs it makes.
    pub account_id: String,
    /// Region in the ARNs it makes.
    pub region: String,
    /// `GetModelCustomizationJob` (and the other Get calls of resources that take time)
    /// answer "done" from this poll on; 0 completes on the first Get.
    pub polls_to_complete: u32,
    /// A customization job whose `jobName` contains this text ends `Failed`.
    pub fail_jobs_named: Option<String>,
    /// S3-compatible endpoint that completed jobs write their metrics CSVs to (path-style,
    /// static credentials). `None`: no files are written.
    pub s3_endpoint: Option<String>,
    /// Converse answers.
    pub converse: ConversePolicy,
    /// `ListModelCustomizationJobs` page size when the request gives no `maxResults`.
    pub default_page_size: usize,
    /// Share (0–1, evenly spread) of a batch job's records answered with an error.
    pub batch_error_share: f64,
    /// Share of the *first* batch job's records left unprocessed, which then ends
    /// `PartiallyCompleted` (later jobs process everything: a retry succeeds).
    pub batch_unprocessed_share: f64,
}

impl Default for StandinConfig {
    fn default() -> Self {
        StandinConfig {
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            polls_to_complete: 3,
            fail_jobs_named: None,
            s3_endpoint: None,
            converse: ConversePolicy::Echo,
            default_page_size: 100,
            batch_error_share: 0.0,
            batch_unprocessed_share: 0.0,
        }
    }
}

/// A Converse answer as a function of `(model_id, last_user_text)`.
pub type AnswerFn = Arc<dyn Fn(&str, &str) -> String + Send + Sync>;

/// What `Converse` answers, from the model id and the last user message's text.
#[derive(Clone, Default)]
pub enum ConversePolicy {
    /// The last user text, unchanged.
    #[default]
    Echo,
    /// Always this text.
    Fixed(String),
    /// The answer given for this exact user text; echo for any other.
    Lookup(HashMap<String, String>),
    /// Any function of `(model_id, last_user_text)`.
    Func(AnswerFn),
}

impl ConversePolicy {
    pub(crate) fn answer(&self, model_id: &str, text: &str) -> String {
        match self {
            ConversePolicy::Echo => text.to_string(),
            ConversePolicy::Fixed(s) => s.clone(),
            ConversePolicy::Lookup(m) => m.get(text).cloned().unwrap_or_else(|| text.to_string()),
            ConversePolicy::Func(f) => f(model_id, text),
        }
    }
}

/// A request that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest {
    /// The operation it was routed to, or `"<unrouted>"`.
    pub operation: String,
    /// `METHOD /path?query`.
    pub request: String,
    /// One line per violated constraint, each naming the member path.
    pub errors: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Faults {
    throttle: u32,
    fail: u32,
    queued: std::collections::VecDeque<(u16, &'static str, String)>,
    latency: Duration,
}

pub(crate) struct Shared {
    pub config: StandinConfig,
    pub state: Mutex<service::State>,
    faults: Mutex<Faults>,
    counts: Mutex<BTreeMap<String, usize>>,
    last_inputs: Mutex<BTreeMap<String, serde_json::Value>>,
    invalid: Mutex<Vec<InvalidRequest>>,
    invalid_responses: Mutex<Vec<InvalidRequest>>,
    pub s3: tokio::sync::OnceCell<aws_sdk_s3::Client>,
    request_seq: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in a handler thread must not hide the state from the test that reads it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running stand-in; dropping it stops the server.
pub struct BedrockStandin {
    endpoint: String,
    shared: Arc<Shared>,
    _server: crate::server::Server,
}

impl BedrockStandin {
    /// Starts the server on `127.0.0.1:0` on its own thread and tokio runtime.
    pub fn start(config: StandinConfig) -> std::io::Result<BedrockStandin> {
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(service::State::default()),
            faults: Mutex::new(Faults::default()),
            counts: Mutex::new(BTreeMap::new()),
            last_inputs: Mutex::new(BTreeMap::new()),
            invalid: Mutex::new(Vec::new()),
            invalid_responses: Mutex::new(Vec::new()),
            s3: tokio::sync::OnceCell::new(),
            request_seq: std::sync::atomic::AtomicU64::new(0),
        });
        let server = crate::server::start("bedrock-standin", shared.clone(), handle)?;
        Ok(BedrockStandin {
            endpoint: format!("http://{}", server.addr),
            shared,
            _server: server,
        })
    }

    /// `http://127.0.0.1:<port>`, for `endpoint_url` of both SDK clients.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint
    }

    /// Requests that failed validation, oldest first.
    pub fn invalid_requests(&self) -> Vec<InvalidRequest> {
        lock(&self.shared.invalid).clone()
    }

    /// Responses of ours that did not match the model's output shapes (a stand-in bug).
    pub fn invalid_responses(&self) -> Vec<InvalidRequest> {
        lock(&self.shared.invalid_responses).clone()
    }

    /// Panics, listing them, when a request failed validation or one of our answers did not
    /// match the service model's output shapes: how a test that used the stand-in ends.
    pub fn assert_valid(&self) {
        let requests = self.invalid_requests();
        assert!(requests.is_empty(), "invalid requests: {requests:#?}");
        let responses = self.invalid_responses();
        assert!(responses.is_empty(), "invalid responses: {responses:#?}");
    }

    /// The next `n` requests are answered 429 `ThrottlingException`.
    pub fn throttle_next(&self, n: u32) {
        lock(&self.shared.faults).throttle = n;
    }

    /// The next `n` requests (after any throttled ones) are answered 500
    /// `InternalServerException`.
    pub fn fail_next(&self, n: u32) {
        lock(&self.shared.faults).fail = n;
    }

    /// The next request (after any throttled or failed ones) is answered with this error,
    /// e.g. `(403, "AccessDeniedException", "User: ... is not authorized to perform: ...")`.
    /// Calls queue up.
    pub fn error_next(&self, status: u16, error_type: &'static str, message: &str) {
        lock(&self.shared.faults)
            .queued
            .push_back((status, error_type, message.to_string()));
    }

    /// Every answer waits this long first.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.faults).latency = latency;
    }

    /// Requests routed to `operation` (e.g. `"Converse"`), faulted and invalid ones included.
    pub fn request_count(&self, operation: &str) -> usize {
        lock(&self.shared.counts)
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// The input of the latest valid request to `operation`, as assembled from path, query,
    /// headers and body (members named as in the service model): what the SDK sent.
    pub fn last_input(&self, operation: &str) -> Option<serde_json::Value> {
        lock(&self.shared.last_inputs).get(operation).cloned()
    }

    /// All per-operation request counts.
    pub fn request_counts(&self) -> BTreeMap<String, usize> {
        lock(&self.shared.counts).clone()
    }

    /// Number of customization jobs created so far (idempotent repeats do not count).
    pub fn customization_job_count(&self) -> usize {
        lock(&self.shared.state).jobs.len()
    }
}

/// An answer before it is serialised.
pub(crate) struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub error_type: Option<&'static str>,
}

impl Reply {
    pub fn ok(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            body,
            error_type: None,
        }
    }

    pub fn error(status: u16, error_type: &'static str, message: impl Into<String>) -> Reply {
        Reply {
            status,
            body: serde_json::json!({ "message": message.into() }),
            error_type: Some(error_type),
        }
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let seq = shared
        .request_seq
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let request_id = format!("{:08x}-5a5a-4b1d-8e00-{:012x}", std::process::id(), seq);
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let request_line = if query.is_empty() {
        format!("{method} {path}")
    } else {
        format!("{method} {path}?{query}")
    };
    let latency = lock(&shared.faults).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let reply = 'reply: {
        let Some(routed) = model::route(&method, &path) else {
            lock(&shared.counts)
                .entry("<unrouted>".into())
                .and_modify(|n| *n += 1)
                .or_insert(1);
            let msg = format!("no Bedrock or Bedrock Runtime operation answers {request_line}");
            lock(&shared.invalid).push(InvalidRequest {
                operation: "<unrouted>".into(),
                request: request_line.clone(),
                errors: vec![msg.clone()],
            });
            break 'reply Reply::error(404, "UnknownOperationException", msg);
        };
        let op = routed.route.operation.clone();
        *lock(&shared.counts).entry(op.clone()).or_insert(0) += 1;
        {
            let mut f = lock(&shared.faults);
            if f.throttle > 0 {
                f.throttle -= 1;
                break 'reply Reply::error(
                    429,
                    "ThrottlingException",
                    "Too many requests, please wait before trying again.",
                );
            }
            if f.fail > 0 {
                f.fail -= 1;
                break 'reply Reply::error(
                    500,
                    "InternalServerException",
                    "An internal server error occurred. Retry your request.",
                );
            }
            if let Some((status, t, msg)) = f.queued.pop_front() {
                break 'reply Reply::error(status, t, msg);
            }
        }
        let pairs = model::query_pairs(&query);
        let input = match routed.model.read_input(
            routed.route,
            &routed.labels,
            &pairs,
            &parts.headers,
            &body,
        ) {
            Ok(v) => v,
            Err(errors) => {
                let n = errors.len();
                let msg = format!(
                    "{n} validation error{} detected: {}",
                    if n == 1 { "" } else { "s" },
                    errors.join("; ")
                );
                lock(&shared.invalid).push(InvalidRequest {
                    operation: op.clone(),
                    request: request_line.clone(),
                    errors,
                });
                break 'reply Reply::error(400, "ValidationException", msg);
            }
        };
        lock(&shared.last_inputs).insert(op.clone(), input.clone());
        let reply = service::dispatch(&shared, &op, input).await;
        if reply.error_type.is_none() {
            let errors = routed.model.check_output(routed.route, &reply.body);
            if !errors.is_empty() {
                lock(&shared.invalid_responses).push(InvalidRequest {
                    operation: op.clone(),
                    request: request_line.clone(),
                    errors,
                });
            }
            break 'reply Reply {
                status: routed.route.status,
                ..reply
            };
        }
        reply
    };

    let mut builder = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json")
        .header("x-amzn-RequestId", &request_id);
    if let Some(t) = reply.error_type {
        builder = builder.header("x-amzn-ErrorType", t);
    }
    let bytes = serde_json::to_vec(&reply.body).unwrap_or_default();
    builder
        .body(Full::new(Bytes::from(bytes)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}
