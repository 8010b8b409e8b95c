//! `tunebench cache prune`: delete cached answers of an `[eval]` section's response cache by
//! age and/or candidate, and say what went.

use tunebench_eval::cache::{Cache, PruneFilter, parse_age};
use tunebench_eval::candidate;

use tunebench_pipeline::ConfigError;

use crate::cli::{CachePruneArgs, Global};

pub fn prune(global: &Global, args: &CachePruneArgs) -> anyhow::Result<()> {
    let loaded = crate::load(global, &args.config)?;
    let settings = tunebench_pipeline::eval::settings(&loaded)?;
    if !args.all && args.older_than.is_none() && args.candidate.is_none() {
        return Err(ConfigError(
            "cache prune: no filter given, so this would delete every cached answer\nhint: add --older-than AGE and/or --candidate NAME, or --all".into(),
        )
        .into());
    }
    let older_than = args
        .older_than
        .as_deref()
        .map(parse_age)
        .transpose()
        .map_err(|e| ConfigError(format!("--older-than: {e}")))?;
    // A configured candidate's (or judge's) name means its identity; anything else with a
    // colon is taken as one.
    let configured = || settings.candidates.iter().chain(&settings.judges);
    let candidate = match &args.candidate {
        Some(name) => Some(match configured().find(|c| c.name() == name) {
            Some(c) => candidate::identity(c)?,
            None if name.contains(':') => name.clone(),
            None => {
                let names: Vec<&str> = configured().map(|c| c.name()).collect();
                return Err(ConfigError(format!(
                        "--candidate {name:?} is not a candidate of {} ({})\nhint: give a configured name or a cache identity such as openai:<url>:<model>",
                        args.config.display(),
                        names.join(", ")
                    ))
                    .into());
            }
        }),
        None => None,
    };
    let path = settings.cache_path();
    if !path.exists() {
        if !global.quiet {
            println!("{}: no response cache yet; nothing removed", path.display());
        }
        return Ok(());
    }
    let cache = Cache::open(&path)?;
    let removed = cache.prune(&PruneFilter {
        older_than,
        candidate,
    })?;
    if global.json {
        let rows: Vec<_> = removed
            .iter()
            .map(|(identity, n)| serde_json::json!({ "identity": identity, "removed": n }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "cache": path,
                "removed": rows,
                "left": cache.len()?,
            }))?
        );
    } else if !global.quiet {
        let total: u64 = removed.iter().map(|(_, n)| n).sum();
        // The configured candidates' identities, to name what was removed (computed only
        // when something was: a local model's identity hashes its weights).
        let identities: Vec<(&str, String)> = if removed.is_empty() {
            Vec::new()
        } else {
            configured()
                .filter_map(|c| Some((c.name(), candidate::identity(c).ok()?)))
                .collect()
        };
        for (identity, n) in &removed {
            let names: Vec<&str> = identities
                .iter()
                .filter(|(_, i)| i == identity)
                .map(|(name, _)| *name)
                .collect();
            let known = if names.is_empty() {
                String::new()
            } else {
                format!(" ({})", names.join(", "))
            };
            println!("removed {n} answer(s) of {identity}{known}");
        }
        println!("{}: removed {total}, {} left", path.display(), cache.len()?);
    }
    Ok(())
}
