//! Errors of the training crate: local training and Amazon Bedrock jobs alike.

use std::path::PathBuf;

/// What can go wrong while training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A setting is missing, out of range, or contradicts another.
    #[error("{0}")]
    Config(String),
    /// A line of a training or validation file is not a usable example.
    #[error("{path}:{line}: {reason}")]
    Example {
        /// The JSONL file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// A training or validation file holds no usable example.
    #[error("{path}: no usable example: {reason}")]
    NoExamples {
        /// The JSONL file.
        path: PathBuf,
        /// Why, with a hint.
        reason: String,
    },
    /// A data file does not match the `data prepare` manifest beside it: it comes from
    /// another run, or from one that was stopped while publishing.
    #[error(
        "{}: {reason}; the data folder mixes files of different `data prepare` runs, or of one that was stopped\nhint: rerun `tunebench data prepare` for {}",
        path.display(),
        manifest.display()
    )]
    StaleData {
        /// The data file.
        path: PathBuf,
        /// The manifest.json it was checked against.
        manifest: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// A checkpoint cannot be read or does not belong to this run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Loading, running or saving the model.
    #[error(transparent)]
    Model(#[from] tunebench_models::ModelError),

    // Amazon Bedrock customization and import (`crate::bedrock`).
    /// Pre-flight checks failed; nothing was uploaded or submitted. One line per problem.
    #[error("the Bedrock job was not submitted:\n  - {}", .0.join("\n  - "))]
    Preflight(Vec<String>),
    /// The estimated cost is above `max_cost_usd`.
    #[error(
        "estimated cost ${estimate:.2} is above max_cost_usd = {limit:.2}; nothing was submitted\nhint: raise max_cost_usd, lower epochCount or train on fewer records"
    )]
    CostLimit {
        /// Estimated dollars.
        estimate: f64,
        /// The limit.
        limit: f64,
    },
    /// No job given and no registry in the run directory.
    #[error(
        "{}: no job registry\nhint: submit first (`tunebench train bedrock submit`) or name the job", path.display()
    )]
    NoRegistry {
        /// The missing `job.json`.
        path: PathBuf,
    },
    /// A job of a different configuration is still running from this run directory.
    #[error(
        "{}: job {job} (a different configuration) is still {status}\nhint: wait for it, stop it, or use another out_dir", path.display()
    )]
    Busy {
        /// The registry.
        path: PathBuf,
        /// The job in it.
        job: String,
        /// Its last known status.
        status: String,
    },
    /// A refused action (e.g. provisioned throughput without `yes`).
    #[error("{0}")]
    Refused(String),
    /// A deployment or provisioned throughput ended in a state it cannot be called in.
    #[error(
        "{arn} is {status}, not usable: {reason}\nhint: fix the cause, then `tunebench train bedrock undeploy` and deploy again"
    )]
    Unusable {
        /// The deployment or provisioned-throughput ARN.
        arn: String,
        /// Its final status.
        status: String,
        /// The service's failure message.
        reason: String,
    },
    /// A model import job failed.
    #[error(
        "model import job {arn} is {status}: {reason}\nhint: check the model directory's files and the role's access to the S3 prefix, then import again"
    )]
    ImportFailed {
        /// The import job ARN.
        arn: String,
        /// Its final status.
        status: String,
        /// The service's failure message.
        reason: String,
    },
    /// A metrics file of the job is not the CSV expected.
    #[error("{}: {reason}", path.display())]
    Metrics {
        /// The downloaded file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// AWS said no.
    #[error(transparent)]
    Aws(#[from] tunebench_aws::Error),
    /// `job.json` is not what tunebench writes.
    #[error("{}: {source}", path.display())]
    Registry {
        /// The registry file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;

/// An I/O error that names its file.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.into();
    move |source| TrainError::Io { path, source }
}

/// Settings, examples, pre-flight findings, a cost limit, a missing job record or a refused
/// action are the user's to fix; a model error says itself (a device that does not exist is
/// the user's, a backend failure is not).
impl tunebench_core::UserFault for TrainError {
    fn is_user_fault(&self) -> bool {
        if let TrainError::Model(e) = self {
            return tunebench_core::UserFault::is_user_fault(e);
        }
        matches!(
            self,
            TrainError::Config(_)
                | TrainError::Example { .. }
                | TrainError::NoExamples { .. }
                | TrainError::Preflight(_)
                | TrainError::CostLimit { .. }
                | TrainError::NoRegistry { .. }
                | TrainError::Refused(_)
        )
    }
}
