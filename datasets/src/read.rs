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
    /// `unreadable` (broken syntax or encoding), `empty` (a mapped field is empty) or
    /// `too_large` (over `data.max_record_bytes`).
    pub category: &'static str,
}

/// Records per chunk that [`read_file`] hands on: the unit the preparation steps work on.
pub const CHUNK_ROWS: usize = 8_192;

/// What one file gave, besides the records handed on.
pub struct FileRows {
    /// The file's description for the manifest.
    pub input: Input,
    /// Records that could not be read or were empty.
    pub bad: Vec<BadRow>,
}

/// Reads one file and maps its rows, handing the records to `on_rows` in order, in chunks
/// of at most [`CHUNK_ROWS`], as they are made: the file's records are never all held at
/// once.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
pub fn read_file(
    index: u32,
    name: &str,
    path: &Path,
    format: InputFormat,
    mapping: &Mapping,
    label: Option<&str>,
    max_record_bytes: u64,
    on_rows: &mut dyn FnMut(Vec<Row>) -> Result<()>,
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
            let header = scanned.header.map_err(|reason| Error::BadHeader {
                file: name.into(),
                reason,
            })?;
            if scanned.lines.is_empty() && scanned.bad.is_empty() {
                return Err(match header {
                    Some(h) => Error::NoRows {
                        file: name.into(),
                        columns: quoted_list(h.split(',').map(|c| c.trim().trim_matches('"'))),
                    },
                    None => Error::EmptyFile { file: name.into() },
                });
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
                let df = collect_columns(lf, name, &wanted)?;
                // Rows are matched to line numbers by position: a different count means the
                // two parsers cut the file differently, and rows would be lost or mislabelled.
                if df.height() != scanned.lines.len() {
                    return Err(Error::RecordCount {
                        file: name.into(),
                        expected: scanned.lines.len(),
                        parsed: df.height(),
                    });
                }
                Some(df)
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
                return Err(Error::NoRows {
                    file: name.into(),
                    columns: quoted_list(df.get_column_names().iter().map(|c| c.as_str())),
                });
            }
            let lines = (1..=df.height()).collect();
            (Some(df), lines, Vec::new())
        }
    };
    let rows = match df {
        Some(df) => map_rows(
            index,
            name,
            &df,
            &lines,
            mapping,
            label,
            max_record_bytes,
            &mut bad,
            on_rows,
        )?,
        None => 0,
    };
    let input = Input {
        name: name.into(),
        path: path.into(),
        format,
        sha256,
        bytes: size,
        records: rows + bad.len(),
    };
    Ok(FileRows { input, bad })
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

/// Turns the frame's rows into records, checking column types first. A row whose mapped
/// columns hold more than `max_record_bytes` is rejected here, before it is cleaned, so no
/// later step (PII scan, MinHash, tokenizer) ever works on it. Records go to `on_rows` in
/// chunks of [`CHUNK_ROWS`]; returns how many there were.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
fn map_rows(
    index: u32,
    name: &str,
    df: &DataFrame,
    lines: &[usize],
    mapping: &Mapping,
    label: Option<&str>,
    max_record_bytes: u64,
    bad: &mut Vec<BadRow>,
    on_rows: &mut dyn FnMut(Vec<Row>) -> Result<()>,
) -> Result<usize> {
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
    let mut chunk: Vec<Row> = Vec::with_capacity(CHUNK_ROWS.min(df.height()));
    let mut count = 0;
    for (i, &line) in lines.iter().enumerate().take(df.height()) {
        let size: u64 = columns
            .iter()
            .map(|(_, ca)| ca.get(i).map_or(0, |v| v.len() as u64))
            .sum();
        if size > max_record_bytes {
            bad.push(BadRow {
                file: index,
                line: line as u32,
                reason: format!(
                    "the record's mapped columns hold {size} bytes, over data.max_record_bytes = {max_record_bytes}"
                ),
                category: "too_large",
            });
            continue;
        }
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
            Mapping::Prompt {
                system,
                user,
                reference_answer,
                fields,
            } => Record::Prompt {
                system: system.as_ref().map(render),
                turns: vec![Turn {
                    role: Role::User,
                    content: render(user),
                }],
                reference_answer: render(reference_answer),
                fields: fields.iter().map(|(n, t)| (n.clone(), render(t))).collect(),
            },
        };
        let row = Row {
            file: index,
            line: line as u32,
            record,
            label: label.and_then(&lookup).map(str::to_string),
            content: content_columns
                .iter()
                .map(|c| lookup(c).unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        chunk.push(row);
        count += 1;
        if chunk.len() == CHUNK_ROWS {
            let next = Vec::with_capacity(CHUNK_ROWS.min(df.height() - i - 1));
            on_rows(std::mem::replace(&mut chunk, next))?;
        }
    }
    if !chunk.is_empty() {
        on_rows(chunk)?;
    }
    Ok(count)
}

/// Result of the pre-pass over a text file.
struct Scanned {
    /// Bytes for polars: the original (less a BOM), or only the good records.
    buffer: Vec<u8>,
    /// First line of every good record, in order.
    lines: Vec<usize>,
    /// `(line, reason)` of every bad record.
    bad: Vec<(usize, String)>,
    /// CSV: the header line (`None` when the file has no line at all), or why the first
    /// line cannot be one. JSON Lines: always `Ok(None)`.
    header: std::result::Result<Option<String>, String>,
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

/// Column names as a message lists them: `` `a`, `b` ``.
fn quoted_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One CSV record found by [`csv_record`].
struct CsvRecord {
    /// End byte (exclusive), without the newline and a `\r` before it.
    end: usize,
    /// Where the next record starts.
    next: usize,
    /// Newlines inside quoted fields: the record spans this many lines more than one.
    inner_lines: usize,
    /// Fields, counting only separators outside quotes.
    fields: usize,
    /// False when the file ends inside a quoted field.
    closed: bool,
}

/// The record that starts at byte `start`. Every `"` toggles quoting, as polars' own line
/// splitter does, so both cut the file into the same records.
fn csv_record(bytes: &[u8], start: usize) -> CsvRecord {
    let (mut inner_lines, mut fields, mut quoted) = (0, 1, false);
    let trim_cr = |end: usize| {
        if end > start && bytes[end - 1] == b'\r' {
            end - 1
        } else {
            end
        }
    };
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => fields += 1,
            b'\n' if quoted => inner_lines += 1,
            b'\n' => {
                return CsvRecord {
                    end: trim_cr(i),
                    next: i + 1,
                    inner_lines,
                    fields,
                    closed: true,
                };
            }
            _ => {}
        }
    }
    CsvRecord {
        end: trim_cr(bytes.len()),
        next: bytes.len(),
        inner_lines,
        fields,
        closed: !quoted,
    }
}

