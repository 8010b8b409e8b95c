//! ROUGE-N and ROUGE-L compatible with Google's `rouge-score` package
//! (`rouge_scorer.RougeScorer(..., use_stemmer=False)`).
//!
//! Tokenisation follows `rouge_score.tokenize.tokenize` without a stemmer:
//! lowercase the text, replace every run of characters outside `[a-z0-9]` by a
//! space and split on whitespace. **Porter stemming (`use_stemmer=True`) is not
//! implemented**, so scores correspond to the package's default setting only.
//! `rougeLsum` (summary-level LCS over newline-separated sentences) is not
//! implemented either.
//!
//! Argument order follows the package: `score(target, prediction)`, where the
//! target is the reference. Precision is measured against the prediction and
//! recall against the target.

use serde::{Deserialize, Serialize};

use super::MetricError;
use super::ngram::{NgramInterner, Vocab, WORD_ROOT, ensure_orders, fit};

/// Precision, recall and F1 of one ROUGE variant, each in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RougeScore {
    /// Matches divided by the prediction's n-gram (or token) count.
    pub precision: f64,
    /// Matches divided by the target's n-gram (or token) count.
    pub recall: f64,
    /// Harmonic mean of precision and recall (`0` when both are `0`).
    pub fmeasure: f64,
}

impl RougeScore {
    fn from_pr(precision: f64, recall: f64) -> Self {
        // Same expression and evaluation order as rouge_score.scoring.fmeasure.
        let fmeasure = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Self {
            precision,
            recall,
            fmeasure,
        }
    }
}

/// ROUGE-1, ROUGE-2 and ROUGE-L for one (target, prediction) pair.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RougeScores {
    /// Unigram overlap (`rouge1`).
    pub rouge1: RougeScore,
    /// Bigram overlap (`rouge2`).
    pub rouge2: RougeScore,
    /// Longest common subsequence (`rougeL`).
    pub rouge_l: RougeScore,
}

/// Tokenises `text` like `rouge_score.tokenize.tokenize(text, None)`.
///
/// ```
/// use tunebench_scoring::metrics::rouge::rouge_tokenize;
/// assert_eq!(rouge_tokenize("The log. It's 3.5%!"), ["the", "log", "it", "s", "3", "5"]);
/// ```
pub fn rouge_tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    for_each_rouge_token(text, &mut cur, |t| tokens.push(t.to_owned()));
    tokens
}

/// Streams the rouge-score tokens of `text` to `emit`, using `cur` as scratch.
fn for_each_rouge_token(text: &str, cur: &mut String, mut emit: impl FnMut(&str)) {
    cur.clear();
    let mut push = |c: char, cur: &mut String| {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            cur.push(c);
        } else if !cur.is_empty() {
            emit(cur);
            cur.clear();
        }
    };
    for c in text.chars() {
        if c.is_ascii() {
            push(c.to_ascii_lowercase(), cur);
        } else {
            for l in c.to_lowercase() {
                push(l, cur);
            }
        }
    }
    if !cur.is_empty() {
        emit(cur);
        cur.clear();
    }
}

/// Reusable ROUGE scorer. Keeping one scorer around avoids re-allocating its
/// buffers and vocabulary for every pair, which matters for large evaluations.
#[derive(Default)]
pub struct RougeScorer {
    vocab: Vocab,
    scratch: String,
    target_ids: Vec<u32>,
    prediction_ids: Vec<u32>,
    interner: NgramInterner,
    target_ngrams: Vec<Vec<u32>>,
    prediction_ngrams: Vec<Vec<u32>>,
    counts: Vec<u32>,
    lcs_rows: Vec<u32>,
}

