//! The steps of `prepare`, each a function over a chunk of records, in pipeline order:
//! read (map and clean, in [`crate::read`]) → PII → exact de-dup → MinHash → near de-dup →
//! token lengths → target rules, then over the kept set: split → leakage.
//!
//! A per-record step takes a chunk and gives back a [`Stepped`]: the records it keeps, in
//! their order, and the ones it drops with their category and reason. A step that must see
//! every earlier record (the de-duplications) keeps that state in a struct between chunks, so
//! a chunk gives the same answer whether the records before it came in one chunk or many.
//! Records are processed in parallel inside a chunk; what a step returns is in input order
//! whatever the number of threads.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::spill::{KeptSet, SignatureFile};
use crate::Result;
use crate::manifest::Leakage;
use crate::minhash::{LshIndex, MinHashParams, MinHasher, Signature, Signatures};
use crate::pii::{PiiCounts, PiiScanner};
use crate::read::{BadRow, Row};
use crate::record::Record;
use crate::settings::{
    LeakageAction, OnError, OverLimit, PiiAction, PrepareSettings, TokenSettings,
};
use crate::targets::{Split, Target};
use crate::tokens::TokenCounter;

/// A record that leaves the pipeline, with why.
pub(super) struct Dropped {
    pub(super) file: u32,
    pub(super) line: u32,
    pub(super) category: &'static str,
    pub(super) reason: String,
    pub(super) record: Option<Record>,
}

impl Dropped {
    fn of(row: Row, category: &'static str, reason: String) -> Self {
        Dropped {
            file: row.file,
            line: row.line,
            category,
            reason,
            record: Some(row.record),
        }
    }
}

impl From<BadRow> for Dropped {
    fn from(b: BadRow) -> Self {
        Dropped {
            file: b.file,
            line: b.line,
            category: b.category,
            reason: b.reason,
            record: None,
        }
    }
}

/// A record still in the pipeline.
pub(super) struct Item {
    pub(super) row: Row,
    /// [`record_key`] of the record as it is now.
    pub(super) key: [u8; 16],
    /// Token count, once counted.
    pub(super) tokens: Option<usize>,
    /// MinHash of the content, when near-duplicate search or the leakage check needs it.
    pub(super) signature: Option<Signature>,
    /// Where the signature is stored, once it is (see [`super::spill::SignatureFile`]).
    pub(super) stored: Option<u32>,
}

/// What a step did with a chunk.
pub(super) struct Stepped {
    /// Records kept, in input order.
    pub(super) kept: Vec<Item>,
    /// Records dropped, with their reason.
    pub(super) dropped: Vec<Dropped>,
}

impl Stepped {
    /// Moves the dropped records to `into` and returns the kept ones.
    pub(super) fn keep(self, into: &mut Vec<Dropped>) -> Vec<Item> {
        into.extend(self.dropped);
        self.kept
    }
}

/// The input names, to say where a record came from (`file:line`).
pub(super) struct Sources {
    names: Vec<String>,
}

impl Sources {
    /// From the input files as `(name, local path)`, in input order.
    pub(super) fn new(files: &[(String, std::path::PathBuf)]) -> Self {
        Sources {
            names: files.iter().map(|(name, _)| name.clone()).collect(),
        }
    }

    pub(super) fn at(&self, file: u32, line: u32) -> String {
        format!("{}:{line}", self.names[file as usize])
    }
}

const SEP: u8 = 0x1f;

/// Hash of a cleaned record: equal records, equal keys.
fn record_key(r: &Record) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(match r {
        Record::Completion { .. } => b"c",
        Record::Chat { .. } => b"m",
        Record::Text { .. } => b"t",
        Record::Prompt { .. } => b"p",
    });
    for t in r.texts() {
        h.update([SEP]);
        h.update(t.as_bytes());
    }
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// PII: redacts (or, with `pii = "reject"`, drops) records whose text holds PII, and adds
/// what was found to `found`. Values were cleaned when read. Rows become [`Item`]s here.
pub(super) fn redact_pii(
    rows: Vec<Row>,
    scanner: &PiiScanner,
    action: PiiAction,
    found: &mut PiiCounts,
) -> Stepped {
    let scanned: Vec<(Row, PiiCounts)> = rows
        .into_par_iter()
        .map(|mut row| {
            let mut in_row = PiiCounts::default();
            for t in row.record.texts_mut() {
                let (redacted, c) = scanner.redact(t);
                if !c.is_empty() {
                    in_row.add(&c);
                    if action != PiiAction::Off {
                        *t = redacted.into_owned();
                    }
                }
            }
            (row, in_row)
        })
        .collect();
    let mut out = Stepped {
        kept: Vec::with_capacity(scanned.len()),
        dropped: Vec::new(),
    };
    for (row, in_row) in scanned {
        found.add(&in_row);
        if action == PiiAction::Reject && !in_row.is_empty() {
            let kinds: Vec<&str> = in_row
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, _)| k.name())
                .collect();
            let reason = format!("contains PII: {} (redacted here)", kinds.join(", "));
            out.dropped.push(Dropped::of(row, "pii", reason));
        } else {
            out.kept.push(Item {
                key: record_key(&row.record),
                row,
                tokens: None,
                signature: None,
                stored: None,
            });
        }
    }
    out
}

