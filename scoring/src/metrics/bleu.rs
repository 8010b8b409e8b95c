//! Corpus and sentence BLEU compatible with sacreBLEU 2.x.
//!
//! Defaults match `sacrebleu.metrics.BLEU()`: the `13a` tokenizer (the
//! mteval-v13a normalisation, see [`tokenize_13a`]), mixed case, maximum
//! n-gram order 4, `exp` smoothing and no effective order. The brevity penalty
//! uses, for every segment, the reference length closest to the hypothesis
//! length (the shorter one on ties), summed over the corpus. Multiple
//! references per segment are supported and their number may vary between
//! segments; n-gram counts are clipped by the maximum count over references.
//!
//! [`BleuConfig::sentence`] gives the settings of `sacrebleu.sentence_bleu`
//! (effective order on). Scores are on sacreBLEU's 0–100 scale.
//!
//! Internally tokens are interned to `u32` ids and n-grams to dense per-segment
//! ids (see the crate-private `ngram` module), so no string is allocated per
//! n-gram and all buffers are reused across segments by [`BleuScorer`].

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::ngram::{NgramInterner, Vocab, WORD_ROOT, ensure_orders, fit};
use super::text::{collapse_whitespace, is_py_whitespace, split_py_whitespace};
use super::{MetricError, check_lengths};

/// Tokenizer applied to hypotheses and references before n-gram extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BleuTokenizer {
    /// sacreBLEU's `13a` tokenizer (default), see [`tokenize_13a`].
    #[default]
    Tok13a,
    /// sacreBLEU's `none` tokenizer: split on whitespace only.
    Whitespace,
}

/// Smoothing of zero n-gram precisions, as in sacreBLEU's `smooth_method`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum Smoothing {
    /// No smoothing (`none`).
    None,
    /// `floor`: a zero match count is replaced by the given value
    /// (sacreBLEU's default value is 0.1).
    Floor(f64),
    /// `add-k`: add the given value to matches and totals of orders `n > 1`
    /// (sacreBLEU's default value is 1).
    AddK(f64),
    /// `exp` (default): the NIST geometric sequence used by mteval-v13a;
    /// the k-th zero precision becomes `1 / (2^k · total)`.
    #[default]
    Exp,
}

/// Settings for BLEU. [`Default`] is sacreBLEU's corpus BLEU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BleuConfig {
    /// Maximum n-gram order (sacreBLEU default 4).
    pub max_ngram_order: usize,
    /// Smoothing method (default [`Smoothing::Exp`]).
    pub smoothing: Smoothing,
    /// Tokenizer (default [`BleuTokenizer::Tok13a`]).
    pub tokenizer: BleuTokenizer,
    /// Lowercase hypotheses and references first (default `false`).
    pub lowercase: bool,
    /// Stop at the highest order with a non-zero total instead of letting a
    /// missing order zero the score (default `false`; `true` for sentences).
    pub effective_order: bool,
}

impl Default for BleuConfig {
    fn default() -> Self {
        Self {
            max_ngram_order: 4,
            smoothing: Smoothing::Exp,
            tokenizer: BleuTokenizer::Tok13a,
            lowercase: false,
            effective_order: false,
        }
    }
}

