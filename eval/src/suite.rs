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
//! Everything is rendered when the suite is loaded, so a bad record fails the load with its
//! file, line and field instead of failing half-way through a paid run. Nothing is dropped:
//! a record with a missing field is an error, and so is a duplicate id.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{EvalError, Location, Result};
use crate::judge::{JudgeScale, JudgeSpec};
use crate::metrics::extract::{Extractor, JsonPath};
use crate::metrics::json::JsonSchema;
use crate::metrics::numeric::NumericTolerance;
use crate::metrics::text::NormalizeOptions;
use crate::types::{ChatRequest, ExampleRequest, LengthNorm, Message, Role, Sampling, Scoring};

/// The suite file as written (serde; unknown keys are errors).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteFile {
    name: String,
    version: String,
    #[serde(default)]
    description: Option<String>,
    data: PathBuf,
    #[serde(default)]
    id_field: Option<String>,
    #[serde(default)]
    system: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    reference_field: Option<OneOrMany>,
    #[serde(default)]
    fewshot: Vec<FewShot>,
    #[serde(default)]
    fewshot_from: Option<FewShotFrom>,
    #[serde(default)]
    extract: ExtractSpec,
    metrics: Vec<MetricSpec>,
    #[serde(default)]
    sampling: Sampling,
    #[serde(default)]
    choices: Option<ChoicesSpec>,
    #[serde(default)]
    loglikelihood: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChoicesSpec {
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    list: Option<Vec<String>>,
    #[serde(default)]
    from_references: bool,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    length_norm: LengthNorm,
}