impl RougeScorer {
    /// Creates a scorer with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    fn tokenize_pair(&mut self, target: &str, prediction: &str) {
        self.vocab.maybe_reset();
        let vocab = &mut self.vocab;
        self.target_ids.clear();
        let ids = &mut self.target_ids;
        for_each_rouge_token(target, &mut self.scratch, |t| ids.push(vocab.id(t)));
        self.prediction_ids.clear();
        let ids = &mut self.prediction_ids;
        for_each_rouge_token(prediction, &mut self.scratch, |t| ids.push(vocab.id(t)));
    }

    /// Scores ROUGE-1, ROUGE-2 and ROUGE-L at once (one tokenisation).
    pub fn score(&mut self, target: &str, prediction: &str) -> RougeScores {
        self.tokenize_pair(target, prediction);
        self.intern_ngrams(2);
        RougeScores {
            rouge1: self.ngram_score(1),
            rouge2: self.ngram_score(2),
            rouge_l: self.lcs_score(),
        }
    }

    /// Scores against several targets and keeps, separately for each ROUGE
    /// type, the result of the target with the highest F-measure (first one
    /// on ties), like `RougeScorer.score_multi`. No target gives all zeros.
    pub fn score_multi<R: AsRef<str>>(&mut self, targets: &[R], prediction: &str) -> RougeScores {
        let mut best: Option<RougeScores> = None;
        for t in targets {
            let s = self.score(t.as_ref(), prediction);
            best = Some(match best {
                None => s,
                Some(mut b) => {
                    if s.rouge1.fmeasure > b.rouge1.fmeasure {
                        b.rouge1 = s.rouge1;
                    }
                    if s.rouge2.fmeasure > b.rouge2.fmeasure {
                        b.rouge2 = s.rouge2;
                    }
                    if s.rouge_l.fmeasure > b.rouge_l.fmeasure {
                        b.rouge_l = s.rouge_l;
                    }
                    b
                }
            });
        }
        best.unwrap_or_default()
    }

    /// ROUGE-N (`rougeN` in rouge-score) for `n >= 1`.
    ///
    /// # Errors
    /// [`MetricError::InvalidArgument`] when `n == 0`.
    pub fn rouge_n(
        &mut self,
        target: &str,
        prediction: &str,
        n: usize,
    ) -> Result<RougeScore, MetricError> {
        if n == 0 {
            return Err(MetricError::InvalidArgument(
                "rouge-n requires n >= 1".into(),
            ));
        }
        self.tokenize_pair(target, prediction);
        self.intern_ngrams(n);
        Ok(self.ngram_score(n))
    }

    /// ROUGE-L (`rougeL` in rouge-score): LCS-based precision, recall and F1.
    pub fn rouge_l(&mut self, target: &str, prediction: &str) -> RougeScore {
        self.tokenize_pair(target, prediction);
        self.lcs_score()
    }

    fn intern_ngrams(&mut self, max_order: usize) {
        self.interner.clear();
        ensure_orders(&mut self.target_ngrams, max_order);
        ensure_orders(&mut self.prediction_ngrams, max_order);
        self.interner.ngrams_up_to(
            &self.target_ids,
            WORD_ROOT,
            &mut self.target_ngrams[..max_order],
        );
        self.interner.ngrams_up_to(
            &self.prediction_ids,
            WORD_ROOT,
            &mut self.prediction_ngrams[..max_order],
        );
        self.counts.clear();
        fit(&mut self.counts, &self.interner);
    }

    /// `_score_ngrams` of rouge-score on the already interned n-grams.
    fn ngram_score(&mut self, n: usize) -> RougeScore {
        let target = &self.target_ngrams[n - 1];
        let prediction = &self.prediction_ngrams[n - 1];
        for &id in target {
            self.counts[id as usize] += 1;
        }
        let mut overlap = 0u64;
        for &id in prediction {
            let c = &mut self.counts[id as usize];
            if *c > 0 {
                *c -= 1;
                overlap += 1;
            }
        }
        for &id in target {
            self.counts[id as usize] = 0;
        }
        let precision = overlap as f64 / prediction.len().max(1) as f64;
        let recall = overlap as f64 / target.len().max(1) as f64;
        RougeScore::from_pr(precision, recall)
    }

    /// `_score_lcs` of rouge-score, with a two-row dynamic programme.
    fn lcs_score(&mut self) -> RougeScore {
        let target = &self.target_ids;
        let prediction = &self.prediction_ids;
        if target.is_empty() || prediction.is_empty() {
            return RougeScore::default();
        }
        let lcs = lcs_length(target, prediction, &mut self.lcs_rows);
        let precision = lcs as f64 / prediction.len() as f64;
        let recall = lcs as f64 / target.len() as f64;
        RougeScore::from_pr(precision, recall)
    }
}

