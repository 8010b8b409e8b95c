//! Text cleaning: Unicode NFC, control characters removed (newline and tab kept, CR LF and
//! lone CR folded to LF), surrounding whitespace trimmed. Runs before hashing, so records
//! that differ only in these ways are exact duplicates.

use std::borrow::Cow;

use unicode_normalization::{UnicodeNormalization, is_nfc_quick};

/// Cleans one text; borrows when it is already clean (the common case, and allocation-free).
pub fn clean_text(text: &str) -> Cow<'_, str> {
    let trimmed = text.trim();
    let needs_nfc = !matches!(
        is_nfc_quick(trimmed.chars()),
        unicode_normalization::IsNormalized::Yes
    );
    let has_control = trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t');
    if !needs_nfc && !has_control {
        return Cow::Borrowed(trimmed);
    }
    let mut out = String::with_capacity(trimmed.len());
    let mut chars = trimmed.nfc().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    let kept = out.trim();
    if kept.len() == out.len() {
        Cow::Owned(out)
    } else {
        Cow::Owned(kept.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_to_nfc_and_drops_controls() {
        // "e" + combining acute -> "é"; NUL, BEL and a zero-width-free escape removed.
        let s = clean_text("  Cafe\u{301}\u{0}\u{7} bill\r\nline2\rline3\t ");
        assert_eq!(s, "Caf\u{e9} bill\nline2\nline3");
    }

    #[test]
    fn clean_text_is_borrowed_when_nothing_changes() {
        assert!(matches!(clean_text("already clean"), Cow::Borrowed(_)));
        assert_eq!(clean_text(" x "), "x");
    }
}
