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
//! A file is never held whole: it is read a stretch at a time (see [`FileReader`]); the
//! pre-pass carries its line count and the CSV header from one stretch to the next, and a
//! record cut by the end of a stretch waits for the next read. Parquet is read a slice of
//! rows at a time.
//!
//! Column values are cleaned (see [`crate::clean`]) before templates are rendered, so a
//! template's own whitespace (`completion = " {label}"`) is kept as written.

use std::borrow::Cow;
use std::io::Read;
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

/// Records and unreadable rows of one stretch of a file, handed on as the file is read: the
/// unit the preparation steps work on.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Records made, in input order.
    pub rows: Vec<Row>,
    /// Rows of the same stretch that could not become records, in line order.
    pub bad: Vec<BadRow>,
}

/// How one file is read: what to make of its rows and how much of it to hold at a time.
pub struct FileReader<'a> {
    /// Columns to records.
    pub mapping: &'a Mapping,
    /// The stratification column.
    pub label: Option<&'a str>,
    /// Rows whose mapped columns hold more are rejected as `too_large`.
    pub max_record_bytes: u64,
    /// Input bytes read, parsed and handed on at a time (Parquet: rows of about that size).
    pub chunk_bytes: usize,
    /// The longest single text record the reader will hold; a longer one (in practice a
    /// quote that is never closed, which runs to the end of the file) fails the run.
    pub max_pending_bytes: usize,
}

/// Bytes read from a text file at least per `read` call.
const MIN_READ: usize = 64 << 10;

