//! String-level metrics: exact match, containment, regex match and SQuAD
//! token F1.

use std::collections::HashMap;

use regex::Regex;

use super::text::{NormalizeOptions, normalize_answer, split_py_whitespace};

/// Exact match: `1.0` when the normalised prediction equals the normalised form
/// of at least one reference, else `0.0`.
///
/// No reference at all scores `0.0`. Normalisation is controlled by `opts`
/// (see [`NormalizeOptions`]).
pub fn exact_match<R: AsRef<str>>(
    prediction: &str,
    references: &[R],
    opts: &NormalizeOptions,
) -> f64 {
    let pred = opts.apply(prediction);
    let hit = references.iter().any(|r| opts.apply(r.as_ref()) == pred);
    if hit { 1.0 } else { 0.0 }
}

/// Containment: `1.0` when the normalised prediction contains the normalised
/// form of at least one reference as a substring, else `0.0`.
///
/// A reference that normalises to the empty string only matches an empty
/// (normalised) prediction, so an empty reference cannot make every prediction
/// pass.
pub fn contains<R: AsRef<str>>(prediction: &str, references: &[R], opts: &NormalizeOptions) -> f64 {
    let pred = opts.apply(prediction);
    let hit = references.iter().any(|r| {
        let r = opts.apply(r.as_ref());
        if r.is_empty() {
            pred.is_empty()
        } else {
            pred.contains(&r)
        }
    });
    if hit { 1.0 } else { 0.0 }
}

/// Regex match: `1.0` when `pattern` matches anywhere in `prediction`
/// (use `^...$` anchors for a full match), else `0.0`.
pub fn regex_match(prediction: &str, pattern: &Regex) -> f64 {
    if pattern.is_match(prediction) {
        1.0
    } else {
        0.0
    }
}

/// Returns the SQuAD v2.0 convention for the reference list: an empty list is
/// treated as the single empty answer `""`.
fn squad_refs<R: AsRef<str>>(references: &[R]) -> Vec<&str> {
    if references.is_empty() {
        vec![""]
    } else {
        references.iter().map(AsRef::as_ref).collect()
    }
}

/// SQuAD exact match: `1.0` when `normalize_answer(prediction)` equals
/// `normalize_answer(reference)` for some reference (maximum over references).
///
/// As in the SQuAD v2.0 script, an empty reference list counts as the single
/// empty answer, so an empty prediction then scores `1.0`.
pub fn squad_exact_match<R: AsRef<str>>(prediction: &str, references: &[R]) -> f64 {
    let pred = normalize_answer(prediction);
    let hit = squad_refs(references)
        .into_iter()
        .any(|r| normalize_answer(r) == pred);
    if hit { 1.0 } else { 0.0 }
}

/// F1 between two token lists, following `compute_f1` of the SQuAD v2.0
/// script: if either side is empty the score is `1.0` when both are empty and
/// `0.0` otherwise; otherwise the bag-of-tokens overlap
/// (`Counter(pred) & Counter(gold)`) gives precision, recall and their
/// harmonic mean.
fn f1_tokens(pred: &[&str], gold: &[&str]) -> f64 {
    if pred.is_empty() || gold.is_empty() {
        return if pred.is_empty() && gold.is_empty() {
            1.0
        } else {
            0.0
        };
    }
    let mut gold_counts: HashMap<&str, usize> = HashMap::with_capacity(gold.len());
    for &t in gold {
        *gold_counts.entry(t).or_insert(0) += 1;
    }
    let mut num_same = 0usize;
    for &t in pred {
        if let Some(c) = gold_counts.get_mut(t)
            && *c > 0
        {
            *c -= 1;
            num_same += 1;
        }
    }
    if num_same == 0 {
        return 0.0;
    }
    let precision = num_same as f64 / pred.len() as f64;
    let recall = num_same as f64 / gold.len() as f64;
    (2.0 * precision * recall) / (precision + recall)
}

