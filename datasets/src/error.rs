//! Errors of dataset preparation. Every variant names the file (and line or field where one
//! applies) and, where the fix is known, ends with a `hint:`. No variant carries record
//! contents: customer data never reaches an error message or a log.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop `data prepare`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable.
    #[error("config: {0}")]
    Config(String),
    /// An input path or glob matched nothing.
    #[error(
        "{pattern}: no input file matches\nhint: paths are relative to the config file's folder"
    )]
    NoInput {
        /// The path or glob as written.
        pattern: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file has no records.
    #[error("{file}: the file is empty (no header and no records)")]
    EmptyFile {
        /// The file.
        file: String,
    },
    /// Mapping names a column the file does not have.
    #[error(
        "{file}: no column `{column}` (used by {used_by}); the file has: {available}\nhint: column names are case-sensitive; fix [data.mapping] in the config"
    )]
    MissingColumn {
        /// The file.
        file: String,
        /// The missing column.
        column: String,
        /// Which mapping field needs it.
        used_by: String,
        /// Columns that exist.
        available: String,
    },
    /// A mapped column holds something that is not text or a number.
    #[error(
        "{file}: column `{column}` has type {dtype}, expected text\nhint: map a text column, or flatten nested data before preparing"
    )]
    ColumnType {
        /// The file.
        file: String,
        /// The column.
        column: String,
        /// Its type as polars reports it.
        dtype: String,
    },
    /// Records that could not be read, with `on_error = "fail"`.
    #[error(
        "{count} bad record(s); first ones:\n{listing}\nhint: fix them, or set on_error = \"reject\" to write them to rejected.jsonl and go on"
    )]
    BadRecords {
        /// How many.
        count: usize,
        /// `file:line: reason` lines, at most 20.
        listing: String,
    },
    /// The prepared data breaks the target's rules; nothing was uploaded.
    #[error("the dataset does not meet {target}'s rules ({count} violation(s)):\n{listing}")]
    TargetRules {
        /// The target.
        target: String,
        /// How many violations.
        count: usize,
        /// `file:line: rule: message` lines, at most 50 (all are in violations.jsonl).
        listing: String,
    },
    /// polars failed in a way the pre-checks did not catch.
    #[error("{file}: {source}")]
    Polars {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: polars::error::PolarsError,
    },
    /// The tokenizer could not be loaded or failed.
    #[error("tokenizer {}: {message}", path.display())]
    Tokenizer {
        /// The tokenizer.json.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// An S3 call failed (download of an input or upload of an output).
    #[error(transparent)]
    Aws(#[from] tunebench_aws::Error),
    /// A JSON value could not be written.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
