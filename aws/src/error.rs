//! Errors of the AWS clients. Messages name the operation and the resource; they never carry
//! credentials or object contents.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong talking to AWS.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed `s3://` URI.
    #[error(
        "{uri:?} is not an S3 URI\nhint: write s3://bucket/key (bucket names have 3 to 63 characters)"
    )]
    BadUri {
        /// The text given.
        uri: String,
    },
    /// A service call failed.
    #[error("S3 {operation} {target}: {message}{}", hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Service {
        /// The API operation, e.g. `GetObject`.
        operation: &'static str,
        /// `s3://bucket/key` it was about.
        target: String,
        /// The service's error code and message, or the transport error.
        message: String,
        /// A likely fix.
        hint: Option<String>,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A Bedrock or Bedrock Runtime call failed (after the retries the client is set up for).
    #[error("Bedrock {operation} {target}: {message}{}",
        hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Bedrock {
        /// The API operation, e.g. `CreateModelCustomizationJob` or `Converse`.
        operation: &'static str,
        /// The job, model or resource it was about (name or ARN).
        target: String,
        /// The service's error code, e.g. `ValidationException`; `None` for transport errors.
        code: Option<String>,
        /// The service's error code and message and its request id (for AWS support), or
        /// the transport error chain.
        message: String,
        /// A likely fix.
        hint: Option<String>,
    },
    /// A Bedrock resource did not reach a final state in time.
    #[error("{target} is still {status} after {}s\nhint: wait longer (the job keeps running) or check it in the Bedrock console", waited.as_secs())]
    WaitTimeout {
        /// The job or resource waited for.
        target: String,
        /// Its last status.
        status: String,
        /// How long it was waited for.
        waited: std::time::Duration,
    },
    /// The pricing table is not what tunebench reads.
    #[error("{}: {reason}\nhint: see the comments at the top of configs/pricing.toml for the fields", path.display())]
    Pricing {
        /// The pricing table.
        path: std::path::PathBuf,
        /// What is wrong, naming the field or entry.
        reason: String,
    },
    /// A CloudWatch call failed (after the retries the client is set up for).
    #[error("CloudWatch PutMetricData to namespace {namespace:?}: {message}{}",
        hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    CloudWatch {
        /// The metrics' namespace.
        namespace: String,
        /// The service's error code and message and its request id, or the transport error
        /// chain. (Few fields: a variant as large as [`Error::Bedrock`] would make every
        /// error that holds this one larger.)
        message: String,
        /// A likely fix.
        hint: Option<String>,
    },
    /// Metric data the service would refuse; nothing was sent.
    #[error("CloudWatch metrics for namespace {namespace:?}: {reason}")]
    InvalidMetricData {
        /// The namespace.
        namespace: String,
        /// Which datum and what is wrong with it (with a hint where the fix is known).
        reason: String,
    },
    /// The async runtime could not start.
    #[error("starting the AWS client runtime: {0}")]
    Runtime(std::io::Error),
}

impl Error {
    /// Wraps an SDK error, keeping its code and message and adding a hint for common ones.
    pub(crate) fn service<E>(
        operation: &'static str,
        target: String,
        err: aws_sdk_s3::error::SdkError<E>,
    ) -> Self
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        let (message, code) = match err.code() {
            Some(code) => (
                format!("{code}: {}", err.message().unwrap_or("")),
                Some(code.to_string()),
            ),
            None => {
                // Transport errors: report the whole chain, which names the cause.
                let mut msg = err.to_string();
                let mut src = std::error::Error::source(&err);
                while let Some(s) = src {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    src = s.source();
                }
                (msg, None)
            }
        };
        let hint = match code.as_deref() {
            Some("NoSuchBucket") => Some("check the bucket name and region".to_string()),
            Some("NoSuchKey") | Some("NotFound") => Some("check the key; `aws s3 ls` lists what is there".to_string()),
            Some("AccessDenied") | Some("InvalidAccessKeyId") | Some("SignatureDoesNotMatch") => Some(
                "check the credentials of the default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID) and the IAM policy".to_string(),
            ),
            None => Some("check the network and the endpoint (AWS_ENDPOINT_URL, aws.endpoint_url)".to_string()),
            _ => None,
        };
        Error::Service {
            operation,
            target,
            message,
            hint,
        }
    }
}

/// An SDK error's code (`None` for transport errors) and message: the service's code and
/// message with its request id, or the whole chain of a transport error, which names the
/// cause.
pub(crate) fn sdk_failure<E>(err: &aws_sdk_s3::error::SdkError<E>) -> (Option<String>, String)
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_s3::error::ProvideErrorMetadata;
    use aws_sdk_s3::operation::RequestId;
    let code = err.code().map(str::to_string);
    let message = match &code {
        Some(c) => match err.request_id() {
            Some(r) => format!("{c}: {} (request id {r})", err.message().unwrap_or("")),
            None => format!("{c}: {}", err.message().unwrap_or("")),
        },
        None => {
            let mut msg = err.to_string();
            let mut src = std::error::Error::source(err);
            while let Some(s) = src {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                src = s.source();
            }
            msg
        }
    };
    (code, message)
}

/// The hint for a Bedrock error code: what to change, or which permission is missing.
pub(crate) fn bedrock_hint(
    operation: &str,
    code: Option<&str>,
    message: &str,
    max_attempts: u32,
) -> Option<String> {
    let action = match operation {
        "Converse" => "bedrock:InvokeModel",
        "ConverseStream" => "bedrock:InvokeModelWithResponseStream",
        _ => "",
    };
    let action = if action.is_empty() {
        format!("bedrock:{operation}")
    } else {
        action.to_string()
    };
    Some(match code? {
        "AccessDeniedException" => {
            let pass_role = matches!(
                operation,
                "CreateModelCustomizationJob" | "CreateModelImportJob"
            );
            format!(
                "the IAM identity needs `{action}` on this resource{}; see configs/ for the IAM policy",
                if pass_role {
                    " and `iam:PassRole` on the job's service role"
                } else {
                    ""
                }
            )
        }
        "ValidationException" => match message.split_once(" at '").and_then(|(_, r)| r.split_once('\'')) {
            Some((field, _)) => format!("fix the request field `{field}` (see the message for the constraint)"),
            None => "the request does not satisfy the API's constraints; the message names the field".into(),
        },
        "ThrottlingException" | "TooManyRequestsException" | "ServiceUnavailableException" => format!(
            "still failing after {max_attempts} attempts with backoff: lower the concurrency or request a quota increase (Service Quotas, Amazon Bedrock)"
        ),
        "ServiceQuotaExceededException" => {
            "a Bedrock quota is reached: request an increase in Service Quotas, or delete unused resources".into()
        }
        "ResourceNotFoundException" => "check the identifier and the region (aws.region)".into(),
        "ConflictException" => {
            "a resource with this name exists or it is in the wrong state: choose another name, or reuse the same client request token to get the same job".into()
        }
        "ModelNotReadyException" => "the model is still being deployed: wait until it is Active / InService".into(),
        "InternalServerException" => format!("the service failed {max_attempts} times; try again later"),
        "UnrecognizedClientException" | "InvalidSignatureException" | "ExpiredTokenException" => {
            "check the credentials of the default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID) and the clock".into()
        }
        _ => return None,
    })
}
