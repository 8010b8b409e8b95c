//! Numeric answers: number extraction and tolerant comparison.

use serde::{Deserialize, Serialize};

/// Absolute and relative tolerance for [`numbers_close`], with the semantics
/// of Python's `math.isclose`: `|a - b| <= max(rel · max(|a|, |b|), abs)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NumericTolerance {
    /// Absolute tolerance (`abs_tol`).
    pub abs: f64,
    /// Relative tolerance (`rel_tol`).
    pub rel: f64,
}

impl Default for NumericTolerance {
    /// `abs = 1e-9`, `rel = 1e-9`: equality up to floating-point noise.
    fn default() -> Self {
        Self {
            abs: 1e-9,
            rel: 1e-9,
        }
    }
}

impl NumericTolerance {
    /// Exact equality (both tolerances zero).
    pub fn exact() -> Self {
        Self { abs: 0.0, rel: 0.0 }
    }
}

/// Whether `a` and `b` are equal within `tol` (see [`NumericTolerance`]).
/// NaN is never close to anything; infinities are only close to themselves.
pub fn numbers_close(a: f64, b: f64, tol: NumericTolerance) -> bool {
    if a.is_nan() || b.is_nan() {
        return false;
    }
    if a == b {
        return true;
    }
    if a.is_infinite() || b.is_infinite() {
        return false;
    }
    let diff = (a - b).abs();
    diff <= (tol.rel * a.abs().max(b.abs())).max(tol.abs)
}

/// Numeric match: `1.0` when the last number in `prediction` (see
/// [`last_number`]) is within `tol` of the number in `target`, else `0.0`.
///
/// `target` is parsed with [`last_number`] too, so `"#### 1,234"` and
/// `"1234"` are both valid targets. If either side has no number the score is
/// `0.0`.
pub fn numeric_match(prediction: &str, target: &str, tol: NumericTolerance) -> f64 {
    match (last_number(prediction), last_number(target)) {
        (Some(p), Some(t)) if numbers_close(p, t, tol) => 1.0,
        _ => 0.0,
    }
}

/// Extracts the final numeric answer from free text.
///
/// * If the text contains the GSM8K answer marker `####`, the first number
///   after the last marker is returned (`"... #### 72"` → `72`).
/// * Otherwise the last number in the text is returned.
///
/// Recognised numbers: digits with optional thousands separators (`1,234,567`:
/// a comma counts as a separator only when followed by exactly three digits),
/// an optional decimal part (`3.14`, `.5`), and an optional leading minus sign
/// (`-`, or the Unicode minus `−`) when the sign is not preceded by a letter or
/// digit (so `5-3` yields `3`, while `x = -3` yields `-3`). A trailing sentence
/// period is not part of the number (`"It is 3.5."` → `3.5`). Currency signs,
/// percent signs and units around the number are ignored. Exponents (`1e5`)
/// are not recognised.
///
/// ```
/// use tunebench_scoring::metrics::numeric::last_number;
/// assert_eq!(last_number("She pays $1,234.50 in total."), Some(1234.5));
/// assert_eq!(last_number("so 48/2 = 24 ... #### 72"), Some(72.0));
/// assert_eq!(last_number("no digits"), None);
/// ```
pub fn last_number(text: &str) -> Option<f64> {
    if let Some(pos) = text.rfind("####") {
        let after = &text[pos + 4..];
        if let Some(n) = scan_numbers(after).next() {
            return Some(n);
        }
    }
    scan_numbers(text).last()
}

/// All numbers of `text`, left to right (see [`last_number`] for the rules).
pub fn all_numbers(text: &str) -> Vec<f64> {
    scan_numbers(text).collect()
}

