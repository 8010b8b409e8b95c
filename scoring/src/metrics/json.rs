//! JSON validity and a small JSON Schema conformance checker.
//!
//! [`JsonSchema`] supports this subset of JSON Schema (draft 4 to 2020-12
//! spellings where they differ):
//!
//! * `type` — a name or an array of names among `null`, `boolean`, `object`,
//!   `array`, `number`, `string`, `integer` (`integer` accepts any number with
//!   a zero fractional part, e.g. `1.0`, as drafts 6+ specify);
//! * `properties`, `required`, `additionalProperties` (a boolean or a schema;
//!   `patternProperties` is not supported, so every property not listed in
//!   `properties` is "additional");
//! * `items` (one schema for every element, or an array of schemas for
//!   positional / tuple validation);
//! * `enum`, `const` (numbers compare by value: `1 == 1.0`);
//! * `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numeric
//!   form of drafts 6+, and the boolean modifier form of draft 4);
//! * `minLength`, `maxLength` (counted in Unicode code points), `pattern`
//!   (unanchored search; compiled with the `regex` crate, whose syntax is close
//!   to but not identical with ECMA-262: no look-around or back-references);
//! * `minItems`, `maxItems`;
//! * boolean schemas `true` / `false`.
//!
//! Other keywords (`$ref`, `allOf`, `format`, ...) are ignored. Validation
//! reports every violation with the JSON Pointer (RFC 6901) of the offending
//! instance location.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use regex::Regex;

/// `true` when `text` is one complete JSON document (surrounding whitespace
/// allowed).
pub fn is_valid_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// JSON validity as a score: `1.0` when [`is_valid_json`], else `0.0`.
pub fn json_validity(text: &str) -> f64 {
    if is_valid_json(text) { 1.0 } else { 0.0 }
}

/// One schema violation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// JSON Pointer of the offending value in the instance (`""` = root).
    pub path: String,
    /// The schema keyword that failed (`type`, `required`, ...).
    pub keyword: String,
    /// Human-readable explanation.
    pub message: String,
}

/// An error in the schema itself.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A subschema is neither an object nor a boolean.
    #[error("invalid schema at `{pointer}`: expected an object or a boolean")]
    NotASchema {
        /// JSON Pointer of the subschema inside the schema document.
        pointer: String,
    },
    /// A supported keyword has a value of the wrong shape.
    #[error("invalid schema at `{pointer}`: keyword `{keyword}` {reason}")]
    InvalidKeyword {
        /// JSON Pointer of the subschema inside the schema document.
        pointer: String,
        /// The keyword.
        keyword: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `pattern` is not a valid regular expression.
    #[error("invalid schema at `{pointer}`: bad pattern: {source}")]
    InvalidPattern {
        /// JSON Pointer of the subschema inside the schema document.
        pointer: String,
        /// The regex compilation error.
        #[source]
        source: regex::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JsonType {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    String,
    Integer,
}

impl JsonType {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "null" => Self::Null,
            "boolean" => Self::Boolean,
            "object" => Self::Object,
            "array" => Self::Array,
            "number" => Self::Number,
            "string" => Self::String,
            "integer" => Self::Integer,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
            Self::Number => "number",
            Self::String => "string",
            Self::Integer => "integer",
        }
    }

    fn matches(self, v: &Value) -> bool {
        match self {
            Self::Null => v.is_null(),
            Self::Boolean => v.is_boolean(),
            Self::Object => v.is_object(),
            Self::Array => v.is_array(),
            Self::Number => v.is_number(),
            Self::String => v.is_string(),
            Self::Integer => v.as_number().is_some_and(is_integral),
        }
    }
}

fn is_integral(n: &Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// The JSON Schema type name of an instance (`integer` for integral numbers).
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(n) if is_integral(n) => "integer",
        Value::Number(_) => "number",
    }
}

/// Equality of JSON values as JSON Schema defines it for `enum` / `const`:
/// numbers compare mathematically, objects ignore key order.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn numbers_equal(x: &Number, y: &Number) -> bool {
    let as_int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (as_int(x), as_int(y)) {
        (Some(a), Some(b)) => a == b,
        _ => x.as_f64() == y.as_f64(),
    }
}

#[derive(Debug, Clone)]
enum Node {
    Bool(bool),
    Rules(Box<Rules>),
}

#[derive(Debug, Clone)]
enum Items {
    All(Node),
    Tuple(Vec<Node>),
}

