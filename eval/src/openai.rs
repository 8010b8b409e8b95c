//! OpenAI-compatible chat completions client (`POST {base_url}/chat/completions`), which
//! OpenAI, Azure OpenAI's v1 API, vLLM, TGI, llama.cpp's server and LiteLLM all speak.
//!
//! Error classes follow the API's documented semantics: 429 is rate limiting (with
//! `Retry-After` or `retry-after-ms` when the server sends one), 408 / 409 / 5xx and network
//! failures are transient, every other 4xx is the request's fault and is not retried.
//!
//! The API key is read once from the environment variable the settings name, sent as a
//! sensitive header, and scrubbed from every error message (servers sometimes echo it back,
//! as OpenAI's "Incorrect API key provided: ..." does).

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde_json::{Value, json};

use crate::candidate::{BoxFuture, CallError, Candidate, Completion, OpenAiSettings};
use crate::error::{EvalError, Result};
use crate::types::{ChatRequest, Role};

/// How much of an error body goes into a message.
const MAX_ERROR_CHARS: usize = 500;

/// A candidate behind an OpenAI-compatible endpoint.
pub struct OpenAiCandidate {
    name: String,
    identity: String,
    url: String,
    model: String,
    client: reqwest::Client,
    /// Kept only to scrub it from error messages; never printed.
    api_key: Option<String>,
    timeout: Duration,
    concurrency: usize,
}

impl std::fmt::Debug for OpenAiCandidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // By hand so that the key can never reach a log through `{:?}`.
        f.debug_struct("OpenAiCandidate")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl OpenAiCandidate {
    /// Builds the client; fails when the API key variable is named but unset.
    pub fn new(settings: &OpenAiSettings) -> Result<Self> {
        let bad = |reason: String| EvalError::Candidate {
            name: settings.name.clone(),
            reason,
        };
        let api_key = match &settings.api_key_env {
            Some(var) => match std::env::var(var) {
                Ok(key) if !key.is_empty() => Some(key),
                _ => {
                    return Err(bad(format!(
                        "environment variable `{var}` (api_key_env) is not set\nhint: export {var}=... before running"
                    )));
                }
            },
            None => None,
        };
        if !(settings.timeout_s.is_finite() && settings.timeout_s > 0.0) {
            return Err(bad(format!(
                "timeout_s must be positive, got {}",
                settings.timeout_s
            )));
        }
        if settings.concurrency == 0 {
            return Err(bad("concurrency must be at least 1".into()));
        }
        let mut headers = HeaderMap::new();
        for (k, v) in &settings.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| bad(format!("header `{k}`: {e}")))?;
            let mut value = HeaderValue::from_str(v)
                .map_err(|_| bad(format!("header `{k}`: invalid value")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if let Some(key) = &api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| bad("the API key holds characters a header cannot carry".into()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(settings.concurrency.max(1) * 2)
            .build()
            .map_err(|e| bad(format!("HTTP client: {e}")))?;
        let base = settings.base_url.trim_end_matches('/');
        Ok(OpenAiCandidate {
            name: settings.name.clone(),
            identity: settings.identity(),
            url: format!("{base}/chat/completions"),
            model: settings.model.clone(),
            client,
            api_key,
            timeout: Duration::from_secs_f64(settings.timeout_s),
            concurrency: settings.concurrency,
        })
    }

    /// The request body for `req`.
    pub fn body(&self, req: &ChatRequest) -> Value {
        let mut messages = Vec::with_capacity(req.messages.len() + 1);
        if let Some(system) = &req.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        for m in &req.messages {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            messages.push(json!({"role": role, "content": m.content}));
        }
        let s = &req.sampling;
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "temperature": s.temperature,
            "max_tokens": s.max_tokens,
        });
        if let Some(top_p) = s.top_p {
            body["top_p"] = json!(top_p);
        }
        if !s.stop.is_empty() {
            body["stop"] = json!(s.stop);
        }
        if let Some(seed) = s.seed {
            body["seed"] = json!(seed);
        }
        body
    }

    /// `msg` with the API key replaced by `***`.
    fn scrub(&self, msg: String) -> String {
        match &self.api_key {
            Some(key) if msg.contains(key.as_str()) => msg.replace(key.as_str(), "***"),
            _ => msg,
        }
    }

    async fn call(&self, req: &ChatRequest) -> Result<Completion, CallError> {
        let response = self
            .client
            .post(&self.url)
            .json(&self.body(req))
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        if status.is_success() {
            let body: Value = response.json().await.map_err(|e| self.transport_error(e))?;
            return parse_completion(&body).map_err(|m| CallError::Fatal(self.scrub(m)));
        }
        let retry_after = retry_after(response.headers());
        let text = response.text().await.unwrap_or_default();
        let msg = self.scrub(format!(
            "HTTP {}: {}",
            status.as_u16(),
            error_message(&text)
        ));
        Err(match status.as_u16() {
            429 => CallError::Throttled { retry_after },
            408 | 409 | 500..=599 => CallError::Retryable(msg),
            _ => CallError::Fatal(msg),
        })
    }

    fn transport_error(&self, e: reqwest::Error) -> CallError {
        if e.is_timeout() {
            return CallError::Timeout;
        }
        let decode = e.is_decode();
        // The URL once, in front: it holds no key, and the message stays short. reqwest's
        // own text is only "error sending request"; the cause (connection refused, DNS,
        // TLS) is in its sources.
        let msg = self.scrub(format!(
            "{}: {}",
            self.url,
            crate::error::with_causes(&e.without_url())
        ));
        if decode {
            CallError::Fatal(format!("invalid response body: {msg}"))
        } else {
            CallError::Retryable(msg)
        }
    }
}

