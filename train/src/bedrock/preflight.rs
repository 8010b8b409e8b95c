//! Pre-flight checks of the prepared data: every line against the base model's format (or,
//! for reinforcement fine-tuning, the RFT prompt format) and the record-count quotas.

use super::*;

/// Parses a prepared JSONL line (a Bedrock target's rendering) back into a [`Record`]. For
/// `bedrock:rft` every line with `messages` is read as a prompt, so that a missing reference
/// answer or a trailing assistant turn is named by the target's own rules.
pub(super) fn parse_line(v: &Value, target: Target) -> Option<Record> {
    let s = |v: &Value| v.as_str().map(str::to_string);
    if let (Some(p), Some(c)) = (v.get("prompt"), v.get("completion")) {
        return Some(Record::Completion {
            prompt: s(p)?,
            completion: s(c)?,
        });
    }
    if let Some(t) = v.get("input") {
        return Some(Record::Text { text: s(t)? });
    }
    let messages = v.get("messages")?.as_array()?;
    // Converse style: `content` is a list of `{"text"}` blocks, `system` a list too.
    let text_of = |c: &Value| -> Option<String> {
        match c {
            Value::String(t) => Some(t.clone()),
            Value::Array(blocks) => Some(
                blocks
                    .iter()
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => None,
        }
    };
    let mut system = match v.get("system") {
        None | Some(Value::Null) => None,
        Some(sys) => Some(text_of(sys)?).filter(|t| !t.is_empty()),
    };
    let mut turns = Vec::new();
    for m in messages {
        let role = match m.get("role")?.as_str()? {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            // OpenAI style (RFT prompts): the system prompt is the leading message.
            "system" if turns.is_empty() && system.is_none() => {
                system = Some(text_of(m.get("content")?)?);
                continue;
            }
            _ => return None,
        };
        turns.push(Turn {
            role,
            content: text_of(m.get("content")?)?,
        });
    }
    if target != Target::Bedrock(BedrockFormat::Rft) {
        return Some(Record::Chat { system, turns });
    }
    // Any JSON the grader reads, as its text; a string as itself.
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    let obj = v.as_object()?;
    Some(Record::Prompt {
        system,
        turns,
        reference_answer: obj
            .get("reference_answer")
            .filter(|r| !r.is_null())
            .map(text)
            .unwrap_or_default(),
        fields: obj
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "messages" | "reference_answer"))
            .map(|(k, v)| (k.clone(), text(v)))
            .collect(),
    })
}

/// What a local data file holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataFile {
    /// The local file.
    pub path: PathBuf,
    /// Where it goes (or is, for `s3://` data).
    pub uri: String,
    /// Its sha256 (hex); for `s3://` data, of the URI.
    pub sha256: String,
    /// Records (lines); `None` for `s3://` data.
    pub records: Option<usize>,
    /// Estimated tokens (characters / 4) of its texts; `None` for `s3://` data.
    pub tokens: Option<u64>,
}

/// Reads one split, checks every line with the shape's rules and the split's quotas.
pub(super) fn check_data(
    path: &Path,
    target: Target,
    split: Split,
    problems: &mut Vec<String>,
) -> Option<(String, usize, u64)> {
    const SHOWN: usize = 20;
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let field = match split {
                Split::Train => "train_file",
                _ => "validation_file",
            };
            problems.push(format!(
                "{field} = {}: {e}\nhint: write the prepared data first with `tunebench data prepare`, or give an s3:// URI",
                path.display()
            ));
            return None;
        }
    };
    // A file that is not the one the `data prepare` manifest beside it lists is half of a
    // republished or killed run: never upload it.
    if let Err(e) = crate::data::check_prepared(path, &bytes) {
        problems.push(e.to_string());
        return None;
    }
    let sha = hex::encode(Sha256::digest(&bytes));
    let text = String::from_utf8_lossy(&bytes);
    let (mut records, mut chars, mut bad) = (0usize, 0u64, 0usize);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        records += 1;
        let mut line_problems = Vec::new();
        let value = serde_json::from_str::<Value>(line).ok();
        match value.as_ref().and_then(|v| parse_line(v, target)) {
            None => line_problems.push(format!("not a {target} record")),
            Some(r) => {
                chars += r
                    .texts()
                    .iter()
                    .map(|t| t.chars().count() as u64)
                    .sum::<u64>();
                line_problems.extend(
                    target
                        .check_record(&r, None)
                        .into_iter()
                        .map(|v| format!("{}: {}", v.rule, v.message)),
                );
            }
        }
        for p in line_problems {
            bad += 1;
            if bad <= SHOWN {
                problems.push(format!("{}:{}: {p}", path.display(), i + 1));
            }
        }
    }
    if bad > SHOWN {
        problems.push(format!(
            "{}: {} more record problems not listed",
            path.display(),
            bad - SHOWN
        ));
    }
    problems.extend(
        target
            .check_split(split, records, bytes.len() as u64)
            .into_iter()
            .map(|v| format!("{}: {}: {}", path.display(), v.rule, v.message)),
    );
    Some((sha, records, chars.div_ceil(4)))
}
