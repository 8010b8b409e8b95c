//! `tunebench run CONFIG`: data → train (local and/or Bedrock) → eval → report (→ gate) into
//! `runs/<run-id>/`, with `run.json`: the config's hash, the tool version, each stage's input
//! and output hashes, status, time and cost.
//!
//! Reuse and resume: `data prepare` reuses its outputs when its config and inputs are
//! unchanged; training and eval are skipped when the fingerprint of their settings and of
//! every file and folder those settings name is the one recorded after they last finished.
//! A killed training resumes from its newest checkpoint; a killed eval resends nothing its
//! response cache already holds; a Bedrock job is re-attached through its `job.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tunebench_aws::BedrockOptions;
use tunebench_core::paths::under;
use tunebench_core::time::now_rfc3339;
use tunebench_train::bedrock::{self, Clients, JobRef, WaitSettings};

use crate::cli::{EvalArgs, Global, PrepareArgs, RunArgs, Stage, TrainLocalArgs};
use crate::config::{self, ConfigError, Loaded, RUN_DIR};
use crate::report::{
    Regression, check_run, gate_settings_of, report_settings_of, verdict, write_report,
};
use crate::train_bedrock::aws_settings;

/// `runs/<id>/run.json`.
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

pub fn run(global: &Global, args: &RunArgs) -> anyhow::Result<()> {
    let loaded = config::load_run(&args.config)?;
    let stages = present_stages(&loaded);
    if stages.is_empty() {
        return Err(ConfigError(format!(
            "{}: nothing to run\nhint: a run config has some of [data], [train.local], [train.bedrock], [eval], [gate]",
            args.config.display()
        ))
        .into());
    }
    check_layout(&loaded, &args.config)?;
    // Before any stage (and any paid call): a gate rule the eval can never satisfy.
    check_gate(&loaded, &args.config)?;
    if global.show_settings {
        println!(
            "{}",
            serde_json::json!({ "run_id": loaded.run_id, "run_dir": loaded.run_dir, "stages": stages })
        );
        return Ok(());
    }
    let run_dir = &loaded.run_dir;
    std::fs::create_dir_all(run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    config::set_run_audit_log(run_dir.join(config::AUDIT_FILE));
    let manifest_path = run_dir.join("run.json");
    let mut manifest: RunManifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{}: not a run manifest", manifest_path.display()))?,
        Err(_) => RunManifest {
            run_id: loaded.run_id.clone(),
            started: now_rfc3339(),
            ..RunManifest::default()
        },
    };
    manifest.config = args.config.display().to_string();
    manifest.config_sha256 = sha256_file(&args.config)?;
    manifest.tool_version = env!("CARGO_PKG_VERSION").to_owned();

    let say = |line: String| {
        if !global.quiet && !global.json {
            eprintln!("{line}");
        }
    };
    say(format!(
        "run {} → {} (stages: {})",
        loaded.run_id,
        run_dir.display(),
        stages
            .iter()
            .map(|s| format!("{s:?}").to_lowercase())
            .collect::<Vec<_>>()
            .join(" → ")
    ));
    // Candidates that answered nothing: the run goes on to the report (which marks them
    // failed) and the gate, then fails.
    let mut failed_eval: Option<anyhow::Error> = None;
    for &stage in &stages {
        let selected = match (args.only, args.from) {
            (Some(only), _) => stage == only,
            (None, Some(from)) => stage >= from,
            (None, None) => true,
        };
        if !selected {
            continue;
        }
        let forced = args.only == Some(stage) || args.from.is_some_and(|f| stage >= f);
        let fingerprint = fingerprint(&loaded, stage)?;
        let previous = manifest.stages.iter().find(|r| r.stage == stage).cloned();
        let reusable = !forced
            && matches!(stage, Stage::Train | Stage::Eval)
            && previous.as_ref().is_some_and(|p| {
                matches!(p.status.as_str(), "done" | "reused")
                    && p.input_sha256 == fingerprint
                    && p.outputs.keys().all(|o| run_dir.join(o).exists())
            });
        if reusable {
            say(format!("{stage:?}: inputs unchanged, reusing its outputs").to_lowercase());
            record(&mut manifest, stage, |r| r.status = "reused".into());
            save(&manifest_path, &mut manifest)?;
            continue;
        }
        say(format!("── {} ──", format!("{stage:?}").to_lowercase()));
        let changed = previous
            .as_ref()
            .is_some_and(|p| p.input_sha256 != fingerprint);
        record(&mut manifest, stage, |r| {
            r.status = "running".into();
            r.input_sha256 = fingerprint.clone();
        });
        save(&manifest_path, &mut manifest)?;
        let started = Instant::now();
        let outcome = run_stage(global, args, &loaded, stage, forced, changed);
        let seconds = started.elapsed().as_secs_f64();
        let (status, cost) = match &outcome {
            Ok(cost) => ("done", *cost),
            Err(e) if e.downcast_ref::<Regression>().is_some() => ("done", None),
            Err(_) => ("failed", None),
        };
        let outcome = match outcome {
            Err(e) if candidates_failed(&e) => {
                say(format!(
                    "eval: {}\n(going on to the report; the run will exit 1)",
                    crate::redact::redact(&e.to_string())
                ));
                failed_eval = Some(e);
                Ok(None)
            }
            other => other,
        };
        let outputs = output_hashes(&loaded, stage)?;
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
    let report = run_dir.join("report").join("report.html");
    if report.is_file() {
        say(format!(
            "done: report in {} (and report.md beside it)",
            report.display()
        ));
    }
    match failed_eval {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether `e` says that some candidate answered nothing (see [`EvalReport::check`]).
///
/// [`EvalReport::check`]: tunebench_eval::evaluate::EvalReport::check
fn candidates_failed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<tunebench_eval::error::EvalError>(),
            Some(tunebench_eval::error::EvalError::CandidatesFailed { .. })
        )
    })
}

