//! The botocore service models (rest-json) of Bedrock and Bedrock Runtime, read at start-up
//! (and CloudWatch's, whose stand-in validates its inputs with the same rules),
//! used to route a request to its operation and to validate its input (and our own output)
//! the way the service's front door does: required members, types, lengths, ranges, enums,
//! patterns, unions, nested shapes.
//!
//! Patterns are Java regular expressions matched against the whole value (`String.matches`).
//! The `regex` crate has no look-around or back-references (none of these models use them);
//! the one Java habit it rejects, a `-` right after a range inside a class (`[a-zA-Z0-9-_]`),
//! is rewritten to `\-`. A pattern that still does not compile is skipped and listed by
//! [`skipped_patterns`]. `\s`, `\d` and `\w` are Unicode-aware here and ASCII in Java, so a
//! few non-ASCII values Java would reject pass.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::{Map, Value};

const BEDROCK_JSON: &str = include_str!("../../models/bedrock-2023-04-20.service-2.json");
const RUNTIME_JSON: &str = include_str!("../../models/bedrock-runtime-2023-09-30.service-2.json");

/// One parsed service model.
pub(crate) struct ServiceModel {
    shapes: Map<String, Value>,
    routes: Vec<Route>,
}

/// An operation's HTTP binding.
pub(crate) struct Route {
    pub operation: String,
    pub method: String,
    segments: Vec<Segment>,
    pub input: Option<String>,
    pub output: Option<String>,
    pub status: u16,
}

enum Segment {
    Literal(String),
    Label(String),
}

/// Both models, parsed once.
pub(crate) fn models() -> &'static [ServiceModel; 2] {
    static MODELS: OnceLock<[ServiceModel; 2]> = OnceLock::new();
    MODELS.get_or_init(|| {
        [
            ServiceModel::parse(BEDROCK_JSON),
            ServiceModel::parse(RUNTIME_JSON),
        ]
    })
}

/// A request routed to an operation, its labels decoded.
pub(crate) struct Routed {
    pub model: &'static ServiceModel,
    pub route: &'static Route,
    pub labels: HashMap<String, String>,
}

/// Finds the operation for `method` and the raw (still percent-encoded) `path`; the most
/// literal segments win, as in the service's router.
pub(crate) fn route(method: &str, path: &str) -> Option<Routed> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut best: Option<(usize, Routed)> = None;
    for model in models() {
        for route in &model.routes {
            if route.method != method || route.segments.len() != parts.len() {
                continue;
            }
            let mut labels = HashMap::new();
            let mut literals = 0;
            let mut ok = true;
            for (seg, part) in route.segments.iter().zip(&parts) {
                match seg {
                    Segment::Literal(l) if l == part => literals += 1,
                    Segment::Literal(_) => {
                        ok = false;
                        break;
                    }
                    Segment::Label(name) => {
                        if part.is_empty() {
                            ok = false;
                            break;
                        }
                        labels.insert(name.clone(), percent_decode(part));
                    }
                }
            }
            if ok && best.as_ref().is_none_or(|(n, _)| literals > *n) {
                best = Some((
                    literals,
                    Routed {
                        model,
                        route,
                        labels,
                    },
                ));
            }
        }
    }
    best.map(|(_, r)| r)
}

/// `%XX` decoding (and nothing else: `+` stays `+` in paths).
pub(crate) fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query-string decoding: `+` is a space, then `%XX`.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

impl ServiceModel {
    pub(crate) fn parse(text: &str) -> ServiceModel {
        // The models are compiled in and checked by the tests; a parse failure is a build bug.
        let json: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let shapes = json
            .get("shapes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut routes = Vec::new();
        if let Some(ops) = json.get("operations").and_then(Value::as_object) {
            for (name, op) in ops {
                let http = &op["http"];
                let uri = http["requestUri"].as_str().unwrap_or("/");
                let path = uri.split('?').next().unwrap_or(uri);
                let segments = path
                    .trim_start_matches('/')
                    .split('/')
                    .map(
                        |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                            Some(label) => Segment::Label(label.trim_end_matches('+').to_string()),
                            None => Segment::Literal(s.to_string()),
                        },
                    )
                    .collect();
                routes.push(Route {
                    operation: name.clone(),
                    method: http["method"].as_str().unwrap_or("GET").to_string(),
                    segments,
                    input: op["input"]["shape"].as_str().map(str::to_string),
                    output: op["output"]["shape"].as_str().map(str::to_string),
                    status: http["responseCode"].as_u64().unwrap_or(200) as u16,
                });
            }
        }
        ServiceModel { shapes, routes }
    }

