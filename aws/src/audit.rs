//! Append-only audit log of the AWS calls tunebench makes (S3, Bedrock, Bedrock Runtime,
//! CloudWatch): one JSON object per line with the time, service, operation, the resource names
//! and ARNs involved (bucket and key for S3), the service's request id, the outcome, the
//! duration and, for a failure, the error *code* and HTTP status. It never holds credentials,
//! prompts, responses, record contents or metric values, and no error *messages* either (a
//! ValidationException message may quote the offending value, which can be a prompt).
//!
//! Each entry is written with one `write` on a file opened with `O_APPEND`, so concurrent
//! writers (eval's parallel Converse calls, two tunebench processes) never interleave lines.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::{Error, Result};

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The service answered with success.
    Ok,
    /// The call failed (after retries).
    Error,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// RFC 3339 UTC time the call ended.
    pub time: String,
    /// `s3`, `bedrock`, `bedrock-runtime` or `cloudwatch`.
    pub service: String,
    /// API operation, e.g. `CreateModelCustomizationJob`.
    pub operation: String,
    /// Names and ARNs involved, e.g. `jobName`, `jobArn`, `modelId`; `bucket` and `key` for S3;
    /// `namespace` and `datums` (their count) for CloudWatch.
    pub resources: BTreeMap<String, String>,
    /// The service's request id (absent when no response arrived).
    pub request_id: Option<String>,
    /// Success or failure.
    pub outcome: Outcome,
    /// The service's error code on failure, e.g. `ThrottlingException`, or `transport`.
    pub error_code: Option<String>,
    /// The HTTP status of a failed call's response (`None` on success, where the SDK does not
    /// expose it, and when no response arrived).
    #[serde(default)]
    pub http_status: Option<u16>,
    /// Wall time of the call, retries included.
    pub duration_ms: u64,
    /// Token counts of a Converse call (`input`, `output`); never the text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub usage: BTreeMap<String, u64>,
}

/// An open audit log file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creating it and its directory if needed) `path` for appending.
    pub fn open(path: &Path) -> Result<AuditLog> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entry. A failure to write is returned; callers log it and carry on, since
    /// the call it describes has already happened.
    pub fn record(&self, entry: &AuditEntry) -> Result<()> {
        let mut line = serde_json::to_vec(entry).map_err(|e| Error::Io {
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(&line).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// Awaits one SDK call and appends its audit line: the resources plus what `found` reads
/// off the answer, the request id, and for a failure its error code and HTTP status. The
/// SDK's own result is returned for the caller's error mapping.
pub(crate) async fn audited<T, E, F>(
    log: Option<&AuditLog>,
    service: &str,
    operation: &str,
    mut resources: BTreeMap<String, String>,
    fut: F,
    found: impl FnOnce(&T) -> Vec<(&'static str, String)>,
) -> std::result::Result<T, aws_sdk_s3::error::SdkError<E>>
where
    F: std::future::Future<Output = std::result::Result<T, aws_sdk_s3::error::SdkError<E>>>,
    T: aws_sdk_s3::operation::RequestId,
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    use aws_sdk_s3::operation::RequestId as _;
    let started = std::time::Instant::now();
    let result = fut.await;
    let (request_id, error_code, http_status) = match &result {
        Ok(out) => {
            for (k, v) in found(out) {
                resources.insert(k.to_string(), v);
            }
            (out.request_id().map(str::to_string), None, None)
        }
        Err(e) => (
            e.request_id().map(str::to_string),
            Some(e.code().map(str::to_string)),
            e.raw_response().map(|r| r.status().as_u16()),
        ),
    };
    note(
        log,
        service,
        operation,
        resources,
        request_id,
        error_code,
        http_status,
        started.elapsed(),
        BTreeMap::new(),
    );
    result
}

/// Builds and writes an entry; a write failure becomes a warning.
#[allow(clippy::too_many_arguments)]
pub(crate) fn note(
    log: Option<&AuditLog>,
    service: &str,
    operation: &str,
    resources: BTreeMap<String, String>,
    request_id: Option<String>,
    error_code: Option<Option<String>>,
    http_status: Option<u16>,
    elapsed: Duration,
    usage: BTreeMap<String, u64>,
) {
    let Some(log) = log else { return };
    let time = aws_smithy_types::DateTime::from(SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    let entry = AuditEntry {
        time,
        service: service.into(),
        operation: operation.into(),
        resources,
        request_id,
        outcome: if error_code.is_some() {
            Outcome::Error
        } else {
            Outcome::Ok
        },
        error_code: error_code.map(|c| c.unwrap_or_else(|| "transport".into())),
        http_status,
        duration_ms: elapsed.as_millis() as u64,
        usage,
    };
    if let Err(e) = log.record(&entry) {
        tracing::warn!("audit log: {e}");
    }
}
