//! The model registry in a pipeline ([`crate::registry`] is the store): `[registry]`
//! settings; what a run trains registered as a new version with its lineage; `registry:`
//! candidates resolved to the version their alias or number means when the eval starts
//! (and named in `eval/registry.json`, which the report shows); after the gate, every
//! registered version the run evaluated gets its results and verdict, and with
//! `promote_on_pass` the version under test is promoted when the gate passed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tunebench_core::paths::under;
use tunebench_core::{RunDir, write_atomic};
use tunebench_eval::candidate::CandidateSettings;
use tunebench_eval::evaluate::EvalSettings;
use tunebench_reports::gate::GateReport;
use tunebench_reports::load::{REGISTRY_FILE, RegistryModel};
use tunebench_reports::summary::RunSummary;
use tunebench_train::Method;
use tunebench_train::bedrock::JobRecord;

use crate::config::{ConfigError, Loaded};
use crate::error::{PipelineError, Result, io};
use crate::registry::{
    AliasMove, Artifact, Evaluation, Lineage, Reference, Registered, Registry, RegistryError,
};
use crate::run::RunManifest;

/// `[registry]` of a config.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// The model what the run trains is registered under, as a new version.
    pub model: Option<String>,
    /// When the run's gate passes, point this alias at the version under test: the one
    /// the run registered, else the newest version of `model` among its candidates.
    pub promote_on_pass: Option<String>,
}

/// The registry's file: the run history, `[report] history` (else `[gate] history`).
///
/// # Errors
/// [`ConfigError`] when the config names no history file.
pub fn store(loaded: &Loaded) -> Result<PathBuf> {
    let report = loaded.raw.report.as_ref().and_then(|r| r.history.as_ref());
    let gate = loaded.raw.gate.as_ref().and_then(|g| g.history.as_ref());
    report.or(gate).map(|h| under(&loaded.base, h)).ok_or_else(|| {
        ConfigError(format!(
            "{}: the model registry lives in the run history, and this config has none\nhint: add [report] history = \"runs/history.sqlite\"",
            loaded.path.display()
        ))
        .into()
    })
}

/// Whether the config uses the registry: `[registry]`, or a `registry:` eval candidate.
pub fn used(loaded: &Loaded) -> bool {
    loaded.raw.registry.is_some()
        || loaded.raw.eval.as_ref().is_some_and(|e| {
            e.candidates
                .iter()
                .any(|c| matches!(c, CandidateSettings::Registry(_)))
        })
}

/// Checks that need no stage to have run: a store, a model to promote, a gate to pass.
///
/// # Errors
/// [`ConfigError`] naming what to add.
pub fn check(loaded: &Loaded) -> Result<()> {
    if !used(loaded) {
        return Ok(());
    }
    store(loaded)?;
    let Some(r) = &loaded.raw.registry else {
        return Ok(());
    };
    if let Some(model) = &r.model {
        Reference::parse(model)?;
    }
    if let Some(alias) = &r.promote_on_pass {
        let missing = if r.model.is_none() {
            Some("[registry] model (the model whose version is promoted)")
        } else if loaded.raw.gate.is_none() {
            Some("a [gate] (promotion waits for it to pass)")
        } else {
            None
        };
        if let Some(what) = missing {
            return Err(ConfigError(format!(
                "{}: [registry] promote_on_pass = \"{alias}\" needs {what}",
                loaded.path.display()
            ))
            .into());
        }
    }
    Ok(())
}

