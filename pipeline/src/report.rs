//! The report and gate stages: a run folder read, the report written and the run appended
//! to the history; the run checked against a baseline under `[gate]`, JUnit written.

use std::path::{Path, PathBuf};

use tunebench_core::paths::under;
use tunebench_core::time::now_rfc3339;
use tunebench_reports::exports::junit;
use tunebench_reports::gate::{self, GateReport, GateSettings};
use tunebench_reports::history::{GateOutcome, History};
use tunebench_reports::load::{RunResults, load_run};
use tunebench_reports::render::{self, ReportSettings, write_atomic};
use tunebench_reports::summary::{FormatError, RunSummary, summarize};

use crate::config::Loaded;
use crate::error::{PipelineError, Result, io};

/// Trends show this many runs unless `[report] history_runs` says otherwise.
const DEFAULT_HISTORY_RUNS: usize = 30;

/// The config's `[report]`, its paths taken from the config's folder.
pub fn report_settings(loaded: &Loaded) -> ReportSettings {
    let mut s = loaded.raw.report.clone().unwrap_or_default();
    s.history = s.history.map(|h| under(&loaded.base, h));
    s
}

/// The config's `[gate]`, its paths taken from the config's folder.
pub fn gate_settings(loaded: &Loaded) -> Option<GateSettings> {
    let mut s = loaded.raw.gate.clone()?;
    s.baseline = s.baseline.map(|b| under(&loaded.base, b));
    s.history = s.history.map(|h| under(&loaded.base, h));
    Some(s)
}

/// The gate's verdict as a result: [`PipelineError::Regression`] when a check failed.
///
/// # Errors
/// [`PipelineError::Regression`], with the number of failed checks.
pub fn verdict(report: &GateReport) -> Result<()> {
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(PipelineError::Regression(failed))
    }
}

/// Writes the report of the run in `dir` into `out`, appending it to the history (if any);
/// `earlier` run folders (oldest first) and the history's runs feed the trends.
///
/// # Errors
/// A run folder cannot be read, the history cannot be opened, a file cannot be written.
pub fn write_report(
    dir: &Path,
    earlier: &[PathBuf],
    settings: &ReportSettings,
    out: &Path,
) -> Result<render::Written> {
    let run = load_run(dir, None)?;
    let created = now_rfc3339();
    let mut trend: Vec<RunSummary> = Vec::new();
    for e in earlier {
        trend.push(summarize(&load_run(e, None)?, &created));
    }
    let mut history = settings.history.as_deref().map(History::open).transpose()?;
    if let Some(h) = &history {
        // The trend ends with this run, which `build` adds.
        let limit = settings.history_runs.unwrap_or(DEFAULT_HISTORY_RUNS);
        let stored = h.runs(Some(limit.saturating_sub(1)))?;
        trend.extend(stored.into_iter().map(|r| r.summary));
    }
    let report = render::build(&run, settings, &created, trend);
    if let Some(h) = &mut history {
        h.append(&report.summary, dir)?;
    }
    Ok(render::write(&report, out)?)
}

/// A report's `summary.json`.
///
/// # Errors
/// It cannot be read, or is not a summary (the error names the file and line).
pub fn read_summary(path: &Path) -> Result<RunSummary> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    RunSummary::from_json(&text).map_err(|e| {
        let hint = match e {
            FormatError::Json(_) => "\nhint: write it again with `tunebench report`",
            FormatError::Newer(_) => "",
        };
        tunebench_reports::ReportError::Input {
            path: path.to_path_buf(),
            line: e.line(),
            message: format!("{e}{hint}"),
        }
        .into()
    })
}

/// The summary of the run in `run_dir`: its report's `summary.json`, else (no report was
/// written for it) summarised from its results now.
///
/// # Errors
/// As [`read_summary`] and [`load_run`].
pub fn run_summary(run_dir: &Path) -> Result<RunSummary> {
    let written = tunebench_core::RunDir::new(run_dir)
        .report()
        .join("summary.json");
    if written.is_file() {
        return read_summary(&written);
    }
    Ok(summarize(&load_run(run_dir, None)?, &now_rfc3339()))
}

/// Checks the run in `run_dir` under `settings`, writes `junit_path`, and records the
/// verdict in the history (when there is one and it holds the run).
///
/// # Errors
/// A run folder (the run's or the baseline's) cannot be read, a rule names what the run
/// lacks, or a file cannot be written.
pub fn check_run(run_dir: &Path, settings: &GateSettings, junit_path: &Path) -> Result<GateReport> {
    let run = load_run(run_dir, None)?;
    let history = settings.history.as_deref().map(History::open).transpose()?;
    let baseline: Option<RunResults> = match (&settings.baseline, &history) {
        (Some(b), _) => Some(
            load_run(b, None)
                .map_err(|e| PipelineError::from(e).context("loading the gate's baseline"))?,
        ),
        (None, Some(h)) => h
            .last_passing(&run.run_id)?
            .map(|r| load_run(&r.dir, Some(&r.summary.run_id)))
            .transpose()?,
        (None, None) => None,
    };
    let report = gate::check(&run, baseline.as_ref(), settings)?;
    if let Some(parent) = junit_path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    write_atomic(junit_path, junit("gate", &report.cases()).as_bytes())?;
    if let Some(mut h) = history {
        let outcome = if report.passed {
            GateOutcome::Pass
        } else {
            GateOutcome::Regression
        };
        if !h.contains(&run.run_id)? {
            h.append(&summarize(&run, &now_rfc3339()), run_dir)?;
        }
        h.set_gate(&run.run_id, outcome)?;
    }
    Ok(report)
}
