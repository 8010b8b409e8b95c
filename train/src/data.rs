//! Training examples: the JSONL lines `tunebench data prepare` writes for a local target,
//! tokenised, with a per-token flag saying whether the token is a prediction target.
//!
//! Three shapes are accepted, one per line:
//! - `{"prompt": ..., "completion": ...}`: `BOS prompt completion EOS`; targets are the
//!   completion and EOS.
//! - `{"messages": [{"role", "content"}, ...]}`: rendered with the tokenizer's chat
//!   template; targets are the tokens each assistant turn adds to the conversation.
//! - `{"text": ...}`: `BOS text EOS`; every token is a target (continued pre-training).
//!
//! With `train_on_inputs`, every token after the first is a target.
//!
//! A file that `data prepare` wrote is checked against the `manifest.json` beside it: a file
//! whose sha256 is not the one the manifest lists is refused, so training never reads half of
//! one run and half of another (see [`check_prepared`]).

use std::io::BufRead;
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tunebench_models::{ChatMessage, TextTokenizer};

use crate::error::{Result, TrainError, io};

/// One tokenised example.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Example {
    /// Token ids, BOS first when the tokenizer adds one.
    pub ids: Vec<u32>,
    /// Per token: whether it is predicted in the loss (never the first token).
    pub target: Vec<bool>,
}

impl Example {
    /// Number of tokens that count in the loss.
    pub fn targets(&self) -> usize {
        self.target.iter().filter(|&&t| t).count()
    }
}

/// Examples of one file, and what happened to the lines that did not become one.
#[derive(Debug, Default)]
pub struct Examples {
    /// Usable examples in file order.
    pub examples: Vec<Example>,
    /// Examples cut to `max_seq_len` (kept).
    pub truncated: usize,
    /// Examples left with no target token after cutting (not used; counted here and
    /// reported in the summary).
    pub without_targets: usize,
    /// Identity of the `data prepare` output set the file was checked against, if any.
    pub prepared_set: Option<String>,
}

/// Checks `bytes`, read from `path`, against the `manifest.json` of `data prepare` beside it,
/// when there is one and it lists the file. Returns an identity of the manifest's output set
/// (equal for two files of the same run), or `None` when no manifest lists the file (a file
/// written by hand is read as it is).
///
/// # Errors
/// [`TrainError::StaleData`] when the file's sha256 differs from the manifest's.
pub fn check_prepared(path: &Path, bytes: &[u8]) -> Result<Option<String>> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(None);
    };
    let manifest_path = dir.join("manifest.json");
    let text = match std::fs::read(&manifest_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // No manifest yet, but a staging folder: the first `data prepare` of this folder
            // is publishing its files, or was killed doing so.
            let staging = std::fs::read_dir(dir).map_err(io(dir))?.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(tunebench_datasets::STAGING_PREFIX)
            });
            if staging {
                return Err(TrainError::StaleData {
                    path: path.to_path_buf(),
                    manifest: manifest_path,
                    reason: "there is no manifest yet, and a staging folder beside it".into(),
                });
            }
            return Ok(None);
        }
        Err(e) => return Err(io(&manifest_path)(e)),
    };
    // A manifest.json of some other tool is not ours to enforce.
    let Ok(manifest) = serde_json::from_slice::<tunebench_datasets::Manifest>(&text) else {
        return Ok(None);
    };
    let name = name.to_string_lossy();
    let Some(listed) = manifest.splits.values().find(|o| o.file == name) else {
        return Ok(None);
    };
    let actual = hex::encode(Sha256::digest(bytes));
    if actual != listed.sha256 {
        return Err(TrainError::StaleData {
            path: path.to_path_buf(),
            manifest: manifest_path,
            reason: format!(
                "sha256 {actual} is not the {} that the manifest lists",
                listed.sha256
            ),
        });
    }
    let set: Vec<&str> = manifest
        .splits
        .values()
        .map(|o| o.sha256.as_str())
        .collect();
    Ok(Some(set.join(",")))
}

/// How lines become examples.
pub struct Encoder<'a> {
    /// The model's tokenizer.
    pub tokenizer: &'a TextTokenizer,
    /// End-of-sequence id appended to completions and text.
    pub eos: Option<u32>,
    /// Longest example in tokens.
    pub max_seq_len: usize,
    /// Whether input tokens are targets too.
    pub train_on_inputs: bool,
}

