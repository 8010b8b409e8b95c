//! Candidates: the models an evaluation calls, behind one dyn-compatible [`Candidate`] trait,
//! and their settings as they appear in a pipeline config (`[[eval.candidates]]`).
//!
//! A candidate turns one [`ChatRequest`] into a [`Completion`] or a [`CallError`]; the
//! [`CallError`] class tells the runner what to do next (wait and retry, back off and retry,
//! give up). Concurrency, retries, caching and cost live in the runner, not here, so a new
//! kind of candidate only has to make one call.
//!
//! The trait is async through boxed futures rather than `async fn` so that
//! `Arc<dyn Candidate>` works (the runner holds candidates of different kinds side by side).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use tunebench_aws::{LatencyProfile, ServiceTier};
use tunebench_models::WeightDtype;

use crate::error::{EvalError, Result};
use crate::types::ChatRequest;

/// A boxed, sendable future (what `futures::future::BoxFuture` is, without the dependency).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One answer of a candidate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    /// The generated text (stop sequence excluded).
    pub text: String,
    /// Prompt tokens, as the candidate counts them (API usage, or the local tokenizer).
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the service's prompt cache (apart from `input_tokens`).
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the service's prompt cache (apart from `input_tokens`).
    pub cache_write_tokens: u64,
}

/// Why one call failed, classified by what the caller should do about it.
///
/// Messages never contain credentials: the OpenAI client scrubs its API key from anything it
/// puts here, including what the server echoed back.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The service is rate limiting (HTTP 429, Bedrock `ThrottlingException`): slow down,
    /// wait at least `retry_after` when the service said how long, and retry.
    #[error("throttled{}", .retry_after.map(|d| format!(" (retry after {:.3} s)", d.as_secs_f64())).unwrap_or_default())]
    Throttled {
        /// The service's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// A transient failure (HTTP 5xx, connection reset): retry with backoff.
    #[error("{0}")]
    Retryable(String),
    /// A failure that retrying cannot fix (HTTP 4xx other than 408/429, a bad request, a
    /// model that fails on this input): record it and move on.
    #[error("{0}")]
    Fatal(String),
    /// The call took longer than the per-call timeout: retried like [`CallError::Retryable`].
    #[error("timed out")]
    Timeout,
}

/// A model that answers chat requests.
pub trait Candidate: Send + Sync {
    /// The name the user gave it (report column, directory name).
    fn name(&self) -> &str;

    /// A stable string that identifies what answers: the response-cache key is built from it
    /// and the request, so two candidates with the same identity share cached answers.
    /// `openai:<base_url>:<model>` for endpoints, `local:<sha256 of weights, config,
    /// tokenizer>[+adapter:<sha256 of adapter files>]` for local models.
    fn identity(&self) -> &str;

    /// How many calls the candidate should have in flight when the run does not say.
    fn default_concurrency(&self) -> usize {
        1
    }

    /// The per-call timeout when the run does not say (`None`: no timeout).
    fn default_timeout(&self) -> Option<Duration> {
        None
    }

    /// Answers one request.
    fn complete<'a>(&'a self, req: &'a ChatRequest)
    -> BoxFuture<'a, Result<Completion, CallError>>;
}

/// A candidate as configured: `kind` picks the variant.
///
/// ```toml
/// [[eval.candidates]]
/// kind = "openai"
/// name = "gpt-4o-mini"
/// base_url = "https://api.openai.com/v1"
/// model = "gpt-4o-mini"
/// api_key_env = "OPENAI_API_KEY"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CandidateSettings {
    /// An OpenAI-compatible chat completions endpoint (OpenAI, vLLM, TGI, llama.cpp server...).
    Openai(OpenAiSettings),
    /// A local Llama-family model, optionally with a LoRA adapter.
    Local(LocalSettings),
    /// Recorded responses (`responses.jsonl`) scored as they are; nothing is called, so the
    /// scoring side reads them and [`build`] refuses them.
    Responses(ResponsesSettings),
    /// An Amazon Bedrock model (foundation, custom or provisioned) through the Converse API.
    /// Called through [`crate::bedrock::BedrockCandidate`].
    Bedrock(BedrockSettings),
    /// A version in the model registry (`model = "registry:support-bot@prod"`). The pipeline
    /// replaces it with the candidate that version is before the eval runs; [`build`] and
    /// [`identity`] refuse it.
    Registry(RegistrySettings),
}

