//! Upload of the prepared files and idempotent submission.

use super::*;

/// One uploaded (or skipped) file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upload {
    /// The local file.
    pub file: PathBuf,
    /// Where it went.
    pub uri: String,
    /// Uploaded, or already there.
    pub outcome: UploadOutcome,
}

/// What [`submit`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Submission {
    /// The plan (request, estimate, data).
    pub plan: Plan,
    /// True: nothing was uploaded or sent.
    pub dry_run: bool,
    /// Files uploaded or found unchanged.
    pub uploads: Vec<Upload>,
    /// The registry entry (`None` on a dry run).
    pub job: Option<JobRecord>,
    /// True when the registry already held this exact submission (nothing was sent).
    pub resumed: bool,
}

/// Pre-flight, cost check, upload, submit, registry. With `dry_run` returns the plan and
/// sends nothing (`clients` unused). Submitting the same configuration and data again
/// returns the recorded job (or, without a registry, the same job through the idempotency
/// token).
pub fn submit(
    settings: &BedrockTrainSettings,
    clients: &Clients,
    dry_run: bool,
) -> Result<Submission> {
    let plan = plan(settings)?;
    if dry_run {
        return Ok(Submission {
            plan,
            dry_run,
            uploads: Vec::new(),
            job: None,
            resumed: false,
        });
    }
    if let Some(rec) = JobRecord::load(&settings.out_dir)? {
        if rec.config_hash == plan.config_hash {
            return Ok(Submission {
                plan,
                dry_run,
                uploads: Vec::new(),
                job: Some(rec),
                resumed: true,
            });
        }
        if !matches!(rec.status.as_str(), "Completed" | "Failed" | "Stopped") {
            return Err(TrainError::Busy {
                path: JobRecord::path(&settings.out_dir),
                job: rec.job_arn,
                status: rec.status,
            });
        }
    }
    let mut uploads = Vec::new();
    let opts = UploadOptions {
        sse_kms_key_id: None,
        ..UploadOptions::default()
    };
    for d in plan.data.iter().filter(|d| !d.path.as_os_str().is_empty()) {
        let uri: S3Uri = d.uri.parse()?;
        let outcome = clients.s3.upload(&d.path, &uri, &opts)?;
        uploads.push(Upload {
            file: d.path.clone(),
            uri: d.uri.clone(),
            outcome,
        });
    }
    let arn = clients.bedrock.create_customization_job(&plan.spec)?;
    let rec = JobRecord {
        job_arn: arn,
        job_name: plan.spec.job_name.clone(),
        status: "InProgress".into(),
        config_hash: plan.config_hash.clone(),
        client_request_token: plan.spec.client_request_token.clone().unwrap_or_default(),
        base_model: plan.spec.base_model.clone(),
        custom_model_name: plan.spec.custom_model_name.clone(),
        output_s3_uri: plan.spec.output_s3_uri.clone(),
        ..JobRecord::default()
    };
    rec.save(&settings.out_dir)?;
    Ok(Submission {
        plan,
        dry_run,
        uploads,
        job: Some(rec),
        resumed: false,
    })
}
