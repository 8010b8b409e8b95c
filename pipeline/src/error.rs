//! The pipeline's error, and the exit code of any error a command ends with.

use std::path::PathBuf;

use tunebench_core::UserFault;

/// A problem with the config file or the command line itself (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Why a pipeline function failed. A stage's own error is kept whole (its message names the
/// file, line and field), so it still says whose fault it is.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The config file or a flag.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Data preparation.
    #[error(transparent)]
    Data(#[from] tunebench_datasets::Error),
    /// An AWS client.
    #[error(transparent)]
    Aws(#[from] tunebench_aws::Error),
    /// Training (local or Bedrock).
    #[error(transparent)]
    Train(#[from] tunebench_train::TrainError),
    /// Calling candidates.
    #[error(transparent)]
    Eval(#[from] tunebench_eval::error::EvalError),
    /// Reading a suite.
    #[error(transparent)]
    Scoring(#[from] tunebench_eval::error::ScoreError),
    /// The report, history or gate.
    #[error(transparent)]
    Report(#[from] tunebench_reports::ReportError),
    /// The model registry.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// What was being done when `source` happened.
    #[error("{context}")]
    In {
        /// E.g. `uploading to s3://…`.
        context: String,
        /// The failure.
        #[source]
        source: Box<PipelineError>,
    },
    /// A file or folder of the run.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// `run.json` that does not parse.
    #[error("{}: not a run manifest: {source}", path.display())]
    Manifest {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Settings that do not serialise (a bug).
    #[error("internal error: {0}")]
    Json(#[from] serde_json::Error),
    /// A stage's result could not be shown (stdout closed).
    #[error("showing a stage's result: {0}")]
    Show(#[source] std::io::Error),
    /// Record counts of a prepared data set that do not add up (a bug).
    #[error("internal error: record counts do not balance: {0}")]
    Unbalanced(String),
    /// A Bedrock job that ended other than `Completed`.
    #[error("Bedrock job {job} ended {status}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    JobEnded {
        /// Job name.
        job: String,
        /// Its final status.
        status: String,
        /// Its failure message.
        message: Option<String>,
    },
    /// The gate found a regression (exit code 3).
    #[error("regression: {0} of the gate's checks failed (see above)")]
    Regression(usize),
    /// Training stopped by Ctrl-C after writing a checkpoint (exit code 130).
    #[error("interrupted after step {0}; the checkpoint is saved: rerun with --resume to continue")]
    Interrupted(usize),
}

/// The pipeline's result.
pub type Result<T, E = PipelineError> = std::result::Result<T, E>;

impl PipelineError {
    /// `self`, said to have happened while doing `context`.
    pub fn context(self, context: impl Into<String>) -> Self {
        PipelineError::In {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// 3 for a regression, 130 for an interrupted training, 2 for the user's fault, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            PipelineError::Regression(_) => 3,
            PipelineError::Interrupted(_) => 130,
            PipelineError::In { source, .. } => source.exit_code(),
            e if e.is_user_fault() => 2,
            _ => 1,
        }
    }

    /// Whether some candidate answered nothing (see `EvalReport::check`).
    pub fn candidates_failed(&self) -> bool {
        match self {
            PipelineError::Eval(tunebench_eval::error::EvalError::CandidatesFailed { .. }) => true,
            PipelineError::In { source, .. } => source.candidates_failed(),
            _ => false,
        }
    }
}

impl UserFault for PipelineError {
    fn is_user_fault(&self) -> bool {
        match self {
            PipelineError::Config(_) => true,
            PipelineError::Data(e) => e.is_user_fault(),
            PipelineError::Train(e) => e.is_user_fault(),
            PipelineError::Eval(e) => e.is_user_fault(),
            PipelineError::Scoring(e) => e.is_user_fault(),
            PipelineError::Report(e) => e.is_user_fault(),
            PipelineError::Registry(e) => e.is_user_fault(),
            // Names CloudWatch refuses come from the config (suites, candidates).
            PipelineError::Aws(tunebench_aws::Error::InvalidMetricData { .. }) => true,
            PipelineError::In { source, .. } => source.is_user_fault(),
            _ => false,
        }
    }
}

/// An I/O error that names its path.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PipelineError {
    let path = path.into();
    move |source| PipelineError::Io { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_says_whose_fault_it_is_through_context() {
        assert_eq!(
            PipelineError::from(ConfigError("bad".into())).exit_code(),
            2
        );
        assert_eq!(PipelineError::Regression(2).exit_code(), 3);
        assert_eq!(
            PipelineError::Interrupted(7)
                .context("training")
                .exit_code(),
            130
        );
        let user = PipelineError::from(tunebench_train::TrainError::Config("x".into()));
        assert_eq!(user.context("in a run").exit_code(), 2);
        let device = PipelineError::from(tunebench_train::TrainError::Model(
            tunebench_models::ModelError::InvalidInput("unknown device".into()),
        ));
        assert_eq!(device.exit_code(), 2);
        let failed = PipelineError::from(tunebench_train::TrainError::Model(
            tunebench_models::ModelError::Backend("out of memory".into()),
        ));
        assert_eq!(failed.exit_code(), 1);
    }
}
