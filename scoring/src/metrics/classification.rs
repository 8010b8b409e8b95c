//! Classification metrics with scikit-learn semantics.
//!
//! Labels can be any ordered type (`&str`, `String`, integers, ...). As in
//! scikit-learn, the label set is the sorted union of the labels that occur in
//! `y_true` or `y_pred`; every metric that divides by zero yields `0`
//! (`zero_division=0`). Per-label F1 is computed as
//! `2·tp / (2·tp + fp + fn)`, scikit-learn's formula since 1.3, which equals
//! the harmonic mean of precision and recall whenever both are defined.
//! Macro averages are unweighted means over the label set, weighted averages
//! weight by support, and micro F1 pools all counts (it equals accuracy for
//! single-label multi-class data).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Errors of the classification metrics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassificationError {
    /// `y_true` and `y_pred` have different lengths.
    #[error("y_true has {y_true} labels but y_pred has {y_pred}")]
    LengthMismatch {
        /// Length of `y_true`.
        y_true: usize,
        /// Length of `y_pred`.
        y_pred: usize,
    },
    /// No samples were given.
    #[error("no samples")]
    Empty,
}

fn check<L>(y_true: &[L], y_pred: &[L]) -> Result<(), ClassificationError> {
    if y_true.len() != y_pred.len() {
        return Err(ClassificationError::LengthMismatch {
            y_true: y_true.len(),
            y_pred: y_pred.len(),
        });
    }
    if y_true.is_empty() {
        return Err(ClassificationError::Empty);
    }
    Ok(())
}

/// Fraction of samples whose predicted label equals the true label.
///
/// # Errors
/// [`ClassificationError`] for different lengths or empty input.
pub fn accuracy<L: PartialEq>(y_true: &[L], y_pred: &[L]) -> Result<f64, ClassificationError> {
    check(y_true, y_pred)?;
    let correct = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    Ok(correct as f64 / y_true.len() as f64)
}

/// Confusion matrix: `counts[i][j]` is the number of samples whose true label
/// is `labels[i]` and whose predicted label is `labels[j]` (scikit-learn's
/// orientation). `labels` is sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix<L> {
    /// Sorted union of true and predicted labels.
    pub labels: Vec<L>,
    /// Row = true label, column = predicted label.
    pub counts: Vec<Vec<u64>>,
}

impl<L: Ord> ConfusionMatrix<L> {
    /// Count for a (true, predicted) pair; `0` for unknown labels.
    pub fn get(&self, true_label: &L, predicted: &L) -> u64 {
        match (
            self.labels.binary_search(true_label),
            self.labels.binary_search(predicted),
        ) {
            (Ok(i), Ok(j)) => self.counts[i][j],
            _ => 0,
        }
    }
}

/// Builds the confusion matrix of `y_true` vs `y_pred`.
///
/// # Errors
/// [`ClassificationError`] for different lengths or empty input.
pub fn confusion_matrix<L: Ord + Clone>(
    y_true: &[L],
    y_pred: &[L],
) -> Result<ConfusionMatrix<L>, ClassificationError> {
    check(y_true, y_pred)?;
    let mut index: BTreeMap<&L, usize> = y_true.iter().chain(y_pred).map(|l| (l, 0)).collect();
    for (i, v) in index.values_mut().enumerate() {
        *v = i;
    }
    let n = index.len();
    let mut counts = vec![vec![0u64; n]; n];
    for (t, p) in y_true.iter().zip(y_pred) {
        counts[index[t]][index[p]] += 1;
    }
    Ok(ConfusionMatrix {
        labels: index.keys().map(|l| (*l).clone()).collect(),
        counts,
    })
}

/// Precision, recall, F1 and support of one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelScores<L> {
    /// The label.
    pub label: L,
    /// `tp / (tp + fp)`, `0` when the label is never predicted.
    pub precision: f64,
    /// `tp / (tp + fn)`, `0` when the label never occurs in `y_true`.
    pub recall: f64,
    /// `2·tp / (2·tp + fp + fn)`.
    pub f1: f64,
    /// Number of samples whose true label is this label.
    pub support: u64,
    /// Number of samples predicted as this label.
    pub predicted: u64,
    /// Number of correct predictions of this label.
    pub true_positives: u64,
}

