//! Output targets: where prepared data goes, which record shapes each one takes, the JSONL
//! line it expects, and the limits it sets on records and split files.
//!
//! A [`Target`] is either local training (generous, no maxima) or one Amazon Bedrock model
//! customization family ([`BedrockFormat`]). For each target this module knows:
//!
//! - which [`Record`] shapes it accepts ([`Target::accepts`]);
//! - how one record becomes one JSONL line ([`Target::render`]);
//! - the per-record rules: role order, empty turns, reserved strings, size
//!   ([`Target::check_record`]);
//! - the per-file rules: record counts and file size ([`Target::check_split`]).
//!
//! The limits live in one table in code ([`Target::quotas`]); each row names its source. Figures
//! the sources did not give are marked `// unverified:` next to the value and were chosen to
//! err on the strict side.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::record::{Record, Role, Turn};

/// The Amazon Bedrock model customization families tunebench can write data for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum BedrockFormat {
    /// Amazon Titan Text (G1 Express, G1 Lite, Premier): `{"prompt","completion"}` for
    /// fine-tuning, `{"input"}` for continued pre-training.
    TitanText,
    /// Meta Llama 3.1 Instruct (8B, 70B): `{"prompt","completion"}`.
    Llama31,
    /// Meta Llama 3.2 Instruct (1B, 3B, 11B, 90B): Converse-style
    /// `bedrock-conversation-2024` messages.
    Llama32,
    /// Amazon Nova understanding models (Micro, Lite, Pro): Converse-style
    /// `bedrock-conversation-2024` messages.
    Nova,
    /// Anthropic Claude 3 Haiku: Messages-API style `{"system","messages"}` with string content.
    Claude3Haiku,
    /// Cohere Command and Command Light: `{"prompt","completion"}`.
    Cohere,
    /// Reinforcement fine-tuning (Nova 2 Lite and the open-weight models): OpenAI chat
    /// `{"messages"}` ending with the user's turn, a `reference_answer` and any further fields
    /// the grader reads.
    Rft,
}

/// Where prepared data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Target {
    /// Local training: every record shape, no service limits.
    Local,
    /// Amazon Bedrock model customization for one model family.
    Bedrock(BedrockFormat),
}

/// One of the three files a prepared dataset is split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Split {
    /// Training records.
    Train,
    /// Validation records (evaluated during training).
    Validation,
    /// Held-out test records (never uploaded for training).
    Test,
}

impl Split {
    /// The split's file stem: `"train"`, `"validation"` or `"test"`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// One broken rule on one record or one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Short kebab-case rule id: `record-shape`, `role-order`, `empty-turn`,
    /// `reserved-string`, `record-tokens`, `record-chars`, `min-records`, `max-records`,
    /// `file-size`.
    pub rule: &'static str,
    /// What is wrong, for a person to read.
    pub message: String,
}

impl Violation {
    fn new(rule: &'static str, message: impl Into<String>) -> Self {
        Violation {
            rule,
            message: message.into(),
        }
    }
}

/// Limits for a target (one row of a table in code with its source).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quotas {
    /// Fewest records a training file may hold.
    pub min_train_records: usize,
    /// Most records a training file may hold.
    pub max_train_records: usize,
    /// Most records a validation file may hold.
    pub max_validation_records: usize,
    /// Most input + output tokens per record (counted with the model's tokenizer), if the
    /// service documents a limit.
    pub max_record_tokens: Option<usize>,
    /// Most characters per record, if the service documents a limit in characters.
    pub max_record_chars: Option<usize>,
    /// Largest training file, in bytes, if documented.
    pub max_file_bytes: Option<u64>,
    /// Where these figures come from (URL or document title).
    pub source: &'static str,
}

/// One row of the limits table: the public [`Quotas`] plus what does not fit in it.
#[derive(Debug, Clone, Copy)]
struct Row {
    quotas: Quotas,
    /// Largest validation file, in bytes (often smaller than the training limit).
    max_validation_file_bytes: Option<u64>,
}

/// Decimal units: AWS writes "1 GB"; reading it as 10^9 bytes errs on the strict side.
const MB: u64 = 1_000_000;
const GB: u64 = 1_000_000_000;

const TITAN_SOURCE: &str = "Amazon Bedrock User Guide, \"Model requirements for training and \
     validation datasets\" (Amazon Titan Text): \
     https://docs.aws.amazon.com/bedrock/latest/userguide/model-customization-prepare.html\
     #model-training-validation-requirements";
const LLAMA_SOURCE: &str = "aws-samples/amazon-bedrock-samples, \
     custom-models/bedrock-fine-tuning/meta-llama/dataset_validation (README.md, \
     dataset_validation.py); Amazon Bedrock User Guide, \"Prepare data for fine-tuning \
     text-to-text models\": \
     https://docs.aws.amazon.com/bedrock/latest/userguide/preparing-text-data.html";
const NOVA_SOURCE: &str = "Amazon Nova User Guide, \"Preparing data for fine-tuning \
     Understanding models\": \
     https://docs.aws.amazon.com/nova/latest/userguide/fine-tune-prepare-data-understanding.html; \
     aws-samples/amazon-bedrock-samples, custom-models/bedrock-fine-tuning/nova/understanding/\
     dataset_validation/nova_ft_dataset_validator.py";
const CLAUDE_SOURCE: &str = "aws-samples/amazon-bedrock-samples, \
     bedrock-fine-tuning/claude-haiku/DataValidation/data_validation.py; Anthropic cookbook, \
     \"Finetuning Claude 3 Haiku on Bedrock\": \
     https://platform.claude.com/cookbook/finetuning-finetuning-on-bedrock";
const COHERE_SOURCE: &str = "Cohere documentation, \"Fine-tuning Cohere Models on Amazon \
     Bedrock\": https://docs.cohere.com/docs/fine-tuning-cohere-models-on-amazon-bedrock";
const RFT_SOURCE: &str = "Amazon Bedrock User Guide, \"Prepare your training data and reward \
     functions for reinforcement fine-tuning\" (at most 20,000 prompts): \
     https://docs.aws.amazon.com/bedrock/latest/userguide/rft-prepare-data.html";
const LOCAL_SOURCE: &str = "tunebench: local training has no service-imposed limits";

