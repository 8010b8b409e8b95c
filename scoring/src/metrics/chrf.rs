//! chrF and chrF++ compatible with sacreBLEU 2.x (`sacrebleu.metrics.CHRF`).
//!
//! Defaults match `CHRF()`: character n-grams up to order 6, no word n-grams,
//! `beta = 2`, whitespace removed before extracting character n-grams, mixed
//! case and sacreBLEU's "effective order" averaging (`eps_smoothing=False`):
//! precision and recall are averaged over the orders for which both the
//! hypothesis and the reference have n-grams, and the F-beta score is computed
//! from those averages. With several references per segment, the reference
//! giving the best segment-level score is used.
//!
//! Corpus chrF sums the per-segment n-gram statistics over the corpus and
//! computes the score once from the sums (not the mean of sentence scores).
//! Scores are on sacreBLEU's 0–100 scale.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::ngram::{CHAR_ROOT, NgramInterner, Vocab, WORD_ROOT, ensure_orders, fit};
use super::text::{is_py_punctuation, is_py_whitespace, split_py_whitespace};
use super::{MetricError, check_lengths};

/// Settings for chrF. [`Default`] is sacreBLEU's `CHRF()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChrfConfig {
    /// Maximum character n-gram order (default 6).
    pub char_order: usize,
    /// Maximum word n-gram order (default 0; 2 gives chrF++).
    pub word_order: usize,
    /// Weight of recall relative to precision (default 2).
    pub beta: f64,
    /// Lowercase both sides first (default `false`).
    pub lowercase: bool,
    /// Keep whitespace inside character n-grams (default `false`).
    pub whitespace: bool,
    /// Use chrF++.py / Moses / NLTK epsilon smoothing: average the per-order
    /// F-scores, counting every order (default `false`).
    pub eps_smoothing: bool,
}

impl Default for ChrfConfig {
    fn default() -> Self {
        Self {
            char_order: 6,
            word_order: 0,
            beta: 2.0,
            lowercase: false,
            whitespace: false,
            eps_smoothing: false,
        }
    }
}

impl ChrfConfig {
    fn order(&self) -> usize {
        self.char_order + self.word_order
    }

    fn validate(&self) -> Result<(), MetricError> {
        if self.order() == 0 {
            return Err(MetricError::InvalidArgument(
                "chrF needs char_order + word_order >= 1".into(),
            ));
        }
        if !self.beta.is_finite() || self.beta < 0.0 {
            return Err(MetricError::InvalidArgument(format!(
                "chrF beta must be finite and >= 0, got {}",
                self.beta
            )));
        }
        Ok(())
    }
}

/// Sufficient statistics of chrF: `[hypothesis n-grams, reference n-grams,
/// matches]` per order (character orders first, then word orders). They add
/// up over segments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChrfStats {
    /// Per-order `[hyp, ref, match]` counts.
    pub orders: Vec<[u64; 3]>,
}

impl ChrfStats {
    /// Zeroed statistics for `order` n-gram orders.
    pub fn new(order: usize) -> Self {
        Self {
            orders: vec![[0; 3]; order],
        }
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &ChrfStats) {
        if self.orders.len() < other.orders.len() {
            self.orders.resize(other.orders.len(), [0; 3]);
        }
        for (d, s) in self.orders.iter_mut().zip(&other.orders) {
            for (a, b) in d.iter_mut().zip(s) {
                *a += b;
            }
        }
    }
}

/// A chrF result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChrfScore {
    /// chrF on the 0–100 scale.
    pub score: f64,
    /// Character n-gram order used.
    pub char_order: usize,
    /// Word n-gram order used.
    pub word_order: usize,
    /// Beta used.
    pub beta: f64,
}