impl CandidateSettings {
    /// Its paths (model, adapter, responses) with `f` applied; a Hugging Face id is kept.
    pub fn map_paths(&mut self, f: &dyn Fn(&Path) -> PathBuf) {
        match self {
            CandidateSettings::Local(l) => {
                if !tunebench_models::hub::is_hub_setting(&l.model_dir) {
                    l.model_dir = f(&l.model_dir);
                }
                l.adapter = l.adapter.as_deref().map(f);
            }
            CandidateSettings::Responses(r) => r.path = f(&r.path),
            CandidateSettings::Openai(_)
            | CandidateSettings::Bedrock(_)
            | CandidateSettings::Registry(_) => {}
        }
    }

    /// Whether it can answer requests with [`crate::types::Scoring`]: log-likelihood scoring
    /// needs the model's token probabilities, which local models give (and recorded
    /// responses may hold); endpoints and Bedrock do not.
    pub fn scores_likelihood(&self) -> bool {
        match self {
            CandidateSettings::Local(_) | CandidateSettings::Responses(_) => true,
            CandidateSettings::Openai(_)
            | CandidateSettings::Bedrock(_)
            | CandidateSettings::Registry(_) => false,
        }
    }

    /// The candidate's name.
    pub fn name(&self) -> &str {
        match self {
            CandidateSettings::Openai(s) => &s.name,
            CandidateSettings::Local(s) => &s.name,
            CandidateSettings::Responses(s) => &s.name,
            CandidateSettings::Bedrock(s) => &s.name,
            CandidateSettings::Registry(s) => &s.name,
        }
    }
}

fn default_timeout_s() -> f64 {
    60.0
}

fn default_openai_concurrency() -> usize {
    8
}

fn default_bedrock_concurrency() -> usize {
    4
}

fn default_device() -> String {
    "cpu".to_string()
}

/// Settings of an OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiSettings {
    /// Candidate name.
    pub name: String,
    /// API root, such as `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// Model id sent in the request body.
    pub model: String,
    /// Name of the environment variable holding the API key (the key itself is never in a
    /// config, a log, an error or the cache). `None`: send no `Authorization` header.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Extra HTTP headers sent with every call.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Per-call timeout in seconds.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// Calls in flight at most (the runner may lower it while throttled).
    #[serde(default = "default_openai_concurrency")]
    pub concurrency: usize,
}

impl OpenAiSettings {
    /// `openai:<base_url without a trailing slash>:<model>`.
    pub fn identity(&self) -> String {
        format!(
            "openai:{}:{}",
            self.base_url.trim_end_matches('/'),
            self.model
        )
    }
}

/// Settings of a local model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSettings {
    /// Candidate name.
    pub name: String,
    /// HF model directory (`config.json`, safetensors, `tokenizer.json`), a `.gguf` file, or
    /// a Hugging Face id (`ORG/NAME[@REV]`, `hf:ORG/NAME[@REV]`) fetched into the HF cache.
    pub model_dir: PathBuf,
    /// PEFT adapter directory applied on top.
    #[serde(default)]
    pub adapter: Option<PathBuf>,
    /// `cpu`, `wgpu[:N]`, `wgpu:cpu`, `cuda[:N]`, `tch-cpu`, `tch-cuda[:N]`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Requests generated together in one batch (default 1).
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// The dtype the model's weights are stored and multiplied in: `f32` (default), or
    /// `bf16` / `f16` for half the memory (see `tunebench_models::dtype`). Part of the
    /// candidate's identity when not f32, so cached answers never cross dtypes.
    #[serde(default, skip_serializing_if = "is_f32")]
    pub dtype: WeightDtype,
    /// Extra variables for the model's chat template, as transformers'
    /// `apply_chat_template(**kwargs)` takes them: `{ enable_thinking = false }` turns Qwen3's
    /// thinking off. Part of the candidate's identity, so cached answers never cross settings.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub chat_template_kwargs: serde_json::Map<String, serde_json::Value>,
}

fn is_f32(dtype: &WeightDtype) -> bool {
    *dtype == WeightDtype::F32
}

impl LocalSettings {
    /// [`crate::local::local_identity`] of the model and adapter, plus the weights' dtype
    /// when it is not f32 and the chat template's extra variables when there are any.
    pub fn identity(&self) -> Result<String> {
        let mut id = crate::local::local_identity(
            &tunebench_models::hub::local_model(&self.model_dir)?,
            self.adapter.as_deref(),
        )?;
        if !is_f32(&self.dtype) {
            id.push_str(&format!("+dtype:{}", self.dtype.name()));
        }
        if !self.chat_template_kwargs.is_empty() {
            id.push_str(&format!(
                "+template:{}",
                serde_json::Value::Object(self.chat_template_kwargs.clone())
            ));
        }
        Ok(id)
    }
}

