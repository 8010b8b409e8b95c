//! tunebench-datasets: turns a customer's raw export (CSV, JSON Lines or Parquet, local or
//! on S3) into clean, de-duplicated, PII-redacted train / validation / test files in the
//! format of the chosen target (a local model, or a Bedrock base model family), with a
//! manifest that accounts for every input record.
//!
//! The entry point is [`prepare`]; [`fetch_inputs`] and [`upload`] move data to and from S3.
#![warn(missing_docs)]

mod clean;
mod error;
pub mod manifest;
pub mod minhash;
mod parquet;
pub mod pii;
mod prepare;
pub mod read;
pub mod record;
pub mod settings;
mod split;
pub mod targets;
pub mod template;
pub mod tokens;
mod write;

use std::path::{Path, PathBuf};

pub use error::{Error, Result};
pub use manifest::Manifest;
pub use prepare::{NoProgress, Prepared, Progress, STAGING_PREFIX, config_hash, prepare};
pub use settings::{PrepareSettings, RawDataConfig};
use tunebench_aws::{S3, S3Uri, UploadOptions};

/// Downloads every `s3://` input (a key, or a prefix ending in `/` or `*`) into
/// `cache_dir`, returning `(uri, local path)` pairs for [`prepare`]. An object that cannot be
/// read is an error naming its URI.
pub fn fetch_inputs(
    inputs: &[String],
    s3: &S3,
    cache_dir: &Path,
) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for input in inputs.iter().filter(|i| i.starts_with("s3://")) {
        let uri: S3Uri = input.parse()?;
        let keys = if uri.key.is_empty() || uri.key.ends_with('/') || uri.key.ends_with('*') {
            let prefix = S3Uri {
                bucket: uri.bucket.clone(),
                key: uri.key.trim_end_matches('*').to_string(),
            };
            s3.list(&prefix)?
        } else {
            vec![uri]
        };
        std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
        for key in keys {
            let local = cache_dir.join(format!("{}__{}", key.bucket, key.key.replace('/', "__")));
            s3.download(&key, &local)?;
            out.push((key.to_string(), local));
        }
    }
    Ok(out)
}

/// Refuses an upload destination where an output would overwrite an `s3://` input, or land
/// under an input prefix that the next run would read back in. Call it before any work.
///
/// # Errors
/// [`Error::OutputIsInput`] naming both URIs.
pub fn check_upload_dest(settings: &PrepareSettings, dest: &S3Uri) -> Result<()> {
    for input in settings.inputs.iter().filter(|i| i.starts_with("s3://")) {
        let Ok(uri) = input.parse::<S3Uri>() else {
            continue;
        };
        let prefix = (uri.key.is_empty() || uri.key.ends_with('/') || uri.key.ends_with('*'))
            .then(|| format!("s3://{}/{}", uri.bucket, uri.key.trim_end_matches('*')));
        for name in prepare::output_names(settings.output_format) {
            let out = dest.join(&name).to_string();
            let how = if out == uri.to_string() {
                "is"
            } else if prefix.as_ref().is_some_and(|p| out.starts_with(p.as_str())) {
                "is matched by"
            } else {
                continue;
            };
            return Err(Error::OutputIsInput {
                input: input.clone(),
                output: out,
                how,
            });
        }
    }
    Ok(())
}

/// Uploads the outputs named in the manifest (splits, rejected.jsonl, then manifest.json)
/// under `dest`, skipping objects that already hold the same bytes, and records the
/// outcome in the manifest.
pub fn upload(prepared: &mut Prepared, s3: &S3, dest: &S3Uri, opts: &UploadOptions) -> Result<()> {
    let dir = prepared.out_dir.clone();
    let mut files: Vec<String> = prepared
        .manifest
        .splits
        .values()
        .map(|o| o.file.clone())
        .collect();
    files.push(prepared.manifest.rejected.file.clone());
    let mut uploaded = Vec::new();
    for file in files {
        let uri = dest.join(&file);
        let outcome = s3.upload(&dir.join(&file), &uri, opts)?;
        uploaded.push(manifest::Uploaded {
            file,
            uri: uri.to_string(),
            outcome: match outcome {
                tunebench_aws::UploadOutcome::Uploaded => "uploaded".into(),
                tunebench_aws::UploadOutcome::Multipart(n) => format!("multipart ({n} parts)"),
                tunebench_aws::UploadOutcome::Unchanged => "unchanged".into(),
            },
        });
    }
    prepared.manifest.uploaded = uploaded;
    write_manifest(&dir, &prepared.manifest)?;
    s3.upload(
        &dir.join("manifest.json"),
        &dest.join("manifest.json"),
        opts,
    )?;
    Ok(())
}

/// Writes `manifest.json` atomically.
pub(crate) fn write_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    let mut body = serde_json::to_vec_pretty(m)?;
    body.push(b'\n');
    write::write_atomic(&dir.join("manifest.json"), &body)?;
    Ok(())
}
