//! Amazon Bedrock models as candidates, through the Converse API of the aws crate's
//! [`BedrockRuntime`]: foundation model ids, inference profiles, custom-model deployment and
//! provisioned-throughput ARNs alike.
//!
//! The client is created on first use inside the runner's tokio runtime (the SDK's HTTP
//! client belongs to the runtime it starts in). The client's own retries are set to one
//! attempt so that throttling reaches the runner, whose adaptive concurrency and backoff
//! handle it for the whole run.

use std::time::Duration;

use tokio::sync::OnceCell;
use tunebench_aws::{
    AwsSettings, BedrockOptions, BedrockRuntime, ConverseRequest, Error as AwsError,
    Role as AwsRole, Turn,
};

use crate::candidate::{BedrockSettings, BoxFuture, CallError, Candidate, Completion};
use crate::types::{ChatRequest, Role};

/// A Bedrock model answering through Converse.
pub struct BedrockCandidate {
    name: String,
    identity: String,
    model_id: String,
    service_tier: Option<tunebench_aws::ServiceTier>,
    latency: Option<tunebench_aws::LatencyProfile>,
    cache_prompt: bool,
    aws: AwsSettings,
    timeout: Duration,
    concurrency: usize,
    audit_log: Option<std::path::PathBuf>,
    client: OnceCell<BedrockRuntime>,
}

impl BedrockCandidate {
    /// A candidate from its settings; nothing is contacted until the first request.
    pub fn new(s: &BedrockSettings) -> Self {
        BedrockCandidate {
            name: s.name.clone(),
            identity: s.identity(),
            model_id: s.model_id.clone(),
            service_tier: s.service_tier,
            latency: s.latency,
            cache_prompt: s.cache_prompt,
            aws: AwsSettings {
                region: s.region.clone(),
                endpoint_url: s.endpoint_url.clone(),
                ..AwsSettings::default()
            },
            timeout: Duration::from_secs_f64(s.timeout_s),
            concurrency: s.concurrency,
            audit_log: None,
            client: OnceCell::new(),
        }
    }

    /// The candidate, appending one line per Converse call to the AWS audit log `path`.
    pub fn with_audit_log(mut self, path: Option<&std::path::Path>) -> Self {
        self.audit_log = path.map(std::path::Path::to_path_buf);
        self
    }

    async fn client(&self) -> Result<&BedrockRuntime, AwsError> {
        self.client
            .get_or_try_init(|| async {
                let opts = BedrockOptions {
                    max_attempts: 1,
                    audit_log: self.audit_log.clone(),
                    ..BedrockOptions::default()
                };
                BedrockRuntime::connect(&self.aws, &opts).await
            })
            .await
    }

    /// The Converse request of `req` as this candidate sends it.
    fn request(&self, req: &ChatRequest) -> ConverseRequest {
        ConverseRequest {
            model_id: self.model_id.clone(),
            system: req.system.clone(),
            messages: req
                .messages
                .iter()
                .map(|m| Turn {
                    role: match m.role {
                        Role::User => AwsRole::User,
                        Role::Assistant => AwsRole::Assistant,
                    },
                    text: m.content.clone(),
                })
                .collect(),
            max_tokens: i32::try_from(req.sampling.max_tokens).ok(),
            temperature: Some(req.sampling.temperature),
            top_p: req.sampling.top_p,
            stop_sequences: req.sampling.stop.clone(),
            service_tier: self.service_tier,
            latency: self.latency,
            cache_prompt: self.cache_prompt,
        }
    }

    async fn call(&self, req: &ChatRequest) -> Result<Completion, CallError> {
        let client = self.client().await.map_err(classify)?;
        let reply = client
            .converse(&self.request(req))
            .await
            .map_err(classify)?;
        Ok(Completion {
            text: reply.text,
            input_tokens: reply.input_tokens,
            output_tokens: reply.output_tokens,
            cache_read_tokens: reply.cache_read_tokens,
            cache_write_tokens: reply.cache_write_tokens,
        })
    }

    /// The input tokens of each of `requests` as the model counts them (Bedrock
    /// `CountTokens`, one call per request, `concurrency` at a time). Nothing is generated
    /// or billed.
    ///
    /// # Errors
    /// The first failed call (a model without `CountTokens` support says so here).
    pub fn count_tokens(&self, requests: &[&ChatRequest]) -> crate::error::Result<Vec<u64>> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                crate::error::EvalError::Runner(format!("cannot start the async runtime: {e}"))
            })?;
        let fail = |e: AwsError| crate::error::EvalError::Candidate {
            name: self.name.clone(),
            reason: format!("counting tokens: {e}"),
        };
        rt.block_on(async {
            let client = self.client().await.map_err(fail)?;
            let mut counts = Vec::with_capacity(requests.len());
            for chunk in requests.chunks(self.concurrency.max(1)) {
                let calls = chunk.iter().map(|r| {
                    let request = self.request(r);
                    let client = client.clone();
                    tokio::spawn(async move { client.count_tokens(&request).await })
                });
                let handles: Vec<_> = calls.collect();
                for h in handles {
                    let n = h
                        .await
                        .map_err(|e| {
                            crate::error::EvalError::Runner(format!("token count task failed: {e}"))
                        })?
                        .map_err(fail)?;
                    counts.push(n);
                }
            }
            Ok(counts)
        })
    }
}

/// Throttling and server-side errors are worth retrying; the rest (validation, access,
/// unknown model) are not.
fn classify(e: AwsError) -> CallError {
    let code = match &e {
        AwsError::Bedrock { code, .. } => code.clone().unwrap_or_default(),
        _ => String::new(),
    };
    match code.as_str() {
        "ThrottlingException" | "ServiceQuotaExceededException" => {
            CallError::Throttled { retry_after: None }
        }
        "InternalServerException"
        | "ServiceUnavailableException"
        | "ModelNotReadyException"
        | "ModelTimeoutException"
        | "" => CallError::Retryable(e.to_string()),
        _ => CallError::Fatal(e.to_string()),
    }
}

impl Candidate for BedrockCandidate {
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
