//! `cache prune`: cached answers of an `[eval]` section's response cache deleted by age
//! and/or candidate, the candidate named as in the config or by its cache identity.

use std::path::PathBuf;

use tunebench_eval::cache::{Cache, PruneFilter, parse_age};
use tunebench_eval::candidate;

use crate::config::{ConfigError, Loaded};
use crate::error::Result;

/// What to delete; at least one of the three must be given.
#[derive(Debug, Clone, Default)]
pub struct PruneRequest {
    /// Older than this age (`30d`, `12h`, …).
    pub older_than: Option<String>,
    /// A configured candidate's (or judge's) name, or a cache identity.
    pub candidate: Option<String>,
    /// Everything.
    pub all: bool,
}

/// What was deleted.
#[derive(Debug)]
pub struct Pruned {
    /// The cache file.
    pub cache: PathBuf,
    /// Whether it existed (nothing is created to prune nothing).
    pub existed: bool,
    /// Per candidate identity: how many answers went, and the configured names it has.
    pub removed: Vec<(String, u64, Vec<String>)>,
    /// Answers left.
    pub left: u64,
}

/// Deletes what `request` names from `loaded`'s response cache.
///
/// # Errors
/// No filter, a bad age, a candidate that is neither configured nor an identity
/// ([`ConfigError`]); the cache cannot be read or written.
pub fn prune(loaded: &Loaded, request: &PruneRequest) -> Result<Pruned> {
    // `registry:` candidates are known by the identity of the version they mean now.
    let (settings, _) = crate::lifecycle::resolve(loaded, crate::eval::settings(loaded)?)?;
    if !request.all && request.older_than.is_none() && request.candidate.is_none() {
        return Err(ConfigError(
            "cache prune: no filter given, so this would delete every cached answer\nhint: add --older-than AGE and/or --candidate NAME, or --all".into(),
        )
        .into());
    }
    let older_than = request
        .older_than
        .as_deref()
        .map(parse_age)
        .transpose()
        .map_err(|e| ConfigError(format!("--older-than: {e}")))?;
    // A configured candidate's (or judge's) name means its identity; anything else with a
    // colon is taken as one.
    let configured = || settings.candidates.iter().chain(&settings.judges);
    let candidate = match &request.candidate {
        Some(name) => Some(match configured().find(|c| c.name() == name) {
            Some(c) => candidate::identity(c)?,
            None if name.contains(':') => name.clone(),
            None => {
                let names: Vec<&str> = configured().map(|c| c.name()).collect();
                return Err(ConfigError(format!(
                    "--candidate {name:?} is not a candidate of {} ({})\nhint: give a configured name or a cache identity such as openai:<url>:<model>",
                    loaded.path.display(),
                    names.join(", ")
                ))
                .into());
            }
        }),
        None => None,
    };
    let path = settings.cache_path();
    if !path.exists() {
        return Ok(Pruned {
            cache: path,
            existed: false,
            removed: Vec::new(),
            left: 0,
        });
    }
    let cache = Cache::open(&path)?;
    let removed = cache.prune(&PruneFilter {
        older_than,
        candidate,
    })?;
    // The configured candidates' identities, to name what was removed (computed only when
    // something was: a local model's identity hashes its weights).
    let identities: Vec<(&str, String)> = if removed.is_empty() {
        Vec::new()
    } else {
        configured()
            .filter_map(|c| Some((c.name(), candidate::identity(c).ok()?)))
            .collect()
    };
    let removed = removed
        .into_iter()
        .map(|(identity, n)| {
            let names = identities
                .iter()
                .filter(|(_, i)| *i == identity)
                .map(|(name, _)| (*name).to_owned())
                .collect();
            (identity, n, names)
        })
        .collect();
    Ok(Pruned {
        cache: path,
        existed: true,
        removed,
        left: cache.len()?,
    })
}
