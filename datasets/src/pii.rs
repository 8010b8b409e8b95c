//! Detection and redaction of personally identifiable information (PII) in free text.
//!
//! Customer training data regularly contains e-mail addresses, phone numbers, payment
//! card numbers and leaked credentials. Those must not be written to disk or uploaded
//! alongside the data set, so every text field is passed through [`PiiScanner`] first:
//! [`PiiScanner::redact`] replaces each PII span by a fixed token such as `[EMAIL]`, and
//! [`PiiScanner::detect`] only counts them, for the manifest.
//!
//! Each kind is found in two steps: a regular expression proposes candidate spans and a
//! validator confirms them (Luhn for card numbers, ISO 13616 mod-97 for IBANs, octet
//! ranges for IPv4, [`std::net::Ipv6Addr`] parsing for IPv6, number-range rules for US
//! SSNs, and "not glued to a longer token" checks for everything). Only confirmed spans
//! compete for a position, so a candidate that fails validation never hides a different,
//! valid kind at the same spot.
//!
//! The scanner runs over millions of short rows that mostly hold no PII, so a single
//! byte pass first counts digits, capitals, `@`, `:` and the like, and only the
//! expressions whose kind could possibly occur are run. When nothing is found the input
//! is returned borrowed and nothing is allocated.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

/// A kind of personally identifiable information recognised by [`PiiScanner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PiiKind {
    /// An e-mail address such as `jane.doe@example.com`.
    Email,
    /// A phone number: North American (`(415) 555-0132`) or international (`+44 20 7946 0958`).
    Phone,
    /// A payment card number of 13 to 19 digits that passes the Luhn check.
    CreditCard,
    /// A US social security number, `AAA-GG-SSSS`.
    Ssn,
    /// A dotted-quad IPv4 address.
    Ipv4,
    /// An IPv6 address, compressed (`fe80::1`) or full.
    Ipv6,
    /// An AWS access key id such as `AKIAIOSFODNN7EXAMPLE`.
    AwsAccessKeyId,
    /// A 40-character AWS secret access key.
    AwsSecretKey,
    /// An international bank account number that passes the mod-97 check.
    Iban,
}

impl PiiKind {
    /// Every kind, in the order used by [`PiiCounts::iter`] and in manifests.
    pub const ALL: [PiiKind; 9] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::CreditCard,
        PiiKind::Ssn,
        PiiKind::Ipv4,
        PiiKind::Ipv6,
        PiiKind::AwsAccessKeyId,
        PiiKind::AwsSecretKey,
        PiiKind::Iban,
    ];

    /// The snake_case label of this kind, used as a manifest key.
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::CreditCard => "credit_card",
            PiiKind::Ssn => "ssn",
            PiiKind::Ipv4 => "ipv4",
            PiiKind::Ipv6 => "ipv6",
            PiiKind::AwsAccessKeyId => "aws_access_key_id",
            PiiKind::AwsSecretKey => "aws_secret_key",
            PiiKind::Iban => "iban",
        }
    }

    /// The token that replaces a span of this kind in redacted text.
    ///
    /// Tokens are bracketed and contain no digits, `@`, `:` or `.`, so they never match
    /// any kind themselves, which keeps redaction idempotent.
    pub fn token(self) -> &'static str {
        match self {
            PiiKind::Email => "[EMAIL]",
            PiiKind::Phone => "[PHONE]",
            PiiKind::CreditCard => "[CREDIT_CARD]",
            PiiKind::Ssn => "[SSN]",
            PiiKind::Ipv4 | PiiKind::Ipv6 => "[IP_ADDRESS]",
            PiiKind::AwsAccessKeyId => "[AWS_ACCESS_KEY_ID]",
            PiiKind::AwsSecretKey => "[AWS_SECRET_KEY]",
            PiiKind::Iban => "[IBAN]",
        }
    }

    /// Position of this kind in [`PiiKind::ALL`].
    fn index(self) -> usize {
        self as usize
    }

    /// Overlap precedence, lower wins: checksum-validated kinds first, then kinds with a
    /// strict structure, then the heuristic ones (phone numbers, secret keys).
    fn rank(self) -> u8 {
        match self {
            PiiKind::CreditCard | PiiKind::Iban => 0,
            PiiKind::Email
            | PiiKind::Ssn
            | PiiKind::Ipv4
            | PiiKind::Ipv6
            | PiiKind::AwsAccessKeyId => 1,
            PiiKind::Phone | PiiKind::AwsSecretKey => 2,
        }
    }
}

/// Counts of redacted or detected spans per [`PiiKind`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PiiCounts {
    counts: [u64; 9],
}

impl PiiCounts {
    /// The count for one kind.
    pub fn get(&self, k: PiiKind) -> u64 {
        self.counts[k.index()]
    }

    /// Adds `other`'s counts into `self` (saturating).
    pub fn add(&mut self, other: &PiiCounts) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine = mine.saturating_add(theirs);
        }
    }

    /// The sum over all kinds (saturating).
    pub fn total(&self) -> u64 {
        self.counts
            .iter()
            .fold(0u64, |acc, &c| acc.saturating_add(c))
    }

    /// Whether no span of any kind was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }

    /// `(kind, count)` for all nine kinds, in [`PiiKind::ALL`] order, zeros included.
    pub fn iter(&self) -> impl Iterator<Item = (PiiKind, u64)> + '_ {
        PiiKind::ALL.iter().map(move |&k| (k, self.get(k)))
    }

    fn bump(&mut self, k: PiiKind) {
        let c = &mut self.counts[k.index()];
        *c = c.saturating_add(1);
    }
}

/// The compiled candidate expressions, built once per process.
#[derive(Debug)]
struct Patterns {
    email: Regex,
    phone_nanp: Regex,
    phone_intl: Regex,
    digit_chain: Regex,
    ssn: Regex,
    ipv4: Regex,
    ipv6: Regex,
    aws_key: Regex,
    aws_secret: Regex,
    iban: Regex,
}

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in PII pattern must compile")
}

