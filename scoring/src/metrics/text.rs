//! Text normalisation helpers shared by the metrics.
//!
//! The central function is [`normalize_answer`], a re-implementation of the
//! `normalize_answer` function of the official SQuAD evaluation script
//! (v1.1 and v2.0 share it): lowercase, remove every character of Python's
//! `string.punctuation`, replace the whole words `a`, `an` and `the` by a
//! space, and collapse whitespace.
//!
//! [`NormalizeOptions`] exposes the same steps as independent switches so that
//! exact-match style metrics can choose how lenient they are.
//!
//! Whitespace follows Python's `str.split()` / `str.isspace()` definition (see
//! [`is_py_whitespace`]) so that results agree with the Python reference
//! implementations on unusual input.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Returns `true` for the characters that Python's `str.isspace()` accepts.
///
/// This is Unicode `White_Space` (what [`char::is_whitespace`] tests) plus the
/// four ASCII information separators `U+001C..=U+001F`, which Python also
/// treats as whitespace in `str.split()`.
pub fn is_py_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Splits `s` on runs of Python whitespace, dropping empty pieces, exactly like
/// Python's `s.split()` without arguments.
pub fn split_py_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_whitespace).filter(|t| !t.is_empty())
}

/// Collapses every run of whitespace into one space and trims both ends
/// (Python's `' '.join(s.split())`).
pub fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for token in split_py_whitespace(s) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(token);
    }
    out
}

/// Returns `true` for the 32 ASCII characters of Python's `string.punctuation`
/// (`` !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~ ``).
pub fn is_py_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// Removes every character of Python's `string.punctuation` from `s`.
///
/// Non-ASCII punctuation (for example `«` or `…`) is kept, as in the SQuAD
/// script.
pub fn remove_punctuation(s: &str) -> String {
    s.chars().filter(|&c| !is_py_punctuation(c)).collect()
}

/// Word characters in the sense of Python's Unicode `\w`: alphanumerics and
/// the underscore.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Replaces the whole words `a`, `an` and `the` by a single space, like the
/// SQuAD script's `re.sub(r'\b(a|an|the)\b', ' ', text)`.
///
/// A "whole word" is a maximal run of word characters (alphanumerics and `_`),
/// so `the` inside `there` or `the_end` is kept while `«the»` loses it. The
/// match is case-sensitive, as in the script (which lowercases first).
pub fn remove_articles(s: &str) -> String {
    replace_articles(s, false)
}

/// Article removal; `any_case` also matches capitalised articles (`The`), used
/// when the comparison itself stays case-sensitive.
fn replace_articles(s: &str, any_case: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find(is_word_char) {
        out.push_str(&rest[..start]);
        let word_part = &rest[start..];
        let end = word_part
            .find(|c: char| !is_word_char(c))
            .unwrap_or(word_part.len());
        let word = &word_part[..end];
        let is_article = if any_case {
            matches!(word.to_lowercase().as_str(), "a" | "an" | "the")
        } else {
            matches!(word, "a" | "an" | "the")
        };
        if is_article {
            out.push(' ');
        } else {
            out.push_str(word);
        }
        rest = &word_part[end..];
    }
    out.push_str(rest);
    out
}

/// SQuAD's official `normalize_answer`: lowercase, remove punctuation
/// (`string.punctuation`), remove the articles `a`/`an`/`the` as whole words
/// and collapse whitespace, in that order.
///
/// ```
/// use tunebench_scoring::metrics::text::normalize_answer;
/// assert_eq!(normalize_answer("The Cat!"), "cat");
/// assert_eq!(normalize_answer("  An  apple, a DAY "), "apple day");
/// ```
pub fn normalize_answer(s: &str) -> String {
    let lowered = s.to_lowercase();
    let no_punct = remove_punctuation(&lowered);
    let no_articles = remove_articles(&no_punct);
    collapse_whitespace(&no_articles)
}

/// Switches controlling how strings are normalised before they are compared
/// by exact-match style metrics.
///
/// The steps run in this order: Unicode NFKC, lowercasing, punctuation removal,
/// article removal, whitespace collapsing. [`NormalizeOptions::default`] is the
/// strict setting where every switch is off and strings must be byte-equal;
/// [`NormalizeOptions::squad`] reproduces [`normalize_answer`] exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NormalizeOptions {
    /// Compare case-insensitively (full Unicode lowercasing).
    pub case_insensitive: bool,
    /// Remove the characters of Python's `string.punctuation`.
    pub strip_punctuation: bool,
    /// Collapse runs of whitespace to one space and trim both ends.
    pub collapse_whitespace: bool,
    /// Remove the whole words `a`, `an` and `the`. When `case_insensitive` is
    /// off, capitalised articles (`The`) are removed as well.
    pub strip_articles: bool,
    /// Apply Unicode NFKC normalisation first (not part of SQuAD).
    pub unicode_nfkc: bool,
}

