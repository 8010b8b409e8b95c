//! Reading a suite's data file (JSONL, CSV or Parquet) into numbered records.

use super::*;

/// One record of a data file.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub(super) line: usize,
    pub(super) fields: Map<String, Value>,
}

/// Reads the records of a JSONL, CSV or Parquet file (by extension).
pub(super) fn read_records(path: &Path) -> Result<Vec<Record>> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("jsonl") | Some("ndjson") => read_jsonl(path),
        Some("csv") | Some("parquet") => read_table(path, ext.as_deref() == Some("csv")),
        _ => Err(ScoreError::input(
            Location::file(path),
            "unknown data format\nhint: use a .jsonl, .csv or .parquet file",
        )),
    }
}

pub(super) fn read_jsonl(path: &Path) -> Result<Vec<Record>> {
    let text = std::fs::read_to_string(path).map_err(|e| ScoreError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| {
            ScoreError::input(Location::line(path, line_no), format!("not JSON: {e}"))
        })?;
        let Value::Object(mut fields) = value else {
            return Err(ScoreError::input(
                Location::line(path, line_no),
                "each line must be a JSON object",
            ));
        };
        // A null field counts as missing, so templates that use it fail by name.
        fields.retain(|_, v| !v.is_null());
        out.push(Record {
            line: line_no,
            fields,
        });
    }
    Ok(out)
}

/// CSV (header line, every column read as text) or Parquet (scalar columns) through polars.
/// CSV records are numbered as record + 1 (the header is line 1), which is the file line
/// unless a quoted field spans lines; Parquet records by 1-based row.
pub(super) fn read_table(path: &Path, csv: bool) -> Result<Vec<Record>> {
    use polars::prelude::*;
    let polars_err = |e: PolarsError| ScoreError::input(Location::file(path), e.to_string());
    let df = if csv {
        CsvReadOptions::default()
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .map_err(polars_err)?
            .finish()
            .map_err(polars_err)?
    } else {
        let file = std::fs::File::open(path).map_err(|e| ScoreError::io(path, e))?;
        ParquetReader::new(file).finish().map_err(polars_err)?
    };
    let mut columns = Vec::with_capacity(df.width());
    for column in df.columns() {
        let dtype = column.dtype();
        if !(dtype.is_primitive_numeric()
            || dtype.is_bool()
            || matches!(dtype, DataType::String | DataType::Null))
        {
            return Err(ScoreError::input(
                Location::file(path).field(column.name().as_str()),
                format!("column type {dtype} is not supported (text, numbers and booleans are)"),
            ));
        }
        let text = column
            .cast(&DataType::String)
            .and_then(|c| c.str().cloned())
            .map_err(polars_err)?;
        columns.push((column.name().to_string(), text));
    }
    let offset = if csv { 2 } else { 1 };
    Ok((0..df.height())
        .map(|row| {
            let fields = columns
                .iter()
                .filter_map(|(name, values)| {
                    values
                        .get(row)
                        .map(|v| (name.clone(), Value::String(v.to_owned())))
                })
                .collect();
            Record {
                line: row + offset,
                fields,
            }
        })
        .collect())
}