/// Every target, in the order [`Target`]'s names are listed in messages.
const ALL: [Target; 8] = [
    Target::Local,
    Target::Bedrock(BedrockFormat::TitanText),
    Target::Bedrock(BedrockFormat::Llama31),
    Target::Bedrock(BedrockFormat::Llama32),
    Target::Bedrock(BedrockFormat::Nova),
    Target::Bedrock(BedrockFormat::Claude3Haiku),
    Target::Bedrock(BedrockFormat::Cohere),
    Target::Bedrock(BedrockFormat::Rft),
];

/// Llama 3 special tokens (Meta, "Llama 3.1 model card and prompt formats"); text that spells
/// them out would be read as control tokens by the chat template.
const LLAMA31_RESERVED: &[&str] = &[
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|python_tag|>",
    "<|finetune_right_pad_id|>",
];

/// Llama 3.2 uses the Llama 3.1 tokens plus the vision models' `<|image|>` token.
const LLAMA32_RESERVED: &[&str] = &[
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|python_tag|>",
    "<|finetune_right_pad_id|>",
    "<|image|>",
];

/// Nova's reserved keywords (Nova User Guide lists `User:`, `Bot:`, `Assistant:`, `System:`,
/// `<image>`, `<video>`, `[EOS]`; the AWS sample validator also rejects the upper-case forms
/// and `Thought:`).
const NOVA_RESERVED: &[&str] = &[
    "System:",
    "SYSTEM:",
    "User:",
    "USER:",
    "Bot:",
    "BOT:",
    "Assistant:",
    "ASSISTANT:",
    "Thought:",
    "[EOS]",
    "<image>",
    "<video>",
];

/// Claude's legacy Text Completions turn markers; a record containing them would be split into
/// turns that are not in the data.
const CLAUDE_RESERVED: &[&str] = &["\n\nHuman:", "\n\nAssistant:"];