/// Length of the longest common subsequence of `a` and `b` in `O(|a|·|b|)`
/// time and `O(min(|a|, |b|))` memory (`rows` is scratch space).
pub(crate) fn lcs_length(a: &[u32], b: &[u32], rows: &mut Vec<u32>) -> usize {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let width = short.len() + 1;
    rows.clear();
    rows.resize(2 * width, 0);
    let (mut prev, mut cur) = rows.split_at_mut(width);
    for &x in long {
        cur[0] = 0;
        for (j, &y) in short.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[short.len()] as usize
}

/// ROUGE-N F-measure family for one pair; see [`RougeScorer::rouge_n`].
///
/// # Errors
/// [`MetricError::InvalidArgument`] when `n == 0`.
pub fn rouge_n(target: &str, prediction: &str, n: usize) -> Result<RougeScore, MetricError> {
    RougeScorer::new().rouge_n(target, prediction, n)
}

/// ROUGE-L for one pair; see [`RougeScorer::rouge_l`].
pub fn rouge_l(target: &str, prediction: &str) -> RougeScore {
    RougeScorer::new().rouge_l(target, prediction)
}

/// ROUGE-1, ROUGE-2 and ROUGE-L for one pair; see [`RougeScorer::score`].
pub fn rouge(target: &str, prediction: &str) -> RougeScores {
    RougeScorer::new().score(target, prediction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    // Reference example: the usage example of Google's rouge-score package
    // (README of https://github.com/google-research/google-research/tree/master/rouge,
    // also on https://pypi.org/project/rouge-score/):
    //   scorer = rouge_scorer.RougeScorer(['rouge1', 'rougeL'], use_stemmer=True)
    //   scores = scorer.score('The quick brown fox jumps over the lazy dog',
    //                         'The quick brown dog jumps on the log.')
    // rouge1 = Score(precision=0.75, recall=0.6666666666666666,
    // fmeasure=0.7058823529411765): 6 shared unigrams (the x2, quick, brown,
    // dog, jumps), 8 prediction tokens, 9 target tokens. Stemming changes no
    // match in this example, so the unstemmed default gives the same numbers.
    //
    // rougeL is NOT equal to rouge1 here: the longest common subsequence is
    // "the quick brown jumps the" (5 tokens; "dog" comes before "jumps" in the
    // prediction but last in the target), so P = 5/8, R = 5/9, F = 10/17,
    // following `_score_lcs` in rouge_scorer.py.
    #[test]
    fn rouge_score_readme_example() {
        let target = "The quick brown fox jumps over the lazy dog";
        let prediction = "The quick brown dog jumps on the log.";
        let s = rouge(target, prediction);
        assert_eq!(s.rouge1.precision, 0.75);
        assert_eq!(s.rouge1.recall, 0.6666666666666666);
        assert_eq!(s.rouge1.fmeasure, 0.7058823529411765);

        assert_eq!(s.rouge_l.precision, 0.625);
        assert_eq!(s.rouge_l.recall, 5.0 / 9.0);
        assert!(close(s.rouge_l.fmeasure, 10.0 / 17.0));

        // rouge2 by hand: target bigrams 8, prediction bigrams 7,
        // common {the quick, quick brown} = 2.
        assert!(close(s.rouge2.precision, 2.0 / 7.0));
        assert!(close(s.rouge2.recall, 2.0 / 8.0));
        assert!(close(
            s.rouge2.fmeasure,
            2.0 * (2.0 / 7.0) * 0.25 / (2.0 / 7.0 + 0.25)
        ));
        // Argument order matters: swapping swaps precision and recall.
        let swapped = rouge(prediction, target);
        assert_eq!(swapped.rouge1.precision, 0.6666666666666666);
        assert_eq!(swapped.rouge1.recall, 0.75);
    }

    // Unit tests of rouge-score (rouge/rouge_scorer_test.py in
    // google-research): testRouge1, testRouge2, testRougeLConsecutive,
    // testRougeLNonConsecutive and testRougeEmpty.
    #[test]
    fn rouge_score_unit_tests() {
        let r1 = rouge_n("testing one two", "testing", 1).expect("n >= 1");
        assert!(close(r1.precision, 1.0) && close(r1.recall, 1.0 / 3.0) && close(r1.fmeasure, 0.5));
        let r2 = rouge_n("testing one two", "testing one", 2).expect("n >= 1");
        assert!(close(r2.precision, 1.0) && close(r2.recall, 0.5) && close(r2.fmeasure, 2.0 / 3.0));
        for prediction in ["testing one", "testing two"] {
            let l = rouge_l("testing one two", prediction);
            assert!(
                close(l.precision, 1.0) && close(l.recall, 2.0 / 3.0) && close(l.fmeasure, 0.8)
            );
        }
        let empty = rouge("testing one two", "");
        for r in [empty.rouge1, empty.rouge2, empty.rouge_l] {
            assert_eq!(r, RougeScore::default());
        }
    }

    // First two lines of rouge/testdata/target.txt and prediction.txt of
    // google-research/rouge; expected values are the ROUGE-1.5.5 "ground
    // truth" asserted (to 5 places) by testRouge1AgainstRouge155,
    // testRouge2AgainstRouge155 and testRougeLAgainstRouge155.
    const TARGETS: [&str; 2] = [
        "ZfbCUIUuePaiLVUlCaUXxkpu XPeWing tUHfPMuZ',-Xd Y BrUgVJing M-HV.-DgdDaY.rFDJCRing Ht-LM EKBDXkME,yz'RBr q'wtion wIojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxer tKM L\n",
        "KsJdPByEtAor fE-Qg Dpdbring cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMtion psing sbKao Q m qiing LMmer HqqLFXe,XPY,J XsurkMer ,ed nB'wH'bWVHjWFEing tQ.saefZwJtKrTlixYpMMsJing UCAPwNHeYVjDing c T BUySKtion gMPfJpwGw p'NvxAoping eu pBwMBKV'I DNxqelhu,PHPxDEq,mtion SN\n",
    ];
    const PREDICTIONS: [&str; 2] = [
        "rFDJCRtion Ht-LM EKtDXkME,yz'RBr q'wer wrojNbN wL,b .a-'XdQggyFl jB-RPP'iyOIcUxi\n",
        "n cw-WeFyu vC MoBL Xdn g wkvcEiGvKtion BDFhrpMer pstion sbKao Q m qier LMmed HqqLFXe,XPY,J XsurkMeo ,ed nB'wH'bWVHjWFEer tQ.saefZwJtKrTlixYpMMNJtion UCAPwNHeYVjD\n",
    ];

    /// `assertAlmostEqual(expected, actual, 5)`: equal after rounding the
    /// difference to 5 decimal places.
    fn almost5(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() < 5e-6
    }

    fn assert_prf(s: RougeScore, precision: f64, recall: f64, fmeasure: f64) {
        assert!(almost5(s.precision, precision), "precision of {s:?}");
        assert!(almost5(s.recall, recall), "recall of {s:?}");
        assert!(almost5(s.fmeasure, fmeasure), "fmeasure of {s:?}");
    }

    #[test]
    fn rouge_155_ground_truth() {
        let mut scorer = RougeScorer::new();
        let a = scorer.score(TARGETS[0], PREDICTIONS[0]);
        assert_prf(a.rouge1, 0.68750, 0.40741, 0.51163);
        assert_prf(a.rouge2, 0.53333, 0.30769, 0.39024);
        assert_prf(a.rouge_l, 0.68750, 0.40741, 0.51163);
        let b = scorer.score(TARGETS[1], PREDICTIONS[1]);
        assert_prf(b.rouge1, 0.65385, 0.40476, 0.50000);
        assert_prf(b.rouge2, 0.48000, 0.29268, 0.36364);
        assert_prf(b.rouge_l, 0.65385, 0.40476, 0.50000);
    }

    #[test]
    fn tokenizer_matches_definition() {
        assert_eq!(
            rouge_tokenize("Hello, World!! 42x"),
            ["hello", "world", "42x"]
        );
        // Non-ASCII letters are outside [a-z0-9] and split tokens.
        assert_eq!(rouge_tokenize("café au lait"), ["caf", "au", "lait"]);
        // U+0130 lowercases to "i" + U+0307 in Python and Rust alike.
        assert_eq!(rouge_tokenize("\u{130}STANBUL"), ["i", "stanbul"]);
        assert!(rouge_tokenize(" ... ").is_empty());
    }

    #[test]
    fn degenerate_inputs() {
        let empty = rouge("", "something");
        assert_eq!(empty.rouge1, RougeScore::default());
        assert_eq!(empty.rouge_l, RougeScore::default());
        let same = rouge("a b c", "a b c");
        assert_eq!(same.rouge2.fmeasure, 1.0);
        assert_eq!(same.rouge_l.fmeasure, 1.0);
        assert!(rouge_n("a", "a", 0).is_err());
        // rouge-3 on two-token texts: no trigrams on either side -> 0.
        let r3 = rouge_n("a b", "a b", 3).expect("n >= 1");
        assert_eq!(r3.fmeasure, 0.0);
    }

    #[test]
    fn lcs_length_cases() {
        let mut rows = Vec::new();
        assert_eq!(lcs_length(&[1, 2, 3, 4], &[2, 4], &mut rows), 2);
        assert_eq!(lcs_length(&[2, 4], &[1, 2, 3, 4], &mut rows), 2);
        // ABCBDAB vs BDCABA -> LCS length 4 (textbook example).
        let a = [1, 2, 3, 2, 4, 1, 2];
        let b = [2, 4, 3, 1, 2, 1];
        assert_eq!(lcs_length(&a, &b, &mut rows), 4);
        assert_eq!(lcs_length(&[], &b, &mut rows), 0);
    }

    #[test]
    fn multi_target_takes_best_per_type() {
        let mut scorer = RougeScorer::new();
        let s = scorer.score_multi(&["completely different", "the cat sat"], "the cat sat");
        assert_eq!(s.rouge1.fmeasure, 1.0);
        assert_eq!(s.rouge_l.fmeasure, 1.0);
        let none: [&str; 0] = [];
        assert_eq!(scorer.score_multi(&none, "x"), RougeScores::default());
    }
}