impl FileReader<'_> {
    /// Reads one file and maps its rows, handing them to `on_chunk` in input order, one
    /// stretch of about `chunk_bytes` at a time: the file is never held whole, neither as
    /// bytes nor as a frame. Returns the file's description for the manifest.
    pub fn read(
        &self,
        index: u32,
        name: &str,
        path: &Path,
        format: InputFormat,
        on_chunk: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<Input> {
        let (sha256, bytes, records) = match format {
            InputFormat::Csv | InputFormat::Jsonl => {
                self.read_text(index, name, path, format, on_chunk)?
            }
            InputFormat::Parquet | InputFormat::Auto => {
                self.read_parquet(index, name, path, on_chunk)?
            }
        };
        Ok(Input {
            name: name.into(),
            path: path.into(),
            format,
            sha256,
            bytes,
            records,
        })
    }

    /// CSV or JSON Lines, in stretches: read bytes, cut them into whole records with the
    /// pre-pass (a record cut by the end of the stretch waits for the next read), parse the
    /// good ones with polars, map them. Returns (sha256, size, records read).
    fn read_text(
        &self,
        index: u32,
        name: &str,
        path: &Path,
        format: InputFormat,
        on_chunk: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<(String, u64, usize)> {
        let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut hash = Sha256::new();
        let (mut size, mut records) = (0u64, 0usize);
        let mut scanner = Scanner::new(format);
        let mut columns = SeenColumns::default();
        let mut buf: Vec<u8> = Vec::new();
        let (mut eof, mut bom_checked) = (false, false);
        let mut want = self.chunk_bytes.max(MIN_READ);
        loop {
            if !eof && buf.len() < want {
                // `take(..).read_to_end` stops at the limit or at the end of the file.
                let (start, limit) = (buf.len(), (want - buf.len()).max(MIN_READ));
                let n = Read::by_ref(&mut file)
                    .take(limit as u64)
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::io(path, e))?;
                hash.update(&buf[start..]);
                size += n as u64;
                eof = n < limit;
            }
            if !bom_checked && (buf.len() >= BOM.len() || eof) {
                buf.drain(..bom_len(&buf));
                bom_checked = true;
            }
            let part = scanner.scan(&buf, eof).map_err(|reason| Error::BadHeader {
                file: name.into(),
                reason,
            })?;
            if part.consumed == 0 && !eof {
                // One record runs past everything held: read more of it, up to the cap.
                if buf.len() >= self.max_pending_bytes {
                    return Err(Error::RecordTooLong {
                        file: name.into(),
                        line: scanner.line(),
                        bytes: buf.len() as u64,
                    });
                }
                want = (buf.len() * 2).min(self.max_pending_bytes.max(buf.len() + 1));
                continue;
            }
            want = self.chunk_bytes.max(MIN_READ);
            let chunk =
                self.parse_part(index, name, format, &buf, &part, &scanner, &mut columns)?;
            records += chunk.rows.len() + chunk.bad.len();
            if !chunk.rows.is_empty() || !chunk.bad.is_empty() {
                on_chunk(chunk)?;
            }
            buf.drain(..part.consumed);
            if eof {
                break;
            }
        }
        if scanner.records == 0 {
            return Err(match scanner.header_text() {
                Some(h) => Error::NoRows {
                    file: name.into(),
                    columns: quoted_list(h.split(',').map(|c| c.trim().trim_matches('"'))),
                },
                None => Error::EmptyFile { file: name.into() },
            });
        }
        columns.check(name, &wanted_columns(self.mapping, self.label))?;
        Ok((hex::encode(hash.finalize()), size, records))
    }

    /// The good records of one scanned stretch through polars and the mapping, with the bad
    /// ones beside them.
    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    fn parse_part(
        &self,
        index: u32,
        name: &str,
        format: InputFormat,
        bytes: &[u8],
        part: &Part,
        scanner: &Scanner,
        columns: &mut SeenColumns,
    ) -> Result<Chunk> {
        let mut bad: Vec<BadRow> = part
            .bad
            .iter()
            .map(|(line, reason)| BadRow {
                file: index,
                line: *line as u32,
                reason: reason.clone(),
                category: "unreadable",
            })
            .collect();
        if part.good.is_empty() {
            return Ok(Chunk {
                rows: Vec::new(),
                bad,
            });
        }
        let buffer = polars_buffer(scanner.header_bytes(), bytes, &part.good);
        let lf = text_scan(buffer, format).map_err(|source| Error::Polars {
            file: name.into(),
            source,
        })?;
        let wanted = wanted_columns(self.mapping, self.label);
        let df = if format == InputFormat::Jsonl {
            // A JSON key may be missing from every line of one stretch and present in the
            // next: absent here means null here; absent from the whole file is an error
            // (checked at its end).
            columns.collect(lf, name, &wanted)?
        } else {
            collect_columns(lf, name, &wanted)?
        };
        // Rows are matched to line numbers by position: a different count means the two
        // parsers cut the file differently, and rows would be lost or mislabelled.
        if df.height() != part.good.len() {
            return Err(Error::RecordCount {
                file: name.into(),
                expected: part.good.len(),
                parsed: df.height(),
            });
        }
        let lines: Vec<usize> = part.good.iter().map(|g| g.2).collect();
        let rows = self.map_rows(index, name, &df, &lines, &mut bad)?;
        bad.sort_by_key(|b| b.line);
        Ok(Chunk { rows, bad })
    }

    /// Parquet, a slice of rows at a time (polars reads only the row groups a slice needs).
    /// Returns (sha256, size, records read).
    fn read_parquet(
        &self,
        index: u32,
        name: &str,
        path: &Path,
        on_chunk: &mut dyn FnMut(Chunk) -> Result<()>,
    ) -> Result<(String, u64, usize)> {
        let sha256 = tunebench_core::fs::sha256_file(path).map_err(|e| Error::io(path, e))?;
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        let polars_err = |source| Error::Polars {
            file: name.into(),
            source,
        };
        let lf = LazyFrame::scan_parquet(
            PlRefPath::new(path.to_string_lossy().as_ref()),
            Default::default(),
        )
        .map_err(polars_err)?;
        let wanted = wanted_columns(self.mapping, self.label);
        let total = lf
            .clone()
            .select([len()])
            .collect()
            .and_then(|df| {
                let n = df.columns()[0].idx()?.get(0).unwrap_or(0);
                Ok(n as usize)
            })
            .map_err(polars_err)?;
        if total == 0 {
            let df = collect_columns(lf, name, &wanted)?;
            return Err(Error::NoRows {
                file: name.into(),
                columns: quoted_list(df.get_column_names().iter().map(|c| c.as_str())),
            });
        }
        let per_row = (size as usize / total).max(1);
        let step = (self.chunk_bytes / per_row).max(1024);
        let mut records = 0;
        for offset in (0..total).step_by(step) {
            let n = step.min(total - offset);
            let df = collect_columns(lf.clone().slice(offset as i64, n as IdxSize), name, &wanted)?;
            let lines: Vec<usize> = (offset + 1..=offset + df.height()).collect();
            let mut bad = Vec::new();
            let rows = self.map_rows(index, name, &df, &lines, &mut bad)?;
            records += rows.len() + bad.len();
            on_chunk(Chunk { rows, bad })?;
        }
        Ok((sha256, size, records))
    }
}

