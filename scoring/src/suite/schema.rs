//! The suite file as written: serde types, every field optional where the file may leave
//! it out, unknown keys refused. [`super::Suite::load`] resolves them.

use super::*;

/// The suite file as written (serde; unknown keys are errors).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SuiteFile {
    pub(super) name: String,
    pub(super) version: String,
    #[serde(default)]
    pub(super) description: Option<String>,
    pub(super) data: PathBuf,
    #[serde(default)]
    pub(super) id_field: Option<String>,
    #[serde(default)]
    pub(super) system: Option<String>,
    #[serde(default)]
    pub(super) prompt: Option<String>,
    #[serde(default)]
    pub(super) reference: Option<String>,
    #[serde(default)]
    pub(super) reference_field: Option<OneOrMany>,
    #[serde(default)]
    pub(super) fewshot: Vec<FewShot>,
    #[serde(default)]
    pub(super) fewshot_from: Option<FewShotFrom>,
    #[serde(default)]
    pub(super) extract: ExtractSpec,
    pub(super) metrics: Vec<MetricSpec>,
    #[serde(default)]
    pub(super) sampling: Sampling,
    #[serde(default)]
    pub(super) choices: Option<ChoicesSpec>,
    #[serde(default)]
    pub(super) loglikelihood: bool,
    #[serde(default)]
    pub(super) per_reference: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChoicesSpec {
    #[serde(default)]
    pub(super) field: Option<String>,
    #[serde(default)]
    pub(super) list: Option<Vec<String>>,
    #[serde(default)]
    pub(super) from_references: bool,
    #[serde(default)]
    pub(super) prefix: Option<String>,
    #[serde(default)]
    pub(super) length_norm: LengthNorm,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FewShotFrom {
    /// Data file (relative to the suite file).
    pub(super) path: PathBuf,
    /// How many records, from the top of the file.
    pub(super) n: usize,
    /// Template of the user message (default: the suite's `prompt`).
    #[serde(default)]
    pub(super) input: Option<String>,
    /// Template of the answer.
    pub(super) output: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExtractSpec {
    #[serde(default)]
    pub(super) kind: ExtractKind,
    #[serde(default)]
    pub(super) pattern: Option<String>,
    #[serde(default)]
    pub(super) path: Option<String>,
    #[serde(default)]
    pub(super) apply_to_reference: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum ExtractKind {
    #[default]
    None,
    Regex,
    LastNumber,
    JsonPath,
    FirstLine,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetricSpec {
    pub(super) kind: MetricKind,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) weight: Option<f64>,
    #[serde(default)]
    pub(super) normalize: Option<Normalize>,
    #[serde(default)]
    pub(super) pattern: Option<String>,
    #[serde(default)]
    pub(super) abs_tol: Option<f64>,
    #[serde(default)]
    pub(super) rel_tol: Option<f64>,
    #[serde(default)]
    pub(super) schema: Option<PathBuf>,
    #[serde(default)]
    pub(super) judge: Option<String>,
    #[serde(default)]
    pub(super) rubric: Option<String>,
    #[serde(default)]
    pub(super) scale: Option<String>,
    #[serde(default)]
    pub(super) max_tokens: Option<u32>,
    #[serde(default)]
    pub(super) grader: Option<String>,
    #[serde(default)]
    pub(super) entry: Option<String>,
}

impl SuiteFile {
    /// Parses a suite file.
    pub(super) fn read(path: &Path) -> Result<SuiteFile> {
        let text = std::fs::read_to_string(path).map_err(|e| ScoreError::io(path, e))?;
        toml::from_str(&text).map_err(|e| ScoreError::SuiteToml {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }
}
