//! Evaluation suites: a TOML file that says how to turn the records of a data file into
//! chat requests, how to pull the answer out of a response, and how to score it.
//!
//! ```toml
//! name = "gsm8k"
//! version = "1"
//! data = "../../data/gsm8k/test.jsonl"   # JSONL, CSV or Parquet; relative to this file
//! id_field = "id"                        # optional; default: "L<line>" (1-based)
//! system = "Solve the problem."          # optional
//! prompt = "Question: {{ question }}"    # minijinja over the record's fields
//! reference = "{{ answer }}"             # a template, or:
//! # reference_field = "answer"           # field name(s); an array field gives several
//!
//! fewshot = [{ input = "1+1?", output = "#### 2" }]
//! # fewshot_from = { path = "train.jsonl", n = 2, output = "{{ answer }}" }
//!
//! [extract]                 # how to read the answer out of a response
//! kind = "last_number"      # regex (+ pattern) | last_number | json_path (+ path) | first_line | none
//! apply_to_reference = true # extract the reference the same way
//!
//! [[metrics]]
//! kind = "numeric"          # see MetricKind
//! weight = 1.0
//! abs_tol = 1e-6
//!
//! [sampling]                # types::Sampling
//! max_tokens = 512
//! ```
//!
//! Instead of generating, a suite can have local candidates score by log-likelihood:
//!
//! ```toml
//! [choices]                 # multiple choice: the answer is the most likely choice
//! from_references = true    # the distinct references (banking77's 77 intents), or
//! # list = ["yes", "no"]    # a fixed list, or
//! # field = "options"       # a list field of each record
//! prefix = " "              # before each choice as it continues the prompt (default " ")
//! length_norm = "none"      # none | tokens | chars (lm-evaluation-harness acc_norm)
//! ```
//!
//! or `loglikelihood = true` with the one metric `kind = "loglikelihood"`: the likelihood of
//! each example's (first) reference after its prompt, summarised as perplexity.
//!
//! `per_reference = N` keeps a fixed, stratified subset: the first `N` examples (in file
//! order) of each distinct (first) reference, for a classification suite too large to run
//! whole on every change. Choices taken `from_references` still come from every example.
//!
//! Everything is rendered when the suite is loaded, so a bad record fails the load with its
//! file, line and field instead of failing half-way through a paid run. Nothing is dropped:
//! a record with a missing field is an error, and so is a duplicate id.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Location, Result, ScoreError};
use crate::judge::{JudgeScale, JudgeSpec};
use crate::metrics::extract::{Extractor, JsonPath};
use crate::metrics::json::JsonSchema;
use crate::metrics::numeric::NumericTolerance;
use crate::metrics::text::NormalizeOptions;
use crate::types::{ChatRequest, ExampleRequest, LengthNorm, Message, Role, Sampling, Scoring};

mod build;
mod read;
mod render;
mod schema;

use build::{check_scoring, extraction, metrics};
use read::{Record, read_records};
use render::{ReferenceSource, Renderer};
use schema::{ExtractKind, ExtractSpec, MetricSpec, OneOrMany, SuiteFile};

/// How a multiple-choice suite's choices continue the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceSettings {
    /// Put before each choice (default `" "`).
    pub prefix: String,
    /// Length normalisation of the log-probabilities.
    pub length_norm: LengthNorm,
}

/// One few-shot turn pair: a user message and the model's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewShot {
    /// The user message.
    pub input: String,
    /// The assistant's answer.
    pub output: String,
}