/// How a multiple-choice suite's choices continue the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoiceSettings {
    /// Put before each choice (default `" "`).
    pub prefix: String,
    /// Length normalisation of the log-probabilities.
    pub length_norm: LengthNorm,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FewShotFrom {
    /// Data file (relative to the suite file).
    path: PathBuf,
    /// How many records, from the top of the file.
    n: usize,
    /// Template of the user message (default: the suite's `prompt`).
    #[serde(default)]
    input: Option<String>,
    /// Template of the answer.
    output: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtractSpec {
    #[serde(default)]
    kind: ExtractKind,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    apply_to_reference: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ExtractKind {
    #[default]
    None,
    Regex,
    LastNumber,
    JsonPath,
    FirstLine,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricSpec {
    kind: MetricKind,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    normalize: Option<Normalize>,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    abs_tol: Option<f64>,
    #[serde(default)]
    rel_tol: Option<f64>,
    #[serde(default)]
    schema: Option<PathBuf>,
    #[serde(default)]
    judge: Option<String>,
    #[serde(default)]
    rubric: Option<String>,
    #[serde(default)]
    scale: Option<String>,
    #[serde(default)]
    max_tokens: Option<u32>,
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

/// One record of a data file.
#[derive(Debug, Clone)]
struct Record {
    line: usize,
    fields: Map<String, Value>,
}

/// What a suite file says about its results, read without its data: what a config check
/// needs before the data exists (`tunebench run` checks `[gate]` before preparing it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteOutline {
    /// Suite name.
    pub name: String,
    /// Metric names, in file order (the aggregate `score` is not among them).
    pub metrics: Vec<String>,
}

impl SuiteFile {
    /// Parses a suite file.
    fn read(path: &Path) -> Result<SuiteFile> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        toml::from_str(&text).map_err(|e| EvalError::SuiteToml {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }
}

impl Suite {
    /// Reads a suite file's name and metrics (validated as [`Suite::load`] does), not its
    /// data.
    ///
    /// # Errors
    /// [`EvalError`] naming the file and field of the first problem.
    pub fn outline(path: impl AsRef<Path>) -> Result<SuiteOutline> {
        let path = path.as_ref();
        let file = SuiteFile::read(path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        let metrics = metrics(&file.metrics, path, base)?;
        Ok(SuiteOutline {
            name: file.name,
            metrics: metrics.into_iter().map(|m| m.name).collect(),
        })
    }

    /// Reads and validates a suite file and its data, rendering every example.
    ///
    /// # Errors
    /// [`EvalError`] naming the file, line and field of the first problem.
    pub fn load(path: impl AsRef<Path>) -> Result<Suite> {
        let path = path.as_ref();
        let file = SuiteFile::read(path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        let at = |field: &str| Location::file(path).field(field);

        if file.name.is_empty() || !safe_name(&file.name) {
            return Err(EvalError::input(
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
                    .map_err(|e| EvalError::input(at(name), format!("bad template: {e}")))?;
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
                return Err(EvalError::input(
                    at("reference"),
                    "give either `reference` (a template) or `reference_field`, not both",
                ));
            }
            _ => {
                return Err(EvalError::input(
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
            return Err(EvalError::input(
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
                return Err(EvalError::input(
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
                        EvalError::input(
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

        let mut fewshot = file.fewshot.clone();
        if let Some(from) = &file.fewshot_from {
            let fs_path = base.join(&from.path);
            let fs_records = read_records(&fs_path)?;
            if fs_records.len() < from.n {
                return Err(EvalError::input(
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
                return Err(EvalError::input(
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
            return Err(EvalError::input(
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
            return Err(EvalError::input(
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

enum ReferenceSource {
    Template,
    Fields(Vec<String>),
}

struct Renderer<'a> {
    env: &'a Environment<'static>,
    data_path: &'a Path,
}

impl Renderer<'_> {
    fn at(&self, record: &Record, field: &str) -> Location {
        Location::line(self.data_path, record.line).field(field)
    }

    /// Renders template `name` over the record, naming a missing field first.
    fn render(&self, name: &str, record: &Record) -> Result<String> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| EvalError::input(self.at(record, name), e.to_string()))?;
        let mut vars: Vec<String> = tmpl.undeclared_variables(false).into_iter().collect();
        vars.sort();
        if let Some(missing) = vars.iter().find(|v| !record.fields.contains_key(*v)) {
            return Err(EvalError::input(
                self.at(record, missing),
                format!(
                    "missing (template `{name}` uses it); the record has {}",
                    field_list(&record.fields)
                ),
            ));
        }
        tmpl.render(&record.fields).map_err(|e| {
            EvalError::input(
                self.at(record, name),
                format!("cannot render template `{name}`: {e}"),
            )
        })
    }

    fn id(&self, record: &Record, field: &str) -> Result<String> {
        match record.fields.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(other) => Err(EvalError::input(
                self.at(record, field),
                format!("an id must be a non-empty string or a number, found {other}"),
            )),
            None => Err(EvalError::input(
                self.at(record, field),
                format!(
                    "missing (it is the suite's id_field); the record has {}",
                    field_list(&record.fields)
                ),
            )),
        }
    }

    fn reference_fields(&self, record: &Record, fields: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for f in fields {
            match record.fields.get(f) {
                Some(Value::String(s)) => out.push(s.clone()),
                Some(Value::Number(n)) => out.push(n.to_string()),
                Some(Value::Bool(b)) => out.push(b.to_string()),
                Some(Value::Array(items)) if !items.is_empty() => {
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            Value::String(s) => out.push(s.clone()),
                            Value::Number(n) => out.push(n.to_string()),
                            other => {
                                return Err(EvalError::input(
                                    self.at(record, &format!("{f}[{i}]")),
                                    format!(
                                        "a reference must be a string or number, found {other}"
                                    ),
                                ));
                            }
                        }
                    }
                }
                Some(other) => {
                    return Err(EvalError::input(
                        self.at(record, f),
                        format!(
                            "a reference must be a string, a number or a non-empty array, found {other}"
                        ),
                    ));
                }
                None => {
                    return Err(EvalError::input(
                        self.at(record, f),
                        format!(
                            "missing (it is a reference_field); the record has {}",
                            field_list(&record.fields)
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The choices in a record's list `field`.
    fn choices(&self, record: &Record, field: &str) -> Result<Vec<String>> {
        let at = |f: &str| self.at(record, f);
        let Some(Value::Array(items)) = record.fields.get(field) else {
            return Err(EvalError::input(
                at(field),
                format!(
                    "missing or not a list (it is choices.field); the record has {}",
                    field_list(&record.fields)
                ),
            ));
        };
        if items.is_empty() {
            return Err(EvalError::input(at(field), "no choices"));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(EvalError::input(
                    at(&format!("{field}[{i}]")),
                    format!("a choice must be a non-empty string or a number, found {other}"),
                )),
            })
            .collect()
    }

    /// The turns of a record without a suite `prompt`: its `prompt` field, or its `messages`
    /// (system turn taken out; a final assistant turn, the reference, left out).
    fn own_turns(&self, record: &Record) -> Result<(Option<String>, Vec<Message>)> {
        if let Some(p) = record.fields.get("prompt") {
            let Value::String(p) = p else {
                return Err(EvalError::input(
                    self.at(record, "prompt"),
                    "must be a string",
                ));
            };
            return Ok((
                None,
                vec![Message {
                    role: Role::User,
                    content: p.clone(),
                }],
            ));
        }
        let Some(Value::Array(turns)) = record.fields.get("messages") else {
            return Err(EvalError::input(
                self.at(record, "prompt"),
                "missing: the suite has no `prompt` template, so each record needs a `prompt` string or a `messages` array",
            ));
        };
        let mut system = None;
        let mut messages = Vec::new();
        for (i, turn) in turns.iter().enumerate() {
            let field = format!("messages[{i}]");
            let role = turn.get("role").and_then(Value::as_str);
            let content = turn.get("content").and_then(Value::as_str).ok_or_else(|| {
                EvalError::input(
                    self.at(record, &format!("{field}.content")),
                    "missing or not a string",
                )
            })?;
            match role {
                Some("system") if i == 0 => system = Some(content.to_owned()),
                Some("user") => messages.push(Message {
                    role: Role::User,
                    content: content.to_owned(),
                }),
                Some("assistant") => messages.push(Message {
                    role: Role::Assistant,
                    content: content.to_owned(),
                }),
                _ => {
                    return Err(EvalError::input(
                        self.at(record, &format!("{field}.role")),
                        "must be \"user\" or \"assistant\" (or \"system\" first)",
                    ));
                }
            }
        }
        if messages.last().is_some_and(|m| m.role == Role::Assistant) {
            messages.pop();
        }
        if messages.last().is_none_or(|m| m.role != Role::User) {
            return Err(EvalError::input(
                self.at(record, "messages"),
                "needs a user turn to answer",
            ));
        }
        Ok((system, messages))
    }
}

fn field_list(fields: &Map<String, Value>) -> String {
    if fields.is_empty() {
        return "no fields".into();
    }
    fields
        .keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks `[choices]` and `loglikelihood` against each other and the metrics.
fn check_scoring(file: &SuiteFile, metrics: &[Metric], path: &Path) -> Result<()> {
    let at = |field: &str| Location::file(path).field(field);
    if let Some(c) = &file.choices {
        if file.loglikelihood {
            return Err(EvalError::input(
                at("loglikelihood"),
                "a suite is either multiple choice ([choices]) or loglikelihood, not both",
            ));
        }
        let sources = usize::from(c.field.is_some())
            + usize::from(c.list.is_some())
            + usize::from(c.from_references);
        if sources != 1 {
            return Err(EvalError::input(
                at("choices"),
                "give exactly one of `field`, `list` or `from_references = true`",
            ));
        }
        if c.list
            .as_ref()
            .is_some_and(|l| l.is_empty() || l.iter().any(String::is_empty))
        {
            return Err(EvalError::input(
                at("choices.list"),
                "needs at least one choice, none of them empty",
            ));
        }
    }
    for (i, m) in metrics.iter().enumerate() {
        let ll = m.kind == MetricKind::Loglikelihood;
        if ll != file.loglikelihood {
            return Err(EvalError::input(
                at(&format!("metrics[{i}].kind")),
                if ll {
                    "kind loglikelihood needs `loglikelihood = true` (the reference's likelihood is scored instead of generating)"
                } else {
                    "a `loglikelihood = true` suite answers with likelihoods, which only kind loglikelihood scores"
                },
            ));
        }
    }
    Ok(())
}

fn extraction(spec: &ExtractSpec, path: &Path) -> Result<Extraction> {
    let at = |field: &str| Location::file(path).field(format!("extract.{field}"));
    let needs = |field: &str, value: &Option<String>| -> Result<String> {
        value
            .clone()
            .ok_or_else(|| EvalError::input(at(field), "missing for this kind"))
    };
    let unused = |field: &str, value: &Option<String>| -> Result<()> {
        match value {
            Some(_) => Err(EvalError::input(
                at(field),
                "does not apply to this extract kind",
            )),
            None => Ok(()),
        }
    };
    let extractor = match spec.kind {
        ExtractKind::None => {
            unused("pattern", &spec.pattern)?;
            unused("path", &spec.path)?;
            None
        }
        ExtractKind::Regex => {
            unused("path", &spec.path)?;
            let p = needs("pattern", &spec.pattern)?;
            let re = Regex::new(&p)
                .map_err(|e| EvalError::input(at("pattern"), format!("bad regex: {e}")))?;
            Some(Extractor::Regex(re))
        }
        ExtractKind::LastNumber | ExtractKind::FirstLine => {
            unused("pattern", &spec.pattern)?;
            unused("path", &spec.path)?;
            Some(if spec.kind == ExtractKind::LastNumber {
                Extractor::LastNumber
            } else {
                Extractor::FirstLine
            })
        }
        ExtractKind::JsonPath => {
            unused("pattern", &spec.pattern)?;
            let p = needs("path", &spec.path)?;
            let jp =
                JsonPath::parse(&p).map_err(|e| EvalError::input(at("path"), e.to_string()))?;
            Some(Extractor::JsonPath(jp))
        }
    };
    Ok(Extraction {
        extractor,
        apply_to_reference: spec.apply_to_reference,
    })
}

fn metrics(specs: &[MetricSpec], path: &Path, base: &Path) -> Result<Vec<Metric>> {
    if specs.is_empty() {
        return Err(EvalError::input(
            Location::file(path).field("metrics"),
            "a suite needs at least one metric",
        ));
    }
    let mut out: Vec<Metric> = Vec::with_capacity(specs.len());
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, spec) in specs.iter().enumerate() {
        let at = |field: &str| Location::file(path).field(format!("metrics[{i}].{field}"));
        let kind = spec.kind;
        let name = spec
            .name
            .clone()
            .unwrap_or_else(|| kind.as_str().to_owned());
        if let Some(j) = names.insert(name.clone(), i) {
            return Err(EvalError::input(
                at("name"),
                format!(
                    "metric name {name:?} is also used by metrics[{j}]\nhint: give one of them a `name`"
                ),
            ));
        }
        if name == "score" {
            return Err(EvalError::input(
                at("name"),
                "\"score\" is the aggregate's name; pick another",
            ));
        }
        let weight = spec.weight.unwrap_or(1.0);
        if !weight.is_finite() || weight < 0.0 {
            return Err(EvalError::input(
                at("weight"),
                format!("must be a finite number >= 0, got {weight}"),
            ));
        }
        let only = |field: &str, present: bool, kinds: &[MetricKind]| -> Result<()> {
            if present && !kinds.contains(&kind) {
                let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                return Err(EvalError::input(
                    at(field),
                    format!(
                        "does not apply to kind {}; only to {}",
                        kind.as_str(),
                        names.join(", ")
                    ),
                ));
            }
            Ok(())
        };
        use MetricKind as K;
        only(
            "normalize",
            spec.normalize.is_some(),
            &[K::ExactMatch, K::Contains, K::Accuracy],
        )?;
        only("pattern", spec.pattern.is_some(), &[K::Regex, K::Judge])?;
        only("judge", spec.judge.is_some(), &[K::Judge])?;
        only("rubric", spec.rubric.is_some(), &[K::Judge])?;
        only("scale", spec.scale.is_some(), &[K::Judge])?;
        only("max_tokens", spec.max_tokens.is_some(), &[K::Judge])?;
        only("abs_tol", spec.abs_tol.is_some(), &[K::Numeric])?;
        only("rel_tol", spec.rel_tol.is_some(), &[K::Numeric])?;
        only("schema", spec.schema.is_some(), &[K::JsonSchema])?;

        let pattern = match (kind, &spec.pattern) {
            (K::Regex, None) => {
                return Err(EvalError::input(at("pattern"), "missing for kind regex"));
            }
            (_, Some(p)) => Some(
                Regex::new(p)
                    .map_err(|e| EvalError::input(at("pattern"), format!("bad regex: {e}")))?,
            ),
            (_, None) => None,
        };
        let judge = match kind {
            K::Judge => {
                let (Some(judge), Some(rubric)) = (&spec.judge, &spec.rubric) else {
                    return Err(EvalError::input(
                        at(if spec.judge.is_none() {
                            "judge"
                        } else {
                            "rubric"
                        }),
                        "missing for kind judge\nhint: `judge = \"<a [[eval.judges]] name>\"` and `rubric = \"... {{ prompt }} ... {{ response }} ... {{ reference }} ...\"`",
                    ));
                };
                JudgeSpec::check_rubric(rubric, at("rubric"))?;
                let scale = JudgeScale::parse(spec.scale.as_deref().unwrap_or("1-5"))
                    .map_err(|e| EvalError::input(at("scale"), e))?;
                Some(JudgeSpec {
                    judge: judge.clone(),
                    rubric: rubric.clone(),
                    scale,
                    pattern: pattern.clone(),
                    max_tokens: spec.max_tokens.unwrap_or(256),
                })
            }
            _ => None,
        };
        let mut tolerance = NumericTolerance::default();
        for (field, value, slot) in [
            ("abs_tol", spec.abs_tol, &mut tolerance.abs),
            ("rel_tol", spec.rel_tol, &mut tolerance.rel),
        ] {
            if let Some(v) = value {
                if !v.is_finite() || v < 0.0 {
                    return Err(EvalError::input(
                        at(field),
                        format!("must be a finite number >= 0, got {v}"),
                    ));
                }
                *slot = v;
            }
        }
        let schema = match (kind, &spec.schema) {
            (K::JsonSchema, None) => {
                return Err(EvalError::input(
                    at("schema"),
                    "missing for kind json_schema (a JSON Schema file, relative to the suite)",
                ));
            }
            (_, Some(file)) => {
                let file = base.join(file);
                let text = std::fs::read_to_string(&file).map_err(|e| EvalError::io(&file, e))?;
                let value: Value = serde_json::from_str(&text).map_err(|e| {
                    EvalError::input(Location::line(&file, e.line()), format!("not JSON: {e}"))
                })?;
                Some(
                    JsonSchema::compile(&value)
                        .map_err(|source| EvalError::Schema { path: file, source })?,
                )
            }
            (_, None) => None,
        };
        out.push(Metric {
            name,
            kind,
            weight,
            normalize: spec.normalize.unwrap_or_default().options(),
            pattern,
            tolerance,
            schema,
            judge,
        });
    }
    if out.iter().map(|m| m.weight).sum::<f64>() <= 0.0 {
        return Err(EvalError::input(
            Location::file(path).field("metrics"),
            "the metric weights add up to 0",
        ));
    }
    Ok(out)
}

/// Reads the records of a JSONL, CSV or Parquet file (by extension).
fn read_records(path: &Path) -> Result<Vec<Record>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("jsonl") | Some("ndjson") => read_jsonl(path),
        Some("csv") | Some("parquet") => read_table(path, ext.as_deref() == Some("csv")),
        _ => Err(EvalError::input(
            Location::file(path),
            "unknown data format\nhint: use a .jsonl, .csv or .parquet file",
        )),
    }
}

fn read_jsonl(path: &Path) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            EvalError::input(Location::line(path, line_no), format!("not JSON: {e}"))
        })?;
        let Value::Object(mut fields) = value else {
            return Err(EvalError::input(
                Location::line(path, line_no),
                "each line must be a JSON object",
            ));
        };
        // A null field counts as missing, so templates that use it fail by name.
        fields.retain(|_, v| !v.is_null());
        out.push(Record {
            line: line_no,
            fields,
        });
    }
    Ok(out)
}

/// CSV (header line, every column read as text) or Parquet (scalar columns) through polars.
/// CSV records are numbered as record + 1 (the header is line 1), which is the file line
/// unless a quoted field spans lines; Parquet records by 1-based row.
fn read_table(path: &Path, csv: bool) -> Result<Vec<Record>> {
    use polars::prelude::*;
    let polars_err = |e: PolarsError| EvalError::input(Location::file(path), e.to_string());
    let df = if csv {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .map_err(polars_err)?
            .finish()
            .map_err(polars_err)?
    } else {
        let file = std::fs::File::open(path).map_err(|e| EvalError::io(path, e))?;
        ParquetReader::new(file).finish().map_err(polars_err)?
    };
    let mut columns = Vec::with_capacity(df.width());
    for column in df.columns() {
        let dtype = column.dtype();
        if !(dtype.is_primitive_numeric()
            || dtype.is_bool()
            || matches!(dtype, DataType::String | DataType::Null))
        {
            return Err(EvalError::input(
                Location::file(path).field(column.name().as_str()),
                format!("column type {dtype} is not supported (text, numbers and booleans are)"),
            ));
        }
        let text = column
            .cast(&DataType::String)
            .and_then(|c| c.str().cloned())
            .map_err(polars_err)?;
        columns.push((column.name().to_string(), text));
    }
    let offset = if csv { 2 } else { 1 };
    Ok((0..df.height())
        .map(|row| {
            let fields = columns
                .iter()
                .filter_map(|(name, values)| {
                    values
                        .get(row)
                        .map(|v| (name.clone(), Value::String(v.to_owned())))
                })
                .collect();
            Record {
                line: row + offset,
                fields,
            }
        })
        .collect())
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
