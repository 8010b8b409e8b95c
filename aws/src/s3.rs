//! S3: download inputs, list prefixes, upload outputs (multipart above a threshold,
//! optional SSE-KMS), skipping objects whose content is already there.
//!
//! "Already there" is decided by a `sha256` user-metadata entry that every upload sets: it
//! survives multipart uploads (whose ETag is not a content hash) and costs one HeadObject.
//!
//! Every call is appended to the audit log of [`AwsSettings::audit_log`] when one is set
//! (bucket and key, request id, outcome; never the object's content).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::runtime::Runtime;

use crate::audit::{AuditLog, note};
use crate::{AwsSettings, Error, Result};

/// `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Uri {
    /// Bucket.
    pub bucket: String,
    /// Key (may be empty or a prefix).
    pub key: String,
}

impl std::str::FromStr for S3Uri {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::BadUri { uri: s.to_string() };
        let rest = s.strip_prefix("s3://").ok_or_else(bad)?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(bad());
        }
        Ok(S3Uri {
            bucket: bucket.into(),
            key: key.into(),
        })
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

impl S3Uri {
    /// This URI with `name` appended as one more path segment.
    pub fn join(&self, name: &str) -> S3Uri {
        let key = if self.key.is_empty() || self.key.ends_with('/') {
            format!("{}{name}", self.key)
        } else {
            format!("{}/{name}", self.key)
        };
        S3Uri {
            bucket: self.bucket.clone(),
            key,
        }
    }
}

/// Upload settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadOptions {
    /// Files at least this large go up in parts (default 64 MiB).
    pub multipart_threshold: u64,
    /// Part size (default 16 MiB; S3's minimum is 5 MiB).
    pub part_size: u64,
    /// KMS key id or ARN for SSE-KMS; `None` leaves the bucket's default encryption.
    pub sse_kms_key_id: Option<String>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            multipart_threshold: 64 << 20,
            part_size: 16 << 20,
            sse_kms_key_id: None,
        }
    }
}

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadOutcome {
    /// One PutObject.
    Uploaded,
    /// A multipart upload of this many parts.
    Multipart(usize),
    /// The object already has this content; nothing was sent.
    Unchanged,
}

/// A blocking S3 client.
pub struct S3 {
    rt: Runtime,
    client: Client,
    audit: Option<Arc<AuditLog>>,
}

impl S3 {
    /// Builds a client from the default credential chain and `settings`.
    pub fn connect(settings: &AwsSettings) -> Result<S3> {
        let audit = settings
            .audit_log
            .as_deref()
            .map(|p| AuditLog::open(p).map(Arc::new))
            .transpose()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let client = rt.block_on(async {
            let shared = settings
                .sdk_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
                .await;
            // Custom endpoints (local servers, S3-compatible stores) rarely resolve
            // virtual-host bucket names, so they get path-style addressing.
            let path_style = settings.endpoint_url.is_some()
                || std::env::var_os("AWS_ENDPOINT_URL").is_some()
                || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
            let conf = aws_sdk_s3::config::Builder::from(&shared)
                .force_path_style(path_style)
                .build();
            Client::from_conf(conf)
        });
        Ok(S3 { rt, client, audit })
    }

