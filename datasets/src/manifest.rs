//! `manifest.json`: what went in, what happened to every record, and what came out, with
//! content hashes, so a later stage (or an auditor) can tell exactly which data a model saw.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::read::Input;
use crate::tokens::LengthStats;

/// Where every input record went. `input == kept + rejected + duplicates + filtered`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Records in the inputs (good and bad).
    pub input: usize,
    /// Could not be parsed (syntax, encoding, field count).
    pub unreadable: usize,
    /// A mapped field was blank (before or after cleaning).
    pub empty: usize,
    /// Bigger than `data.max_record_bytes` (rejected before PII scanning and tokenisation).
    #[serde(default)]
    pub too_large: usize,
    /// Rejected because they contain PII (`pii = "reject"`).
    pub pii_rejected: usize,
    /// Break the target's per-record rules (`on_error = "reject"`).
    pub invalid_for_target: usize,
    /// Sum of the five above.
    pub rejected: usize,
    /// Exact duplicates of an earlier record.
    pub exact_duplicates: usize,
    /// Near duplicates of an earlier record.
    pub near_duplicates: usize,
    /// Sum of the two above.
    pub duplicates: usize,
    /// Over the token limit (`over_limit = "filter"`).
    pub filtered: usize,
    /// Cut to the token limit (`over_limit = "truncate"`); still kept.
    pub truncated: usize,
    /// Written to train, validation and test.
    pub kept: usize,
}

impl Counts {
    /// Whether every record is accounted for.
    pub fn balanced(&self) -> bool {
        self.rejected
            == self.unreadable
                + self.empty
                + self.too_large
                + self.pii_rejected
                + self.invalid_for_target
            && self.duplicates == self.exact_duplicates + self.near_duplicates
            && self.input == self.kept + self.rejected + self.duplicates + self.filtered
    }
}

/// One written file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    /// File name inside the output folder.
    pub file: String,
    /// Records in it.
    pub records: usize,
    /// Size.
    pub bytes: u64,
    /// sha256 of its content.
    pub sha256: String,
}

/// Validation/test records found to duplicate a train record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Leakage {
    /// Jaccard threshold used.
    pub threshold: f64,
    /// Moved into train.
    pub moved: usize,
    /// Left in place and listed (`leakage = "report"`): `file:line` of each.
    pub reported: Vec<String>,
}

/// An uploaded output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// File name.
    pub file: String,
    /// Destination.
    pub uri: String,
    /// `uploaded`, `multipart` or `unchanged`.
    pub outcome: String,
}

/// Input file as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFile {
    /// As named in the config.
    pub name: String,
    /// sha256 of its bytes.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
    /// Records read from it.
    pub records: usize,
}

impl From<&Input> for InputFile {
    fn from(i: &Input) -> Self {
        InputFile {
            name: i.name.clone(),
            sha256: i.sha256.clone(),
            bytes: i.bytes,
            records: i.records,
        }
    }
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `tunebench-datasets <version>`.
    pub tool: String,
    /// sha256 of the resolved settings.
    pub config_hash: String,
    /// Target name.
    pub target: String,
    /// Inputs.
    pub inputs: Vec<InputFile>,
    /// Record accounting.
    pub counts: Counts,
    /// PII spans found, by kind.
    pub pii: BTreeMap<String, u64>,
    /// Token lengths of kept records, when a tokenizer is configured.
    pub tokens: Option<LengthStats>,
    /// `train`, `validation`, `test`.
    pub splits: BTreeMap<String, OutputFile>,
    /// Records per label and split, when stratified.
    pub labels: BTreeMap<String, BTreeMap<String, usize>>,
    /// rejected.jsonl (rejected, duplicate and filtered records with reasons).
    pub rejected: OutputFile,
    /// Leakage check.
    pub leakage: Leakage,
    /// Uploads, when `--upload` was given.
    pub uploaded: Vec<Uploaded>,
}