/// What a metric measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Normalised answer equals a reference (0/1).
    ExactMatch,
    /// Normalised answer contains a reference (0/1).
    Contains,
    /// Answer matches `pattern` (0/1).
    Regex,
    /// SQuAD token F1 against the references.
    TokenF1,
    /// ROUGE-1 F-measure.
    Rouge1,
    /// ROUGE-2 F-measure.
    Rouge2,
    /// ROUGE-L F-measure.
    #[serde(rename = "rougeL")]
    RougeL,
    /// Corpus BLEU (sacreBLEU defaults) divided by 100; per example: sentence BLEU / 100.
    Bleu,
    /// Corpus chrF (sacreBLEU defaults) divided by 100; per example: sentence chrF / 100.
    Chrf,
    /// Classification: normalised answer equals the label (0/1); the summary adds macro-F1
    /// and the confusion matrix.
    Accuracy,
    /// Numbers equal within `abs_tol` / `rel_tol` (0/1).
    Numeric,
    /// The answer is one JSON document (0/1).
    JsonValid,
    /// The answer is JSON that conforms to `schema` (0/1).
    JsonSchema,
    /// Likelihood of the reference after the prompt (`loglikelihood = true` suites, local
    /// candidates): per token, `exp(Σ log p / Σ tokens)` in (0, 1], higher is better, so it
    /// averages, aggregates and compares like the other metrics; the summary's `perplexity`
    /// is its inverse. A corpus metric: the summary pools every example's tokens.
    Loglikelihood,
    /// A judge candidate's verdict on the response, by a rubric (see [`crate::judge`]),
    /// mapped onto [0, 1].
    Judge,
    /// A local grader's reward for the response (`grader = "<an [[eval.graders]] name>"`;
    /// see [`crate::grader`]): the same reward function a reinforcement fine-tuning job
    /// trains on, so base and tuned models compare on it.
    Grader,
}

impl MetricKind {
    /// The name used in suite files and outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::ExactMatch => "exact_match",
            MetricKind::Contains => "contains",
            MetricKind::Regex => "regex",
            MetricKind::TokenF1 => "token_f1",
            MetricKind::Rouge1 => "rouge1",
            MetricKind::Rouge2 => "rouge2",
            MetricKind::RougeL => "rougeL",
            MetricKind::Bleu => "bleu",
            MetricKind::Chrf => "chrf",
            MetricKind::Accuracy => "accuracy",
            MetricKind::Numeric => "numeric",
            MetricKind::JsonValid => "json_valid",
            MetricKind::JsonSchema => "json_schema",
            MetricKind::Loglikelihood => "loglikelihood",
            MetricKind::Judge => "judge",
            MetricKind::Grader => "grader",
        }
    }

    /// Whether the summary value is computed over the corpus (BLEU, chrF) rather than as the
    /// mean of per-example values.
    pub fn is_corpus(self) -> bool {
        matches!(
            self,
            MetricKind::Bleu | MetricKind::Chrf | MetricKind::Loglikelihood
        )
    }
}

/// How answers and references are normalised before exact comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// Byte-equal.
    Strict,
    /// Whitespace runs collapsed and both ends trimmed (the default).
    #[default]
    Whitespace,
    /// Also case-insensitive and without ASCII punctuation.
    Lenient,
    /// SQuAD's `normalize_answer` (lenient + articles removed).
    Squad,
}

impl Normalize {
    /// The normalisation switches of this preset.
    pub fn options(self) -> NormalizeOptions {
        match self {
            Normalize::Strict => NormalizeOptions::strict(),
            Normalize::Whitespace => NormalizeOptions {
                collapse_whitespace: true,
                ..NormalizeOptions::strict()
            },
            Normalize::Lenient => NormalizeOptions::lenient(),
            Normalize::Squad => NormalizeOptions::squad(),
        }
    }
}

/// One metric of a suite, validated and compiled.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Name in outputs (default: the kind's name); unique within the suite.
    pub name: String,
    /// What it measures.
    pub kind: MetricKind,
    /// Weight in the suite's aggregate score.
    pub weight: f64,
    /// Normalisation (exact_match, contains, accuracy).
    pub normalize: NormalizeOptions,
    /// Pattern (regex).
    pub pattern: Option<Regex>,
    /// Tolerance (numeric).
    pub tolerance: NumericTolerance,
    /// Compiled schema (json_schema).
    pub schema: Option<JsonSchema>,
    /// Judge, rubric and scale (judge).
    pub judge: Option<JudgeSpec>,
    /// The grader's name (grader).
    pub grader: Option<String>,
    /// The grade's `metrics_list` entry this metric reports (`entry = "<name>"`), instead of
    /// the aggregate reward (grader). One metric per entry keeps each a column of its own,
    /// the same in every candidate and run, with the paired tests every metric gets.
    pub grader_entry: Option<String>,
}

/// How the answer is read out of a response.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// `None`: the whole response text is the answer.
    pub extractor: Option<Extractor>,
    /// Whether references go through the same extractor (e.g. GSM8K's `#### 18`).
    pub apply_to_reference: bool,
}

