//! tunebench's AWS access (S3, Bedrock, Bedrock Runtime, CloudWatch): clients built from the
//! default credential chain (profile and region as configured) on one HTTPS client, each with
//! an endpoint override so tests and users of S3-compatible stores can point them at another
//! server. The rest of tunebench is synchronous batch code,
//! so each client owns a small tokio runtime and offers blocking calls; the exception is
//! [`BedrockRuntime`], async for eval's concurrent runner.
#![warn(missing_docs)]

pub mod audit;
pub mod bedrock;
pub mod cloudwatch;
mod error;
pub mod pricing;
pub mod runtime;
mod s3;
pub mod wait;

pub use audit::{AuditEntry, AuditLog, Outcome};
pub use bedrock::{
    Bedrock, BedrockOptions, CustomModel, CustomizationJob, CustomizationJobSpec,
    CustomizationJobSummary, CustomizationKind, Deployment, InvocationJob, InvocationJobSpec,
    JobFilter, ModelImportJob, ProvisionedThroughput, RftConfig, VpcConfig,
};
pub use cloudwatch::{CloudWatch, Dimension, MetricBatch, MetricDatum, Unit};
pub use error::{Error, Result};
pub use runtime::{
    BedrockRuntime, ConverseReply, ConverseRequest, LatencyProfile, Role, ServiceTier, Turn,
};
pub use s3::{S3, S3Uri, UploadOptions, UploadOutcome};
pub use wait::WaitSettings;

/// Where and as whom to reach AWS. Every field is optional: the SDK's default chain
/// (environment, `~/.aws/config`, instance metadata) fills the gaps, including
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3` for the endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// Region, e.g. `us-east-1`.
    pub region: Option<String>,
    /// Named profile of `~/.aws/config`.
    pub profile: Option<String>,
    /// Endpoint override, e.g. `http://127.0.0.1:5000` for a local S3-compatible server.
    pub endpoint_url: Option<String>,
    /// Append one JSON line per S3, Bedrock, Bedrock Runtime and CloudWatch call to this file (see
    /// [`audit`]). The CLI sets it by default: `aws-audit.jsonl` in the run folder under
    /// `tunebench run`, else in the command's output folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<std::path::PathBuf>,
}

impl AwsSettings {
    /// The SDK configuration of these settings, shared by every client: the default chain
    /// fills what they leave out, and `retry` is the client's retry policy.
    ///
    /// One HTTP client serves every AWS call, and the SSO and STS calls the credential chain
    /// makes: hyper 1 with rustls on ring, trusting the system's certificates. The SDK's
    /// default client is the same on aws-lc, a large C library that nothing else here needs.
    pub(crate) async fn sdk_config(
        &self,
        retry: aws_config::retry::RetryConfig,
    ) -> aws_config::SdkConfig {
        use aws_smithy_http_client::tls;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::Ring,
                    ))
                    .build_https(),
            )
            .retry_config(retry);
        if let Some(r) = &self.region {
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(e) = &self.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        loader.load().await
    }
}
