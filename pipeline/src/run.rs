//! `tunebench run CONFIG`: data → train (local and/or Bedrock) → eval → report (→ gate) into
//! the run folder ([`RunDir`]), with `run.json`: the config's hash, the tool version, each
//! stage's input and output hashes, status, time and cost; then, with `[report] cloudwatch`,
//! the run's metrics and gate verdict to CloudWatch ([`crate::cloudwatch`]), a regression
//! included.
//!
//! Reuse and resume: `data prepare` reuses its outputs when its config and inputs are
//! unchanged; training and eval are skipped when the fingerprint of their settings and of
//! every file and folder those settings name is the one recorded after they last finished.
//! A killed training resumes from its newest checkpoint; a killed eval resends nothing its
//! response cache already holds; a Bedrock job is re-attached through its `job.json`.
//!
//! With the model registry ([`crate::lifecycle`]): what the train stage made is registered,
//! `registry:` candidates are resolved when the eval starts, and after the gate (or the
//! report, without one) the versions evaluated get their results and verdicts, and
//! `promote_on_pass` promotes the version under test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tunebench_core::RunDir;
use tunebench_core::paths::under;
use tunebench_core::time::now_rfc3339;
use tunebench_core::write_atomic;
use tunebench_datasets::Prepared;
use tunebench_eval::evaluate::{EvalReport, EvalSettings};
use tunebench_eval::runner::RunProgress;
use tunebench_eval::suite::Suite;
use tunebench_reports::gate::GateReport;
use tunebench_reports::render::Written;

use crate::cloudwatch::{self, Published};
use crate::config::{ConfigError, Loaded, RUN_DIR, Scope};
use crate::error::{PipelineError, Result, io};
use crate::eval::EvalMode;
use crate::report::{check_run, gate_settings, report_settings, verdict, write_report};
use crate::{data, eval, lifecycle, train};

/// A pipeline stage.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// data prepare
    Data,
    /// train local / train bedrock
    Train,
    /// eval
    Eval,
    /// report (and history)
    Report,
    /// gate
    Gate,
}

impl Stage {
    fn name(self) -> &'static str {
        match self {
            Stage::Data => "data",
            Stage::Train => "train",
            Stage::Eval => "eval",
            Stage::Report => "report",
            Stage::Gate => "gate",
        }
    }
}

/// `run.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunManifest {
    /// The run id.
    pub run_id: String,
    /// The config file.
    pub config: String,
    /// sha256 of the config file's bytes.
    pub config_sha256: String,
    /// tunebench's version.
    pub tool_version: String,
    /// When the run (first) started.
    pub started: String,
    /// When the manifest was last written.
    pub updated: String,
    /// One record per stage that ran, in pipeline order.
    pub stages: Vec<StageRecord>,
}

impl RunManifest {
    /// The `run.json` of `run`; `None` when there is none (a folder `tunebench run` did not
    /// make, or has not started).
    ///
    /// # Errors
    /// [`PipelineError::Manifest`] when it does not parse; [`PipelineError::Io`] when it
    /// cannot be read.
    pub fn load(run: &RunDir) -> Result<Option<RunManifest>> {
        let path = run.manifest();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|source| PipelineError::Manifest { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(path)(e)),
        }
    }
}

/// One stage of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StageRecord {
    /// The stage.
    pub stage: Stage,
    /// `running`, `done`, `reused` or `failed`.
    pub status: String,
    /// Fingerprint of the stage's settings and inputs.
    pub input_sha256: String,
    /// Output file (relative to the run folder) → sha256.
    pub outputs: BTreeMap<String, String>,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Dollars the stage spent (eval calls, Bedrock estimate), where known.
    pub cost_usd: Option<f64>,
    /// When it last finished.
    pub finished: Option<String>,
}

