//! The `[data]` section: the raw form read from TOML (every field optional, so CLI flags and
//! environment variables can be merged over it) and the resolved form that the pipeline runs
//! on (defaults applied, values checked, paths absolute).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tunebench_core::paths::under;

use crate::minhash::MinHashParams;
use crate::targets::{BedrockFormat, Target};
use crate::template::Template;
use crate::{Error, Result};

/// `[data]` as written in a config file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDataConfig {
    /// Input files: paths, globs or `s3://bucket/key` URIs (relative to the config's folder).
    pub inputs: Option<Vec<String>>,
    /// `auto` (by extension), `csv`, `jsonl` or `parquet`.
    pub format: Option<String>,
    /// Column mapping.
    pub mapping: Option<RawMapping>,
    /// `fail` (default) or `reject` unreadable records.
    pub on_error: Option<String>,
    /// `redact` (default), `reject` or `off`.
    pub pii: Option<String>,
    /// De-duplication.
    pub dedup: Option<RawDedup>,
    /// Token-length limits.
    pub tokens: Option<RawTokens>,
    /// Train / validation / test split.
    pub split: Option<RawSplit>,
    /// `local` (default) or `bedrock:<family>`.
    pub target: Option<String>,
    /// `jsonl` (default) or `parquet`.
    pub output_format: Option<String>,
    /// Output folder (default `runs/data`).
    pub out_dir: Option<String>,
    /// Largest record, in bytes of its mapped columns, that is prepared (default 1 MiB).
    /// A bigger record is rejected (counted as `too_large`, written to rejected.jsonl) before
    /// PII scanning and tokenisation, whose memory grows with the record.
    pub max_record_bytes: Option<u64>,
    /// Memory the run may use, as `2GiB`, `512MiB` or `1.5GB` (default: half the machine's
    /// memory). Input is read in chunks that follow it, and a run whose per-record state
    /// outgrows it stops with what holds how much. It changes no output.
    pub memory_limit: Option<String>,
}

/// `[data.mapping]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawMapping {
    /// `completion` (default), `chat`, `text` or `prompt` (reinforcement fine-tuning).
    pub kind: Option<String>,
    /// Prompt template (completion).
    pub prompt: Option<String>,
    /// Completion template (completion).
    pub completion: Option<String>,
    /// System prompt template (chat and prompt, optional).
    pub system: Option<String>,
    /// User turn template (chat and prompt).
    pub user: Option<String>,
    /// Assistant turn template (chat).
    pub assistant: Option<String>,
    /// Document template (text).
    pub text: Option<String>,
    /// Reference answer template (prompt): what the grader compares the model's answer with.
    pub reference_answer: Option<String>,
    /// Further fields for the grader (prompt), by name: `{ difficulty = "{level}" }`.
    pub fields: Option<BTreeMap<String, String>>,
}

/// `[data.dedup]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDedup {
    /// Drop exact duplicates (default true).
    pub exact: Option<bool>,
    /// Drop near duplicates (default true).
    pub near: Option<bool>,
    /// Jaccard threshold for near duplicates (default 0.8).
    pub threshold: Option<f64>,
    /// MinHash permutations (default 128).
    pub num_perm: Option<usize>,
}

/// `[data.tokens]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokens {
    /// A Hugging Face `tokenizer.json`.
    pub tokenizer: Option<String>,
    /// Longest record in tokens (prompt + completion).
    pub max_tokens: Option<usize>,
    /// `filter` (default) or `truncate` records over the limit.
    pub over_limit: Option<String>,
}

/// `[data.split]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSplit {
    /// Fraction for validation (default 0.1).
    pub validation: Option<f64>,
    /// Fraction for the held-out test (default 0.1).
    pub test: Option<f64>,
    /// Seed of the split hash (default 0).
    pub seed: Option<u64>,
    /// Column whose values are kept in the same proportions in every split.
    pub stratify_by: Option<String>,
    /// `move` (default) validation/test records that duplicate a train record into train, or `report` them.
    pub leakage: Option<String>,
    /// Jaccard threshold of the leakage check (default: the dedup threshold).
    pub leakage_threshold: Option<f64>,
}