impl Patterns {
    fn new() -> Self {
        // All classes are spelled out in ASCII so that the lazy DFA never has to give up
        // on Unicode word boundaries or Unicode digits.
        Patterns {
            email: compile(
                r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_])?@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,63}",
            ),
            // Optional country code 1, area code with or without parentheses, then
            // 3 + 4 digits. A separator is mandatory between the 3-3-4 groups: plain
            // runs like `4155550132` are NOT treated as phones, because unseparated
            // 10-digit runs in this data are far more often order, account or tracking
            // numbers and timestamps than phone numbers.
            phone_nanp: compile(
                r"(?:\+?1[-. ]?)?(?:\([0-9]{3}\)[-. ]?|[0-9]{3}[-. ])[0-9]{3}[-. ][0-9]{4}",
            ),
            // `+`, then 8-15 digits with optional single separators between them. The
            // leading `+` is a strong enough signal to also accept unseparated digits.
            phone_intl: compile(r"\+[1-9](?:[-. ]?[0-9]){7,14}"),
            // Maximal chain of digit groups joined by single spaces or dashes; card
            // numbers are looked for inside it group by group.
            digit_chain: compile(r"[0-9]+(?:[ -][0-9]+)*"),
            ssn: compile(r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}"),
            ipv4: compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"),
            // A run of hex digits, colons and dots holding at least one colon; the real
            // check is `Ipv6Addr::from_str`.
            ipv6: compile(r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*"),
            aws_key: compile(
                r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z2-7]{16}",
            ),
            // Whole runs of the base64-ish alphabet, at least 40 long; the validator
            // keeps only runs of exactly 40.
            aws_secret: compile(r"[A-Za-z0-9/+]{40,}"),
            // Country, check digits, then either a compact BBAN or groups of four
            // separated by single spaces (the last group may be shorter).
            iban: compile(
                r"[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)",
            ),
        }
    }
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(Patterns::new);

/// Upper bound on redaction passes; see [`PiiScanner::redact`].
const MAX_PASSES: usize = 8;

/// A confirmed PII span, byte offsets into the scanned text.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    kind: PiiKind,
}

/// Cheap per-text statistics used to skip expressions that cannot match.
///
/// Every threshold checked in `find_spans` is implied by the corresponding expression,
/// so skipping never loses a match; it only avoids running the regex engine on the
/// many rows that cannot contain that kind.
#[derive(Debug, Default)]
struct Features {
    digits: usize,
    colons: usize,
    /// `:` bytes right after a hex digit or another `:`.
    hex_colons: usize,
    /// Digit, `.`, digit sequences, as between IPv4 octets.
    dot_joins: usize,
    at: bool,
    plus: bool,
    /// Most digits in one "number chain": digit runs joined by at most two bytes of
    /// `[ -.()]`. Phone numbers, SSNs and card numbers all lie inside one chain.
    max_chain: usize,
    /// Longest run of `[A-Z2-7]`, the AWS access key alphabet.
    max_aws_run: usize,
    /// Longest run of `[A-Za-z0-9/+]`, the AWS secret key alphabet.
    max_secret_run: usize,
    /// Whether two capitals followed by two digits (an IBAN head) occur.
    iban_head: bool,
}

impl Features {
    /// Statistics that let every expression run (tests compare against this).
    #[cfg(test)]
    fn permissive() -> Self {
        Features {
            digits: usize::MAX,
            colons: usize::MAX,
            hex_colons: usize::MAX,
            dot_joins: usize::MAX,
            at: true,
            plus: true,
            max_chain: usize::MAX,
            max_aws_run: usize::MAX,
            max_secret_run: usize::MAX,
            iban_head: true,
        }
    }

    fn of(text: &str) -> Self {
        let mut f = Features::default();
        let mut chain = 0usize;
        // Separator bytes since the last digit; large once the chain is broken.
        let mut gap = usize::MAX;
        let mut aws_run = 0usize;
        let mut secret_run = 0usize;
        // Classes of the previous bytes, most recent in the low byte.
        let mut history = 0u32;
        let mut prev = 0u8;
        for &b in text.as_bytes() {
            let c = BYTE_CLASS[usize::from(b)];
            aws_run = if c & C_AWS != 0 { aws_run + 1 } else { 0 };
            f.max_aws_run = f.max_aws_run.max(aws_run);
            secret_run = if c & C_SECRET != 0 { secret_run + 1 } else { 0 };
            f.max_secret_run = f.max_secret_run.max(secret_run);
            if c & C_DIGIT != 0 {
                f.digits += 1;
                chain = if gap > 2 { 1 } else { chain + 1 };
                gap = 0;
                f.max_chain = f.max_chain.max(chain);
                // Two capitals then two digits: `..UUD` before this digit.
                let recent = history & 0x00ff_ffff;
                let head = u32::from(C_DIGIT) | u32::from(C_UPPER) << 8 | u32::from(C_UPPER) << 16;
                f.iban_head |= recent & head == head;
                if prev == b'.' && history & 0xff00 & u32::from(C_DIGIT) << 8 != 0 {
                    f.dot_joins += 1;
                }
            } else if c & C_SEP != 0 {
                gap = gap.saturating_add(1);
            } else {
                gap = usize::MAX;
            }
            if c & C_MARK != 0 {
                match b {
                    b'@' => f.at = true,
                    b':' => {
                        f.colons += 1;
                        if prev == b':' || BYTE_CLASS[usize::from(prev)] & C_HEX != 0 {
                            f.hex_colons += 1;
                        }
                    }
                    b'.' => {}
                    _ => f.plus = true,
                }
            }
            history = history << 8 | u32::from(c);
            prev = b;
        }
        f
    }
}