/// Computes the chrF score (0–100) from statistics, following sacreBLEU's
/// `CHRF._compute_f_score`.
pub fn compute_chrf(stats: &ChrfStats, config: &ChrfConfig) -> f64 {
    const EPS: f64 = 1e-16;
    let factor = config.beta * config.beta;
    let order = config.order();
    let mut score = 0.0;
    let mut effective_order = 0usize;
    let (mut avg_prec, mut avg_rec) = (0.0, 0.0);
    for i in 0..order {
        let [n_hyp, n_ref, n_match] = stats.orders.get(i).copied().unwrap_or([0; 3]);
        let prec = if n_hyp > 0 {
            n_match as f64 / n_hyp as f64
        } else {
            EPS
        };
        let rec = if n_ref > 0 {
            n_match as f64 / n_ref as f64
        } else {
            EPS
        };
        let denom = factor * prec + rec;
        score += if denom > 0.0 {
            (1.0 + factor) * prec * rec / denom
        } else {
            EPS
        };
        if n_hyp > 0 && n_ref > 0 {
            avg_prec += prec;
            avg_rec += rec;
            effective_order += 1;
        }
    }
    if config.eps_smoothing {
        return 100.0 * score / order as f64;
    }
    if effective_order == 0 {
        avg_prec = 0.0;
        avg_rec = 0.0;
    } else {
        avg_prec /= effective_order as f64;
        avg_rec /= effective_order as f64;
    }
    if avg_prec + avg_rec != 0.0 {
        let mut s = (1.0 + factor) * avg_prec * avg_rec;
        s /= (factor * avg_prec) + avg_rec;
        100.0 * s
    } else {
        0.0
    }
}

/// sacreBLEU's `CHRF._remove_punctuation`: split on whitespace and detach one
/// punctuation character from the end (or else the start) of each word longer
/// than one character.
fn chrf_words<'a>(sent: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    for w in split_py_whitespace(sent) {
        let mut chars = w.chars();
        let first = chars.next();
        let last = chars.next_back();
        match (first, last) {
            (Some(f), Some(l)) => {
                if is_py_punctuation(l) {
                    let cut = w.len() - l.len_utf8();
                    out.push(&w[..cut]);
                    out.push(&w[cut..]);
                } else if is_py_punctuation(f) {
                    let cut = f.len_utf8();
                    out.push(&w[..cut]);
                    out.push(&w[cut..]);
                } else {
                    out.push(w);
                }
            }
            _ => out.push(w),
        }
    }
}

/// Reusable chrF scorer holding scratch buffers.
pub struct ChrfScorer {
    config: ChrfConfig,
    vocab: Vocab,
    interner: NgramInterner,
    units: Vec<u32>,
    hyp_ngrams: Vec<Vec<u32>>,
    ref_ngrams: Vec<Vec<u32>>,
    hyp_counts: Vec<u32>,
    ref_counts: Vec<u32>,
}

