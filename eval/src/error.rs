//! The error type of the evaluation crate.
//!
//! One enum for the whole crate (see ARCHITECTURE.md, "Errors"): the scoring side's variants
//! first, then the calling side's. Messages name the file, line and field where
//! there is one, and end with a `hint:` when the fix is known.

use std::fmt;
use std::path::PathBuf;

use crate::metrics::MetricError;
use crate::metrics::json::SchemaError;
use crate::stats::StatsError;

/// Where in an input a problem is: a file, and optionally a line (or row) and a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of a JSONL/CSV file, or 1-based row of a Parquet file.
    pub line: Option<usize>,
    /// The field (JSON key, column, TOML key).
    pub field: Option<String>,
}

impl Location {
    /// A whole file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Location {
            path: path.into(),
            line: None,
            field: None,
        }
    }

    /// A line of a file.
    pub fn line(path: impl Into<PathBuf>, line: usize) -> Self {
        Location {
            line: Some(line),
            ..Location::file(path)
        }
    }

    /// The same place, narrowed to `field`.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong while loading suites, reading responses, scoring and writing
/// results.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A suite file is not valid TOML or does not match the suite schema.
    #[error("{}: {source}", path.display())]
    SuiteToml {
        /// The suite file.
        path: PathBuf,
        /// The parser's message (with the line and key).
        source: Box<toml::de::Error>,
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
    /// The responses of a candidate do not match the suite's examples.
    #[error("candidate `{candidate}` on suite `{suite}`: {message}")]
    Responses {
        /// The candidate.
        candidate: String,
        /// The suite.
        suite: String,
        /// What is wrong.
        message: String,
    },
    /// A metric rejected its input or settings.
    #[error(transparent)]
    Metric(#[from] MetricError),
    /// A JSON Schema file is not a valid schema.
    #[error("{}: {source}", path.display())]
    Schema {
        /// The schema file.
        path: PathBuf,
        /// The cause.
        source: SchemaError,
    },
    /// A statistic could not be computed.
    #[error(transparent)]
    Stats(#[from] StatsError),

    // Calling side (candidates, runner, cache, pricing).
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

/// `err` and its sources, joined by `: `, each source left out when the text before already
/// says it (many errors print their source in their own message). Transport errors often
/// say only "error sending request" and keep the cause ("Connection refused") in a source.
pub fn with_causes(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Result with [`EvalError`].
pub type Result<T, E = EvalError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_causes_names_the_root_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        ));
        assert_eq!(
            with_causes(&e),
            "error sending request: Connection refused (os error 111)"
        );
    }

    #[test]
    fn location_names_file_line_and_field() {
        let at = Location::line("suites/x.jsonl", 7).field("question");
        assert_eq!(at.to_string(), "suites/x.jsonl:7: field `question`");
        assert_eq!(Location::file("a.toml").to_string(), "a.toml");
        let e = EvalError::input(at, "missing");
        assert_eq!(e.to_string(), "suites/x.jsonl:7: field `question`: missing");
    }
}
