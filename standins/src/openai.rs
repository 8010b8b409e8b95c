//! An OpenAI-compatible chat completions server on loopback, for the eval runner's tests and
//! benchmarks: `POST /v1/chat/completions` with the API's request and response shapes.
//!
//! Answers are deterministic (by default the last user message echoed back; or a map from
//! the last user message to an answer; or a closure), truncated to `max_tokens` words and cut
//! at the first stop string. Token counts are whitespace-separated words: `prompt_tokens` over
//! every message's content, `completion_tokens` over the answer, so tests can predict them.
//!
//! Faults, switchable at any time: the next N requests answered 429 (with `Retry-After` and
//! `retry-after-ms` when configured) or 500; a "throttling storm" that answers 429 to every
//! request beyond a concurrency capacity, as a rate-limited service does; a 400 for prompts
//! containing a marker; a 401 that echoes a wrong API key back (as OpenAI's does), to check
//! that clients scrub keys from errors. Counters say how many requests arrived and the most
//! that were in flight at once.
//!
//! It runs on its own thread and tokio runtime, so it works under any test harness, and
//! stops when dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

/// A parsed chat call, as an answer closure sees it.
#[derive(Debug, Clone)]
pub struct ChatCall {
    /// `model` of the request.
    pub model: String,
    /// `(role, content)` of every message, system included.
    pub messages: Vec<(String, String)>,
    /// The whole request body.
    pub body: Value,
}

impl ChatCall {
    /// Content of the last user message ("" when none).
    pub fn last_user(&self) -> &str {
        self.messages
            .iter()
            .rev()
            .find(|(role, _)| role == "user")
            .map(|(_, c)| c.as_str())
            .unwrap_or("")
    }
}

/// A closure that answers a call.
pub type AnswerFn = Arc<dyn Fn(&ChatCall) -> String + Send + Sync>;

/// How the server answers.
#[derive(Clone, Default)]
pub enum Answer {
    /// The last user message, unchanged.
    #[default]
    Echo,
    /// The value for the last user message; echo when absent.
    Map(HashMap<String, String>),
    /// Whatever the closure says.
    With(AnswerFn),
}

/// Server settings.
#[derive(Clone, Default)]
pub struct OpenAiConfig {
    /// Every answer waits this long first (429s from a storm answer at once).
    pub latency: Duration,
    /// Answer policy.
    pub answer: Answer,
    /// Require `Authorization: Bearer <key>`; a wrong key gets a 401 that echoes it.
    pub api_key: Option<String>,
    /// `Retry-After` sent with 429s (`None`: no header).
    pub retry_after: Option<Duration>,
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
struct Faults {
    throttle_next: u64,
    fail_next: u64,
    storm_capacity: Option<u64>,
    reject_marker: Option<String>,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    answered: AtomicU64,
    throttled: AtomicU64,
    failed: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

struct Shared {
    config: OpenAiConfig,
    faults: Mutex<Faults>,
    counters: Counters,
    last_body: Mutex<Option<Value>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running server; dropping it stops it.
pub struct OpenAiStandin {
    base_url: String,
    shared: Arc<Shared>,
    _server: crate::server::Server,
}

impl OpenAiStandin {
    /// Starts the server on `127.0.0.1:0` on its own thread and tokio runtime.
    pub fn start(config: OpenAiConfig) -> std::io::Result<OpenAiStandin> {
        let shared = Arc::new(Shared {
            config,
            faults: Mutex::new(Faults::default()),
            counters: Counters::default(),
            last_body: Mutex::new(None),
        });
        let server = crate::server::start("openai-standin", shared.clone(), handle)?;
        Ok(OpenAiStandin {
            base_url: format!("http://{}/v1", server.addr),
            shared,
            _server: server,
        })
    }

    /// `http://127.0.0.1:<port>/v1`, the `base_url` of a client.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Chat requests received (every status).
    pub fn requests(&self) -> u64 {
        self.shared.counters.requests.load(Ordering::SeqCst)
    }

    /// Requests answered 200.
    pub fn answered(&self) -> u64 {
        self.shared.counters.answered.load(Ordering::SeqCst)
    }

    /// Requests answered 429.
    pub fn throttled(&self) -> u64 {
        self.shared.counters.throttled.load(Ordering::SeqCst)
    }

    /// Requests answered 500.
    pub fn failed(&self) -> u64 {
        self.shared.counters.failed.load(Ordering::SeqCst)
    }

    /// The most requests in flight at once.
    pub fn max_in_flight(&self) -> u64 {
        self.shared.counters.max_in_flight.load(Ordering::SeqCst)
    }

    /// Sets every counter back to 0.
    pub fn reset_counters(&self) {
        let c = &self.shared.counters;
        for a in [
            &c.requests,
            &c.answered,
            &c.throttled,
            &c.failed,
            &c.max_in_flight,
        ] {
            a.store(0, Ordering::SeqCst);
        }
    }