impl BleuConfig {
    /// The settings of `sacrebleu.sentence_bleu`: the defaults with
    /// `effective_order = true`.
    pub fn sentence() -> Self {
        Self {
            effective_order: true,
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), MetricError> {
        if self.max_ngram_order == 0 {
            return Err(MetricError::InvalidArgument(
                "BLEU max_ngram_order must be >= 1".into(),
            ));
        }
        match self.smoothing {
            Smoothing::Floor(v) | Smoothing::AddK(v) if !v.is_finite() || v < 0.0 => {
                Err(MetricError::InvalidArgument(format!(
                    "BLEU smoothing value must be finite and >= 0, got {v}"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Sufficient statistics of BLEU; they add up over segments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BleuStats {
    /// Total hypothesis length in tokens.
    pub sys_len: u64,
    /// Total closest-reference length in tokens.
    pub ref_len: u64,
    /// Clipped n-gram matches per order (index 0 = unigrams).
    pub correct: Vec<u64>,
    /// Hypothesis n-gram counts per order.
    pub total: Vec<u64>,
}

impl BleuStats {
    /// Zeroed statistics for `max_order` n-gram orders.
    pub fn new(max_order: usize) -> Self {
        Self {
            sys_len: 0,
            ref_len: 0,
            correct: vec![0; max_order],
            total: vec![0; max_order],
        }
    }

    /// Adds `other` into `self` (orders beyond `self`'s length are appended).
    pub fn add(&mut self, other: &BleuStats) {
        self.sys_len += other.sys_len;
        self.ref_len += other.ref_len;
        for (dst, src) in [
            (&mut self.correct, &other.correct),
            (&mut self.total, &other.total),
        ] {
            if dst.len() < src.len() {
                dst.resize(src.len(), 0);
            }
            for (d, s) in dst.iter_mut().zip(src) {
                *d += s;
            }
        }
    }
}

/// A BLEU result, mirroring sacreBLEU's `BLEUScore`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BleuScore {
    /// BLEU on the 0–100 scale.
    pub score: f64,
    /// Clipped n-gram matches per order (before smoothing).
    pub counts: Vec<u64>,
    /// Hypothesis n-gram counts per order (before smoothing).
    pub totals: Vec<u64>,
    /// Smoothed n-gram precisions per order, in percent.
    pub precisions: Vec<f64>,
    /// Brevity penalty.
    pub bp: f64,
    /// Hypothesis length in tokens.
    pub sys_len: u64,
    /// Reference length in tokens (closest reference per segment).
    pub ref_len: u64,
}

/// sacreBLEU's `my_log`: `ln(x)`, with `ln(0)` replaced by `-9999999999`.
fn my_log(x: f64) -> f64 {
    if x == 0.0 { -9_999_999_999.0 } else { x.ln() }
}

/// Computes BLEU from sufficient statistics, following
/// `sacrebleu.metrics.BLEU.compute_bleu` step by step (including its early
/// exit to 0 when no n-gram of any order matches).
pub fn compute_bleu(stats: &BleuStats, config: &BleuConfig) -> BleuScore {
    let order = config.max_ngram_order;
    let sys_len = stats.sys_len;
    let ref_len = stats.ref_len;
    let get = |v: &Vec<u64>, i: usize| v.get(i).copied().unwrap_or(0);
    let counts: Vec<u64> = (0..order).map(|i| get(&stats.correct, i)).collect();
    let totals: Vec<u64> = (0..order).map(|i| get(&stats.total, i)).collect();

    let bp = if sys_len < ref_len {
        if sys_len > 0 {
            (1.0 - ref_len as f64 / sys_len as f64).exp()
        } else {
            0.0
        }
    } else {
        1.0
    };
    let mut precisions = vec![0.0; order];
    let zero = |precisions| BleuScore {
        score: 0.0,
        counts: counts.clone(),
        totals: totals.clone(),
        precisions,
        bp,
        sys_len,
        ref_len,
    };
    if counts.iter().all(|&c| c == 0) {
        return zero(precisions);
    }

    let mut smooth_mteval = 1.0f64;
    let mut eff_order = order;
    for n in 1..=order {
        let mut correct = counts[n - 1] as f64;
        let mut total = totals[n - 1] as f64;
        if let Smoothing::AddK(k) = config.smoothing
            && n > 1
        {
            correct += k;
            total += k;
        }
        if total == 0.0 {
            break;
        }
        if config.effective_order {
            eff_order = n;
        }
        if correct == 0.0 {
            match config.smoothing {
                Smoothing::Exp => {
                    smooth_mteval *= 2.0;
                    precisions[n - 1] = 100.0 / (smooth_mteval * total);
                }
                Smoothing::Floor(v) => precisions[n - 1] = 100.0 * v / total,
                Smoothing::None | Smoothing::AddK(_) => {}
            }
        } else {
            precisions[n - 1] = 100.0 * correct / total;
        }
    }
    let log_sum: f64 = precisions[..eff_order].iter().map(|&p| my_log(p)).sum();
    let score = bp * (log_sum / eff_order as f64).exp();
    BleuScore {
        score,
        counts,
        totals,
        precisions,
        bp,
        sys_len,
        ref_len,
    }
}

/// Is `b` one of the characters that the first `13a` regex pads with spaces:
/// `` [{-~[-` -&(-+:-@/] `` (everything in ASCII punctuation except
/// `'`, `,`, `-` and `.`, plus the space itself).
#[inline]
fn is_13a_symbol(b: u8) -> bool {
    matches!(b, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/')
}

/// Scratch buffers for [`tokenize_13a`].
#[derive(Default)]
struct Tok13aBuffers {
    a: String,
    b: String,
}

/// Runs the 13a pipeline on `line`, leaving the result (tokens separated by
/// arbitrary whitespace) in `bufs.a`.
fn tokenize_13a_raw(line: &str, bufs: &mut Tok13aBuffers) {
    // Language-independent part (mteval-v13a): these replacements are applied
    // one after another to the whole line, exactly like sacreBLEU does.
    let mut s: Cow<'_, str> = Cow::Borrowed(line);
    if s.contains('<') || s.contains('\n') || s.contains('&') {
        for (pat, rep) in [
            ("<skipped>", ""),
            ("-\n", ""),
            ("\n", " "),
            ("&quot;", "\""),
            ("&amp;", "&"),
            ("&lt;", "<"),
            ("&gt;", ">"),
        ] {
            if s.contains(pat) {
                s = Cow::Owned(s.replace(pat, rep));
            }
        }
    }

    // Rule 1: ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> ' \1 ' on " {line} ".
    let a = &mut bufs.a;
    a.clear();
    a.push(' ');
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &c) in bytes.iter().enumerate() {
        if is_13a_symbol(c) {
            a.push_str(&s[last..i]);
            a.push(' ');
            a.push(char::from(c));
            a.push(' ');
            last = i + 1;
        }
    }
    a.push_str(&s[last..]);
    a.push(' ');

    // The remaining rules are two-character patterns; each is applied as a
    // left-to-right, non-overlapping substitution (Python's re.sub). All the
    // characters they test are ASCII, so testing bytes is equivalent to testing
    // characters: a multi-byte character never matches a digit, '.', ',' or
    // '-', and matches `[^0-9]` through its first byte.

    // Rule 2: ([^0-9])([\.,]) -> '\1 \2 '
    let src = &bufs.a;
    let dst = &mut bufs.b;
    dst.clear();
    let b = src.as_bytes();
    let (mut i, mut last) = (0, 0);
    while i + 1 < b.len() {
        if !b[i].is_ascii_digit() && matches!(b[i + 1], b'.' | b',') {
            dst.push_str(&src[last..=i]);
            dst.push(' ');
            dst.push(char::from(b[i + 1]));
            dst.push(' ');
            i += 2;
            last = i;
        } else {
            i += 1;
        }
    }
    dst.push_str(&src[last..]);

    // Rule 3: ([\.,])([^0-9]) -> ' \1 \2'
    let src = &bufs.b;
    let dst = &mut bufs.a;
    dst.clear();
    let b = src.as_bytes();
    let (mut i, mut last) = (0, 0);
    while i + 1 < b.len() {
        if matches!(b[i], b'.' | b',') && !b[i + 1].is_ascii_digit() {
            dst.push_str(&src[last..i]);
            dst.push(' ');
            dst.push(char::from(b[i]));
            dst.push(' ');
            last = i + 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    dst.push_str(&src[last..]);

    // Rule 4: ([0-9])(-) -> '\1 \2 '
    let src = &bufs.a;
    let dst = &mut bufs.b;
    dst.clear();
    let b = src.as_bytes();
    let (mut i, mut last) = (0, 0);
    while i + 1 < b.len() {
        if b[i].is_ascii_digit() && b[i + 1] == b'-' {
            dst.push_str(&src[last..=i]);
            dst.push_str(" - ");
            i += 2;
            last = i;
        } else {
            i += 1;
        }
    }
    dst.push_str(&src[last..]);
    std::mem::swap(&mut bufs.a, &mut bufs.b);
}

/// sacreBLEU's `13a` tokenizer (`Tokenizer13a`, equivalent to mteval-v13a.pl).
///
/// 1. Remove `<skipped>` and `-\n`, turn `\n` into a space and unescape
///    `&quot;`, `&amp;`, `&lt;`, `&gt;` (in that order).
/// 2. Pad the line with spaces and apply, in order, the regex substitutions
///    - `` ([\{-\~\[-\` -\&\(-\+\:-\@\/]) `` → `' \1 '` (most punctuation;
///      not `'`, `,`, `-`, `.`),
///    - `([^0-9])([\.,])` → `'\1 \2 '` (period/comma not preceded by a digit),
///    - `([\.,])([^0-9])` → `' \1 \2'` (period/comma not followed by a digit),
///    - `([0-9])(-)` → `'\1 \2 '` (dash preceded by a digit).
/// 3. Collapse whitespace.
///
/// sacreBLEU additionally strips trailing whitespace from each segment before
/// calling the tokenizer; [`BleuScorer`] does that too.
///
/// ```
/// use tunebench_scoring::metrics::bleu::tokenize_13a;
/// assert_eq!(tokenize_13a("Hello, world!"), "Hello , world !");
/// assert_eq!(tokenize_13a("It wasn't 1,000.5 km."), "It wasn't 1,000.5 km .");
/// ```
pub fn tokenize_13a(line: &str) -> String {
    let mut bufs = Tok13aBuffers::default();
    tokenize_13a_raw(line, &mut bufs);
    collapse_whitespace(&bufs.a)
}

/// Reusable BLEU scorer: holds the configuration, a token vocabulary and all
/// scratch buffers. Use it to score many segments without re-allocating.
pub struct BleuScorer {
    config: BleuConfig,
    vocab: Vocab,
    tok: Tok13aBuffers,
    lower: String,
    interner: NgramInterner,
    units: Vec<u32>,
    ngrams: Vec<Vec<u32>>,
    counts: Vec<u32>,
    ref_max: Vec<u32>,
    ref_lens: Vec<usize>,
}

impl BleuScorer {
    /// Creates a scorer.
    ///
    /// # Errors
    /// [`MetricError::InvalidArgument`] for `max_ngram_order == 0` or a
    /// negative / non-finite smoothing value.
    pub fn new(config: BleuConfig) -> Result<Self, MetricError> {
        config.validate()?;
        Ok(Self {
            config,
            vocab: Vocab::default(),
            tok: Tok13aBuffers::default(),
            lower: String::new(),
            interner: NgramInterner::default(),
            units: Vec::new(),
            ngrams: Vec::new(),
            counts: Vec::new(),
            ref_max: Vec::new(),
            ref_lens: Vec::new(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &BleuConfig {
        &self.config
    }

    /// Preprocesses and tokenizes `text` into `self.units` (vocab ids), then
    /// interns its n-grams into `self.ngrams`. Returns the token count.
    fn load(&mut self, text: &str) -> usize {
        let text = if self.config.lowercase {
            // str::to_lowercase, like Python's str.lower, applies the
            // context-sensitive final-sigma rule.
            self.lower = text.to_lowercase();
            self.lower.as_str()
        } else {
            text
        };
        let text = text.trim_end_matches(is_py_whitespace);
        let tokenized: &str = match self.config.tokenizer {
            BleuTokenizer::Tok13a => {
                tokenize_13a_raw(text, &mut self.tok);
                &self.tok.a
            }
            BleuTokenizer::Whitespace => text,
        };
        self.units.clear();
        let vocab = &mut self.vocab;
        self.units
            .extend(split_py_whitespace(tokenized).map(|t| vocab.id(t)));
        let order = self.config.max_ngram_order;
        ensure_orders(&mut self.ngrams, order);
        self.interner
            .ngrams_up_to(&self.units, WORD_ROOT, &mut self.ngrams[..order]);
        fit(&mut self.counts, &self.interner);
        fit(&mut self.ref_max, &self.interner);
        self.units.len()
    }

    /// Adds the statistics of one segment (a hypothesis and its references) to
    /// `stats`.
    ///
    /// # Errors
    /// [`MetricError::InvalidArgument`] when `references` is empty.
    pub fn add_segment<R: AsRef<str>>(
        &mut self,
        hypothesis: &str,
        references: &[R],
        stats: &mut BleuStats,
    ) -> Result<(), MetricError> {
        if references.is_empty() {
            return Err(MetricError::InvalidArgument(
                "every BLEU segment needs at least one reference".into(),
            ));
        }
        let order = self.config.max_ngram_order;
        if stats.correct.len() < order {
            stats.correct.resize(order, 0);
        }
        if stats.total.len() < order {
            stats.total.resize(order, 0);
        }
        self.vocab.maybe_reset();
        self.interner.clear();
        self.counts.clear();
        self.ref_max.clear();

        // References: maximum count of every n-gram over the references, and
        // the closest reference length.
        self.ref_lens.clear();
        for r in references {
            let len = self.load(r.as_ref());
            self.ref_lens.push(len);
            for ids in &self.ngrams[..order] {
                for &id in ids {
                    self.counts[id as usize] += 1;
                }
            }
            for ids in &self.ngrams[..order] {
                for &id in ids {
                    let c = std::mem::take(&mut self.counts[id as usize]);
                    let m = &mut self.ref_max[id as usize];
                    *m = (*m).max(c);
                }
            }
        }

        let hyp_len = self.load(hypothesis);
        for (k, ids) in self.ngrams[..order].iter().enumerate() {
            for &id in ids {
                self.counts[id as usize] += 1;
            }
            for &id in ids {
                let c = std::mem::take(&mut self.counts[id as usize]);
                if c > 0 {
                    stats.total[k] += u64::from(c);
                    stats.correct[k] += u64::from(c.min(self.ref_max[id as usize]));
                }
            }
        }

        stats.sys_len += hyp_len as u64;
        stats.ref_len += closest_ref_len(hyp_len, &self.ref_lens) as u64;
        Ok(())
    }

    /// Statistics of one segment on its own.
    ///
    /// # Errors
    /// See [`BleuScorer::add_segment`].
    pub fn segment_stats<R: AsRef<str>>(
        &mut self,
        hypothesis: &str,
        references: &[R],
    ) -> Result<BleuStats, MetricError> {
        let mut stats = BleuStats::new(self.config.max_ngram_order);
        self.add_segment(hypothesis, references, &mut stats)?;
        Ok(stats)
    }

    /// BLEU of one sentence (use [`BleuConfig::sentence`] for sacreBLEU's
    /// sentence-level settings).
    ///
    /// # Errors
    /// See [`BleuScorer::add_segment`].
    pub fn sentence_score<R: AsRef<str>>(
        &mut self,
        hypothesis: &str,
        references: &[R],
    ) -> Result<BleuScore, MetricError> {
        let stats = self.segment_stats(hypothesis, references)?;
        Ok(compute_bleu(&stats, &self.config))
    }

    /// Corpus BLEU; `references[i]` holds the references of `hypotheses[i]`.
    ///
    /// # Errors
    /// [`MetricError::LengthMismatch`] when the two slices differ in length,
    /// or see [`BleuScorer::add_segment`].
    pub fn corpus_score<H, RS, R>(
        &mut self,
        hypotheses: &[H],
        references: &[RS],
    ) -> Result<BleuScore, MetricError>
    where
        H: AsRef<str>,
        RS: AsRef<[R]>,
        R: AsRef<str>,
    {
        check_lengths(hypotheses.len(), references.len())?;
        let mut stats = BleuStats::new(self.config.max_ngram_order);
        for (h, rs) in hypotheses.iter().zip(references) {
            self.add_segment(h.as_ref(), rs.as_ref(), &mut stats)?;
        }
        Ok(compute_bleu(&stats, &self.config))
    }
}

/// sacreBLEU's `_get_closest_ref_len`: the reference length with the smallest
/// absolute difference to `hyp_len`, the shorter one on ties.
fn closest_ref_len(hyp_len: usize, ref_lens: &[usize]) -> usize {
    let mut best: Option<(usize, usize)> = None;
    for &len in ref_lens {
        let diff = hyp_len.abs_diff(len);
        best = match best {
            Some((d, l)) if d < diff || (d == diff && l <= len) => Some((d, l)),
            _ => Some((diff, len)),
        };
    }
    best.map_or(0, |(_, l)| l)
}

/// Corpus BLEU with the given settings; `references[i]` holds the references
/// of `hypotheses[i]` (see [`ref_streams_to_segments`] for sacreBLEU's
/// stream-major layout).
///
/// # Errors
/// See [`BleuScorer::corpus_score`] and [`BleuScorer::new`].
pub fn corpus_bleu<H, RS, R>(
    hypotheses: &[H],
    references: &[RS],
    config: &BleuConfig,
) -> Result<BleuScore, MetricError>
where
    H: AsRef<str>,
    RS: AsRef<[R]>,
    R: AsRef<str>,
{
    BleuScorer::new(config.clone())?.corpus_score(hypotheses, references)
}

/// Sentence BLEU with the given settings ([`BleuConfig::sentence`] matches
/// `sacrebleu.sentence_bleu`).
///
/// # Errors
/// See [`BleuScorer::add_segment`] and [`BleuScorer::new`].
pub fn sentence_bleu<R: AsRef<str>>(
    hypothesis: &str,
    references: &[R],
    config: &BleuConfig,
) -> Result<BleuScore, MetricError> {
    BleuScorer::new(config.clone())?.sentence_score(hypothesis, references)
}

/// Converts sacreBLEU's reference layout (`streams[k][i]` = k-th reference of
/// segment `i`) into the segment-major layout used here (`out[i][k]`).
/// `None` entries (a missing reference, as sacreBLEU allows) are skipped.
///
/// # Errors
/// [`MetricError::LengthMismatch`] when the streams differ in length.
pub fn ref_streams_to_segments<'a, S: AsRef<[Option<&'a str>]>>(
    streams: &[S],
) -> Result<Vec<Vec<&'a str>>, MetricError> {
    let n = streams.first().map_or(0, |s| s.as_ref().len());
    let mut out: Vec<Vec<&'a str>> = vec![Vec::with_capacity(streams.len()); n];
    for s in streams {
        let s = s.as_ref();
        check_lengths(n, s.len())?;
        for (seg, r) in out.iter_mut().zip(s) {
            if let Some(r) = r {
                seg.push(r);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---------------------------------------------------------------------
    // 13a tokenizer. Expected outputs follow the regexes of sacreBLEU's
    // tokenizers/tokenizer_13a.py + tokenizer_re.py applied by hand.
    // ---------------------------------------------------------------------
    #[test]
    fn tok13a_punctuation() {
        assert_eq!(tokenize_13a("Hello, world!"), "Hello , world !");
        assert_eq!(
            tokenize_13a("The dog bit the man."),
            "The dog bit the man ."
        );
        assert_eq!(
            tokenize_13a("(a) [b] {c} \"d\" e/f g:h; i?"),
            "( a ) [ b ] { c } \" d \" e / f g : h ; i ?"
        );
        assert_eq!(
            tokenize_13a("50% of $5 & more @ #1"),
            "50 % of $ 5 & more @ # 1"
        );
    }

    #[test]
    fn tok13a_apostrophe_and_dash_are_kept() {
        // The apostrophe (0x27) lies between '&' (0x26) and '(' (0x28) and is
        // NOT in the first character class, so contractions stay whole.
        assert_eq!(tokenize_13a("It wasn't"), "It wasn't");
        assert_eq!(tokenize_13a("rock 'n' roll"), "rock 'n' roll");
        // '-' is only split after a digit.
        assert_eq!(tokenize_13a("well-known"), "well-known");
        assert_eq!(tokenize_13a("pages 5-7"), "pages 5 - 7");
        assert_eq!(tokenize_13a("-5"), "-5");
    }

    #[test]
    fn tok13a_numbers() {
        assert_eq!(tokenize_13a("1,000"), "1,000");
        assert_eq!(
            tokenize_13a("It costs 1,000.50 dollars."),
            "It costs 1,000.50 dollars ."
        );
        assert_eq!(tokenize_13a("3.5."), "3.5 .");
        assert_eq!(tokenize_13a("3.5"), "3.5");
        // Rule 2 splits a period preceded by a non-digit even when a digit
        // follows, so "v.2" and ".5" are split.
        assert_eq!(tokenize_13a("v.2"), "v . 2");
        assert_eq!(tokenize_13a(".5"), ". 5");
        // Comma after a digit and before a space is split by rule 3.
        assert_eq!(tokenize_13a("1, 2"), "1 , 2");
    }

    #[test]
    fn tok13a_non_overlapping_substitution() {
        // re.sub is non-overlapping: in "a..b" rule 2 consumes "a." so the
        // second '.' is only split by rule 3.
        assert_eq!(tokenize_13a("a..b"), "a . . b");
        assert_eq!(tokenize_13a("wait..."), "wait . . .");
        assert_eq!(tokenize_13a("x,,1"), "x , ,1");
        // Multi-byte characters around the ASCII rules.
        assert_eq!(tokenize_13a("héllo.é"), "héllo . é");
        assert_eq!(tokenize_13a("Prix: 5€."), "Prix : 5€ .");
    }

    #[test]
    fn tok13a_mteval_normalisation() {
        assert_eq!(tokenize_13a("a<skipped>b"), "ab");
        assert_eq!(tokenize_13a("hyphen-\nated"), "hyphenated");
        assert_eq!(tokenize_13a("two\nlines"), "two lines");
        assert_eq!(
            tokenize_13a("&quot;hi&quot; &amp; &lt;b&gt;"),
            "\" hi \" & < b >"
        );
        // Replacements run one after another over the whole line: "&amp;" is
        // unescaped after "&quot;" but before "&lt;".
        assert_eq!(tokenize_13a("&amp;quot;"), "& quot ;");
        assert_eq!(tokenize_13a("&amp;lt;"), "<");
    }

    // ---------------------------------------------------------------------
    // Reference values from sacreBLEU (https://github.com/mjpost/sacrebleu).
    // ---------------------------------------------------------------------

    // README "Using the Python API" example:
    //   BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944
    //   hyp_len = 17 ref_len = 18), and test/test_bleu.py asserts
    //   corpus_bleu(...).score == 48.530827 within 1e-8.
    fn readme_refs() -> Vec<Vec<&'static str>> {
        let streams: [[Option<&str>; 3]; 2] = [
            [
                Some("The dog bit the man."),
                Some("It was not unexpected."),
                Some("The man bit him first."),
            ],
            [
                Some("The dog had bit the man."),
                Some("No one was surprised."),
                Some("The man had bitten the dog."),
            ],
        ];
        ref_streams_to_segments(&streams).expect("equal-length streams")
    }

    const README_SYS: [&str; 3] = [
        "The dog bit the man.",
        "It wasn't surprising.",
        "The man had just bitten him.",
    ];

    #[test]
    fn sacrebleu_readme_corpus_bleu() {
        let refs = readme_refs();
        let s = corpus_bleu(&README_SYS, &refs, &BleuConfig::default()).expect("valid input");
        assert!(
            (s.score - 48.530827009929865).abs() < 1e-12,
            "score {}",
            s.score
        );
        assert!((s.score - 48.530827).abs() < 1e-6);
        assert_eq!(s.counts, vec![14, 7, 5, 3]);
        assert_eq!(s.totals, vec![17, 14, 11, 8]);
        assert_eq!(s.sys_len, 17);
        assert_eq!(s.ref_len, 18);
        assert_eq!(format!("{:.3}", s.bp), "0.943");
        let precs: Vec<String> = s.precisions.iter().map(|p| format!("{p:.1}")).collect();
        assert_eq!(precs, ["82.4", "50.0", "45.5", "37.5"]);
    }

    // test/test_bleu.py: test_corpus_bleu cases and test_max_ngram_order.
    #[test]
    fn sacrebleu_corpus_bleu_variants() {
        let refs = readme_refs();
        let none_tok = BleuConfig {
            tokenizer: BleuTokenizer::Whitespace,
            ..BleuConfig::default()
        };
        let s = corpus_bleu(&README_SYS, &refs, &none_tok).expect("valid input");
        assert!(
            (s.score - 49.1919566).abs() < 1e-6,
            "tokenize=none gave {}",
            s.score
        );

        let no_smooth = BleuConfig {
            smoothing: Smoothing::None,
            ..BleuConfig::default()
        };
        let s = corpus_bleu(&README_SYS, &refs, &no_smooth).expect("valid input");
        assert!((s.score - 48.530827).abs() < 1e-6);

        let empty = ["", "", ""];
        let s = corpus_bleu(&empty, &refs, &BleuConfig::default()).expect("valid input");
        assert_eq!(s.score, 0.0);

        for (order, expected) in [
            (1, "77.65"),
            (2, "60.50"),
            (3, "53.93"),
            (4, "48.53"),
            (5, "46.14"),
            (6, "43.28"),
        ] {
            let cfg = BleuConfig {
                max_ngram_order: order,
                ..BleuConfig::default()
            };
            let s = corpus_bleu(&README_SYS, &refs, &cfg).expect("valid input");
            assert_eq!(format!("{:.2}", s.score), expected, "max order {order}");
        }
    }

    // README "Variable Number of References": the first reference of the first
    // segment is removed -> BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889
    // ratio = 0.895 hyp_len = 17 ref_len = 19).
    #[test]
    fn sacrebleu_readme_variable_refs() {
        let streams: [[Option<&str>; 3]; 2] = [
            [
                None,
                Some("It was not unexpected."),
                Some("The man bit him first."),
            ],
            [
                Some("The dog had bit the man."),
                Some("No one was surprised."),
                Some("The man had bitten the dog."),
            ],
        ];
        let refs = ref_streams_to_segments(&streams).expect("equal-length streams");
        let s = corpus_bleu(&README_SYS, &refs, &BleuConfig::default()).expect("valid input");
        assert_eq!(format!("{:.2}", s.score), "29.44");
        assert_eq!(s.ref_len, 19);
        assert_eq!(format!("{:.3}", s.bp), "0.889");
        let precs: Vec<String> = s.precisions.iter().map(|p| format!("{p:.1}")).collect();
        assert_eq!(precs, ["82.4", "42.9", "27.3", "12.5"]);
    }

    // test/test_bleu.py: test_scoring — compute_bleu([9,7,5,3], [10,8,6,4],
    // sys_len=11, ref_len=11) / 100 == 0.8375922397 (smooth none).
    #[test]
    fn sacrebleu_compute_bleu_from_stats() {
        let stats = BleuStats {
            sys_len: 11,
            ref_len: 11,
            correct: vec![9, 7, 5, 3],
            total: vec![10, 8, 6, 4],
        };
        let cfg = BleuConfig {
            smoothing: Smoothing::None,
            ..BleuConfig::default()
        };
        assert!((compute_bleu(&stats, &cfg).score / 100.0 - 0.8375922397).abs() < 1e-8);
    }

    // test/test_bleu.py: test_statistics — "am I am a character sequence" vs
    // "I am a symbol string sequence a a": counts [4,2,1,0], totals [6,5,4,3].
    // test_offset: floor smoothing 0.1 -> 0.1555722182, floor 0.0 -> 0.
    #[test]
    fn sacrebleu_statistics_and_floor() {
        let hyp = ["am I am a character sequence"];
        let refs = [["I am a symbol string sequence a a"]];
        let floor = |v| BleuConfig {
            smoothing: Smoothing::Floor(v),
            ..BleuConfig::default()
        };
        let s = corpus_bleu(&hyp, &refs, &floor(0.1)).expect("valid input");
        assert_eq!(s.counts, vec![4, 2, 1, 0]);
        assert_eq!(s.totals, vec![6, 5, 4, 3]);
        assert!((s.score / 100.0 - 0.1555722182).abs() < 1e-8);
        let s = corpus_bleu(&hyp, &refs, &floor(0.0)).expect("valid input");
        assert!(s.score.abs() < 1e-8);
    }

    // test/test_bleu.py: test_effective_order (raw_corpus_bleu uses floor
    // 0.01, effective order on, tokenize none).
    #[test]
    fn sacrebleu_effective_order() {
        let cfg = BleuConfig {
            smoothing: Smoothing::Floor(0.01),
            tokenizer: BleuTokenizer::Whitespace,
            effective_order: true,
            ..BleuConfig::default()
        };
        for (hyp, reference, expected) in [
            ("test", "a test", 0.3678794411714425),
            ("a test", "a test", 1.0),
            ("a little test", "a test", 0.03218297948685433),
        ] {
            let s = sentence_bleu(hyp, &[reference], &cfg).expect("valid input");
            assert!(
                (s.score / 100.0 - expected).abs() < 1e-8,
                "{hyp}: {}",
                s.score
            );
        }
        // test_raw_bleu
        let s = sentence_bleu("this is a fest", &["this is a test"], &cfg).expect("valid input");
        assert!((s.score / 100.0 - 0.223606797749979).abs() < 1e-8);
        let s = corpus_bleu(
            &["this is a test", "another test"],
            &[["ref1"], ["ref2"]],
            &cfg,
        )
        .expect("valid input");
        assert_eq!(s.score, 0.0);
    }

    // test/test_sentence_bleu.py: sentence BLEU with effective order for
    // SYS = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;"
    // REF = "producţia de zahăr brut se exprimă în zahăr alb;" (tolerance 1e-3).
    #[test]
    fn sacrebleu_sentence_bleu_smoothing_variants() {
        let sys = "Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;";
        let reference = ["producţia de zahăr brut se exprimă în zahăr alb;"];
        let cases = [
            (Smoothing::Exp, BleuTokenizer::Tok13a, 8.493),
            (Smoothing::None, BleuTokenizer::Tok13a, 0.0),
            (Smoothing::Floor(0.1), BleuTokenizer::Tok13a, 4.51688),
            (Smoothing::Floor(0.5), BleuTokenizer::Tok13a, 10.10),
            (Smoothing::AddK(1.0), BleuTokenizer::Tok13a, 14.882),
            (Smoothing::AddK(2.0), BleuTokenizer::Tok13a, 21.389),
            (Smoothing::Exp, BleuTokenizer::Whitespace, 7.347),
        ];
        for (smoothing, tokenizer, expected) in cases {
            let cfg = BleuConfig {
                smoothing,
                tokenizer,
                ..BleuConfig::sentence()
            };
            let s = sentence_bleu(sys, &reference, &cfg).expect("valid input");
            assert!(
                (s.score - expected).abs() < 1e-3,
                "{smoothing:?}/{tokenizer:?}: {}",
                s.score
            );
        }
        // Example from sacreBLEU issue #141: no match at all -> 0 whatever the
        // smoothing.
        for smoothing in [
            Smoothing::Exp,
            Smoothing::None,
            Smoothing::Floor(0.1),
            Smoothing::AddK(1.0),
        ] {
            let cfg = BleuConfig {
                smoothing,
                ..BleuConfig::sentence()
            };
            let s = sentence_bleu("this is a cat", &["okay thanks"], &cfg).expect("valid input");
            assert_eq!(s.score, 0.0);
        }
    }

    #[test]
    fn closest_ref_len_ties_prefer_shorter() {
        assert_eq!(closest_ref_len(5, &[4, 6]), 4);
        assert_eq!(closest_ref_len(5, &[6, 4]), 4);
        assert_eq!(closest_ref_len(5, &[7, 5, 3]), 5);
        assert_eq!(closest_ref_len(10, &[1, 2]), 2);
    }

    #[test]
    fn errors() {
        let cfg = BleuConfig::default();
        assert!(matches!(
            corpus_bleu(&["a"], &[["a"], ["b"]], &cfg),
            Err(MetricError::LengthMismatch { left: 1, right: 2 })
        ));
        let no_refs: [&str; 0] = [];
        assert!(sentence_bleu("a", &no_refs, &cfg).is_err());
        let bad = BleuConfig {
            max_ngram_order: 0,
            ..BleuConfig::default()
        };
        assert!(BleuScorer::new(bad).is_err());
    }

    #[test]
    fn stats_add_up_over_segments() {
        let refs = readme_refs();
        let mut scorer = BleuScorer::new(BleuConfig::default()).expect("valid config");
        let mut total = BleuStats::new(4);
        for (h, r) in README_SYS.iter().zip(&refs) {
            let seg = scorer.segment_stats(h, r).expect("valid input");
            total.add(&seg);
        }
        let direct = scorer
            .corpus_score(&README_SYS, &refs)
            .expect("valid input");
        assert_eq!(compute_bleu(&total, scorer.config()), direct);
        // Lowercasing can only add matches here.
        let lc = BleuConfig {
            lowercase: true,
            ..BleuConfig::default()
        };
        let s = corpus_bleu(&README_SYS, &refs, &lc).expect("valid input");
        assert!(s.score >= direct.score);
    }
}
