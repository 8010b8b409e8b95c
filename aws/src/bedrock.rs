//! Amazon Bedrock control plane: model customization jobs (submit, status, wait, list, stop),
//! custom models, custom model deployments, provisioned throughput and model import jobs.
//!
//! Blocking calls for the CLI (`tunebench train bedrock submit/status/wait`), over the SDK's
//! async client on a small private runtime, like [`crate::S3`]. Throttling and 5xx answers are
//! retried by the SDK's standard retry strategy (exponential backoff with full jitter, up to
//! [`BedrockOptions::max_attempts`] attempts); what still fails becomes [`Error::Bedrock`]
//! with the operation, the service's message, its request id and a hint. Every call is
//! appended to the audit log when one is configured (see [`crate::audit`]).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

mod batch;

pub use batch::{InvocationJob, InvocationJobSpec};

use aws_sdk_bedrock::Client;
use aws_sdk_bedrock::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrock::operation::RequestId;
use aws_sdk_bedrock::types;
use tokio::runtime::Runtime;

use crate::audit::{AuditLog, audited};
use crate::error::{bedrock_hint, sdk_failure};
use crate::{AwsSettings, Error, Result};

/// Client settings beyond [`AwsSettings`].
#[derive(Debug, Clone, PartialEq)]
pub struct BedrockOptions {
    /// Attempts per call, the first included (default 5). Throttling, 5xx and transport
    /// errors are retried; others are not.
    pub max_attempts: u32,
    /// First retry delay before jitter (default 1 s); it doubles per attempt.
    pub initial_backoff: Duration,
    /// Longest retry delay (default 20 s).
    pub max_backoff: Duration,
    /// Append an audit line per call to this JSONL file (else [`AwsSettings::audit_log`]).
    pub audit_log: Option<PathBuf>,
}

impl Default for BedrockOptions {
    fn default() -> Self {
        BedrockOptions {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
            audit_log: None,
        }
    }
}

/// The SDK configuration shared by the Bedrock clients: default chain, profile, region,
/// endpoint override (`AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_BEDROCK[_RUNTIME]` are read by
/// the SDK itself), standard retries.
pub(crate) async fn sdk_config(
    settings: &AwsSettings,
    opts: &BedrockOptions,
) -> aws_config::SdkConfig {
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(opts.max_attempts.max(1))
        .with_initial_backoff(opts.initial_backoff)
        .with_max_backoff(opts.max_backoff);
    settings.sdk_config(retry).await
}

/// Opens the audit log of `opts`, else of `settings`, if any.
pub(crate) fn open_audit(
    settings: &AwsSettings,
    opts: &BedrockOptions,
) -> Result<Option<Arc<AuditLog>>> {
    opts.audit_log
        .as_deref()
        .or(settings.audit_log.as_deref())
        .map(|p| AuditLog::open(p).map(Arc::new))
        .transpose()
}

/// What a blocking client is built on: its own small runtime, the shared SDK config, and
/// the audit log.
pub(crate) struct Blocking {
    /// The runtime its calls run on.
    pub rt: Runtime,
    /// Credentials, region, endpoint, retries.
    pub config: aws_config::SdkConfig,
    /// Where each call is logged.
    pub audit: Option<Arc<AuditLog>>,
}

impl Blocking {
    /// Starts the runtime, loads the config and opens the audit log.
    pub(crate) fn start(settings: &AwsSettings, opts: &BedrockOptions) -> Result<Blocking> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let audit = open_audit(settings, opts)?;
        let config = rt.block_on(sdk_config(settings, opts));
        Ok(Blocking { rt, config, audit })
    }
}

/// Turns an SDK error into [`Error::Bedrock`].
pub(crate) fn bedrock_error<E>(
    operation: &'static str,
    target: String,
    max_attempts: u32,
    err: &SdkError<E>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (code, message) = sdk_failure(err);
    let hint = match &code {
        None => Some(
            "check the network and the endpoint (AWS_ENDPOINT_URL, aws.endpoint_url) and the region"
                .to_string(),
        ),
        Some(c) => bedrock_hint(operation, Some(c), &message, max_attempts),
    };
    Error::Bedrock {
        operation,
        target,
        code,
        message,
        hint,
    }
}