impl Target {
    /// The accepted names, in table order.
    fn name(self) -> &'static str {
        match self {
            Target::Local => "local",
            Target::Bedrock(BedrockFormat::TitanText) => "bedrock:titan",
            Target::Bedrock(BedrockFormat::Llama31) => "bedrock:llama3.1",
            Target::Bedrock(BedrockFormat::Llama32) => "bedrock:llama3.2",
            Target::Bedrock(BedrockFormat::Nova) => "bedrock:nova",
            Target::Bedrock(BedrockFormat::Claude3Haiku) => "bedrock:claude-3-haiku",
            Target::Bedrock(BedrockFormat::Cohere) => "bedrock:cohere",
            Target::Bedrock(BedrockFormat::Rft) => "bedrock:rft",
        }
    }

    /// The limits table. Each row carries its source; figures not found there are marked
    /// `unverified` and chosen on the strict side.
    fn row(self) -> Row {
        match self {
            Target::Local => Row {
                quotas: Quotas {
                    min_train_records: 1,
                    max_train_records: usize::MAX,
                    max_validation_records: usize::MAX,
                    max_record_tokens: None,
                    max_record_chars: None,
                    max_file_bytes: None,
                    source: LOCAL_SOURCE,
                },
                max_validation_file_bytes: None,
            },
            Target::Bedrock(BedrockFormat::TitanText) => Row {
                quotas: Quotas {
                    // unverified: no documented minimum found; one record.
                    min_train_records: 1,
                    // unverified: "Sum of training and validation records for a Titan Text
                    // Fine-tuning job" default quota (AWS General Reference, Bedrock quotas);
                    // continued pre-training allows more, the fine-tuning figure is the strict one.
                    max_train_records: 10_000,
                    // unverified: no separate validation limit found; 1,000 as for Llama/Claude.
                    max_validation_records: 1_000,
                    // Sum of input and output tokens at batch size 1 (2,048 at larger batches).
                    max_record_tokens: Some(4_096),
                    // "Character quota per sample in dataset: token quota x 6".
                    max_record_chars: Some(4_096 * 6),
                    // Training file 1 GB for fine-tuning (10 GB for continued pre-training).
                    max_file_bytes: Some(GB),
                    source: TITAN_SOURCE,
                },
                // Validation dataset file size 100 MB.
                max_validation_file_bytes: Some(100 * MB),
            },
            Target::Bedrock(BedrockFormat::Llama31 | BedrockFormat::Llama32) => Row {
                quotas: Quotas {
                    // unverified: no documented minimum found; one record.
                    min_train_records: 1,
                    // Train dataset <= 10k rows.
                    max_train_records: 10_000,
                    // Validation dataset <= 1k rows.
                    max_validation_records: 1_000,
                    // "Input token length of each dataset row <= 16K"; 16,000 is the strict reading.
                    max_record_tokens: Some(16_000),
                    max_record_chars: None,
                    // unverified: no file size found; the Titan fine-tuning figure (1 GB).
                    max_file_bytes: Some(GB),
                    source: LLAMA_SOURCE,
                },
                // unverified: the Titan figure (100 MB).
                max_validation_file_bytes: Some(100 * MB),
            },
            Target::Bedrock(BedrockFormat::Nova) => Row {
                quotas: Quotas {
                    // MODEL_TO_NUM_SAMPLES_MAP: (8, 20000) for micro, lite and pro.
                    min_train_records: 8,
                    max_train_records: 20_000,
                    // unverified: no validation limit found; 1,000 as for Llama/Claude.
                    max_validation_records: 1_000,
                    // unverified: 32k-token fine-tuning context for Nova Micro/Lite/Pro.
                    max_record_tokens: Some(32_000),
                    max_record_chars: None,
                    // unverified: no file size found; the Titan fine-tuning figure (1 GB).
                    max_file_bytes: Some(GB),
                    source: NOVA_SOURCE,
                },
                // unverified: the Titan figure (100 MB).
                max_validation_file_bytes: Some(100 * MB),
            },
            Target::Bedrock(BedrockFormat::Claude3Haiku) => Row {
                quotas: Quotas {
                    // MIN_LINES = 32, MAX_TRAINING_LINES = 10000, MAX_VALIDATION_LINES = 1000
                    // (and MAX_TOTAL_LINES = 10000 across both files).
                    min_train_records: 32,
                    max_train_records: 10_000,
                    max_validation_records: 1_000,
                    // MAX_TOKENS = 32000.
                    max_record_tokens: Some(32_000),
                    max_record_chars: None,
                    // MAX_TRAINING_SIZE_GB = 10.
                    max_file_bytes: Some(10 * GB),
                    source: CLAUDE_SOURCE,
                },
                // MAX_VALIDATION_SIZE_GB = 1.
                max_validation_file_bytes: Some(GB),
            },
            Target::Bedrock(BedrockFormat::Cohere) => Row {
                quotas: Quotas {
                    // "your dataset must contain at least 32 examples".
                    min_train_records: 32,
                    // unverified: "Sum of training and validation records" default quota for
                    // Cohere Command fine-tuning (AWS General Reference, Bedrock quotas).
                    max_train_records: 10_000,
                    // unverified: no validation limit found; 1,000 as for Llama/Claude.
                    max_validation_records: 1_000,
                    // "The context length for prompt and a completion pair is 4096 tokens".
                    max_record_tokens: Some(4_096),
                    max_record_chars: None,
                    // unverified: no file size found; the Titan fine-tuning figure (1 GB).
                    max_file_bytes: Some(GB),
                    source: COHERE_SOURCE,
                },
                // unverified: the Titan figure (100 MB).
                max_validation_file_bytes: Some(100 * MB),
            },
            Target::Bedrock(BedrockFormat::Rft) => Row {
                quotas: Quotas {
                    // unverified: no documented minimum found; 100 prompts, so that a job's
                    // batches (16 to 512 prompts) see more than one draw of the data.
                    min_train_records: 100,
                    // "You can send Amazon Bedrock a maximum of 20,000 prompts".
                    max_train_records: 20_000,
                    // unverified: no validation limit found; 1,000 as for Llama/Claude.
                    max_validation_records: 1_000,
                    // The prompt limit is the job's own `maxPromptLength` hyperparameter,
                    // checked with the job, not here.
                    max_record_tokens: None,
                    max_record_chars: None,
                    // unverified: no file size found; the Titan fine-tuning figure (1 GB).
                    max_file_bytes: Some(GB),
                    source: RFT_SOURCE,
                },
                // unverified: the Titan figure (100 MB).
                max_validation_file_bytes: Some(100 * MB),
            },
        }
    }

    /// Strings that must not appear in any text field of a record for this target.
    fn reserved_strings(self) -> &'static [&'static str] {
        match self {
            Target::Bedrock(BedrockFormat::Llama31) => LLAMA31_RESERVED,
            Target::Bedrock(BedrockFormat::Llama32) => LLAMA32_RESERVED,
            Target::Bedrock(BedrockFormat::Nova) => NOVA_RESERVED,
            Target::Bedrock(BedrockFormat::Claude3Haiku) => CLAUDE_RESERVED,
            // No reserved strings are documented for Titan Text, Cohere Command or RFT prompts.
            Target::Local
            | Target::Bedrock(
                BedrockFormat::TitanText | BedrockFormat::Cohere | BedrockFormat::Rft,
            ) => &[],
        }
    }

    /// The record shapes this target accepts, for messages.
    fn accepted_kinds(self) -> &'static str {
        match self {
            Target::Local => "completion, chat, text, prompt",
            Target::Bedrock(BedrockFormat::TitanText) => {
                "completion (fine-tuning), text (continued pre-training)"
            }
            Target::Bedrock(BedrockFormat::Llama31 | BedrockFormat::Cohere) => "completion",
            Target::Bedrock(
                BedrockFormat::Llama32 | BedrockFormat::Nova | BedrockFormat::Claude3Haiku,
            ) => "chat, completion",
            Target::Bedrock(BedrockFormat::Rft) => "prompt (data.mapping.kind = \"prompt\")",
        }
    }

    fn shape_violation(self, r: &Record) -> Violation {
        Violation::new(
            "record-shape",
            format!(
                "{self} does not accept {} records; it accepts: {}",
                kind(r),
                self.accepted_kinds()
            ),
        )
    }

    /// Limits for this target, from the table in code (each row names its source).
    pub fn quotas(self) -> Quotas {
        self.row().quotas
    }

    /// Record shapes this target accepts (e.g. Titan/Llama3.1/Cohere: Completion; Titan also
    /// Text for continued pre-training; Llama3.2/Nova/Claude: Chat and Completion (a Completion
    /// becomes one user turn + one assistant turn); RFT: Prompt only); Local: all.
    pub fn accepts(self, r: &Record) -> bool {
        matches!(
            (self, r),
            (Target::Local, _)
                | (Target::Bedrock(BedrockFormat::Rft), Record::Prompt { .. })
                | (
                    Target::Bedrock(
                        BedrockFormat::TitanText
                            | BedrockFormat::Llama31
                            | BedrockFormat::Llama32
                            | BedrockFormat::Nova
                            | BedrockFormat::Claude3Haiku
                            | BedrockFormat::Cohere,
                    ),
                    Record::Completion { .. },
                )
                | (
                    Target::Bedrock(
                        BedrockFormat::Llama32 | BedrockFormat::Nova | BedrockFormat::Claude3Haiku,
                    ),
                    Record::Chat { .. },
                )
                | (
                    Target::Bedrock(BedrockFormat::TitanText),
                    Record::Text { .. }
                )
        )
    }

    /// The JSONL line for one record.
    ///
    /// Local: `{"prompt","completion"}`, `{"messages":[{"role","content"}]}` (roles `system`,
    /// `user`, `assistant`) or `{"text"}`. Bedrock: each family's documented format: Titan,
    /// Llama 3.1 and Cohere `{"prompt","completion"}`; Titan continued pre-training
    /// `{"input"}`; Llama 3.2 and Nova `{"schemaVersion":"bedrock-conversation-2024",
    /// "system":[{"text"}],"messages":[{"role","content":[{"text"}]}]}`; Claude 3 Haiku
    /// `{"system","messages":[{"role","content"}]}` with string content. `system` is left out
    /// when the record has none. An RFT prompt (local or `bedrock:rft`):
    /// `{"messages":[{"role","content"}],"reference_answer", ...fields}`, the system prompt as
    /// a leading `system` message.
    ///
    /// Returns `Err(Violation { rule: "record-shape", .. })` for a shape the target doesn't
    /// accept.
    pub fn render(self, r: &Record) -> Result<Value, Violation> {
        match (self, r) {
            (
                Target::Local
                | Target::Bedrock(
                    BedrockFormat::TitanText | BedrockFormat::Llama31 | BedrockFormat::Cohere,
                ),
                Record::Completion { prompt, completion },
            ) => Ok(json!({ "prompt": prompt, "completion": completion })),
            (Target::Local, Record::Chat { system, turns }) => {
                Ok(render_local_chat(system.as_deref(), turns))
            }
            (Target::Local, Record::Text { text }) => Ok(json!({ "text": text })),
            (
                Target::Local | Target::Bedrock(BedrockFormat::Rft),
                Record::Prompt {
                    system,
                    turns,
                    reference_answer,
                    fields,
                },
            ) => Ok(render_prompt(
                system.as_deref(),
                turns,
                reference_answer,
                fields,
            )),
            (Target::Bedrock(BedrockFormat::TitanText), Record::Text { text }) => {
                Ok(json!({ "input": text }))
            }
            (Target::Bedrock(BedrockFormat::Llama32 | BedrockFormat::Nova), _) => {
                match conversation(r) {
                    Some(c) => Ok(render_converse(&c)),
                    None => Err(self.shape_violation(r)),
                }
            }
            (Target::Bedrock(BedrockFormat::Claude3Haiku), _) => match conversation(r) {
                Some(c) => Ok(render_claude(&c)),
                None => Err(self.shape_violation(r)),
            },
            _ => Err(self.shape_violation(r)),
        }
    }

    /// Rules on one record: shape accepted, role order (user first, strictly alternating,
    /// assistant last, for every target that takes conversations), no empty turn, reserved
    /// strings (Claude's `"\n\nHuman:"` / `"\n\nAssistant:"`, Llama 3 special tokens such as
    /// `"<|begin_of_text|>"`, `"<|eot_id|>"`, `"<|start_header_id|>"`, Nova's `User:`, `Bot:`,
    /// `[EOS]` ...), per-record token limit when `tokens` (input + output, tokenizer-counted)
    /// is `Some`, per-record char limit.
    pub fn check_record(self, r: &Record, tokens: Option<usize>) -> Vec<Violation> {
        let mut out = Vec::new();
        let accepted = self.accepts(r);
        if !accepted {
            out.push(self.shape_violation(r));
        }

        let order = match r {
            Record::Chat { turns, .. } => Some((turns, Role::Assistant)),
            Record::Prompt { turns, .. } => Some((turns, Role::User)),
            Record::Completion { .. } | Record::Text { .. } => None,
        };
        if accepted && let Some((turns, last)) = order {
            out.extend(
                role_order_problems(turns, last)
                    .into_iter()
                    .map(|m| Violation::new("role-order", m)),
            );
        }

        let fields = labelled_texts(r);
        for (label, text) in &fields {
            if text.trim().is_empty() {
                out.push(Violation::new("empty-turn", format!("{label} is empty")));
            }
        }

        let reserved = self.reserved_strings();
        for (label, text) in &fields {
            for token in reserved.iter().filter(|t| text.contains(**t)) {
                out.push(Violation::new(
                    "reserved-string",
                    format!("{label} contains {token:?}, which {self} reserves"),
                ));
            }
        }

        let quotas = self.quotas();
        if let (Some(n), Some(max)) = (tokens, quotas.max_record_tokens)
            && n > max
        {
            out.push(Violation::new(
                "record-tokens",
                format!("record has {n} tokens; {self} allows at most {max} (input + output)"),
            ));
        }
        if let Some(max) = quotas.max_record_chars {
            let n: usize = fields.iter().map(|(_, t)| t.chars().count()).sum();
            if n > max {
                out.push(Violation::new(
                    "record-chars",
                    format!("record has {n} characters; {self} allows at most {max}"),
                ));
            }
        }
        out
    }

    /// Rules on one written split file: record-count bounds (train min/max; validation max;
    /// test: none) and file size (train and validation; the test split is not uploaded).
    pub fn check_split(self, split: Split, records: usize, file_bytes: u64) -> Vec<Violation> {
        let row = self.row();
        let q = row.quotas;
        let mut out = Vec::new();
        let (max_records, max_bytes) = match split {
            Split::Train => {
                if records < q.min_train_records {
                    out.push(Violation::new(
                        "min-records",
                        format!(
                            "train split has {records} records; {self} needs at least {}",
                            q.min_train_records
                        ),
                    ));
                }
                (q.max_train_records, q.max_file_bytes)
            }
            Split::Validation => (q.max_validation_records, row.max_validation_file_bytes),
            Split::Test => return out,
        };
        let name = split.name();
        if records > max_records {
            out.push(Violation::new(
                "max-records",
                format!("{name} split has {records} records; {self} allows at most {max_records}"),
            ));
        }
        if let Some(max) = max_bytes
            && file_bytes > max
        {
            out.push(Violation::new(
                "file-size",
                format!("{name} file is {file_bytes} bytes; {self} allows at most {max} bytes"),
            ));
        }
        out
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Target {
    type Err = String;

    /// Parses `local`, `bedrock:titan`, `bedrock:llama3.1`, `bedrock:llama3.2`,
    /// `bedrock:nova`, `bedrock:claude-3-haiku`, `bedrock:cohere` or `bedrock:rft`
    /// (case-insensitive, outer
    /// whitespace ignored). The error lists the accepted names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        ALL.into_iter().find(|t| t.name() == wanted).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|t| t.name()).collect();
            format!(
                "unknown target {s:?}; expected one of: {}",
                names.join(", ")
            )
        })
    }
}