    /// Writes the audit line of one call to `uri` that started at `started`.
    fn audit<T, E>(
        &self,
        operation: &str,
        uri: &S3Uri,
        started: Instant,
        result: &std::result::Result<T, SdkError<E>>,
    ) where
        T: RequestId,
        E: ProvideErrorMetadata,
    {
        let Some(log) = self.audit.as_deref() else {
            return;
        };
        let mut resources = BTreeMap::from([("bucket".to_string(), uri.bucket.clone())]);
        if !uri.key.is_empty() {
            resources.insert("key".to_string(), uri.key.clone());
        }
        let (request_id, error_code, status) = match result {
            Ok(out) => (out.request_id().map(str::to_string), None, None),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                // A HEAD answer has no body, so a missing object has no error code.
                let code = e
                    .code()
                    .map(str::to_string)
                    .or_else(|| status.map(|s| format!("HTTP {s}")));
                (e.request_id().map(str::to_string), Some(code), status)
            }
        };
        note(
            Some(log),
            "s3",
            operation,
            resources,
            request_id,
            error_code,
            status,
            started.elapsed(),
            BTreeMap::new(),
        );
    }

    /// Creates a bucket (used by tests and first-time set-up).
    pub fn create_bucket(&self, bucket: &str) -> Result<()> {
        let uri = S3Uri {
            bucket: bucket.to_string(),
            key: String::new(),
        };
        let started = Instant::now();
        let result = self
            .rt
            .block_on(self.client.create_bucket().bucket(bucket).send());
        self.audit("CreateBucket", &uri, started, &result);
        result.map_err(|e| Error::service("CreateBucket", format!("s3://{bucket}"), e))?;
        Ok(())
    }

    /// Keys under a prefix, all pages.
    pub fn list(&self, prefix: &S3Uri) -> Result<Vec<S3Uri>> {
        self.rt.block_on(async {
            let mut out = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&prefix.bucket)
                .prefix(&prefix.key)
                .into_paginator()
                .send();
            loop {
                let started = Instant::now();
                let Some(page) = pages.next().await else {
                    break;
                };
                self.audit("ListObjectsV2", prefix, started, &page);
                let page =
                    page.map_err(|e| Error::service("ListObjectsV2", prefix.to_string(), e))?;
                out.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key())
                        .map(|k| S3Uri {
                            bucket: prefix.bucket.clone(),
                            key: k.to_string(),
                        }),
                );
            }
            Ok(out)
        })
    }

    /// Downloads an object to `dest` (written to a temporary file, then renamed).
    pub fn download(&self, uri: &S3Uri, dest: &Path) -> Result<()> {
        let tmp = dest.with_extension("part");
        let io = |p: &Path| {
            let p = p.to_path_buf();
            move |source| Error::Io { path: p, source }
        };
        self.rt.block_on(async {
            let started = Instant::now();
            let obj = self
                .client
                .get_object()
                .bucket(&uri.bucket)
                .key(&uri.key)
                .send()
                .await;
            self.audit("GetObject", uri, started, &obj);
            let obj = obj.map_err(|e| Error::service("GetObject", uri.to_string(), e))?;
            let mut file = tokio::fs::File::create(&tmp).await.map_err(io(&tmp))?;
            let mut body = obj.body;
            while let Some(chunk) = body.try_next().await.map_err(|e| Error::Service {
                operation: "GetObject",
                target: uri.to_string(),
                message: format!("reading the body: {e}"),
                hint: None,
            })? {
                file.write_all(&chunk).await.map_err(io(&tmp))?;
            }
            file.flush().await.map_err(io(&tmp))?;
            file.sync_all().await.map_err(io(&tmp))?;
            Ok::<_, Error>(())
        })?;
        std::fs::rename(&tmp, dest).map_err(io(dest))
    }

    /// The `sha256` metadata of an object, `None` if the object does not exist.
    fn remote_sha256(&self, uri: &S3Uri) -> Result<Option<String>> {
        let started = Instant::now();
        let head = self.rt.block_on(
            self.client
                .head_object()
                .bucket(&uri.bucket)
                .key(&uri.key)
                .send(),
        );
        self.audit("HeadObject", uri, started, &head);
        match head {
            Ok(h) => Ok(h.metadata().and_then(|m| m.get("sha256")).cloned()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(Error::service("HeadObject", uri.to_string(), e)),
        }
    }

    /// Uploads `local` to `dest` unless `dest` already holds the same bytes.
    pub fn upload(
        &self,
        local: &Path,
        dest: &S3Uri,
        opts: &UploadOptions,
    ) -> Result<UploadOutcome> {
        let io = |source| Error::Io {
            path: local.to_path_buf(),
            source,
        };
        let data = std::fs::read(local).map_err(io)?;
        let sha = hex::encode(Sha256::digest(&data));
        if self.remote_sha256(dest)?.as_deref() == Some(sha.as_str()) {
            return Ok(UploadOutcome::Unchanged);
        }
        let kms = opts.sse_kms_key_id.as_deref();
        if (data.len() as u64) < opts.multipart_threshold {
            let mut req = self
                .client
                .put_object()
                .bucket(&dest.bucket)
                .key(&dest.key)
                .metadata("sha256", &sha)
                .body(ByteStream::from(data));
            if let Some(k) = kms {
                req = req
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(k);
            }
            let started = Instant::now();
            let result = self.rt.block_on(req.send());
            self.audit("PutObject", dest, started, &result);
            result.map_err(|e| Error::service("PutObject", dest.to_string(), e))?;
            return Ok(UploadOutcome::Uploaded);
        }
        self.multipart(data, &sha, dest, opts)
    }

    fn multipart(
        &self,
        data: Vec<u8>,
        sha: &str,
        dest: &S3Uri,
        opts: &UploadOptions,
    ) -> Result<UploadOutcome> {
        let part_size = opts.part_size.max(5 << 20) as usize;
        self.rt.block_on(async {
            let mut create = self
                .client
                .create_multipart_upload()
                .bucket(&dest.bucket)
                .key(&dest.key)
                .metadata("sha256", sha);
            if let Some(k) = &opts.sse_kms_key_id {
                create = create
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(k);
            }
            let started = Instant::now();
            let created = create.send().await;
            self.audit("CreateMultipartUpload", dest, started, &created);
            let created = created
                .map_err(|e| Error::service("CreateMultipartUpload", dest.to_string(), e))?;
            let upload_id = created.upload_id().unwrap_or_default().to_string();
            let mut parts = Vec::new();
            for (i, chunk) in data.chunks(part_size).enumerate() {
                let number = i as i32 + 1;
                let started = Instant::now();
                let sent = self
                    .client
                    .upload_part()
                    .bucket(&dest.bucket)
                    .key(&dest.key)
                    .upload_id(&upload_id)
                    .part_number(number)
                    .body(ByteStream::from(chunk.to_vec()))
                    .send()
                    .await;
                self.audit("UploadPart", dest, started, &sent);
                match sent {
                    Ok(p) => parts.push(
                        CompletedPart::builder()
                            .part_number(number)
                            .set_e_tag(p.e_tag().map(str::to_string))
                            .build(),
                    ),
                    Err(e) => {
                        // Leave no orphaned parts (they are billed) behind a failed upload.
                        let started = Instant::now();
                        let aborted = self
                            .client
                            .abort_multipart_upload()
                            .bucket(&dest.bucket)
                            .key(&dest.key)
                            .upload_id(&upload_id)
                            .send()
                            .await;
                        self.audit("AbortMultipartUpload", dest, started, &aborted);
                        return Err(Error::service("UploadPart", dest.to_string(), e));
                    }
                }
            }
            let count = parts.len();
            let started = Instant::now();
            let completed = self
                .client
                .complete_multipart_upload()
                .bucket(&dest.bucket)
                .key(&dest.key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await;
            self.audit("CompleteMultipartUpload", dest, started, &completed);
            completed
                .map_err(|e| Error::service("CompleteMultipartUpload", dest.to_string(), e))?;
            Ok(UploadOutcome::Multipart(count))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_and_join() {
        let u: S3Uri = "s3://my-bucket/data/prep".parse().unwrap();
        assert_eq!(u.bucket, "my-bucket");
        assert_eq!(
            u.join("train.jsonl").to_string(),
            "s3://my-bucket/data/prep/train.jsonl"
        );
        let root: S3Uri = "s3://my-bucket/".parse().unwrap();
        assert_eq!(root.join("a").key, "a");
        assert!("s3://ab/x".parse::<S3Uri>().is_err());
        assert!("s3://Upper/x".parse::<S3Uri>().is_err());
        assert!("https://b/x".parse::<S3Uri>().is_err());
    }
}
