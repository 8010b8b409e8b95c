//! Token lengths with a Hugging Face `tokenizer.json` (the tokenizers crate, batched and
//! parallel): counts per record, the over-limit policy, and length percentiles for the
//! manifest. Counts are of the text fields without special tokens; a chat template adds a
//! few per turn, which the target's limit leaves room for.
//!
//! Counting does not build `Encoding`s: it runs the tokenizer's own added-token extraction,
//! normalizer and pre-tokenizer, then asks the model for each word's tokens and keeps only
//! their number, remembering it per distinct word (a corpus repeats its words far more than
//! it repeats whole texts). That is what `encode` does up to its last stage, which only
//! gathers the tokens, offsets and masks into an `Encoding` whose length is the same sum; a
//! test checks the counts against `encode` on the shipped corpora. For the common byte-level
//! BPE shape (GPT-2's and the fixtures': no normalizer, a `ByteLevel` pre-tokenizer with the
//! GPT-2 split pattern) the split and byte mapping are done here on the text itself, skipping
//! the tokenizers crate's per-byte alignment bookkeeping, which is most of what is left of the
//! cost; a text that holds an added token's content goes the general way. A
//! `tokenizer.json`'s truncation and padding are turned off at load: they shape model inputs,
//! and a count capped at a truncation length would let an over-limit record through.
//!
//! Memory: a pre-tokenized text costs far more than its text (alignments per byte), so each
//! is dropped as soon as it is counted; what is alive at once is one per thread, each bounded
//! by `data.max_record_bytes`, never a whole batch.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tokenizers::utils::SysRegex;
use tokenizers::{
    Model, OffsetReferential, OffsetType, PreTokenizer, PreTokenizerWrapper, Tokenizer,
};

use crate::record::Record;
use crate::{Error, Result};

/// A loaded tokenizer.
pub struct TokenCounter {
    tokenizer: Tokenizer,
    path: PathBuf,
    /// Set when the tokenizer is a byte-level BPE that [`ByteLevel`] can split.
    byte_level: Option<ByteLevel>,
}

/// Token counts of the words the model has tokenized, by word: as in the text (the
/// byte-level path) or as pre-tokenized (the general path). Two maps, since a word's two
/// spellings can collide (`Ġ` is a character of its own in a text).
#[derive(Default)]
struct WordCounts {
    as_in_text: HashMap<String, usize>,
    pre_tokenized: HashMap<String, usize>,
}

/// The GPT-2 split pattern, as the tokenizers crate's `ByteLevel` pre-tokenizer uses it.
const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// What `encode` does before the model for a tokenizer with no normalizer and a `ByteLevel`
/// pre-tokenizer (GPT-2 pattern, no prefix space): split by the pattern, map each byte to
/// its character (GPT-2's table).
struct ByteLevel {
    regex: SysRegex,
    chars: [char; 256],
    /// The added tokens' contents: `encode` splits them off first, so a text that holds one
    /// goes the general way.
    added: Vec<String>,
}

impl ByteLevel {
    fn of(tokenizer: &Tokenizer) -> Option<Self> {
        let plain = tokenizer.get_normalizer().is_none()
            && matches!(
                tokenizer.get_pre_tokenizer(),
                Some(PreTokenizerWrapper::ByteLevel(b)) if b.use_regex && !b.add_prefix_space
            );
        if !plain {
            return None;
        }
        // GPT-2's byte-to-character table: printable bytes stand for themselves, the others
        // for 256, 257, … in byte order.
        let mut chars = ['\0'; 256];
        let mut next = 256u32;
        for b in 0..=255u8 {
            let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
            let code = if printable {
                u32::from(b)
            } else {
                next += 1;
                next - 1
            };
            chars[usize::from(b)] = char::from_u32(code)?;
        }
        Some(ByteLevel {
            regex: SysRegex::new(GPT2_PATTERN).ok()?,
            chars,
            added: tokenizer
                .get_added_tokens_decoder()
                .into_values()
                .map(|t| t.content)
                .collect(),
        })
    }

    /// The text's words as the model sees them, or `None` when the text must go the general
    /// way (it holds an added token, or the pattern stopped early, which `fancy-regex` does
    /// on hitting its backtracking limit: every character matches some branch otherwise).
    fn words<'t>(&self, text: &'t str) -> Option<Vec<&'t str>> {
        if self.added.iter().any(|a| text.contains(a.as_str())) {
            return None;
        }
        if text.is_ascii() {
            return Some(gpt2_split_ascii(text));
        }
        let mut words = Vec::new();
        let mut end = 0;
        for (s, e) in self.regex.find_iter(text) {
            if s != end {
                return None;
            }
            words.push(&text[s..e]);
            end = e;
        }
        (end == text.len()).then_some(words)
    }
}