/// The record's shape, for messages.
fn kind(r: &Record) -> &'static str {
    match r {
        Record::Completion { .. } => "completion",
        Record::Chat { .. } => "chat",
        Record::Text { .. } => "text",
        Record::Prompt { .. } => "prompt",
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// Every text field with a label for messages, in [`Record::texts`] order.
fn labelled_texts(r: &Record) -> Vec<(String, &str)> {
    match r {
        Record::Completion { prompt, completion } => vec![
            ("prompt".to_owned(), prompt.as_str()),
            ("completion".to_owned(), completion.as_str()),
        ],
        Record::Text { text } => vec![("text".to_owned(), text.as_str())],
        Record::Chat { system, turns } => labelled_conversation(system, turns).collect(),
        Record::Prompt {
            system,
            turns,
            reference_answer,
            fields,
        } => labelled_conversation(system, turns)
            .chain([("reference_answer".to_owned(), reference_answer.as_str())])
            .chain(
                fields
                    .iter()
                    .map(|(n, v)| (format!("field `{n}`"), v.as_str())),
            )
            .collect(),
    }
}

/// A conversation's texts labelled `system prompt` and `turn N (role)`.
fn labelled_conversation<'a>(
    system: &'a Option<String>,
    turns: &'a [Turn],
) -> impl Iterator<Item = (String, &'a str)> {
    system
        .iter()
        .map(|s| ("system prompt".to_owned(), s.as_str()))
        .chain(turns.iter().enumerate().map(|(i, t)| {
            (
                format!("turn {} ({})", i + 1, role_name(t.role)),
                t.content.as_str(),
            )
        }))
}

