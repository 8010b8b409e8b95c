//! `tunebench report` and `tunebench gate`: flags over the config's `[report]` / `[gate]`,
//! then the library's report (and its CloudWatch metrics) or gate, and what it found.

use std::path::PathBuf;

use anyhow::Context;
use tunebench_pipeline::cloudwatch::{Mode, publish_run};
use tunebench_pipeline::report::{
    check_run, gate_settings, report_settings, verdict, write_report,
};
use tunebench_pipeline::{ConfigError, Loaded, Scope};
use tunebench_reports::gate::GateSettings;
use tunebench_reports::render::ReportSettings;

use crate::cli::{GateArgs, Global, ReportArgs};

/// Resolved report settings: the config's `[report]` with flags on top, and the config.
fn settings(
    global: &Global,
    args: &ReportArgs,
) -> anyhow::Result<(ReportSettings, Option<Loaded>)> {
    let (mut settings, loaded) = match &args.config {
        Some(path) => {
            let loaded = crate::load(global, path)?;
            (report_settings(&loaded), Some(loaded))
        }
        None => (ReportSettings::default(), None),
    };
    if let Some(h) = &args.history {
        settings.history = Some(std::path::absolute(h)?);
    }
    if let Some(b) = &args.baseline {
        settings.baseline = Some(b.clone());
    }
    Ok((settings, loaded))
}

pub fn report(global: &Global, args: &ReportArgs) -> anyhow::Result<()> {
    let (settings, loaded) = settings(global, args)?;
    if args.cloudwatch_dry_run && loaded.is_none() {
        return Err(ConfigError(
            "--cloudwatch-dry-run needs --config, whose [report] cloudwatch says where the metrics go"
                .into(),
        )
        .into());
    }
    let runs: Vec<PathBuf> = if args.runs.is_empty() {
        vec![
            loaded
                .as_ref()
                .map(|l| l.run.root().to_path_buf())
                .ok_or_else(|| {
                    ConfigError("give a run folder (e.g. runs/quickstart) or --config".into())
                })?,
        ]
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
    } else {
        crate::print::report(global, &written);
        if !global.quiet {
            println!("report: {}", written.html.display());
        }
    }
    if let Some(loaded) = &loaded {
        let mode = Mode::dry_run_if(args.cloudwatch_dry_run);
        let published = publish_run(
            loaded,
            Scope::Command,
            subject,
            &written.summary,
            None,
            mode,
        )?;
        if let Some(p) = published {
            crate::print::published(global, &p)?;
        }
    }
    Ok(())
}

pub fn gate(global: &Global, args: &GateArgs) -> anyhow::Result<()> {
    let loaded = crate::load(global, &args.config)?;
    let mut settings: GateSettings = gate_settings(&loaded).ok_or_else(|| {
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
    let run = match &args.run {
        Some(r) => tunebench_core::RunDir::new(std::path::absolute(r)?),
        None => loaded.run.clone(),
    };
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }
    let junit_path = args.junit.clone().unwrap_or_else(|| run.gate_junit());
    let report = check_run(run.root(), &settings, &junit_path)?;
    if global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        crate::print::gate(global, &report);
    }
    let recorded =
        tunebench_pipeline::lifecycle::record_run_dir(&loaded, run.root(), Some(&report))?;
    if !global.json {
        crate::print::recorded(global, &recorded)?;
    }
    Ok(verdict(&report)?)
}
