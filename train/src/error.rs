//! Errors of the training crate.

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
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, TrainError>;

/// An I/O error that names its file.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.into();
    move |source| TrainError::Io { path, source }
}
