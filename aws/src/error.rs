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