/// The lineage a run folder gives a model it made: the run's id and config hash (from its
/// `run.json`, else the folder's name), its prepared data's manifest hash, and the training
/// record in `job_dir` (`summary.json` of local training, `job.json` of a Bedrock job).
///
/// # Errors
/// A file of the run exists but cannot be read.
pub fn lineage_of_run(run: &RunDir, job_dir: Option<&Path>) -> Result<Lineage> {
    let manifest = RunManifest::load(run)?;
    let data_manifest = run.data().join("manifest.json");
    let training = match job_dir {
        Some(dir) => match read_json(&dir.join("summary.json"))? {
            Some(summary) => Some(summary),
            None => read_json(&JobRecord::path(dir))?,
        },
        None => None,
    };
    Ok(Lineage {
        run_id: Some(manifest.as_ref().map_or_else(
            || {
                run.root()
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            },
            |m| m.run_id.clone(),
        )),
        run_dir: Some(run.root().to_path_buf()),
        config_sha256: manifest.map(|m| m.config_sha256),
        data_manifest_sha256: data_manifest
            .is_file()
            .then(|| crate::run::sha256_file(&data_manifest))
            .transpose()?,
        base_model: None,
        training,
    })
}

/// What the run trained (local training, a Bedrock job), as artifacts with their lineage.
fn trained(loaded: &Loaded) -> Result<Vec<(Artifact, Lineage)>> {
    let mut out = Vec::new();
    let train = loaded.raw.train.as_ref();
    if train.is_some_and(|t| t.local.is_some()) {
        let s = crate::train::local_settings(loaded)?;
        let base = s
            .base_model
            .as_ref()
            .map(|b| b.to_string_lossy().into_owned());
        let artifact = Artifact::Local {
            path: s.out_dir.clone(),
            base_model: match s.method {
                Method::Lora => base.clone(),
                Method::Full => None,
            },
        };
        let lineage = Lineage {
            base_model: base,
            ..lineage_of_run(&loaded.run, Some(&s.out_dir))?
        };
        out.push((artifact, lineage));
    }
    if let Some(b) = train.and_then(|t| t.bedrock.clone()) {
        let s = b.resolve(&loaded.base)?;
        let record = JobRecord::load(&s.out_dir)?.ok_or_else(|| {
            RegistryError::Refused(format!(
                "{}: no job record to register\nhint: the train stage writes it when the job is submitted",
                JobRecord::path(&s.out_dir).display()
            ))
        })?;
        // What Bedrock can call: the deployment or provisioned throughput when there is one.
        let arn = record
            .deployment_arn
            .clone()
            .or_else(|| record.provisioned_throughput_arn.clone())
            .or_else(|| record.custom_model_arn.clone())
            .ok_or_else(|| {
                RegistryError::Refused(format!(
                    "Bedrock job {} has no custom model yet: nothing to register",
                    record.job_name
                ))
            })?;
        let lineage = Lineage {
            base_model: Some(record.base_model.clone()),
            ..lineage_of_run(&loaded.run, Some(&s.out_dir))?
        };
        out.push((Artifact::Bedrock { arn }, lineage));
    }
    Ok(out)
}

/// A JSON file; `None` when there is none or it does not parse as `T` (lineage is what
/// can be read, never a reason to fail).
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Registers what the run trained under `[registry] model` (nothing without one). The same
/// files registered again give back their version.
///
/// # Errors
/// The store cannot be opened, the training's outputs cannot be read.
pub fn register_trained(loaded: &Loaded) -> Result<Vec<Registered>> {
    let Some(model) = loaded.raw.registry.as_ref().and_then(|r| r.model.clone()) else {
        return Ok(Vec::new());
    };
    let mut registry = Registry::open(&store(loaded)?)?;
    let mut out = Vec::new();
    for (artifact, lineage) in trained(loaded)? {
        out.push(registry.register(&model, &artifact, &lineage, None)?);
    }
    Ok(out)
}

/// The one eval candidate table in the TOML file `path`, its paths taken from the file's
/// folder: what `tunebench model register --candidate` registers.
///
/// # Errors
/// [`ConfigError`] naming the file when it does not read or parse, or is itself a
/// `registry:` candidate.
pub fn candidate_from_file(path: &Path) -> Result<CandidateSettings> {
    let at = |e: &dyn std::fmt::Display| ConfigError(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| at(&e))?;
    let mut candidate: CandidateSettings = toml::from_str(&text).map_err(|e| at(&e))?;
    if matches!(candidate, CandidateSettings::Registry(_)) {
        return Err(at(&"a registry version cannot be registered as another version\nhint: register what it is (the folder, ARN or endpoint)").into());
    }
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    let base = std::path::absolute(folder.unwrap_or(Path::new("."))).map_err(|e| at(&e))?;
    if let CandidateSettings::Local(l) = &mut candidate {
        l.model_dir = tunebench_models::hub::ModelSource::parse(&base, &l.model_dir).to_setting();
    }
    candidate.map_paths(&|p| under(&base, p));
    Ok(candidate)
}