/// Byte classes for the prefilter pass.
const C_DIGIT: u8 = 1;
/// `[ -.()]`: may sit between the digit groups of one number.
const C_SEP: u8 = 2;
/// `[A-Z2-7]`: AWS access key alphabet.
const C_AWS: u8 = 4;
/// `[A-Za-z0-9/+]`: AWS secret key alphabet.
const C_SECRET: u8 = 8;
const C_UPPER: u8 = 16;
/// `@`, `:`, `.` or `+`.
const C_MARK: u8 = 32;
/// `[0-9A-Fa-f]`.
const C_HEX: u8 = 64;

static BYTE_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_digit() {
            c |= C_DIGIT | C_SECRET;
            if b >= b'2' && b <= b'7' {
                c |= C_AWS;
            }
        }
        if b.is_ascii_uppercase() {
            c |= C_UPPER | C_AWS | C_SECRET;
        }
        if b.is_ascii_lowercase() || b == b'/' || b == b'+' {
            c |= C_SECRET;
        }
        if matches!(b, b' ' | b'-' | b'.' | b'(' | b')') {
            c |= C_SEP;
        }
        if matches!(b, b'@' | b':' | b'.' | b'+') {
            c |= C_MARK;
        }
        if b.is_ascii_hexdigit() {
            c |= C_HEX;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Detects and redacts PII in free text.
///
/// The expressions are compiled once per process and shared; a scanner is a cheap
/// `Copy` handle that is `Send + Sync`, so one instance can be used from many rayon
/// threads at once.
#[derive(Debug, Clone, Copy)]
pub struct PiiScanner {
    pats: &'static Patterns,
}

impl Default for PiiScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl PiiScanner {
    /// A scanner for all [`PiiKind`]s; compiles the expressions on first use.
    pub fn new() -> Self {
        PiiScanner { pats: &PATTERNS }
    }

    /// Replace every PII span by its token; returns the new text (Cow::Borrowed when nothing found) and counts.
    ///
    /// Overlapping candidates are resolved by [`PiiKind`] precedence (checksum-validated
    /// card and IBAN numbers, then strictly structured kinds, then phone numbers and
    /// secret keys), then by length (longest first), then by position. Replacing a span
    /// can free a neighbour that was rejected only because it touched that span (for
    /// example an SSN written right after a card number with a dash), so the result is
    /// scanned again until nothing more is found. This makes
    /// `redact(redact(x)) == redact(x)`.
    pub fn redact<'a>(&self, text: &'a str) -> (Cow<'a, str>, PiiCounts) {
        let mut counts = PiiCounts::default();
        let Some(mut current) = self.redact_once(text, &mut counts) else {
            return (Cow::Borrowed(text), counts);
        };
        // Each productive pass turns non-token bytes into tokens and no span can contain
        // token bytes (`[`, `]`), so this converges; the bound is a safety net only.
        for _ in 1..MAX_PASSES {
            match self.redact_once(&current, &mut counts) {
                Some(next) => current = next,
                None => break,
            }
        }
        (Cow::Owned(current), counts)
    }

    /// Count PII spans without changing the text.
    ///
    /// The counts are exactly those [`PiiScanner::redact`] would report. Text without
    /// PII is scanned once and nothing is allocated.
    pub fn detect(&self, text: &str) -> PiiCounts {
        let spans = self.find_spans(text);
        if spans.is_empty() {
            return PiiCounts::default();
        }
        // Rare path: follow-up passes need the redacted text.
        self.redact(text).1
    }

    /// One pass: `None` when nothing is found, else the redacted text.
    fn redact_once(&self, text: &str, counts: &mut PiiCounts) -> Option<String> {
        let spans = self.find_spans(text);
        if spans.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(text.len() + 8 * spans.len());
        let mut last = 0;
        for span in &spans {
            out.push_str(text.get(last..span.start).unwrap_or_default());
            out.push_str(span.kind.token());
            counts.bump(span.kind);
            last = span.end;
        }
        out.push_str(text.get(last..).unwrap_or_default());
        Some(out)
    }

    /// All confirmed, non-overlapping spans, sorted by start.
    fn find_spans(&self, text: &str) -> Vec<Span> {
        self.find_spans_with(text, &Features::of(text))
    }

    /// [`Self::find_spans`] with the prefilter statistics supplied by the caller.
    fn find_spans_with(&self, text: &str, f: &Features) -> Vec<Span> {
        let p = self.pats;
        let b = text.as_bytes();
        let mut cands = Vec::new();

        if f.at {
            // No glue check on the right: in `x@y.com5` the address part is still
            // redacted, which errs on the side of privacy.
            for m in p.email.find_iter(text) {
                cands.push(span(m.start(), m.end(), PiiKind::Email));
            }
        }
        if f.max_chain >= 10 {
            scan_retry(&p.phone_nanp, text, PiiKind::Phone, &mut cands, |s, e| {
                let ok = !glued_left(b, s, b".-") && !glued_right(b, e, b".-");
                ok.then_some((s, e))
            });
        }
        if f.plus && f.max_chain >= 8 {
            scan_retry(&p.phone_intl, text, PiiKind::Phone, &mut cands, |s, e| {
                validate_phone_intl(b, s, e)
            });
        }
        if f.max_chain >= 13 {
            scan_cards(&p.digit_chain, text, &mut cands);
        }
        if f.max_chain >= 9 {
            scan_retry(&p.ssn, text, PiiKind::Ssn, &mut cands, |s, e| {
                validate_ssn(b, s, e).then_some((s, e))
            });
        }
        if f.dot_joins >= 3 {
            scan_retry(&p.ipv4, text, PiiKind::Ipv4, &mut cands, |s, e| {
                validate_ipv4(b, s, e).then_some((s, e))
            });
        }
        if f.colons >= 2 && f.hex_colons >= 1 && f.digits >= 1 {
            for m in p.ipv6.find_iter(text) {
                if let Some((s, e)) = validate_ipv6(text, m.start(), m.end()) {
                    cands.push(span(s, e, PiiKind::Ipv6));
                }
            }
        }
        if f.max_aws_run >= 20 {
            scan_retry(
                &p.aws_key,
                text,
                PiiKind::AwsAccessKeyId,
                &mut cands,
                |s, e| {
                    let ok = !glued_left(b, s, b"") && !glued_right(b, e, b"");
                    ok.then_some((s, e))
                },
            );
        }
        if f.max_secret_run >= 40 {
            for m in p.aws_secret.find_iter(text) {
                if validate_aws_secret(m.as_str().as_bytes()) {
                    cands.push(span(m.start(), m.end(), PiiKind::AwsSecretKey));
                }
            }
        }
        if f.iban_head {
            scan_retry(&p.iban, text, PiiKind::Iban, &mut cands, |s, e| {
                validate_iban(b, s, e)
            });
        }

        cands.retain(|c| {
            c.start < c.end && text.is_char_boundary(c.start) && text.is_char_boundary(c.end)
        });
        resolve(cands)
    }
}