/// Hashes a content key (the first bytes of a sha256, uniform already) by taking its first
/// eight bytes, instead of running SipHash over it.
#[derive(Default)]
pub(super) struct ContentKeyHasher(u64);

impl std::hash::Hasher for ContentKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        let n = bytes.len().min(8);
        first[..n].copy_from_slice(&bytes[..n]);
        self.0 ^= u64::from_le_bytes(first);
    }

    fn write_usize(&mut self, _: usize) {
        // The length prefix of the key's bytes: always 16.
    }
}

/// A map or set keyed by content keys.
type ByContentKey = std::hash::BuildHasherDefault<ContentKeyHasher>;

/// Exact de-duplication: the first occurrence of each content key stays.
#[derive(Default)]
pub(super) struct ExactDedup {
    /// Content key → where it was first seen.
    seen: HashMap<[u8; 16], (u32, u32), ByContentKey>,
}

impl ExactDedup {
    /// Approximate bytes held in memory: a 24-byte entry and a control byte per slot.
    pub(super) fn memory(&self) -> usize {
        self.seen.capacity() * 25
    }

    pub(super) fn apply(&mut self, items: Vec<Item>, sources: &Sources) -> Stepped {
        let mut out = Stepped {
            kept: Vec::with_capacity(items.len()),
            dropped: Vec::new(),
        };
        for it in items {
            match self.seen.get(&it.key) {
                Some(&(f, l)) => {
                    let reason = format!("exact duplicate of {}", sources.at(f, l));
                    out.dropped
                        .push(Dropped::of(it.row, "exact_duplicate", reason));
                }
                None => {
                    self.seen.insert(it.key, (it.row.file, it.row.line));
                    out.kept.push(it);
                }
            }
        }
        out
    }
}

/// MinHash signatures of the records' content, when near de-dup or the leakage check needs
/// them (`hasher`). The content is freed either way: no later step reads it.
pub(super) fn minhash(items: &mut [Item], hasher: Option<&MinHasher>) {
    items.par_iter_mut().for_each(|it| {
        let content = std::mem::take(&mut it.row.content);
        it.signature = hasher.map(|h| h.signature(&content));
    });
}

/// Near de-duplication over the signatures, in input order: a record similar to a kept one
/// is dropped. The signatures of the records it keeps are stored in a [`SignatureFile`];
/// the index holds their band keys.
pub(super) struct NearDedup {
    index: LshIndex,
    /// Where each indexed record came from.
    origin: Vec<(u32, u32)>,
}

impl NearDedup {
    pub(super) fn new(params: MinHashParams) -> Self {
        NearDedup {
            index: LshIndex::new(params),
            origin: Vec::new(),
        }
    }

    /// Approximate bytes held in memory.
    pub(super) fn memory(&self) -> usize {
        self.index.memory() + self.origin.capacity() * 8
    }

    pub(super) fn apply(
        &mut self,
        items: Vec<Item>,
        sources: &Sources,
        store: &mut SignatureFile,
    ) -> Result<Stepped> {
        let mut out = Stepped {
            kept: Vec::with_capacity(items.len()),
            dropped: Vec::new(),
        };
        for mut it in items {
            let Some(sig) = &it.signature else {
                out.kept.push(it);
                continue;
            };
            match self.index.query(sig, store).map_err(|e| store.error(e))? {
                Some((id, j)) => {
                    let (f, l) = self.origin[id];
                    let reason =
                        format!("near duplicate (Jaccard ≈ {j:.2}) of {}", sources.at(f, l));
                    out.dropped
                        .push(Dropped::of(it.row, "near_duplicate", reason));
                }
                None => {
                    let stored = store.append(sig)?;
                    self.index
                        .insert(self.origin.len(), sig, stored, store)
                        .map_err(|e| store.error(e))?;
                    self.origin.push((it.row.file, it.row.line));
                    it.stored = Some(stored);
                    out.kept.push(it);
                }
            }
        }
        Ok(out)
    }
}

/// Token lengths: counts each record, then filters or truncates those over the limit.
/// Returns what it kept and dropped, and how many records it truncated.
pub(super) fn count_tokens(
    items: Vec<Item>,
    tok: &TokenCounter,
    limits: &TokenSettings,
) -> Result<(Stepped, usize)> {
    let refs: Vec<&Record> = items.iter().map(|i| &i.row.record).collect();
    let counts = tok.count(&refs)?;
    let mut out = Stepped {
        kept: Vec::with_capacity(items.len()),
        dropped: Vec::new(),
    };
    let mut truncated = 0;
    for (mut it, n) in items.into_iter().zip(counts) {
        let mut n = Some(n);
        if let (Some(max), Some(len)) = (limits.max_tokens, n)
            && len > max
        {
            n = match limits.over_limit {
                OverLimit::Filter => None,
                OverLimit::Truncate => tok.truncate(&mut it.row.record, len, max)?,
            };
            match n {
                None => {
                    let reason = format!("{len} tokens, over the limit of {max}");
                    out.dropped.push(Dropped::of(it.row, "filtered", reason));
                    continue;
                }
                Some(_) => {
                    truncated += 1;
                    it.key = record_key(&it.row.record);
                }
            }
        }
        it.tokens = n;
        out.kept.push(it);
    }
    Ok((out, truncated))
}