impl RawDataConfig {
    /// Fills every field that is `None` here from `lower` (precedence: self over lower).
    pub fn or(self, lower: RawDataConfig) -> RawDataConfig {
        RawDataConfig {
            inputs: self.inputs.or(lower.inputs),
            format: self.format.or(lower.format),
            mapping: self.mapping.or(lower.mapping),
            on_error: self.on_error.or(lower.on_error),
            pii: self.pii.or(lower.pii),
            dedup: self.dedup.or(lower.dedup),
            tokens: self.tokens.or(lower.tokens),
            split: self.split.or(lower.split),
            target: self.target.or(lower.target),
            output_format: self.output_format.or(lower.output_format),
            out_dir: self.out_dir.or(lower.out_dir),
            max_record_bytes: self.max_record_bytes.or(lower.max_record_bytes),
            memory_limit: self.memory_limit.or(lower.memory_limit),
        }
    }

    /// Applies defaults and checks every value. Relative paths are taken from `base`.
    pub fn resolve(self, base: &Path) -> Result<PrepareSettings> {
        let inputs = self.inputs.unwrap_or_default();
        if inputs.is_empty() {
            return Err(Error::Config(
                "[data] inputs is empty\nhint: inputs = [\"data/train.csv\"]".into(),
            ));
        }
        let inputs = inputs
            .into_iter()
            .map(|i| {
                if i.starts_with("s3://") || Path::new(&i).is_absolute() {
                    i
                } else {
                    under(base, &i).to_string_lossy().into_owned()
                }
            })
            .collect();
        let format = pick(
            "data.format",
            self.format,
            InputFormat::Auto,
            &[
                ("auto", InputFormat::Auto),
                ("csv", InputFormat::Csv),
                ("jsonl", InputFormat::Jsonl),
                ("ndjson", InputFormat::Jsonl),
                ("parquet", InputFormat::Parquet),
            ],
        )?;
        let mapping = resolve_mapping(self.mapping.unwrap_or_default())?;
        let on_error = pick(
            "data.on_error",
            self.on_error,
            OnError::Fail,
            &[("fail", OnError::Fail), ("reject", OnError::Reject)],
        )?;
        let pii = pick(
            "data.pii",
            self.pii,
            PiiAction::Redact,
            &[
                ("redact", PiiAction::Redact),
                ("reject", PiiAction::Reject),
                ("off", PiiAction::Off),
            ],
        )?;
        let d = self.dedup.unwrap_or_default();
        let threshold = fraction("data.dedup.threshold", d.threshold.unwrap_or(0.8))?;
        let num_perm = d.num_perm.unwrap_or(128);
        if !(8..=1024).contains(&num_perm) {
            return Err(Error::Config(format!(
                "data.dedup.num_perm = {num_perm} is out of range 8..=1024"
            )));
        }
        let dedup = DedupSettings {
            exact: d.exact.unwrap_or(true),
            near: d.near.unwrap_or(true),
            minhash: MinHashParams {
                threshold,
                num_perm,
                ..MinHashParams::default()
            },
        };
        let t = self.tokens.unwrap_or_default();
        let tokens = TokenSettings {
            tokenizer: t.tokenizer.map(|p| under(base, &p)),
            max_tokens: t.max_tokens,
            over_limit: pick(
                "data.tokens.over_limit",
                t.over_limit,
                OverLimit::Filter,
                &[
                    ("filter", OverLimit::Filter),
                    ("truncate", OverLimit::Truncate),
                ],
            )?,
        };
        if tokens.max_tokens.is_some() && tokens.tokenizer.is_none() {
            return Err(Error::Config(
                "data.tokens.max_tokens needs data.tokens.tokenizer\nhint: point it at the model's tokenizer.json".into(),
            ));
        }
        let s = self.split.unwrap_or_default();
        let validation = fraction("data.split.validation", s.validation.unwrap_or(0.1))?;
        let test = fraction("data.split.test", s.test.unwrap_or(0.1))?;
        if validation + test >= 1.0 {
            return Err(Error::Config(format!(
                "data.split: validation ({validation}) + test ({test}) leave nothing to train on"
            )));
        }
        let split = SplitSettings {
            validation,
            test,
            seed: s.seed.unwrap_or(0),
            stratify_by: s.stratify_by,
            leakage: pick(
                "data.split.leakage",
                s.leakage,
                LeakageAction::Move,
                &[
                    ("move", LeakageAction::Move),
                    ("report", LeakageAction::Report),
                ],
            )?,
            leakage_threshold: fraction(
                "data.split.leakage_threshold",
                s.leakage_threshold.unwrap_or(threshold),
            )?,
        };
        let target: Target = self
            .target
            .as_deref()
            .unwrap_or("local")
            .parse()
            .map_err(|e: String| Error::Config(format!("data.target: {e}")))?;
        let is_prompt = matches!(mapping, Mapping::Prompt { .. });
        let is_rft = target == Target::Bedrock(BedrockFormat::Rft);
        if is_rft && !is_prompt {
            return Err(Error::Config(
                "data.target = \"bedrock:rft\" takes reinforcement fine-tuning prompts\nhint: set data.mapping.kind = \"prompt\" with `user` (the question) and `reference_answer` (what the grader compares the answer with)".into(),
            ));
        }
        if is_prompt && !is_rft && target != Target::Local {
            return Err(Error::Config(format!(
                "data.mapping.kind = \"prompt\" writes RFT prompts, which {target} does not take\nhint: use target = \"bedrock:rft\" (or \"local\"), or a completion or chat mapping"
            )));
        }
        let output_format = pick(
            "data.output_format",
            self.output_format,
            OutputFormat::Jsonl,
            &[
                ("jsonl", OutputFormat::Jsonl),
                ("parquet", OutputFormat::Parquet),
            ],
        )?;
        let out_dir = under(base, self.out_dir.unwrap_or_else(|| "runs/data".into()));
        let max_record_bytes = self.max_record_bytes.unwrap_or(DEFAULT_MAX_RECORD_BYTES);
        if max_record_bytes == 0 {
            return Err(Error::Config(format!(
                "data.max_record_bytes = 0 would reject every record\nhint: leave it out for the default of {DEFAULT_MAX_RECORD_BYTES} bytes (1 MiB)"
            )));
        }
        let memory_limit = match self.memory_limit {
            Some(text) => parse_bytes(&text).map_err(|why| {
                Error::Config(format!(
                    "data.memory_limit = {text:?}: {why}\nhint: write it as 2GiB, 512MiB or 1.5GB"
                ))
            })?,
            None => default_memory_limit(),
        };
        if memory_limit < MIN_MEMORY_LIMIT {
            return Err(Error::Config(format!(
                "data.memory_limit = {} is below the {} a run needs to start\nhint: leave it out for half the machine's memory",
                format_bytes(memory_limit),
                format_bytes(MIN_MEMORY_LIMIT)
            )));
        }
        Ok(PrepareSettings {
            inputs,
            format,
            mapping,
            on_error,
            pii,
            dedup,
            tokens,
            split,
            target,
            output_format,
            out_dir,
            max_record_bytes,
            memory_limit,
        })
    }
}

