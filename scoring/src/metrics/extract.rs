//! Answer extraction from raw model output.

use regex::Regex;
use serde_json::Value;

use super::MetricError;
use super::numeric::last_number;

/// One step of a [`JsonPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A simple JSON path: dot-separated object keys with `[index]` array
/// subscripts, e.g. `answer`, `choices[0].text`, `[2]`, `a.b[1][0]`.
/// The empty path (or `$`) selects the whole document; a leading `$` or `$.`
/// is accepted and ignored. Keys may contain any character except `.` and `[`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    source: String,
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parses a path.
    ///
    /// # Errors
    /// [`MetricError::InvalidJsonPath`] for an empty key (`a..b`, `a.`), an
    /// unterminated or non-numeric subscript (`a[`, `a[x]`) or text after a
    /// subscript that is not `.` or `[` (`a[0]b`).
    pub fn parse(path: &str) -> Result<Self, MetricError> {
        let err = |reason: &str| MetricError::InvalidJsonPath {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let mut rest = path.strip_prefix('$').unwrap_or(path);
        if let Some(r) = rest.strip_prefix('.') {
            if r.is_empty() {
                return Err(err("empty key"));
            }
            rest = r;
        }
        let mut steps = Vec::new();
        let mut expect_key = !rest.is_empty() && !rest.starts_with('[');
        while !rest.is_empty() || expect_key {
            if expect_key {
                let end = rest.find(['.', '[']).unwrap_or(rest.len());
                if end == 0 {
                    return Err(err("empty key"));
                }
                steps.push(Step::Key(rest[..end].to_owned()));
                rest = &rest[end..];
                expect_key = false;
                continue;
            }
            if let Some(r) = rest.strip_prefix('[') {
                let close = r.find(']').ok_or_else(|| err("unterminated '['"))?;
                let index: usize = r[..close]
                    .trim()
                    .parse()
                    .map_err(|_| err("array index must be a non-negative integer"))?;
                steps.push(Step::Index(index));
                rest = &r[close + 1..];
            } else if let Some(r) = rest.strip_prefix('.') {
                rest = r;
                expect_key = true;
            } else {
                return Err(err("expected '.' or '[' after ']'"));
            }
        }
        Ok(Self {
            source: path.to_owned(),
            steps,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Follows the path in `value`; `None` when a key or index is missing or a
    /// step meets a value of the wrong kind.
    pub fn get<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.steps.iter().try_fold(value, |cur, step| match step {
            Step::Key(k) => cur.as_object()?.get(k),
            Step::Index(i) => cur.as_array()?.get(*i),
        })
    }
}

/// How to pull the answer out of a model's raw output.
#[derive(Debug, Clone)]
pub enum Extractor {
    /// The first match of the regex: its first capture group when the regex
    /// has one (and it participated), otherwise the whole match.
    Regex(Regex),
    /// The last number in the text (see [`last_number`]), formatted without a
    /// trailing `.0` for integers.
    LastNumber,
    /// Parse the text as JSON (or the outermost `{...}` / `[...]` span inside
    /// it, e.g. inside a Markdown code fence) and follow the path. Strings are
    /// returned without quotes, other values as compact JSON.
    JsonPath(JsonPath),
    /// The first non-blank line, trimmed.
    FirstLine,
}

impl Extractor {
    /// Applies the extractor; `None` when nothing could be extracted.
    pub fn extract(&self, text: &str) -> Option<String> {
        match self {
            Self::Regex(re) => extract_regex(text, re),
            Self::LastNumber => last_number(text).map(format_number),
            Self::JsonPath(path) => extract_json_path(text, path),
            Self::FirstLine => first_line(text).map(str::to_owned),
        }
    }
}

/// First match of `re` in `text`: capture group 1 if the regex has one and it
/// matched, else the whole match.
pub fn extract_regex(text: &str, re: &Regex) -> Option<String> {
    let caps = re.captures(text)?;
    let m = if re.captures_len() > 1 {
        caps.get(1).or_else(|| caps.get(0))
    } else {
        caps.get(0)
    };
    m.map(|m| m.as_str().to_owned())
}

/// The first line of `text` that is not blank, trimmed.
pub fn first_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).find(|l| !l.is_empty())
}