/// What is wrong with the order of a conversation's turns: user first, strictly alternating,
/// `ends_with` last (the assistant for training examples, the user for RFT prompts, which the
/// model answers). Empty when the order is fine.
fn role_order_problems(turns: &[Turn], ends_with: Role) -> Vec<String> {
    let (Some(first), Some(last)) = (turns.first(), turns.last()) else {
        return vec![match ends_with {
            Role::Assistant => {
                "conversation has no turns; it needs a user turn then an assistant turn".into()
            }
            Role::User => {
                "prompt has no turns; it needs a user turn for the model to answer".into()
            }
        }];
    };
    let mut out = Vec::new();
    if first.role != Role::User {
        out.push(format!(
            "turn 1 is {}; a conversation must start with a user turn",
            role_name(first.role)
        ));
    }
    if let Some(i) = turns.windows(2).position(|w| w[0].role == w[1].role) {
        out.push(format!(
            "turns {} and {} are both {}; user and assistant turns must alternate",
            i + 1,
            i + 2,
            role_name(turns[i].role)
        ));
    }
    if last.role != ends_with {
        let why = match ends_with {
            Role::Assistant => "a conversation must end with an assistant turn",
            Role::User => "a prompt must end with a user turn, which the model answers",
        };
        out.push(format!(
            "turn {} is {}; {why}",
            turns.len(),
            role_name(last.role)
        ));
    }
    out
}

/// A record seen as a conversation: an optional system prompt and (role, text) turns.
struct Conversation<'a> {
    system: Option<&'a str>,
    turns: Vec<(Role, &'a str)>,
}

/// A record as a conversation. A completion becomes one user turn and one assistant turn; raw
/// text and RFT prompts (which have no answer to learn) are not.
fn conversation(r: &Record) -> Option<Conversation<'_>> {
    match r {
        Record::Completion { prompt, completion } => Some(Conversation {
            system: None,
            turns: vec![
                (Role::User, prompt.as_str()),
                (Role::Assistant, completion.as_str()),
            ],
        }),
        Record::Chat { system, turns } => Some(Conversation {
            system: system.as_deref(),
            turns: turns.iter().map(|t| (t.role, t.content.as_str())).collect(),
        }),
        Record::Text { .. } | Record::Prompt { .. } => None,
    }
}

/// OpenAI-style chat messages with the system prompt as a leading `system` message.
fn chat_messages(system: Option<&str>, turns: &[Turn]) -> Value {
    system
        .map(|s| json!({ "role": "system", "content": s }))
        .into_iter()
        .chain(
            turns
                .iter()
                .map(|t| json!({ "role": role_name(t.role), "content": t.content })),
        )
        .collect()
}

/// Local chat: `{"messages"}` in OpenAI style.
fn render_local_chat(system: Option<&str>, turns: &[Turn]) -> Value {
    json!({ "messages": chat_messages(system, turns) })
}

/// RFT prompt: OpenAI chat messages, the reference answer, then the grader's fields.
fn render_prompt(
    system: Option<&str>,
    turns: &[Turn],
    reference_answer: &str,
    fields: &std::collections::BTreeMap<String, String>,
) -> Value {
    let mut obj = Map::new();
    obj.insert("messages".into(), chat_messages(system, turns));
    obj.insert("reference_answer".into(), json!(reference_answer));
    for (name, value) in fields {
        obj.insert(name.clone(), json!(value));
    }
    Value::Object(obj)
}

/// Llama 3.2 / Nova: the Converse-style `bedrock-conversation-2024` record.
fn render_converse(c: &Conversation<'_>) -> Value {
    let mut obj = Map::new();
    obj.insert("schemaVersion".into(), json!("bedrock-conversation-2024"));
    if let Some(s) = c.system {
        obj.insert("system".into(), json!([{ "text": s }]));
    }
    let messages: Vec<Value> = c
        .turns
        .iter()
        .map(|(role, text)| json!({ "role": role_name(*role), "content": [{ "text": text }] }))
        .collect();
    obj.insert("messages".into(), Value::Array(messages));
    Value::Object(obj)
}

