//! Parquet output for the local target: one column per field (`prompt`/`completion`,
//! `messages` as JSON text (chats and RFT prompts), or `text`), written with polars.

use polars::prelude::*;

use crate::record::Record;
use crate::{Error, Result};

/// Records of one split as Parquet bytes.
pub fn records_to_parquet<'a>(records: impl Iterator<Item = &'a Record>) -> Result<Vec<u8>> {
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
    let mut df = DataFrame::new_infer_height(columns).map_err(polars_err)?;
    let mut buf = Vec::new();
    ParquetWriter::new(&mut buf)
        .finish(&mut df)
        .map_err(polars_err)?;
    Ok(buf)
}
