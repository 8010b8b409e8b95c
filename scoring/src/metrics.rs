//! Per-example and corpus-level evaluation metrics, each checked against the
//! published reference implementation it follows.
//!
//! * [`text`]: answer normalisation (SQuAD `normalize_answer` and switches);
//! * [`string_match`]: exact match, containment, regex match, SQuAD token F1;
//! * [`rouge`]: ROUGE-1/2/L (Google `rouge-score` defaults, no stemming);
//! * [`bleu`]: corpus and sentence BLEU, the `13a` tokenizer (sacreBLEU 2.x);
//! * [`chrf`]: chrF / chrF++ (sacreBLEU 2.x);
//! * [`numeric`]: number extraction and tolerant comparison;
//! * [`json`]: JSON validity and a JSON Schema subset;
//! * [`extract`]: answer extraction (regex, last number, JSON path, first line);
//! * [`classification`]: accuracy, macro-F1, confusion matrix (scikit-learn).
//!
//! BLEU and chrF expose their sufficient statistics ([`bleu::BleuStats`],
//! [`chrf::ChrfStats`]), which add up over segments: the scorer computes them
//! once per example and resamples sums for bootstrap intervals.

pub mod bleu;
pub mod chrf;
pub mod classification;
pub mod extract;
pub mod json;
mod ngram;
pub mod numeric;
pub mod rouge;
pub mod string_match;
pub mod text;

/// Errors reported by the metrics in this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    /// Two inputs that must be parallel have different lengths.
    #[error("length mismatch: {left} hypotheses/items vs {right} references/items")]
    LengthMismatch {
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
    /// An argument or configuration value is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A [`extract::JsonPath`] could not be parsed.
    #[error("invalid JSON path {path:?}: {reason}")]
    InvalidJsonPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Checks that parallel hypothesis and reference lists have the same length.
fn check_lengths(hypotheses: usize, references: usize) -> Result<(), MetricError> {
    if hypotheses == references {
        Ok(())
    } else {
        Err(MetricError::LengthMismatch {
            left: hypotheses,
            right: references,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::bleu::{BleuConfig, BleuScorer, corpus_bleu};
    use super::chrf::{ChrfConfig, corpus_chrf};
    use super::rouge::{RougeScorer, RougeScores};
    use super::string_match::token_f1;
    use crate::stats::Rng;
    use std::time::Instant;

    /// 100k synthetic (reference, prediction) pairs: words drawn from a
    /// 5,000-word vocabulary, 8–40 words long, the prediction being the
    /// reference with about 30% of the words replaced and some dropped.
    fn synthetic_pairs(n: usize) -> (Vec<String>, Vec<String>) {
        let mut rng = Rng::seed_from_u64(2024);
        let vocab: Vec<String> = (0..5_000)
            .map(|i| {
                let len = 2 + (i % 9);
                (0..len)
                    .map(|_| char::from(b'a' + rng.below(26) as u8))
                    .collect::<String>()
            })
            .collect();
        let mut refs = Vec::with_capacity(n);
        let mut preds = Vec::with_capacity(n);
        for _ in 0..n {
            let len = 8 + rng.below(33) as usize;
            let words: Vec<&str> = (0..len)
                .map(|_| vocab[rng.below(5_000) as usize].as_str())
                .collect();
            let mut pred = Vec::with_capacity(len);
            for w in &words {
                let r = rng.next_f64();
                if r < 0.3 {
                    pred.push(vocab[rng.below(5_000) as usize].as_str());
                } else if r > 0.95 {
                    continue;
                } else {
                    pred.push(w);
                }
            }
            let mut reference = words.join(" ");
            reference.push('.');
            refs.push(reference);
            preds.push(pred.join(" ") + ".");
        }
        (refs, preds)
    }

    #[test]
    #[ignore = "timing only; run with --release -- --ignored --nocapture throughput_100k"]
    fn throughput_100k() {
        let n = 100_000;
        let (refs, preds) = synthetic_pairs(n);
        let ref_lists: Vec<[&str; 1]> = refs.iter().map(|r| [r.as_str()]).collect();

        let t = Instant::now();
        let mut scorer = RougeScorer::new();
        let mut sum = RougeScores::default();
        for (r, p) in refs.iter().zip(&preds) {
            let s = scorer.score(r, p);
            sum.rouge1.fmeasure += s.rouge1.fmeasure;
            sum.rouge2.fmeasure += s.rouge2.fmeasure;
            sum.rouge_l.fmeasure += s.rouge_l.fmeasure;
        }
        let rouge_time = t.elapsed();
        println!(
            "rouge1/2/L (one scorer.score call per pair): {n} pairs in {rouge_time:?}; mean F: {:.4} / {:.4} / {:.4}",
            sum.rouge1.fmeasure / n as f64,
            sum.rouge2.fmeasure / n as f64,
            sum.rouge_l.fmeasure / n as f64
        );

        let t = Instant::now();
        let bleu = corpus_bleu(&preds, &ref_lists, &BleuConfig::default()).expect("valid input");
        println!(
            "corpus BLEU (13a, order 4): {n} pairs in {:?}; BLEU = {:.2}",
            t.elapsed(),
            bleu.score
        );

        let t = Instant::now();
        let mut bleu_scorer = BleuScorer::new(BleuConfig::sentence()).expect("valid config");
        let mut total = 0.0;
        for (p, r) in preds.iter().zip(&ref_lists) {
            total += bleu_scorer.sentence_score(p, r).expect("valid input").score;
        }
        println!(
            "sentence BLEU: {n} pairs in {:?}; mean = {:.2}",
            t.elapsed(),
            total / n as f64
        );

        let t = Instant::now();
        let chrf = corpus_chrf(&preds, &ref_lists, &ChrfConfig::default()).expect("valid input");
        println!(
            "corpus chrF (char order 6): {n} pairs in {:?}; chrF = {:.2}",
            t.elapsed(),
            chrf.score
        );

        let t = Instant::now();
        let f1: f64 = refs
            .iter()
            .zip(&preds)
            .map(|(r, p)| token_f1(p, &[r]))
            .sum();
        println!(
            "SQuAD token F1: {n} pairs in {:?}; mean = {:.4}",
            t.elapsed(),
            f1 / n as f64
        );
    }
}
