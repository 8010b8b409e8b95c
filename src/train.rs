//! `tunebench train local`: merge flags into `[train.local]`, train with a progress bar,
//! checkpoint on Ctrl-C, and print a summary (or JSON).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use indicatif::ProgressBar;
use tunebench_train::metrics::Row;
use tunebench_train::{Progress, RunOptions, Status, train_local};

use crate::cli::{Global, TrainLocalArgs};
use crate::config::{self, ConfigError};
use crate::progress;

/// Training stopped by Ctrl-C after writing a checkpoint (exit code 130).
#[derive(Debug, thiserror::Error)]
#[error("interrupted after step {0}; the checkpoint is saved: rerun with --resume to continue")]
pub struct Interrupted(pub usize);

pub fn local(global: &Global, args: &TrainLocalArgs) -> anyhow::Result<()> {
    let (file, base) = config::load(&args.config)?;
    let mut raw = file.train.and_then(|t| t.local).ok_or_else(|| {
        ConfigError(format!(
            "{}: no [train.local] section",
            args.config.display()
        ))
    })?;
    let cwd = std::env::current_dir().context("reading the working directory")?;
    if let Some(out) = &args.out {
        raw.out_dir = cwd.join(out);
    }
    if let Some(n) = args.max_steps {
        raw.max_steps = Some(n);
    }
    if let Some(d) = &args.device {
        raw.device = d.clone();
    }
    let settings = raw.resolve(&base)?;
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }

    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))
        .context("installing the Ctrl-C handler")?;
    let bar = TrainBar::new(global.quiet || global.json);
    let summary = train_local(
        &settings,
        &RunOptions {
            resume: args.resume,
            stop: &stop,
        },
        &bar,
    )?;
    if summary.status == Status::Interrupted {
        return Err(Interrupted(summary.steps).into());
    }
    if global.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !global.quiet {
        let loss = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
        println!(
            "{}: {} steps ({:.2} epochs, {} tokens) in {:.1} s; train loss {}, validation loss {} (best {} at step {})",
            match summary.status {
                Status::EarlyStopped => "stopped early",
                _ => "trained",
            },
            summary.steps,
            summary.epochs,
            summary.tokens_seen,
            summary.wall_time_s,
            loss(summary.final_train_loss),
            loss(summary.final_val_loss),
            loss(summary.best_val_loss),
            summary
                .best_step
                .map_or_else(|| "-".to_string(), |s| s.to_string()),
        );
        println!("outputs in {}", settings.out_dir.display());
    }
    Ok(())
}

/// A bar over optimizer steps showing loss, tokens/s and ETA.
struct TrainBar {
    quiet: bool,
    bar: std::sync::OnceLock<ProgressBar>,
}

impl TrainBar {
    fn new(quiet: bool) -> Self {
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