/// Settings of recorded responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponsesSettings {
    /// Candidate name.
    pub name: String,
    /// A `responses.jsonl` of `ResponseRecord`s.
    pub path: PathBuf,
    /// Score the file even when some of the suite's examples have no response: those are
    /// counted as `missing` and left out of every statistic (default: an error naming them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_missing: bool,
}

/// Settings of an Amazon Bedrock model, called through the `tunebench-aws` Converse client;
/// see [`CandidateSettings::Bedrock`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BedrockSettings {
    /// Candidate name.
    pub name: String,
    /// Model id, inference profile id, or custom / provisioned model ARN.
    pub model_id: String,
    /// AWS region (default: the SDK's default chain).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override (local stand-ins in tests).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Per-call timeout in seconds.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// Calls in flight at most.
    #[serde(default = "default_bedrock_concurrency")]
    pub concurrency: usize,
    /// `on_demand` (one Converse call per example, the default) or `batch` (the uncached
    /// examples go to AWS as one batch inference job, at the batch rate; see
    /// [`crate::batch`] and `[eval.batch]`).
    #[serde(default, skip_serializing_if = "BedrockMode::is_on_demand")]
    pub mode: BedrockMode,
    /// Service tier sent with each call (`priority`, `default`, `flex`, `reserved`) and
    /// priced from the pricing table's tier prices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
    /// Latency profile sent with each call (`standard`, `optimized`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyProfile>,
    /// Place a prompt-cache point after the system prompt and few-shot turns, so calls
    /// sharing them read that prefix from Bedrock's prompt cache (priced at the table's
    /// `cache_read_per_1k` / `cache_write_per_1k`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cache_prompt: bool,
}

/// How a Bedrock candidate is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BedrockMode {
    /// One Converse call per example.
    #[default]
    OnDemand,
    /// One batch inference job for the examples the cache does not answer.
    Batch,
}

impl BedrockMode {
    fn is_on_demand(&self) -> bool {
        *self == BedrockMode::OnDemand
    }
}

