//! The crate's error type.

use std::path::{Path, PathBuf};

/// What went wrong while reading results or writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A results file is not what `tunebench eval` or `tunebench train` writes.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input {
        /// The file.
        path: PathBuf,
        /// Its line, where one is to blame.
        line: Option<usize>,
        /// What is wrong, with a hint.
        message: String,
    },
    /// The history store failed.
    #[error("history {}: {source}", path.display())]
    History {
        /// The SQLite file.
        path: PathBuf,
        /// The cause.
        source: rusqlite::Error,
    },
    /// A chart could not be drawn.
    #[error("chart: {0}")]
    Chart(String),
    /// A gate rule or baseline is unusable.
    #[error("gate: {0}")]
    Gate(String),
}

impl ReportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn input(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self::Input {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, ReportError>;

/// Gate rules and run folders are the user's to fix.
impl tunebench_core::UserFault for ReportError {
    fn is_user_fault(&self) -> bool {
        matches!(self, ReportError::Gate(_) | ReportError::Input { .. })
    }
}