/// [`GPT2_PATTERN`]'s split of an ASCII text, without the regex (whose look-ahead needs the
/// backtracking engine, the larger part of the counting time). On ASCII, `\p{L}` is a
/// letter, `\p{N}` a digit and `\s` one of tab, line feed, vertical tab, form feed, carriage
/// return and space; the branches are tried in the pattern's order at each position.
fn gpt2_split_ascii(text: &str) -> Vec<&str> {
    // 0: whitespace, 1: letter, 2: digit, 3: anything else.
    let class = |c: u8| match c {
        b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ' => 0,
        c if c.is_ascii_alphabetic() => 1,
        c if c.is_ascii_digit() => 2,
        _ => 3,
    };
    let b = text.as_bytes();
    let n = b.len();
    let mut words = Vec::new();
    let mut i = 0;
    while i < n {
        // 's|'t|'re|'ve|'m|'ll|'d
        if b[i] == b'\'' {
            let rest = &b[i + 1..];
            let len =
                if rest.starts_with(b"re") || rest.starts_with(b"ve") || rest.starts_with(b"ll") {
                    3
                } else if matches!(rest.first(), Some(b's' | b't' | b'm' | b'd')) {
                    2
                } else {
                    0
                };
            if len > 0 {
                words.push(&text[i..i + len]);
                i += len;
                continue;
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        let j = if b[i] == b' ' { i + 1 } else { i };
        if j < n && class(b[j]) != 0 {
            let k = class(b[j]);
            let mut e = j + 1;
            while e < n && class(b[e]) == k {
                e += 1;
            }
            words.push(&text[i..e]);
            i = e;
            continue;
        }
        // `\s+(?!\S)`, then `\s+`: a run of whitespace followed by a word leaves its last
        // character to that word.
        let mut e = i;
        while e < n && class(b[e]) == 0 {
            e += 1;
        }
        let end = if e < n && e - i > 1 { e - 1 } else { e };
        words.push(&text[i..end]);
        i = end;
    }
    words
}

impl TokenCounter {
    /// Loads `tokenizer.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |e: tokenizers::Error| Error::Tokenizer {
            path: path.into(),
            message: e.to_string(),
        };
        let mut tokenizer = Tokenizer::from_file(path).map_err(err)?;
        tokenizer.with_truncation(None).map_err(err)?;
        tokenizer.with_padding(None);
        Ok(TokenCounter {
            byte_level: ByteLevel::of(&tokenizer),
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
        // One word cache per batch of texts: big enough batches to reuse it, enough of them
        // to keep every thread busy.
        let batch = distinct
            .len()
            .div_ceil(4 * rayon::current_num_threads())
            .max(256);
        let lengths: Vec<usize> = distinct
            .par_chunks(batch)
            .map(|texts| {
                let mut words = WordCounts::default();
                texts
                    .iter()
                    .map(|t| self.count_text(t, &mut words))
                    .collect::<std::result::Result<Vec<_>, _>>()
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?
            .concat();
        let mut counts = vec![0usize; records.len()];
        for (i, d) in owner {
            counts[i] += lengths[d];
        }
        Ok(counts)
    }

    /// Tokens in `text`, as `encode(text, false).len()` would give, without the `Encoding`.
    fn count_text(&self, text: &str, words: &mut WordCounts) -> tokenizers::Result<usize> {
        if let Some(bl) = &self.byte_level
            && let Some(pieces) = bl.words(text)
        {
            let mut n = 0;
            for w in pieces {
                n += match words.as_in_text.get(w) {
                    Some(&c) => c,
                    None => {
                        let mapped: String = w.bytes().map(|b| bl.chars[usize::from(b)]).collect();
                        let c = self.tokenizer.get_model().tokenize(&mapped)?.len();
                        words.as_in_text.insert(w.to_string(), c);
                        c
                    }
                };
            }
            return Ok(n);
        }
        self.count_general(text, &mut words.pre_tokenized)
    }

    /// [`TokenCounter::count_text`] through the tokenizer's own added-token extraction,
    /// normalizer and pre-tokenizer.
    fn count_general(
        &self,
        text: &str,
        words: &mut HashMap<String, usize>,
    ) -> tokenizers::Result<usize> {
        let t = &self.tokenizer;
        let mut pre = t
            .get_added_vocabulary()
            .extract_and_normalize(t.get_normalizer(), text);
        if let Some(p) = t.get_pre_tokenizer() {
            p.pre_tokenize(&mut pre)?;
        }
        let mut n = 0;
        for (word, _, tokens) in pre.get_splits(OffsetReferential::Original, OffsetType::None) {
            n += match tokens {
                // An added token, already matched.
                Some(tokens) => tokens.len(),
                None => match words.get(word) {
                    Some(&c) => c,
                    None => {
                        let c = t.get_model().tokenize(word)?.len();
                        words.insert(word.to_string(), c);
                        c
                    }
                },
            };
        }
        Ok(n)
    }

    /// Cuts the record's last field so the record has at most `max` tokens. Returns the new
    /// count, or `None` when even an empty last field would not fit (the input alone is over).
    /// An RFT prompt is never cut (`None`): half a question, or half its reference answer,
    /// would teach the grader's reward for a different task.
    pub fn truncate(&self, record: &mut Record, total: usize, max: usize) -> Result<Option<usize>> {
        if matches!(record, Record::Prompt { .. }) {
            return Ok(None);
        }
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

    /// The hand-written ASCII split agrees with the pattern on every kind of text it takes:
    /// random strings over letters, digits, every ASCII whitespace, punctuation and the
    /// contractions' pieces.
    #[test]
    fn the_ascii_split_is_the_gpt2_pattern_s() {
        let regex = SysRegex::new(GPT2_PATTERN).unwrap();
        let pieces = [
            "a", "Zq", "7", "42", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "'", "'s", "'t",
            "'re", "'ve", "'m", "'ll", "'d", "'x", "!", "?!", ".", "-", "\u{1}", "$", "don",
            "well",
        ];
        let mut rng = tunebench_core::SplitMix64(11);
        for _ in 0..20_000 {
            let len = 1 + rng.next_u64() as usize % 12;
            let text: String = (0..len)
                .map(|_| pieces[rng.next_u64() as usize % pieces.len()])
                .collect();
            let want: Vec<&str> = regex.find_iter(&text).map(|(s, e)| &text[s..e]).collect();
            assert_eq!(gpt2_split_ascii(&text), want, "{text:?}");
        }
    }

    #[test]
    fn counts_sum_every_field_and_repeated_texts_count_each_time() {
        let tok = TokenCounter::load(&tiny_llama()).unwrap();
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

    fn tiny_llama() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tiny-llama/model/tokenizer.json")
    }

    /// The count-only path gives `encode`'s count for every text of the shipped corpora
    /// (banking77's CSV lines, GSM8K's questions and answers), and for texts with added
    /// tokens, odd spacing and non-ASCII.
    #[test]
    fn counts_equal_encode_on_the_shipped_corpora() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let tok = TokenCounter::load(&tiny_llama()).unwrap();
        let banking = std::fs::read_to_string(root.join("data/banking77/train.csv")).unwrap();
        let mut texts: Vec<String> = banking.lines().map(str::to_string).collect();
        let gsm = std::fs::read_to_string(root.join("data/gsm8k/train.jsonl")).unwrap();
        for line in gsm.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            texts.push(v["question"].as_str().unwrap().into());
            texts.push(v["answer"].as_str().unwrap().into());
        }
        texts.extend(
            [
                "",
                " ",
                "<|begin_of_text|>Hello<|end_of_text|>",
                "a<|pad|> <|pad|>b",
                "  two  spaces\tand\ttabs\n\nlines  ",
                "naïve café — 東京 🚀🚀",
                " hello Ġhello ĠĠ hello",
            ]
            .map(String::from),
        );
        assert!(texts.len() > 24_000);
        let records: Vec<Record> = texts
            .iter()
            .map(|t| Record::Text { text: t.clone() })
            .collect();
        let refs: Vec<&Record> = records.iter().collect();
        assert!(
            tok.byte_level.is_some(),
            "the fixture takes the byte-level path"
        );
        let counts = tok.count(&refs).unwrap();
        let mut general = HashMap::new();
        for (i, (t, n)) in texts.iter().zip(counts).enumerate() {
            let want = tok.tokenizer.encode(t.as_str(), false).unwrap().len();
            assert_eq!(n, want, "{t:?}");
            // The general path too, on every tenth text and the hand-made ones.
            if i % 10 == 0 || i + 8 > texts.len() {
                assert_eq!(tok.count_general(t, &mut general).unwrap(), want, "{t:?}");
            }
        }
    }

    /// A tokenizer.json that truncates model inputs used to cap every count at its length,
    /// so no record was ever over a larger limit.
    #[test]
    fn a_tokenizers_truncation_does_not_cap_the_count() {
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(tiny_llama()).unwrap()).unwrap();
        json["truncation"] = serde_json::json!({
            "direction": "Right", "max_length": 4, "strategy": "LongestFirst", "stride": 0
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, serde_json::to_vec(&json).unwrap()).unwrap();
        let capped = Tokenizer::from_file(&path).unwrap();
        let text = "How many eggs are left after breakfast?";
        assert_eq!(capped.encode(text, false).unwrap().len(), 4);
        let tok = TokenCounter::load(&path).unwrap();
        let r = Record::Text { text: text.into() };
        assert!(tok.count(&[&r]).unwrap()[0] > 4);
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