/// Checks `[gate]` against `[eval]` before anything runs: every rule's suite, candidate and
/// metric must exist, or the gate would fail only after the whole (paid) eval. Suites are
/// read without their data, which an earlier stage may still have to prepare.
fn check_gate(l: &Loaded, path: &Path) -> anyhow::Result<()> {
    let (Some(gate), Some(eval)) = (gate_settings_of(l), l.raw.eval.clone()) else {
        return Ok(());
    };
    let eval = crate::eval::resolve(eval, &l.base)?;
    let suites = eval
        .suites
        .iter()
        .map(|s| tunebench_eval::suite::Suite::outline(s).map(|o| (o.name, o.metrics)))
        .collect::<Result<Vec<_>, _>>()?;
    let candidates: Vec<String> = eval
        .candidates
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    tunebench_reports::gate::validate(&gate, &suites, &candidates)
        .with_context(|| path.display().to_string())
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

/// The report reads `<run>/eval` and `<run>/train/<job>`: every stage must write there.
fn check_layout(l: &Loaded, path: &Path) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    let dir = &l.run_dir;
    let expect = |what: &str, got: &Path, want: &Path, wrong: &mut Vec<String>| {
        if got != want {
            wrong.push(format!(
                "{what} = \"{}\" (expected \"{}\")",
                got.display(),
                want.display()
            ));
        }
    };
    if let Some(d) = l.raw.data.as_ref().and_then(|d| d.out_dir.as_deref()) {
        expect(
            "[data] out_dir",
            &under(&l.base, d),
            &dir.join("data"),
            &mut wrong,
        );
    }
    if let Some(t) = l.raw.train.as_ref() {
        if let Some(local) = &t.local {
            let want = dir.join("train").join(&local.name);
            expect(
                "[train.local] out_dir",
                &under(&l.base, &local.out_dir),
                &want,
                &mut wrong,
            );
        }
        if let Some(b) = &t.bedrock {
            let want = dir.join("train").join(&b.name);
            expect(
                "[train.bedrock] out_dir",
                &under(&l.base, &b.out_dir),
                &want,
                &mut wrong,
            );
        }
    }
    if let Some(e) = &l.raw.eval {
        expect(
            "[eval] out_dir",
            &under(&l.base, &e.out_dir),
            &dir.join("eval"),
            &mut wrong,
        );
    }
    if wrong.is_empty() {
        return Ok(());
    }
    Err(ConfigError(format!(
        "{}: `tunebench run` keeps every stage in the run folder {}, but\n  {}\nhint: write out_dir = \"{RUN_DIR}/data\", \"{RUN_DIR}/train/<name>\" and \"{RUN_DIR}/eval\" (see configs/quickstart.toml)",
        path.display(),
        dir.display(),
        wrong.join("\n  ")
    ))
    .into())
}

