//! Amazon Bedrock Runtime `Converse`, async, for eval's runner (which drives many calls
//! concurrently on its own tokio runtime). The client is cheap to clone; clones share the
//! connection pool, the retry token bucket and the audit log.
//!
//! Retries are the SDK's standard strategy (exponential backoff, full jitter); the audit line
//! of a call holds the model id, the token counts and the outcome, never the text.
//!
//! A request may name a service tier (`serviceTier`: priority, default, flex, reserved) and a
//! latency profile (`performanceConfig.latency`), and may mark its prompt prefix for prompt
//! caching: one `cachePoint` block after the system prompt and the few-shot turns (every turn
//! before the last), so that requests sharing that prefix read it from the cache. The
//! answer's usage then counts cache reads and writes apart from `inputTokens`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ConversationRole, ConverseOutput,
    ConverseTokensRequest, CountTokensInput, InferenceConfiguration, Message,
    PerformanceConfigLatency, PerformanceConfiguration, ServiceTierType, SystemContentBlock,
};

use crate::audit::{AuditLog, note};
use crate::bedrock::{BedrockOptions, bedrock_error, open_audit, sdk_config};
use crate::{AwsSettings, Error, Result};

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The user.
    User,
    /// The model.
    Assistant,
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Turn {
    /// Speaker.
    pub role: Role,
    /// Text.
    pub text: String,
}

/// Bedrock's processing tiers (`serviceTier.type` of Converse): what a request is billed at
/// and how it is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    /// Served first, at a premium.
    Priority,
    /// Standard on-demand.
    Default,
    /// Discounted, served when capacity allows (suits evaluations).
    Flex,
    /// Reserved capacity.
    Reserved,
}

impl ServiceTier {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Priority => "priority",
            ServiceTier::Default => "default",
            ServiceTier::Flex => "flex",
            ServiceTier::Reserved => "reserved",
        }
    }
}

/// Bedrock's latency profiles (`performanceConfig.latency` of Converse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyProfile {
    /// The standard model.
    Standard,
    /// The latency-optimized version of the model, where one exists.
    Optimized,
}

impl LatencyProfile {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            LatencyProfile::Standard => "standard",
            LatencyProfile::Optimized => "optimized",
        }
    }
}

/// A Converse request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConverseRequest {
    /// Model id, inference profile, provisioned model or deployment ARN.
    pub model_id: String,
    /// System prompt.
    pub system: Option<String>,
    /// The conversation, first turn first; the last is the user's.
    pub messages: Vec<Turn>,
    /// Max tokens to generate.
    pub max_tokens: Option<i32>,
    /// Sampling temperature (0–1).
    pub temperature: Option<f32>,
    /// Nucleus sampling (0–1).
    pub top_p: Option<f32>,
    /// Stop sequences.
    pub stop_sequences: Vec<String>,
    /// Service tier (`None`: the service's default).
    pub service_tier: Option<ServiceTier>,
    /// Latency profile (`None`: the service's default).
    pub latency: Option<LatencyProfile>,
    /// Mark the prompt prefix (system prompt and few-shot turns) with a `cachePoint`.
    pub cache_prompt: bool,
}

/// A Converse answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConverseReply {
    /// The answer's text blocks, joined.
    pub text: String,
    /// Input tokens billed.
    pub input_tokens: u64,
    /// Output tokens billed.
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache (billed at the cache-read rate, not counted
    /// in `input_tokens`).
    pub cache_read_tokens: u64,
    /// Input tokens written to the prompt cache (billed at the cache-write rate, not counted
    /// in `input_tokens`).
    pub cache_write_tokens: u64,
    /// The tier that served the request, as the service reports it.
    pub service_tier: Option<String>,
    /// `end_turn`, `max_tokens`, `stop_sequence`, ...
    pub stop_reason: String,
    /// The service's own latency figure.
    pub service_latency: Duration,
    /// Wall time here, retries and backoff included.
    pub wall_time: Duration,
    /// The service's request id.
    pub request_id: Option<String>,
}

/// An async Bedrock Runtime client.
#[derive(Clone)]
pub struct BedrockRuntime {
    client: Client,
    audit: Option<Arc<AuditLog>>,
    max_attempts: u32,
}

