//! The error type of the scoring crate, and [`Location`], the place in an input a problem
//! is at. Messages name the file, line and field where there is one, and end with a `hint:`
//! when the fix is known.

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

/// Everything that can go wrong while loading suites, scoring and writing results.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
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
}

impl ScoreError {
    /// An [`ScoreError::Input`] at `location`.
    pub fn input(location: Location, message: impl Into<String>) -> Self {
        ScoreError::Input {
            location,
            message: message.into(),
        }
    }

    /// An [`ScoreError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ScoreError::Io {
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

/// Result with [`ScoreError`].
pub type Result<T, E = ScoreError> = std::result::Result<T, E>;

/// A suite, data or responses file is the user's to fix.
impl tunebench_core::UserFault for ScoreError {
    fn is_user_fault(&self) -> bool {
        matches!(
            self,
            ScoreError::Input { .. } | ScoreError::SuiteToml { .. } | ScoreError::Responses { .. }
        )
    }
}

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
        let e = ScoreError::input(at, "missing");
        assert_eq!(e.to_string(), "suites/x.jsonl:7: field `question`: missing");
    }
}