/// The keys a JSON Lines file has shown so far, in order of first sight, so that a wanted
/// key absent from one stretch reads as null there and one absent from the whole file is
/// refused, naming the keys the file does have.
#[derive(Default)]
struct SeenColumns {
    names: Vec<String>,
}

impl SeenColumns {
    /// Reads the wanted columns of one stretch, null where a key is absent from it.
    fn collect(
        &mut self,
        mut lf: LazyFrame,
        name: &str,
        wanted: &[(&str, String)],
    ) -> Result<DataFrame> {
        let polars_err = |source| Error::Polars {
            file: name.into(),
            source,
        };
        let schema = lf.collect_schema().map_err(polars_err)?;
        for n in schema.iter_names() {
            if !self.names.iter().any(|s| s == n.as_str()) {
                self.names.push(n.to_string());
            }
        }
        lf.select(
            wanted
                .iter()
                .map(|(c, _)| match schema.get(c) {
                    Some(_) => col(*c),
                    None => lit(NULL).cast(DataType::String).alias(*c),
                })
                .collect::<Vec<_>>(),
        )
        .collect()
        .map_err(polars_err)
    }

    /// Refuses a wanted column no stretch had.
    fn check(&self, name: &str, wanted: &[(&str, String)]) -> Result<()> {
        if self.names.is_empty() {
            // A CSV file: its header was checked with the first stretch.
            return Ok(());
        }
        match wanted
            .iter()
            .find(|(c, _)| !self.names.iter().any(|n| n == c))
        {
            Some((c, used_by)) => Err(Error::MissingColumn {
                file: name.into(),
                column: c.to_string(),
                used_by: used_by.clone(),
                available: quoted_list(self.names.iter().map(String::as_str)),
            }),
            None => Ok(()),
        }
    }
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

impl FileReader<'_> {
    /// Turns a frame's rows (`lines`: each row's line) into records, checking column types
    /// first. A row whose mapped columns hold more than `max_record_bytes` is rejected here,
    /// before it is cleaned, so no later step (PII scan, MinHash, tokenizer) ever works on
    /// it; rows that cannot become records go to `bad`.
    fn map_rows(
        &self,
        index: u32,
        name: &str,
        df: &DataFrame,
        lines: &[usize],
        bad: &mut Vec<BadRow>,
    ) -> Result<Vec<Row>> {
        let (mapping, label, max_record_bytes) = (self.mapping, self.label, self.max_record_bytes);
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
        // Rows are mapped in parallel (cleaning and templating are most of the read step's
        // work), then kept in their order.
        let mapped: Vec<std::result::Result<Row, BadRow>> = (0..df.height().min(lines.len()))
            .into_par_iter()
            .map(|i| {
            let line = lines[i];
            let size: u64 = columns
                .iter()
                .map(|(_, ca)| ca.get(i).map_or(0, |v| v.len() as u64))
                .sum();
            if size > max_record_bytes {
                return Err(BadRow {
                file: index,
                line: line as u32,
                reason: format!(
                    "the record's mapped columns hold {size} bytes, over data.max_record_bytes = {max_record_bytes}"
                ),
                category: "too_large",
            });
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
                return Err(BadRow {
                    file: index,
                    line: line as u32,
                    reason,
                    category: "empty",
                });
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
            Ok(row)
            })
            .collect();
        let mut rows: Vec<Row> = Vec::with_capacity(mapped.len());
        for m in mapped {
            match m {
                Ok(row) => rows.push(row),
                Err(b) => bad.push(b),
            }
        }
        Ok(rows)
    }
}

/// What the pre-pass found in one stretch of a text file.
#[derive(Debug, Default)]
struct Part {
    /// Bytes of the stretch that are done with; the rest starts a record cut off by the end
    /// of what was read, and waits for more.
    consumed: usize,
    /// `(start byte, end byte, first line)` of every good record, in order.
    good: Vec<(usize, usize, usize)>,
    /// `(line, reason)` of every bad record, in line order.
    bad: Vec<(usize, String)>,
}

/// The line-by-line pre-pass over a text file, fed one stretch at a time; it carries the
/// line count (and, for CSV, the header) from one stretch to the next.
struct Scanner {
    kind: ScanKind,
    /// Records found so far (good or bad).
    records: usize,
}

enum ScanKind {
    Csv(CsvScanner),
    Jsonl {
        /// Lines done.
        line: usize,
    },
}

impl Scanner {
    fn new(format: InputFormat) -> Self {
        let kind = match format {
            InputFormat::Csv => ScanKind::Csv(CsvScanner {
                line: 1,
                header: None,
            }),
            _ => ScanKind::Jsonl { line: 0 },
        };
        Scanner { kind, records: 0 }
    }