impl Candidate for OpenAiCandidate {
    fn name(&self) -> &str {
        &self.name
    }

    fn identity(&self) -> &str {
        &self.identity
    }

    fn default_concurrency(&self) -> usize {
        self.concurrency
    }

    fn default_timeout(&self) -> Option<Duration> {
        Some(self.timeout)
    }

    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, CallError>> {
        Box::pin(self.call(req))
    }
}

/// Text and usage of a chat completion response.
fn parse_completion(body: &Value) -> Result<Completion, String> {
    let choice = body
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| "response has no choices[0]".to_string())?;
    // `content` is null when the model only called tools or was filtered: an empty answer.
    let text = choice
        .get("message")
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let usage = body.get("usage");
    let count = |field: &str| {
        usage
            .and_then(|u| u.get(field))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(Completion {
        text,
        input_tokens: count("prompt_tokens"),
        output_tokens: count("completion_tokens"),
        ..Completion::default()
    })
}

/// `retry-after-ms` (Azure, OpenAI) or `Retry-After` in seconds. The HTTP-date form is
/// ignored: the runner's own backoff applies then.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let secs = get("retry-after-ms")
        .map(|ms| ms / 1000.0)
        .or_else(|| get(RETRY_AFTER.as_str()))?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// The server's message: `error.message` of an OpenAI error body, else the body, shortened.
fn error_message(body: &str) -> String {
    let parsed = serde_json::from_str::<Value>(body).ok();
    let msg = parsed
        .as_ref()
        .and_then(|v| {
            v.get("error")
                .and_then(|e| e.get("message").or(Some(e)))
                .or_else(|| v.get("message"))
        })
        .map(|m| {
            m.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m.to_string())
        })
        .unwrap_or_else(|| body.trim().to_string());
    if msg.chars().count() > MAX_ERROR_CHARS {
        let cut: String = msg.chars().take(MAX_ERROR_CHARS).collect();
        format!("{cut}...")
    } else {
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_message_reads_openai_error_bodies() {
        assert_eq!(
            error_message(
                r#"{"error": {"message": "bad max_tokens", "type": "invalid_request_error"}}"#
            ),
            "bad max_tokens"
        );
        assert_eq!(error_message("plain text\n"), "plain text");
        assert_eq!(error_message(&"x".repeat(600)).len(), MAX_ERROR_CHARS + 3);
    }

    #[test]
    fn retry_after_prefers_milliseconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        h.clear();
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }
}