fn span(start: usize, end: usize, kind: PiiKind) -> Span {
    Span { start, end, kind }
}

/// Keeps a non-overlapping subset of `cands`: by rank, then longest, then leftmost.
fn resolve(mut cands: Vec<Span>) -> Vec<Span> {
    if cands.len() <= 1 {
        return cands;
    }
    cands.sort_by_key(|c| {
        (
            c.kind.rank(),
            Reverse(c.end - c.start),
            c.start,
            c.kind.index(),
        )
    });
    // start -> (end, kind) of accepted spans, which never overlap one another.
    let mut taken: BTreeMap<usize, (usize, PiiKind)> = BTreeMap::new();
    for c in cands {
        // Only the accepted span starting last before `c.end` can overlap `c`.
        let overlaps = taken
            .range(..c.end)
            .next_back()
            .is_some_and(|(_, &(end, _))| end > c.start);
        if !overlaps {
            taken.insert(c.start, (c.end, c.kind));
        }
    }
    taken
        .into_iter()
        .map(|(start, (end, kind))| span(start, end, kind))
        .collect()
}

/// Runs `re` over `text`, confirming each match with `validate`. A rejected match is
/// retried one character further on, so a shorter valid match inside it is not lost.
/// Only used for expressions with a bounded match length, which keeps this linear.
fn scan_retry(
    re: &Regex,
    text: &str,
    kind: PiiKind,
    out: &mut Vec<Span>,
    mut validate: impl FnMut(usize, usize) -> Option<(usize, usize)>,
) {
    let mut pos = 0;
    while pos < text.len() {
        let Some(m) = re.find_at(text, pos) else {
            break;
        };
        match validate(m.start(), m.end()) {
            Some((s, e)) if s < e => {
                out.push(span(s, e, kind));
                pos = e.max(m.start() + 1);
            }
            _ => {
                let step = text
                    .get(m.start()..)
                    .and_then(|rest| rest.chars().next())
                    .map_or(1, char::len_utf8);
                pos = m.start() + step;
            }
        }
        // Stay on a char boundary (all patterns match ASCII, so this is a safeguard).
        while pos < text.len() && !text.is_char_boundary(pos) {
            pos += 1;
        }
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Whether the span starting at `start` continues a longer token to its left: the byte
/// before is a word byte, or one of `joiners` preceded by an ASCII letter or digit
/// (as in `1.2.3.4.5` or `415-555-0132-7`).
fn glued_left(b: &[u8], start: usize, joiners: &[u8]) -> bool {
    let Some(i) = start.checked_sub(1) else {
        return false;
    };
    let Some(&c) = b.get(i) else {
        return false;
    };
    if is_word(c) {
        return true;
    }
    joiners.contains(&c)
        && i.checked_sub(1)
            .and_then(|j| b.get(j))
            .is_some_and(u8::is_ascii_alphanumeric)
}

/// Mirror of [`glued_left`] for the byte at `end`.
fn glued_right(b: &[u8], end: usize, joiners: &[u8]) -> bool {
    let Some(&c) = b.get(end) else {
        return false;
    };
    if is_word(c) {
        return true;
    }
    joiners.contains(&c) && b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
}

fn digit_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|c| c.is_ascii_digit()).count()
}

/// `+` numbers: the expression is greedy up to 15 digits, so when the match runs into
/// more digits it is shortened at separators until it ends cleanly with 8+ digits.
fn validate_phone_intl(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if glued_left(b, s, b"") {
        return None;
    }
    let body = b.get(s..e)?;
    let cut_points = body
        .iter()
        .enumerate()
        .rev()
        .filter(|&(_, &c)| matches!(c, b' ' | b'-' | b'.'))
        .map(|(i, _)| s + i);
    std::iter::once(e)
        .chain(cut_points)
        .find(|&end| {
            b.get(s..end).is_some_and(|d| digit_count(d) >= 8) && !glued_right(b, end, b".-")
        })
        .map(|end| (s, end))
}

fn decimal(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0u32, |acc, &c| acc * 10 + u32::from(c.wrapping_sub(b'0')))
}

/// `AAA-GG-SSSS` (or with spaces, but not mixed) with the SSA's never-issued ranges
/// excluded: area 000, 666 and 900-999, group 00, serial 0000.
fn validate_ssn(b: &[u8], s: usize, e: usize) -> bool {
    let Some(m) = b.get(s..e) else {
        return false;
    };
    if m.len() != 11 || m[3] != m[6] {
        return false;
    }
    let area = decimal(&m[0..3]);
    let group = decimal(&m[4..6]);
    let serial = decimal(&m[7..11]);
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && !glued_left(b, s, b".-")
        && !glued_right(b, e, b".-")
}

/// Four octets 0-255 without leading zeros, not part of a longer dotted number.
fn validate_ipv4(b: &[u8], s: usize, e: usize) -> bool {
    let Some(m) = b.get(s..e) else {
        return false;
    };
    let octets_ok = m.split(|&c| c == b'.').all(|o| {
        !o.is_empty() && o.len() <= 3 && !(o.len() > 1 && o[0] == b'0') && decimal(o) <= 255
    });
    octets_ok && !glued_left(b, s, b".") && !glued_right(b, e, b".")
}

