//! The error type of the evaluation crate's calling side (candidates, runner, cache,
//! pricing, batch jobs); the scoring side's errors arrive wrapped in [`EvalError::Scoring`].
//! Messages name the file, line and field where there is one, and end with a `hint:` when
//! the fix is known.

use std::path::PathBuf;

pub use tunebench_scoring::error::{Location, ScoreError, with_causes};

/// Everything that can go wrong while calling candidates and evaluating.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Loading a suite, scoring or writing results.
    #[error(transparent)]
    Scoring(#[from] ScoreError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An output would be written over an input.
    #[error(transparent)]
    Overlap(#[from] tunebench_core::Overlap),
    /// Bad content in an input file (suite, data file, responses file).
    #[error("{location}: {message}")]
    Input {
        /// Where.
        location: Location,
        /// What is wrong, and a `hint:` when the fix is known.
        message: String,
    },
    /// A candidate's settings are unusable, or the candidate cannot be built.
    #[error("candidate `{name}`: {reason}")]
    Candidate {
        /// The candidate.
        name: String,
        /// What is wrong, and a `hint:` when the fix is known.
        reason: String,
    },
    /// The response cache could not be opened, read or written.
    #[error("response cache {}: {source}", path.display())]
    Cache {
        /// The cache file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// The pricing table is invalid.
    #[error("{}: {reason}", path.display())]
    Pricing {
        /// The pricing file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The runner could not run (bad settings, no async runtime).
    #[error("runner: {0}")]
    Runner(String),
    /// Candidates that answered nothing: every request failed (or there was nothing to
    /// score). Their results are written and marked `failed`; the run as a whole failed.
    #[error("{}\nhint: the results are written (marked failed, not ranked); fix the cause and rerun (answered requests come from the cache)", failures.join("\n"))]
    CandidatesFailed {
        /// One line per failed candidate and suite, with the first error.
        failures: Vec<String>,
    },
    /// The local model could not be loaded or run.
    #[error(transparent)]
    Model(#[from] tunebench_models::ModelError),
    /// An AWS call of a batch job (S3 upload or download, job submission or status) failed.
    #[error(transparent)]
    Aws(Box<tunebench_aws::Error>),
}

impl From<tunebench_aws::Error> for EvalError {
    fn from(e: tunebench_aws::Error) -> Self {
        EvalError::Aws(Box::new(e))
    }
}

impl EvalError {
    /// An [`EvalError::Input`] at `location`.
    pub fn input(location: Location, message: impl Into<String>) -> Self {
        EvalError::Input {
            location,
            message: message.into(),
        }
    }

    /// An [`EvalError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result with [`EvalError`].
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

/// A suite, data or responses file, an input, or an output over an input is the user's to
/// fix, and a model error says itself; a candidate or the runner failing is not.
impl tunebench_core::UserFault for EvalError {
    fn is_user_fault(&self) -> bool {
        match self {
            EvalError::Scoring(e) => tunebench_core::UserFault::is_user_fault(e),
            EvalError::Model(e) => tunebench_core::UserFault::is_user_fault(e),
            EvalError::Input { .. } | EvalError::Overlap(_) => true,
            _ => false,
        }
    }
}