/// Splits CSV bytes into records, quote-aware, and checks each against the header.
///
/// A stray quote (an unterminated quoted field) would make the rest of the file, or every
/// line up to the next stray quote, one long record. So a record that never closes, or that
/// spans several lines and has the wrong number of fields, costs only its first line: that
/// line is reported bad and scanning starts again on the next line. Every non-blank line is
/// thus either part of a record that is read or reported bad under its own line number.
fn scan_csv(bytes: Vec<u8>) -> Scanned {
    let bytes = strip_bom(bytes);
    // (start byte, end byte exclusive without the newline, first line, field count)
    let mut records: Vec<(usize, usize, usize, usize)> = Vec::new();
    let mut bad = Vec::new();
    let (mut pos, mut line) = (0usize, 1usize);
    while pos < bytes.len() {
        let r = csv_record(&bytes, pos);
        let header_fields = records.first().map(|h| h.3);
        let broken = if !r.closed {
            Some("a quoted field is never closed".to_string())
        } else if r.inner_lines > 0 && header_fields.is_some_and(|h| h != r.fields) {
            Some(format!(
                "a quoted field runs over lines {line}-{} and leaves {} fields, the header has {}: probably a quote that is never closed (the lines after this one are read again)",
                line + r.inner_lines,
                r.fields,
                header_fields.unwrap_or_default()
            ))
        } else {
            None
        };
        if let Some(reason) = broken {
            if records.is_empty() {
                return Scanned {
                    buffer: Vec::new(),
                    lines: vec![],
                    bad: vec![],
                    header: Err(reason),
                };
            }
            bad.push((line, reason));
            match bytes[pos..].iter().position(|&b| b == b'\n') {
                Some(n) => {
                    pos += n + 1;
                    line += 1;
                    continue;
                }
                None => break,
            }
        }
        if r.end > pos {
            records.push((pos, r.end, line, r.fields));
        }
        pos = r.next;
        line += r.inner_lines + 1;
    }
    let Some(&(hs, he, _, header_fields)) = records.first() else {
        return Scanned {
            buffer: bytes,
            lines: vec![],
            bad,
            header: Ok(None),
        };
    };
    let header = Ok(Some(String::from_utf8_lossy(&bytes[hs..he]).into_owned()));
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
    Scanned {
        buffer,
        lines,
        bad,
        header,
    }
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
    Scanned {
        buffer,
        lines,
        bad,
        header: Ok(None),
    }
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
    fn csv_stray_quote_costs_its_line_and_the_lines_after_are_read_again() {
        let s = scan_csv(b"a,b\n\"open,x\nc,d\ne,f\n".to_vec());
        assert_eq!(s.lines, vec![3, 4]);
        assert_eq!(
            s.bad,
            vec![(2, "a quoted field is never closed".to_string())]
        );
        assert_eq!(s.buffer, b"a,b\nc,d\ne,f\n".to_vec());
        // Two stray quotes enclose lines that do not add up to a record: every line is
        // either read or reported.
        let s = scan_csv(b"a,b\nx,\"stray\nc,d\ny\",z,extra\ne,f\n".to_vec());
        assert_eq!(s.lines, vec![3, 5]);
        assert_eq!(s.bad.iter().map(|b| b.0).collect::<Vec<_>>(), vec![2, 4]);
        assert!(s.bad[0].1.contains("lines 2-4"), "{}", s.bad[0].1);
        // A header that never closes its quote is no header.
        assert!(scan_csv(b"\"a,b\nc,d\n".to_vec()).header.is_err());
        assert_eq!(
            scan_csv(b"a,b\n".to_vec()).header,
            Ok(Some("a,b".to_string()))
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