/// All classification metrics at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationReport<L> {
    /// Per-label scores, in sorted label order.
    pub per_label: Vec<LabelScores<L>>,
    /// Fraction of correct predictions.
    pub accuracy: f64,
    /// Unweighted mean of per-label precision.
    pub macro_precision: f64,
    /// Unweighted mean of per-label recall.
    pub macro_recall: f64,
    /// Unweighted mean of per-label F1 (`f1_score(average='macro')`).
    pub macro_f1: f64,
    /// Support-weighted mean of per-label F1 (`average='weighted'`).
    pub weighted_f1: f64,
    /// F1 of pooled counts (`average='micro'`).
    pub micro_f1: f64,
    /// Number of samples.
    pub n_samples: u64,
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Computes the [`ClassificationReport`] of `y_true` vs `y_pred`.
///
/// # Errors
/// [`ClassificationError`] for different lengths or empty input.
pub fn classification_report<L: Ord + Clone>(
    y_true: &[L],
    y_pred: &[L],
) -> Result<ClassificationReport<L>, ClassificationError> {
    let cm = confusion_matrix(y_true, y_pred)?;
    let n = cm.labels.len();
    let mut per_label = Vec::with_capacity(n);
    let mut total_tp = 0u64;
    for (i, label) in cm.labels.iter().enumerate() {
        let tp = cm.counts[i][i];
        let support: u64 = cm.counts[i].iter().sum();
        let predicted: u64 = cm.counts.iter().map(|row| row[i]).sum();
        total_tp += tp;
        per_label.push(LabelScores {
            label: label.clone(),
            precision: ratio(tp, predicted),
            recall: ratio(tp, support),
            f1: ratio(2 * tp, support + predicted),
            support,
            predicted,
            true_positives: tp,
        });
    }
    let n_samples = y_true.len() as u64;
    let mean = |f: fn(&LabelScores<L>) -> f64| per_label.iter().map(f).sum::<f64>() / n as f64;
    let macro_precision = mean(|s| s.precision);
    let macro_recall = mean(|s| s.recall);
    let macro_f1 = mean(|s| s.f1);
    let weighted_f1 = per_label
        .iter()
        .map(|s| s.f1 * s.support as f64)
        .sum::<f64>()
        / n_samples as f64;
    let accuracy = ratio(total_tp, n_samples);
    // Single-label data: pooled fp = pooled fn = n - tp, so micro P = R = F1.
    let micro_f1 = ratio(2 * total_tp, 2 * n_samples);
    Ok(ClassificationReport {
        per_label,
        accuracy,
        macro_precision,
        macro_recall,
        macro_f1,
        weighted_f1,
        micro_f1,
        n_samples,
    })
}

/// Macro-averaged F1 over the union of true and predicted labels
/// (`sklearn.metrics.f1_score(y_true, y_pred, average='macro')`).
///
/// # Errors
/// [`ClassificationError`] for different lengths or empty input.
pub fn macro_f1<L: Ord + Clone>(y_true: &[L], y_pred: &[L]) -> Result<f64, ClassificationError> {
    Ok(classification_report(y_true, y_pred)?.macro_f1)
}

#[cfg(test)]
mod tests {
    use super::*;

    // scikit-learn documentation of sklearn.metrics.f1_score, "Examples":
    //   y_true = [0, 1, 2, 0, 1, 2]; y_pred = [0, 2, 1, 0, 0, 1]
    //   f1_score(y_true, y_pred, average='macro')    -> 0.26666666666666666 (0.267)
    //   f1_score(y_true, y_pred, average='micro')    -> 0.3333333333333333  (0.33)
    //   f1_score(y_true, y_pred, average='weighted') -> 0.26666666666666666 (0.267)
    //   f1_score(y_true, y_pred, average=None)       -> array([0.8, 0. , 0. ])
    const Y_TRUE: [i32; 6] = [0, 1, 2, 0, 1, 2];
    const Y_PRED: [i32; 6] = [0, 2, 1, 0, 0, 1];

