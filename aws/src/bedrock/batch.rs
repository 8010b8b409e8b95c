//! Bedrock batch inference jobs (`CreateModelInvocationJob` / `GetModelInvocationJob`): a
//! JSONL of records (`recordId` + `modelInput`) in S3 goes to a model at the batch rate, and
//! the answers come back as `<output prefix>/<job id>/<input file>.out`.
//!
//! This is the control-plane half (submit and poll); the record format and the run of a
//! suite through a job (upload, submit, wait, download, join) are `tunebench_eval::batch`.
//! Jobs are submitted with `modelInvocationType = Converse`: each record's `modelInput` is a
//! Converse request body.

use super::{Bedrock, res, time, types};
use crate::{Error, Result};

/// What [`Bedrock::create_invocation_job`] submits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationJobSpec {
    /// Job name (unique in the account and region).
    pub job_name: String,
    /// Service role Bedrock assumes to read the input and write the output.
    pub role_arn: String,
    /// Model id or inference profile.
    pub model_id: String,
    /// `s3://bucket/key.jsonl` (or a prefix of such files) of the records.
    pub input_s3_uri: String,
    /// `s3://bucket/prefix/` for the outputs.
    pub output_s3_uri: String,
    /// Idempotency token: a repeated submit with the same token returns the same job.
    pub client_request_token: Option<String>,
    /// Hours before Bedrock stops the job (24 to 168; the service's default when `None`).
    pub timeout_hours: Option<i32>,
}

/// A batch inference job as [`Bedrock::get_invocation_job`] sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvocationJob {
    /// Job ARN.
    pub job_arn: String,
    /// Job name.
    pub job_name: String,
    /// Model id.
    pub model_id: String,
    /// `Submitted`, `Validating`, `Scheduled`, `InProgress`, `Completed`,
    /// `PartiallyCompleted`, `Failed`, `Stopping`, `Stopped` or `Expired`.
    pub status: String,
    /// Why it failed, or what the service says about it.
    pub message: Option<String>,
    /// Where its outputs go.
    pub output_s3_uri: Option<String>,
    /// Submission time (RFC 3339).
    pub submit_time: String,
    /// End time, once it ended.
    pub end_time: Option<String>,
    /// Records in the input, when known.
    pub total_records: Option<i64>,
    /// Records processed so far (answered or failed).
    pub processed_records: Option<i64>,
    /// Records answered.
    pub success_records: Option<i64>,
    /// Records that failed (their error is in the output file).
    pub error_records: Option<i64>,
}

impl InvocationJob {
    /// Whether the job has stopped changing.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            "Completed" | "PartiallyCompleted" | "Failed" | "Stopped" | "Expired"
        )
    }

    /// The job id: the last part of its ARN, which names its output folder.
    pub fn job_id(&self) -> &str {
        self.job_arn.rsplit('/').next().unwrap_or(&self.job_arn)
    }
}

impl Bedrock {
    /// Submits a batch inference job; returns its ARN.
    pub fn create_invocation_job(&self, spec: &InvocationJobSpec) -> Result<String> {
        let build_err = |e: aws_sdk_bedrock::error::BuildError| Error::Bedrock {
            operation: "CreateModelInvocationJob",
            target: spec.job_name.clone(),
            code: None,
            message: format!("building the request: {e}"),
            hint: None,
        };
        let input = types::ModelInvocationJobS3InputDataConfig::builder()
            .s3_input_format(types::S3InputFormat::Jsonl)
            .s3_uri(&spec.input_s3_uri)
            .build()
            .map_err(build_err)?;
        let output = types::ModelInvocationJobS3OutputDataConfig::builder()
            .s3_uri(&spec.output_s3_uri)
            .build()
            .map_err(build_err)?;
        let mut request = self
            .client
            .create_model_invocation_job()
            .job_name(&spec.job_name)
            .role_arn(&spec.role_arn)
            .model_id(&spec.model_id)
            .input_data_config(types::ModelInvocationJobInputDataConfig::S3InputDataConfig(
                input,
            ))
            .output_data_config(
                types::ModelInvocationJobOutputDataConfig::S3OutputDataConfig(output),
            )
            .model_invocation_type(types::ModelInvocationType::Converse)
            .set_client_request_token(spec.client_request_token.clone());
        if let Some(hours) = spec.timeout_hours {
            request = request.timeout_duration_in_hours(hours);
        }
        let o = self.run(
            "CreateModelInvocationJob",
            &spec.job_name,
            res(&[
                ("jobName", &spec.job_name),
                ("roleArn", &spec.role_arn),
                ("modelId", &spec.model_id),
                ("inputS3Uri", &spec.input_s3_uri),
                ("outputS3Uri", &spec.output_s3_uri),
            ]),
            request.send(),
            |o: &aws_sdk_bedrock::operation::create_model_invocation_job::CreateModelInvocationJobOutput| {
                vec![("jobArn", o.job_arn().to_string())]
            },
        )?;
        Ok(o.job_arn().to_string())
    }

    /// A batch inference job (ARN).
    pub fn get_invocation_job(&self, job: &str) -> Result<InvocationJob> {
        let o = self.run(
            "GetModelInvocationJob",
            job,
            res(&[("jobIdentifier", job)]),
            self.client
                .get_model_invocation_job()
                .job_identifier(job)
                .send(),
            |o: &aws_sdk_bedrock::operation::get_model_invocation_job::GetModelInvocationJobOutput| {
                o.status()
                    .map(|s| vec![("status", s.as_str().to_string())])
                    .unwrap_or_default()
            },
        )?;
        let output_s3_uri = match o.output_data_config() {
            Some(types::ModelInvocationJobOutputDataConfig::S3OutputDataConfig(c)) => {
                Some(c.s3_uri().to_string())
            }
            _ => None,
        };
        Ok(InvocationJob {
            job_arn: o.job_arn().to_string(),
            job_name: o.job_name().unwrap_or_default().to_string(),
            model_id: o.model_id().to_string(),
            status: o
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            message: o.message().map(str::to_string),
            output_s3_uri,
            submit_time: time(o.submit_time()),
            end_time: o.end_time().map(time),
            total_records: o.total_record_count(),
            processed_records: o.processed_record_count(),
            success_records: o.success_record_count(),
            error_records: o.error_record_count(),
        })
    }
}
