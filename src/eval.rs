//! `tunebench eval`: flags over `TUNEBENCH_*` over `[eval]`, the library's eval with a
//! progress bar, then the comparison (or the dry-run estimate, or JSON).

use tunebench_eval::cache::CacheMode;
use tunebench_pipeline::Scope;
use tunebench_pipeline::eval::{self, EvalMode};
use tunebench_pipeline::overrides::{EvalOverrides, Overrides};

use crate::cli::{EvalArgs, Global};
use crate::progress::Bars;

pub fn run(global: &Global, args: &EvalArgs) -> anyhow::Result<()> {
    let mut loaded = crate::load(global, &args.config)?;
    let flags = Overrides {
        eval: EvalOverrides {
            out_dir: args.out.clone(),
            ..EvalOverrides::default()
        },
        ..Overrides::default()
    };
    loaded.apply(&flags.over(Overrides::from_env()?))?;
    let settings = eval::settings(&loaded)?;
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }
    let mode = EvalMode {
        cache: match (args.no_cache, args.refresh) {
            (true, _) => CacheMode::Off,
            (_, true) => CacheMode::Refresh,
            _ => CacheMode::ReadWrite,
        },
        dry_run: args.dry_run,
        count_tokens: args.count_tokens,
    };
    let bar = Bars::new(global.silent());
    let report = eval::evaluate(&loaded, &settings, mode, Scope::Command, &bar)?;
    // Printed and written first; a candidate that answered nothing then fails the command.
    crate::print::evaluated(global, &report)?;
    Ok(report.check()?)
}