    #[test]
    fn sklearn_f1_score_doc_example() {
        let r = classification_report(&Y_TRUE, &Y_PRED).expect("valid input");
        assert_eq!(r.macro_f1, 0.26666666666666666);
        assert_eq!(r.weighted_f1, 0.26666666666666666);
        assert!((r.micro_f1 - 1.0 / 3.0).abs() < 1e-15);
        let f1: Vec<f64> = r.per_label.iter().map(|s| s.f1).collect();
        assert_eq!(f1, vec![0.8, 0.0, 0.0]);
        assert_eq!(
            macro_f1(&Y_TRUE, &Y_PRED).expect("valid input"),
            0.26666666666666666
        );
        // accuracy_score for the same data: 2 of 6 correct.
        assert_eq!(accuracy(&Y_TRUE, &Y_PRED).expect("valid input"), 1.0 / 3.0);
        assert_eq!(r.accuracy, 1.0 / 3.0);
        // precision_score(average=None) -> [0.66666667, 0., 0.],
        // recall_score(average=None) -> [1., 0., 0.]
        assert!((r.per_label[0].precision - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(r.per_label[0].recall, 1.0);
        assert_eq!(r.per_label[0].support, 2);
    }

    // sklearn.metrics.confusion_matrix documentation example:
    //   y_true = [2, 0, 2, 2, 0, 1]; y_pred = [0, 0, 2, 2, 0, 2]
    //   -> [[2, 0, 0], [0, 0, 1], [1, 0, 2]]
    #[test]
    fn sklearn_confusion_matrix_doc_example() {
        let cm = confusion_matrix(&[2, 0, 2, 2, 0, 1], &[0, 0, 2, 2, 0, 2]).expect("valid input");
        assert_eq!(cm.labels, vec![0, 1, 2]);
        assert_eq!(cm.counts, vec![vec![2, 0, 0], vec![0, 0, 1], vec![1, 0, 2]]);
        assert_eq!(cm.get(&2, &0), 1);
        assert_eq!(cm.get(&7, &0), 0);
        // The string-label variant of the same docs page:
        //   ["cat", "ant", "cat", "cat", "ant", "bird"] vs
        //   ["ant", "ant", "cat", "cat", "ant", "cat"], labels=["ant", "bird", "cat"]
        //   -> [[2, 0, 0], [0, 0, 1], [1, 0, 2]]
        let t = ["cat", "ant", "cat", "cat", "ant", "bird"];
        let p = ["ant", "ant", "cat", "cat", "ant", "cat"];
        let cm = confusion_matrix(&t, &p).expect("valid input");
        assert_eq!(cm.labels, vec!["ant", "bird", "cat"]);
        assert_eq!(cm.counts, vec![vec![2, 0, 0], vec![0, 0, 1], vec![1, 0, 2]]);
    }

    #[test]
    fn labels_only_predicted_count_in_macro_average() {
        // "c" is predicted but never true: it is part of the label set with
        // precision 0, recall 0 (zero_division), F1 0.
        let y_true = ["a", "a", "b", "b"];
        let y_pred = ["a", "c", "b", "b"];
        let r = classification_report(&y_true, &y_pred).expect("valid input");
        let labels: Vec<&str> = r.per_label.iter().map(|s| s.label).collect();
        assert_eq!(labels, vec!["a", "b", "c"]);
        // a: tp=1, fp=0, fn=1 -> F1 = 2/3; b: 1.0; c: 0.0
        assert!((r.macro_f1 - (2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-15);
        assert_eq!(r.per_label[2].support, 0);
        assert_eq!(r.per_label[2].precision, 0.0);
    }

    #[test]
    fn perfect_and_errors() {
        let r = classification_report(&["x", "y"], &["x", "y"]).expect("valid input");
        assert_eq!((r.macro_f1, r.accuracy, r.micro_f1), (1.0, 1.0, 1.0));
        assert_eq!(
            accuracy(&[1, 2], &[1]),
            Err(ClassificationError::LengthMismatch {
                y_true: 2,
                y_pred: 1
            })
        );
        let empty: [u8; 0] = [];
        assert_eq!(macro_f1(&empty, &empty), Err(ClassificationError::Empty));
    }
}
