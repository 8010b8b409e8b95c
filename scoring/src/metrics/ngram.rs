//! Allocation-light n-gram machinery shared by BLEU, chrF and ROUGE.
//!
//! Sentences are first mapped to sequences of `u32` unit ids (a word id from a
//! [`Vocab`] or a character's code point). N-grams are then interned
//! incrementally: the id of the n-gram starting at position `i` is the interned
//! id of the pair `(id of the (n-1)-gram at i, unit at i+n-1)`. Every key is a
//! plain `u64`, so the maps can be cleared and reused between segments and no
//! string is allocated per n-gram.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A small, fast, non-cryptographic hasher for integer and short byte keys.
///
/// Inputs are folded in with a multiply-rotate step; `finish` applies a final
/// avalanche so that the low bits (used for bucket selection) depend on all
/// input bits.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher {
    state: u64,
}

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

impl FastHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.state = (self.state.rotate_left(23) ^ word).wrapping_mul(MUL);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let mut x = self.state;
        x ^= x >> 32;
        x = x.wrapping_mul(0xd6e8_feb8_6659_fd93);
        x ^= x >> 32;
        x
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
}

/// `BuildHasher` for [`FastHasher`].
pub(crate) type FastBuild = BuildHasherDefault<FastHasher>;

/// Maximum number of entries a [`Vocab`] keeps before it is reset between
/// segments, which bounds memory on very large corpora.
const VOCAB_RESET_THRESHOLD: usize = 1 << 21;

/// Maps token strings to dense `u32` ids. Only new token types allocate.
#[derive(Default)]
pub(crate) struct Vocab {
    ids: HashMap<Box<str>, u32, FastBuild>,
}

impl Vocab {
    /// Returns the id of `token`, inserting it if needed.
    #[inline]
    pub(crate) fn id(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX);
        self.ids.insert(token.into(), id);
        id
    }

    /// Clears the vocabulary when it has grown past the reset threshold. Must
    /// only be called between segments (ids are not stable across a reset).
    pub(crate) fn maybe_reset(&mut self) {
        if self.ids.len() > VOCAB_RESET_THRESHOLD {
            self.ids.clear();
        }
    }
}

/// Sentinel "previous id" for unigrams of word units.
pub(crate) const WORD_ROOT: u32 = u32::MAX;
/// Sentinel "previous id" for unigrams of character units.
pub(crate) const CHAR_ROOT: u32 = u32::MAX - 1;

/// Interns n-grams of `u32` units into dense per-segment ids.
#[derive(Default)]
pub(crate) struct NgramInterner {
    map: HashMap<u64, u32, FastBuild>,
}

impl NgramInterner {
    /// Forgets every id (keeps the allocation).
    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }

    /// Number of distinct n-gram ids handed out since the last clear.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    #[inline]
    fn id(&mut self, prev: u32, unit: u32) -> u32 {
        let key = (u64::from(prev) << 32) | u64::from(unit);
        let next = u32::try_from(self.map.len()).unwrap_or(u32::MAX);
        *self.map.entry(key).or_insert(next)
    }

    /// Computes the ids of all n-grams of orders `1..=out.len()` of `units`.
    ///
    /// `out[k]` receives the ids of the order-`k+1` n-grams in sentence order
    /// (`units.len() - k` of them, or none when the sentence is too short).
    /// `root` separates unit namespaces (see [`WORD_ROOT`], [`CHAR_ROOT`]).
    pub(crate) fn ngrams_up_to(&mut self, units: &[u32], root: u32, out: &mut [Vec<u32>]) {
        for ids in out.iter_mut() {
            ids.clear();
        }
        let Some((unigrams, rest)) = out.split_first_mut() else {
            return;
        };
        unigrams.extend(units.iter().map(|&u| self.id(root, u)));
        let mut prev: &[u32] = unigrams;
        for (k, cur) in rest.iter_mut().enumerate() {
            let n = k + 2;
            if units.len() < n {
                break;
            }
            cur.extend(
                prev.iter()
                    .take(units.len() + 1 - n)
                    .zip(&units[n - 1..])
                    .map(|(&p, &u)| self.id(p, u)),
            );
            prev = cur;
        }
    }
}

/// Makes sure `v` has at least `n` inner vectors.
pub(crate) fn ensure_orders(v: &mut Vec<Vec<u32>>, n: usize) {
    if v.len() < n {
        v.resize_with(n, Vec::new);
    }
}

/// Grows `v` with zeros so that it can be indexed by every id of `interner`.
#[inline]
pub(crate) fn fit(v: &mut Vec<u32>, interner: &NgramInterner) {
    if v.len() < interner.len() {
        v.resize(interner.len(), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_assigns_same_ids_to_same_ngrams() {
        let mut interner = NgramInterner::default();
        let mut out = vec![Vec::new(); 3];
        // "a b a b" -> bigrams "a b", "b a", "a b"
        interner.ngrams_up_to(&[0, 1, 0, 1], WORD_ROOT, &mut out);
        assert_eq!(out[0].len(), 4);
        assert_eq!(out[0][0], out[0][2]);
        assert_ne!(out[0][0], out[0][1]);
        assert_eq!(out[1].len(), 3);
        assert_eq!(out[1][0], out[1][2]);
        assert_ne!(out[1][0], out[1][1]);
        assert_eq!(out[2].len(), 2);
        assert_ne!(out[2][0], out[2][1]);
        // ids are dense and unique across orders: 2 + 2 + 2 distinct n-grams
        assert_eq!(interner.len(), 6);

        let mut short = vec![Vec::new(); 3];
        interner.ngrams_up_to(&[0], WORD_ROOT, &mut short);
        assert_eq!(short[0], vec![out[0][0]]);
        assert!(short[1].is_empty() && short[2].is_empty());
    }

    #[test]
    fn roots_separate_namespaces() {
        let mut interner = NgramInterner::default();
        let mut words = vec![Vec::new()];
        let mut chars = vec![Vec::new()];
        interner.ngrams_up_to(&[7], WORD_ROOT, &mut words);
        interner.ngrams_up_to(&[7], CHAR_ROOT, &mut chars);
        assert_ne!(words[0][0], chars[0][0]);
    }

    #[test]
    fn vocab_is_stable() {
        let mut vocab = Vocab::default();
        let a = vocab.id("alpha");
        let b = vocab.id("beta");
        assert_ne!(a, b);
        assert_eq!(vocab.id("alpha"), a);
    }
}
