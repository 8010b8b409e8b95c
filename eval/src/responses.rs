//! The "recorded responses" candidate: a JSONL file of answers produced elsewhere (another
//! tool, an earlier run, a human baseline), scored exactly like live responses.
//!
//! Each line is an object with `id` and `text`, optionally `input_tokens`, `output_tokens`,
//! `latency_ms`, `cost_usd` and `cached`; or `id` and `error` for a call that failed. Other
//! keys are ignored, so a `responses.jsonl` written by `tunebench eval` reads back as is.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{EvalError, Location, Result};
use crate::types::ResponseRecord;

/// Reads a responses file.
///
/// # Errors
/// [`EvalError`] naming the file, line and field of the first bad line, or of a repeated id.
pub fn read(path: impl AsRef<Path>) -> Result<Vec<ResponseRecord>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = |field: &str| Location::line(path, line_no).field(field);
        let value: Value = serde_json::from_str(line).map_err(|e| {
            EvalError::input(Location::line(path, line_no), format!("not JSON: {e}"))
        })?;
        let Value::Object(obj) = value else {
            return Err(EvalError::input(
                Location::line(path, line_no),
                "each line must be a JSON object",
            ));
        };
        let id = match obj.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => {
                return Err(EvalError::input(
                    at("id"),
                    "must be a non-empty string or a number",
                ));
            }
            None => return Err(EvalError::input(at("id"), "missing")),
        };
        if let Some(first) = seen.insert(id.clone(), line_no) {
            return Err(EvalError::input(
                at("id"),
                format!("duplicate id {id:?} (first on line {first})"),
            ));
        }
        let error = match obj.get("error") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(EvalError::input(at("error"), "must be a string")),
        };
        let text = match (obj.get("text"), &error) {
            (Some(Value::String(s)), _) => s.clone(),
            (None | Some(Value::Null), Some(_)) => String::new(),
            (None, None) => {
                return Err(EvalError::input(
                    at("text"),
                    "missing\nhint: each line needs `text`, or `error` for a failed call",
                ));
            }
            (Some(_), _) => return Err(EvalError::input(at("text"), "must be a string")),
        };
        out.push(ResponseRecord {
            id,
            text,
            input_tokens: count(&obj, "input_tokens", &at)?,
            output_tokens: count(&obj, "output_tokens", &at)?,
            cache_read_tokens: count(&obj, "cache_read_tokens", &at)?,
            cache_write_tokens: count(&obj, "cache_write_tokens", &at)?,
            latency_ms: amount(&obj, "latency_ms", &at)?,
            cost_usd: amount(&obj, "cost_usd", &at)?,
            cached: match obj.get("cached") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(EvalError::input(at("cached"), "must be true or false")),
            },
            error,
        });
    }
    Ok(out)
}

fn count(obj: &Map<String, Value>, key: &str, at: &dyn Fn(&str) -> Location) -> Result<u64> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| {
            EvalError::input(at(key), format!("must be a whole number >= 0, found {v}"))
        }),
    }
}

fn amount(obj: &Map<String, Value>, key: &str, at: &dyn Fn(&str) -> Location) -> Result<f64> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(0.0),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| EvalError::input(at(key), format!("must be a number >= 0, found {v}"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_answers_and_errors_and_names_bad_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        std::fs::write(
            &p,
            "{\"id\":\"a\",\"text\":\"x\",\"input_tokens\":3,\"latency_ms\":12.5,\"cost_usd\":0.001,\"extra\":1}\n\n{\"id\":7,\"error\":\"timeout\"}\n",
        )
        .unwrap();
        let r = read(&p).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].input_tokens, r[0].latency_ms), (3, 12.5));
        assert_eq!(r[1].id, "7");
        assert_eq!(r[1].error.as_deref(), Some("timeout"));

        std::fs::write(
            &p,
            "{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\",\"text\":\"y\",\"output_tokens\":-1}\n",
        )
        .unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "r.jsonl:2: field `output_tokens`: must be a whole number >= 0, found -1"
            ),
            "{err}"
        );
        std::fs::write(&p, "{\"id\":\"a\"}\n").unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(err.contains("r.jsonl:1: field `text`: missing"), "{err}");
        std::fs::write(
            &p,
            "{\"id\":\"a\",\"text\":\"\"}\n{\"id\":\"a\",\"text\":\"\"}\n",
        )
        .unwrap();
        let err = read(&p).unwrap_err().to_string();
        assert!(
            err.contains("r.jsonl:2: field `id`: duplicate id \"a\""),
            "{err}"
        );
    }
}
