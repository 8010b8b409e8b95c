//! Examples whose outcome flipped between a baseline and a candidate (two candidates of one
//! run, or one candidate in two runs), joined by example id.
//!
//! An example passes when it has an answer and its aggregate score is at least the pass
//! threshold (0.5 by default: for pass/fail metrics such as accuracy or exact match, a
//! correct answer).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tunebench_scoring::score::ExampleScore;

/// Default score at or above which an example passes.
pub const DEFAULT_PASS_THRESHOLD: f64 = 0.5;

/// The flips from `baseline` to `candidate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flips {
    /// The baseline.
    pub baseline: String,
    /// The candidate.
    pub candidate: String,
    /// Examples scored by both.
    pub compared: usize,
    /// Ids the baseline fails and the candidate passes, in the candidate's order.
    pub fixed: Vec<String>,
    /// Ids the baseline passes and the candidate fails, in the candidate's order.
    pub broken: Vec<String>,
    /// Ids both fail, in the candidate's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub still_failing: Vec<String>,
    /// With `[report] examples = N`: the first N broken, N fixed and N still-failing examples
    /// with their reference and both answers (see [`show`]); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shown: Vec<Shown>,
}

/// What happened to a shown example between the baseline and the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The baseline passes it, the candidate fails it.
    Broken,
    /// The baseline fails it, the candidate passes it.
    Fixed,
    /// Both fail it.
    StillFailing,
}

impl Outcome {
    /// As the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Broken => "broken",
            Outcome::Fixed => "fixed",
            Outcome::StillFailing => "still failing",
        }
    }
}

/// An example as the report shows it: the start of its prompt, the reference and both
/// answers, each on one line and cut to [`SHOWN_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    /// Example id.
    pub id: String,
    /// Broken, fixed or still failing.
    pub outcome: Outcome,
    /// The start of the prompt.
    pub prompt: String,
    /// The (first) reference.
    pub reference: String,
    /// The baseline's extracted answer.
    pub baseline: String,
    /// The candidate's extracted answer.
    pub candidate: String,
}

/// Longest text of a [`Shown`] field.
pub const SHOWN_CHARS: usize = 80;

/// One line of at most [`SHOWN_CHARS`] characters (runs of whitespace collapsed, `…` where
/// cut).
fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}…", &flat[..at]),
        None => flat,
    }
}

/// The answer an example was scored on, or why there is none.
fn answer(e: &ExampleScore) -> String {
    match (&e.error, &e.extracted) {
        (Some(_), _) => "(failed call)".into(),
        (None, Some(a)) => one_line(a),
        (None, None) => "(nothing extracted)".into(),
    }
}

/// Fills `f.shown` with the first `n` broken, fixed and still-failing examples, from the
/// baseline's and the candidate's scores.
pub fn show(f: &mut Flips, baseline: &[ExampleScore], candidate: &[ExampleScore], n: usize) {
    let base: HashMap<&str, &ExampleScore> = baseline.iter().map(|e| (e.id.as_str(), e)).collect();
    let cand: HashMap<&str, &ExampleScore> = candidate.iter().map(|e| (e.id.as_str(), e)).collect();
    let ids = [
        (&f.broken, Outcome::Broken),
        (&f.fixed, Outcome::Fixed),
        (&f.still_failing, Outcome::StillFailing),
    ]
    .into_iter()
    .flat_map(|(ids, outcome)| ids.iter().take(n).map(move |id| (id, outcome)));
    let shown = ids
        .filter_map(|(id, outcome)| {
            let (b, c) = (base.get(id.as_str())?, cand.get(id.as_str())?);
            Some(Shown {
                id: id.clone(),
                outcome,
                prompt: one_line(&c.prompt),
                reference: c.reference.first().map(|r| one_line(r)).unwrap_or_default(),
                baseline: answer(b),
                candidate: answer(c),
            })
        })
        .collect();
    f.shown = shown;
}

/// Whether `e` passes at `threshold`.
pub fn passes(e: &ExampleScore, threshold: f64) -> bool {
    e.error.is_none() && e.score >= threshold
}

/// The examples of `candidate` whose pass/fail outcome differs from `baseline`'s.
pub fn flips(
    baseline_name: &str,
    baseline: &[ExampleScore],
    candidate_name: &str,
    candidate: &[ExampleScore],
    threshold: f64,
) -> Flips {
    let base: HashMap<&str, bool> = baseline
        .iter()
        .map(|e| (e.id.as_str(), passes(e, threshold)))
        .collect();
    let mut out = Flips {
        baseline: baseline_name.to_owned(),
        candidate: candidate_name.to_owned(),
        compared: 0,
        fixed: Vec::new(),
        broken: Vec::new(),
        still_failing: Vec::new(),
        shown: Vec::new(),
    };
    for e in candidate {
        let Some(&was) = base.get(e.id.as_str()) else {
            continue;
        };
        out.compared += 1;
        match (was, passes(e, threshold)) {
            (false, true) => out.fixed.push(e.id.clone()),
            (true, false) => out.broken.push(e.id.clone()),
            (false, false) => out.still_failing.push(e.id.clone()),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn ex(id: &str, score: f64, error: Option<&str>) -> ExampleScore {
        ExampleScore {
            id: id.into(),
            prompt: String::new(),
            extracted: None,
            reference: vec![],
            score,
            metrics: BTreeMap::new(),
            error: error.map(str::to_owned),
            corpus_stats: BTreeMap::new(),
            judge_errors: BTreeMap::new(),
        }
    }

    #[test]
    fn fixed_and_broken_by_id_errors_fail() {
        let base = [
            ex("a", 1.0, None),
            ex("b", 0.0, None),
            ex("c", 1.0, None),
            ex("only-base", 0.0, None),
        ];
        let cand = [
            ex("c", 1.0, Some("timeout")),
            ex("b", 0.7, None),
            ex("a", 1.0, None),
            ex("only-cand", 1.0, None),
        ];
        let f = flips("base", &base, "tuned", &cand, DEFAULT_PASS_THRESHOLD);
        assert_eq!(f.compared, 3);
        assert_eq!(f.fixed, vec!["b"]);
        assert_eq!(f.broken, vec!["c"]);
        assert!(f.still_failing.is_empty());
    }

    #[test]
    fn shown_examples_are_one_line_cut_short_broken_first() {
        let mut base = [ex("a", 1.0, None), ex("b", 0.0, None)];
        base[1].extracted = Some("wrong\n  answer".into());
        let mut cand = [ex("a", 0.0, Some("timeout")), ex("b", 1.0, None)];
        cand[1].extracted = Some("x".repeat(100));
        cand[1].reference = vec!["the   right\nanswer".into()];
        let mut f = flips("base", &base, "tuned", &cand, DEFAULT_PASS_THRESHOLD);
        show(&mut f, &base, &cand, 5);
        assert_eq!(f.shown.len(), 2);
        assert_eq!(
            (f.shown[0].id.as_str(), f.shown[0].outcome),
            ("a", Outcome::Broken)
        );
        assert_eq!(f.shown[0].candidate, "(failed call)");
        assert_eq!(f.shown[0].baseline, "(nothing extracted)");
        let b = &f.shown[1];
        assert_eq!(
            (b.reference.as_str(), b.baseline.as_str()),
            ("the right answer", "wrong answer")
        );
        assert_eq!(b.candidate, format!("{}…", "x".repeat(SHOWN_CHARS)));
        show(&mut f, &base, &cand, 0);
        assert!(f.shown.is_empty());
    }
}
