//! The train stage: `[train.local]` (LoRA on this machine) and `[train.bedrock]` (a Bedrock
//! customization job, submitted once and waited for).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use tunebench_aws::{AwsSettings, BedrockOptions};
use tunebench_train::bedrock::{
    self, BedrockTrainSettings, Clients, JobRecord, JobRef, WaitSettings,
};
use tunebench_train::{LocalTrainSettings, Progress, RunOptions, Status, Summary};

use crate::config::{ConfigError, Loaded, Scope};
use crate::error::{PipelineError, Result, io};

/// `[train.local]` of `loaded`, resolved.
///
/// # Errors
/// No `[train.local]` section, or a setting that does not resolve.
pub fn local_settings(loaded: &Loaded) -> Result<LocalTrainSettings> {
    let raw = loaded
        .raw
        .train
        .as_ref()
        .and_then(|t| t.local.clone())
        .ok_or_else(|| {
            ConfigError(format!(
                "{}: no [train.local] section",
                loaded.path.display()
            ))
        })?;
    Ok(raw.resolve(&loaded.base)?)
}

/// Trains; `stop` (set by a Ctrl-C handler) checkpoints and ends it with
/// [`PipelineError::Interrupted`].
///
/// # Errors
/// Training fails, or was interrupted.
pub fn local(
    settings: &LocalTrainSettings,
    resume: bool,
    stop: &AtomicBool,
    progress: &dyn Progress,
) -> Result<Summary> {
    let summary = tunebench_train::train_local(settings, &RunOptions { resume, stop }, progress)?;
    if summary.status == Status::Interrupted {
        return Err(PipelineError::Interrupted(summary.steps));
    }
    Ok(summary)
}

/// Deletes the checkpoints in `out_dir`: they belong to other settings and cannot be resumed.
///
/// # Errors
/// The folder cannot be removed.
pub fn start_over(out_dir: &Path) -> Result<()> {
    let ckpt = out_dir.join("checkpoints");
    if ckpt.exists() {
        std::fs::remove_dir_all(&ckpt).map_err(io(&ckpt))?;
    }
    Ok(())
}

/// `[aws]` with a section's own region, when it has one, winning.
pub fn aws_settings(region: Option<String>, aws: AwsSettings) -> AwsSettings {
    AwsSettings {
        region: region.or(aws.region.clone()),
        ..aws
    }
}

/// The Bedrock clients for a section with its own `region`, audited per `scope`.
///
/// # Errors
/// The clients cannot be built (no region, a bad endpoint).
pub fn bedrock_clients(
    loaded: &Loaded,
    region: Option<String>,
    out_dir: &Path,
    scope: Scope,
) -> Result<Clients> {
    let aws = loaded.audited(aws_settings(region, loaded.aws()), out_dir, scope);
    Ok(Clients::connect(&aws, &aws, &BedrockOptions::default())?)
}

/// Submits the Bedrock job of `raw` (idempotent: a resubmission finds the same job) and
/// waits for it; returns the estimated training dollars. With `[train.bedrock.grader_check]`
/// the reward check runs first (a new job only); `ui` shows it and hears each poll.
///
/// # Errors
/// The settings do not resolve, the rewards would teach nothing ([`tunebench_train::TrainError::Refused`]),
/// a call fails, or the job ends other than `Completed`.
pub fn bedrock_job(
    loaded: &Loaded,
    raw: BedrockTrainSettings,
    scope: Scope,
    ui: &dyn crate::run::RunUi,
) -> Result<f64> {
    let settings = raw.resolve(&loaded.base)?;
    // A reinforcement fine-tuning job's reward function is tried on real answers before the
    // job is paid for, as `train bedrock submit` does; a resumed job was checked already.
    if settings.grader_check.is_some() && JobRecord::load(&settings.out_dir)?.is_none() {
        let check = crate::grader_check::grader_check(loaded, &settings, None, ui.eval_progress())?;
        ui.say(&check.describe());
        check.refuse_if_useless(
            false,
            "submit once with `tunebench train bedrock submit --force`; the run then resumes that job",
        )?;
    }
    let clients = bedrock_clients(loaded, settings.region.clone(), &settings.out_dir, scope)?;
    let submitted = bedrock::submit(&settings, &clients, false)?;
    let job = bedrock::wait(
        &clients,
        &JobRef::Registry(settings.out_dir.clone()),
        &WaitSettings::default(),
        |j: &tunebench_aws::CustomizationJob| ui.bedrock_status(j),
    )?;
    if job.status != "Completed" {
        return Err(PipelineError::JobEnded {
            job: job.job_name,
            status: job.status,
            message: job.failure_message,
        });
    }
    Ok(submitted.plan.estimate.training_usd.unwrap_or(0.0))
}
