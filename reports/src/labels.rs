//! Per-label statistics of classification suites, for the report: each candidate's macro-F1
//! and the label pairs it confuses most. They come from the classification report and
//! confusion matrix that scoring writes into `summary.json` for every `accuracy` metric
//! (scikit-learn's semantics; a failed call is its own predicted label), so a suite is a
//! classification suite when its author scored it with `accuracy`.

use serde::Serialize;
use tunebench_scoring::score::Classification;

use crate::load::SuiteResults;

/// Confused pairs shown per candidate.
pub const CONFUSED_SHOWN: usize = 5;

/// One candidate's per-label statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelStats {
    /// Candidate name.
    pub candidate: String,
    /// Unweighted mean of the per-label F1 (over the reference and predicted labels).
    pub macro_f1: f64,
    /// The most frequent (reference, answer, count) mistakes, most frequent first.
    pub confused: Vec<(String, String, u64)>,
}

/// A classification suite's per-label statistics, for one `accuracy` metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteLabels {
    /// Suite name.
    pub suite: String,
    /// The `accuracy` metric they come from.
    pub metric: String,
    /// Distinct reference labels.
    pub labels: usize,
    /// Per candidate, in the comparison's order (those without the report left out).
    pub candidates: Vec<LabelStats>,
}

/// The suite's per-label statistics from its first `accuracy` metric, or `None` when it has
/// none.
pub fn label_stats(suite: &SuiteResults) -> Option<SuiteLabels> {
    let metric = suite
        .candidates
        .iter()
        .find_map(|c| c.summary.classification.keys().next())?
        .clone();
    let mut labels = 0;
    let candidates = suite
        .candidates
        .iter()
        .filter_map(|c| {
            let cl = c.summary.classification.get(&metric)?;
            labels = labels.max(cl.report.per_label.iter().filter(|l| l.support > 0).count());
            Some(LabelStats {
                candidate: c.summary.candidate.clone(),
                macro_f1: cl.report.macro_f1,
                confused: most_confused(cl),
            })
        })
        .collect();
    Some(SuiteLabels {
        suite: suite.comparison.suite.clone(),
        metric,
        labels,
        candidates,
    })
}

/// The off-diagonal cells of the confusion matrix with the highest counts (ties by label).
fn most_confused(cl: &Classification) -> Vec<(String, String, u64)> {
    let m = &cl.confusion;
    let mut cells: Vec<(String, String, u64)> = m
        .counts
        .iter()
        .enumerate()
        .flat_map(|(i, row)| {
            row.iter()
                .enumerate()
                .filter(move |&(j, &n)| i != j && n > 0)
                .map(move |(j, &n)| (m.labels[i].clone(), m.labels[j].clone(), n))
        })
        .collect();
    cells.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    cells.truncate(CONFUSED_SHOWN);
    cells
}

#[cfg(test)]
mod tests {
    use tunebench_scoring::metrics::classification::{classification_report, confusion_matrix};

    use super::*;

    #[test]
    fn the_largest_off_diagonal_cells_first() {
        let truth = ["a", "a", "a", "b", "b", "c", "c"].map(String::from);
        let predicted = ["a", "b", "b", "b", "b", "zzz", "b"].map(String::from);
        let cl = Classification {
            report: classification_report(&truth, &predicted).unwrap_or_else(|e| panic!("{e}")),
            confusion: confusion_matrix(&truth, &predicted).unwrap_or_else(|e| panic!("{e}")),
        };
        assert_eq!(
            most_confused(&cl),
            vec![
                ("a".to_string(), "b".to_string(), 2),
                ("c".to_string(), "b".to_string(), 1),
                ("c".to_string(), "zzz".to_string(), 1),
            ]
        );
    }
}