/// The smallest `data.memory_limit`.
pub const MIN_MEMORY_LIMIT: u64 = 128 << 20;

/// Half the memory of the machine (or of its cgroup, when that is lower); 2 GiB when
/// neither can be read.
fn default_memory_limit() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    match (total, cgroup) {
        (Some(t), Some(c)) => t.min(c) / 2,
        (Some(t), None) => t / 2,
        (None, Some(c)) => c / 2,
        (None, None) => 2 << 30,
    }
    .max(MIN_MEMORY_LIMIT)
}

/// A size as people write it: a number, optionally with a fraction, then a unit: `B`,
/// binary `KiB`/`MiB`/`GiB`/`TiB` (or `Ki`, `Mi`, …) or decimal `KB`/`MB`/`GB`/`TB` (or `K`,
/// `M`, …), any case. A bare number is bytes.
pub fn parse_bytes(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| "not a number followed by a unit".to_string())?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        other => return Err(format!("unknown unit {other:?}")),
    };
    Ok((value * scale as f64) as u64)
}

/// Bytes in the largest binary unit that keeps the number at least 1, with one decimal.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Default of `data.max_record_bytes`: 1 MiB of mapped text, about 250k tokens, far above
/// any model's context, while tokenising it stays well under a GB of memory.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 1 << 20;

