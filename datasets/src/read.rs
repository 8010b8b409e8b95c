//! Reading inputs: expand paths and globs, pre-check text files line by line, then parse
//! with polars and map columns to records.
//!
//! polars parses fast but reports a ragged CSV row or a broken JSON line without a line
//! number, so text files first get one cheap pass of our own over their bytes: it strips a
//! BOM, finds where every record starts (quote-aware for CSV, so a quoted newline does not
//! shift line numbers) and finds records polars would choke on (invalid UTF-8, wrong field
//! count, JSON syntax errors, unterminated quotes). Good records go to polars from memory;
//! bad ones are reported with file and line, or rejected, per `on_error`.
//!
//! Column values are cleaned (see [`crate::clean`]) before templates are rendered, so a
//! template's own whitespace (`completion = " {label}"`) is kept as written.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;
use polars_buffer::Buffer;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::clean::clean_text;
use crate::record::{Record, Role, Turn};
use crate::settings::{InputFormat, Mapping};
use crate::{Error, Result};

/// One input file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Input {
    /// As the user named it (local path or `s3://` URI).
    pub name: String,
    /// Where its bytes are on this machine.
    #[serde(skip)]
    pub path: PathBuf,
    /// Parser used.
    pub format: InputFormat,
    /// sha256 of its bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Records read (good + bad).
    pub records: usize,
}

/// Expands local paths and globs (sorted, so runs are repeatable). `s3://` URIs must have
/// been fetched by the caller, which passes them as `(uri, local path)` in `fetched`.
pub fn expand(
    patterns: &[String],
    fetched: &[(String, PathBuf)],
) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for p in patterns {
        if p.starts_with("s3://") {
            let hits: Vec<_> = fetched
                .iter()
                .filter(|(uri, _)| uri == p || uri.starts_with(p.trim_end_matches('*')))
                .cloned()
                .collect();
            if hits.is_empty() {
                return Err(Error::NoInput { pattern: p.clone() });
            }
            out.extend(hits);
            continue;
        }
        let mut hits: Vec<PathBuf> = if p.contains(['*', '?', '[']) {
            glob::glob(p)
                .map_err(|e| Error::Config(format!("input glob {p:?}: {e}")))?
                .filter_map(|r| r.ok())
                .filter(|p| p.is_file())
                .collect()
        } else if Path::new(p).is_file() {
            vec![PathBuf::from(p)]
        } else if Path::new(p).exists() {
            return Err(Error::Config(format!("{p}: is not a file")));
        } else {
            vec![]
        };
        if hits.is_empty() {
            return Err(Error::NoInput { pattern: p.clone() });
        }
        hits.sort();
        out.extend(
            hits.into_iter()
                .map(|h| (h.to_string_lossy().into_owned(), h)),
        );
    }
    Ok(out)
}

/// The format a file is parsed as.
pub fn format_of(name: &str, configured: InputFormat) -> Result<InputFormat> {
    if configured != InputFormat::Auto {
        return Ok(configured);
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".csv") {
        Ok(InputFormat::Csv)
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json") {
        Ok(InputFormat::Jsonl)
    } else if lower.ends_with(".parquet") || lower.ends_with(".pq") {
        Ok(InputFormat::Parquet)
    } else {
        Err(Error::Config(format!(
            "{name}: can't tell the format from the extension\nhint: set data.format = \"csv\" | \"jsonl\" | \"parquet\""
        )))
    }
}

/// A record as read: where it came from, and its label for stratification.
#[derive(Debug, Clone)]
pub struct Row {
    /// Index into the input list.
    pub file: u32,
    /// 1-based line (row for Parquet).
    pub line: u32,
    /// The mapped record.
    pub record: Record,
    /// Value of the stratification column.
    pub label: Option<String>,
    /// The mapped columns' values without the templates' fixed text, for near-duplicate
    /// search: a long shared template would otherwise make every pair look similar.
    pub content: String,
}

/// A record that could not become a [`Row`].
#[derive(Debug, Clone)]
pub struct BadRow {
    /// Index into the input list.
    pub file: u32,
    /// 1-based line.
    pub line: u32,
    /// Why (never the record's content).
    pub reason: String,
    /// `unreadable` (broken syntax or encoding) or `empty` (a mapped field is empty).
    pub category: &'static str,
}

/// What one file gave.
pub struct FileRows {
    /// The file's description for the manifest.
    pub input: Input,
    /// Records read.
    pub rows: Vec<Row>,
    /// Records that could not be read or were empty.
    pub bad: Vec<BadRow>,
}

