//! `tunebench report` and `tunebench gate`: read a run folder, write the report files and
//! append the run to the history; check a run against a baseline under the config's rules.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tunebench_core::paths::under;
use tunebench_core::time::now_rfc3339;
use tunebench_reports::exports::junit;
use tunebench_reports::gate::{self, GateReport, GateSettings};
use tunebench_reports::history::{GateOutcome, History};
use tunebench_reports::load::{RunResults, load_run};
use tunebench_reports::render::{self, ReportSettings, write_atomic};
use tunebench_reports::summary::{RunSummary, summarize};

use crate::cli::{GateArgs, Global, ReportArgs};
use crate::config::{self, ConfigError, Loaded};

/// The gate found a regression (exit code 3).
#[derive(Debug, thiserror::Error)]
#[error("regression: {0} of the gate's checks failed (see above)")]
pub struct Regression(pub usize);

/// Trends show this many runs unless `[report] history_runs` says otherwise.
const DEFAULT_HISTORY_RUNS: usize = 30;

/// The config's `[report]`, its paths taken from the config's folder.
pub fn report_settings_of(loaded: &Loaded) -> ReportSettings {
    let mut s = loaded.raw.report.clone().unwrap_or_default();
    s.history = s.history.map(|h| under(&loaded.base, h));
    s
}

/// The config's `[gate]`, its paths taken from the config's folder.
pub fn gate_settings_of(loaded: &Loaded) -> Option<GateSettings> {
    let mut s = loaded.raw.gate.clone()?;
    s.baseline = s.baseline.map(|b| under(&loaded.base, b));
    s.history = s.history.map(|h| under(&loaded.base, h));
    Some(s)
}

/// The gate's verdict as a result: [`Regression`] when a check failed.
pub fn verdict(report: &GateReport) -> anyhow::Result<()> {
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    if failed == 0 {
        Ok(())
    } else {
        Err(Regression(failed).into())
    }
}

/// Resolved report settings: the config's `[report]` with flags on top.
fn report_settings(args: &ReportArgs) -> anyhow::Result<(ReportSettings, Option<PathBuf>)> {
    let (mut settings, run_dir) = match &args.config {
        Some(path) => {
            let loaded = config::load_run(path)?;
            (report_settings_of(&loaded), Some(loaded.run_dir))
        }
        None => (ReportSettings::default(), None),
    };
    if let Some(h) = &args.history {
        settings.history = Some(std::path::absolute(h)?);
    }
    if let Some(b) = &args.baseline {
        settings.baseline = Some(b.clone());
    }
    Ok((settings, run_dir))
}

pub fn report(global: &Global, args: &ReportArgs) -> anyhow::Result<()> {
    let (settings, config_run) = report_settings(args)?;
    let runs: Vec<PathBuf> = if args.runs.is_empty() {
        vec![config_run.ok_or_else(|| {
            ConfigError("give a run folder (e.g. runs/quickstart) or --config".into())
        })?]
    } else {
        args.runs.clone()
    };
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }
    let (subject, earlier) = runs.split_last().context("no run given")?;
    let out = args.out.clone().unwrap_or_else(|| subject.join("report"));
    let written = write_report(subject, earlier, &settings, &out)?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&written)?);
    } else if !global.quiet {
        println!("{}", std::fs::read_to_string(&written.markdown)?);
        println!("report: {}", written.html.display());
    }
    Ok(())
}

/// Writes the report of the run in `dir` into `out`, appending it to the history (if any);
/// `earlier` run folders (oldest first) and the history's runs feed the trends.
pub fn write_report(
    dir: &Path,
    earlier: &[PathBuf],
    settings: &ReportSettings,
    out: &Path,
) -> anyhow::Result<render::Written> {
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

pub fn gate(global: &Global, args: &GateArgs) -> anyhow::Result<()> {
    let loaded = config::load_run(&args.config)?;
    let mut settings: GateSettings = gate_settings_of(&loaded).ok_or_else(|| {
        ConfigError(format!(
            "{}: no [gate] section\nhint: add [[gate.rules]] entries (metric, min, max_drop)",
            args.config.display()
        ))
    })?;
    if let Some(b) = &args.baseline {
        settings.baseline = Some(std::path::absolute(b)?);
    }
    if let Some(h) = &args.history {
        settings.history = Some(std::path::absolute(h)?);
    }
    let run_dir = match &args.run {
        Some(r) => std::path::absolute(r)?,
        None => loaded.run_dir.clone(),
    };
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }
    let junit_path = args
        .junit
        .clone()
        .unwrap_or_else(|| run_dir.join("report").join("gate-junit.xml"));
    let report = check_run(&run_dir, &settings, &junit_path)?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !global.quiet || !report.passed {
        print!("{}", report.explain());
    }
    verdict(&report)
}

/// Checks the run in `run_dir` under `settings`, writes `junit_path`, and records the
/// verdict in the history (when there is one and it holds the run).
pub fn check_run(
    run_dir: &Path,
    settings: &GateSettings,
    junit_path: &Path,
) -> anyhow::Result<GateReport> {
    let run = load_run(run_dir, None)?;
    let history = settings.history.as_deref().map(History::open).transpose()?;
    let baseline: Option<RunResults> = match (&settings.baseline, &history) {
        (Some(b), _) => Some(load_run(b, None).with_context(|| "loading the gate's baseline")?),
        (None, Some(h)) => h
            .last_passing(&run.run_id)?
            .map(|r| load_run(&r.dir, Some(&r.summary.run_id)))
            .transpose()?,
        (None, None) => None,
    };
    let report = gate::check(&run, baseline.as_ref(), settings)?;
    if let Some(parent) = junit_path.parent() {
        std::fs::create_dir_all(parent)?;
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