/// `settings` with every `registry:` candidate replaced by the candidate its version is,
/// and the versions they were. Without such candidates nothing is opened.
///
/// # Errors
/// No store, an unknown model, version or alias, a local version whose files changed.
pub fn resolve(
    loaded: &Loaded,
    mut settings: EvalSettings,
) -> Result<(EvalSettings, Vec<RegistryModel>)> {
    if !settings
        .candidates
        .iter()
        .any(|c| matches!(c, CandidateSettings::Registry(_)))
    {
        return Ok((settings, Vec::new()));
    }
    let registry = Registry::open(&store(loaded)?)?;
    let mut models = Vec::new();
    for c in &mut settings.candidates {
        let CandidateSettings::Registry(r) = c else {
            continue;
        };
        let reference = Reference::parse(&r.model)?;
        let version = registry.resolve(&reference).map_err(|e| {
            PipelineError::from(e).context(format!("candidate `{}` ({})", r.name, r.model))
        })?;
        models.push(RegistryModel {
            candidate: r.name.clone(),
            reference: reference.to_string(),
            model: version.model.clone(),
            version: version.version,
            artifact: version.artifact.describe(),
        });
        *c = crate::registry::candidate(&version, r)?;
    }
    Ok((settings, models))
}

/// Writes `<out_dir>/registry.json`, from which the report names the versions; without
/// registry candidates, removes one an earlier eval left.
///
/// # Errors
/// The file cannot be written or removed.
pub fn write_resolved(out_dir: &Path, models: &[RegistryModel]) -> Result<()> {
    let path = out_dir.join(REGISTRY_FILE);
    if models.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        };
    }
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let mut text = serde_json::to_string_pretty(models)?;
    text.push('\n');
    write_atomic(&path, text.as_bytes()).map_err(io(&path))
}

/// What [`record_run`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Recorded {
    /// `model@version` of each version whose results were recorded.
    pub evaluated: Vec<String>,
    /// The promotion made, if the gate passed and `promote_on_pass` is set.
    pub promoted: Option<AliasMove>,
    /// Why nothing was promoted, when `promote_on_pass` is set and nothing was.
    pub kept: Option<String>,
}

/// [`record_run`] for the run in `run_dir`, with its summary
/// ([`crate::report::run_summary`]); nothing when the config does not use the registry.
///
/// # Errors
/// As [`record_run`]; the run's results cannot be read.
pub fn record_run_dir(
    loaded: &Loaded,
    run_dir: &Path,
    gate: Option<&GateReport>,
) -> Result<Recorded> {
    if !used(loaded) {
        return Ok(Recorded::default());
    }
    record_run(loaded, &crate::report::run_summary(run_dir)?, gate)
}