impl BedrockRuntime {
    /// Builds a client from the default credential chain, `settings` and `opts`. Call it
    /// inside a tokio runtime.
    pub async fn connect(settings: &AwsSettings, opts: &BedrockOptions) -> Result<BedrockRuntime> {
        let audit = open_audit(settings, opts)?;
        let shared = sdk_config(settings, opts).await;
        Ok(BedrockRuntime {
            client: Client::new(&shared),
            audit,
            max_attempts: opts.max_attempts.max(1),
        })
    }

    /// The underlying SDK client.
    pub fn sdk(&self) -> &Client {
        &self.client
    }

    /// Sends one conversation and returns the answer with its usage and latency.
    pub async fn converse(&self, req: &ConverseRequest) -> Result<ConverseReply> {
        let (system, messages) = conversation(req).map_err(|message| Error::Bedrock {
            operation: "Converse",
            target: req.model_id.clone(),
            code: None,
            message,
            hint: None,
        })?;
        let mut call = self
            .client
            .converse()
            .model_id(&req.model_id)
            .set_messages(Some(messages))
            .set_system(Some(system).filter(|s| !s.is_empty()));
        if req.max_tokens.is_some()
            || req.temperature.is_some()
            || req.top_p.is_some()
            || !req.stop_sequences.is_empty()
        {
            call = call.inference_config(
                InferenceConfiguration::builder()
                    .set_max_tokens(req.max_tokens)
                    .set_temperature(req.temperature)
                    .set_top_p(req.top_p)
                    .set_stop_sequences(if req.stop_sequences.is_empty() {
                        None
                    } else {
                        Some(req.stop_sequences.clone())
                    })
                    .build(),
            );
        }
        if let Some(tier) = req.service_tier {
            let tier = aws_sdk_bedrockruntime::types::ServiceTier::builder()
                .r#type(ServiceTierType::from(tier.as_str()))
                .build()
                .map_err(|e| Error::Bedrock {
                    operation: "Converse",
                    target: req.model_id.clone(),
                    code: None,
                    message: format!("building the request: {e}"),
                    hint: None,
                })?;
            call = call.service_tier(tier);
        }
        if let Some(latency) = req.latency {
            call = call.performance_config(
                PerformanceConfiguration::builder()
                    .latency(PerformanceConfigLatency::from(latency.as_str()))
                    .build(),
            );
        }
        let started = Instant::now();
        let result = call.send().await;
        let wall_time = started.elapsed();
        let resources = BTreeMap::from([("modelId".to_string(), req.model_id.clone())]);
        match result {
            Ok(o) => {
                let usage = o.usage();
                let input_tokens = usage.map_or(0, |u| u.input_tokens().max(0) as u64);
                let output_tokens = usage.map_or(0, |u| u.output_tokens().max(0) as u64);
                let cache_read_tokens = usage
                    .and_then(|u| u.cache_read_input_tokens())
                    .map_or(0, |n| n.max(0) as u64);
                let cache_write_tokens = usage
                    .and_then(|u| u.cache_write_input_tokens())
                    .map_or(0, |n| n.max(0) as u64);
                note(
                    self.audit.as_deref(),
                    "bedrock-runtime",
                    "Converse",
                    resources,
                    o.request_id().map(str::to_string),
                    None,
                    None,
                    wall_time,
                    BTreeMap::from([
                        ("input_tokens".to_string(), input_tokens),
                        ("output_tokens".to_string(), output_tokens),
                        ("cache_read_tokens".to_string(), cache_read_tokens),
                        ("cache_write_tokens".to_string(), cache_write_tokens),
                    ]),
                );
                let text = match o.output() {
                    Some(ConverseOutput::Message(m)) => m
                        .content()
                        .iter()
                        .filter_map(|b| match b {
                            ContentBlock::Text(t) => Some(t.as_str()),
                            _ => None,
                        })
                        .collect::<Vec<_>>()
                        .join(""),
                    _ => String::new(),
                };
                Ok(ConverseReply {
                    text,
                    input_tokens,
                    output_tokens,
                    cache_read_tokens,
                    cache_write_tokens,
                    service_tier: o.service_tier().map(|t| t.r#type().as_str().to_string()),
                    stop_reason: o.stop_reason().as_str().to_string(),
                    service_latency: Duration::from_millis(
                        o.metrics().map_or(0, |m| m.latency_ms().max(0) as u64),
                    ),
                    wall_time,
                    request_id: o.request_id().map(str::to_string),
                })
            }
            Err(e) => Err(self.failed("Converse", req, resources, wall_time, &e)),
        }
    }

    /// The input tokens `req` would be billed for, as the model counts them (`CountTokens`;
    /// not every model supports it: the error then says so). Nothing is generated or billed.
    pub async fn count_tokens(&self, req: &ConverseRequest) -> Result<u64> {
        let err = |message: String| Error::Bedrock {
            operation: "CountTokens",
            target: req.model_id.clone(),
            code: None,
            message,
            hint: None,
        };
        let (system, messages) = conversation(req).map_err(err)?;
        let input = ConverseTokensRequest::builder()
            .set_messages(Some(messages))
            .set_system(Some(system).filter(|s| !s.is_empty()))
            .build();
        let started = Instant::now();
        let result = self
            .client
            .count_tokens()
            .model_id(&req.model_id)
            .input(CountTokensInput::Converse(input))
            .send()
            .await;
        let wall_time = started.elapsed();
        let resources = BTreeMap::from([("modelId".to_string(), req.model_id.clone())]);
        match result {
            Ok(o) => {
                let tokens = o.input_tokens().max(0) as u64;
                note(
                    self.audit.as_deref(),
                    "bedrock-runtime",
                    "CountTokens",
                    resources,
                    o.request_id().map(str::to_string),
                    None,
                    None,
                    wall_time,
                    BTreeMap::from([("input_tokens".to_string(), tokens)]),
                );
                Ok(tokens)
            }
            Err(e) => Err(self.failed("CountTokens", req, resources, wall_time, &e)),
        }
    }

    /// The audit line and the error of a failed call.
    fn failed<E>(
        &self,
        operation: &'static str,
        req: &ConverseRequest,
        resources: BTreeMap<String, String>,
        wall_time: Duration,
        e: &aws_sdk_bedrockruntime::error::SdkError<E>,
    ) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        note(
            self.audit.as_deref(),
            "bedrock-runtime",
            operation,
            resources,
            e.request_id().map(str::to_string),
            Some(e.code().map(str::to_string)),
            e.raw_response().map(|r| r.status().as_u16()),
            wall_time,
            BTreeMap::new(),
        );
        bedrock_error(operation, req.model_id.clone(), self.max_attempts, e)
    }
}