#[derive(Debug, Clone, Default)]
struct Rules {
    types: Option<Vec<JsonType>>,
    properties: Vec<(String, Node)>,
    required: Vec<String>,
    additional: Option<Node>,
    items: Option<Items>,
    enum_values: Option<Vec<Value>>,
    const_value: Option<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<(String, Regex)>,
    min_items: Option<u64>,
    max_items: Option<u64>,
}

/// Appends the RFC 6901 escaped form of `token` to a JSON Pointer.
fn push_pointer(path: &mut String, token: &str) {
    path.push('/');
    for c in token.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            _ => path.push(c),
        }
    }
}

fn bad(pointer: &str, keyword: &str, reason: &str) -> SchemaError {
    SchemaError::InvalidKeyword {
        pointer: pointer.to_owned(),
        keyword: keyword.to_owned(),
        reason: reason.to_owned(),
    }
}

fn get_f64(obj: &Map<String, Value>, key: &str, pointer: &str) -> Result<Option<f64>, SchemaError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| bad(pointer, key, "must be a number")),
        Some(_) => Err(bad(pointer, key, "must be a number")),
    }
}

fn get_count(
    obj: &Map<String, Value>,
    key: &str,
    pointer: &str,
) -> Result<Option<u64>, SchemaError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(u) = n.as_u64() {
                return Ok(Some(u));
            }
            match n.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64 => {
                    Ok(Some(f as u64))
                }
                _ => Err(bad(pointer, key, "must be a non-negative integer")),
            }
        }
        Some(_) => Err(bad(pointer, key, "must be a non-negative integer")),
    }
}

fn compile_node(schema: &Value, pointer: &mut String) -> Result<Node, SchemaError> {
    let obj = match schema {
        Value::Bool(b) => return Ok(Node::Bool(*b)),
        Value::Object(o) => o,
        _ => {
            return Err(SchemaError::NotASchema {
                pointer: pointer.clone(),
            });
        }
    };
    let here = pointer.clone();
    let mut r = Rules::default();

    if let Some(t) = obj.get("type") {
        let names: Vec<&Value> = match t {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut types = Vec::with_capacity(names.len());
        for n in names {
            let ty = n
                .as_str()
                .and_then(JsonType::parse)
                .ok_or_else(|| bad(&here, "type", &format!("has unknown type {n}")))?;
            types.push(ty);
        }
        r.types = Some(types);
    }

    if let Some(p) = obj.get("properties") {
        let props = p
            .as_object()
            .ok_or_else(|| bad(&here, "properties", "must be an object"))?;
        let len = pointer.len();
        for (name, sub) in props {
            push_pointer(pointer, "properties");
            push_pointer(pointer, name);
            let node = compile_node(sub, pointer)?;
            pointer.truncate(len);
            r.properties.push((name.clone(), node));
        }
    }

    if let Some(req) = obj.get("required") {
        let arr = req
            .as_array()
            .ok_or_else(|| bad(&here, "required", "must be an array of strings"))?;
        for v in arr {
            let s = v
                .as_str()
                .ok_or_else(|| bad(&here, "required", "must be an array of strings"))?;
            r.required.push(s.to_owned());
        }
    }

    if let Some(a) = obj.get("additionalProperties") {
        let len = pointer.len();
        push_pointer(pointer, "additionalProperties");
        r.additional = Some(compile_node(a, pointer)?);
        pointer.truncate(len);
    }

    if let Some(items) = obj.get("items") {
        let len = pointer.len();
        push_pointer(pointer, "items");
        r.items = Some(match items {
            Value::Array(list) => {
                let mut nodes = Vec::with_capacity(list.len());
                for (i, sub) in list.iter().enumerate() {
                    let inner = pointer.len();
                    push_pointer(pointer, &i.to_string());
                    nodes.push(compile_node(sub, pointer)?);
                    pointer.truncate(inner);
                }
                Items::Tuple(nodes)
            }
            other => Items::All(compile_node(other, pointer)?),
        });
        pointer.truncate(len);
    }

    if let Some(e) = obj.get("enum") {
        let values = e
            .as_array()
            .ok_or_else(|| bad(&here, "enum", "must be an array"))?;
        r.enum_values = Some(values.clone());
    }
    if let Some(c) = obj.get("const") {
        r.const_value = Some(c.clone());
    }

    r.minimum = get_f64(obj, "minimum", &here)?;
    r.maximum = get_f64(obj, "maximum", &here)?;
    // exclusiveMinimum / exclusiveMaximum: a number (drafts 6+) or a boolean
    // that turns minimum / maximum exclusive (draft 4).
    for (key, bound) in [("exclusiveMinimum", true), ("exclusiveMaximum", false)] {
        match obj.get(key) {
            None | Some(Value::Bool(false)) => {}
            Some(Value::Bool(true)) => {
                let base = if bound {
                    &mut r.minimum
                } else {
                    &mut r.maximum
                };
                let value = base.take().ok_or_else(|| {
                    bad(
                        &here,
                        key,
                        "is true but the matching minimum/maximum is missing",
                    )
                })?;
                if bound {
                    r.exclusive_minimum = Some(value);
                } else {
                    r.exclusive_maximum = Some(value);
                }
            }
            Some(_) => {
                let v = get_f64(obj, key, &here)?;
                if bound {
                    r.exclusive_minimum = v;
                } else {
                    r.exclusive_maximum = v;
                }
            }
        }
    }

    r.min_length = get_count(obj, "minLength", &here)?;
    r.max_length = get_count(obj, "maxLength", &here)?;
    r.min_items = get_count(obj, "minItems", &here)?;
    r.max_items = get_count(obj, "maxItems", &here)?;

    if let Some(p) = obj.get("pattern") {
        let src = p
            .as_str()
            .ok_or_else(|| bad(&here, "pattern", "must be a string"))?;
        let re = Regex::new(src).map_err(|source| SchemaError::InvalidPattern {
            pointer: here.clone(),
            source,
        })?;
        r.pattern = Some((src.to_owned(), re));
    }

    Ok(Node::Rules(Box::new(r)))
}

/// A compiled JSON Schema (see the module documentation for the supported
/// keywords). Compile once, validate many instances.
#[derive(Debug, Clone)]
pub struct JsonSchema {
    root: Node,
}

impl JsonSchema {
    /// Compiles `schema`, checking the supported keywords and compiling
    /// patterns.
    ///
    /// # Errors
    /// [`SchemaError`] when a supported keyword is malformed or a pattern does
    /// not compile.
    pub fn compile(schema: &Value) -> Result<Self, SchemaError> {
        let mut pointer = String::new();
        Ok(Self {
            root: compile_node(schema, &mut pointer)?,
        })
    }

    /// All violations of `instance`, in document order (empty = valid).
    pub fn validate(&self, instance: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut path = String::new();
        validate_node(&self.root, instance, &mut path, &mut out);
        out
    }

    /// `true` when `instance` has no violation.
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validate(instance).is_empty()
    }
}