    /// Cuts `bytes` (which start where the last stretch's consumed bytes ended) into
    /// records. Unless `eof`, a record the bytes end inside is left for the next call.
    /// Fails only on a CSV header that cannot be one.
    fn scan(&mut self, bytes: &[u8], eof: bool) -> std::result::Result<Part, String> {
        let part = match &mut self.kind {
            ScanKind::Csv(s) => s.scan(bytes, eof)?,
            ScanKind::Jsonl { line } => scan_jsonl(bytes, eof, line),
        };
        self.records += part.good.len() + part.bad.len();
        Ok(part)
    }

    /// The line the next record starts on.
    fn line(&self) -> usize {
        match &self.kind {
            ScanKind::Csv(s) => s.line,
            ScanKind::Jsonl { line } => *line + 1,
        }
    }

    /// The CSV header's bytes, which every stretch handed to polars starts with.
    fn header_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            ScanKind::Csv(CsvScanner {
                header: Some(h), ..
            }) => Some(&h.bytes),
            _ => None,
        }
    }

    /// The CSV header as text, once found.
    fn header_text(&self) -> Option<String> {
        self.header_bytes()
            .map(|h| String::from_utf8_lossy(h).into_owned())
    }
}

/// The UTF-8 byte-order mark, which a text file may start with.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Bytes of a byte-order mark at the start of `bytes` (0 or 3).
fn bom_len(bytes: &[u8]) -> usize {
    if bytes.starts_with(&BOM) {
        BOM.len()
    } else {
        0
    }
}

/// What polars parses for one stretch: the CSV header (if any), then the good records,
/// each ended by a newline.
fn polars_buffer(header: Option<&[u8]>, bytes: &[u8], good: &[(usize, usize, usize)]) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(good.last().map_or(0, |g| g.1) + 256);
    for record in header
        .into_iter()
        .chain(good.iter().map(|&(s, e, _)| &bytes[s..e]))
    {
        buffer.extend_from_slice(record);
        buffer.push(b'\n');
    }
    buffer
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
    /// False when the bytes end inside a quoted field.
    closed: bool,
    /// True when the record ends with a newline (rather than with the bytes).
    ended: bool,
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
                    ended: true,
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
        ended: false,
    }
}

/// The CSV header, once found.
struct CsvHeader {
    bytes: Vec<u8>,
    fields: usize,
}

/// The CSV pre-pass: splits records, quote-aware, and checks each against the header.
///
/// A stray quote (an unterminated quoted field) would make the rest of the file, or every
/// line up to the next stray quote, one long record. So a record that never closes, or that
/// spans several lines and has the wrong number of fields, costs only its first line: that
/// line is reported bad and scanning starts again on the next line. Every non-blank line is
/// thus either part of a record that is read or reported bad under its own line number.
struct CsvScanner {
    /// The line the next record starts on.
    line: usize,
    header: Option<CsvHeader>,
}