/// Runs one SDK call: audit line, error conversion. `found` names the resources in the
/// answer (e.g. the new job's ARN) for the audit line.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn call<T, E, F>(
    audit: Option<&AuditLog>,
    service: &'static str,
    operation: &'static str,
    target: &str,
    max_attempts: u32,
    resources: BTreeMap<String, String>,
    fut: F,
    found: impl FnOnce(&T) -> Vec<(&'static str, String)>,
) -> Result<T>
where
    F: Future<Output = std::result::Result<T, SdkError<E>>>,
    T: RequestId,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let audit_service = if service == "Bedrock" {
        "bedrock"
    } else {
        "bedrock-runtime"
    };
    audited(audit, audit_service, operation, resources, fut, found)
        .await
        .map_err(|e| bedrock_error(operation, target.to_string(), max_attempts, &e))
}

fn res(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn time(t: &aws_smithy_types::DateTime) -> String {
    t.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// What kind of customization to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomizationKind {
    /// Supervised fine-tuning on prompt/completion pairs.
    #[default]
    FineTuning,
    /// Continued pre-training on unlabeled text.
    ContinuedPreTraining,
    /// Distillation from a teacher model.
    Distillation,
    /// Reinforcement fine-tuning: the model's own answers scored by a grader Lambda
    /// ([`CustomizationJobSpec::rft`]).
    ReinforcementFineTuning,
}

/// `customizationConfig.rftConfig`: the grader Lambda and the RFT hyperparameters (each
/// `None` leaves the service's default; ranges as in the service model: epochs 1–50, batch
/// 16–512, learning rate 1e-7–1e-3, samples per prompt 2–16, eval interval 1–100).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RftConfig {
    /// ARN of the Lambda that grades the model's answers.
    pub grader_lambda_arn: String,
    /// Passes over the training data.
    #[serde(default)]
    pub epoch_count: Option<i32>,
    /// Prompts per training batch.
    #[serde(default)]
    pub batch_size: Option<i32>,
    /// Learning rate.
    #[serde(default)]
    pub learning_rate: Option<f32>,
    /// Longest prompt, in tokens.
    #[serde(default)]
    pub max_prompt_length: Option<i32>,
    /// Answers sampled per prompt (the group the rewards are compared within).
    #[serde(default)]
    pub training_sample_per_prompt: Option<i32>,
    /// Longest answer, in tokens.
    #[serde(default)]
    pub inference_max_tokens: Option<i32>,
    /// `low`, `medium` or `high`.
    #[serde(default)]
    pub reasoning_effort: Option<String>,
    /// Steps between evaluations.
    #[serde(default)]
    pub eval_interval: Option<i32>,
}

/// Whether `arn` matches the service model's `LambdaArn` pattern,
/// `arn:(aws[a-zA-Z-]*)?:lambda:[a-z]{2}(-gov)?-[a-z]+-\d{1}:\d{12}:function:[a-zA-Z0-9-_\.]+(:(\$LATEST|[a-zA-Z0-9-_]+))?`.
fn is_lambda_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    let name_ok = |s: &str, dot: bool| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (dot && c == '.'))
    };
    let region_ok = |r: &str| {
        let bits: Vec<&str> = r.split('-').collect();
        let (first, last) = (
            bits.first().copied().unwrap_or(""),
            bits.last().copied().unwrap_or(""),
        );
        bits.len() >= 3
            && first.len() == 2
            && first.chars().all(|c| c.is_ascii_lowercase())
            && last.len() == 1
            && last.chars().all(|c| c.is_ascii_digit())
            && bits[1..bits.len() - 1]
                .iter()
                .all(|b| !b.is_empty() && b.chars().all(|c| c.is_ascii_lowercase()))
    };
    let partition_ok = |p: &str| {
        p.is_empty()
            || (p.starts_with("aws") && p.chars().all(|c| c.is_ascii_alphabetic() || c == '-'))
    };
    matches!(parts.len(), 7 | 8)
        && parts[0] == "arn"
        && partition_ok(parts[1])
        && parts[2] == "lambda"
        && region_ok(parts[3])
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5] == "function"
        && name_ok(parts[6], true)
        && parts
            .get(7)
            .is_none_or(|q| *q == "$LATEST" || name_ok(q, false))
}