/// Compiles `schema` and validates `instance` against it.
///
/// # Errors
/// See [`JsonSchema::compile`].
pub fn validate_json_schema(
    schema: &Value,
    instance: &Value,
) -> Result<Vec<Violation>, SchemaError> {
    Ok(JsonSchema::compile(schema)?.validate(instance))
}

fn violation(out: &mut Vec<Violation>, path: &str, keyword: &str, message: String) {
    out.push(Violation {
        path: path.to_owned(),
        keyword: keyword.to_owned(),
        message,
    });
}

fn validate_node(node: &Node, v: &Value, path: &mut String, out: &mut Vec<Violation>) {
    match node {
        Node::Bool(true) => {}
        Node::Bool(false) => violation(out, path, "false", "no value is allowed here".into()),
        Node::Rules(r) => validate_rules(r, v, path, out),
    }
}

fn validate_rules(r: &Rules, v: &Value, path: &mut String, out: &mut Vec<Violation>) {
    if let Some(types) = &r.types
        && !types.iter().any(|t| t.matches(v))
    {
        let expected: Vec<&str> = types.iter().map(|t| t.name()).collect();
        violation(
            out,
            path,
            "type",
            format!("expected {}, found {}", expected.join(" or "), type_of(v)),
        );
    }
    if let Some(values) = &r.enum_values
        && !values.iter().any(|e| json_equal(e, v))
    {
        violation(
            out,
            path,
            "enum",
            format!("{v} is not one of the allowed values"),
        );
    }
    if let Some(c) = &r.const_value
        && !json_equal(c, v)
    {
        violation(
            out,
            path,
            "const",
            format!("{v} is not equal to the constant {c}"),
        );
    }
    match v {
        Value::Number(n) => validate_number(r, n, path, out),
        Value::String(s) => validate_string(r, s, path, out),
        Value::Array(a) => validate_array(r, a, path, out),
        Value::Object(o) => validate_object(r, o, path, out),
        Value::Null | Value::Bool(_) => {}
    }
}