/// Claude 3 Haiku: Messages-API style record with string content.
fn render_claude(c: &Conversation<'_>) -> Value {
    let mut obj = Map::new();
    if let Some(s) = c.system {
        obj.insert("system".into(), json!(s));
    }
    let messages: Vec<Value> = c
        .turns
        .iter()
        .map(|(role, text)| json!({ "role": role_name(*role), "content": text }))
        .collect();
    obj.insert("messages".into(), Value::Array(messages));
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(prompt: &str, completion: &str) -> Record {
        Record::Completion {
            prompt: prompt.into(),
            completion: completion.into(),
        }
    }

    fn turn(role: Role, content: &str) -> Turn {
        Turn {
            role,
            content: content.into(),
        }
    }

    fn chat(system: Option<&str>, turns: &[(Role, &str)]) -> Record {
        Record::Chat {
            system: system.map(str::to_owned),
            turns: turns.iter().map(|(r, c)| turn(*r, c)).collect(),
        }
    }

    fn sample_prompt() -> Record {
        Record::Prompt {
            system: Some("Answer with #### and the number.".into()),
            turns: vec![turn(Role::User, "What is 2+2?")],
            reference_answer: "4".into(),
            fields: [("level".to_string(), "easy".to_string())].into(),
        }
    }

    fn sample_chat() -> Record {
        chat(
            Some("Be brief."),
            &[
                (Role::User, "Hi"),
                (Role::Assistant, "Hello."),
                (Role::User, "2+2?"),
                (Role::Assistant, "4"),
            ],
        )
    }

    fn rules(v: &[Violation]) -> Vec<&'static str> {
        v.iter().map(|v| v.rule).collect()
    }

    const NAMES: [&str; 8] = [
        "local",
        "bedrock:titan",
        "bedrock:llama3.1",
        "bedrock:llama3.2",
        "bedrock:nova",
        "bedrock:claude-3-haiku",
        "bedrock:cohere",
        "bedrock:rft",
    ];

    #[test]
    fn every_name_round_trips() {
        for (name, target) in NAMES.iter().zip(ALL) {
            assert_eq!(name.parse::<Target>(), Ok(target));
            assert_eq!(target.to_string(), *name);
        }
        assert_eq!(
            " Bedrock:Nova ".parse::<Target>(),
            Ok(Target::Bedrock(BedrockFormat::Nova))
        );
    }

    #[test]
    fn bad_name_lists_accepted_names() {
        let err = match "bedrock:gpt".parse::<Target>() {
            Ok(t) => panic!("parsed a bad name as {t}"),
            Err(e) => e,
        };
        assert!(err.contains("bedrock:gpt"), "{err}");
        for name in NAMES {
            assert!(err.contains(name), "{err} lacks {name}");
        }
        assert!("bedrock".parse::<Target>().is_err());
        assert!("".parse::<Target>().is_err());
    }

    #[test]
    fn split_names() {
        assert_eq!(Split::Train.name(), "train");
        assert_eq!(Split::Validation.name(), "validation");
        assert_eq!(Split::Test.name(), "test");
    }

    #[test]
    fn render_completion_for_every_target() {
        let r = completion("What is 2+2?", "4");
        let prompt_completion = json!({ "prompt": "What is 2+2?", "completion": "4" });
        let converse = json!({
            "schemaVersion": "bedrock-conversation-2024",
            "messages": [
                { "role": "user", "content": [{ "text": "What is 2+2?" }] },
                { "role": "assistant", "content": [{ "text": "4" }] }
            ]
        });
        let claude = json!({
            "messages": [
                { "role": "user", "content": "What is 2+2?" },
                { "role": "assistant", "content": "4" }
            ]
        });
        let expected = [
            (Target::Local, &prompt_completion),
            (
                Target::Bedrock(BedrockFormat::TitanText),
                &prompt_completion,
            ),
            (Target::Bedrock(BedrockFormat::Llama31), &prompt_completion),
            (Target::Bedrock(BedrockFormat::Llama32), &converse),
            (Target::Bedrock(BedrockFormat::Nova), &converse),
            (Target::Bedrock(BedrockFormat::Claude3Haiku), &claude),
            (Target::Bedrock(BedrockFormat::Cohere), &prompt_completion),
        ];
        // RFT prompts have no answer to learn: a completion is not one.
        assert_eq!(expected.len(), ALL.len() - 1);
        for (target, want) in expected {
            assert_eq!(target.render(&r).as_ref(), Ok(want), "{target}");
        }
        let rft = Target::Bedrock(BedrockFormat::Rft).render(&r);
        assert!(
            matches!(&rft, Err(v) if v.rule == "record-shape" && v.message.contains("mapping.kind")),
            "{rft:?}"
        );
    }

    #[test]
    fn render_chat_for_every_target() {
        let r = sample_chat();
        let local = json!({
            "messages": [
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "content": "Hello." },
                { "role": "user", "content": "2+2?" },
                { "role": "assistant", "content": "4" }
            ]
        });
        let converse = json!({
            "schemaVersion": "bedrock-conversation-2024",
            "system": [{ "text": "Be brief." }],
            "messages": [
                { "role": "user", "content": [{ "text": "Hi" }] },
                { "role": "assistant", "content": [{ "text": "Hello." }] },
                { "role": "user", "content": [{ "text": "2+2?" }] },
                { "role": "assistant", "content": [{ "text": "4" }] }
            ]
        });
        let claude = json!({
            "system": "Be brief.",
            "messages": [
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "content": "Hello." },
                { "role": "user", "content": "2+2?" },
                { "role": "assistant", "content": "4" }
            ]
        });
        assert_eq!(Target::Local.render(&r), Ok(local));
        for f in [BedrockFormat::Llama32, BedrockFormat::Nova] {
            assert_eq!(
                Target::Bedrock(f).render(&r).as_ref(),
                Ok(&converse),
                "{f:?}"
            );
        }
        assert_eq!(
            Target::Bedrock(BedrockFormat::Claude3Haiku).render(&r),
            Ok(claude)
        );
        for f in [
            BedrockFormat::TitanText,
            BedrockFormat::Llama31,
            BedrockFormat::Cohere,
        ] {
            match Target::Bedrock(f).render(&r) {
                Err(v) => {
                    assert_eq!(v.rule, "record-shape");
                    assert!(v.message.contains("chat"), "{}", v.message);
                }
                Ok(v) => panic!("{f:?} rendered a chat record: {v}"),
            }
        }
    }

    #[test]
    fn render_chat_without_system_leaves_system_out() {
        let r = chat(None, &[(Role::User, "Hi"), (Role::Assistant, "Hello.")]);
        assert_eq!(
            Target::Local.render(&r),
            Ok(json!({ "messages": [
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "content": "Hello." }
            ] }))
        );
        assert_eq!(
            Target::Bedrock(BedrockFormat::Claude3Haiku).render(&r),
            Ok(json!({ "messages": [
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "content": "Hello." }
            ] }))
        );
        assert_eq!(
            Target::Bedrock(BedrockFormat::Nova).render(&r),
            Ok(json!({
                "schemaVersion": "bedrock-conversation-2024",
                "messages": [
                    { "role": "user", "content": [{ "text": "Hi" }] },
                    { "role": "assistant", "content": [{ "text": "Hello." }] }
                ]
            }))
        );
    }

    #[test]
    fn render_prompt_for_local_and_rft() {
        let want = json!({
            "messages": [
                { "role": "system", "content": "Answer with #### and the number." },
                { "role": "user", "content": "What is 2+2?" }
            ],
            "reference_answer": "4",
            "level": "easy"
        });
        for target in [Target::Local, Target::Bedrock(BedrockFormat::Rft)] {
            assert_eq!(
                target.render(&sample_prompt()).as_ref(),
                Ok(&want),
                "{target}"
            );
        }
        for target in ALL
            .into_iter()
            .filter(|t| !matches!(t, Target::Local | Target::Bedrock(BedrockFormat::Rft)))
        {
            assert_eq!(
                target.render(&sample_prompt()).map_err(|v| v.rule),
                Err("record-shape"),
                "{target}"
            );
        }
    }

    #[test]
    fn rft_prompts_end_with_the_user_and_need_a_reference() {
        let rft = Target::Bedrock(BedrockFormat::Rft);
        let answered = Record::Prompt {
            system: None,
            turns: vec![turn(Role::User, "2+2?"), turn(Role::Assistant, "4")],
            reference_answer: " ".into(),
            fields: Default::default(),
        };
        let v = rft.check_record(&answered, None);
        assert_eq!(rules(&v), vec!["role-order", "empty-turn"], "{v:?}");
        assert!(
            v[0].message.contains("end with a user turn"),
            "{}",
            v[0].message
        );
        assert!(
            v[1].message.contains("reference_answer"),
            "{}",
            v[1].message
        );
        // Too few and too many prompts for a job.
        assert_eq!(
            rules(&rft.check_split(Split::Train, 99, 10)),
            vec!["min-records"]
        );
        assert_eq!(rft.check_split(Split::Train, 100, 10), vec![]);
        assert_eq!(
            rules(&rft.check_split(Split::Train, 20_001, 10)),
            vec!["max-records"]
        );
    }

    #[test]
    fn render_text() {
        let r = Record::Text {
            text: "A document.".into(),
        };
        assert_eq!(
            Target::Local.render(&r),
            Ok(json!({ "text": "A document." }))
        );
        assert_eq!(
            Target::Bedrock(BedrockFormat::TitanText).render(&r),
            Ok(json!({ "input": "A document." }))
        );
        for target in ALL
            .into_iter()
            .filter(|t| !matches!(t, Target::Local | Target::Bedrock(BedrockFormat::TitanText)))
        {
            assert_eq!(
                target.render(&r).map_err(|v| v.rule),
                Err("record-shape"),
                "{target}"
            );
        }
    }

    #[test]
    fn accepts_matches_render() {
        let records = [
            completion("p", "c"),
            sample_chat(),
            Record::Text { text: "t".into() },
            sample_prompt(),
        ];
        for target in ALL {
            for r in &records {
                assert_eq!(
                    target.accepts(r),
                    target.render(r).is_ok(),
                    "{target} {r:?}"
                );
                let shape = target
                    .check_record(r, None)
                    .iter()
                    .any(|v| v.rule == "record-shape");
                assert_eq!(shape, !target.accepts(r), "{target} {r:?}");
            }
        }
    }

    #[test]
    fn well_formed_records_pass() {
        for target in ALL {
            for r in [
                completion("What is 2+2?", "4"),
                sample_chat(),
                sample_prompt(),
            ] {
                if target.accepts(&r) {
                    assert_eq!(target.check_record(&r, Some(10)), vec![], "{target}");
                }
            }
        }
    }

    #[test]
    fn role_order_assistant_first() {
        let r = chat(None, &[(Role::Assistant, "Hello."), (Role::User, "Hi")]);
        for target in [Target::Local, Target::Bedrock(BedrockFormat::Claude3Haiku)] {
            let v = target.check_record(&r, None);
            assert!(rules(&v).contains(&"role-order"), "{target}: {v:?}");
            assert!(
                v.iter()
                    .any(|v| v.message.contains("start with a user turn")),
                "{v:?}"
            );
        }
    }

    #[test]
    fn role_order_two_users_in_a_row() {
        let r = chat(
            None,
            &[
                (Role::User, "Hi"),
                (Role::User, "Anyone there?"),
                (Role::Assistant, "Yes."),
            ],
        );
        let v = Target::Bedrock(BedrockFormat::Nova).check_record(&r, None);
        assert_eq!(rules(&v), vec!["role-order"]);
        assert!(
            v[0].message.contains("turns 1 and 2 are both user"),
            "{v:?}"
        );
    }

    #[test]
    fn role_order_ends_with_user() {
        let r = chat(
            Some("sys"),
            &[
                (Role::User, "Hi"),
                (Role::Assistant, "Hello."),
                (Role::User, "Bye"),
            ],
        );
        let v = Target::Bedrock(BedrockFormat::Llama32).check_record(&r, None);
        assert_eq!(rules(&v), vec!["role-order"]);
        assert!(v[0].message.contains("end with an assistant turn"), "{v:?}");
    }

    #[test]
    fn role_order_no_turns() {
        let r = chat(Some("sys"), &[]);
        let v = Target::Bedrock(BedrockFormat::Claude3Haiku).check_record(&r, None);
        assert_eq!(rules(&v), vec!["role-order"]);
    }

    #[test]
    fn empty_turns_flagged() {
        let r = chat(Some("  "), &[(Role::User, "Hi"), (Role::Assistant, " \n")]);
        let v = Target::Local.check_record(&r, None);
        assert_eq!(rules(&v), vec!["empty-turn", "empty-turn"]);
        assert!(v[0].message.contains("system prompt"));
        assert!(v[1].message.contains("turn 2 (assistant)"));
        let v = Target::Bedrock(BedrockFormat::Cohere).check_record(&completion("p", ""), None);
        assert_eq!(rules(&v), vec!["empty-turn"]);
    }

    #[test]
    fn claude_reserved_strings_flagged() {
        let claude = Target::Bedrock(BedrockFormat::Claude3Haiku);
        let r = chat(
            None,
            &[
                (Role::User, "Continue:\n\nHuman: hi"),
                (Role::Assistant, "ok\n\nAssistant: sure"),
            ],
        );
        let v = claude.check_record(&r, None);
        assert_eq!(rules(&v), vec!["reserved-string", "reserved-string"]);
        assert!(v[0].message.contains("turn 1 (user)"), "{v:?}");
        assert!(v[0].message.contains("Human:"), "{v:?}");
        // The same text is fine where the marker means nothing.
        assert_eq!(Target::Local.check_record(&r, None), vec![]);
        // "Human:" without the blank line before it is ordinary text.
        let plain = completion("Human: hi", "Assistant: hello");
        assert_eq!(claude.check_record(&plain, None), vec![]);
    }

    #[test]
    fn llama_reserved_strings_flagged() {
        let r = completion("<|begin_of_text|>Hi", "Hello<|eot_id|>");
        for f in [BedrockFormat::Llama31, BedrockFormat::Llama32] {
            let v = Target::Bedrock(f).check_record(&r, None);
            assert_eq!(
                rules(&v),
                vec!["reserved-string", "reserved-string"],
                "{f:?}"
            );
            assert!(v[0].message.contains("<|begin_of_text|>"));
            assert!(v[1].message.contains("<|eot_id|>"));
        }
        let header = completion("<|start_header_id|>user<|end_header_id|>", "x");
        let v = Target::Bedrock(BedrockFormat::Llama31).check_record(&header, None);
        assert_eq!(rules(&v), vec!["reserved-string", "reserved-string"]);
        assert_eq!(
            Target::Bedrock(BedrockFormat::Cohere).check_record(&r, None),
            vec![]
        );
    }

    #[test]
    fn nova_reserved_strings_flagged() {
        let r = chat(
            Some("System: be nice"),
            &[(Role::User, "Hi"), (Role::Assistant, "Hello [EOS]")],
        );
        let v = Target::Bedrock(BedrockFormat::Nova).check_record(&r, None);
        assert_eq!(rules(&v), vec!["reserved-string", "reserved-string"]);
    }

    #[test]
    fn token_limit_flagged_when_over() {
        let r = completion("p", "c");
        let titan = Target::Bedrock(BedrockFormat::TitanText);
        assert_eq!(titan.check_record(&r, Some(4_096)), vec![]);
        let v = titan.check_record(&r, Some(4_097));
        assert_eq!(rules(&v), vec!["record-tokens"]);
        assert!(v[0].message.contains("4097") && v[0].message.contains("4096"));
        let claude = Target::Bedrock(BedrockFormat::Claude3Haiku);
        assert_eq!(claude.check_record(&r, Some(32_000)), vec![]);
        assert_eq!(
            rules(&claude.check_record(&r, Some(32_001))),
            vec!["record-tokens"]
        );
        // Unknown token count: no token rule.
        assert_eq!(claude.check_record(&r, None), vec![]);
        assert_eq!(Target::Local.check_record(&r, Some(usize::MAX)), vec![]);
    }

    #[test]
    fn char_limit_flagged_when_over() {
        let titan = Target::Bedrock(BedrockFormat::TitanText);
        let max = titan.quotas().max_record_chars.unwrap_or(0);
        assert_eq!(max, 24_576);
        let at = completion(&"a".repeat(max - 1), "b");
        assert_eq!(titan.check_record(&at, None), vec![]);
        let over = Record::Text {
            text: "é".repeat(max + 1),
        };
        assert_eq!(
            rules(&titan.check_record(&over, None)),
            vec!["record-chars"]
        );
    }

    #[test]
    fn too_few_train_records() {
        let claude = Target::Bedrock(BedrockFormat::Claude3Haiku);
        let v = claude.check_split(Split::Train, 31, 1_000);
        assert_eq!(rules(&v), vec!["min-records"]);
        assert!(v[0].message.contains("31") && v[0].message.contains("32"));
        assert_eq!(claude.check_split(Split::Train, 32, 1_000), vec![]);
        let nova = Target::Bedrock(BedrockFormat::Nova);
        assert_eq!(
            rules(&nova.check_split(Split::Train, 7, 10)),
            vec!["min-records"]
        );
        assert_eq!(
            rules(&Target::Local.check_split(Split::Train, 0, 0)),
            vec!["min-records"]
        );
    }

    #[test]
    fn too_many_records() {
        let llama = Target::Bedrock(BedrockFormat::Llama31);
        assert_eq!(llama.check_split(Split::Validation, 1_000, 10), vec![]);
        let v = llama.check_split(Split::Validation, 1_001, 10);
        assert_eq!(rules(&v), vec!["max-records"]);
        assert!(v[0].message.starts_with("validation split"), "{v:?}");
        let nova = Target::Bedrock(BedrockFormat::Nova);
        assert_eq!(nova.check_split(Split::Train, 20_000, 10), vec![]);
        assert_eq!(
            rules(&nova.check_split(Split::Train, 20_001, 10)),
            vec!["max-records"]
        );
        // The test split has no bounds.
        assert_eq!(nova.check_split(Split::Test, 1_000_000, u64::MAX), vec![]);
        assert_eq!(nova.check_split(Split::Test, 0, 0), vec![]);
    }

    #[test]
    fn file_size_checked_per_split() {
        let titan = Target::Bedrock(BedrockFormat::TitanText);
        assert_eq!(titan.check_split(Split::Train, 100, GB), vec![]);
        assert_eq!(
            rules(&titan.check_split(Split::Train, 100, GB + 1)),
            vec!["file-size"]
        );
        assert_eq!(titan.check_split(Split::Validation, 100, 100 * MB), vec![]);
        assert_eq!(
            rules(&titan.check_split(Split::Validation, 100, 100 * MB + 1)),
            vec!["file-size"]
        );
    }

    #[test]
    fn local_accepts_everything_and_has_no_maxima() {
        let local = Target::Local;
        for r in [
            completion("p", "c"),
            sample_chat(),
            Record::Text { text: "t".into() },
        ] {
            assert!(local.accepts(&r));
            assert!(local.render(&r).is_ok());
        }
        let q = local.quotas();
        assert_eq!(q.min_train_records, 1);
        assert_eq!(q.max_train_records, usize::MAX);
        assert_eq!(q.max_validation_records, usize::MAX);
        assert_eq!(q.max_record_tokens, None);
        assert_eq!(q.max_record_chars, None);
        assert_eq!(q.max_file_bytes, None);
        assert_eq!(
            local.check_split(Split::Train, usize::MAX, u64::MAX),
            vec![]
        );
        assert_eq!(
            local.check_split(Split::Validation, usize::MAX, u64::MAX),
            vec![]
        );
        let long = completion(&"x".repeat(100_000), "<|eot_id|>\n\nHuman:");
        assert_eq!(local.check_record(&long, Some(1_000_000)), vec![]);
    }

    #[test]
    fn every_row_is_sane_and_sourced() {
        for target in ALL {
            let row = target.row();
            let q = row.quotas;
            assert!(!q.source.is_empty(), "{target}");
            assert!(q.min_train_records >= 1, "{target}");
            assert!(q.min_train_records <= q.max_train_records, "{target}");
            if let Target::Bedrock(_) = target {
                assert!(q.source.contains("https://"), "{target}");
                // RFT's prompt limit is the job's `maxPromptLength`, checked with the job.
                let rft = target == Target::Bedrock(BedrockFormat::Rft);
                assert_eq!(q.max_record_tokens.is_some(), !rft, "{target}");
                assert!(q.max_file_bytes.is_some(), "{target}");
                assert!(
                    row.max_validation_file_bytes <= q.max_file_bytes,
                    "{target}"
                );
            }
        }
    }
}