impl RftConfig {
    /// What the service model (`RFTHyperParameters`, `LambdaArn`) refuses in these settings,
    /// one line each, named as in `[train.bedrock.rft]`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !is_lambda_arn(&self.grader_lambda_arn) {
            out.push(format!(
                "rft.grader_lambda_arn = {:?} is not a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>)",
                self.grader_lambda_arn
            ));
        }
        let ints = [
            ("epoch_count", self.epoch_count, 1, 50),
            ("batch_size", self.batch_size, 16, 512),
            (
                "training_sample_per_prompt",
                self.training_sample_per_prompt,
                2,
                16,
            ),
            ("eval_interval", self.eval_interval, 1, 100),
            ("max_prompt_length", self.max_prompt_length, 1, i32::MAX),
            (
                "inference_max_tokens",
                self.inference_max_tokens,
                1,
                i32::MAX,
            ),
        ];
        for (name, value, min, max) in ints {
            if let Some(v) = value
                && !(min..=max).contains(&v)
            {
                let range = if max == i32::MAX {
                    format!("at least {min}")
                } else {
                    format!("{min} to {max}")
                };
                out.push(format!("rft.{name} = {v} is out of range: {range}"));
            }
        }
        if let Some(lr) = self.learning_rate
            && !(1e-7..=1e-3).contains(&lr)
        {
            out.push(format!(
                "rft.learning_rate = {lr} is out of range: 1e-7 to 1e-3"
            ));
        }
        if let Some(e) = &self.reasoning_effort
            && !["low", "medium", "high"].contains(&e.as_str())
        {
            out.push(format!(
                "rft.reasoning_effort = {e:?} is not one of low, medium, high"
            ));
        }
        out
    }
}

/// A model customization job to submit.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct CustomizationJobSpec {
    /// Job name (1–63 characters, letters, digits, `-`, `+`, `.`).
    pub job_name: String,
    /// Name of the custom model the job makes.
    pub custom_model_name: String,
    /// IAM service role Bedrock assumes to read and write S3.
    pub role_arn: String,
    /// Base model id or ARN, e.g. `amazon.titan-text-lite-v1:0:4k`.
    pub base_model: String,
    /// Fine-tuning, continued pre-training or distillation.
    pub kind: CustomizationKind,
    /// `s3://` URI of the training data (JSONL).
    pub training_s3_uri: String,
    /// `s3://` URIs of validation data sets (at most 10).
    pub validation_s3_uris: Vec<String>,
    /// `s3://` prefix the job writes its metrics to.
    pub output_s3_uri: String,
    /// Hyperparameters, as strings (`epochCount`, `batchSize`, `learningRate`, ...).
    pub hyper_parameters: BTreeMap<String, String>,
    /// For distillation: the teacher model id or ARN.
    pub teacher_model: Option<String>,
    /// For distillation: max tokens the teacher answers with.
    pub teacher_max_response_length: Option<i32>,
    /// For reinforcement fine-tuning: the grader and the hyperparameters.
    pub rft: Option<RftConfig>,
    /// KMS key for the custom model.
    pub kms_key_id: Option<String>,
    /// Tags on the job.
    pub tags: BTreeMap<String, String>,
    /// Tags on the custom model the job makes.
    pub model_tags: BTreeMap<String, String>,
    /// VPC the job runs in (its subnets and security groups reach the S3 data).
    pub vpc: Option<VpcConfig>,
    /// Idempotency token: a retried submit with the same token returns the same job instead
    /// of making a second one. Derive it from the run (e.g. the data's content hash).
    pub client_request_token: Option<String>,
}

/// `vpcConfig`: the subnets and security groups a job runs in (1–16 subnets, 1–5 security
/// groups, ids of at most 32 letters, digits and `-`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcConfig {
    /// Subnet ids, e.g. `subnet-0abc`.
    pub subnet_ids: Vec<String>,
    /// Security group ids, e.g. `sg-0abc`.
    pub security_group_ids: Vec<String>,
}

/// A model customization job as `GetModelCustomizationJob` reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CustomizationJob {
    /// Job ARN.
    pub job_arn: String,
    /// Job name.
    pub job_name: String,
    /// `InProgress`, `Completed`, `Failed`, `Stopping` or `Stopped`.
    pub status: String,
    /// Sub-status of the data validation stage.
    pub validation_status: Option<String>,
    /// Sub-status of the data processing stage.
    pub data_processing_status: Option<String>,
    /// Sub-status of the training stage.
    pub training_status: Option<String>,
    /// Why it failed.
    pub failure_message: Option<String>,
    /// Name of the custom model.
    pub output_model_name: String,
    /// ARN of the custom model, once the job completed.
    pub output_model_arn: Option<String>,
    /// ARN of the base model.
    pub base_model_arn: String,
    /// Where the job writes its metrics.
    pub output_s3_uri: Option<String>,
    /// Creation time, RFC 3339.
    pub creation_time: String,
    /// End time, RFC 3339.
    pub end_time: Option<String>,
    /// Final training loss.
    pub training_loss: Option<f32>,
    /// Final validation loss per validator.
    pub validation_losses: Vec<f32>,
    /// Hyperparameters the job runs with.
    pub hyper_parameters: BTreeMap<String, String>,
}

