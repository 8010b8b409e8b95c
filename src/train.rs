//! `tunebench train local`: flags over `TUNEBENCH_*` over `[train.local]`, training with a
//! progress bar, a checkpoint on Ctrl-C, and the summary (or JSON).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use indicatif::ProgressBar;
use tunebench_pipeline::overrides::{Overrides, TrainOverrides};
use tunebench_pipeline::train;
use tunebench_train::Progress;
use tunebench_train::metrics::Row;

use crate::cli::{Global, TrainLocalArgs};
use crate::progress;

pub fn local(global: &Global, args: &TrainLocalArgs) -> anyhow::Result<()> {
    let mut loaded = crate::load(global, &args.config)?;
    let flags = Overrides {
        train: TrainOverrides {
            out_dir: args.out.clone(),
            max_steps: args.max_steps,
            device: args.device.clone(),
        },
        ..Overrides::default()
    };
    loaded.apply(&flags.over(Overrides::from_env()?))?;
    let settings = train::local_settings(&loaded)?;
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }
    let stop = ctrl_c()?;
    let bar = TrainBar::new(global.silent());
    let summary = train::local(&settings, args.resume, &stop, &bar)?;
    Ok(crate::print::trained(global, &summary, &settings.out_dir)?)
}

/// A flag that Ctrl-C sets: training checkpoints and stops after the current step.
pub fn ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))
        .context("installing the Ctrl-C handler")?;
    Ok(stop)
}

/// A bar over optimizer steps showing loss, tokens/s and ETA; between steps it also has the
/// heap give freed memory back (`memory::give_back_freed`).
pub struct TrainBar {
    quiet: bool,
    bar: std::sync::OnceLock<ProgressBar>,
}

impl TrainBar {
    pub fn new(quiet: bool) -> Self {
        TrainBar {
            quiet,
            bar: std::sync::OnceLock::new(),
        }
    }
}

impl Progress for TrainBar {
    fn start(&self, total: usize, done: usize) {
        let bar = progress::bar(self.quiet, "training", total as u64);
        bar.set_position(done as u64);
        bar.reset_eta();
        let _ = self.bar.set(bar);
    }

    fn step(&self, row: &Row) {
        // Between steps, what the step freed goes back to the system (see `memory`).
        crate::memory::give_back_freed();
        if let Some(bar) = self.bar.get() {
            bar.set_position(row.step as u64);
            bar.set_message(format!(
                "loss {:.4}, {:.0} tok/s",
                row.train_loss, row.tokens_per_s
            ));
        }
    }

    fn note(&self, message: &str) {
        match self.bar.get() {
            Some(bar) if !bar.is_hidden() => bar.println(message),
            _ if !self.quiet => eprintln!("{message}"),
            _ => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