/// Trims stray dots, requires two colons and a decimal digit (so `::`, `a::b` and C++
/// paths are ignored), rejects runs glued to letters, and lets the standard library
/// decide. Times like `10:30` or `12:34:56` and MAC addresses do not parse.
fn validate_ipv6(text: &str, s: usize, e: usize) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut s = s;
    let mut e = e;
    while s < e && b.get(s) == Some(&b'.') {
        s += 1;
    }
    while e > s && b.get(e - 1) == Some(&b'.') {
        e -= 1;
    }
    let body = b.get(s..e)?;
    if body.iter().filter(|&&c| c == b':').count() < 2
        || !body.iter().any(u8::is_ascii_digit)
        || glued_left(b, s, b"")
        || glued_right(b, e, b"")
    {
        return None;
    }
    let parses = |end: usize| {
        text.get(s..end)
            .is_some_and(|t| Ipv6Addr::from_str(t).is_ok())
    };
    if parses(e) {
        return Some((s, e));
    }
    // A sentence-ending colon, as in "reach me on fe80::1:".
    if body.ends_with(b":") && !body.ends_with(b"::") && parses(e - 1) {
        return Some((s, e - 1));
    }
    None
}

/// Exactly 40 characters with a lowercase letter, an uppercase letter and a digit or
/// `/`/`+`. The mixed-case requirement rules out hex digests (git SHA-1s are 40 lowercase
/// hex characters), but any other 40-character base64-like token, e.g. an opaque API
/// token or a long mixed-case path segment, is redacted too: for credentials a false
/// positive costs one token of training text, a false negative leaks a secret.
fn validate_aws_secret(m: &[u8]) -> bool {
    m.len() == 40
        && m.iter().any(u8::is_ascii_lowercase)
        && m.iter().any(u8::is_ascii_uppercase)
        && m.iter()
            .any(|&c| c.is_ascii_digit() || c == b'/' || c == b'+')
}

/// Whole candidate, or the candidate shortened at group spaces, whichever is the longest
/// that ends cleanly and passes the mod-97 check.
fn validate_iban(b: &[u8], s: usize, e: usize) -> Option<(usize, usize)> {
    if glued_left(b, s, b"") {
        return None;
    }
    let body = b.get(s..e)?;
    let cut_points = body
        .iter()
        .enumerate()
        .rev()
        .filter(|&(_, &c)| c == b' ')
        .map(|(i, _)| s + i);
    std::iter::once(e)
        .chain(cut_points)
        .find(|&end| !glued_right(b, end, b"") && b.get(s..end).is_some_and(iban_checksum_ok))
        .map(|end| (s, end))
}

