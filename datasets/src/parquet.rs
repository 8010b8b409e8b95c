//! Parquet output for the local target: one column per field (`prompt`/`completion`,
//! `messages` as JSON text (chats and RFT prompts), or `text`), written with polars, a row
//! group at a time.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::record::Record;
use crate::write::Written;
use crate::{Error, Result};

/// Rows per row group: polars' own default, so a split of up to this many rows is written
/// exactly as one `ParquetWriter::finish` call writes it.
const ROW_GROUP: usize = 512 * 512;

/// One split's Parquet file, written as records arrive: they are held until a row group is
/// full, then written out.
pub struct ParquetFile {
    path: PathBuf,
    writer: Option<polars::io::parquet::write::BatchedWriter<File>>,
    pending: Vec<Record>,
    records: usize,
}

impl ParquetFile {
    /// Starts `path` (created on the first row group).
    pub fn create(path: &Path) -> Result<Self> {
        Ok(ParquetFile {
            path: path.into(),
            writer: None,
            pending: Vec::new(),
            records: 0,
        })
    }

    /// Adds a record.
    pub fn push(&mut self, r: Record) -> Result<()> {
        self.pending.push(r);
        self.records += 1;
        if self.pending.len() == ROW_GROUP {
            self.write_group()?;
        }
        Ok(())
    }

    /// Records added.
    pub fn records(&self) -> usize {
        self.records
    }

    fn polars_err(&self, source: PolarsError) -> Error {
        Error::Polars {
            file: self.path.display().to_string(),
            source,
        }
    }

    fn write_group(&mut self) -> Result<()> {
        let df = records_frame(self.pending.drain(..).as_slice())?;
        if self.writer.is_none() {
            let file = File::create(&self.path).map_err(|e| Error::io(&self.path, e))?;
            let w = ParquetWriter::new(file)
                .batched(df.schema())
                .map_err(|e| self.polars_err(e))?;
            self.writer = Some(w);
        }
        if let Some(w) = &mut self.writer {
            w.write_batch(&df).map_err(|source| Error::Polars {
                file: self.path.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }

    /// Writes what is pending (an empty split still gets its columns) and closes the file.
    pub fn finish(mut self) -> Result<Written> {
        if !self.pending.is_empty() || self.writer.is_none() {
            self.write_group()?;
        }
        if let Some(w) = &self.writer {
            w.finish().map_err(|e| self.polars_err(e))?;
        }
        drop(self.writer.take());
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        let bytes = file.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        let sha256 =
            tunebench_core::fs::sha256_file(&self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(Written {
            path: self.path.clone(),
            sha256,
            bytes,
        })
    }
}

/// Records as a frame of the output's columns.
fn records_frame(records: &[Record]) -> Result<DataFrame> {
    let mut prompt = Vec::new();
    let mut completion = Vec::new();
    let mut messages = Vec::new();
    let mut text = Vec::new();
    for r in records {
        match r {
            Record::Completion {
                prompt: p,
                completion: c,
            } => {
                prompt.push(p.as_str());
                completion.push(c.as_str());
            }
            Record::Chat { .. } | Record::Prompt { .. } => messages.push(serde_json::to_string(r)?),
            Record::Text { text: t } => text.push(t.as_str()),
        }
    }
    let columns: Vec<Column> = if !messages.is_empty() {
        vec![Column::new("messages".into(), messages)]
    } else if !text.is_empty() {
        vec![Column::new("text".into(), text)]
    } else {
        vec![
            Column::new("prompt".into(), prompt),
            Column::new("completion".into(), completion),
        ]
    };
    let polars_err = |source| Error::Polars {
        file: "parquet output".into(),
        source,
    };
    DataFrame::new_infer_height(columns).map_err(polars_err)
}