/// Formats an extracted number: integers without a fractional part
/// (`72`, not `72.0`), other values with Rust's shortest round-trip form.
pub fn format_number(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Parses `text` as JSON, falling back to the span from the first `{` or `[`
/// to the last matching closing bracket (useful for answers wrapped in prose
/// or code fences).
pub fn parse_json_lenient(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return Some(v);
    }
    let start = text.find(['{', '['])?;
    let close = if text[start..].starts_with('{') {
        '}'
    } else {
        ']'
    };
    let end = text.rfind(close)?;
    if end <= start {
        return None;
    }
    serde_json::from_str(&text[start..=end]).ok()
}

/// Extracts the value at `path` from the JSON in `text` (see
/// [`Extractor::JsonPath`]).
pub fn extract_json_path(text: &str, path: &JsonPath) -> Option<String> {
    let doc = parse_json_lenient(text)?;
    let v = path.get(&doc)?;
    Some(match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_path_parsing_and_lookup() {
        let doc = json!({"choices": [{"text": "hi", "n": 2}], "a": {"b": [[1, 2], [3]]}, "x.y": 1});
        let get = |p: &str| JsonPath::parse(p).expect("valid path").get(&doc).cloned();
        assert_eq!(get("choices[0].text"), Some(json!("hi")));
        assert_eq!(get("$.choices[0].n"), Some(json!(2)));
        assert_eq!(get("a.b[0][1]"), Some(json!(2)));
        assert_eq!(get("a.b[1]"), Some(json!([3])));
        assert_eq!(get(""), Some(doc.clone()));
        assert_eq!(get("$"), Some(doc.clone()));
        assert_eq!(get("choices[1]"), None);
        assert_eq!(get("a.missing"), None);
        assert_eq!(get("choices.text"), None);
        let arr = json!([10, [20, 30]]);
        let p = JsonPath::parse("[1][0]").expect("valid path");
        assert_eq!(p.get(&arr), Some(&json!(20)));
        for bad in ["a..b", "a.", "a[", "a[x]", "a[0]b", "a[-1]", "$."] {
            assert!(JsonPath::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn extractors() {
        let re = Regex::new(r"(?i)answer:\s*([A-D])").expect("valid test regex");
        assert_eq!(
            Extractor::Regex(re).extract("Reasoning...\nAnswer: c"),
            Some("c".into())
        );
        let whole = Regex::new(r"\d+").expect("valid test regex");
        assert_eq!(
            Extractor::Regex(whole).extract("abc 123 456"),
            Some("123".into())
        );
        let optional = Regex::new(r"x(y)?").expect("valid test regex");
        assert_eq!(Extractor::Regex(optional).extract("x"), Some("x".into()));

        assert_eq!(
            Extractor::LastNumber.extract("so 3 + 4 = 7."),
            Some("7".into())
        );
        assert_eq!(
            Extractor::LastNumber.extract("#### 1,234.5"),
            Some("1234.5".into())
        );
        assert_eq!(Extractor::LastNumber.extract("none"), None);

        let path = JsonPath::parse("answer.value").expect("valid path");
        let text = "Here you go:\n```json\n{\"answer\": {\"value\": \"Paris\"}}\n```";
        assert_eq!(
            Extractor::JsonPath(path.clone()).extract(text),
            Some("Paris".into())
        );
        assert_eq!(
            Extractor::JsonPath(JsonPath::parse("answer").expect("valid path")).extract(text),
            Some(r#"{"value":"Paris"}"#.into())
        );
        assert_eq!(Extractor::JsonPath(path).extract("not json"), None);

        assert_eq!(
            Extractor::FirstLine.extract("\n  \n  Yes, because...\nmore"),
            Some("Yes, because...".into())
        );
        assert_eq!(Extractor::FirstLine.extract(" \n\t"), None);
    }

    #[test]
    fn number_formatting() {
        assert_eq!(format_number(72.0), "72");
        assert_eq!(format_number(-3.0), "-3");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(1e20), "100000000000000000000");
    }
}