/// The system blocks and messages of `req`, with its `cachePoint` when it asks for one:
/// after the last few-shot turn when there are turns before the final one, else after the
/// system prompt (a cache point caches everything before it).
fn conversation(
    req: &ConverseRequest,
) -> std::result::Result<(Vec<SystemContentBlock>, Vec<Message>), String> {
    let cache_point = || {
        CachePointBlock::builder()
            .r#type(CachePointType::Default)
            .build()
            .map_err(|e| format!("building the request: {e}"))
    };
    let prefix_turns = req.messages.len().saturating_sub(1);
    let mut system: Vec<SystemContentBlock> = req
        .system
        .iter()
        .map(|s| SystemContentBlock::Text(s.clone()))
        .collect();
    if req.cache_prompt && prefix_turns == 0 && !system.is_empty() {
        system.push(SystemContentBlock::CachePoint(cache_point()?));
    }
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, t) in req.messages.iter().enumerate() {
        let mut m = Message::builder()
            .role(match t.role {
                Role::User => ConversationRole::User,
                Role::Assistant => ConversationRole::Assistant,
            })
            .content(ContentBlock::Text(t.text.clone()));
        if req.cache_prompt && prefix_turns > 0 && i + 1 == prefix_turns {
            m = m.content(ContentBlock::CachePoint(cache_point()?));
        }
        messages.push(
            m.build()
                .map_err(|e| format!("building the request: {e}"))?,
        );
    }
    Ok((system, messages))
}