impl CustomizationJob {
    /// Whether the status can no longer change.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "Completed" | "Failed" | "Stopped")
    }

    /// The job id, the last segment of its ARN.
    pub fn job_id(&self) -> &str {
        self.job_arn.rsplit('/').next().unwrap_or(&self.job_arn)
    }

    /// How long the job has run: from its creation to its end, or to `now` while it runs.
    /// `None` when a time does not parse.
    pub fn running_time(&self, now: SystemTime) -> Option<Duration> {
        let parse = |t: &str| {
            aws_smithy_types::DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime)
                .ok()
                .and_then(|d| SystemTime::try_from(d).ok())
        };
        let start = parse(&self.creation_time)?;
        let end = match &self.end_time {
            Some(e) => parse(e)?,
            None => now,
        };
        end.duration_since(start).ok()
    }

    /// `s3://…/model-customization-job-<id>/`, where the job's metrics CSVs are
    /// (`training_artifacts/step_wise_training_metrics.csv`,
    /// `validation_artifacts/post_fine_tuning_validation/validation_metrics.csv`).
    pub fn artifacts_prefix(&self) -> Option<String> {
        let out = self.output_s3_uri.as_deref()?;
        let sep = if out.ends_with('/') { "" } else { "/" };
        Some(format!(
            "{out}{sep}model-customization-job-{}/",
            self.job_id()
        ))
    }
}

/// One row of `ListModelCustomizationJobs`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomizationJobSummary {
    /// Job ARN.
    pub job_arn: String,
    /// Job name.
    pub job_name: String,
    /// Status.
    pub status: String,
    /// Custom model ARN, once completed.
    pub custom_model_arn: Option<String>,
    /// Creation time, RFC 3339.
    pub creation_time: String,
}

/// Filters of [`Bedrock::list_customization_jobs`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JobFilter {
    /// Only jobs with this status.
    pub status: Option<String>,
    /// Only jobs whose name contains this.
    pub name_contains: Option<String>,
    /// Only jobs created after this time.
    pub created_after: Option<SystemTime>,
    /// Page size (1–1000); all pages are read regardless.
    pub page_size: Option<i32>,
}

/// A custom model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CustomModel {
    /// Model ARN.
    pub model_arn: String,
    /// Model name.
    pub model_name: String,
    /// `Active`, `Creating` or `Failed`.
    pub status: Option<String>,
    /// The job that made it.
    pub job_arn: Option<String>,
    /// Base model ARN.
    pub base_model_arn: Option<String>,
    /// Creation time, RFC 3339.
    pub creation_time: String,
}

/// A custom model deployment (on-demand inference for a custom model).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Deployment {
    /// Deployment ARN (the `modelId` for Converse).
    pub arn: String,
    /// Deployment name.
    pub name: String,
    /// The custom model deployed.
    pub model_arn: String,
    /// `Creating`, `Active` or `Failed`.
    pub status: String,
    /// Why it failed.
    pub failure_message: Option<String>,
}

/// Provisioned throughput for a model.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProvisionedThroughput {
    /// Provisioned model ARN (the `modelId` for Converse).
    pub arn: String,
    /// Name.
    pub name: String,
    /// The model served.
    pub model_arn: String,
    /// Model units.
    pub model_units: i32,
    /// `Creating`, `InService`, `Updating` or `Failed`.
    pub status: String,
    /// Why it failed.
    pub failure_message: Option<String>,
}

/// A model import job (Custom Model Import of weights in S3).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelImportJob {
    /// Job ARN.
    pub job_arn: String,
    /// Job name.
    pub job_name: String,
    /// `InProgress`, `Completed` or `Failed`.
    pub status: String,
    /// Imported model ARN, once completed.
    pub imported_model_arn: Option<String>,
    /// Why it failed.
    pub failure_message: Option<String>,
}

const SERVICE: &str = "Bedrock";

/// A blocking Bedrock control-plane client.
pub struct Bedrock {
    rt: Runtime,
    client: Client,
    audit: Option<Arc<AuditLog>>,
    max_attempts: u32,
}

impl Bedrock {
    /// Builds a client from the default credential chain, `settings` and `opts`.
    pub fn connect(settings: &AwsSettings, opts: &BedrockOptions) -> Result<Bedrock> {
        let Blocking { rt, config, audit } = Blocking::start(settings, opts)?;
        Ok(Bedrock {
            client: Client::new(&config),
            rt,
            audit,
            max_attempts: opts.max_attempts.max(1),
        })
    }

    /// The underlying SDK client, for calls this wrapper does not cover.
    pub fn sdk(&self) -> &Client {
        &self.client
    }

