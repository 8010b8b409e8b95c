//! The data stage: `[data]` (with `[upload]` and `[aws]`) resolved, S3 inputs fetched, the
//! preparation run, the outputs uploaded.

use tunebench_aws::{AwsSettings, S3, S3Uri, UploadOptions};
use tunebench_datasets::{PrepareSettings, Prepared, Progress};

use crate::config::{Loaded, Scope};
use crate::error::{PipelineError, Result};

/// Everything the data stage needs, resolved.
#[derive(Debug)]
pub struct DataJob {
    /// `[data]`.
    pub data: PrepareSettings,
    /// `[aws]`, its audit log resolved.
    pub aws: AwsSettings,
    /// Where the outputs go on S3, if anywhere.
    pub upload: Option<S3Uri>,
    /// How they go there.
    pub upload_options: UploadOptions,
}

impl DataJob {
    /// `[data]`, `[upload]` and `[aws]` of `loaded` (overrides already applied), resolved.
    ///
    /// # Errors
    /// A `[data]` setting or the upload URI that does not resolve.
    pub fn resolve(loaded: &Loaded, scope: Scope) -> Result<Self> {
        let data = loaded
            .raw
            .data
            .clone()
            .unwrap_or_default()
            .resolve(&loaded.base)?;
        let aws = loaded.audited(loaded.aws(), &data.out_dir, scope);
        let upload_cfg = loaded.raw.upload.clone().unwrap_or_default();
        let upload = upload_cfg
            .uri
            .as_deref()
            .map(str::parse::<S3Uri>)
            .transpose()?;
        let upload_options = UploadOptions {
            sse_kms_key_id: upload_cfg.sse_kms_key_id.clone(),
            multipart_threshold: upload_cfg
                .multipart_threshold_mib
                .map_or(UploadOptions::default().multipart_threshold, |m| m << 20),
            ..UploadOptions::default()
        };
        Ok(DataJob {
            data,
            aws,
            upload,
            upload_options,
        })
    }

    /// The settings as `--show-settings` prints them.
    pub fn shown(&self) -> serde_json::Value {
        // The memory limit is no part of the settings' hash (it changes no output), so it is
        // not serialised with them; it is shown all the same.
        let mut data = serde_json::to_value(&self.data).unwrap_or_default();
        if let Some(d) = data.as_object_mut() {
            d.insert(
                "memory_limit".into(),
                tunebench_datasets::settings::format_bytes(self.data.memory_limit).into(),
            );
        }
        serde_json::json!({
            "data": data,
            "aws": self.aws,
            "upload": {
                "uri": self.upload.as_ref().map(ToString::to_string),
                "sse_kms_key_id": self.upload_options.sse_kms_key_id,
                "multipart_threshold_bytes": self.upload_options.multipart_threshold,
            },
        })
    }
}

/// Fetches `s3://` inputs, prepares (or reuses unchanged outputs unless `force`), uploads.
///
/// # Errors
/// The upload destination is an input; preparing, fetching or uploading fails; the record
/// counts do not balance (a bug: every input record must be accounted for).
pub fn prepare(job: &DataJob, force: bool, progress: &dyn Progress) -> Result<Prepared> {
    let settings = &job.data;
    if let Some(dest) = &job.upload {
        tunebench_datasets::check_upload_dest(settings, dest)?;
    }
    let needs_s3 = job.upload.is_some() || settings.inputs.iter().any(|i| i.starts_with("s3://"));
    let s3 = needs_s3.then(|| S3::connect(&job.aws)).transpose()?;
    let fetched = match &s3 {
        Some(s3) => tunebench_datasets::fetch_inputs(
            &settings.inputs,
            s3,
            &settings.out_dir.join(".inputs"),
        )?,
        None => Vec::new(),
    };
    let mut prepared = tunebench_datasets::prepare(settings, &fetched, force, progress)?;
    if let (Some(s3), Some(dest)) = (&s3, &job.upload) {
        tunebench_datasets::upload(&mut prepared, s3, dest, &job.upload_options)
            .map_err(|e| PipelineError::from(e).context(format!("uploading to {dest}")))?;
    }
    let counts = &prepared.manifest.counts;
    if !counts.balanced() {
        return Err(PipelineError::Unbalanced(format!("{counts:?}")));
    }
    Ok(prepared)
}