/// What a stage made, for the user to see.
pub enum Finished<'a> {
    /// The prepared data set.
    Data(&'a Prepared),
    /// A local training's summary, and its output folder.
    Train(&'a tunebench_train::Summary, &'a Path),
    /// The eval's results.
    Eval(&'a EvalReport),
    /// The report's files.
    Report(&'a Written),
    /// The gate's verdict.
    Gate(&'a GateReport),
    /// Versions registered by the train stage.
    Registered(&'a [crate::registry::Registered]),
    /// The registry's record of the run: versions evaluated, promoted or kept.
    Recorded(&'a lifecycle::Recorded),
    /// The metrics sent to CloudWatch, or the payload of a dry run.
    CloudWatch(&'a Published),
}

/// How a run shows itself: progress bars per stage and what each stage made.
pub trait RunUi {
    /// A line about the run (the stages, a reused stage, where the report is).
    fn say(&self, line: &str);
    /// The data stage's progress.
    fn data_progress(&self) -> &dyn tunebench_datasets::Progress;
    /// Local training's progress.
    fn train_progress(&self) -> &dyn tunebench_train::Progress;
    /// The eval's progress.
    fn eval_progress(&self) -> &dyn RunProgress;
    /// A poll of a Bedrock job.
    fn bedrock_status(&self, job: &tunebench_aws::CustomizationJob);
    /// A stage finished.
    ///
    /// # Errors
    /// What was made cannot be shown (it does not serialise for `--json`).
    fn finished(&self, what: Finished<'_>) -> std::io::Result<()>;
}

/// Which stages to run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    /// Only this stage (forced, even when its inputs are unchanged).
    pub only: Option<Stage>,
    /// This stage and the later ones (forced).
    pub from: Option<Stage>,
}

impl Selection {
    fn selects(self, stage: Stage) -> bool {
        match (self.only, self.from) {
            (Some(only), _) => stage == only,
            (None, Some(from)) => stage >= from,
            (None, None) => true,
        }
    }

    fn forces(self, stage: Stage) -> bool {
        self.only == Some(stage) || self.from.is_some_and(|f| stage >= f)
    }
}

/// The stages `loaded` has, in pipeline order, after the checks that need no stage to
/// have run: the stages must write into the run folder, and every `[gate]` rule must name
/// a suite, candidate and metric of `[eval]`.
///
/// # Errors
/// [`ConfigError`] naming the config and what to change.
pub fn plan(loaded: &Loaded) -> Result<Vec<Stage>> {
    let stages = present_stages(loaded);
    if stages.is_empty() {
        return Err(ConfigError(format!(
            "{}: nothing to run\nhint: a run config has some of [data], [train.local], [train.bedrock], [eval], [gate]",
            loaded.path.display()
        ))
        .into());
    }
    check_layout(loaded)?;
    // Before any stage (and any paid call): a gate rule the eval can never satisfy, and
    // metrics CloudWatch would refuse.
    check_gate(loaded)?;
    lifecycle::check(loaded)?;
    check_cloudwatch(loaded)?;
    Ok(stages)
}

/// Runs the selected stages of `loaded` (its overrides applied), recording each in
/// `run.json`. `stop` is the Ctrl-C flag local training checkpoints on.
///
/// Candidates that answered nothing do not stop the run: the report (which marks them
/// failed) and the gate run, then the run fails with that error. When the report or the
/// gate ran, the run's metrics go to `[report] cloudwatch` (if set; `metrics` says whether
/// to send them or show the payload), a regression's verdict too.
///
/// # Errors
/// The first stage that fails; [`PipelineError::Regression`] when the gate finds one (also
/// when the metrics could not be sent: the error is said, the regression wins); the
/// CloudWatch error.
pub fn run(
    loaded: &Loaded,
    selection: Selection,
    metrics: cloudwatch::Mode,
    stop: &AtomicBool,
    ui: &dyn RunUi,
) -> Result<()> {
    let stages = plan(loaded)?;
    cloudwatch::check_mode(loaded, metrics)?;
    let run = &loaded.run;
    std::fs::create_dir_all(run.root()).map_err(io(run.root()))?;
    let manifest_path = run.manifest();
    let mut manifest = RunManifest::load(run)?.unwrap_or_else(|| RunManifest {
        run_id: loaded.run_id.clone(),
        started: now_rfc3339(),
        ..RunManifest::default()
    });
    manifest.config = loaded.path.display().to_string();
    manifest.config_sha256 = sha256_file(&loaded.path)?;
    manifest.tool_version = env!("CARGO_PKG_VERSION").to_owned();

    let names: Vec<&str> = stages.iter().map(|s| s.name()).collect();
    ui.say(&format!(
        "run {} → {} (stages: {})",
        loaded.run_id,
        run.root().display(),
        names.join(" → ")
    ));
    let mut failed_eval: Option<PipelineError> = None;
    let mut regression: Option<PipelineError> = None;
    let mut gate: Option<GateReport> = None;
    let mut reported = false;
    for &stage in stages.iter().filter(|s| selection.selects(**s)) {
        let forced = selection.forces(stage);
        let fingerprint = fingerprint(loaded, stage)?;
        let previous = manifest.stages.iter().find(|r| r.stage == stage).cloned();
        let reusable = !forced
            && matches!(stage, Stage::Train | Stage::Eval)
            && previous.as_ref().is_some_and(|p| {
                matches!(p.status.as_str(), "done" | "reused")
                    && p.input_sha256 == fingerprint
                    && p.outputs.keys().all(|o| run.root().join(o).exists())
            });
        if reusable {
            ui.say(&format!(
                "{}: inputs unchanged, reusing its outputs",
                stage.name()
            ));
            record(&mut manifest, stage, |r| r.status = "reused".into());
            save(&manifest_path, &mut manifest)?;
            continue;
        }
        ui.say(&format!("── {} ──", stage.name()));
        let changed = previous
            .as_ref()
            .is_some_and(|p| p.input_sha256 != fingerprint);
        record(&mut manifest, stage, |r| {
            r.status = "running".into();
            r.input_sha256 = fingerprint.clone();
        });
        save(&manifest_path, &mut manifest)?;
        let started = Instant::now();
        let outcome = run_stage(
            loaded,
            stage,
            forced || changed,
            forced,
            stop,
            ui,
            &mut gate,
        );
        let seconds = started.elapsed().as_secs_f64();
        let (status, cost) = match &outcome {
            Ok(cost) => ("done", *cost),
            Err(PipelineError::Regression(_)) => ("done", None),
            Err(_) => ("failed", None),
        };
        let outcome = match outcome {
            Err(e) if e.candidates_failed() => {
                ui.say(&format!(
                    "eval: {}\n(going on to the report; the run will exit 1)",
                    crate::redact::redact(&e.to_string())
                ));
                failed_eval = Some(e);
                Ok(None)
            }
            // The metrics still go out (their alarm is for this), then the run exits 3.
            Err(e @ PipelineError::Regression(_)) => {
                regression = Some(e);
                Ok(None)
            }
            other => other,
        };
        reported |= matches!(stage, Stage::Report | Stage::Gate);
        let outputs = output_hashes(run, stage)?;
        record(&mut manifest, stage, |r| {
            r.status = status.into();
            r.seconds = seconds;
            r.cost_usd = cost;
            r.outputs = outputs;
            r.finished = Some(now_rfc3339());
        });
        save(&manifest_path, &mut manifest)?;
        outcome?;
    }
    let report = run.report().join("report.html");
    if report.is_file() {
        ui.say(&format!(
            "done: report in {} (and report.md beside it)",
            report.display()
        ));
    }
    let published = if reported {
        publish(loaded, gate.as_ref(), metrics, ui)
    } else {
        Ok(())
    };
    if let Some(regression) = regression {
        if let Err(e) = published {
            ui.say(&crate::redact::redact(&format!("error: {e}")));
        }
        return Err(regression);
    }
    published?;
    failed_eval.map_or(Ok(()), Err)
}

/// Sends the run's metrics (its report's `summary.json`, and `gate`'s verdict) to
/// `[report] cloudwatch`, if the config has it.
fn publish(
    l: &Loaded,
    gate: Option<&GateReport>,
    mode: cloudwatch::Mode,
    ui: &dyn RunUi,
) -> Result<()> {
    let summary = l.run.report().join("summary.json");
    if let Some(published) =
        cloudwatch::publish_run(l, Scope::Run, l.run.root(), &summary, gate, mode)?
    {
        ui.finished(Finished::CloudWatch(&published))
            .map_err(PipelineError::Show)?;
    }
    Ok(())
}

/// Checks `[report] cloudwatch`: a namespace CloudWatch takes, and no suite metric named
/// like one of tunebench's metrics (found only after the whole eval otherwise).
fn check_cloudwatch(l: &Loaded) -> Result<()> {
    if cloudwatch::target(l, Scope::Run, l.run.root())?.is_none() || l.raw.eval.is_none() {
        return Ok(());
    }
    cloudwatch::check_metric_names(&suite_metrics(&eval::settings(l)?)?)
        .map_err(|e| e.context(l.path.display().to_string()))
}

/// Each suite of `eval` with its metric names, read without the suites' data (which an
/// earlier stage may still have to prepare).
fn suite_metrics(eval: &EvalSettings) -> Result<Vec<(String, Vec<String>)>> {
    Ok(eval
        .suites
        .iter()
        .map(|s| Suite::outline(s).map(|o| (o.name, o.metrics)))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Checks `[gate]` against `[eval]`: every rule's suite, candidate and metric must exist,
/// or the gate would fail only after the whole (paid) eval. Suites are read without their
/// data, which an earlier stage may still have to prepare.
fn check_gate(l: &Loaded) -> Result<()> {
    let (Some(gate), Some(_)) = (gate_settings(l), l.raw.eval.as_ref()) else {
        return Ok(());
    };
    let eval = eval::settings(l)?;
    let suites = suite_metrics(&eval)?;
    let candidates: Vec<String> = eval
        .candidates
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    tunebench_reports::gate::validate(&gate, &suites, &candidates)
        .map_err(|e| PipelineError::from(e).context(l.path.display().to_string()))
}

/// The stages the config has, in pipeline order.
fn present_stages(l: &Loaded) -> Vec<Stage> {
    let raw = &l.raw;
    let train = raw
        .train
        .as_ref()
        .is_some_and(|t| t.local.is_some() || t.bedrock.is_some());
    let mut stages = Vec::new();
    if raw.data.is_some() {
        stages.push(Stage::Data);
    }
    if train {
        stages.push(Stage::Train);
    }
    if raw.eval.is_some() {
        stages.push(Stage::Eval);
    }
    if raw.eval.is_some() || train {
        stages.push(Stage::Report);
    }
    if raw.gate.is_some() {
        stages.push(Stage::Gate);
    }
    stages
}

/// The report reads the run folder's `eval/` and `train/<job>/`: every stage must write there.
fn check_layout(l: &Loaded) -> Result<()> {
    let mut wrong = Vec::new();
    let run = &l.run;
    let mut expect = |what: &str, got: &Path, want: &Path| {
        if got != want {
            wrong.push(format!(
                "{what} = \"{}\" (expected \"{}\")",
                got.display(),
                want.display()
            ));
        }
    };
    if let Some(d) = l.raw.data.as_ref().and_then(|d| d.out_dir.as_deref()) {
        expect("[data] out_dir", &under(&l.base, d), &run.data());
    }
    if let Some(t) = l.raw.train.as_ref() {
        if let Some(local) = &t.local {
            expect(
                "[train.local] out_dir",
                &under(&l.base, &local.out_dir),
                &run.train_job(&local.name),
            );
        }
        if let Some(b) = &t.bedrock {
            expect(
                "[train.bedrock] out_dir",
                &under(&l.base, &b.out_dir),
                &run.train_job(&b.name),
            );
        }
    }
    if let Some(e) = &l.raw.eval {
        expect("[eval] out_dir", &under(&l.base, &e.out_dir), &run.eval());
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(ConfigError(format!(
        "{}: `tunebench run` keeps every stage in the run folder {}, but\n  {}\nhint: write out_dir = \"{RUN_DIR}/data\", \"{RUN_DIR}/train/<name>\" and \"{RUN_DIR}/eval\" (see configs/quickstart.toml)",
        l.path.display(),
        run.root().display(),
        wrong.join("\n  ")
    ))
    .into())
}

/// Runs one stage; returns the dollars it spent where known. `fresh`: the stage's inputs
/// changed (or it was forced), so local training starts over instead of resuming. The gate
/// stage leaves its report in `gate`.
#[allow(clippy::too_many_arguments)]
fn run_stage(
    l: &Loaded,
    stage: Stage,
    fresh: bool,
    forced: bool,
    stop: &AtomicBool,
    ui: &dyn RunUi,
    gate: &mut Option<GateReport>,
) -> Result<Option<f64>> {
    match stage {
        Stage::Data => {
            let job = data::DataJob::resolve(l, Scope::Run)?;
            let prepared = data::prepare(&job, forced, ui.data_progress())?;
            ui.finished(Finished::Data(&prepared))
                .map_err(PipelineError::Show)?;
            Ok(None)
        }
        Stage::Train => {
            let train = l.raw.train.as_ref();
            if train.is_some_and(|t| t.local.is_some()) {
                let settings = train::local_settings(l)?;
                if fresh {
                    train::start_over(&settings.out_dir)?;
                }
                let summary = train::local(&settings, true, stop, ui.train_progress())?;
                ui.finished(Finished::Train(&summary, &settings.out_dir))
                    .map_err(PipelineError::Show)?;
            }
            let cost = match train.and_then(|t| t.bedrock.clone()) {
                Some(b) => Some(train::bedrock_job(l, b, Scope::Run, ui)?),
                None => None,
            };
            let registered = lifecycle::register_trained(l)?;
            if !registered.is_empty() {
                ui.finished(Finished::Registered(&registered))
                    .map_err(PipelineError::Show)?;
            }
            Ok(cost)
        }
        Stage::Eval => {
            let settings = eval::settings(l)?;
            let report = eval::evaluate(
                l,
                &settings,
                EvalMode::default(),
                Scope::Run,
                ui.eval_progress(),
            )?;
            ui.finished(Finished::Eval(&report))
                .map_err(PipelineError::Show)?;
            report.check()?;
            let cost = match &report {
                EvalReport::Results(results) => results
                    .iter()
                    .flat_map(|r| r.comparison.candidates.iter().map(|c| c.cost_usd))
                    .sum(),
                EvalReport::DryRun(_) => 0.0,
            };
            Ok(Some(cost))
        }
        Stage::Report => {
            let written = write_report(l.run.root(), &[], &report_settings(l), &l.run.report())?;
            ui.finished(Finished::Report(&written))
                .map_err(PipelineError::Show)?;
            if l.raw.gate.is_none() {
                record_registry(l, None, ui)?;
            }
            Ok(None)
        }
        Stage::Gate => {
            let settings = gate_settings(l).unwrap_or_default();
            let report = check_run(l.run.root(), &settings, &l.run.gate_junit())?;
            ui.finished(Finished::Gate(&report))
                .map_err(PipelineError::Show)?;
            record_registry(l, Some(&report), ui)?;
            let outcome = verdict(&report).map(|()| None);
            *gate = Some(report);
            outcome
        }
    }
}

/// The registry's record of the run (after the gate, or the report when there is none).
fn record_registry(l: &Loaded, gate: Option<&GateReport>, ui: &dyn RunUi) -> Result<()> {
    if !lifecycle::used(l) {
        return Ok(());
    }
    let recorded = lifecycle::record_run_dir(l, l.run.root(), gate)?;
    ui.finished(Finished::Recorded(&recorded))
        .map_err(PipelineError::Show)
}

/// Fingerprint of a stage: its settings as written (overrides applied) plus the content of
/// every existing file or folder they name (folders: their top-level files), and, for
/// eval, the suites' data and the registry versions its `registry:` candidates mean now.
fn fingerprint(l: &Loaded, stage: Stage) -> Result<String> {
    let settings = match stage {
        Stage::Data => serde_json::to_value(&l.raw.data)?,
        Stage::Train => serde_json::to_value(&l.raw.train)?,
        Stage::Eval => serde_json::to_value(&l.raw.eval)?,
        Stage::Report => serde_json::to_value(&l.raw.report)?,
        Stage::Gate => serde_json::to_value(&l.raw.gate)?,
    };
    let mut h = Sha256::new();
    h.update(settings.to_string().as_bytes());
    let mut paths = Vec::new();
    collect_paths(&settings, &l.base, &mut paths);
    if stage == Stage::Eval {
        let (_, models) = lifecycle::resolve(l, eval::settings(l)?)?;
        h.update(serde_json::to_string(&models)?.as_bytes());
        let suites: Vec<PathBuf> = paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .cloned()
            .collect();
        // A suite that does not read is left to the eval, which names the problem.
        paths.extend(
            suites
                .iter()
                .filter_map(|s| Suite::outline(s).ok())
                .map(|o| o.data),
        );
    }
    paths.sort();
    paths.dedup();
    for p in paths {
        h.update(p.to_string_lossy().as_bytes());
        h.update([0]);
        if p.is_file() {
            h.update(sha256_file(&p)?.as_bytes());
        } else if p.is_dir() {
            for f in top_level_files(&p)? {
                h.update(f.to_string_lossy().as_bytes());
                h.update(sha256_file(&f)?.as_bytes());
            }
        }
        h.update(b"\n");
    }
    Ok(hex::encode(h.finalize()))
}

/// sha256 of a file, its error naming the file; a large file (a model's weights) is read
/// once and then known by its size and modification time
/// ([`tunebench_core::hash_cache`]).
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    tunebench_core::hash_cache::sha256_cached(path).map_err(io(path))
}

/// Every string in `v` that names an existing file or folder (relative to `base`), except
/// output folders (`out_dir`), whose content is the stage's result, not its input.
fn collect_paths(v: &serde_json::Value, base: &Path, out: &mut Vec<PathBuf>) {
    match v {
        serde_json::Value::String(s) if !s.is_empty() && !s.contains("://") => {
            let p = under(base, s);
            if p.exists() {
                out.push(p);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_paths(i, base, out)),
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k != "out_dir" && k != "cache" {
                    collect_paths(v, base, out);
                }
            }
        }
        _ => {}
    }
}

/// The stage's output files in the run folder (relative path → sha256); checkpoints, the
/// response cache and temporary files are left out.
fn output_hashes(run: &RunDir, stage: Stage) -> Result<BTreeMap<String, String>> {
    let root = match stage {
        Stage::Data => run.data(),
        Stage::Train => run.train(),
        Stage::Eval => run.eval(),
        Stage::Report | Stage::Gate => run.report(),
    };
    let mut out = BTreeMap::new();
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "checkpoints" || name.contains(".sqlite") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(run.root()) {
                out.insert(rel.to_string_lossy().into_owned(), sha256_file(&p)?);
            }
        }
    }
    Ok(out)
}

fn top_level_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn record(m: &mut RunManifest, stage: Stage, update: impl FnOnce(&mut StageRecord)) {
    if let Some(r) = m.stages.iter_mut().find(|r| r.stage == stage) {
        update(r);
    } else {
        let mut r = StageRecord {
            stage,
            status: String::new(),
            input_sha256: String::new(),
            outputs: BTreeMap::new(),
            seconds: 0.0,
            cost_usd: None,
            finished: None,
        };
        update(&mut r);
        m.stages.push(r);
        m.stages.sort_by_key(|r| r.stage);
    }
}

fn save(path: &Path, m: &mut RunManifest) -> Result<()> {
    m.updated = now_rfc3339();
    let mut text = serde_json::to_string_pretty(m)?;
    text.push('\n');
    write_atomic(path, text.as_bytes()).map_err(io(path))?;
    Ok(())
}