    #[allow(clippy::too_many_arguments)]
    fn run<T, E, F>(
        &self,
        operation: &'static str,
        target: &str,
        resources: BTreeMap<String, String>,
        fut: F,
        found: impl FnOnce(&T) -> Vec<(&'static str, String)>,
    ) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, SdkError<E>>>,
        T: RequestId,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.rt.block_on(call(
            self.audit.as_deref(),
            SERVICE,
            operation,
            target,
            self.max_attempts,
            resources,
            fut,
            found,
        ))
    }

    /// Submits a model customization job; returns its ARN. With the same
    /// `client_request_token` a repeated submit returns the first job's ARN.
    pub fn create_customization_job(&self, spec: &CustomizationJobSpec) -> Result<String> {
        let build_err = |e: aws_smithy_types::error::operation::BuildError| Error::Bedrock {
            operation: "CreateModelCustomizationJob",
            target: spec.job_name.clone(),
            code: None,
            message: format!("building the request: {e}"),
            hint: None,
        };
        let mut req = self
            .client
            .create_model_customization_job()
            .job_name(&spec.job_name)
            .custom_model_name(&spec.custom_model_name)
            .role_arn(&spec.role_arn)
            .base_model_identifier(&spec.base_model)
            .customization_type(match spec.kind {
                CustomizationKind::FineTuning => types::CustomizationType::FineTuning,
                CustomizationKind::ContinuedPreTraining => {
                    types::CustomizationType::ContinuedPreTraining
                }
                CustomizationKind::Distillation => types::CustomizationType::Distillation,
                CustomizationKind::ReinforcementFineTuning => {
                    types::CustomizationType::ReinforcementFineTuning
                }
            })
            .training_data_config(
                types::TrainingDataConfig::builder()
                    .s3_uri(&spec.training_s3_uri)
                    .build(),
            )
            .output_data_config(
                types::OutputDataConfig::builder()
                    .s3_uri(&spec.output_s3_uri)
                    .build()
                    .map_err(build_err)?,
            )
            .set_hyper_parameters(if spec.hyper_parameters.is_empty() {
                None
            } else {
                Some(
                    spec.hyper_parameters
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<HashMap<_, _>>(),
                )
            })
            .set_custom_model_kms_key_id(spec.kms_key_id.clone())
            .set_client_request_token(spec.client_request_token.clone());
        if !spec.validation_s3_uris.is_empty() {
            let mut v = types::ValidationDataConfig::builder();
            for uri in &spec.validation_s3_uris {
                v = v.validators(
                    types::Validator::builder()
                        .s3_uri(uri)
                        .build()
                        .map_err(build_err)?,
                );
            }
            req = req.validation_data_config(v.build().map_err(build_err)?);
        }
        if let Some(teacher) = &spec.teacher_model {
            let t = types::TeacherModelConfig::builder()
                .teacher_model_identifier(teacher)
                .set_max_response_length_for_inference(spec.teacher_max_response_length)
                .build()
                .map_err(build_err)?;
            req = req.customization_config(types::CustomizationConfig::DistillationConfig(
                types::DistillationConfig::builder()
                    .teacher_model_config(t)
                    .build(),
            ));
        }
        if let Some(rft) = &spec.rft {
            let grader = types::LambdaGraderConfig::builder()
                .lambda_arn(&rft.grader_lambda_arn)
                .build()
                .map_err(build_err)?;
            let hp = types::RftHyperParameters::builder()
                .set_epoch_count(rft.epoch_count)
                .set_batch_size(rft.batch_size)
                .set_learning_rate(rft.learning_rate)
                .set_max_prompt_length(rft.max_prompt_length)
                .set_training_sample_per_prompt(rft.training_sample_per_prompt)
                .set_inference_max_tokens(rft.inference_max_tokens)
                .set_reasoning_effort(
                    rft.reasoning_effort
                        .as_deref()
                        .map(types::ReasoningEffort::from),
                )
                .set_eval_interval(rft.eval_interval)
                .build();
            req = req.customization_config(types::CustomizationConfig::RftConfig(
                types::RftConfig::builder()
                    .grader_config(types::GraderConfig::LambdaGrader(grader))
                    .hyper_parameters(hp)
                    .build(),
            ));
        }
        let tag_list = |tags: &BTreeMap<String, String>| {
            tags.iter()
                .map(|(k, v)| types::Tag::builder().key(k).value(v).build())
                .collect::<std::result::Result<Vec<_>, _>>()
        };
        if !spec.tags.is_empty() {
            req = req.set_job_tags(Some(tag_list(&spec.tags).map_err(build_err)?));
        }
        if !spec.model_tags.is_empty() {
            req = req.set_custom_model_tags(Some(tag_list(&spec.model_tags).map_err(build_err)?));
        }
        if let Some(vpc) = &spec.vpc {
            req = req.vpc_config(
                types::VpcConfig::builder()
                    .set_subnet_ids(Some(vpc.subnet_ids.clone()))
                    .set_security_group_ids(Some(vpc.security_group_ids.clone()))
                    .build()
                    .map_err(build_err)?,
            );
        }
        let out = self.run(
            "CreateModelCustomizationJob",
            &spec.job_name,
            res(&[
                ("jobName", &spec.job_name),
                ("customModelName", &spec.custom_model_name),
                ("baseModelIdentifier", &spec.base_model),
                ("roleArn", &spec.role_arn),
                ("outputS3Uri", &spec.output_s3_uri),
            ]),
            req.send(),
            |o: &aws_sdk_bedrock::operation::create_model_customization_job::CreateModelCustomizationJobOutput| {
                vec![("jobArn", o.job_arn().to_string())]
            },
        )?;
        Ok(out.job_arn().to_string())
    }

