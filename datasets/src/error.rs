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
    /// A file has no records at all (nothing, or only blank lines).
    #[error("{file}: the file is empty (no header and no records)")]
    EmptyFile {
        /// The file.
        file: String,
    },
    /// A file has a header (or a Parquet schema) but not one row under it.
    #[error(
        "{file}: the file has a header ({columns}) but no rows\nhint: check that the export wrote its rows, or remove the file from [data] inputs"
    )]
    NoRows {
        /// The file.
        file: String,
        /// Its column names, as `a`, `b`.
        columns: String,
    },
    /// The first line of a CSV file cannot be a header.
    #[error(
        "{file}:1: the header is unreadable: {reason}\nhint: the first line must name the columns, separated by commas"
    )]
    BadHeader {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// polars read a different number of rows than the line-by-line pre-pass found, so rows
    /// and their line numbers cannot be matched up; going on could drop rows uncounted.
    #[error(
        "{file}: the CSV/JSON parser read {parsed} record(s) where the line-by-line check found {expected}; refusing to guess which rows are which\nhint: look for quotes inside unquoted fields (write them as \"\"), or convert the file to JSON Lines or Parquet"
    )]
    RecordCount {
        /// The file.
        file: String,
        /// Records the pre-pass found.
        expected: usize,
        /// Records polars returned.
        parsed: usize,
    },
    /// An output file is one of the input files.
    #[error(transparent)]
    Overlap(#[from] tunebench_core::Overlap),
    /// An output of `data prepare` would be read back in as an input (a glob or an `s3://`
    /// prefix that matches it).
    #[error(
        "{output}: this output of `data prepare` {how} the input {input}; writing it would destroy or re-read the input\nhint: set data.out_dir (or --out) to a folder that holds no inputs, or move the input elsewhere"
    )]
    OutputIsInput {
        /// The input, as named in the config (or the glob that matches the output).
        input: String,
        /// The output path or URI.
        output: String,
        /// `is` or `is matched by`.
        how: &'static str,
    },
    /// The pipeline left no record for the train split.
    #[error(
        "no record reached the train split: {summary}{listing}\nhint: no output was replaced (the reasons are also in violations.jsonl); fix the inputs or the [data] settings (mapping, pii, dedup, tokens, split, max_record_bytes) named in the reasons above"
    )]
    NoTrainRecords {
        /// Where the input records went.
        summary: String,
        /// The first reasons records were dropped, one `file:line: category: reason` per line.
        listing: String,
    },
    /// One text record runs on past what the reader may hold.
    #[error(
        "{file}:{line}: a record runs on for {bytes} bytes without ending, more than the memory limit lets the reader hold; most likely a quote on this line is never closed\nhint: close the quote (or write it as \"\" inside a quoted field), or raise --memory-limit if the record really is that long"
    )]
    RecordTooLong {
        /// The file.
        file: String,
        /// Line the record starts on.
        line: usize,
        /// Bytes read without finding its end.
        bytes: u64,
    },
    /// The run needs more memory than its limit.
    #[error(
        "data prepare needs more memory than the limit of {limit}: {detail}\nhint: raise it with --memory-limit, data.memory_limit or TUNEBENCH_MEMORY_LIMIT; or prepare the inputs in parts{hint}"
    )]
    MemoryLimit {
        /// The limit.
        limit: String,
        /// What holds how much.
        detail: String,
        /// A step-specific hint (starts with a newline), or empty.
        hint: String,
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

/// The user fixes the config, an input path, a column or an output path; the rest failed
/// on the way.
impl tunebench_core::UserFault for Error {
    fn is_user_fault(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::NoInput { .. }
                | Error::OutputIsInput { .. }
                | Error::Overlap(_)
                | Error::MissingColumn { .. }
                | Error::RecordTooLong { .. }
                | Error::MemoryLimit { .. }
                | Error::ColumnType { .. }
        )
    }
}
