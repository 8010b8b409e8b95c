//! What a run keeps between its per-record steps and its writing. The kept records go to
//! disk as they pass the per-record steps (a JSON line each, in input order, in the staging
//! folder), and so do their MinHash signatures; in memory stays only a [`Kept`] per record,
//! 36 bytes: what split, leakage check and manifest need. Templates are rendered when the
//! records are read back to be written.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::steps::Item;
use crate::minhash::{Signature, Signatures};
use crate::record::Record;
use crate::{Error, Result};

/// Stands for "none" in [`Kept`]'s `u32` fields.
const NONE: u32 = u32::MAX;

/// What the global steps need of a kept record.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kept {
    /// Content key (exact duplicates and leakage).
    pub(super) key: [u8; 16],
    /// Input file index.
    pub(super) file: u32,
    /// Line in that file.
    pub(super) line: u32,
    tokens: u32,
    label: u32,
    signature: u32,
}

impl Kept {
    /// Token count, when counted.
    pub(super) fn tokens(&self) -> Option<usize> {
        (self.tokens != NONE).then_some(self.tokens as usize)
    }

    /// Stratification label, as an id into [`Labels`].
    pub(super) fn label(&self) -> Option<u32> {
        (self.label != NONE).then_some(self.label)
    }

    /// Where its signature is in the [`SignatureFile`], when it has one.
    pub(super) fn signature(&self) -> Option<u32> {
        (self.signature != NONE).then_some(self.signature)
    }
}

/// Stratification labels, each held once.
#[derive(Debug, Default)]
pub(super) struct Labels {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Labels {
    fn id(&mut self, label: String) -> u32 {
        if let Some(&id) = self.ids.get(&label) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(label.clone());
        self.ids.insert(label, id);
        id
    }

    /// The label with this id.
    pub(super) fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// MinHash signatures on disk, appended in order and read back by their number: the near
/// de-duplication index and the leakage check keep only band keys in memory.
pub(super) struct SignatureFile {
    file: File,
    path: PathBuf,
    /// Slots per signature.
    width: usize,
    /// Signatures written to the file.
    on_disk: u32,
    /// Slots appended since the last write to the file.
    pending: Vec<u32>,
}

/// Bytes of signatures gathered before they are written out.
const SIGNATURE_BUFFER: usize = 1 << 20;

impl SignatureFile {
    /// A new, empty file at `path` for signatures of `width` slots.
    pub(super) fn create(path: PathBuf, width: usize) -> Result<Self> {
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        Ok(SignatureFile {
            file,
            path,
            width,
            on_disk: 0,
            pending: Vec::with_capacity(SIGNATURE_BUFFER / 4),
        })
    }

    /// Stores `sig`; returns its number.
    pub(super) fn append(&mut self, sig: &Signature) -> Result<u32> {
        debug_assert_eq!(sig.slots().len(), self.width);
        let id = self.on_disk + (self.pending.len() / self.width) as u32;
        self.pending.extend_from_slice(sig.slots());
        if self.pending.len() * 4 >= SIGNATURE_BUFFER {
            self.flush()?;
        }
        Ok(id)
    }

    fn flush(&mut self) -> Result<()> {
        let bytes: Vec<u8> = self.pending.iter().flat_map(|s| s.to_le_bytes()).collect();
        let at = u64::from(self.on_disk) * (self.width as u64 * 4);
        self.file
            .write_all_at(&bytes, at)
            .map_err(|e| Error::io(&self.path, e))?;
        self.on_disk += (self.pending.len() / self.width) as u32;
        self.pending.clear();
        Ok(())
    }

