//! Column templates such as `"Classify the request: {text}"`: literal text with `{column}`
//! placeholders (`{{` and `}}` stand for literal braces). Parsed once, checked against the
//! input schema before any row is read, then rendered per row.

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Column(String),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `source`; a lone `{` or `}` or an empty `{}` is an error naming the position.
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, n)| n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, n)| n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, ch)) => name.push(ch),
                            None => {
                                return Err(format!(
                                    "template {source:?}: `{{` at byte {at} is not closed (write `{{{{` for a literal brace)"
                                ));
                            }
                        }
                    }
                    let name = name.trim().to_string();
                    if name.is_empty() {
                        return Err(format!("template {source:?}: empty `{{}}` at byte {at}"));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Column(name));
                }
                '}' => {
                    return Err(format!(
                        "template {source:?}: lone `}}` at byte {at} (write `}}}}` for a literal brace)"
                    ));
                }
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template {
            source: source.to_string(),
            pieces,
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The columns it reads, in order of first use.
    pub fn columns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.pieces {
            if let Piece::Column(c) = p
                && !out.contains(&c.as_str())
            {
                out.push(c);
            }
        }
        out
    }

    /// Renders with `value(column)` giving each placeholder's text.
    pub fn render<'a>(&self, mut value: impl FnMut(&str) -> &'a str) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Literal(s) => out.push_str(s),
                Piece::Column(c) => out.push_str(value(c)),
            }
        }
        out
    }
}

impl serde::Serialize for Template {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_columns_and_escaped_braces() {
        let t = Template::parse("Classify {{this}}: {text} ({ category })").unwrap();
        assert_eq!(t.columns(), vec!["text", "category"]);
        let out = t.render(|c| if c == "text" { "hi" } else { "x" });
        assert_eq!(out, "Classify {this}: hi (x)");
    }

    #[test]
    fn rejects_unbalanced_braces() {
        assert!(Template::parse("a {b").unwrap_err().contains("not closed"));
        assert!(Template::parse("a } b").unwrap_err().contains("lone"));
        assert!(Template::parse("{}").unwrap_err().contains("empty"));
    }
}