    /// Status and results of a customization job (name or ARN).
    pub fn get_customization_job(&self, job: &str) -> Result<CustomizationJob> {
        let o = self.run(
            "GetModelCustomizationJob",
            job,
            res(&[("jobIdentifier", job)]),
            self.client
                .get_model_customization_job()
                .job_identifier(job)
                .send(),
            |o: &aws_sdk_bedrock::operation::get_model_customization_job::GetModelCustomizationJobOutput| {
                let mut v = vec![("jobArn", o.job_arn().to_string())];
                if let Some(s) = o.status() {
                    v.push(("status", s.as_str().to_string()));
                }
                if let Some(m) = o.output_model_arn() {
                    v.push(("outputModelArn", m.to_string()));
                }
                v
            },
        )?;
        let details = o.status_details();
        Ok(CustomizationJob {
            job_arn: o.job_arn().to_string(),
            job_name: o.job_name().to_string(),
            status: o
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            validation_status: details
                .and_then(|d| d.validation_details())
                .and_then(|d| d.status())
                .map(|s| s.as_str().to_string()),
            data_processing_status: details
                .and_then(|d| d.data_processing_details())
                .and_then(|d| d.status())
                .map(|s| s.as_str().to_string()),
            training_status: details
                .and_then(|d| d.training_details())
                .and_then(|d| d.status())
                .map(|s| s.as_str().to_string()),
            failure_message: o.failure_message().map(str::to_string),
            output_model_name: o.output_model_name().to_string(),
            output_model_arn: o.output_model_arn().map(str::to_string),
            base_model_arn: o.base_model_arn().to_string(),
            output_s3_uri: o.output_data_config().map(|c| c.s3_uri().to_string()),
            creation_time: time(o.creation_time()),
            end_time: o.end_time().map(time),
            training_loss: o.training_metrics().and_then(|m| m.training_loss()),
            validation_losses: o
                .validation_metrics()
                .iter()
                .filter_map(|m| m.validation_loss())
                .collect(),
            hyper_parameters: o
                .hyper_parameters()
                .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        })
    }

    /// All customization jobs matching `filter`, newest first, every page read.
    pub fn list_customization_jobs(
        &self,
        filter: &JobFilter,
    ) -> Result<Vec<CustomizationJobSummary>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let req = self
                .client
                .list_model_customization_jobs()
                .set_status_equals(
                    filter
                        .status
                        .as_deref()
                        .map(types::FineTuningJobStatus::from),
                )
                .set_name_contains(filter.name_contains.clone())
                .set_creation_time_after(filter.created_after.map(aws_smithy_types::DateTime::from))
                .set_max_results(filter.page_size)
                .set_next_token(token.clone());
            let page = self.run(
                "ListModelCustomizationJobs",
                "jobs",
                BTreeMap::new(),
                req.send(),
                |_| Vec::new(),
            )?;
            out.extend(page.model_customization_job_summaries().iter().map(|s| {
                CustomizationJobSummary {
                    job_arn: s.job_arn().to_string(),
                    job_name: s.job_name().to_string(),
                    status: s.status().as_str().to_string(),
                    custom_model_arn: s.custom_model_arn().map(str::to_string),
                    creation_time: time(s.creation_time()),
                }
            }));
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// Asks a running job to stop.
    pub fn stop_customization_job(&self, job: &str) -> Result<()> {
        self.run(
            "StopModelCustomizationJob",
            job,
            res(&[("jobIdentifier", job)]),
            self.client
                .stop_model_customization_job()
                .job_identifier(job)
                .send(),
            |_| Vec::new(),
        )?;
        Ok(())
    }