impl CsvScanner {
    fn scan(&mut self, bytes: &[u8], eof: bool) -> std::result::Result<Part, String> {
        let mut part = Part::default();
        let mut pos = 0;
        while pos < bytes.len() {
            let r = csv_record(bytes, pos);
            if !r.ended && !eof {
                break;
            }
            let header_fields = self.header.as_ref().map(|h| h.fields);
            let broken = if !r.closed {
                Some("a quoted field is never closed".to_string())
            } else if r.inner_lines > 0 && header_fields.is_some_and(|h| h != r.fields) {
                Some(format!(
                    "a quoted field runs over lines {}-{} and leaves {} fields, the header has {}: probably a quote that is never closed (the lines after this one are read again)",
                    self.line,
                    self.line + r.inner_lines,
                    r.fields,
                    header_fields.unwrap_or_default()
                ))
            } else {
                None
            };
            if let Some(reason) = broken {
                if self.header.is_none() {
                    return Err(reason);
                }
                part.bad.push((self.line, reason));
                match bytes[pos..].iter().position(|&b| b == b'\n') {
                    Some(n) => {
                        pos += n + 1;
                        self.line += 1;
                        continue;
                    }
                    None => {
                        pos = bytes.len();
                        break;
                    }
                }
            }
            if r.end > pos {
                let record = &bytes[pos..r.end];
                match header_fields {
                    None => {
                        if let Some(reason) = utf8_problem(record) {
                            part.bad.push((1, format!("header: {reason}")));
                        }
                        self.header = Some(CsvHeader {
                            bytes: record.to_vec(),
                            fields: r.fields,
                        });
                    }
                    Some(h) => {
                        let problem = if r.fields != h {
                            Some(format!("has {} fields, the header has {h}", r.fields))
                        } else {
                            utf8_problem(record)
                        };
                        match problem {
                            Some(reason) => part.bad.push((self.line, reason)),
                            None => part.good.push((pos, r.end, self.line)),
                        }
                    }
                }
            }
            pos = r.next;
            self.line += r.inner_lines + 1;
        }
        part.consumed = pos;
        part.bad.sort_by_key(|(l, _)| *l);
        Ok(part)
    }
}

