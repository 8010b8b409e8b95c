//! Rendering of prompts, references and ids from a data record (minijinja templates or
//! plain field names), with errors naming the file, line and field.

use super::*;

pub(super) enum ReferenceSource {
    Template,
    Fields(Vec<String>),
}

pub(super) struct Renderer<'a> {
    pub(super) env: &'a Environment<'static>,
    pub(super) data_path: &'a Path,
}

impl Renderer<'_> {
    pub(super) fn at(&self, record: &Record, field: &str) -> Location {
        Location::line(self.data_path, record.line).field(field)
    }

    /// Renders template `name` over the record, naming a missing field first.
    pub(super) fn render(&self, name: &str, record: &Record) -> Result<String> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| ScoreError::input(self.at(record, name), e.to_string()))?;
        let mut vars: Vec<String> = tmpl.undeclared_variables(false).into_iter().collect();
        vars.sort();
        if let Some(missing) = vars.iter().find(|v| !record.fields.contains_key(*v)) {
            return Err(ScoreError::input(
                self.at(record, missing),
                format!(
                    "missing (template `{name}` uses it); the record has {}",
                    field_list(&record.fields)
                ),
            ));
        }
        tmpl.render(&record.fields).map_err(|e| {
            ScoreError::input(
                self.at(record, name),
                format!("cannot render template `{name}`: {e}"),
            )
        })
    }

    pub(super) fn id(&self, record: &Record, field: &str) -> Result<String> {
        match record.fields.get(field) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(other) => Err(ScoreError::input(
                self.at(record, field),
                format!("an id must be a non-empty string or a number, found {other}"),
            )),
            None => Err(ScoreError::input(
                self.at(record, field),
                format!(
                    "missing (it is the suite's id_field); the record has {}",
                    field_list(&record.fields)
                ),
            )),
        }
    }

    pub(super) fn reference_fields(
        &self,
        record: &Record,
        fields: &[String],
    ) -> Result<Vec<String>> {
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
                                return Err(ScoreError::input(
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
                    return Err(ScoreError::input(
                        self.at(record, f),
                        format!(
                            "a reference must be a string, a number or a non-empty array, found {other}"
                        ),
                    ));
                }
                None => {
                    return Err(ScoreError::input(
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
    pub(super) fn choices(&self, record: &Record, field: &str) -> Result<Vec<String>> {
        let at = |f: &str| self.at(record, f);
        let Some(Value::Array(items)) = record.fields.get(field) else {
            return Err(ScoreError::input(
                at(field),
                format!(
                    "missing or not a list (it is choices.field); the record has {}",
                    field_list(&record.fields)
                ),
            ));
        };
        if items.is_empty() {
            return Err(ScoreError::input(at(field), "no choices"));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(ScoreError::input(
                    at(&format!("{field}[{i}]")),
                    format!("a choice must be a non-empty string or a number, found {other}"),
                )),
            })
            .collect()
    }

    /// The turns of a record without a suite `prompt`: its `prompt` field, or its `messages`
    /// (system turn taken out; a final assistant turn, the reference, left out).
    pub(super) fn own_turns(&self, record: &Record) -> Result<(Option<String>, Vec<Message>)> {
        if let Some(p) = record.fields.get("prompt") {
            let Value::String(p) = p else {
                return Err(ScoreError::input(
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
            return Err(ScoreError::input(
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
                ScoreError::input(
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
                    return Err(ScoreError::input(
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
            return Err(ScoreError::input(
                self.at(record, "messages"),
                "needs a user turn to answer",
            ));
        }
        Ok((system, messages))
    }
}

pub(super) fn field_list(fields: &Map<String, Value>) -> String {
    if fields.is_empty() {
        return "no fields".into();
    }
    fields
        .keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