/// Iterator over the numbers of a text.
fn scan_numbers(text: &str) -> impl Iterator<Item = f64> + '_ {
    let bytes = text.as_bytes();
    let mut pos = 0usize;
    let mut digits = String::new();
    std::iter::from_fn(move || {
        while pos < bytes.len() {
            let start = pos;
            let starts_number = bytes[pos].is_ascii_digit()
                || (bytes[pos] == b'.' && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit));
            if !starts_number {
                pos += 1;
                continue;
            }
            digits.clear();
            // Sign: '-' or U+2212 right before the number, itself not preceded
            // by an alphanumeric character.
            let before = &text[..start];
            let sign_len = if before.ends_with('-') {
                1
            } else if before.ends_with('\u{2212}') {
                '\u{2212}'.len_utf8()
            } else {
                0
            };
            if sign_len > 0 {
                let prev = before[..before.len() - sign_len].chars().next_back();
                if !prev.is_some_and(char::is_alphanumeric) {
                    digits.push('-');
                }
            }
            // Integer part with optional thousands groups.
            let mut i = start;
            let int_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let first_group = i - int_start;
            digits.push_str(&text[int_start..i]);
            if (1..=3).contains(&first_group) {
                while bytes.get(i) == Some(&b',')
                    && bytes
                        .get(i + 1..i + 4)
                        .is_some_and(|g| g.iter().all(u8::is_ascii_digit))
                    && !bytes.get(i + 4).is_some_and(u8::is_ascii_digit)
                {
                    digits.push_str(&text[i + 1..i + 4]);
                    i += 4;
                }
            }
            // Fractional part.
            if i < bytes.len()
                && bytes[i] == b'.'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
            {
                let frac_start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                digits.push_str(&text[frac_start..i]);
            }
            pos = i;
            if let Ok(v) = digits.parse::<f64>() {
                return Some(v);
            }
        }
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_number_formats() {
        assert_eq!(last_number("The answer is 42"), Some(42.0));
        assert_eq!(last_number("1,234"), Some(1234.0));
        assert_eq!(last_number("total: 1,234,567.89 units"), Some(1_234_567.89));
        assert_eq!(last_number("It is 3.5."), Some(3.5));
        assert_eq!(last_number("The result is 7."), Some(7.0));
        assert_eq!(last_number("temperature -12 degrees"), Some(-12.0));
        assert_eq!(last_number("x = -0.5"), Some(-0.5));
        assert_eq!(last_number("x=\u{2212}3"), Some(-3.0));
        assert_eq!(last_number("5-3"), Some(3.0));
        assert_eq!(last_number("pi is about .5 of 1"), Some(1.0));
        assert_eq!(last_number("about .5"), Some(0.5));
        assert_eq!(last_number("$12.00"), Some(12.0));
        assert_eq!(last_number("50%"), Some(50.0));
        assert_eq!(last_number("nothing here"), None);
        assert_eq!(last_number(""), None);
    }

    #[test]
    fn commas_that_are_not_thousands_separators() {
        // A list: each comma is followed by a space.
        assert_eq!(all_numbers("1, 2, 3"), vec![1.0, 2.0, 3.0]);
        // Group of 4 digits after the comma: not a separator.
        assert_eq!(all_numbers("1,2345"), vec![1.0, 2345.0]);
        // First group longer than 3 digits: not a separator.
        assert_eq!(all_numbers("1234,567"), vec![1234.0, 567.0]);
        assert_eq!(all_numbers("12,345 and 6,78"), vec![12345.0, 6.0, 78.0]);
    }

    #[test]
    fn gsm8k_marker() {
        // GSM8K reference answers end with "#### <answer>".
        let reference = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n\
                         Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72";
        assert_eq!(last_number(reference), Some(72.0));
        assert_eq!(last_number("#### 1,000 (approx 999)"), Some(1000.0));
        assert_eq!(last_number("#### -5"), Some(-5.0));
        // Marker without a number: fall back to the last number.
        assert_eq!(last_number("got 3 then ####"), Some(3.0));
    }

    #[test]
    fn tolerance_semantics() {
        let tol = NumericTolerance {
            abs: 0.01,
            rel: 0.0,
        };
        assert!(numbers_close(1.0, 1.005, tol));
        assert!(!numbers_close(1.0, 1.02, tol));
        let rel = NumericTolerance {
            abs: 0.0,
            rel: 0.01,
        };
        assert!(numbers_close(1000.0, 1009.0, rel));
        assert!(!numbers_close(1000.0, 1011.0, rel));
        assert!(!numbers_close(
            f64::NAN,
            f64::NAN,
            NumericTolerance::default()
        ));
        assert!(numbers_close(
            f64::INFINITY,
            f64::INFINITY,
            NumericTolerance::exact()
        ));
        assert!(!numbers_close(
            f64::INFINITY,
            1e308,
            NumericTolerance {
                abs: 1e308,
                rel: 1.0
            }
        ));
        assert!(numbers_close(0.1 + 0.2, 0.3, NumericTolerance::default()));
        assert!(!numbers_close(0.1 + 0.2, 0.3, NumericTolerance::exact()));
    }

    #[test]
    fn numeric_match_scores() {
        let tol = NumericTolerance::default();
        assert_eq!(
            numeric_match("So the answer is 1,234.", "#### 1234", tol),
            1.0
        );
        assert_eq!(
            numeric_match("So the answer is 1,235.", "#### 1234", tol),
            0.0
        );
        assert_eq!(numeric_match("no idea", "#### 1234", tol), 0.0);
        assert_eq!(numeric_match("7", "no number", tol), 0.0);
    }
}