/// SQuAD token F1: the maximum over references of the bag-of-tokens F1
/// between the normalised prediction and reference (see
/// [`normalize_answer`]).
///
/// Follows the official SQuAD v2.0 evaluation script: when both token lists
/// are empty the score is `1.0`, when only one is empty it is `0.0`, and an
/// empty reference list is treated as the single empty answer.
pub fn token_f1<R: AsRef<str>>(prediction: &str, references: &[R]) -> f64 {
    // Tokens as in SQuAD v2.0's `get_tokens`: normalize_answer(s).split().
    let pred_norm = normalize_answer(prediction);
    let pred: Vec<&str> = split_py_whitespace(&pred_norm).collect();
    squad_refs(references)
        .into_iter()
        .map(|r| {
            let gold_norm = normalize_answer(r);
            let gold: Vec<&str> = split_py_whitespace(&gold_norm).collect();
            f1_tokens(&pred, &gold)
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_REFS: [&str; 0] = [];

    #[test]
    fn exact_match_with_options() {
        let strict = NormalizeOptions::strict();
        assert_eq!(exact_match("Paris", &["Paris"], &strict), 1.0);
        assert_eq!(exact_match("paris", &["Paris"], &strict), 0.0);
        assert_eq!(
            exact_match("paris", &["London", "PARIS"], &NormalizeOptions::lenient()),
            1.0
        );
        assert_eq!(
            exact_match("the Paris.", &["Paris"], &NormalizeOptions::lenient()),
            0.0
        );
        assert_eq!(
            exact_match("the Paris.", &["Paris"], &NormalizeOptions::squad()),
            1.0
        );
        assert_eq!(exact_match("x", &NO_REFS, &strict), 0.0);
    }

    #[test]
    fn contains_and_regex() {
        let opts = NormalizeOptions::lenient();
        assert_eq!(contains("The answer is Paris.", &["paris"], &opts), 1.0);
        assert_eq!(contains("The answer is Rome.", &["paris"], &opts), 0.0);
        assert_eq!(contains("anything", &[""], &opts), 0.0);
        assert_eq!(contains("", &[""], &opts), 1.0);
        let re = Regex::new(r"^\s*(?i:yes)\b").expect("valid test regex");
        assert_eq!(regex_match("Yes, it is.", &re), 1.0);
        assert_eq!(regex_match("No.", &re), 0.0);
    }

    // Expected F1 values are computed by hand from `compute_f1` /
    // `compute_exact` of the official SQuAD v2.0 evaluation script
    // (evaluate-v2.0.py, https://rajpurkar.github.io/SQuAD-explorer/).
    #[test]
    fn squad_f1_known_pairs() {
        // pred tokens [cat, sat], gold [cat, sat, on, mat]: P=1, R=0.5, F1=2/3
        assert!((token_f1("The cat sat", &["the cat sat on the mat"]) - 2.0 / 3.0).abs() < 1e-15);
        // pred [quick, brown, fox], gold [brown, fox, jumps]: same=2, P=R=2/3
        assert!((token_f1("quick brown fox", &["Brown fox jumps!"]) - 2.0 / 3.0).abs() < 1e-15);
        // Counter intersection: pred [b, b, c] vs gold [b, c, c]
        // -> common {b:1, c:1} = 2, P = 2/3, R = 2/3
        assert!((token_f1("b b c", &["b c c"]) - 2.0 / 3.0).abs() < 1e-15);
        // Max over references.
        assert_eq!(
            token_f1("Denver Broncos", &["Carolina Panthers", "Denver Broncos"]),
            1.0
        );
        // No overlap -> 0.
        assert_eq!(token_f1("Denver", &["Carolina"]), 0.0);
        // Both normalise to empty -> 1 (v2.0 no-answer rule); one empty -> 0.
        assert_eq!(token_f1("The", &["an"]), 1.0);
        assert_eq!(token_f1("", &["Denver"]), 0.0);
        assert_eq!(token_f1("Denver", &[""]), 0.0);
        // Empty reference list behaves like [""].
        assert_eq!(token_f1("", &NO_REFS), 1.0);
        assert_eq!(token_f1("Denver", &NO_REFS), 0.0);
    }

    #[test]
    fn squad_exact_known_pairs() {
        assert_eq!(squad_exact_match("The Cat!", &["cat"]), 1.0);
        assert_eq!(squad_exact_match("cats", &["cat"]), 0.0);
        assert_eq!(squad_exact_match("", &NO_REFS), 1.0);
    }
}
