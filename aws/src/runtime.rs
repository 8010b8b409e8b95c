//! Amazon Bedrock Runtime `Converse`, async, for eval's runner (which drives many calls
//! concurrently on its own tokio runtime). The client is cheap to clone; clones share the
//! connection pool, the retry token bucket and the audit log.
//!
//! Retries are the SDK's standard strategy (exponential backoff, full jitter); the audit line
//! of a call holds the model id, the token counts and the outcome, never the text.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::operation::RequestId;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration, Message,
    SystemContentBlock,
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
        let messages = req
            .messages
            .iter()
            .map(|t| {
                Message::builder()
                    .role(match t.role {
                        Role::User => ConversationRole::User,
                        Role::Assistant => ConversationRole::Assistant,
                    })
                    .content(ContentBlock::Text(t.text.clone()))
                    .build()
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Bedrock {
                operation: "Converse",
                target: req.model_id.clone(),
                code: None,
                message: format!("building the request: {e}"),
                hint: None,
            })?;
        let mut call = self
            .client
            .converse()
            .model_id(&req.model_id)
            .set_messages(Some(messages));
        if let Some(s) = &req.system {
            call = call.system(SystemContentBlock::Text(s.clone()));
        }
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
        let started = Instant::now();
        let result = call.send().await;
        let wall_time = started.elapsed();
        let resources = BTreeMap::from([("modelId".to_string(), req.model_id.clone())]);
        match result {
            Ok(o) => {
                let usage = o.usage();
                let input_tokens = usage.map_or(0, |u| u.input_tokens().max(0) as u64);
                let output_tokens = usage.map_or(0, |u| u.output_tokens().max(0) as u64);
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
                    stop_reason: o.stop_reason().as_str().to_string(),
                    service_latency: Duration::from_millis(
                        o.metrics().map_or(0, |m| m.latency_ms().max(0) as u64),
                    ),
                    wall_time,
                    request_id: o.request_id().map(str::to_string),
                })
            }
            Err(e) => {
                note(
                    self.audit.as_deref(),
                    "bedrock-runtime",
                    "Converse",
                    resources,
                    e.request_id().map(str::to_string),
                    Some(e.code().map(str::to_string)),
                    e.raw_response().map(|r| r.status().as_u16()),
                    wall_time,
                    BTreeMap::new(),
                );
                Err(bedrock_error(
                    "Converse",
                    req.model_id.clone(),
                    self.max_attempts,
                    &e,
                ))
            }
        }
    }
}