/// The JSON Lines pre-pass over one stretch: splits lines and checks each is one JSON
/// object. `line` is the number of lines before the stretch, and is moved on.
fn scan_jsonl(bytes: &[u8], eof: bool, line: &mut usize) -> Part {
    let mut spans = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let end = match bytes[pos..].iter().position(|&b| b == b'\n') {
            Some(n) => pos + n,
            None if eof => bytes.len(),
            None => break,
        };
        *line += 1;
        if !bytes[pos..end].trim_ascii().is_empty() {
            spans.push((*line, pos, end));
        }
        pos = (end + 1).min(bytes.len());
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
    let mut part = Part {
        consumed: pos,
        ..Part::default()
    };
    for ((l, s, e), p) in spans.into_iter().zip(problems) {
        match p {
            Some(reason) => part.bad.push((l, reason)),
            None => part.good.push((s, e, l)),
        }
    }
    part
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

    /// What the pre-pass finds in a whole file: (good lines, bad lines, what polars gets,
    /// the header or why there is none).
    type Scanned = (
        Vec<usize>,
        Vec<(usize, String)>,
        Vec<u8>,
        std::result::Result<Option<String>, String>,
    );

    fn scan_all(format: InputFormat, bytes: &[u8]) -> Scanned {
        let bytes = &bytes[bom_len(bytes)..];
        let mut scanner = Scanner::new(format);
        match scanner.scan(bytes, true) {
            Ok(part) => (
                part.good.iter().map(|g| g.2).collect(),
                part.bad,
                polars_buffer(scanner.header_bytes(), bytes, &part.good),
                Ok(scanner.header_text()),
            ),
            Err(e) => (vec![], vec![], vec![], Err(e)),
        }
    }

    fn scan_csv(bytes: &[u8]) -> Scanned {
        scan_all(InputFormat::Csv, bytes)
    }

    #[test]
    fn csv_lines_count_quoted_newlines_and_flag_ragged_rows() {
        let s = scan_csv(b"\xEF\xBB\xBFtext,label\r\n\"a\nb\",x\r\nc,d,e\r\nf,g\r\n");
        assert_eq!(s.0, vec![2, 5]);
        assert_eq!(s.1, vec![(4, "has 3 fields, the header has 2".to_string())]);
        assert_eq!(s.2, b"text,label\n\"a\nb\",x\nf,g\n");
    }

    #[test]
    fn csv_invalid_utf8_and_open_quote_are_located() {
        let s = scan_csv(b"a,b\nok,\xff\xfe\n");
        assert_eq!(s.1.len(), 1);
        assert_eq!(s.1[0].0, 2);
        assert!(s.1[0].1.contains("invalid UTF-8"));
        let s = scan_csv(b"a,b\n\"open,x\n");
        assert_eq!(s.1, vec![(2, "a quoted field is never closed".to_string())]);
    }

    #[test]
    fn csv_stray_quote_costs_its_line_and_the_lines_after_are_read_again() {
        let s = scan_csv(b"a,b\n\"open,x\nc,d\ne,f\n");
        assert_eq!(s.0, vec![3, 4]);
        assert_eq!(s.1, vec![(2, "a quoted field is never closed".to_string())]);
        assert_eq!(s.2, b"a,b\nc,d\ne,f\n");
        // Two stray quotes enclose lines that do not add up to a record: every line is
        // either read or reported.
        let s = scan_csv(b"a,b\nx,\"stray\nc,d\ny\",z,extra\ne,f\n");
        assert_eq!(s.0, vec![3, 5]);
        assert_eq!(s.1.iter().map(|b| b.0).collect::<Vec<_>>(), vec![2, 4]);
        assert!(s.1[0].1.contains("lines 2-4"), "{}", s.1[0].1);
        // A header that never closes its quote is no header.
        assert!(scan_csv(b"\"a,b\nc,d\n").3.is_err());
        assert_eq!(scan_csv(b"a,b\n").3, Ok(Some("a,b".to_string())));
    }

    #[test]
    fn jsonl_syntax_errors_keep_their_line() {
        let s = scan_all(InputFormat::Jsonl, b"{\"a\":1}\n\n{\"a\":\n[1]\n{\"a\":2}");
        assert_eq!(s.0, vec![1, 5]);
        assert_eq!(s.1.len(), 2);
        assert_eq!(s.1[0].0, 3);
        assert!(s.1[0].1.starts_with("JSON syntax error"), "{}", s.1[0].1);
        assert_eq!(s.1[1], (4, "not a JSON object".to_string()));
    }

    /// Fed in stretches of `k` bytes, as `FileReader` reads a file, the pre-pass finds what
    /// it finds in one go.
    fn scan_in_pieces(
        format: InputFormat,
        bytes: &[u8],
        k: usize,
    ) -> (Vec<usize>, Vec<(usize, String)>) {
        let mut scanner = Scanner::new(format);
        let (mut buf, mut fed) = (Vec::new(), 0);
        let (mut lines, mut bad) = (Vec::new(), Vec::new());
        loop {
            let n = k.min(bytes.len() - fed);
            buf.extend_from_slice(&bytes[fed..fed + n]);
            fed += n;
            let eof = fed == bytes.len();
            let part = scanner.scan(&buf, eof).unwrap();
            lines.extend(part.good.iter().map(|g| g.2));
            bad.extend(part.bad);
            buf.drain(..part.consumed);
            if eof {
                assert!(buf.is_empty());
                return (lines, bad);
            }
        }
    }

    #[test]
    fn stretch_boundaries_do_not_change_what_the_pre_pass_finds() {
        let cases: [(InputFormat, &[u8]); 4] = [
            (
                InputFormat::Csv,
                b"text,label\r\n\"a\nb\",x\r\nc,d,e\r\nf,g\r\n\r\nh,i",
            ),
            (
                InputFormat::Csv,
                b"a,b\nx,\"stray\nc,d\ny\",z,extra\ne,f\n\"open,x\nk,l\n",
            ),
            (InputFormat::Csv, b"a,b\nok,\xff\xfe\nfine,row\n"),
            (InputFormat::Jsonl, b"{\"a\":1}\n\n{\"a\":\n[1]\n{\"a\":2}"),
        ];
        for (format, bytes) in cases {
            let (lines, bad, _, _) = scan_all(format, bytes);
            assert!(!lines.is_empty() && !bad.is_empty());
            for k in 1..=bytes.len() {
                assert_eq!(
                    scan_in_pieces(format, bytes, k),
                    (lines.clone(), bad.clone()),
                    "stretches of {k}"
                );
            }
        }
    }
}