fn pick<T: Copy>(field: &str, value: Option<String>, default: T, names: &[(&str, T)]) -> Result<T> {
    let Some(v) = value else { return Ok(default) };
    names
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(v.trim()))
        .map(|&(_, t)| t)
        .ok_or_else(|| {
            let accepted: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            Error::Config(format!(
                "{field} = {v:?} is not one of: {}",
                accepted.join(", ")
            ))
        })
}

fn fraction(field: &str, v: f64) -> Result<f64> {
    if (0.0..1.0).contains(&v) {
        Ok(v)
    } else {
        Err(Error::Config(format!("{field} = {v} must be in [0, 1)")))
    }
}

fn template(field: &str, source: Option<String>) -> Result<Template> {
    let source = source.ok_or_else(|| {
        Error::Config(format!(
            "data.mapping.{field} is missing\nhint: a template over column names, e.g. {field} = \"{{text}}\""
        ))
    })?;
    Template::parse(&source).map_err(|e| Error::Config(format!("data.mapping.{field}: {e}")))
}

/// Keys a prompt line has already, so `data.mapping.fields` cannot name them.
const RESERVED_FIELDS: [&str; 3] = ["messages", "reference_answer", "id"];

fn resolve_mapping(m: RawMapping) -> Result<Mapping> {
    match m.kind.as_deref().unwrap_or("completion") {
        "completion" => Ok(Mapping::Completion {
            prompt: template("prompt", m.prompt)?,
            completion: template("completion", m.completion)?,
        }),
        "chat" => Ok(Mapping::Chat {
            system: m.system.map(|s| template("system", Some(s))).transpose()?,
            user: template("user", m.user)?,
            assistant: template("assistant", m.assistant)?,
        }),
        "text" => Ok(Mapping::Text {
            text: template("text", m.text)?,
        }),
        "prompt" => Ok(Mapping::Prompt {
            system: m.system.map(|s| template("system", Some(s))).transpose()?,
            user: template("user", m.user)?,
            reference_answer: template("reference_answer", m.reference_answer)?,
            fields: m
                .fields
                .unwrap_or_default()
                .into_iter()
                .map(|(name, source)| {
                    if RESERVED_FIELDS.contains(&name.as_str()) {
                        return Err(Error::Config(format!(
                            "data.mapping.fields.{name}: `{name}` is a field of every prompt line already\nhint: give the grader's field another name"
                        )));
                    }
                    let t = template(&format!("fields.{name}"), Some(source))?;
                    Ok((name, t))
                })
                .collect::<Result<_>>()?,
        }),
        other => Err(Error::Config(format!(
            "data.mapping.kind = {other:?} is not one of: completion, chat, text, prompt"
        ))),
    }
}

/// How input files are parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    /// By file extension.
    Auto,
    /// Comma-separated with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

/// What happens to a record that cannot be read or breaks the target's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop with an error naming every bad record.
    Fail,
    /// Write it to rejected.jsonl with the reason and go on.
    Reject,
}

/// What happens to PII.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiAction {
    /// Replace it with a token such as `[EMAIL]`.
    Redact,
    /// Reject the whole record.
    Reject,
    /// Leave it (still counted in the manifest).
    Off,
}

/// Records over the token limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverLimit {
    /// Drop them (counted, and written to rejected.jsonl).
    Filter,
    /// Cut the last field (completion, last assistant turn or text) to fit.
    Truncate,
}

/// Validation/test records that duplicate a train record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeakageAction {
    /// Move them into train.
    Move,
    /// Keep them where they are and list them in the manifest.
    Report,
}

/// Output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// JSON Lines in the target's format.
    Jsonl,
    /// Parquet (local target only).
    Parquet,
}