impl BedrockSettings {
    /// What cannot go together in these settings (batch jobs carry neither a service tier,
    /// a latency profile nor cache points: they are billed at the batch rate).
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.mode == BedrockMode::Batch {
            for (set, what) in [
                (self.service_tier.is_some(), "service_tier"),
                (self.latency.is_some(), "latency"),
                (self.cache_prompt, "cache_prompt"),
            ] {
                if set {
                    return Err(format!(
                        "candidate `{}`: {what} applies to on-demand calls, and mode = \"batch\" sends a batch job billed at the batch rate\nhint: drop {what}, or evaluate the other way with a second candidate",
                        self.name
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Settings of a registry candidate: which version, and how to call it once resolved (each
/// setting applies only to the kind of version it fits; the rest keep their defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    /// Candidate name.
    pub name: String,
    /// `registry:NAME@ALIAS`, `registry:NAME@VERSION` or `registry:NAME@latest` (the newest
    /// version); the `registry:` prefix may be left out.
    pub model: String,
    /// Device of a local version (`cpu`, `cuda[:N]`, ...).
    #[serde(default)]
    pub device: Option<String>,
    /// Batch size of a local version.
    #[serde(default)]
    pub batch_size: Option<usize>,
    /// Region of a Bedrock version (default: the one in its ARN).
    #[serde(default)]
    pub region: Option<String>,
    /// Endpoint override of a Bedrock version (local stand-ins in tests).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Per-call timeout in seconds of a Bedrock version.
    #[serde(default)]
    pub timeout_s: Option<f64>,
    /// Calls in flight at most, for a Bedrock version.
    #[serde(default)]
    pub concurrency: Option<usize>,
}

fn unresolved(s: &RegistrySettings) -> EvalError {
    EvalError::Candidate {
        name: s.name.clone(),
        reason: format!(
            "`{}` is a registry version, which the pipeline resolves before the eval\nhint: run it through `tunebench eval` or `tunebench run`",
            s.model
        ),
    }
}

/// The identity ([`Candidate::identity`]) of the candidate `settings` build, without building
/// it (no model is loaded, no client made): what `tunebench cache prune --candidate` matches.
/// Local models hash their files, which reads them once.
pub fn identity(settings: &CandidateSettings) -> Result<String> {
    match settings {
        CandidateSettings::Openai(s) => Ok(s.identity()),
        CandidateSettings::Local(s) => s.identity(),
        CandidateSettings::Bedrock(s) => Ok(s.identity()),
        CandidateSettings::Responses(s) => Err(EvalError::Candidate {
            name: s.name.clone(),
            reason: "recorded responses are read from their file, never cached".into(),
        }),
        CandidateSettings::Registry(s) => Err(unresolved(s)),
    }
}

impl BedrockSettings {
    /// `bedrock:<region or "default-region">:<model id or ARN>`.
    pub fn identity(&self) -> String {
        format!(
            "bedrock:{}:{}",
            self.region.as_deref().unwrap_or("default-region"),
            self.model_id
        )
    }
}

/// Builds a callable candidate from its settings. Paths are used as given (the settings
/// layer makes them absolute). Local models are loaded here, which takes a while.
pub fn build(settings: &CandidateSettings) -> Result<Arc<dyn Candidate>> {
    build_audited(settings, None)
}

/// [`build`], with Bedrock candidates appending one line per call to the AWS audit log
/// `audit_log` (see `tunebench_aws::audit`).
pub fn build_audited(
    settings: &CandidateSettings,
    audit_log: Option<&std::path::Path>,
) -> Result<Arc<dyn Candidate>> {
    match settings {
        CandidateSettings::Openai(s) => Ok(Arc::new(crate::openai::OpenAiCandidate::new(s)?)),
        CandidateSettings::Local(s) => Ok(Arc::new(crate::local::LocalCandidate::load(s)?)),
        CandidateSettings::Responses(s) => Err(EvalError::Candidate {
            name: s.name.clone(),
            reason: "recorded responses are scored as they are, not called\nhint: read them with the scoring side instead of running them".into(),
        }),
        CandidateSettings::Bedrock(s) => Ok(Arc::new(
            crate::bedrock::BedrockCandidate::new(s).with_audit_log(audit_log),
        )),
        CandidateSettings::Registry(s) => Err(unresolved(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_template_kwargs_are_part_of_a_local_identity() {
        let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/tiny-qwen3/model");
        let parse = |extra: &str| -> CandidateSettings {
            toml::from_str(&format!(
                "kind = \"local\"\nname = \"q\"\nmodel_dir = \"{model}\"\n{extra}"
            ))
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let plain = identity(&parse("")).unwrap_or_else(|e| panic!("{e}"));
        let quiet = identity(&parse("chat_template_kwargs = { enable_thinking = false }"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            plain.starts_with("local:") && !plain.contains("+template"),
            "{plain}"
        );
        assert_eq!(
            quiet,
            format!("{plain}+template:{{\"enable_thinking\":false}}")
        );
    }

    #[test]
    fn settings_parse_by_kind_and_reject_unknown_fields() {
        let s: CandidateSettings = toml::from_str(
            "kind = \"openai\"\nname = \"a\"\nbase_url = \"http://x/v1\"\nmodel = \"m\"\napi_key_env = \"K\"",
        )
        .map_err(|e| e.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        match &s {
            CandidateSettings::Openai(o) => {
                assert_eq!(o.concurrency, 8);
                assert_eq!(o.timeout_s, 60.0);
                assert_eq!(o.api_key_env.as_deref(), Some("K"));
            }
            other => panic!("wrong variant {other:?}"),
        }
        let bad = toml::from_str::<CandidateSettings>(
            "kind = \"local\"\nname = \"a\"\nmodel_dir = \"m\"\nmodel_path = \"oops\"",
        );
        assert!(bad.is_err(), "unknown field accepted");
        let local: CandidateSettings =
            toml::from_str("kind = \"local\"\nname = \"a\"\nmodel_dir = \"m\"")
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(local.name(), "a");
        let bedrock: CandidateSettings = toml::from_str(
            "kind = \"bedrock\"\nname = \"b\"\nmodel_id = \"amazon.nova-micro-v1:0\"\nregion = \"us-east-1\"",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Nothing is contacted until the first request.
        let built = build(&bedrock).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(built.identity(), "bedrock:us-east-1:amazon.nova-micro-v1:0");
        assert_eq!(identity(&bedrock).ok().as_deref(), Some(built.identity()));
        assert_eq!(built.default_concurrency(), 4);
    }
}