fn validate_number(r: &Rules, n: &Number, path: &str, out: &mut Vec<Violation>) {
    let Some(x) = n.as_f64() else { return };
    if let Some(m) = r.minimum
        && x < m
    {
        violation(
            out,
            path,
            "minimum",
            format!("{n} is less than the minimum {m}"),
        );
    }
    if let Some(m) = r.maximum
        && x > m
    {
        violation(
            out,
            path,
            "maximum",
            format!("{n} is greater than the maximum {m}"),
        );
    }
    if let Some(m) = r.exclusive_minimum
        && x <= m
    {
        violation(
            out,
            path,
            "exclusiveMinimum",
            format!("{n} is not greater than the exclusive minimum {m}"),
        );
    }
    if let Some(m) = r.exclusive_maximum
        && x >= m
    {
        violation(
            out,
            path,
            "exclusiveMaximum",
            format!("{n} is not less than the exclusive maximum {m}"),
        );
    }
}

fn validate_string(r: &Rules, s: &str, path: &str, out: &mut Vec<Violation>) {
    if r.min_length.is_some() || r.max_length.is_some() {
        let len = s.chars().count() as u64;
        if let Some(m) = r.min_length
            && len < m
        {
            violation(
                out,
                path,
                "minLength",
                format!("length {len} is less than minLength {m}"),
            );
        }
        if let Some(m) = r.max_length
            && len > m
        {
            violation(
                out,
                path,
                "maxLength",
                format!("length {len} is greater than maxLength {m}"),
            );
        }
    }
    if let Some((src, re)) = &r.pattern
        && !re.is_match(s)
    {
        violation(
            out,
            path,
            "pattern",
            format!("string does not match pattern {src:?}"),
        );
    }
}

fn validate_array(r: &Rules, a: &[Value], path: &mut String, out: &mut Vec<Violation>) {
    let len = a.len() as u64;
    if let Some(m) = r.min_items
        && len < m
    {
        violation(
            out,
            path,
            "minItems",
            format!("{len} items is fewer than minItems {m}"),
        );
    }
    if let Some(m) = r.max_items
        && len > m
    {
        violation(
            out,
            path,
            "maxItems",
            format!("{len} items is more than maxItems {m}"),
        );
    }
    let Some(items) = &r.items else { return };
    let base = path.len();
    for (i, item) in a.iter().enumerate() {
        let node = match items {
            Items::All(node) => node,
            Items::Tuple(nodes) => match nodes.get(i) {
                Some(node) => node,
                None => break,
            },
        };
        push_pointer(path, &i.to_string());
        validate_node(node, item, path, out);
        path.truncate(base);
    }
}