    /// A custom model (name or ARN).
    pub fn get_custom_model(&self, model: &str) -> Result<CustomModel> {
        let o = self.run(
            "GetCustomModel",
            model,
            res(&[("modelIdentifier", model)]),
            self.client
                .get_custom_model()
                .model_identifier(model)
                .send(),
            |o: &aws_sdk_bedrock::operation::get_custom_model::GetCustomModelOutput| {
                vec![("modelArn", o.model_arn().to_string())]
            },
        )?;
        Ok(CustomModel {
            model_arn: o.model_arn().to_string(),
            model_name: o.model_name().to_string(),
            status: o.model_status().map(|s| s.as_str().to_string()),
            job_arn: o.job_arn().map(str::to_string),
            base_model_arn: o.base_model_arn().map(str::to_string),
            creation_time: time(o.creation_time()),
        })
    }

    /// Deploys a custom model for on-demand inference; returns the deployment ARN.
    pub fn create_custom_model_deployment(
        &self,
        name: &str,
        model_arn: &str,
        client_request_token: Option<&str>,
    ) -> Result<String> {
        let o = self.run(
            "CreateCustomModelDeployment",
            name,
            res(&[("modelDeploymentName", name), ("modelArn", model_arn)]),
            self.client
                .create_custom_model_deployment()
                .model_deployment_name(name)
                .model_arn(model_arn)
                .set_client_request_token(client_request_token.map(str::to_string))
                .send(),
            |o: &aws_sdk_bedrock::operation::create_custom_model_deployment::CreateCustomModelDeploymentOutput| {
                vec![("customModelDeploymentArn", o.custom_model_deployment_arn().to_string())]
            },
        )?;
        Ok(o.custom_model_deployment_arn().to_string())
    }

    /// A custom model deployment (name or ARN).
    pub fn get_custom_model_deployment(&self, deployment: &str) -> Result<Deployment> {
        let o = self.run(
            "GetCustomModelDeployment",
            deployment,
            res(&[("customModelDeploymentIdentifier", deployment)]),
            self.client
                .get_custom_model_deployment()
                .custom_model_deployment_identifier(deployment)
                .send(),
            |o: &aws_sdk_bedrock::operation::get_custom_model_deployment::GetCustomModelDeploymentOutput| {
                vec![("status", o.status().as_str().to_string())]
            },
        )?;
        Ok(Deployment {
            arn: o.custom_model_deployment_arn().to_string(),
            name: o.model_deployment_name().to_string(),
            model_arn: o.model_arn().to_string(),
            status: o.status().as_str().to_string(),
            failure_message: o.failure_message().map(str::to_string),
        })
    }

    /// Deletes a custom model deployment.
    pub fn delete_custom_model_deployment(&self, deployment: &str) -> Result<()> {
        self.run(
            "DeleteCustomModelDeployment",
            deployment,
            res(&[("customModelDeploymentIdentifier", deployment)]),
            self.client
                .delete_custom_model_deployment()
                .custom_model_deployment_identifier(deployment)
                .send(),
            |_| Vec::new(),
        )?;
        Ok(())
    }

    /// Buys provisioned throughput (no commitment) for a model; returns its ARN.
    pub fn create_provisioned_throughput(
        &self,
        name: &str,
        model_id: &str,
        model_units: i32,
        client_request_token: Option<&str>,
    ) -> Result<String> {
        let o = self.run(
            "CreateProvisionedModelThroughput",
            name,
            res(&[("provisionedModelName", name), ("modelId", model_id)]),
            self.client
                .create_provisioned_model_throughput()
                .provisioned_model_name(name)
                .model_id(model_id)
                .model_units(model_units)
                .set_client_request_token(client_request_token.map(str::to_string))
                .send(),
            |o: &aws_sdk_bedrock::operation::create_provisioned_model_throughput::CreateProvisionedModelThroughputOutput| {
                vec![("provisionedModelArn", o.provisioned_model_arn().to_string())]
            },
        )?;
        Ok(o.provisioned_model_arn().to_string())
    }

    /// Provisioned throughput (name or ARN).
    pub fn get_provisioned_throughput(&self, id: &str) -> Result<ProvisionedThroughput> {
        let o = self.run(
            "GetProvisionedModelThroughput",
            id,
            res(&[("provisionedModelId", id)]),
            self.client
                .get_provisioned_model_throughput()
                .provisioned_model_id(id)
                .send(),
            |o: &aws_sdk_bedrock::operation::get_provisioned_model_throughput::GetProvisionedModelThroughputOutput| {
                vec![("status", o.status().as_str().to_string())]
            },
        )?;
        Ok(ProvisionedThroughput {
            arn: o.provisioned_model_arn().to_string(),
            name: o.provisioned_model_name().to_string(),
            model_arn: o.model_arn().to_string(),
            model_units: o.model_units(),
            status: o.status().as_str().to_string(),
            failure_message: o.failure_message().map(str::to_string),
        })
    }