impl NormalizeOptions {
    /// No normalisation at all: strings must be identical.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Case-insensitive comparison that also ignores punctuation and
    /// whitespace differences but keeps articles.
    pub fn lenient() -> Self {
        Self {
            case_insensitive: true,
            strip_punctuation: true,
            collapse_whitespace: true,
            strip_articles: false,
            unicode_nfkc: false,
        }
    }

    /// The SQuAD setting: identical to [`normalize_answer`].
    pub fn squad() -> Self {
        Self {
            case_insensitive: true,
            strip_punctuation: true,
            collapse_whitespace: true,
            strip_articles: true,
            unicode_nfkc: false,
        }
    }

    /// Applies the enabled normalisation steps to `s`.
    pub fn apply(&self, s: &str) -> String {
        let mut cur: String = if self.unicode_nfkc {
            s.nfkc().collect()
        } else {
            s.to_owned()
        };
        if self.case_insensitive {
            cur = cur.to_lowercase();
        }
        if self.strip_punctuation {
            cur = remove_punctuation(&cur);
        }
        if self.strip_articles {
            cur = replace_articles(&cur, !self.case_insensitive);
        }
        if self.collapse_whitespace {
            cur = collapse_whitespace(&cur);
        }
        cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values are derived by hand from the definition of
    // `normalize_answer` in the official SQuAD evaluation scripts
    // (evaluate-v2.0.py / evaluate-v1.1.py, linked from
    // https://rajpurkar.github.io/SQuAD-explorer/):
    //   lower -> remove string.punctuation -> re.sub(r'\b(a|an|the)\b', ' ') -> ' '.join(split())
    #[test]
    fn squad_normalize_answer_examples() {
        assert_eq!(normalize_answer("The Cat!"), "cat");
        assert_eq!(normalize_answer("the cat"), "cat");
        assert_eq!(normalize_answer("A  dog's   life."), "dogs life");
        assert_eq!(normalize_answer("Theatre"), "theatre");
        assert_eq!(normalize_answer("an apple a day"), "apple day");
        assert_eq!(normalize_answer("AN"), "");
        assert_eq!(normalize_answer(""), "");
        // Hyphen is punctuation and is deleted (not replaced by a space).
        assert_eq!(normalize_answer("state-of-the-art"), "stateoftheart");
        // Underscore is both punctuation and a word character: it is removed
        // before article removal, so "the_end" becomes "theend".
        assert_eq!(normalize_answer("the_end"), "theend");
        // Non-ASCII punctuation is not in string.punctuation, but \b still
        // separates it from the article.
        assert_eq!(normalize_answer("«the» word"), "« » word");
        // Python whitespace includes the ASCII separators U+001C..U+001F.
        assert_eq!(normalize_answer("x\u{1f}y\u{a0}z"), "x y z");
    }

    #[test]
    fn options_squad_equals_normalize_answer() {
        let opts = NormalizeOptions::squad();
        for s in [
            "The Cat!",
            "  Hello,   World ",
            "an apple a day",
            "«the» word",
            "Ünïcödé THE End.",
        ] {
            assert_eq!(opts.apply(s), normalize_answer(s), "input {s:?}");
        }
    }

    #[test]
    fn options_individual_switches() {
        let strict = NormalizeOptions::strict();
        assert_eq!(strict.apply(" The Cat! "), " The Cat! ");

        let lenient = NormalizeOptions::lenient();
        assert_eq!(lenient.apply(" The  Cat! "), "the cat");

        let case_sensitive_articles = NormalizeOptions {
            strip_articles: true,
            collapse_whitespace: true,
            ..NormalizeOptions::default()
        };
        assert_eq!(
            case_sensitive_articles.apply("The Cat and a Dog"),
            "Cat and Dog"
        );

        let nfkc = NormalizeOptions {
            unicode_nfkc: true,
            ..NormalizeOptions::default()
        };
        // U+FB01 LATIN SMALL LIGATURE FI decomposes to "fi" under NFKC.
        assert_eq!(nfkc.apply("\u{fb01}ne"), "fine");
    }

    #[test]
    fn whitespace_helpers() {
        assert_eq!(collapse_whitespace("  a \t b\n\nc  "), "a b c");
        let parts: Vec<&str> = split_py_whitespace("a\u{1c}b\u{3000}c").collect();
        assert_eq!(parts, vec!["a", "b", "c"]);
        assert!(!is_py_whitespace('\u{200b}'));
    }
}
