//! The eval stage: `[eval]` resolved, `registry:` candidates turned into the versions they
//! mean, the endpoints' API keys kept out of every message, the candidates run on the suites.

use std::path::Path;

use tunebench_eval::cache::CacheMode;
use tunebench_eval::candidate::CandidateSettings;
use tunebench_eval::evaluate::{EvalOptions, EvalReport, EvalSettings};
use tunebench_eval::runner::RunProgress;

use crate::config::{ConfigError, Loaded, Scope};
use crate::error::Result;

/// `[eval]` of `loaded`, resolved against the config's folder, with `.` and `..` folded out
/// of every path so that messages and `--show-settings` read `runs/...`, not
/// `configs/../runs/...`.
///
/// # Errors
/// No `[eval]` section, or a setting that does not resolve.
pub fn settings(loaded: &Loaded) -> Result<EvalSettings> {
    let raw = loaded
        .raw
        .eval
        .clone()
        .ok_or_else(|| ConfigError(format!("{}: no [eval] section", loaded.path.display())))?;
    Ok(raw
        .resolve(&loaded.base)?
        .map_paths(|p| tunebench_core::paths::under(Path::new(""), p)))
}

/// How an eval treats its response cache, and whether it only estimates.
#[derive(Debug, Clone, Copy)]
pub struct EvalMode {
    /// Read and write, refresh, or off.
    pub cache: CacheMode,
    /// Send nothing: count requests, tokens and the dollar ceiling.
    pub dry_run: bool,
    /// In a dry run, count Bedrock candidates' input tokens with `CountTokens`.
    pub count_tokens: bool,
}

impl Default for EvalMode {
    fn default() -> Self {
        EvalMode {
            cache: CacheMode::ReadWrite,
            dry_run: false,
            count_tokens: false,
        }
    }
}

/// Runs the eval. `registry:` candidates are resolved first (the versions they were go to
/// `<out_dir>/registry.json`, unless it is a dry run), and the candidates' and judges' API
/// keys are registered with [`crate::redact`].
///
/// # Errors
/// As [`crate::lifecycle::resolve`] and [`tunebench_eval::evaluate::evaluate`].
pub fn evaluate(
    loaded: &Loaded,
    settings: &EvalSettings,
    mode: EvalMode,
    scope: Scope,
    progress: &dyn RunProgress,
) -> Result<EvalReport> {
    let (settings, models) = crate::lifecycle::resolve(loaded, settings.clone())?;
    let settings = &settings;
    if !mode.dry_run {
        crate::lifecycle::write_resolved(&settings.out_dir, &models)?;
    }
    for c in settings.candidates.iter().chain(&settings.judges) {
        if let CandidateSettings::Openai(o) = c
            && let Some(var) = &o.api_key_env
        {
            crate::redact::add_var(var);
        }
    }
    let aws = loaded.audited(loaded.aws(), &settings.out_dir, scope);
    let opts = EvalOptions {
        cache_mode: mode.cache,
        dry_run: mode.dry_run,
        aws_audit_log: aws.audit_log,
        count_tokens: mode.count_tokens,
    };
    Ok(tunebench_eval::evaluate::evaluate(
        settings, &opts, progress,
    )?)
}