    /// Deletes provisioned throughput.
    pub fn delete_provisioned_throughput(&self, id: &str) -> Result<()> {
        self.run(
            "DeleteProvisionedModelThroughput",
            id,
            res(&[("provisionedModelId", id)]),
            self.client
                .delete_provisioned_model_throughput()
                .provisioned_model_id(id)
                .send(),
            |_| Vec::new(),
        )?;
        Ok(())
    }

    /// Imports model weights (HF layout) from `s3_uri`; returns the import job's ARN. With
    /// the same `client_request_token` a repeated call returns the first job's ARN.
    pub fn create_model_import_job(
        &self,
        job_name: &str,
        imported_model_name: &str,
        role_arn: &str,
        s3_uri: &str,
        kms_key_id: Option<&str>,
        client_request_token: Option<&str>,
    ) -> Result<String> {
        let source = types::S3DataSource::builder()
            .s3_uri(s3_uri)
            .build()
            .map_err(|e| Error::Bedrock {
                operation: "CreateModelImportJob",
                target: job_name.to_string(),
                code: None,
                message: format!("building the request: {e}"),
                hint: None,
            })?;
        let o = self.run(
            "CreateModelImportJob",
            job_name,
            res(&[
                ("jobName", job_name),
                ("importedModelName", imported_model_name),
                ("roleArn", role_arn),
                ("s3Uri", s3_uri),
            ]),
            self.client
                .create_model_import_job()
                .job_name(job_name)
                .imported_model_name(imported_model_name)
                .role_arn(role_arn)
                .model_data_source(types::ModelDataSource::S3DataSource(source))
                .set_imported_model_kms_key_id(kms_key_id.map(str::to_string))
                .set_client_request_token(client_request_token.map(str::to_string))
                .send(),
            |o: &aws_sdk_bedrock::operation::create_model_import_job::CreateModelImportJobOutput| {
                vec![("jobArn", o.job_arn().to_string())]
            },
        )?;
        Ok(o.job_arn().to_string())
    }

    /// A model import job (name or ARN).
    pub fn get_model_import_job(&self, job: &str) -> Result<ModelImportJob> {
        let o = self.run(
            "GetModelImportJob",
            job,
            res(&[("jobIdentifier", job)]),
            self.client
                .get_model_import_job()
                .job_identifier(job)
                .send(),
            |o: &aws_sdk_bedrock::operation::get_model_import_job::GetModelImportJobOutput| {
                o.imported_model_arn()
                    .map(|a| vec![("importedModelArn", a.to_string())])
                    .unwrap_or_default()
            },
        )?;
        Ok(ModelImportJob {
            job_arn: o.job_arn().unwrap_or_default().to_string(),
            job_name: o.job_name().unwrap_or_default().to_string(),
            status: o
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            imported_model_arn: o.imported_model_arn().map(str::to_string),
            failure_message: o.failure_message().map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_arns_follow_the_service_model_pattern() {
        for ok in [
            "arn:aws:lambda:us-east-1:123456789012:function:gsm8k-reward",
            "arn:aws:lambda:us-gov-west-1:123456789012:function:r.v2:$LATEST",
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:r:prod_1",
        ] {
            assert!(is_lambda_arn(ok), "{ok}");
        }
        for bad in [
            "arn:aws:lambda:us-east-1:1234:function:r",
            "arn:aws:lambda:useast1:123456789012:function:r",
            "arn:aws:s3:us-east-1:123456789012:function:r",
            "arn:aws:lambda:us-east-1:123456789012:layer:r",
            "arn:aws:lambda:us-east-1:123456789012:function:",
            "arn:aws:lambda:us-east-1:123456789012:function:r:v.1",
        ] {
            assert!(!is_lambda_arn(bad), "{bad}");
        }
        let rft = RftConfig {
            grader_lambda_arn: "arn:aws:lambda:us-east-1:123456789012:function:r".into(),
            batch_size: Some(8),
            learning_rate: Some(0.1),
            reasoning_effort: Some("extreme".into()),
            ..RftConfig::default()
        };
        let p = rft.problems();
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            p[0].contains("rft.batch_size = 8 is out of range: 16 to 512"),
            "{p:?}"
        );
    }
}
