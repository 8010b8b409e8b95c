//! `tunebench model register|list|show|promote|rollback`: the model registry from the
//! command line.

use std::path::Path;

use tunebench_core::RunDir;
use tunebench_models::hub::ModelSource;
use tunebench_pipeline::ConfigError;
use tunebench_pipeline::lifecycle;
use tunebench_pipeline::registry::{Artifact, Lineage, Reference, Registry};

use crate::cli::{Global, ListArgs, PromoteArgs, RegisterArgs, RollbackArgs, ShowArgs, StoreArgs};
use crate::print;

/// The registry `--history` or `--config` names.
fn open(global: &Global, store: &StoreArgs) -> anyhow::Result<Registry> {
    let path = match (&store.history, &store.config) {
        (Some(h), _) => std::path::absolute(h)?,
        (None, Some(c)) => lifecycle::store(&crate::load(global, c)?)?,
        (None, None) => {
            return Err(ConfigError(
                "which registry? give --history runs/history.sqlite (or TUNEBENCH_HISTORY), or --config with [report] history".into(),
            )
            .into());
        }
    };
    Ok(Registry::open(&path)?)
}

/// What `args` registers.
fn artifact(args: &RegisterArgs) -> anyhow::Result<Artifact> {
    if let Some(arn) = &args.bedrock {
        return Ok(Artifact::Bedrock { arn: arn.clone() });
    }
    if let Some(file) = &args.candidate {
        return Ok(Artifact::Candidate {
            candidate: lifecycle::candidate_from_file(file)?,
        });
    }
    let Some(path) = &args.path else {
        return Err(
            ConfigError("give a model folder, --bedrock ARN or --candidate FILE".into()).into(),
        );
    };
    let cwd = std::env::current_dir()?;
    let path = std::path::absolute(path)?;
    let adapter = path.join("adapter_config.json").is_file();
    let base_model = match (&args.base, adapter) {
        (Some(base), true) => Some(
            ModelSource::parse(&cwd, Path::new(base))
                .to_setting()
                .to_string_lossy()
                .into_owned(),
        ),
        (None, true) => {
            return Err(ConfigError(format!(
                "{} is a LoRA adapter: give the model it applies to with --base",
                path.display()
            ))
            .into());
        }
        (Some(_), false) => {
            return Err(ConfigError(format!(
                "--base is for adapters, and {} has no adapter_config.json",
                path.display()
            ))
            .into());
        }
        (None, false) => None,
    };
    Ok(Artifact::Local { path, base_model })
}

pub fn register(global: &Global, args: &RegisterArgs) -> anyhow::Result<()> {
    let artifact = artifact(args)?;
    let lineage = match &args.run {
        Some(run) => {
            let run = RunDir::new(std::path::absolute(run)?);
            let job_dir = match &artifact {
                Artifact::Local { path, .. } if path.starts_with(run.train()) => Some(path.clone()),
                _ => None,
            };
            lifecycle::lineage_of_run(&run, job_dir.as_deref())?
        }
        None => Lineage::default(),
    };
    let lineage = Lineage {
        base_model: match &artifact {
            Artifact::Local { base_model, .. } => base_model.clone(),
            _ => None,
        },
        ..lineage
    };
    let mut registry = open(global, &args.store)?;
    let registered = registry.register(&args.name, &artifact, &lineage, args.note.as_deref())?;
    let line = if registered.created {
        format!(
            "registered {}@{}: {}",
            registered.model,
            registered.version,
            artifact.describe()
        )
    } else {
        format!(
            "already registered as {}@{}: {}",
            registered.model,
            registered.version,
            artifact.describe()
        )
    };
    print::either(global, &serde_json::to_value(&registered)?, &line);
    Ok(())
}

pub fn list(global: &Global, args: &ListArgs) -> anyhow::Result<()> {
    let registry = open(global, &args.store)?;
    match &args.name {
        None => print::models(global, &registry.models()?),
        Some(name) => print::versions(global, &registry.versions(name)?),
    }
}

pub fn show(global: &Global, args: &ShowArgs) -> anyhow::Result<()> {
    let registry = open(global, &args.store)?;
    let reference = Reference::parse(&args.reference)?;
    let version = registry.resolve(&reference)?;
    let audit = registry.audit(&reference.model)?;
    print::version(global, &version, &audit)
}

pub fn promote(global: &Global, args: &PromoteArgs) -> anyhow::Result<()> {
    let mut registry = open(global, &args.store)?;
    let force = args.force.then_some(args.reason.as_deref()).flatten();
    let moved = registry.promote(&args.name, args.number, &args.to, force)?;
    print::alias_move(global, &moved, "promoted")
}

pub fn rollback(global: &Global, args: &RollbackArgs) -> anyhow::Result<()> {
    let mut registry = open(global, &args.store)?;
    let moved = registry.rollback(&args.name, &args.alias, args.reason.as_deref())?;
    print::alias_move(global, &moved, "rolled back")
}
