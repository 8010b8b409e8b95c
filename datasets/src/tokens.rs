//! Token lengths with a Hugging Face `tokenizer.json` (the tokenizers crate, batched and
//! parallel): counts per record, the over-limit policy, and length percentiles for the
//! manifest. Counts are of the text fields without special tokens; a chat template adds a
//! few per turn, which the target's limit leaves room for.
//!
//! Memory: an encoding costs far more than its text (offsets, token strings, alignments:
//! over a hundred bytes per input byte in the worst case), so each text's encoding is
//! dropped as soon as it is counted. What is alive at once is a few encodings (one per
//! thread), each bounded by `data.max_record_bytes`, never a whole batch of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tokenizers::Tokenizer;

use crate::record::Record;
use crate::{Error, Result};

/// A loaded tokenizer.
pub struct TokenCounter {
    tokenizer: Tokenizer,
    path: PathBuf,
}

impl TokenCounter {
    /// Loads `tokenizer.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let tokenizer = Tokenizer::from_file(path).map_err(|e| Error::Tokenizer {
            path: path.into(),
            message: e.to_string(),
        })?;
        Ok(TokenCounter {
            tokenizer,
            path: path.into(),
        })
    }

    fn err(&self, e: tokenizers::Error) -> Error {
        Error::Tokenizer {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Tokens in every text field of each record, summed per record. Each distinct text is
    /// encoded once: labels and system prompts repeat across a whole data set.
    pub fn count(&self, records: &[&Record]) -> Result<Vec<usize>> {
        let mut slot: HashMap<&str, usize> = HashMap::new();
        let mut distinct: Vec<&str> = Vec::new();
        let mut owner: Vec<(usize, usize)> = Vec::with_capacity(records.len() * 2);
        for (i, r) in records.iter().enumerate() {
            for t in r.texts() {
                let d = *slot.entry(t).or_insert_with(|| {
                    distinct.push(t);
                    distinct.len() - 1
                });
                owner.push((i, d));
            }
        }
        let lengths: Vec<usize> = distinct
            .par_iter()
            .map(|t| self.tokenizer.encode_fast(*t, false).map(|e| e.len()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut counts = vec![0usize; records.len()];
        for (i, d) in owner {
            counts[i] += lengths[d];
        }
        Ok(counts)
    }

    /// Cuts the record's last field so the record has at most `max` tokens. Returns the new
    /// count, or `None` when even an empty last field would not fit (the input alone is over).
    pub fn truncate(&self, record: &mut Record, total: usize, max: usize) -> Result<Option<usize>> {
        let mut fields = record.texts_mut();
        let Some(last) = fields.pop() else {
            return Ok(None);
        };
        let enc = self
            .tokenizer
            .encode(last.as_str(), false)
            .map_err(|e| self.err(e))?;
        let others = total - enc.len();
        if others >= max {
            return Ok(None);
        }
        let keep = max - others;
        if keep >= enc.len() {
            return Ok(Some(total));
        }
        let cut = enc
            .get_offsets()
            .get(keep)
            .map_or(last.len(), |&(start, _)| start);
        last.truncate(cut);
        let trimmed = last.trim_end().len();
        last.truncate(trimmed);
        if last.is_empty() {
            return Ok(None);
        }
        Ok(Some(others + keep))
    }
}

/// Length distribution for the manifest.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LengthStats {
    /// Records measured.
    pub count: usize,
    /// Shortest.
    pub min: usize,
    /// Median.
    pub p50: usize,
    /// 90th percentile.
    pub p90: usize,
    /// 95th percentile.
    pub p95: usize,
    /// 99th percentile.
    pub p99: usize,
    /// Longest.
    pub max: usize,
    /// Mean.
    pub mean: f64,
    /// Sum.
    pub total: u64,
}

impl LengthStats {
    /// Nearest-rank percentiles of `lengths`.
    pub fn of(lengths: &[usize]) -> LengthStats {
        if lengths.is_empty() {
            return LengthStats::default();
        }
        let mut v = lengths.to_vec();
        v.sort_unstable();
        let rank = |p: f64| v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        let total: u64 = v.iter().map(|&x| x as u64).sum();
        LengthStats {
            count: v.len(),
            min: v[0],
            p50: rank(50.0),
            p90: rank(90.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: v[v.len() - 1],
            mean: total as f64 / v.len() as f64,
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_every_field_and_repeated_texts_count_each_time() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/tiny-llama/model/tokenizer.json");
        let tok = TokenCounter::load(&path).unwrap();
        let one = |t: &str| tok.tokenizer.encode(t, false).unwrap().len();
        let rec = |p: &str, c: &str| Record::Completion {
            prompt: p.into(),
            completion: c.into(),
        };
        let a = rec("How many eggs are left?", "9");
        let b = rec("What is 6 times 7?", "9");
        let counts = tok.count(&[&a, &b, &a]).unwrap();
        let want_a = one("How many eggs are left?") + one("9");
        assert_eq!(
            counts,
            vec![want_a, one("What is 6 times 7?") + one("9"), want_a]
        );
        assert!(want_a > 5);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<usize> = (1..=100).collect();
        let s = LengthStats::of(&v);
        assert_eq!((s.min, s.p50, s.p90, s.p99, s.max), (1, 50, 90, 99, 100));
        assert_eq!(s.mean, 50.5);
        assert_eq!(LengthStats::of(&[]).count, 0);
    }
}