fn validate_object(r: &Rules, o: &Map<String, Value>, path: &mut String, out: &mut Vec<Violation>) {
    for name in &r.required {
        if !o.contains_key(name) {
            violation(
                out,
                path,
                "required",
                format!("missing required property {name:?}"),
            );
        }
    }
    let base = path.len();
    for (name, node) in &r.properties {
        if let Some(value) = o.get(name) {
            push_pointer(path, name);
            validate_node(node, value, path, out);
            path.truncate(base);
        }
    }
    if let Some(additional) = &r.additional {
        for (key, value) in o {
            if r.properties.iter().any(|(name, _)| name == key) {
                continue;
            }
            push_pointer(path, key);
            match additional {
                Node::Bool(false) => violation(
                    out,
                    path,
                    "additionalProperties",
                    format!("additional property {key:?} is not allowed"),
                ),
                node => validate_node(node, value, path, out),
            }
            path.truncate(base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> JsonSchema {
        JsonSchema::compile(&json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[A-Z]"},
                "age": {"type": "integer", "minimum": 0, "exclusiveMaximum": 150},
                "score": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "minItems": 1, "maxItems": 2},
                "kind": {"const": "person"},
                "a/b~c": {"type": "boolean"}
            },
            "required": ["name", "age", "kind"],
            "additionalProperties": false
        }))
        .expect("valid schema")
    }

    fn paths(v: &[Violation]) -> Vec<(&str, &str)> {
        v.iter()
            .map(|x| (x.path.as_str(), x.keyword.as_str()))
            .collect()
    }

    #[test]
    fn valid_document_has_no_violations() {
        let s = schema();
        let doc = json!({"name": "Ann", "age": 30, "score": 0.5, "tags": ["a"], "kind": "person", "a/b~c": true});
        assert_eq!(s.validate(&doc), vec![]);
        assert!(s.is_valid(&json!({"name": "Bo", "age": 1.0, "score": null, "kind": "person"})));
    }

    #[test]
    fn invalid_document_reports_pointer_paths() {
        let s = schema();
        let doc = json!({
            "name": "annabelle",
            "age": 150,
            "score": 0,
            "tags": ["a", "c", "b"],
            "kind": "robot",
            "extra": 1,
            "a/b~c": "yes"
        });
        let v = s.validate(&doc);
        assert_eq!(
            paths(&v),
            vec![
                ("/a~1b~0c", "type"),
                ("/age", "exclusiveMaximum"),
                ("/kind", "const"),
                ("/name", "maxLength"),
                ("/name", "pattern"),
                ("/score", "exclusiveMinimum"),
                ("/tags", "maxItems"),
                ("/tags/1", "enum"),
                ("/extra", "additionalProperties"),
            ]
        );
    }

    #[test]
    fn missing_required_and_wrong_types() {
        let s = schema();
        let v = s.validate(&json!({"age": -1.5}));
        assert_eq!(
            paths(&v),
            vec![
                ("", "required"),
                ("", "required"),
                ("/age", "type"),
                ("/age", "minimum")
            ]
        );
        assert!(v[0].message.contains("\"name\""));
        assert_eq!(v[2].message, "expected integer, found number");
        let v = s.validate(&json!([1, 2]));
        assert_eq!(paths(&v), vec![("", "type")]);
        assert_eq!(v[0].message, "expected object, found array");
    }

    #[test]
    fn tuple_items_draft4_bounds_and_boolean_schemas() {
        let s = JsonSchema::compile(&json!({
            "type": "array",
            "items": [{"type": "integer"}, {"type": "string"}, false],
        }))
        .expect("valid schema");
        assert!(s.is_valid(&json!([1, "x"])));
        assert_eq!(
            paths(&s.validate(&json!(["x", 1, null]))),
            vec![("/0", "type"), ("/1", "type"), ("/2", "false")]
        );

        let d4 = JsonSchema::compile(&json!({"minimum": 1, "exclusiveMinimum": true}))
            .expect("valid schema");
        assert_eq!(
            paths(&d4.validate(&json!(1))),
            vec![("", "exclusiveMinimum")]
        );
        assert!(d4.is_valid(&json!(1.5)));
        assert!(d4.is_valid(&json!("not a number")));

        let any = JsonSchema::compile(&json!(true)).expect("valid schema");
        assert!(any.is_valid(&json!({"x": [1, 2]})));
        let additional_schema =
            JsonSchema::compile(&json!({"additionalProperties": {"type": "integer"}}))
                .expect("valid schema");
        assert_eq!(
            paths(&additional_schema.validate(&json!({"a": 1, "b": "x"}))),
            vec![("/b", "type")]
        );
    }

    #[test]
    fn enum_and_const_compare_numbers_by_value() {
        let s =
            JsonSchema::compile(&json!({"enum": [1, "a", {"k": [1.0]}]})).expect("valid schema");
        assert!(s.is_valid(&json!(1.0)));
        assert!(s.is_valid(&json!({"k": [1]})));
        assert!(!s.is_valid(&json!(2)));
        let c = JsonSchema::compile(&json!({"const": 3})).expect("valid schema");
        assert!(c.is_valid(&json!(3.0)));
    }

    #[test]
    fn schema_errors() {
        assert!(matches!(
            JsonSchema::compile(&json!({"properties": {"x": {"pattern": "("}}})),
            Err(SchemaError::InvalidPattern { pointer, .. }) if pointer == "/properties/x"
        ));
        assert!(matches!(
            JsonSchema::compile(&json!({"type": "text"})),
            Err(SchemaError::InvalidKeyword { keyword, .. }) if keyword == "type"
        ));
        assert!(matches!(
            JsonSchema::compile(&json!({"minLength": -1})),
            Err(SchemaError::InvalidKeyword { .. })
        ));
        assert!(matches!(
            JsonSchema::compile(&json!(3)),
            Err(SchemaError::NotASchema { .. })
        ));
        assert!(
            validate_json_schema(&json!({"type": "string"}), &json!("x"))
                .expect("valid schema")
                .is_empty()
        );
    }

    #[test]
    fn json_validity_checks() {
        assert!(is_valid_json(r#" {"a": [1, 2.5, null, true]} "#));
        assert!(is_valid_json("3"));
        assert!(!is_valid_json("{'a': 1}"));
        assert!(!is_valid_json(r#"{"a": 1} trailing"#));
        assert!(!is_valid_json(""));
        assert_eq!(json_validity("[1,]"), 0.0);
        assert_eq!(json_validity("[1]"), 1.0);
    }
}