impl Extraction {
    /// The answer in `text`; `None` when the extractor finds nothing.
    pub fn apply(&self, text: &str) -> Option<String> {
        match &self.extractor {
            None => Some(text.to_owned()),
            Some(e) => e.extract(text),
        }
    }
}

/// One example of a suite, rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Unique id (the `id_field`, or `L<line>`).
    pub id: String,
    /// 1-based line (JSONL; CSV: record + 1) or row (Parquet) of the data file.
    pub line: usize,
    /// System prompt from the record (a `messages` record's system turn), overriding the
    /// suite's.
    pub system: Option<String>,
    /// The example's own turns; the last is the user prompt.
    pub messages: Vec<Message>,
    /// Reference answers (at least one), after reference extraction.
    pub references: Vec<String>,
    /// The choices of a multiple-choice suite (empty otherwise).
    pub choices: Vec<String>,
}

/// A loaded, validated and fully rendered suite.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Suite name (names the output folder).
    pub name: String,
    /// Suite version.
    pub version: String,
    /// Free text.
    pub description: Option<String>,
    /// The suite file.
    pub path: PathBuf,
    /// The data file.
    pub data_path: PathBuf,
    /// System prompt.
    pub system: Option<String>,
    /// Few-shot turns, in order, before every example.
    pub fewshot: Vec<FewShot>,
    /// Sampling defaults.
    pub sampling: Sampling,
    /// Answer extraction.
    pub extraction: Extraction,
    /// Metrics, in file order.
    pub metrics: Vec<Metric>,
    /// Examples, in file order.
    pub examples: Vec<Example>,
    /// Multiple choice by log-likelihood (`[choices]`).
    pub choices: Option<ChoiceSettings>,
    /// Score the references' log-likelihood instead of generating.
    pub loglikelihood: bool,
}

/// What a suite file says about its results, read without its data: what a config check
/// needs before the data exists (`tunebench run` checks `[gate]` before preparing it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteOutline {
    /// Suite name.
    pub name: String,
    /// Metric names, in file order (the aggregate `score` is not among them).
    pub metrics: Vec<String>,
    /// The data file, taken from the suite file's folder (it may not exist yet).
    pub data: PathBuf,
}

