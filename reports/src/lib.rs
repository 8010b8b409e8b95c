//! Reports of evaluation runs, their history, and the regression gate.
//!
//! - [`load`]: one run's results as `tunebench eval` and `tunebench train` wrote them.
//! - [`summary`]: `summary.json`, the compact record of a run that history and the gate read.
//! - [`flips`]: examples whose pass/fail outcome differs between two candidates or runs.
//! - [`labels`]: macro-F1 and the most confused label pairs of classification suites.
//! - [`markdown`]: `report.md` (fits a PR comment).
//! - [`charts`]: SVG charts drawn with plotters.
//! - [`html`]: `report.html`, one self-contained file with the charts inline.
//! - [`sections`]: the report's tables (rendered by [`table`], scoring's renderer).
//! - [`exports`]: `results.csv` and `junit.xml`.
//! - [`history`]: run summaries in SQLite, for trends across nightly runs.
//! - [`gate`]: per-metric rules against a baseline run; pass or regression.
//! - [`render`]: every report file of a run, written atomically.

#![warn(missing_docs)]

pub mod charts;
pub mod error;
pub mod exports;
pub mod flips;
pub mod gate;
pub mod history;
pub mod html;
pub mod labels;
pub mod load;
pub mod markdown;
pub mod render;
pub mod sections;
pub mod summary;
pub use tunebench_scoring::table;

pub use error::{ReportError, Result};