/// Reads one file and maps its rows.
pub fn read_file(
    index: u32,
    name: &str,
    path: &Path,
    format: InputFormat,
    mapping: &Mapping,
    label: Option<&str>,
) -> Result<FileRows> {
    let wanted = wanted_columns(mapping, label);
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let size = bytes.len() as u64;
    let (df, lines, mut bad) = match format {
        InputFormat::Csv | InputFormat::Jsonl => {
            let scanned = if format == InputFormat::Csv {
                scan_csv(bytes)
            } else {
                scan_jsonl(bytes)
            };
            if scanned.lines.is_empty() && scanned.bad.is_empty() {
                return Err(Error::EmptyFile { file: name.into() });
            }
            let bad: Vec<BadRow> = scanned
                .bad
                .into_iter()
                .map(|(line, reason)| BadRow {
                    file: index,
                    line: line as u32,
                    reason,
                    category: "unreadable",
                })
                .collect();
            let df = if scanned.lines.is_empty() {
                None
            } else {
                let lf = text_scan(scanned.buffer, format).map_err(|source| Error::Polars {
                    file: name.into(),
                    source,
                })?;
                Some(collect_columns(lf, name, &wanted)?)
            };
            (df, scanned.lines, bad)
        }
        InputFormat::Parquet | InputFormat::Auto => {
            drop(bytes);
            let lf = LazyFrame::scan_parquet(
                PlRefPath::new(path.to_string_lossy().as_ref()),
                Default::default(),
            )
            .map_err(|source| Error::Polars {
                file: name.into(),
                source,
            })?;
            let df = collect_columns(lf, name, &wanted)?;
            if df.height() == 0 {
                return Err(Error::EmptyFile { file: name.into() });
            }
            let lines = (1..=df.height()).collect();
            (Some(df), lines, Vec::new())
        }
    };
    let rows = match df {
        Some(df) => map_rows(index, name, &df, &lines, mapping, label, &mut bad)?,
        None => Vec::new(),
    };
    let input = Input {
        name: name.into(),
        path: path.into(),
        format,
        sha256,
        bytes: size,
        records: rows.len() + bad.len(),
    };
    Ok(FileRows { input, rows, bad })
}

/// The columns the mapping and the stratification read, each with what needs it.
fn wanted_columns<'a>(mapping: &'a Mapping, label: Option<&'a str>) -> Vec<(&'a str, String)> {
    let mut wanted: Vec<(&str, String)> = Vec::new();
    for (field, t) in mapping.templates() {
        for c in t.columns() {
            if !wanted.iter().any(|(w, _)| *w == c) {
                wanted.push((c, format!("mapping.{field}")));
            }
        }
    }
    if let Some(l) = label
        && !wanted.iter().any(|(w, _)| *w == l)
    {
        wanted.push((l, "split.stratify_by".into()));
    }
    wanted
}

