//! `summary.json`: the compact record of one run (each suite's comparison: every candidate's
//! score, metrics with intervals, tokens, cost, latency and the paired tests; and each
//! training job's losses). History stores it and the gate compares two of them.

use serde::{Deserialize, Serialize};
use tunebench_scoring::compare::{self as comparison, Comparison};

use crate::load::{RegistryModel, RunResults, TrainingCurve};

/// The format of `summary.json` and of the summaries the history stores. Format 1, before
/// it had a number, named each suite's version and example count `version` and `examples`
/// and kept no bootstrap settings; it reads as format 2 with those left out.
pub const FORMAT: u32 = 2;

/// One run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// [`FORMAT`].
    #[serde(default = "comparison::unnumbered")]
    pub format: u32,
    /// The run's id.
    pub run_id: String,
    /// When the report was made (UTC, RFC 3339).
    pub created: String,
    /// Per suite: the comparison `tunebench eval` wrote.
    pub suites: Vec<Comparison>,
    /// Per training job.
    pub training: Vec<TrainingSummary>,
    /// The registry versions its `registry:` candidates were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<RegistryModel>,
}

/// Why a summary could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Not a summary, or a broken one.
    #[error("not a report summary: {0}")]
    Json(#[from] serde_json::Error),
    /// Written by a newer tunebench.
    #[error(
        "summary format {0} is newer than this tunebench reads (up to {FORMAT})\nhint: upgrade tunebench, or write the summary again with `tunebench report`"
    )]
    Newer(u32),
}

impl FormatError {
    /// The line of the JSON error, if it is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            FormatError::Json(e) => Some(e.line()),
            FormatError::Newer(_) => None,
        }
    }
}

impl RunSummary {
    /// Reads a summary of any format up to [`FORMAT`], into today's.
    ///
    /// # Errors
    /// [`FormatError`].
    pub fn from_json(text: &str) -> Result<RunSummary, FormatError> {
        let format = comparison::format_of(text)?;
        if format > FORMAT {
            return Err(FormatError::Newer(format));
        }
        let mut summary: RunSummary = serde_json::from_str(text)?;
        summary.format = FORMAT;
        for s in &mut summary.suites {
            s.format = comparison::FORMAT;
        }
        Ok(summary)
    }

    /// The comparison of `suite`.
    pub fn suite(&self, suite: &str) -> Option<&Comparison> {
        self.suites.iter().find(|s| s.suite == suite)
    }
}

/// One training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Job name.
    pub name: String,
    /// Last step logged.
    pub steps: u64,
    /// Training loss at the last step.
    pub final_train_loss: Option<f64>,
    /// Lowest validation loss.
    pub best_val_loss: Option<f64>,
    /// Mean reward at the last step that reported one (reinforcement fine-tuning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_train_reward: Option<f64>,
    /// Highest mean validation reward (reinforcement fine-tuning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_val_reward: Option<f64>,
}

/// Summarises `run`; `created` is the report's time (see [`tunebench_core::time::utc_rfc3339`]).
pub fn summarize(run: &RunResults, created: &str) -> RunSummary {
    RunSummary {
        format: FORMAT,
        run_id: run.run_id.clone(),
        created: created.to_owned(),
        suites: run.suites.iter().map(|s| s.comparison.clone()).collect(),
        training: run.training.iter().map(training_summary).collect(),
        models: run.models.clone(),
    }
}

fn training_summary(curve: &TrainingCurve) -> TrainingSummary {
    let last = curve.points.iter().rev().find(|p| p.train_loss.is_some());
    TrainingSummary {
        name: curve.name.clone(),
        steps: curve.points.last().map_or(0, |p| p.step),
        final_train_loss: last.and_then(|p| p.train_loss),
        best_val_loss: curve
            .points
            .iter()
            .filter_map(|p| p.val_loss)
            .min_by(f64::total_cmp),
        final_train_reward: curve.points.iter().rev().find_map(|p| p.train_reward),
        best_val_reward: curve
            .points
            .iter()
            .filter_map(|p| p.val_reward)
            .max_by(f64::total_cmp),
    }
}