impl Suite {
    /// Reads a suite file's name and metrics (validated as [`Suite::load`] does), not its
    /// data.
    ///
    /// # Errors
    /// [`ScoreError`] naming the file and field of the first problem.
    pub fn outline(path: impl AsRef<Path>) -> Result<SuiteOutline> {
        let path = path.as_ref();
        let file = SuiteFile::read(path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        let metrics = metrics(&file.metrics, path, base)?;
        Ok(SuiteOutline {
            data: base.join(&file.data),
            name: file.name,
            metrics: metrics.into_iter().map(|m| m.name).collect(),
        })
    }

    /// Reads and validates a suite file and its data, rendering every example.
    ///
    /// # Errors
    /// [`ScoreError`] naming the file, line and field of the first problem.
    pub fn load(path: impl AsRef<Path>) -> Result<Suite> {
        let path = path.as_ref();
        let file = SuiteFile::read(path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        let at = |field: &str| Location::file(path).field(field);

        if file.name.is_empty() || !safe_name(&file.name) {
            return Err(ScoreError::input(
                at("name"),
                format!(
                    "{:?} is not a usable suite name (it names an output folder)\nhint: use letters, digits, '-', '_' and '.'",
                    file.name
                ),
            ));
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        let mut add = |name: &str, source: &Option<String>| -> Result<()> {
            if let Some(src) = source {
                env.add_template_owned(name.to_owned(), src.clone())
                    .map_err(|e| ScoreError::input(at(name), format!("bad template: {e}")))?;
            }
            Ok(())
        };
        add("prompt", &file.prompt)?;
        add("reference", &file.reference)?;
        if let Some(f) = &file.fewshot_from {
            add("fewshot_from.input", &f.input)?;
            add("fewshot_from.output", &Some(f.output.clone()))?;
        }
        let reference = match (&file.reference, &file.reference_field) {
            (Some(_), None) => ReferenceSource::Template,
            (None, Some(OneOrMany::One(f))) => ReferenceSource::Fields(vec![f.clone()]),
            (None, Some(OneOrMany::Many(fs))) if !fs.is_empty() => {
                ReferenceSource::Fields(fs.clone())
            }
            (Some(_), Some(_)) => {
                return Err(ScoreError::input(
                    at("reference"),
                    "give either `reference` (a template) or `reference_field`, not both",
                ));
            }
            _ => {
                return Err(ScoreError::input(
                    at("reference"),
                    "missing: every suite needs references\nhint: `reference = \"{{ answer }}\"` or `reference_field = \"answer\"`",
                ));
            }
        };

        let extraction = extraction(&file.extract, path)?;
        let metrics = metrics(&file.metrics, path, base)?;
        check_scoring(&file, &metrics, path)?;

        let data_path = base.join(&file.data);
        let records = read_records(&data_path)?;
        if records.is_empty() {
            return Err(ScoreError::input(
                Location::file(&data_path),
                "the data file has no records",
            ));
        }
        let renderer = Renderer {
            env: &env,
            data_path: &data_path,
        };
        let mut examples = Vec::with_capacity(records.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for record in &records {
            let id = match &file.id_field {
                None => format!("L{}", record.line),
                Some(field) => renderer.id(record, field)?,
            };
            if let Some(first) = seen.insert(id.clone(), record.line) {
                return Err(ScoreError::input(
                    Location::line(&data_path, record.line)
                        .field(file.id_field.as_deref().unwrap_or("id")),
                    format!("duplicate id {id:?} (first on line {first})"),
                ));
            }
            let (system, messages) = match &file.prompt {
                Some(_) => (
                    None,
                    vec![Message {
                        role: Role::User,
                        content: renderer.render("prompt", record)?,
                    }],
                ),
                None => renderer.own_turns(record)?,
            };
            let raw_refs = match &reference {
                ReferenceSource::Template => vec![renderer.render("reference", record)?],
                ReferenceSource::Fields(fields) => renderer.reference_fields(record, fields)?,
            };
            let mut references = Vec::with_capacity(raw_refs.len());
            for r in raw_refs {
                let r = if extraction.apply_to_reference {
                    extraction.apply(&r).ok_or_else(|| {
                        ScoreError::input(
                            Location::line(&data_path, record.line).field("reference"),
                            format!("the answer extractor finds nothing in the reference {r:?}"),
                        )
                    })?
                } else {
                    r
                };
                references.push(r);
            }
            let choices = match file.choices.as_ref().and_then(|c| c.field.as_deref()) {
                Some(field) => renderer.choices(record, field)?,
                None => Vec::new(),
            };
            examples.push(Example {
                id,
                line: record.line,
                system,
                messages,
                references,
                choices,
            });
        }

        if let Some(spec) = &file.choices {
            let fixed = match (&spec.list, spec.from_references) {
                (Some(list), _) => Some(list.clone()),
                (None, true) => {
                    let mut all: Vec<String> =
                        examples.iter().flat_map(|e| e.references.clone()).collect();
                    all.sort();
                    all.dedup();
                    Some(all)
                }
                (None, false) => None,
            };
            if let Some(fixed) = fixed {
                for e in &mut examples {
                    e.choices = fixed.clone();
                }
            }
        }

        if let Some(n) = file.per_reference {
            if n == 0 {
                return Err(ScoreError::input(
                    at("per_reference"),
                    "must be at least 1\nhint: leave it out to keep every example",
                ));
            }
            let mut kept: HashMap<String, usize> = HashMap::new();
            examples.retain(|e| {
                let count = kept.entry(e.references[0].clone()).or_default();
                *count += 1;
                *count <= n
            });
        }

        let mut fewshot = file.fewshot.clone();
        if let Some(from) = &file.fewshot_from {
            let fs_path = base.join(&from.path);
            let fs_records = read_records(&fs_path)?;
            if fs_records.len() < from.n {
                return Err(ScoreError::input(
                    at("fewshot_from.n"),
                    format!(
                        "asks for {} examples but {} has {}",
                        from.n,
                        fs_path.display(),
                        fs_records.len()
                    ),
                ));
            }
            let input = if from.input.is_some() {
                "fewshot_from.input"
            } else if file.prompt.is_some() {
                "prompt"
            } else {
                return Err(ScoreError::input(
                    at("fewshot_from.input"),
                    "missing: give `input` (a template) or a suite `prompt`",
                ));
            };
            let r = Renderer {
                env: &env,
                data_path: &fs_path,
            };
            for record in fs_records.iter().take(from.n) {
                fewshot.push(FewShot {
                    input: r.render(input, record)?,
                    output: r.render("fewshot_from.output", record)?,
                });
            }
        }

        let sampling = &file.sampling;
        if !(sampling.temperature.is_finite() && sampling.temperature >= 0.0) {
            return Err(ScoreError::input(
                at("sampling.temperature"),
                format!(
                    "{} is not a temperature\nhint: use a finite number ≥ 0 (0 = greedy)",
                    sampling.temperature
                ),
            ));
        }
        if let Some(p) = sampling.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(ScoreError::input(
                at("sampling.top_p"),
                format!("{p} is not a top-p\nhint: use a number in (0, 1]"),
            ));
        }

        Ok(Suite {
            name: file.name,
            version: file.version,
            description: file.description,
            path: path.to_path_buf(),
            data_path,
            system: file.system,
            fewshot,
            sampling: file.sampling,
            extraction,
            metrics,
            examples,
            choices: file.choices.map(|c| ChoiceSettings {
                prefix: c.prefix.unwrap_or_else(|| " ".to_owned()),
                length_norm: c.length_norm,
            }),
            loglikelihood: file.loglikelihood,
        })
    }

    /// The chat request of every example, in suite order: system prompt, few-shot turns,
    /// then the example's own turns, with the suite's sampling defaults.
    ///
    /// # Errors
    /// None today (everything is checked by [`Suite::load`]); kept fallible so that later
    /// checks (context limits) have somewhere to report.
    pub fn requests(&self) -> Result<Vec<ExampleRequest>> {
        let mut shots = Vec::with_capacity(self.fewshot.len() * 2);
        for s in &self.fewshot {
            shots.push(Message {
                role: Role::User,
                content: s.input.clone(),
            });
            shots.push(Message {
                role: Role::Assistant,
                content: s.output.clone(),
            });
        }
        Ok(self
            .examples
            .iter()
            .map(|e| {
                let mut messages = shots.clone();
                messages.extend(e.messages.iter().cloned());
                ExampleRequest {
                    id: e.id.clone(),
                    request: ChatRequest {
                        system: e.system.clone().or_else(|| self.system.clone()),
                        messages,
                        sampling: self.sampling.clone(),
                        scoring: self.scoring(e),
                    },
                }
            })
            .collect())
    }

    /// What a local candidate scores for `example` instead of generating, if anything.
    fn scoring(&self, example: &Example) -> Option<Scoring> {
        if let Some(c) = &self.choices {
            return Some(Scoring::Choices {
                choices: example.choices.clone(),
                prefix: c.prefix.clone(),
                length_norm: c.length_norm,
            });
        }
        self.loglikelihood.then(|| Scoring::Continuation {
            continuation: example.references[0].clone(),
        })
    }

    /// Whether answering this suite needs a candidate that scores log-likelihoods.
    pub fn needs_loglikelihood(&self) -> bool {
        self.choices.is_some() || self.loglikelihood
    }

    /// The example with `id`.
    pub fn example(&self, id: &str) -> Option<&Example> {
        self.examples.iter().find(|e| e.id == id)
    }
}

/// Whether `name` can name a folder: non-empty, no separators, not `.`/`..`.
pub(crate) fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '@'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const BASE: &str = r#"
name = "t"
version = "1"
data = "d.jsonl"
prompt = "Q: {{ q }}"
reference = "{{ a }}"
[[metrics]]
kind = "exact_match"
"#;

    #[test]
    fn negative_or_nan_temperature_is_refused_not_greedy() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "d.jsonl", "{\"q\":\"1+1\",\"a\":\"2\"}\n");
        for (sampling, field) in [
            ("temperature = -1.0", "sampling.temperature"),
            ("temperature = nan", "sampling.temperature"),
            ("top_p = 1.5", "sampling.top_p"),
        ] {
            let s = format!("{BASE}\n[sampling]\n{sampling}\n");
            let err = Suite::load(write(dir.path(), "s.toml", &s))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field) && err.contains("hint:"), "{err}");
        }
        let s = format!("{BASE}\n[sampling]\ntemperature = 0.0\n");
        assert!(Suite::load(write(dir.path(), "s.toml", &s)).is_ok());
    }

    #[test]
    fn renders_prompts_ids_and_fewshot() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "d.jsonl",
            "{\"q\":\"1+1\",\"a\":\"2\"}\n\n{\"q\":\"2+2\",\"a\":\"4\"}\n",
        );
        let s = format!("{BASE}\n");
        let s = s.replace(
            "reference = \"{{ a }}\"",
            "reference = \"{{ a }}\"\nsystem = \"Be brief.\"\nfewshot = [{ input = \"Q: 0+0\", output = \"0\" }]",
        );
        let suite = Suite::load(write(dir.path(), "s.toml", &s)).unwrap();
        let ids: Vec<&str> = suite.examples.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["L1", "L3"]);
        let reqs = suite.requests().unwrap();
        assert_eq!(reqs[1].request.system.as_deref(), Some("Be brief."));
        let turns: Vec<(Role, &str)> = reqs[1]
            .request
            .messages
            .iter()
            .map(|m| (m.role, m.content.as_str()))
            .collect();
        assert_eq!(
            turns,
            [
                (Role::User, "Q: 0+0"),
                (Role::Assistant, "0"),
                (Role::User, "Q: 2+2")
            ]
        );
        assert_eq!(suite.examples[1].references, ["4"]);
    }

    #[test]
    fn missing_field_names_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "d.jsonl",
            "{\"q\":\"1\",\"a\":\"2\"}\n{\"a\":\"4\"}\n",
        );
        let err = Suite::load(write(dir.path(), "s.toml", BASE))
            .unwrap_err()
            .to_string();
        assert!(err.contains("d.jsonl:2: field `q`: missing"), "{err}");
    }

    #[test]
    fn duplicate_ids_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "d.jsonl",
            "{\"id\":\"x\",\"q\":\"1\",\"a\":\"2\"}\n{\"id\":\"x\",\"q\":\"3\",\"a\":\"4\"}\n",
        );
        let s = BASE.replace(
            "data = \"d.jsonl\"",
            "data = \"d.jsonl\"\nid_field = \"id\"",
        );
        let err = Suite::load(write(dir.path(), "s.toml", &s))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("d.jsonl:2: field `id`: duplicate id \"x\" (first on line 1)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_and_misplaced_options_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "d.jsonl", "{\"q\":\"1\",\"a\":\"2\"}\n");
        let typo = BASE.replace("prompt =", "promt =");
        let err = Suite::load(write(dir.path(), "s.toml", &typo))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `promt`"), "{err}");
        let misplaced = format!("{BASE}abs_tol = 0.1\n");
        let err = Suite::load(write(dir.path(), "s.toml", &misplaced))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metrics[0].abs_tol`: does not apply to kind exact_match"),
            "{err}"
        );
    }

    #[test]
    fn per_reference_keeps_the_first_examples_of_each_reference_in_file_order() {
        let dir = tempfile::tempdir().unwrap();
        let lines: String = ["b", "a", "b", "b", "c", "a", "a"]
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{{\"q\":\"{i}\",\"a\":\"{a}\"}}\n"))
            .collect();
        write(dir.path(), "d.jsonl", &lines);
        let with = |extra: &str| {
            let s = BASE.replace(
                "reference = \"{{ a }}\"",
                &format!("reference = \"{{{{ a }}}}\"\n{extra}"),
            );
            Suite::load(write(dir.path(), "s.toml", &s))
        };
        let suite = with("per_reference = 2\n[choices]\nfrom_references = true").unwrap();
        let ids: Vec<&str> = suite.examples.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["L1", "L2", "L3", "L5", "L6"]);
        // The choices still come from every example.
        assert_eq!(suite.examples[0].choices, ["a", "b", "c"]);
        let err = with("per_reference = 0").unwrap_err().to_string();
        assert!(
            err.contains("per_reference") && err.contains("hint:"),
            "{err}"
        );
    }

    #[test]
    fn choices_come_from_references_a_list_or_a_field() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "d.jsonl",
            "{\"q\":\"1\",\"a\":\"b\",\"o\":[\"x\",2]}\n{\"q\":\"2\",\"a\":\"a\",\"o\":[\"y\"]}\n{\"q\":\"3\",\"a\":\"b\",\"o\":[\"z\"]}\n",
        );
        let load =
            |extra: &str| Suite::load(write(dir.path(), "s.toml", &format!("{BASE}{extra}")));
        let suite = load("[choices]\nfrom_references = true\n").unwrap();
        assert!(suite.needs_loglikelihood());
        let reqs = suite.requests().unwrap();
        assert_eq!(
            reqs[2].request.scoring,
            Some(Scoring::Choices {
                choices: vec!["a".into(), "b".into()],
                prefix: " ".into(),
                length_norm: LengthNorm::None,
            })
        );
        let suite =
            load("[choices]\nfield = \"o\"\nprefix = \"\"\nlength_norm = \"chars\"\n").unwrap();
        match &suite.requests().unwrap()[0].request.scoring {
            Some(Scoring::Choices {
                choices,
                prefix,
                length_norm,
            }) => {
                assert_eq!(choices, &["x", "2"]);
                assert_eq!(prefix, "");
                assert_eq!(*length_norm, LengthNorm::Chars);
            }
            other => panic!("{other:?}"),
        }
        let suite = load("[choices]\nlist = [\"p\", \"q\"]\n").unwrap();
        assert_eq!(suite.examples[1].choices, ["p", "q"]);
        // Generation suites send no scoring, so their cache keys are unchanged.
        assert_eq!(
            load("").unwrap().requests().unwrap()[0].request.scoring,
            None
        );

        let err = |extra: &str| load(extra).unwrap_err().to_string();
        let two = err("[choices]\nlist = [\"p\"]\nfrom_references = true\n");
        assert!(
            two.contains("field `choices`: give exactly one of"),
            "{two}"
        );
        let not_list = err("[choices]\nfield = \"q\"\n");
        assert!(
            not_list.contains("d.jsonl:1: field `q`: missing or not a list"),
            "{not_list}"
        );
        let flagged = BASE.replace("[[metrics]]", "loglikelihood = true\n[[metrics]]");
        let wrong_metric = Suite::load(write(dir.path(), "s.toml", &flagged))
            .unwrap_err()
            .to_string();
        assert!(
            wrong_metric.contains("metrics[0].kind`: a `loglikelihood = true` suite"),
            "{wrong_metric}"
        );
    }

    #[test]
    fn loglikelihood_suites_score_the_first_reference() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "d.jsonl", "{\"q\":\"1\",\"a\":\" two\"}\n");
        let s = BASE.replace(
            "[[metrics]]\nkind = \"exact_match\"",
            "loglikelihood = true\n[[metrics]]\nkind = \"loglikelihood\"",
        );
        let suite = Suite::load(write(dir.path(), "s.toml", &s)).unwrap();
        assert_eq!(
            suite.requests().unwrap()[0].request.scoring,
            Some(Scoring::Continuation {
                continuation: " two".into()
            })
        );
        let no_flag = BASE.replace("exact_match", "loglikelihood");
        let err = Suite::load(write(dir.path(), "s.toml", &no_flag))
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs `loglikelihood = true`"), "{err}");
    }

    #[test]
    fn csv_records_and_messages_records() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "d.csv", "q,a\nhello,world\n\"multi\nline\",x\n");
        let s = BASE.replace("d.jsonl", "d.csv");
        let suite = Suite::load(write(dir.path(), "s.toml", &s)).unwrap();
        let ids: Vec<&str> = suite.examples.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["L2", "L3"]);
        assert_eq!(suite.examples[1].messages[0].content, "Q: multi\nline");

        write(
            dir.path(),
            "m.jsonl",
            r#"{"messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]}"#,
        );
        let s = "name = \"m\"\nversion = \"1\"\ndata = \"m.jsonl\"\nreference = \"{{ messages[-1].content }}\"\n[[metrics]]\nkind = \"exact_match\"\n";
        let suite = Suite::load(write(dir.path(), "m.toml", s)).unwrap();
        let e = &suite.examples[0];
        assert_eq!(e.system.as_deref(), Some("sys"));
        assert_eq!(e.messages.len(), 1);
        assert_eq!(e.references, ["yo"]);
    }
}