impl Encoder<'_> {
    /// Reads and tokenises every line of `path`. A line that is not a usable example is an
    /// error naming the file, the line and the field.
    pub fn read(&self, path: &Path) -> Result<Examples> {
        // Read once, then check and parse the same bytes: a file replaced in between cannot
        // pass the check with one content and be parsed with another.
        let bytes = std::fs::read(path).map_err(io(path))?;
        let mut out = Examples {
            prepared_set: check_prepared(path, &bytes)?,
            ..Examples::default()
        };
        for (i, line) in bytes.as_slice().lines().enumerate() {
            let line = line.map_err(io(path))?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |reason: String| TrainError::Example {
                path: path.to_path_buf(),
                line: i + 1,
                reason,
            };
            let value: Value =
                serde_json::from_str(&line).map_err(|e| bad(format!("not JSON: {e}")))?;
            let mut ex = self.encode(&value).map_err(bad)?;
            if ex.ids.len() > self.max_seq_len {
                ex.ids.truncate(self.max_seq_len);
                ex.target.truncate(self.max_seq_len);
                out.truncated += 1;
            }
            if ex.targets() == 0 {
                out.without_targets += 1;
                continue;
            }
            out.examples.push(ex);
        }
        if out.examples.is_empty() {
            let reason = if out.without_targets == 0 {
                "the file holds no example\nhint: check that `tunebench data prepare` wrote records to it (its manifest.json counts them)".to_string()
            } else {
                format!(
                    "each of its {} examples has no target token within max_seq_len = {}\nhint: raise max_seq_len, or shorten the prompts",
                    out.without_targets, self.max_seq_len
                )
            };
            return Err(TrainError::NoExamples {
                path: path.to_path_buf(),
                reason,
            });
        }
        Ok(out)
    }

    /// One JSON object as an example; the error names the field.
    pub fn encode(&self, value: &Value) -> std::result::Result<Example, String> {
        let obj = value
            .as_object()
            .ok_or("expected an object with prompt/completion, messages, or text")?;
        let text_field = |name: &str| -> std::result::Result<&str, String> {
            obj.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("field `{name}` must be a string"))
        };
        let mut ex = if obj.contains_key("prompt") || obj.contains_key("completion") {
            let prompt = self.tokens(text_field("prompt")?, true)?;
            let completion = self.tokens(text_field("completion")?, false)?;
            let mut ex = Example::default();
            ex.push(&prompt, false);
            ex.push(&completion, true);
            ex.push_eos(self.eos);
            ex
        } else if let Some(messages) = obj.get("messages") {
            self.chat(messages)?
        } else if obj.contains_key("text") {
            let mut ex = Example::default();
            ex.push(&self.tokens(text_field("text")?, true)?, true);
            ex.push_eos(self.eos);
            ex
        } else {
            return Err(
                "expected fields prompt + completion, messages, or text (the local format of `tunebench data prepare`)"
                    .into(),
            );
        };
        if let Some(first) = ex.target.first_mut() {
            *first = false; // nothing predicts the first token
        }
        if self.train_on_inputs {
            ex.target.iter_mut().skip(1).for_each(|t| *t = true);
        }
        Ok(ex)
    }

    fn tokens(&self, text: &str, special: bool) -> std::result::Result<Vec<u32>, String> {
        self.tokenizer
            .encode(text, special)
            .map_err(|e| e.to_string())
    }

    /// A conversation: the template is rendered for each prefix ending in an assistant turn;
    /// the tokens that turn adds are targets, the rest are inputs.
    fn chat(&self, messages: &Value) -> std::result::Result<Example, String> {
        let list = messages
            .as_array()
            .ok_or("field `messages` must be an array")?;
        let mut turns = Vec::with_capacity(list.len());
        for (i, m) in list.iter().enumerate() {
            let field = |name: &str| {
                m.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| format!("field `messages[{i}].{name}` must be a string"))
            };
            turns.push(ChatMessage {
                role: field("role")?,
                content: field("content")?,
            });
        }
        if !self.tokenizer.has_chat_template() {
            return Err("chat examples need the model's chat template, and this tokenizer has none\nhint: add `chat_template` to tokenizer_config.json, or prepare the data with kind = \"completion\"".into());
        }
        let render = |upto: usize, prompt: bool| {
            self.tokenizer
                .apply_chat_template(&turns[..upto], prompt)
                .map_err(|e| e.to_string())
                .and_then(|text| self.tokens(&text, false))
        };
        let mut ex = Example::default();
        for (i, turn) in turns.iter().enumerate() {
            if turn.role != "assistant" {
                continue;
            }
            let before = render(i, true)?;
            let after = render(i + 1, false)?;
            if !after.starts_with(&before) || ex.ids.len() > before.len() {
                return Err(format!(
                    "field `messages[{i}]`: the chat template does not render this conversation incrementally, so assistant tokens cannot be told apart"
                ));
            }
            let inputs = before[ex.ids.len()..].to_vec();
            ex.push(&inputs, false);
            ex.push(&after[before.len()..], true);
        }
        if ex.ids.is_empty() {
            return Err("field `messages` has no assistant turn to learn".into());
        }
        Ok(ex)
    }
}

impl Example {
    fn push(&mut self, ids: &[u32], target: bool) {
        self.ids.extend_from_slice(ids);
        self.target.extend(std::iter::repeat_n(target, ids.len()));
    }

    fn push_eos(&mut self, eos: Option<u32>) {
        if let Some(eos) = eos {
            self.push(&[eos], true);
        }
    }
}