/// ISO 13616: move the first four characters to the end, read letters as 10..=35, and
/// the resulting number must be 1 modulo 97. Spaces are ignored.
fn iban_checksum_ok(iban: &[u8]) -> bool {
    let compact = || iban.iter().copied().filter(|&c| c != b' ');
    let len = compact().count();
    if !(15..=34).contains(&len) {
        return false;
    }
    let mut rem = 0u32;
    for c in compact().skip(4).chain(compact().take(4)) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

/// Luhn check over ASCII digits (other bytes are skipped).
fn luhn_ok(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .filter(|c| c.is_ascii_digit())
        .enumerate()
        .map(|(i, &c)| {
            let d = u32::from(c - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Card numbers inside chains of digit groups. A card is a window of whole consecutive
/// groups: a single group of 13-19 digits, or several groups joined by one repeated
/// separator where the first group has 4 digits and the others 3-6 (4-4-4-4, 4-6-5,
/// 4-6-4, 4-4-4-4-3, ...). Windows are tried leftmost, longest first, and must pass Luhn.
fn scan_cards(chain_re: &Regex, text: &str, out: &mut Vec<Span>) {
    let b = text.as_bytes();
    let mut groups: Vec<(usize, usize)> = Vec::new();
    for m in chain_re.find_iter(text) {
        if digit_count(m.as_str().as_bytes()) < 13 {
            continue;
        }
        groups.clear();
        let mut g_start = m.start();
        for (i, &c) in m.as_str().as_bytes().iter().enumerate() {
            if !c.is_ascii_digit() {
                groups.push((g_start, m.start() + i));
                g_start = m.start() + i + 1;
            }
        }
        groups.push((g_start, m.end()));

        // A chain glued to letters or decimals on one side cannot start/end a card there.
        let left_ok = !glued_left(b, m.start(), b".");
        let right_ok = !glued_right(b, m.end(), b".");
        let last = groups.len() - 1;
        let mut i = 0;
        while i < groups.len() {
            let found = if i == 0 && !left_ok {
                None
            } else {
                (i..groups.len())
                    .rev()
                    .filter(|&j| j != last || right_ok)
                    .find(|&j| groups.get(i..=j).is_some_and(|w| card_window_ok(b, w)))
            };
            match found {
                Some(j) => {
                    out.push(span(groups[i].0, groups[j].1, PiiKind::CreditCard));
                    i = j + 1;
                }
                None => i += 1,
            }
        }
    }
}

fn card_window_ok(b: &[u8], window: &[(usize, usize)]) -> bool {
    let (Some(&(first_s, first_e)), Some(&(_, last_e))) = (window.first(), window.last()) else {
        return false;
    };
    let digits: usize = window.iter().map(|&(s, e)| e - s).sum();
    if !(13..=19).contains(&digits) || b.get(first_s) == Some(&b'0') {
        return false;
    }
    if window.len() > 1 {
        let sep = b.get(first_e);
        let layout_ok = first_e - first_s == 4
            && window[1..].iter().all(|&(s, e)| (3..=6).contains(&(e - s)))
            && window[..window.len() - 1]
                .iter()
                .all(|&(_, e)| b.get(e) == sep);
        if !layout_ok {
            return false;
        }
    }
    b.get(first_s..last_e).is_some_and(luhn_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(text: &str) -> String {
        PiiScanner::new().redact(text).0.into_owned()
    }

    fn counts(text: &str) -> PiiCounts {
        PiiScanner::new().detect(text)
    }

    /// Asserts `text` is left untouched, borrowed, and counted as clean.
    fn assert_clean(text: &str) {
        let (out, c) = PiiScanner::new().redact(text);
        assert!(
            matches!(out, Cow::Borrowed(_)),
            "changed: {text:?} -> {out:?}"
        );
        assert!(c.is_empty(), "counted PII in {text:?}: {c:?}");
        assert!(counts(text).is_empty(), "detect found PII in {text:?}");
    }

    /// Asserts that `value` embedded in a sentence becomes exactly one `kind` token.
    fn assert_redacts(value: &str, kind: PiiKind) {
        let text = format!("see {value} here");
        let (out, c) = PiiScanner::new().redact(&text);
        assert_eq!(out, format!("see {} here", kind.token()), "input {text:?}");
        assert_eq!(c.get(kind), 1, "input {text:?}");
        assert_eq!(c.total(), 1, "input {text:?}: {c:?}");
        assert_eq!(counts(&text), c, "detect disagrees for {text:?}");
    }

    #[test]
    fn email() {
        assert_redacts("jane.doe@example.com", PiiKind::Email);
        assert_redacts("j_smith+tag@mail.example.co.uk", PiiKind::Email);
        assert_eq!(red("mail:bob@corp.io."), "mail:[EMAIL].");
        assert_clean("user@localhost is not routable");
        assert_clean("meet @ noon, ping @jane");
        assert_clean("price is 3 @ $4.00");
    }

    #[test]
    fn phone_north_american() {
        for p in [
            "(415) 555-0132",
            "(415)555-0132",
            "415-555-0132",
            "415.555.0132",
            "415 555 0132",
            "+1 415 555 0132",
            "+1 (415) 555-0132",
            "1-800-555-0199",
        ] {
            assert_redacts(p, PiiKind::Phone);
        }
    }

    #[test]
    fn phone_international() {
        assert_redacts("+44 20 7946 0958", PiiKind::Phone);
        assert_redacts("+49 30 123456789", PiiKind::Phone);
        assert_redacts("+14155550132", PiiKind::Phone);
        // Trailing number after a space: the phone ends at the separator.
        assert_eq!(red("+44 20 7946 0958 2024"), "[PHONE] 2024");
        // A match rejected for its glued prefix is retried further on.
        assert_eq!(red("code 21 415 555 0132"), "code 21 [PHONE]");
    }

    #[test]
    fn phone_negatives() {
        // Deliberate choice: unseparated digit runs are not phones (see `phone_nanp`).
        assert_clean("order 1234567890 shipped");
        assert_clean("on 2024-01-15 at 10:30");
        assert_clean("upgrade from 1.2.3 to 10.20.30");
        assert_clean("raised $1,000,000 and +1,000 more");
        assert_clean("tiny +1234567 number");
        assert_clean("ref 415-555-0132-9 and 12.415.555.0132");
    }

    #[test]
    fn credit_cards_need_luhn() {
        assert_redacts("4111 1111 1111 1111", PiiKind::CreditCard);
        assert_redacts("4111-1111-1111-1111", PiiKind::CreditCard);
        assert_redacts("4111111111111111", PiiKind::CreditCard);
        assert_redacts("378282246310005", PiiKind::CreditCard);
        assert_redacts("3782 822463 10005", PiiKind::CreditCard);
        assert_redacts("5555555555554444", PiiKind::CreditCard);
        // Luhn-invalid: neither a card nor a phone.
        assert_clean("card 4111 1111 1111 1112 declined");
        assert_clean("card 4111111111111112 declined");
        assert_clean("mixed separators 4111 1111-1111 1111");
        assert_clean("too long 41111111111111111111111");
        assert_clean("decimal 4111111111111111.25");
        // Luhn-valid digits, but not grouped like a card (first group must have 4).
        assert_clean("ref 41 1111 1111 1111 11");
        assert_clean("ref 123 4567 8901 2347");
        assert_redacts("123456789012347", PiiKind::CreditCard);
    }

    #[test]
    fn credit_card_inside_longer_chain() {
        assert_eq!(
            red("Ref 2024 4111 1111 1111 1111 end"),
            "Ref 2024 [CREDIT_CARD] end"
        );
    }

    #[test]
    fn ssn() {
        assert_redacts("123-45-6789", PiiKind::Ssn);
        assert_redacts("123 45 6789", PiiKind::Ssn);
        for bad in [
            "666-12-3456",
            "000-12-3456",
            "900-12-3456",
            "123-00-4567",
            "123-45-0000",
            "123-45 6789",
            "9123-45-6789",
            "123-45-67890",
        ] {
            assert_clean(&format!("id {bad} x"));
        }
    }

    #[test]
    fn ipv4() {
        assert_redacts("192.168.1.1", PiiKind::Ipv4);
        assert_redacts("0.0.0.0", PiiKind::Ipv4);
        assert_redacts("255.255.255.255", PiiKind::Ipv4);
        assert_eq!(red("host 10.0.0.1:8080."), "host [IP_ADDRESS]:8080.");
        assert_clean("bad 256.1.1.1 address");
        assert_clean("version 1.2.3.4.5 released");
        assert_clean("padded 01.2.3.4 octet");
        assert_clean("three 1.2.3 parts and 1234.1.1.1");
    }

    #[test]
    fn ipv6() {
        assert_redacts("2001:db8::8a2e:370:7334", PiiKind::Ipv6);
        assert_redacts("::1", PiiKind::Ipv6);
        assert_redacts("fe80::1", PiiKind::Ipv6);
        assert_redacts("2001:0db8:85a3:0000:0000:8a2e:0370:7334", PiiKind::Ipv6);
        // The embedded IPv4 loses to the longer IPv6 span.
        assert_redacts("::ffff:192.168.1.1", PiiKind::Ipv6);
        assert_eq!(red("reach fe80::1: now"), "reach [IP_ADDRESS]: now");
        assert_clean("at 10:30 and 12:34:56, ratio 1:2:3");
        assert_clean("use std::vec::Vec or a::b; deadline 2024-01-15T10:30:00");
        assert_clean("mac 00:1A:2B:3C:4D:5E");
    }

    #[test]
    fn aws_access_key_id() {
        assert_redacts("AKIAIOSFODNN7EXAMPLE", PiiKind::AwsAccessKeyId);
        assert_redacts("ASIAY34FZKBOKMUTVV7A", PiiKind::AwsAccessKeyId);
        assert_clean("long AKIAIOSFODNN7EXAMPLEX key");
        assert_clean("prefixed XAKIAIOSFODNN7EXAMPLE key");
        assert_clean("short AKIAIOSFODNN7 key");
        assert_clean("lower akiaiosfodnn7example key");
        assert_clean("bad alphabet AKIAIOSFODNN1EXAMPLE key");
    }

    #[test]
    fn aws_secret_key() {
        assert_redacts(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            PiiKind::AwsSecretKey,
        );
        assert_eq!(
            red("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            "aws_secret_access_key=[AWS_SECRET_KEY]"
        );
        // 41 characters: part of a longer run.
        assert_clean("x wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYZ y");
        // git SHA-1: no uppercase.
        assert_clean("commit da39a3ee5e6b4b0d3255bfef95601890afd80709");
        // Letters only.
        assert_clean("abcdefghijABCDEFGHIJabcdefghijABCDEFGHIJ");
    }

    #[test]
    fn iban() {
        assert_redacts("GB82 WEST 1234 5698 7654 32", PiiKind::Iban);
        assert_redacts("GB82WEST12345698765432", PiiKind::Iban);
        assert_redacts("DE89370400440532013000", PiiKind::Iban);
        assert_redacts("DE89 3704 0044 0532 0130 00", PiiKind::Iban);
        assert_eq!(
            red("to DE89 3704 0044 0532 0130 00 ABCD please"),
            "to [IBAN] ABCD please"
        );
        // A full last group followed by a four-letter word: shortened back to the IBAN.
        assert_eq!(
            red("pay AT61 1904 3002 3457 3201 CASH now"),
            "pay [IBAN] CASH now"
        );
        assert_clean("wrong GB82 WEST 1234 5698 7654 33 check");
        assert_clean("wrong DE89370400440532013001 check");
        assert_clean("glued XDE89370400440532013000 check");
        assert_clean("short GB82WEST1234 code");
    }

    #[test]
    fn mixed_text_counts() {
        let text = "Contact jane.doe@example.com or (415) 555-0132; card 4111-1111-1111-1111, \
                    SSN 123-45-6789, from 192.168.0.1 / 2001:db8::8a2e:370:7334, key \
                    AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, \
                    IBAN GB82 WEST 1234 5698 7654 32.";
        let (out, c) = PiiScanner::new().redact(text);
        assert_eq!(
            out,
            "Contact [EMAIL] or [PHONE]; card [CREDIT_CARD], SSN [SSN], from [IP_ADDRESS] / \
             [IP_ADDRESS], key [AWS_ACCESS_KEY_ID] secret [AWS_SECRET_KEY], IBAN [IBAN]."
        );
        for k in PiiKind::ALL {
            assert_eq!(c.get(k), 1, "{}", k.name());
        }
        assert_eq!(c.total(), 9);
        assert_eq!(counts(text), c);

        let two = red("a@b.io and c@d.io, 10.0.0.1 10.0.0.2");
        assert_eq!(two, "[EMAIL] and [EMAIL], [IP_ADDRESS] [IP_ADDRESS]");
        let c2 = counts("a@b.io and c@d.io, 10.0.0.1 10.0.0.2");
        assert_eq!((c2.get(PiiKind::Email), c2.get(PiiKind::Ipv4)), (2, 2));
    }

    #[test]
    fn overlap_policy() {
        // Card (checksum) beats the overlapping `+` phone candidate.
        assert_eq!(red("+1 4111 1111 1111 1111"), "+1 [CREDIT_CARD]");
        // Email beats the phone-shaped local part.
        let c = counts("text 415-555-0132@sms.example.com now");
        assert_eq!((c.get(PiiKind::Email), c.total()), (1, 1));
        // A failed card candidate does not hide the SSN inside the same digit chain.
        assert_eq!(
            red("4111-1111-1111-1112 123-45-6789"),
            "4111-1111-1111-1112 [SSN]"
        );
    }

    #[test]
    fn overlap_resolution_order() {
        let sp = |start, end, kind| span(start, end, kind);
        let kinds = |v: Vec<Span>| v.iter().map(|s| (s.start, s.kind)).collect::<Vec<_>>();
        // Rank beats length: the shorter card wins over the longer phone.
        let got = resolve(vec![
            sp(0, 30, PiiKind::Phone),
            sp(10, 25, PiiKind::CreditCard),
        ]);
        assert_eq!(kinds(got), vec![(10, PiiKind::CreditCard)]);
        // Same rank: longest first, and non-overlapping spans are all kept.
        let got = resolve(vec![
            sp(5, 12, PiiKind::Ipv4),
            sp(0, 12, PiiKind::Ipv6),
            sp(20, 30, PiiKind::Email),
            sp(12, 20, PiiKind::Phone),
        ]);
        assert_eq!(
            kinds(got),
            vec![
                (0, PiiKind::Ipv6),
                (12, PiiKind::Phone),
                (20, PiiKind::Email)
            ]
        );
        // Same rank and length: leftmost wins.
        let got = resolve(vec![sp(3, 8, PiiKind::Ssn), sp(0, 5, PiiKind::Email)]);
        assert_eq!(kinds(got), vec![(0, PiiKind::Email)]);
    }

    #[test]
    fn prefilter_never_hides_a_match() {
        let s = PiiScanner::new();
        let samples = [
            "Contact jane.doe@example.com or (415) 555-0132; card 4111-1111-1111-1111",
            "+1 (415) 555-0132, 1-800-555-0199, +44 20 7946 0958, +49 30 123456789",
            "+14155550132 and 415.555.0132 and 415 555 0132 and (415)555-0132",
            "SSN 123-45-6789 or 123 45 6789; cards 378282246310005 3782 822463 10005",
            "ips 10.0.0.1:8080 ::1 fe80::1 ::ffff:192.168.1.1 2001:db8::8a2e:370:7334",
            "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "GB82 WEST 1234 5698 7654 32, DE89370400440532013000, AT61 1904 3002 3457 3201",
            "I was charged $1,000.50 on 2024-01-15 for order 12345",
        ];
        for text in samples {
            let fast = s.find_spans(text);
            let full = s.find_spans_with(text, &Features::permissive());
            let as_tuples = |v: &[Span]| {
                v.iter()
                    .map(|x| (x.start, x.end, x.kind))
                    .collect::<Vec<_>>()
            };
            assert_eq!(as_tuples(&fast), as_tuples(&full), "{text:?}");
        }
        // And the prefilter does skip work on plain text.
        let f = Features::of("The blue widget arrived late (order 12345), sorry.");
        assert!(!f.at && !f.plus && !f.iban_head);
        assert!(f.max_chain < 8 && f.max_aws_run < 20 && f.max_secret_run < 40);
    }

    #[test]
    fn redaction_is_idempotent() {
        let s = PiiScanner::new();
        for text in [
            "Contact jane.doe@example.com or (415) 555-0132 about 4111 1111 1111 1111",
            "4111111111111111-123-45-6789",
            "ip 10.0.0.1.5 and fe80::1 and ::ffff:1.2.3.4",
            "AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "GB82 WEST 1234 5698 7654 32 +44 20 7946 0958",
            "nothing to see",
        ] {
            let once = s.redact(text).0.into_owned();
            let (twice, c) = s.redact(&once);
            assert_eq!(twice, once, "not idempotent for {text:?}");
            assert!(c.is_empty(), "second pass found {c:?} in {once:?}");
        }
        // The glued SSN is freed by the card redaction and caught in the same call.
        let (out, c) = s.redact("4111111111111111-123-45-6789");
        assert_eq!(out, "[CREDIT_CARD]-[SSN]");
        assert_eq!(c.total(), 2);
        assert_eq!(s.detect("4111111111111111-123-45-6789"), c);
    }

    #[test]
    fn tokens_match_nothing() {
        let all: String = PiiKind::ALL.iter().map(|k| k.token()).collect();
        assert_clean(&all);
        let spaced: Vec<&str> = PiiKind::ALL.iter().map(|k| k.token()).collect();
        assert_clean(&spaced.join(" "));
    }

    #[test]
    fn ordinary_sentences_unchanged() {
        for text in [
            "I was charged $1,000.50 on 2024-01-15 for order 12345",
            "Please refund 49.99 USD to my account ending 4242 by 03/15/2024.",
            "Transfer of EUR 2,500.00 scheduled for 15.01.2024, ref INV-2024-000123.",
            "My balance is 12,345,678.90 after 3 deposits of 1,000 each.",
            "Call between 9:00 and 17:30 CET, ticket #1234567.",
            "Ünïcödé text — with “quotes” and 漢字 but no PII at all.",
            "",
        ] {
            assert_clean(text);
        }
    }

    #[test]
    fn counts_api() {
        let mut a = PiiCounts::default();
        assert!(a.is_empty());
        let b = counts("x@y.io 123-45-6789 z@w.io");
        assert_eq!((b.get(PiiKind::Email), b.get(PiiKind::Ssn)), (2, 1));
        a.add(&b);
        a.add(&b);
        assert_eq!(a.total(), 6);
        assert!(!a.is_empty());
        let listed: Vec<(PiiKind, u64)> = a.iter().collect();
        assert_eq!(listed.len(), 9);
        assert_eq!(
            listed.iter().map(|&(k, _)| k).collect::<Vec<_>>(),
            PiiKind::ALL.to_vec()
        );
        assert_eq!(listed[0], (PiiKind::Email, 4));
        assert_eq!(listed[3], (PiiKind::Ssn, 2));
        let names: std::collections::HashSet<&str> =
            PiiKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), 9);
        assert_eq!(PiiKind::CreditCard.name(), "credit_card");
        assert_eq!(PiiKind::Ipv6.token(), "[IP_ADDRESS]");
    }

    #[test]
    fn shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>(_: &T) {}
        let s = PiiScanner::default();
        assert_send_sync(&s);
        let totals: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|i| scope.spawn(move || s.detect(&format!("u{i}@example.com")).total()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
        });
        assert_eq!(totals, vec![1, 1]);
    }

    #[test]
    fn clean_rows_timing_smoke() {
        let s = PiiScanner::new();
        let rows: Vec<String> = (0..100_000)
            .map(|i| {
                format!(
                    "Customer {i} asked about order {} placed on 2024-01-{:02}: the Blue \
                     Widget arrived late, total $1,{:03}.50. Please advise ASAP.",
                    i * 7,
                    i % 28 + 1,
                    i % 1000
                )
            })
            .collect();
        let t = std::time::Instant::now();
        let mut total = PiiCounts::default();
        for r in &rows {
            total.add(&s.detect(r));
        }
        let dt = t.elapsed();
        eprintln!(
            "pii: {} clean rows in {dt:?} ({:.0} ns/row)",
            rows.len(),
            dt.as_nanos() as f64 / rows.len() as f64
        );
        assert!(total.is_empty(), "false positives on clean rows: {total:?}");
    }
}
