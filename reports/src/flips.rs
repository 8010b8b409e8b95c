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
    };
    for e in candidate {
        let Some(&was) = base.get(e.id.as_str()) else {
            continue;
        };
        out.compared += 1;
        match (was, passes(e, threshold)) {
            (false, true) => out.fixed.push(e.id.clone()),
            (true, false) => out.broken.push(e.id.clone()),
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
    }
}