/// Checks that every wanted column exists, then reads only those.
fn collect_columns(mut lf: LazyFrame, name: &str, wanted: &[(&str, String)]) -> Result<DataFrame> {
    let polars_err = |source| Error::Polars {
        file: name.into(),
        source,
    };
    let schema = lf.collect_schema().map_err(polars_err)?;
    if let Some((c, used_by)) = wanted.iter().find(|(c, _)| schema.get(c).is_none()) {
        return Err(Error::MissingColumn {
            file: name.into(),
            column: c.to_string(),
            used_by: used_by.clone(),
            available: schema
                .iter_names()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    lf.select(wanted.iter().map(|(c, _)| col(*c)).collect::<Vec<_>>())
        .collect()
        .map_err(polars_err)
}

fn text_scan(buffer: Vec<u8>, format: InputFormat) -> PolarsResult<LazyFrame> {
    let sources = ScanSources::Buffers(Arc::from([Buffer::from(buffer)]));
    let lf = if format == InputFormat::Csv {
        LazyCsvReader::new_with_sources(sources)
            .with_has_header(true)
            // Every column as text: a mapped column is text whatever it looks like.
            .with_infer_schema_length(Some(0))
            .finish()?
    } else {
        LazyJsonLineReader::new_with_sources(sources)
            .with_infer_schema_length(None)
            .finish()?
    };
    Ok(lf)
}

/// Turns the frame's rows into records, checking column types first.
fn map_rows(
    index: u32,
    name: &str,
    df: &DataFrame,
    lines: &[usize],
    mapping: &Mapping,
    label: Option<&str>,
    bad: &mut Vec<BadRow>,
) -> Result<Vec<Row>> {
    // Column name -> text values, each column checked and cast once.
    let mut columns: Vec<(String, StringChunked)> = Vec::new();
    for (c, _) in wanted_columns(mapping, label) {
        let col = df.column(c).map_err(|source| Error::Polars {
            file: name.into(),
            source,
        })?;
        let dtype = col.dtype();
        if !(dtype.is_primitive_numeric()
            || dtype.is_bool()
            || matches!(dtype, DataType::String | DataType::Null))
        {
            return Err(Error::ColumnType {
                file: name.into(),
                column: c.into(),
                dtype: dtype.to_string(),
            });
        }
        let text = col
            .cast(&DataType::String)
            .and_then(|s| s.str().cloned())
            .map_err(|source| Error::Polars {
                file: name.into(),
                source,
            })?;
        columns.push((c.to_string(), text));
    }
    let templates = mapping.templates();
    let content_columns: Vec<&str> = wanted_columns(mapping, None)
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let mut rows = Vec::with_capacity(df.height());
    for (i, &line) in lines.iter().enumerate().take(df.height()) {
        // Values are cleaned before templating, so a template's own spacing survives.
        let values: Vec<Option<Cow<str>>> = columns
            .iter()
            .map(|(_, ca)| ca.get(i).map(clean_text))
            .collect();
        let lookup = |c: &str| -> Option<&str> {
            columns
                .iter()
                .position(|(n, _)| n == c)
                .and_then(|p| values[p].as_deref())
        };
        // A template over an empty or missing value would hide the gap ("Classify: "),
        // so a blank mapped column drops the record, counted as empty.
        let blank = templates.iter().find_map(|(field, t)| {
            t.columns()
                .into_iter()
                .find(|c| lookup(c).is_none_or(str::is_empty))
                .map(|c| {
                    format!("empty {field}: column `{c}` is blank or missing (after cleaning)")
                })
        });
        if let Some(reason) = blank {
            bad.push(BadRow {
                file: index,
                line: line as u32,
                reason,
                category: "empty",
            });
            continue;
        }
        let render = |t: &crate::template::Template| t.render(|c| lookup(c).unwrap_or(""));
        let record = match mapping {
            Mapping::Completion { prompt, completion } => Record::Completion {
                prompt: render(prompt),
                completion: render(completion),
            },
            Mapping::Chat {
                system,
                user,
                assistant,
            } => Record::Chat {
                system: system.as_ref().map(render),
                turns: vec![
                    Turn {
                        role: Role::User,
                        content: render(user),
                    },
                    Turn {
                        role: Role::Assistant,
                        content: render(assistant),
                    },
                ],
            },
            Mapping::Text { text } => Record::Text { text: render(text) },
        };
        rows.push(Row {
            file: index,
            line: line as u32,
            record,
            label: label.and_then(&lookup).map(str::to_string),
            content: content_columns
                .iter()
                .map(|c| lookup(c).unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n"),
        });
    }
    Ok(rows)
}

/// Result of the pre-pass over a text file.
struct Scanned {
    /// Bytes for polars: the original (less a BOM), or only the good records.
    buffer: Vec<u8>,
    /// First line of every good record, in order.
    lines: Vec<usize>,
    /// `(line, reason)` of every bad record.
    bad: Vec<(usize, String)>,
}

fn strip_bom(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    bytes
}

fn utf8_problem(record: &[u8]) -> Option<String> {
    std::str::from_utf8(record)
        .err()
        .map(|e| format!("invalid UTF-8 at byte {} of the record", e.valid_up_to()))
}

/// Splits CSV bytes into records, quote-aware, and checks each against the header.
fn scan_csv(bytes: Vec<u8>) -> Scanned {
    let bytes = strip_bom(bytes);
    // (start byte, end byte exclusive without the newline, first line, field count)
    let mut records: Vec<(usize, usize, usize, usize)> = Vec::new();
    let mut bad = Vec::new();
    let (mut line, mut start, mut start_line, mut fields, mut quoted) =
        (1usize, 0usize, 1usize, 1usize, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if quoted {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    quoted = false;
                }
            } else if b == b'\n' {
                line += 1;
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == b',' {
            fields += 1;
        } else if b == b'\n' {
            let end = if i > start && bytes[i - 1] == b'\r' {
                i - 1
            } else {
                i
            };
            if end > start {
                records.push((start, end, start_line, fields));
            }
            line += 1;
            start = i + 1;
            start_line = line;
            fields = 1;
        }
        i += 1;
    }
    if quoted {
        bad.push((start_line, "a quoted field is never closed".to_string()));
    } else {
        let end = if bytes.len() > start && bytes[bytes.len() - 1] == b'\r' {
            bytes.len() - 1
        } else {
            bytes.len()
        };
        if end > start {
            records.push((start, end, start_line, fields));
        }
    }
    let Some(&(hs, he, _, header_fields)) = records.first() else {
        return Scanned {
            buffer: bytes,
            lines: vec![],
            bad,
        };
    };
    let mut lines = Vec::with_capacity(records.len());
    let mut good = Vec::with_capacity(records.len());
    if let Some(reason) = utf8_problem(&bytes[hs..he]) {
        bad.push((1, format!("header: {reason}")));
    }
    for &(s, e, l, f) in &records[1..] {
        let problem = if f != header_fields {
            Some(format!("has {f} fields, the header has {header_fields}"))
        } else {
            utf8_problem(&bytes[s..e])
        };
        match problem {
            Some(reason) => bad.push((l, reason)),
            None => {
                lines.push(l);
                good.push((s, e));
            }
        }
    }
    bad.sort_by_key(|(l, _)| *l);
    let buffer = if bad.is_empty() {
        bytes
    } else {
        let mut buf = Vec::with_capacity(bytes.len());
        buf.extend_from_slice(&bytes[hs..he]);
        buf.push(b'\n');
        for (s, e) in good {
            buf.extend_from_slice(&bytes[s..e]);
            buf.push(b'\n');
        }
        buf
    };
    Scanned { buffer, lines, bad }
}

/// Splits JSON Lines into records and checks each is one JSON object.
fn scan_jsonl(bytes: Vec<u8>) -> Scanned {
    let bytes = strip_bom(bytes);
    let mut spans = Vec::new();
    let mut start = 0;
    for (n, piece) in bytes.split(|&b| b == b'\n').enumerate() {
        let end = start + piece.len();
        let trimmed = piece.trim_ascii();
        if !trimmed.is_empty() {
            spans.push((n + 1, start, end));
        }
        start = end + 1;
    }
    let problems: Vec<Option<String>> = spans
        .par_iter()
        .map(|&(_, s, e)| {
            let rec = &bytes[s..e];
            if let Some(p) = utf8_problem(rec) {
                return Some(p);
            }
            if rec.trim_ascii_start().first() != Some(&b'{') {
                return Some("not a JSON object".into());
            }
            serde_json::from_slice::<serde::de::IgnoredAny>(rec)
                .err()
                .map(|e| {
                    format!(
                        "JSON syntax error at column {}: {}",
                        e.column(),
                        json_reason(&e)
                    )
                })
        })
        .collect();
    let mut lines = Vec::with_capacity(spans.len());
    let mut bad = Vec::new();
    for (&(l, _, _), p) in spans.iter().zip(&problems) {
        match p {
            Some(reason) => bad.push((l, reason.clone())),
            None => lines.push(l),
        }
    }
    let buffer = if bad.is_empty() {
        bytes
    } else {
        let mut buf = Vec::with_capacity(bytes.len());
        for (&(_, s, e), p) in spans.iter().zip(&problems) {
            if p.is_none() {
                buf.extend_from_slice(&bytes[s..e]);
                buf.push(b'\n');
            }
        }
        buf
    };
    Scanned { buffer, lines, bad }
}

/// serde_json's message without its " at line X column Y" tail (we give our own line).
fn json_reason(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.find(" at line ") {
        Some(at) => msg[..at].to_string(),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_count_quoted_newlines_and_flag_ragged_rows() {
        let s = scan_csv(b"\xEF\xBB\xBFtext,label\r\n\"a\nb\",x\r\nc,d,e\r\nf,g\r\n".to_vec());
        assert_eq!(s.lines, vec![2, 5]);
        assert_eq!(
            s.bad,
            vec![(4, "has 3 fields, the header has 2".to_string())]
        );
        assert_eq!(s.buffer, b"text,label\n\"a\nb\",x\nf,g\n".to_vec());
    }

    #[test]
    fn csv_invalid_utf8_and_open_quote_are_located() {
        let s = scan_csv(b"a,b\nok,\xff\xfe\n".to_vec());
        assert_eq!(s.bad.len(), 1);
        assert_eq!(s.bad[0].0, 2);
        assert!(s.bad[0].1.contains("invalid UTF-8"));
        let s = scan_csv(b"a,b\n\"open,x\n".to_vec());
        assert_eq!(
            s.bad,
            vec![(2, "a quoted field is never closed".to_string())]
        );
    }

    #[test]
    fn jsonl_syntax_errors_keep_their_line() {
        let s = scan_jsonl(b"{\"a\":1}\n\n{\"a\":\n[1]\n{\"a\":2}".to_vec());
        assert_eq!(s.lines, vec![1, 5]);
        assert_eq!(s.bad.len(), 2);
        assert_eq!(s.bad[0].0, 3);
        assert!(
            s.bad[0].1.starts_with("JSON syntax error"),
            "{}",
            s.bad[0].1
        );
        assert_eq!(s.bad[1], (4, "not a JSON object".to_string()));
    }
}