/// After the run's report (and gate): records each registered version the run evaluated
/// with its scores and the gate's verdict on its checks, then promotes the version under
/// test when the gate passed and `[registry] promote_on_pass` is set.
///
/// A candidate is a version when it was a `registry:` candidate, or when it is what a
/// version of `[registry] model` is (the adapter this run trained, evaluated as a local
/// candidate, say).
///
/// # Errors
/// The store cannot be opened or written; the promotion is refused.
fn record_run(
    loaded: &Loaded,
    summary: &RunSummary,
    gate: Option<&GateReport>,
) -> Result<Recorded> {
    let mut registry = Registry::open(&store(loaded)?)?;
    let config = loaded.raw.registry.clone().unwrap_or_default();
    // Candidate name → (model, version).
    let mut versions: Vec<(String, String, u32)> = summary
        .models
        .iter()
        .map(|m| (m.candidate.clone(), m.model.clone(), m.version))
        .collect();
    if let Some(model) = &config.model
        && loaded.raw.eval.is_some()
    {
        for c in &crate::eval::settings(loaded)?.candidates {
            if versions.iter().any(|(name, _, _)| name == c.name()) {
                continue;
            }
            if let Some(artifact) = artifact_of(c)
                && let Some(v) = registry.find(model, &artifact)?
            {
                versions.push((c.name().to_owned(), model.clone(), v));
            }
        }
    }
    let mut recorded = Recorded::default();
    for (candidate, model, version) in &versions {
        let evaluations: Vec<Evaluation> = summary
            .suites
            .iter()
            .filter_map(|s| {
                let c = s.candidate(candidate)?;
                Some(Evaluation {
                    run_id: summary.run_id.clone(),
                    suite: s.suite.clone(),
                    candidate: candidate.clone(),
                    score: c.score.value,
                    lower: c.score.lower,
                    upper: c.score.upper,
                    cost_usd: c.cost_usd,
                    gate: gate.and_then(|g| verdict_on(g, &s.suite, candidate)),
                })
            })
            .collect();
        registry.record_evaluations(model, *version, &evaluations)?;
        recorded.evaluated.push(format!("{model}@{version}"));
    }
    let (Some(alias), Some(model), Some(gate)) = (&config.promote_on_pass, &config.model, gate)
    else {
        return Ok(recorded);
    };
    let under_test = registry
        .versions(model)?
        .into_iter()
        .filter(|v| {
            v.lineage.run_id.as_deref() == Some(loaded.run_id.as_str())
                || versions
                    .iter()
                    .any(|(_, m, n)| m == model && *n == v.version)
        })
        .max_by_key(|v| {
            (
                v.lineage.run_id.as_deref() == Some(loaded.run_id.as_str()),
                v.version,
            )
        });
    let Some(v) = under_test else {
        recorded.kept = Some(format!(
            "the run neither trained nor evaluated a version of `{model}`: nothing to promote to `{alias}`"
        ));
        return Ok(recorded);
    };
    if gate.passed {
        recorded.promoted = Some(registry.promote(model, v.version, alias, None)?);
    } else {
        let holder = registry
            .models()?
            .into_iter()
            .find(|m| &m.name == model)
            .and_then(|m| m.aliases.into_iter().find(|(a, _)| a == alias))
            .map_or_else(
                || "stays unset".to_owned(),
                |(_, n)| format!("stays at {model}@{n}"),
            );
        recorded.kept = Some(format!(
            "the gate failed: {model}@{} is not promoted; `{alias}` {holder}",
            v.version
        ));
    }
    Ok(recorded)
}

/// The artifact a configured candidate is, when it can be a registered version: a local
/// model or adapter, or a Bedrock model ARN.
fn artifact_of(c: &CandidateSettings) -> Option<Artifact> {
    match c {
        CandidateSettings::Local(l) => Some(match &l.adapter {
            Some(adapter) => Artifact::Local {
                path: adapter.clone(),
                base_model: Some(l.model_dir.to_string_lossy().into_owned()),
            },
            None => Artifact::Local {
                path: l.model_dir.clone(),
                base_model: None,
            },
        }),
        CandidateSettings::Bedrock(b) => Some(Artifact::Bedrock {
            arn: b.model_id.clone(),
        }),
        _ => None,
    }
}

/// `pass` or `regression` when the gate checked `candidate` on `suite`.
fn verdict_on(gate: &GateReport, suite: &str, candidate: &str) -> Option<String> {
    let checks: Vec<bool> = gate
        .checks
        .iter()
        .filter(|c| c.suite == suite && c.candidate == candidate)
        .map(|c| c.passed)
        .collect();
    if checks.is_empty() {
        None
    } else if checks.iter().all(|p| *p) {
        Some("pass".into())
    } else {
        Some("regression".into())
    }
}
