//! One report: built from a run's results (plus earlier runs for trends), written as
//! `report.md`, `report.html`, `summary.json`, `results.csv` and `junit.xml`, each atomically.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ReportError, Result};
use crate::exports::{junit, report_cases, results_csv};
use crate::flips::{DEFAULT_PASS_THRESHOLD, Flips, flips, show};
use crate::labels::{SuiteLabels, label_stats};
use crate::load::{RunResults, TrainingCurve};
use crate::summary::{RunSummary, summarize};
use crate::{html, markdown};

/// `[report]` of a config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// Candidate the others are compared with (flips, differences); the first candidate of
    /// each suite when absent.
    pub baseline: Option<String>,
    /// History file (SQLite): the run is appended and trends are read from it.
    pub history: Option<PathBuf>,
    /// Trends show at most this many runs (default 30).
    pub history_runs: Option<usize>,
    /// Score at or above which an example passes, for flips (default 0.5).
    pub pass_threshold: Option<f64>,
    /// Show this many broken, fixed and still-failing examples per candidate with the start
    /// of their prompt, their reference and both answers (default 0: ids only). This copies data-set text into the report: leave it
    /// unset where the report may travel further than the data.
    pub examples: Option<usize>,
    /// Publish the run's metrics and gate verdict to Amazon CloudWatch after the report.
    pub cloudwatch: Option<CloudWatchSettings>,
}

/// `[report] cloudwatch`: where `tunebench run` and `tunebench report` send a run's metrics
/// (PutMetricData). Plain settings: this crate calls no AWS service; credentials and profile
/// come from the default chain and `[aws]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchSettings {
    /// Namespace of the metrics (default `tunebench`).
    pub namespace: Option<String>,
    /// Region, e.g. `us-east-1` (default: `[aws] region`, else the default chain's).
    pub region: Option<String>,
    /// Endpoint override, e.g. `http://127.0.0.1:5000` for a local server (default: the
    /// SDK's, which reads `AWS_ENDPOINT_URL_CLOUDWATCH`; `[aws] endpoint_url` is not used, as
    /// it usually names an S3-compatible store).
    pub endpoint_url: Option<String>,
}

/// At most this many example ids are listed per flip direction.
pub const MAX_LISTED: usize = 20;

/// Everything one report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// The run.
    pub summary: RunSummary,
    /// Per suite: the baseline candidate and each other candidate's flips against it.
    pub flips: Vec<SuiteFlips>,
    /// Per classification suite: each candidate's macro-F1 and most confused labels.
    pub labels: Vec<SuiteLabels>,
    /// Training curves of the run.
    pub training: Vec<TrainingCurve>,
    /// Runs for the trends, oldest first (this run last); empty (no trend section) unless
    /// there are at least two.
    pub trend: Vec<RunSummary>,
}

/// Flips on one suite.
#[derive(Debug, Clone)]
pub struct SuiteFlips {
    /// Suite name.
    pub suite: String,
    /// The baseline candidate.
    pub baseline: String,
    /// One per other candidate.
    pub flips: Vec<Flips>,
}

/// Builds the report of `run`, made at `created`; `trend` holds earlier runs (oldest first),
/// to which this run is appended (replacing a run of the same id).
pub fn build(
    run: &RunResults,
    settings: &ReportSettings,
    created: &str,
    mut trend: Vec<RunSummary>,
) -> Report {
    let summary = summarize(run, created);
    let threshold = settings.pass_threshold.unwrap_or(DEFAULT_PASS_THRESHOLD);
    let shown = settings.examples.unwrap_or(0);
    let flips = run
        .suites
        .iter()
        .filter_map(|s| {
            let base_name = settings
                .baseline
                .clone()
                .filter(|b| s.candidate(b).is_some())
                .or_else(|| s.candidates.first().map(|c| c.summary.candidate.clone()))?;
            let base = s.candidate(&base_name)?;
            Some(SuiteFlips {
                suite: s.comparison.suite.clone(),
                flips: s
                    .candidates
                    .iter()
                    .filter(|c| c.summary.candidate != base_name)
                    .map(|c| {
                        let mut f = flips(
                            &base_name,
                            &base.examples,
                            &c.summary.candidate,
                            &c.examples,
                            threshold,
                        );
                        show(&mut f, &base.examples, &c.examples, shown);
                        f
                    })
                    .collect(),
                baseline: base_name,
            })
        })
        .collect();
    trend.retain(|r| r.run_id != summary.run_id);
    trend.push(summary.clone());
    if trend.len() < 2 {
        trend.clear();
    }
    Report {
        summary,
        flips,
        labels: run.suites.iter().filter_map(label_stats).collect(),
        training: run.training.clone(),
        trend,
    }
}

/// The files [`write`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// `report.md`.
    pub markdown: PathBuf,
    /// `report.html`.
    pub html: PathBuf,
    /// `summary.json`.
    pub summary: PathBuf,
    /// `results.csv`.
    pub results: PathBuf,
    /// `junit.xml`.
    pub junit: PathBuf,
    /// What `report.md` holds, for printing without reading it back.
    #[serde(skip)]
    pub markdown_text: String,
}

/// Writes the report's files into `dir` (created if needed).
///
/// # Errors
/// [`ReportError::Io`] when a file cannot be written; [`ReportError::Chart`] when a chart
/// cannot be drawn.
pub fn write(report: &Report, dir: &Path) -> Result<Written> {
    std::fs::create_dir_all(dir).map_err(|e| ReportError::io(dir, e))?;
    let written = Written {
        markdown: dir.join("report.md"),
        html: dir.join("report.html"),
        summary: dir.join("summary.json"),
        results: dir.join("results.csv"),
        junit: dir.join("junit.xml"),
        markdown_text: markdown::render(report),
    };
    let mut json = serde_json::to_string_pretty(&report.summary)
        .map_err(|e| ReportError::io(&written.summary, e.into()))?;
    json.push('\n');
    write_atomic(&written.markdown, written.markdown_text.as_bytes())?;
    write_atomic(&written.html, html::render(report)?.as_bytes())?;
    write_atomic(&written.summary, json.as_bytes())?;
    write_atomic(&written.results, results_csv(&report.summary).as_bytes())?;
    write_atomic(
        &written.junit,
        junit("report", &report_cases(&report.summary)).as_bytes(),
    )?;
    Ok(written)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
///
/// # Errors
/// [`ReportError::Io`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    tunebench_core::write_atomic(path, bytes).map_err(|e| ReportError::io(path, e))
}