/// How columns become records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Mapping {
    /// Prompt/completion pairs.
    Completion {
        /// Prompt template.
        prompt: Template,
        /// Completion template.
        completion: Template,
    },
    /// One exchange of a chat, with an optional system prompt.
    Chat {
        /// System prompt template.
        system: Option<Template>,
        /// User turn template.
        user: Template,
        /// Assistant turn template.
        assistant: Template,
    },
    /// Raw documents.
    Text {
        /// Document template.
        text: Template,
    },
    /// Reinforcement fine-tuning prompts: one user turn (after an optional system prompt) the
    /// model answers, and what its grader reads.
    Prompt {
        /// System prompt template.
        system: Option<Template>,
        /// User turn template.
        user: Template,
        /// Reference answer template.
        reference_answer: Template,
        /// Further grader fields: name and template.
        fields: BTreeMap<String, Template>,
    },
}

impl Mapping {
    /// Every template with the name of the field it fills (`fields.<name>` for a grader field).
    pub fn templates(&self) -> Vec<(String, &Template)> {
        let (fixed, fields): (Vec<(&str, &Template)>, _) = match self {
            Mapping::Completion { prompt, completion } => {
                (vec![("prompt", prompt), ("completion", completion)], None)
            }
            Mapping::Chat {
                system,
                user,
                assistant,
            } => (
                system
                    .iter()
                    .map(|s| ("system", s))
                    .chain([("user", user), ("assistant", assistant)])
                    .collect(),
                None,
            ),
            Mapping::Text { text } => (vec![("text", text)], None),
            Mapping::Prompt {
                system,
                user,
                reference_answer,
                fields,
            } => (
                system
                    .iter()
                    .map(|s| ("system", s))
                    .chain([("user", user), ("reference_answer", reference_answer)])
                    .collect(),
                Some(fields),
            ),
        };
        fixed
            .into_iter()
            .map(|(n, t)| (n.to_string(), t))
            .chain(
                fields
                    .into_iter()
                    .flatten()
                    .map(|(n, t)| (format!("fields.{n}"), t)),
            )
            .collect()
    }
}

/// De-duplication settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DedupSettings {
    /// Drop exact duplicates.
    pub exact: bool,
    /// Drop near duplicates.
    pub near: bool,
    /// MinHash settings of the near-duplicate search.
    #[serde(serialize_with = "ser_minhash")]
    pub minhash: MinHashParams,
}

fn ser_minhash<S: serde::Serializer>(p: &MinHashParams, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("MinHashParams", 3)?;
    st.serialize_field("threshold", &p.threshold)?;
    st.serialize_field("num_perm", &p.num_perm)?;
    st.serialize_field("shingle", &p.shingle)?;
    st.end()
}

/// Token-length settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenSettings {
    /// tokenizer.json, if token lengths are wanted.
    pub tokenizer: Option<PathBuf>,
    /// Longest record in tokens.
    pub max_tokens: Option<usize>,
    /// What to do above it.
    pub over_limit: OverLimit,
}

/// Split settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitSettings {
    /// Validation fraction.
    pub validation: f64,
    /// Test fraction.
    pub test: f64,
    /// Hash seed.
    pub seed: u64,
    /// Stratification column.
    pub stratify_by: Option<String>,
    /// Leakage handling.
    pub leakage: LeakageAction,
    /// Jaccard threshold of the leakage check.
    pub leakage_threshold: f64,
}

/// Resolved settings of `data prepare`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrepareSettings {
    /// Input paths, globs or `s3://` URIs (local ones absolute).
    pub inputs: Vec<String>,
    /// Input format.
    pub format: InputFormat,
    /// Column mapping.
    pub mapping: Mapping,
    /// Bad records.
    pub on_error: OnError,
    /// PII handling.
    pub pii: PiiAction,
    /// De-duplication.
    pub dedup: DedupSettings,
    /// Token lengths.
    pub tokens: TokenSettings,
    /// Split.
    pub split: SplitSettings,
    /// Target whose format and quotas the output meets.
    #[serde(serialize_with = "ser_display")]
    pub target: Target,
    /// Output format.
    pub output_format: OutputFormat,
    /// Output folder.
    pub out_dir: PathBuf,
    /// Largest record (bytes of its mapped columns) that is prepared; bigger ones are rejected.
    pub max_record_bytes: u64,
    /// Memory the run may use, in bytes. Not part of the config hash: it changes no output.
    #[serde(skip)]
    pub memory_limit: u64,
}