/// Runs one stage; returns the dollars it spent where known.
fn run_stage(
    global: &Global,
    args: &RunArgs,
    l: &Loaded,
    stage: Stage,
    forced: bool,
    changed: bool,
) -> anyhow::Result<Option<f64>> {
    let config = args.config.clone();
    match stage {
        Stage::Data => {
            crate::data::prepare(
                global,
                &PrepareArgs {
                    config,
                    inputs: Vec::new(),
                    target: None,
                    out: None,
                    on_error: None,
                    pii: None,
                    output_format: None,
                    upload: None,
                    sse_kms_key_id: None,
                    endpoint_url: None,
                    force: forced,
                },
            )?;
            Ok(None)
        }
        Stage::Train => {
            let train = l.raw.train.as_ref();
            if let Some(local) = train.and_then(|t| t.local.as_ref()) {
                let out = under(&l.base, &local.out_dir);
                if changed || forced {
                    // Checkpoints of other settings cannot be resumed: start over.
                    let ckpt = out.join("checkpoints");
                    if ckpt.exists() {
                        std::fs::remove_dir_all(&ckpt)
                            .with_context(|| format!("removing {}", ckpt.display()))?;
                    }
                }
                crate::train::local(
                    global,
                    &TrainLocalArgs {
                        config: config.clone(),
                        resume: true,
                        max_steps: None,
                        out: None,
                        device: None,
                    },
                )?;
            }
            if let Some(b) = train.and_then(|t| t.bedrock.clone()) {
                return bedrock_stage(global, l, b).map(Some);
            }
            Ok(None)
        }
        Stage::Eval => {
            crate::eval::run(
                global,
                &EvalArgs {
                    config,
                    out: None,
                    dry_run: false,
                    no_cache: false,
                    refresh: false,
                },
            )?;
            let eval_dir = l.run_dir.join("eval");
            let suites = tunebench_reports::load::load_eval(&eval_dir)?;
            Ok(Some(
                suites
                    .iter()
                    .flat_map(|s| s.comparison.candidates.iter().map(|c| c.cost_usd))
                    .sum(),
            ))
        }
        Stage::Report => {
            let settings = report_settings_of(l);
            let written = write_report(&l.run_dir, &[], &settings, &l.run_dir.join("report"))?;
            if !global.quiet && !global.json {
                println!("{}", std::fs::read_to_string(&written.markdown)?);
            }
            Ok(None)
        }
        Stage::Gate => {
            let settings = gate_settings_of(l).unwrap_or_default();
            let junit = l.run_dir.join("report").join("gate-junit.xml");
            let report = check_run(&l.run_dir, &settings, &junit)?;
            if !global.quiet || !report.passed {
                print!("{}", report.explain());
            }
            verdict(&report).map(|()| None)
        }
    }
}

/// Submits the Bedrock job (idempotent: a resubmission finds the same job) and waits for it;
/// returns the estimated training dollars.
fn bedrock_stage(
    global: &Global,
    l: &Loaded,
    raw: tunebench_train::bedrock::BedrockTrainSettings,
) -> anyhow::Result<f64> {
    let settings = raw.resolve(&l.base)?;
    let aws = config::audited(
        aws_settings(settings.region.clone(), l.raw.aws.as_ref()),
        &l.base,
        &settings.out_dir,
    );
    let clients = Clients::connect(&aws, &aws, &BedrockOptions::default())?;
    let submitted = bedrock::submit(&settings, &clients, false)?;
    let quiet = global.quiet || global.json;
    let job = bedrock::wait(
        &clients,
        &JobRef::Registry(settings.out_dir.clone()),
        &WaitSettings::default(),
        |j| {
            if !quiet {
                eprintln!("{}: {}", j.job_name, j.status);
            }
        },
    )?;
    if job.status != "Completed" {
        anyhow::bail!(
            "Bedrock job {} ended {}{}",
            job.job_name,
            job.status,
            job.failure_message
                .as_ref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        );
    }
    Ok(submitted.plan.estimate.training_usd.unwrap_or(0.0))
}

/// Fingerprint of a stage: its settings as written plus the content of every existing file
/// or folder they name (folders: their top-level files), and, for eval, the suites' data.
fn fingerprint(l: &Loaded, stage: Stage) -> anyhow::Result<String> {
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
        let suites: Vec<PathBuf> = paths
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .cloned()
            .collect();
        for suite in suites {
            if let Some(data) = std::fs::read_to_string(&suite)
                .ok()
                .and_then(|t| t.parse::<toml::Table>().ok())
                .and_then(|t| t.get("data").and_then(|d| d.as_str().map(str::to_owned)))
            {
                let base = suite.parent().unwrap_or(Path::new("."));
                paths.push(under(base, data));
            }
        }
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

/// Every string in `v` that names an existing file or folder (relative to `base`), except
/// output folders (`out_dir`), whose content is the stage's result, not its input.
/// [`tunebench_core::fs::sha256_file`], its error naming the file.
fn sha256_file(path: &Path) -> anyhow::Result<String> {
    tunebench_core::fs::sha256_file(path).with_context(|| path.display().to_string())
}

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
fn output_hashes(l: &Loaded, stage: Stage) -> anyhow::Result<BTreeMap<String, String>> {
    let dir = &l.run_dir;
    let roots: Vec<PathBuf> = match stage {
        Stage::Data => vec![dir.join("data")],
        Stage::Train => vec![dir.join("train")],
        Stage::Eval => vec![dir.join("eval")],
        Stage::Report | Stage::Gate => vec![dir.join("report")],
    };
    let mut out = BTreeMap::new();
    for root in roots {
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
                } else if let Ok(rel) = p.strip_prefix(dir) {
                    out.insert(rel.to_string_lossy().into_owned(), sha256_file(&p)?);
                }
            }
        }
    }
    Ok(out)
}

fn top_level_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
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

fn save(path: &Path, m: &mut RunManifest) -> anyhow::Result<()> {
    m.updated = now_rfc3339();
    let mut text = serde_json::to_string_pretty(m)?;
    text.push('\n');
    tunebench_reports::render::write_atomic(path, text.as_bytes())?;
    Ok(())
}
