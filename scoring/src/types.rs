//! The records that pass between the parts of an evaluation: a rendered request for one
//! example, and what a candidate answered (or why it did not).
//!
//! The calling side (candidates, runner, cache, accounting) turns [`ExampleRequest`]s into
//! [`ResponseRecord`]s; the scoring side (metrics, statistics, reports) reads only
//! [`ResponseRecord`]s, so recorded responses from elsewhere score the same way.

use serde::{Deserialize, Serialize};

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user (prompt, few-shot questions).
    User,
    /// The model (few-shot answers).
    Assistant,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// What is said.
    pub content: String,
}

/// Sampling parameters; every one of them is part of the response-cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sampling {
    /// 0 = greedy.
    pub temperature: f32,
    /// Nucleus sampling; `None` = off.
    pub top_p: Option<f32>,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Sampler seed where the candidate supports one.
    pub seed: Option<u64>,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.0,
            top_p: None,
            max_tokens: 256,
            stop: Vec::new(),
            seed: None,
        }
    }
}

/// A fully rendered chat request (system prompt, few-shot turns, the example's prompt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// System prompt.
    pub system: Option<String>,
    /// Messages in order; the last is the example's user prompt.
    pub messages: Vec<Message>,
    /// Sampling parameters.
    pub sampling: Sampling,
    /// Score continuations by log-likelihood instead of generating (local candidates);
    /// `None` = generate. Left out of the JSON when `None`, so generation requests keep
    /// their cache keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scoring: Option<Scoring>,
}

/// A log-likelihood request: what the prompt (rendered as for generation) is continued with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scoring {
    /// Multiple choice: the answer text is the choice whose continuation is most likely
    /// (the first one on ties), so text metrics (`accuracy`, `exact_match`) score it.
    Choices {
        /// The choices, as the answer would name them.
        choices: Vec<String>,
        /// Put before each choice when it continues the prompt (e.g. `" "`).
        prefix: String,
        /// How the summed log-probabilities are compared.
        length_norm: LengthNorm,
    },
    /// The log-likelihood of `continuation` after the prompt; the answer text is
    /// [`Loglikelihood`] as JSON (`{"logprob": -12.5, "tokens": 7}`), which the
    /// `loglikelihood` metric reads.
    Continuation {
        /// The text to score (the example's reference).
        continuation: String,
    },
}

/// How multiple-choice log-probabilities are normalised for length before the argmax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LengthNorm {
    /// The summed log-probability (lm-evaluation-harness `acc`).
    #[default]
    None,
    /// Divided by the choice's token count.
    Tokens,
    /// Divided by the choice's length in characters, prefix included
    /// (lm-evaluation-harness `acc_norm`).
    Chars,
}

impl LengthNorm {
    /// The score compared across choices.
    pub fn apply(self, logprob: f64, tokens: usize, text: &str) -> f64 {
        let by = match self {
            LengthNorm::None => return logprob,
            LengthNorm::Tokens => tokens,
            LengthNorm::Chars => text.chars().count(),
        };
        logprob / by.max(1) as f64
    }
}

/// The answer to a [`Scoring::Continuation`] request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loglikelihood {
    /// Summed log-probability (natural log) of the continuation's tokens.
    pub logprob: f64,
    /// How many tokens that is.
    pub tokens: u64,
}

/// The request for one example of a suite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleRequest {
    /// The example's id (unique within the suite).
    pub id: String,
    /// What to send.
    pub request: ChatRequest,
}

/// What one candidate answered for one example: one line of `responses.jsonl`. Every
/// example of a run gets one, with `error` set when no answer could be had.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseRecord {
    /// The example's id.
    pub id: String,
    /// The answer text (empty when `error` is set).
    #[serde(default)]
    pub text: String,
    /// Input tokens (from the API's usage, or the tokenizer for local models).
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Input tokens read from a prompt cache (Bedrock prompt caching), apart from
    /// `input_tokens`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_read_tokens: u64,
    /// Input tokens written to a prompt cache, apart from `input_tokens`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_tokens: u64,
    /// Wall time of the call in milliseconds (that of the original call for cached answers);
    /// 0 when unknown (recorded responses without it), which the latency statistics skip.
    #[serde(default)]
    pub latency_ms: f64,
    /// Dollars this answer cost (0 for a cache hit in this run's spend; see `cached`).
    #[serde(default)]
    pub cost_usd: f64,
    /// Whether the answer came from the response cache.
    #[serde(default)]
    pub cached: bool,
    /// Why there is no answer (after retries), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ResponseRecord {
    /// The record of an example that got no answer, and why.
    pub fn failed(id: impl Into<String>, error: impl Into<String>) -> Self {
        ResponseRecord {
            id: id.into(),
            error: Some(error.into()),
            ..ResponseRecord::default()
        }
    }
}