fn ser_display<S: serde::Serializer>(t: &Target, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(toml_text: &str) -> RawDataConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn defaults_fill_what_the_file_leaves_out() {
        let s =
            raw("inputs = [\"a.csv\"]\n[mapping]\nprompt = \"{text}\"\ncompletion = \"{label}\"")
                .resolve(Path::new("/cfg"))
                .unwrap();
        assert_eq!(s.inputs, vec!["/cfg/a.csv".to_string()]);
        assert_eq!(s.split.validation, 0.1);
        assert_eq!(s.pii, PiiAction::Redact);
        assert_eq!(s.out_dir, PathBuf::from("/cfg/runs/data"));
        assert_eq!(
            under(Path::new("/a/configs"), "../data/./x.csv"),
            PathBuf::from("/a/data/x.csv")
        );
    }

    #[test]
    fn higher_layer_wins_field_by_field() {
        let file = raw("inputs = [\"a.csv\"]\ntarget = \"local\"\npii = \"off\"");
        let cli = RawDataConfig {
            target: Some("bedrock:nova".into()),
            ..Default::default()
        };
        let merged = cli.or(file);
        assert_eq!(merged.target.as_deref(), Some("bedrock:nova"));
        assert_eq!(merged.pii.as_deref(), Some("off"));
    }

    #[test]
    fn bad_values_name_the_field_and_the_choices() {
        let err = raw(
            "inputs = [\"a.csv\"]\npii = \"mask\"\n[mapping]\nprompt=\"{a}\"\ncompletion=\"{b}\"",
        )
        .resolve(Path::new("/"))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("data.pii") && err.contains("redact, reject, off"),
            "{err}"
        );
        let err = raw("inputs = [\"a.csv\"]\n[mapping]\nprompt=\"{a}\"")
            .resolve(Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("data.mapping.completion is missing"), "{err}");
    }

    #[test]
    fn max_record_bytes_defaults_to_1_mib_and_zero_is_refused() {
        let body = "inputs = [\"a.csv\"]\n[mapping]\nprompt = \"{a}\"\ncompletion = \"{b}\"";
        let s = raw(body).resolve(Path::new("/")).unwrap();
        assert_eq!(s.max_record_bytes, 1 << 20);
        let err = raw(&format!("max_record_bytes = 0\n{body}"))
            .resolve(Path::new("/"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("data.max_record_bytes = 0"), "{err}");
    }

    #[test]
    fn memory_limits_are_read_as_people_write_them() {
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_bytes("2g"), Ok(2_000_000_000));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("lots").is_err());
        assert!(
            parse_bytes("2 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert_eq!(format_bytes(128 << 20), "128.0 MiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(10), "10 B");

        let base =
            "inputs = [\"a.csv\"]\n[mapping]\nprompt = \"{text}\"\ncompletion = \"{label}\"\n";
        let s = raw(&format!("memory_limit = \"3GiB\"\n{base}"))
            .resolve(Path::new("/cfg"))
            .unwrap();
        assert_eq!(s.memory_limit, 3 << 30);
        assert!(raw(base).resolve(Path::new("/cfg")).unwrap().memory_limit >= MIN_MEMORY_LIMIT);
        let err = raw(&format!("memory_limit = \"1MiB\"\n{base}"))
            .resolve(Path::new("/cfg"))
            .unwrap_err();
        assert!(err.to_string().contains("below the 128.0 MiB"), "{err}");
        let err = raw(&format!("memory_limit = \"much\"\n{base}"))
            .resolve(Path::new("/cfg"))
            .unwrap_err();
        assert!(
            err.to_string().contains("data.memory_limit = \"much\""),
            "{err}"
        );
        // The limit changes no output, so it is not part of the settings' hash.
        let other = raw(&format!("memory_limit = \"9GiB\"\n{base}"))
            .resolve(Path::new("/cfg"))
            .unwrap();
        assert_eq!(
            crate::config_hash(&s).unwrap(),
            crate::config_hash(&other).unwrap()
        );
    }
}