    /// Number of operations in the model.
    #[cfg(test)]
    pub fn operation_count(&self) -> usize {
        self.routes.len()
    }

    fn shape(&self, name: &str) -> &Value {
        self.shapes.get(name).unwrap_or(&Value::Null)
    }

    /// Builds the operation's input from labels, query string, headers and body, and
    /// validates it. Returns the input as one JSON object keyed by member name.
    pub fn read_input(
        &self,
        route: &Route,
        labels: &HashMap<String, String>,
        query: &[(String, String)],
        headers: &hyper::HeaderMap,
        body: &[u8],
    ) -> Result<Value, Vec<String>> {
        let Some(input) = &route.input else {
            return Ok(Value::Object(Map::new()));
        };
        let shape = self.shape(input);
        let members = shape["members"].as_object().cloned().unwrap_or_default();
        let mut errors = Vec::new();
        let mut obj = Map::new();
        let payload = shape["payload"].as_str();
        if let Some(p) = payload {
            let target = self.shape(
                members
                    .get(p)
                    .and_then(|m| m["shape"].as_str())
                    .unwrap_or(""),
            );
            if !body.is_empty() {
                if target["type"] == "blob" {
                    obj.insert(
                        p.to_string(),
                        Value::String(format!("<{} bytes>", body.len())),
                    );
                } else {
                    match serde_json::from_slice::<Value>(body) {
                        Ok(v) => {
                            obj.insert(p.to_string(), v);
                        }
                        Err(e) => errors.push(format!("the request body is not valid JSON: {e}")),
                    }
                }
            }
        } else if !body.is_empty() {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => {
                    for (k, v) in m {
                        match members.get(&k) {
                            Some(member) if member.get("location").is_none() => {
                                obj.insert(k, v);
                            }
                            _ => errors.push(format!(
                                "Value at '{k}' failed to satisfy constraint: the operation has no such body member"
                            )),
                        }
                    }
                }
                Ok(_) => errors.push("the request body is not a JSON object".to_string()),
                Err(e) => errors.push(format!("the request body is not valid JSON: {e}")),
            }
        }
        for (name, member) in &members {
            let loc_name = member["locationName"].as_str().unwrap_or(name);
            let target = self.shape(member["shape"].as_str().unwrap_or(""));
            let raw: Vec<String> = match member["location"].as_str() {
                Some("uri") => labels.get(loc_name).cloned().into_iter().collect(),
                Some("querystring") => query
                    .iter()
                    .filter(|(k, _)| k == loc_name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                Some("header") => headers
                    .get_all(loc_name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .map(str::to_string)
                    .collect(),
                _ => continue,
            };
            if raw.is_empty() {
                continue;
            }
            let is_list = target["type"] == "list";
            let item_shape = if is_list {
                self.shape(target["member"]["shape"].as_str().unwrap_or(""))
            } else {
                target
            };
            let convert = |s: &str| -> Result<Value, String> {
                match item_shape["type"].as_str().unwrap_or("string") {
                    "integer" | "long" => s
                        .parse::<i64>()
                        .map(Value::from)
                        .map_err(|_| format!("Value at '{name}' failed to satisfy constraint: Member must be an integer")),
                    "float" | "double" => s
                        .parse::<f64>()
                        .map(Value::from)
                        .map_err(|_| format!("Value at '{name}' failed to satisfy constraint: Member must be a number")),
                    "boolean" => match s {
                        "true" => Ok(Value::Bool(true)),
                        "false" => Ok(Value::Bool(false)),
                        _ => Err(format!("Value at '{name}' failed to satisfy constraint: Member must be true or false")),
                    },
                    _ => Ok(Value::String(s.to_string())),
                }
            };
            let value = if is_list {
                raw.iter()
                    .map(|s| convert(s))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            } else {
                convert(&raw[raw.len() - 1])
            };
            match value {
                Ok(v) => {
                    obj.insert(name.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        let value = Value::Object(obj);
        if errors.is_empty() {
            self.validate(&value, input, "", true, &mut errors);
        }
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(errors)
        }
    }

    /// Validates a decoded input against its shape `name` (for services routed by operation
    /// name rather than by HTTP binding: CloudWatch's RPC v2 CBOR).
    pub(crate) fn check_input(&self, name: &str, body: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.validate(body, name, "", false, &mut errors);
        errors
    }

    /// Validates an output body against the operation's output shape.
    pub fn check_output(&self, route: &Route, body: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        if let Some(out) = &route.output {
            self.validate(body, out, "", false, &mut errors);
        }
        errors
    }

    /// Validates `v` against shape `name`; `path` is the member path so far (`a.b[0].c`).
    fn validate(&self, v: &Value, name: &str, path: &str, top: bool, errors: &mut Vec<String>) {
        let shape = self.shape(name);
        let at = |msg: &str| format!("Value at '{path}' failed to satisfy constraint: {msg}");
        let ty = shape["type"].as_str().unwrap_or("");
        match ty {
            "structure" => {
                if shape["document"].as_bool() == Some(true) {
                    return;
                }
                let Some(obj) = v.as_object() else {
                    errors.push(at("Member must be a structure (a JSON object)"));
                    return;
                };
                let members = shape["members"].as_object();
                let child = |k: &str| {
                    if path.is_empty() {
                        k.to_string()
                    } else {
                        format!("{path}.{k}")
                    }
                };
                if let Some(req) = shape["required"].as_array() {
                    for r in req.iter().filter_map(Value::as_str) {
                        if obj.get(r).is_none_or(Value::is_null) {
                            errors.push(format!(
                                "Value null at '{}' failed to satisfy constraint: Member must not be null",
                                child(r)
                            ));
                        }
                    }
                }
                let mut set = 0;
                for (k, cv) in obj {
                    if cv.is_null() {
                        continue;
                    }
                    set += 1;
                    match members.and_then(|m| m.get(k)) {
                        Some(m) => self.validate(cv, m["shape"].as_str().unwrap_or(""), &child(k), false, errors),
                        None if top => {} // already reported when the body was read
                        None => errors.push(format!(
                            "Value at '{}' failed to satisfy constraint: the structure has no such member",
                            child(k)
                        )),
                    }
                }
                if shape["union"].as_bool() == Some(true) && set != 1 {
                    errors.push(at(&format!(
                        "exactly one member of the union must be set, found {set}"
                    )));
                }
            }
            "list" => {
                let Some(arr) = v.as_array() else {
                    errors.push(at("Member must be a list (a JSON array)"));
                    return;
                };
                self.check_len(arr.len(), shape, &at, errors);
                let item = shape["member"]["shape"].as_str().unwrap_or("");
                for (i, x) in arr.iter().enumerate() {
                    self.validate(x, item, &format!("{path}[{i}]"), false, errors);
                }
            }
            "map" => {
                let Some(obj) = v.as_object() else {
                    errors.push(at("Member must be a map (a JSON object)"));
                    return;
                };
                self.check_len(obj.len(), shape, &at, errors);
                let key = shape["key"]["shape"].as_str().unwrap_or("");
                let value = shape["value"]["shape"].as_str().unwrap_or("");
                for (k, x) in obj {
                    let kp = format!("{path}.{k}");
                    self.validate(&Value::String(k.clone()), key, &kp, false, errors);
                    self.validate(x, value, &kp, false, errors);
                }
            }
            "string" => {
                let Some(s) = v.as_str() else {
                    errors.push(at("Member must be a string"));
                    return;
                };
                self.check_len(s.chars().count(), shape, &at, errors);
                if let Some(values) = shape["enum"].as_array()
                    && !values.iter().any(|e| e.as_str() == Some(s))
                {
                    let list: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                    errors.push(at(&format!(
                        "Member must satisfy enum value set: [{}]",
                        list.join(", ")
                    )));
                }
                if let Some(p) = shape["pattern"].as_str()
                    && let Some(re) = compiled(p)
                    && !re.is_match(s)
                {
                    errors.push(at(&format!(
                        "Member must satisfy regular expression pattern: {p}"
                    )));
                }
            }
            "integer" | "long" => {
                let Some(n) = v.as_i64() else {
                    errors.push(at("Member must be an integer"));
                    return;
                };
                if ty == "integer" && i32::try_from(n).is_err() {
                    errors.push(at("Member must fit a 32-bit integer"));
                }
                self.check_range(n as f64, shape, &at, errors);
            }
            "float" | "double" => {
                let Some(n) = v.as_f64() else {
                    errors.push(at("Member must be a number"));
                    return;
                };
                self.check_range(n, shape, &at, errors);
            }
            "boolean" => {
                if !v.is_boolean() {
                    errors.push(at("Member must be a boolean"));
                }
            }
            "timestamp" => {
                // rest-json's default in a body is epoch seconds; the shape may say otherwise.
                let format = shape["timestampFormat"].as_str().unwrap_or("unixTimestamp");
                let ok = match (format, v) {
                    ("iso8601", Value::String(s)) => aws_smithy_types::DateTime::from_str(
                        s,
                        aws_smithy_types::date_time::Format::DateTime,
                    )
                    .is_ok(),
                    ("rfc822", Value::String(s)) => aws_smithy_types::DateTime::from_str(
                        s,
                        aws_smithy_types::date_time::Format::HttpDate,
                    )
                    .is_ok(),
                    ("unixTimestamp", Value::Number(_)) => true,
                    _ => false,
                };
                if !ok {
                    errors.push(at(&format!(
                        "Member must be a timestamp in {format} format"
                    )));
                }
            }
            "blob" => {
                let ok = v.as_str().is_some_and(|s| {
                    s.len() % 4 == 0
                        && s.trim_end_matches('=')
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
                });
                if !ok {
                    errors.push(at("Member must be base64-encoded bytes"));
                }
            }
            _ => errors.push(at(&format!("the model has no shape {name:?}"))),
        }
    }

    fn check_len(
        &self,
        n: usize,
        shape: &Value,
        at: &dyn Fn(&str) -> String,
        errors: &mut Vec<String>,
    ) {
        if let Some(min) = shape["min"].as_f64()
            && (n as f64) < min
        {
            errors.push(at(&format!(
                "Member must have length greater than or equal to {min}"
            )));
        }
        if let Some(max) = shape["max"].as_f64()
            && (n as f64) > max
        {
            errors.push(at(&format!(
                "Member must have length less than or equal to {max}"
            )));
        }
    }

    fn check_range(
        &self,
        n: f64,
        shape: &Value,
        at: &dyn Fn(&str) -> String,
        errors: &mut Vec<String>,
    ) {
        if let Some(min) = shape["min"].as_f64()
            && n < min
        {
            errors.push(at(&format!(
                "Member must have value greater than or equal to {min}"
            )));
        }
        if let Some(max) = shape["max"].as_f64()
            && n > max
        {
            errors.push(at(&format!(
                "Member must have value less than or equal to {max}"
            )));
        }
    }
}

fn pattern_cache() -> &'static Mutex<HashMap<String, Option<Regex>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The whole-value regex for a Java pattern, `None` when it cannot be translated.
fn compiled(pattern: &str) -> Option<Regex> {
    let mut cache = pattern_cache().lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern.to_string())
        .or_insert_with(|| {
            let build = |p: &str| {
                regex::RegexBuilder::new(&format!("^(?:{p})$"))
                    .size_limit(64 << 20)
                    .build()
            };
            build(pattern)
                .or_else(|_| build(&translate_java(pattern)))
                .ok()
        })
        .clone()
}

/// Rewrites the Java character-class habits the `regex` crate reads differently: a `-` that
/// cannot be a range operator (first, last, or right after a range) becomes `\-`, and `&&`,
/// `--`, `~~` (set operators in `regex`) are escaped.
fn translate_java(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::new();
    let mut in_class = false;
    let mut prev_atom = false; // a single char that could start a range
    let mut after_range = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            out.push(c);
            out.push(chars[i + 1]);
            let class_escape =
                matches!(chars[i + 1], 's' | 'S' | 'd' | 'D' | 'w' | 'W' | 'p' | 'P');
            prev_atom = in_class && !class_escape;
            after_range = false;
            i += 2;
            continue;
        }
        if !in_class {
            if c == '[' {
                in_class = true;
                prev_atom = false;
                after_range = false;
                if chars.get(i + 1) == Some(&'^') {
                    out.push_str("[^");
                    i += 2;
                    continue;
                }
            }
            out.push(c);
            i += 1;
            continue;
        }
        match c {
            ']' => {
                in_class = false;
                out.push(c);
            }
            '-' => {
                let next = chars.get(i + 1).copied();
                if !prev_atom || after_range || next == Some(']') || next == Some('-') {
                    out.push_str("\\-");
                    prev_atom = false;
                    after_range = false;
                } else {
                    out.push('-');
                    // The next char closes the range.
                    if let Some(n) = next {
                        if n == '\\' {
                            out.push(n);
                            if let Some(m) = chars.get(i + 2) {
                                out.push(*m);
                            }
                            i += 1;
                        } else {
                            out.push(n);
                        }
                        i += 1;
                    }
                    prev_atom = false;
                    after_range = true;
                    i += 1;
                    continue;
                }
            }
            '&' | '~' if chars.get(i + 1) == Some(&c) => {
                out.push('\\');
                out.push(c);
                prev_atom = true;
                after_range = false;
            }
            _ => {
                out.push(c);
                prev_atom = true;
                after_range = false;
            }
        }
        i += 1;
    }
    out
}

/// Patterns of both models that could not be compiled and are therefore not checked.
pub fn skipped_patterns() -> Vec<String> {
    let mut out = Vec::new();
    for m in models() {
        for s in m.shapes.values() {
            if let Some(p) = s["pattern"].as_str()
                && compiled(p).is_none()
                && !out.iter().any(|o| o == p)
            {
                out.push(p.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_routes_to_itself() {
        for m in models() {
            assert!(m.operation_count() > 5);
            for r in &m.routes {
                let path: Vec<String> = r
                    .segments
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(l) => l.clone(),
                        Segment::Label(_) => "abc".to_string(),
                    })
                    .collect();
                let path = format!("/{}", path.join("/"));
                let got = route(&r.method, &path).map(|x| x.route.operation.clone());
                // Several operations may share a template only if one is more literal.
                assert!(got.is_some(), "{} {path}", r.operation);
            }
        }
    }

    #[test]
    fn java_class_dashes_are_escaped() {
        assert_eq!(translate_java("[a-zA-Z0-9-_/]+"), "[a-zA-Z0-9\\-_/]+");
        assert_eq!(translate_java("[-.a-z]"), "[\\-.a-z]");
        assert!(compiled("[0-9a-zA-Z-_ !?.]+").is_some_and(|r| r.is_match("a-b_c !?.")));
        assert!(compiled("arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:((key/[a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+))").is_some());
    }

    #[test]
    fn all_model_patterns_compile() {
        assert_eq!(skipped_patterns(), Vec::<String>::new());
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("arn%3Aaws%2Fx"), "arn:aws/x");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(
            query_pairs("a=1&b=x+y%21"),
            vec![("a".into(), "1".into()), ("b".into(), "x y!".into())]
        );
    }
}
