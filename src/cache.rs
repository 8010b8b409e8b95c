//! `tunebench cache prune`: the library's prune of an `[eval]` section's response cache, and
//! what went (or JSON).

use tunebench_pipeline::cache::{PruneRequest, prune as run_prune};

use crate::cli::{CachePruneArgs, Global};

pub fn prune(global: &Global, args: &CachePruneArgs) -> anyhow::Result<()> {
    let loaded = crate::load(global, &args.config)?;
    let pruned = run_prune(
        &loaded,
        &PruneRequest {
            older_than: args.older_than.clone(),
            candidate: args.candidate.clone(),
            all: args.all,
        },
    )?;
    let path = pruned.cache.display();
    if !pruned.existed {
        if !global.quiet {
            println!("{path}: no response cache yet; nothing removed");
        }
        return Ok(());
    }
    if global.json {
        let rows: Vec<_> = pruned
            .removed
            .iter()
            .map(|(identity, n, _)| serde_json::json!({ "identity": identity, "removed": n }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "cache": pruned.cache,
                "removed": rows,
                "left": pruned.left,
            }))?
        );
    } else if !global.quiet {
        let total: u64 = pruned.removed.iter().map(|(_, n, _)| n).sum();
        for (identity, n, names) in &pruned.removed {
            let known = if names.is_empty() {
                String::new()
            } else {
                format!(" ({})", names.join(", "))
            };
            println!("removed {n} answer(s) of {identity}{known}");
        }
        println!("{path}: removed {total}, {} left", pruned.left);
    }
    Ok(())
}