/// The target's per-record rules. With `on_error = "reject"` a record that breaks one is
/// dropped; with `"fail"` every record is kept and the broken rules come back as
/// `file:line: rule: message` lines, for the caller to fail on once every chunk is checked.
pub(super) fn check_target(
    items: Vec<Item>,
    target: Target,
    on_error: OnError,
    sources: &Sources,
) -> (Stepped, Vec<String>) {
    let violations: Vec<Vec<crate::targets::Violation>> = items
        .par_iter()
        .map(|it| target.check_record(&it.row.record, it.tokens))
        .collect();
    let mut out = Stepped {
        kept: Vec::with_capacity(items.len()),
        dropped: Vec::new(),
    };
    let mut lines = Vec::new();
    for (it, vs) in items.into_iter().zip(violations) {
        if vs.is_empty() {
            out.kept.push(it);
        } else if on_error == OnError::Fail {
            let loc = sources.at(it.row.file, it.row.line);
            lines.extend(
                vs.iter()
                    .map(|v| format!("{loc}: {}: {}", v.rule, v.message)),
            );
            out.kept.push(it);
        } else {
            let text: Vec<String> = vs
                .iter()
                .map(|v| format!("{}: {}", v.rule, v.message))
                .collect();
            out.dropped
                .push(Dropped::of(it.row, "invalid_for_target", text.join("; ")));
        }
    }
    (out, lines)
}

/// The split of each kept record, from a seeded hash of its content (stratified by label
/// when `split.stratify_by` is set).
pub(super) fn split(kept: &KeptSet, settings: &PrepareSettings) -> Vec<Split> {
    let split_keys: Vec<u64> = kept
        .kept
        .par_iter()
        .map(|k| {
            let mut h = Sha256::new();
            h.update(settings.split.seed.to_le_bytes());
            h.update(k.key);
            let d = h.finalize();
            u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
        })
        .collect();
    match &settings.split.stratify_by {
        Some(_) => {
            let labelled: Vec<(Option<&str>, u64)> = kept
                .kept
                .iter()
                .zip(&split_keys)
                .map(|(k, &key)| (k.label().map(|l| kept.labels.name(l)), key))
                .collect();
            crate::split::assign_stratified(
                &labelled,
                settings.split.validation,
                settings.split.test,
            )
        }
        None => split_keys
            .iter()
            .map(|&k| crate::split::assign(k, settings.split.validation, settings.split.test))
            .collect(),
    }
}

/// Leakage: no validation/test record may repeat a train record, exactly or (with a
/// threshold under 1) nearly. A leaked record is moved into train or reported.
pub(super) fn check_leakage(
    settings: &PrepareSettings,
    kept: &KeptSet,
    splits: &mut [Split],
    sources: &Sources,
) -> Result<Leakage> {
    let threshold = settings.split.leakage_threshold;
    let records = &kept.kept;
    let train_keys: HashSet<[u8; 16], ByContentKey> = records
        .iter()
        .zip(splits.iter())
        .filter(|(_, s)| **s == Split::Train)
        .map(|(k, _)| k.key)
        .collect();
    let params = MinHashParams {
        threshold,
        ..settings.dedup.minhash
    };
    let mut index = LshIndex::new(params);
    // Threshold 0 would match everything: only exact copies count then.
    let store = kept.signatures.as_ref().filter(|_| threshold > 0.0);
    if let Some(store) = store {
        for (i, (k, s)) in records.iter().zip(splits.iter()).enumerate() {
            if let (Split::Train, Some(at)) = (s, k.signature()) {
                let sig = store.signature(at).map_err(|e| store.error(e))?;
                index
                    .insert(i, &sig, at, store)
                    .map_err(|e| store.error(e))?;
            }
        }
    }
    let mut leak = Leakage {
        threshold,
        ..Leakage::default()
    };
    for (i, k) in records.iter().enumerate() {
        if splits[i] == Split::Train {
            continue;
        }
        let mut leaked = train_keys.contains(&k.key);
        if !leaked && let (Some(store), Some(at)) = (store, k.signature()) {
            let sig = store.signature(at).map_err(|e| store.error(e))?;
            leaked = index
                .query(&sig, store)
                .map_err(|e| store.error(e))?
                .is_some();
        }
        if leaked {
            match settings.split.leakage {
                LeakageAction::Move => {
                    splits[i] = Split::Train;
                    leak.moved += 1;
                }
                LeakageAction::Report => leak.reported.push(sources.at(k.file, k.line)),
            }
        }
    }
    Ok(leak)
}