impl ChrfScorer {
    /// Creates a scorer.
    ///
    /// # Errors
    /// [`MetricError::InvalidArgument`] when both orders are 0 or `beta` is
    /// negative or not finite.
    pub fn new(config: ChrfConfig) -> Result<Self, MetricError> {
        config.validate()?;
        Ok(Self {
            config,
            vocab: Vocab::default(),
            interner: NgramInterner::default(),
            units: Vec::new(),
            hyp_ngrams: Vec::new(),
            ref_ngrams: Vec::new(),
            hyp_counts: Vec::new(),
            ref_counts: Vec::new(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ChrfConfig {
        &self.config
    }

    /// Interns the character and word n-grams of `text` into the hypothesis
    /// or reference buffers (character orders first, then word orders).
    fn load(&mut self, text: &str, hyp: bool) {
        let cfg = &self.config;
        let text: Cow<'_, str> = if cfg.lowercase {
            Cow::Owned(text.to_lowercase())
        } else {
            Cow::Borrowed(text)
        };
        let out = if hyp {
            &mut self.hyp_ngrams
        } else {
            &mut self.ref_ngrams
        };
        ensure_orders(out, cfg.order());
        let (chars, words) = out.split_at_mut(cfg.char_order);
        self.units.clear();
        if cfg.whitespace {
            self.units.extend(text.chars().map(u32::from));
        } else {
            self.units.extend(
                text.chars()
                    .filter(|&c| !is_py_whitespace(c))
                    .map(u32::from),
            );
        }
        self.interner.ngrams_up_to(&self.units, CHAR_ROOT, chars);
        if cfg.word_order > 0 {
            let mut word_strs = Vec::new();
            chrf_words(&text, &mut word_strs);
            self.units.clear();
            let vocab = &mut self.vocab;
            self.units.extend(word_strs.iter().map(|w| vocab.id(w)));
            self.interner
                .ngrams_up_to(&self.units, WORD_ROOT, &mut words[..cfg.word_order]);
        }
        fit(&mut self.hyp_counts, &self.interner);
        fit(&mut self.ref_counts, &self.interner);
    }

    /// Statistics of one segment: the hypothesis against each reference, keeping
    /// the reference with the best chrF (the first one on ties).
    ///
    /// # Errors
    /// [`MetricError::InvalidArgument`] when `references` is empty.
    pub fn segment_stats<R: AsRef<str>>(
        &mut self,
        hypothesis: &str,
        references: &[R],
    ) -> Result<ChrfStats, MetricError> {
        if references.is_empty() {
            return Err(MetricError::InvalidArgument(
                "every chrF segment needs at least one reference".into(),
            ));
        }
        self.vocab.maybe_reset();
        self.interner.clear();
        self.hyp_counts.clear();
        self.ref_counts.clear();
        let order = self.config.order();

        self.load(hypothesis, true);
        for ids in &self.hyp_ngrams[..order] {
            for &id in ids {
                self.hyp_counts[id as usize] += 1;
            }
        }

        let mut best: Option<(f64, ChrfStats)> = None;
        for r in references {
            self.load(r.as_ref(), false);
            let mut stats = ChrfStats::new(order);
            for (k, ids) in self.ref_ngrams[..order].iter().enumerate() {
                for &id in ids {
                    self.ref_counts[id as usize] += 1;
                }
                let mut matches = 0u64;
                for &id in ids {
                    let rc = std::mem::take(&mut self.ref_counts[id as usize]);
                    if rc > 0 {
                        matches += u64::from(rc.min(self.hyp_counts[id as usize]));
                    }
                }
                let n_hyp = self.hyp_ngrams[k].len() as u64;
                let n_ref = ids.len() as u64;
                // sacreBLEU: hypothesis n-grams are not counted for an order
                // in which the reference has none.
                stats.orders[k] = [if n_ref > 0 { n_hyp } else { 0 }, n_ref, matches];
            }
            let f = compute_chrf(&stats, &self.config);
            if best.as_ref().is_none_or(|(bf, _)| f > *bf) {
                best = Some((f, stats));
            }
        }
        Ok(best
            .map(|(_, s)| s)
            .unwrap_or_else(|| ChrfStats::new(order)))
    }

    /// Sentence-level chrF.
    ///
    /// # Errors
    /// See [`ChrfScorer::segment_stats`].
    pub fn sentence_score<R: AsRef<str>>(
        &mut self,
        hypothesis: &str,
        references: &[R],
    ) -> Result<ChrfScore, MetricError> {
        let stats = self.segment_stats(hypothesis, references)?;
        Ok(self.score_from_stats(&stats))
    }

    /// Corpus-level chrF: statistics are summed over segments, then scored.
    ///
    /// # Errors
    /// [`MetricError::LengthMismatch`] when the slices differ in length, or see
    /// [`ChrfScorer::segment_stats`].
    pub fn corpus_score<H, RS, R>(
        &mut self,
        hypotheses: &[H],
        references: &[RS],
    ) -> Result<ChrfScore, MetricError>
    where
        H: AsRef<str>,
        RS: AsRef<[R]>,
        R: AsRef<str>,
    {
        check_lengths(hypotheses.len(), references.len())?;
        let mut total = ChrfStats::new(self.config.order());
        for (h, rs) in hypotheses.iter().zip(references) {
            let seg = self.segment_stats(h.as_ref(), rs.as_ref())?;
            total.add(&seg);
        }
        Ok(self.score_from_stats(&total))
    }

    /// Wraps [`compute_chrf`] into a [`ChrfScore`].
    pub fn score_from_stats(&self, stats: &ChrfStats) -> ChrfScore {
        ChrfScore {
            score: compute_chrf(stats, &self.config),
            char_order: self.config.char_order,
            word_order: self.config.word_order,
            beta: self.config.beta,
        }
    }
}

/// Sentence-level chrF with the given settings.
///
/// # Errors
/// See [`ChrfScorer::new`] and [`ChrfScorer::segment_stats`].
pub fn sentence_chrf<R: AsRef<str>>(
    hypothesis: &str,
    references: &[R],
    config: &ChrfConfig,
) -> Result<ChrfScore, MetricError> {
    ChrfScorer::new(config.clone())?.sentence_score(hypothesis, references)
}

/// Corpus-level chrF with the given settings; `references[i]` holds the
/// references of `hypotheses[i]`.
///
/// # Errors
/// See [`ChrfScorer::new`] and [`ChrfScorer::corpus_score`].
pub fn corpus_chrf<H, RS, R>(
    hypotheses: &[H],
    references: &[RS],
    config: &ChrfConfig,
) -> Result<ChrfScore, MetricError>
where
    H: AsRef<str>,
    RS: AsRef<[R]>,
    R: AsRef<str>,
{
    ChrfScorer::new(config.clone())?.corpus_score(hypotheses, references)
}

#[cfg(test)]
mod tests {
    use super::*;

    // sacreBLEU README ("Using the Python API"): CHRF().corpus_score(sys, refs)
    // prints "chrF2 = 59.73" for the README example (sacreBLEU >= 2.0).
    #[test]
    fn sacrebleu_readme_corpus_chrf() {
        let sys = [
            "The dog bit the man.",
            "It wasn't surprising.",
            "The man had just bitten him.",
        ];
        let refs = [
            ["The dog bit the man.", "The dog had bit the man."],
            ["It was not unexpected.", "No one was surprised."],
            ["The man bit him first.", "The man had bitten the dog."],
        ];
        let s = corpus_chrf(&sys, &refs, &ChrfConfig::default()).expect("valid input");
        assert_eq!(format!("{:.2}", s.score), "59.73", "score {}", s.score);
    }

    fn beta3(eps_smoothing: bool, whitespace: bool) -> ChrfConfig {
        ChrfConfig {
            beta: 3.0,
            eps_smoothing,
            whitespace,
            ..ChrfConfig::default()
        }
    }

    // sacreBLEU test/test_chrf.py: `test_cases` (corpus_chrf, char_order=6,
    // word_order=0, beta=3, eps_smoothing=True), tolerance 1e-4.
    #[test]
    fn sacrebleu_chrf_eps_smoothing_cases() {
        let cases: &[(&[&str], &[&str], f64)] = &[
            (&["abcdefg"], &["hijklmnop"], 0.0),
            (&["a"], &["b"], 0.0),
            (&[""], &["b"], 0.0),
            (&[""], &["ref"], 0.0),
            (&[""], &["reference"], 0.0),
            (&["aa"], &["ab"], 8.3333),
            (&["a", "b"], &["a", "c"], 8.3333),
            (&["a"], &["a"], 16.6667),
            (&["a b c"], &["a b c"], 50.0),
            (&["a b c"], &["abc"], 50.0),
            (
                &[
                    " risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
                ],
                &[
                    "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .",
                ],
                63.361730,
            ),
            (
                &[" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "],
                &["Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."],
                64.1302698,
            ),
            (
                &["Niemand hat die Absicht, eine Mauer zu errichten"],
                &["Niemand hat die Absicht, eine Mauer zu errichten"],
                100.0,
            ),
        ];
        for &(hyps, refs, expected) in cases {
            let refs: Vec<[&str; 1]> = refs.iter().map(|r| [*r]).collect();
            let s = corpus_chrf(hyps, &refs, &beta3(true, false)).expect("valid input");
            assert!(
                (s.score - expected).abs() < 1e-4,
                "{hyps:?}: {} vs {expected}",
                s.score
            );
        }
    }

    // test/test_chrf.py: `test_cases_effective_order` (beta=3,
    // eps_smoothing=False) and `test_cases_keep_whitespace` (beta=3,
    // whitespace kept).
    #[test]
    fn sacrebleu_chrf_effective_order_and_whitespace_cases() {
        let cases: &[(&[&str], &[&str], f64)] = &[
            (&["a"], &["a"], 100.0),
            (&[""], &["reference"], 0.0),
            (&["a b c"], &["a b c"], 100.0),
            (&["a b c"], &["abc"], 100.0),
            (&[""], &["c"], 0.0),
            (&["a", "b"], &["a", "c"], 50.0),
            (&["aa"], &["ab"], 25.0),
        ];
        for &(hyps, refs, expected) in cases {
            let refs: Vec<[&str; 1]> = refs.iter().map(|r| [*r]).collect();
            let s = corpus_chrf(hyps, &refs, &beta3(false, false)).expect("valid input");
            assert!(
                (s.score - expected).abs() < 1e-4,
                "{hyps:?}: {} vs {expected}",
                s.score
            );
        }
        let ws_cases = [
            (
                "Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich.",
                "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.",
                67.3481606,
            ),
            (
                "risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
                "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .",
                65.2414427,
            ),
        ];
        for (hyp, reference, expected) in ws_cases {
            let s = corpus_chrf(&[hyp], &[[reference]], &beta3(false, true)).expect("valid input");
            assert!(
                (s.score - expected).abs() < 1e-4,
                "{hyp}: {} vs {expected}",
                s.score
            );
        }
    }

    // test/test_chrf.py: `test_sentence_level_chrf` (sentence_chrf with
    // eps_smoothing=True, default beta=2), tolerance 1e-4.
    #[test]
    fn sacrebleu_sentence_chrf_cases() {
        let cfg = ChrfConfig {
            eps_smoothing: true,
            ..ChrfConfig::default()
        };
        let cases = [
            (
                "Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
                "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.",
                39.14078509,
            ),
            (
                "Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
                "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.",
                31.22557079,
            ),
            (
                "Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
                "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.",
                57.15704367,
            ),
        ];
        for (hyp, reference, expected) in cases {
            let s = sentence_chrf(hyp, &[reference], &cfg).expect("valid input");
            assert!(
                (s.score - expected).abs() < 1e-4,
                "{hyp}: {} vs {expected}",
                s.score
            );
        }
    }

    #[test]
    fn chrf_words_detach_punctuation() {
        let mut out = Vec::new();
        chrf_words("Hello, (world) ! x.", &mut out);
        assert_eq!(out, ["Hello", ",", "(world", ")", "!", "x", "."]);
        chrf_words("'quoted", &mut out);
        assert_eq!(out, ["'", "quoted"]);
    }

    #[test]
    fn chrf_plus_plus_runs_and_is_bounded() {
        let cfg = ChrfConfig {
            word_order: 2,
            ..ChrfConfig::default()
        };
        let same = sentence_chrf("The cat sat.", &["The cat sat."], &cfg).expect("valid input");
        assert!((same.score - 100.0).abs() < 1e-9);
        let diff = sentence_chrf("The cat sat.", &["A dog ran."], &cfg).expect("valid input");
        assert!(diff.score < 30.0);
    }

    #[test]
    fn multi_reference_picks_best() {
        let cfg = ChrfConfig::default();
        let one = sentence_chrf("the cat", &["the cat"], &cfg).expect("valid input");
        let two = sentence_chrf("the cat", &["a dog", "the cat"], &cfg).expect("valid input");
        assert_eq!(one.score, two.score);
        let no_refs: [&str; 0] = [];
        assert!(sentence_chrf("x", &no_refs, &cfg).is_err());
        assert!(corpus_chrf(&["a"], &[["a"], ["b"]], &cfg).is_err());
    }
}
