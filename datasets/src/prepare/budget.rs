//! The memory a run may use (`--memory-limit`, `data.memory_limit`): how much input is read
//! at a time, and the check that what the run holds for the whole input still fits.
//!
//! A run holds two kinds of memory. The chunk in flight (its input bytes, the polars frame,
//! the records and their signatures) is bounded by the chunk size, which follows the limit.
//! What grows with the input is held per record: the exact-duplicate keys (every record
//! that reaches that step), the near-duplicate index (every record kept by it: band keys
//! and sketches only, the signatures are on disk), and 36 bytes of state per kept record; the leakage
//! check later holds the train records' keys and an index of their signatures. After every
//! chunk, and before the leakage check, the run adds these up; when they pass the limit it
//! stops and says which step holds what, rather than being killed by the system later.

use super::RecordSteps;
use super::spill::{KeptRecords, KeptSet};
use crate::minhash::{LshIndex, MinHashParams};
use crate::settings::{PrepareSettings, format_bytes};
use crate::targets::Split;
use crate::{Error, Result};

/// Smallest and largest stretch of input read at a time. Larger stretches are hardly faster
/// and hold more: on banking77 ×100 (one build, one session), 2 MiB took 10.6–10.7 s and
/// peaked at 233–236 MiB, 1 MiB 10.9 s and 203 MiB, 512 KiB 11.1–11.7 s and 194 MiB.
const CHUNK_BYTES: (usize, usize) = (64 << 10, 512 << 10);

/// Memory a chunk in flight takes per byte of input: peak RSS grew by about 24 bytes per
/// byte of chunk between 2 and 8 MiB chunks on banking77 ×100 (the input bytes, the frame polars
/// parses them into, records, rendered lines and signatures).
const CHUNK_EXPANSION: usize = 24;

/// Bytes the process holds whatever the input: code, the tokenizer, the PII patterns, the
/// thread pool.
const BASE: u64 = 48 << 20;

/// The memory limit of one run, and what follows from it.
pub(super) struct Budget {
    limit: u64,
}

impl Budget {
    pub(super) fn new(limit: u64) -> Self {
        Budget { limit }
    }

    /// Input bytes read and processed at a time: 1/512 of the limit, within 64–512 KiB (so
    /// 512 KiB from a 256 MiB limit up).
    pub(super) fn chunk_bytes(&self) -> usize {
        ((self.limit / 512) as usize).clamp(CHUNK_BYTES.0, CHUNK_BYTES.1)
    }

    /// The longest single record the reader holds: a quarter of the limit.
    pub(super) fn max_pending_bytes(&self) -> usize {
        ((self.limit / 4) as usize).max(2 * self.chunk_bytes())
    }

    /// What every run needs besides its per-record state.
    fn fixed(&self) -> u64 {
        BASE + (self.chunk_bytes() * CHUNK_EXPANSION) as u64
    }

    /// After a chunk: do the de-duplication indexes and the kept records' state still fit?
    pub(super) fn check_records(&self, steps: &RecordSteps, kept: &KeptRecords) -> Result<()> {
        let (exact, near) = steps.memory();
        let held = [
            ("the exact-duplicate keys", exact),
            ("the near-duplicate index", near),
            ("the kept records' keys and labels", kept.memory()),
        ];
        self.check(kept.kept.len(), &held, "")
    }

    /// Before the leakage check: do its train keys and index fit beside the kept state?
    pub(super) fn check_leakage(
        &self,
        kept: &KeptSet,
        splits: &[Split],
        settings: &PrepareSettings,
    ) -> Result<()> {
        let train = splits.iter().filter(|s| **s == Split::Train).count();
        let per_train = LshIndex::bytes_per_item(MinHashParams {
            threshold: settings.split.leakage_threshold,
            ..settings.dedup.minhash
        });
        let keys = train * 40;
        let index = if kept.signatures.is_some() && settings.split.leakage_threshold > 0.0 {
            train * per_train
        } else {
            0
        };
        let held = [
            ("the kept records' keys and labels", kept.len() * 37),
            ("the leakage check's train keys", keys),
            ("the leakage check's near-duplicate index", index),
        ];
        self.check(
            kept.len(),
            &held,
            "\nhint: split.leakage_threshold = 0 checks exact copies only, without the index",
        )
    }

    fn check(&self, records: usize, held: &[(&str, usize)], hint: &str) -> Result<()> {
        let total: u64 = self.fixed() + held.iter().map(|(_, b)| *b as u64).sum::<u64>();
        if total <= self.limit {
            return Ok(());
        }
        let parts: Vec<String> = held
            .iter()
            .filter(|(_, b)| *b > 0)
            .map(|(what, b)| format!("{what} {}", format_bytes(*b as u64)))
            .collect();
        let (step, _) = held
            .iter()
            .max_by_key(|(_, b)| *b)
            .copied()
            .unwrap_or(("", 0));
        Err(Error::MemoryLimit {
            limit: format_bytes(self.limit),
            detail: format!(
                "after {records} kept records the run holds {} for the whole input ({}), plus {} for the chunk in flight; the largest is {step}",
                format_bytes(total - self.fixed()),
                parts.join(", "),
                format_bytes(self.fixed()),
            ),
            hint: hint.to_string(),
        })
    }
}
