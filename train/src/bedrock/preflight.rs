//! Pre-flight checks of the prepared data: every line against the base model's format (or,
//! for reinforcement fine-tuning, the RFT prompt format) and the record-count quotas.

use super::*;

/// Parses a prepared JSONL line (a Bedrock target's rendering) back into a [`Record`].
pub(super) fn parse_line(v: &Value) -> Option<Record> {
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
    let system = match v.get("system") {
        None | Some(Value::Null) => None,
        Some(sys) => Some(text_of(sys)?).filter(|t| !t.is_empty()),
    };
    let mut turns = Vec::new();
    for m in messages {
        let role = match m.get("role")?.as_str()? {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => return None,
        };
        turns.push(Turn {
            role,
            content: text_of(m.get("content")?)?,
        });
    }
    Some(Record::Chat { system, turns })
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

/// What the lines of a data file must be.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// A Bedrock target's records (fine-tuning, continued pre-training, distillation).
    Target(Target),
    /// Reinforcement fine-tuning prompts: OpenAI chat `messages` (ending with the user's
    /// turn: the model answers it) and a `reference_answer` for the grader.
    Rft,
}

/// Prompts per RFT job: at most 20,000 (Bedrock user guide, "Fine-tune Amazon Nova models
/// with reinforcement fine-tuning"); at least 100 (the issue's figure for the quota table;
/// not re-checked against the quotas page).
const RFT_RECORDS: std::ops::RangeInclusive<usize> = 100..=20_000;

/// The characters of an RFT line's messages, or what is wrong with it.
fn check_rft_line(v: &Value) -> std::result::Result<u64, Vec<String>> {
    let mut problems = Vec::new();
    let mut chars = 0u64;
    match v.get("messages").and_then(Value::as_array) {
        None => problems.push("`messages` is missing or not a list".to_string()),
        Some(m) if m.is_empty() => problems.push("`messages` is empty".to_string()),
        Some(messages) => {
            for (i, m) in messages.iter().enumerate() {
                let role = m.get("role").and_then(Value::as_str);
                match (role, m.get("content").and_then(Value::as_str)) {
                    (Some("system" | "user" | "assistant"), Some(c)) => {
                        chars += c.chars().count() as u64;
                    }
                    _ => problems.push(format!(
                        "messages[{i}] needs `role` (system, user or assistant) and text `content`"
                    )),
                }
            }
            if messages.last().and_then(|m| m.get("role")) != Some(&json!("user")) {
                problems.push("the last message must be the user's: the model answers it".into());
            }
        }
    }
    if v.get("reference_answer").is_none_or(Value::is_null) {
        problems
            .push("`reference_answer` is missing (the grader compares the answer with it)".into());
    }
    if problems.is_empty() {
        Ok(chars)
    } else {
        Err(problems)
    }
}

/// Reads one split, checks every line with the shape's rules and the split's quotas.
pub(super) fn check_data(
    path: &Path,
    shape: Shape,
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
        match shape {
            Shape::Target(target) => match value.as_ref().and_then(parse_line) {
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
            },
            Shape::Rft => match value.as_ref().map(check_rft_line) {
                None => line_problems.push("not a JSON object".into()),
                Some(Ok(c)) => chars += c,
                Some(Err(p)) => line_problems.extend(p),
            },
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
    match shape {
        Shape::Target(target) => problems.extend(
            target
                .check_split(split, records, bytes.len() as u64)
                .into_iter()
                .map(|v| format!("{}: {}: {}", path.display(), v.rule, v.message)),
        ),
        Shape::Rft if split == Split::Train && !RFT_RECORDS.contains(&records) => {
            problems.push(format!(
                "{}: {records} prompts; reinforcement fine-tuning takes {} to {}",
                path.display(),
                RFT_RECORDS.start(),
                RFT_RECORDS.end()
            ));
        }
        Shape::Rft => {}
    }
    Some((sha, records, chars.div_ceil(4)))
}