    /// An I/O error on this file as the crate's error.
    pub(super) fn error(&self, e: std::io::Error) -> Error {
        Error::io(&self.path, e)
    }
}

impl Signatures for SignatureFile {
    fn signature(&self, id: u32) -> std::io::Result<Signature> {
        if id >= self.on_disk {
            let start = (id - self.on_disk) as usize * self.width;
            return Ok(Signature::from_slots(
                self.pending[start..start + self.width].to_vec(),
            ));
        }
        let mut bytes = vec![0u8; self.width * 4];
        let at = u64::from(id) * bytes.len() as u64;
        self.file.read_exact_at(&mut bytes, at)?;
        Ok(Signature::from_slots(
            bytes
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ))
    }
}

/// The kept records: on disk, in input order, with their [`Kept`] state in memory.
pub(super) struct KeptRecords {
    out: BufWriter<File>,
    path: PathBuf,
    /// One per kept record, in input order.
    pub(super) kept: Vec<Kept>,
    /// The labels they carry.
    pub(super) labels: Labels,
    /// Their signatures (and those of records the near de-duplication index holds), when
    /// near de-duplication or the leakage check needs them.
    pub(super) signatures: Option<SignatureFile>,
}

impl KeptRecords {
    /// Files in `dir` (the run's staging folder); `signature_width` when signatures are kept.
    pub(super) fn create(dir: &Path, signature_width: Option<usize>) -> Result<Self> {
        let path = dir.join("kept.part");
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let signatures = signature_width
            .map(|w| SignatureFile::create(dir.join("signatures.part"), w))
            .transpose()?;
        Ok(KeptRecords {
            out: BufWriter::with_capacity(1 << 20, file),
            path,
            kept: Vec::new(),
            labels: Labels::default(),
            signatures,
        })
    }

    /// Adds the records of a chunk that passed every per-record step, in input order.
    pub(super) fn extend(&mut self, items: Vec<Item>) -> Result<()> {
        let lines: Vec<Result<Vec<u8>>> = items
            .par_iter()
            .map(|it| {
                let mut line = serde_json::to_vec(&it.row.record)?;
                line.push(b'\n');
                Ok(line)
            })
            .collect();
        for (item, line) in items.into_iter().zip(lines) {
            self.out
                .write_all(&line?)
                .map_err(|e| Error::io(&self.path, e))?;
            self.push(item)?;
        }
        Ok(())
    }

    /// Adds the state of a record whose line is written.
    fn push(&mut self, item: Item) -> Result<()> {
        let signature = match (item.stored, &item.signature, &mut self.signatures) {
            (Some(at), _, _) => at,
            (None, Some(sig), Some(file)) => file.append(sig)?,
            _ => NONE,
        };
        self.kept.push(Kept {
            key: item.key,
            file: item.row.file,
            line: item.row.line,
            tokens: item
                .tokens
                .map_or(NONE, |n| n.min(NONE as usize - 1) as u32),
            label: item.row.label.map_or(NONE, |l| self.labels.id(l)),
            signature,
        });
        Ok(())
    }

    /// Bytes the kept state holds in memory now (for the memory budget).
    pub(super) fn memory(&self) -> usize {
        self.kept.capacity() * std::mem::size_of::<Kept>()
    }

    /// Flushes what is still buffered, so the records and signatures can be read back.
    pub(super) fn finish(mut self) -> Result<KeptSet> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        if let Some(s) = &mut self.signatures {
            s.flush()?;
        }
        Ok(KeptSet {
            path: self.path,
            kept: self.kept,
            labels: self.labels,
            signatures: self.signatures,
        })
    }
}

/// The kept records once every per-record step is done.
pub(super) struct KeptSet {
    path: PathBuf,
    /// One per kept record, in input order.
    pub(super) kept: Vec<Kept>,
    /// The labels they carry.
    pub(super) labels: Labels,
    /// Their signatures, when kept.
    pub(super) signatures: Option<SignatureFile>,
}

impl KeptSet {
    /// The records, read back in input order.
    pub(super) fn records(&self) -> Result<impl Iterator<Item = Result<Record>> + '_> {
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        Ok(BufReader::with_capacity(1 << 20, file).lines().map(|line| {
            let line = line.map_err(|e| Error::io(&self.path, e))?;
            Ok(serde_json::from_str(&line)?)
        }))
    }

    /// Number of kept records.
    pub(super) fn len(&self) -> usize {
        self.kept.len()
    }
}