    /// The body of the last chat request.
    pub fn last_request(&self) -> Option<Value> {
        lock(&self.shared.last_body).clone()
    }

    /// The next `n` requests are answered 429.
    pub fn throttle_next(&self, n: u64) {
        lock(&self.shared.faults).throttle_next = n;
    }

    /// The next `n` requests (after throttled ones) are answered 500.
    pub fn fail_next(&self, n: u64) {
        lock(&self.shared.faults).fail_next = n;
    }

    /// Throttling storm: while more than `capacity` requests are in flight, every new one is
    /// answered 429 at once. `None` ends the storm.
    pub fn storm(&self, capacity: Option<u64>) {
        lock(&self.shared.faults).storm_capacity = capacity;
    }

    /// Requests whose last user message contains `marker` are answered 400.
    pub fn reject_containing(&self, marker: Option<&str>) {
        lock(&self.shared.faults).reject_marker = marker.map(str::to_string);
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(
        status,
        &json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    )
}

/// Decrements the in-flight count when a request is done, however it ends.
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let shared = &*shared;
    if req.method() != hyper::Method::POST || req.uri().path() != "/v1/chat/completions" {
        return error(StatusCode::NOT_FOUND, "not_found", "unknown path");
    }
    let c = &shared.counters;
    c.requests.fetch_add(1, Ordering::SeqCst);
    let now = c.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _in_flight = InFlight(&c.in_flight);
    c.max_in_flight.fetch_max(now, Ordering::SeqCst);

    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Ok(body) = req.into_body().collect().await else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "unreadable body",
        );
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "body is not JSON",
        );
    };
    *lock(&shared.last_body) = Some(body.clone());

    if let Some(key) = &shared.config.api_key {
        let given = auth
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("");
        if given != key {
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                &format!("Incorrect API key provided: {given}."),
            );
        }
    }

    // Faults that answer at once, as a rate limiter in front of a service does.
    let (throttle, fail, marker) = {
        let mut f = lock(&shared.faults);
        let storm = f.storm_capacity.is_some_and(|cap| now > cap);
        let throttle = storm || f.throttle_next > 0;
        if !storm && f.throttle_next > 0 {
            f.throttle_next -= 1;
        }
        let fail = !throttle && f.fail_next > 0;
        if fail {
            f.fail_next -= 1;
        }
        (throttle, fail, f.reject_marker.clone())
    };
    if throttle {
        c.throttled.fetch_add(1, Ordering::SeqCst);
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "Rate limit reached; please retry later.",
        );
        if let Some(ra) = shared.config.retry_after {
            let h = r.headers_mut();
            if let Ok(v) = hyper::header::HeaderValue::from_str(&ra.as_millis().to_string()) {
                h.insert("retry-after-ms", v);
            }
            if let Ok(v) =
                hyper::header::HeaderValue::from_str(&ra.as_secs_f64().ceil().to_string())
            {
                h.insert(hyper::header::RETRY_AFTER, v);
            }
        }
        return r;
    }
    if fail {
        c.failed.fetch_add(1, Ordering::SeqCst);
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The server had an error while processing your request.",
        );
    }

    let call = ChatCall {
        model: body["model"].as_str().unwrap_or_default().to_string(),
        messages: body["messages"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        (
                            m["role"].as_str().unwrap_or_default().to_string(),
                            m["content"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        body: body.clone(),
    };
    if call.messages.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "'messages' must be a non-empty array",
        );
    }
    if let Some(marker) = marker
        && call.last_user().contains(&marker)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            &format!("This prompt was rejected by the stand-in (contains `{marker}`)."),
        );
    }

    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let mut text = match &shared.config.answer {
        Answer::Echo => call.last_user().to_string(),
        Answer::Map(m) => m
            .get(call.last_user())
            .cloned()
            .unwrap_or_else(|| call.last_user().to_string()),
        Answer::With(f) => f(&call),
    };
    if let Some(stops) = body["stop"].as_array() {
        let cut = stops
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.is_empty())
            .filter_map(|s| text.find(s))
            .min();
        if let Some(at) = cut {
            text.truncate(at);
        }
    }
    let mut finish = "stop";
    if let Some(max) = body["max_tokens"].as_u64()
        && words(&text) > max
    {
        text = text
            .split_whitespace()
            .take(max as usize)
            .collect::<Vec<_>>()
            .join(" ");
        finish = "length";
    }
    let prompt_tokens: u64 = call.messages.iter().map(|(_, c)| words(c)).sum();
    let completion_tokens = words(&text);
    c.answered.fetch_add(1, Ordering::SeqCst);
    json_response(
        StatusCode::OK,
        &json!({
            "id": format!("chatcmpl-standin-{}", c.requests.load(Ordering::SeqCst)),
            "object": "chat.completion",
            "created": 0,
            "model": call.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }),
    )
}

/// Whitespace-separated words: the stand-in's token count.
pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}
