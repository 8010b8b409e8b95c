//! Progress bars (indicatif) for the library's long steps; hidden with --quiet, with
//! --json, or when stderr is not a terminal.

use std::io::IsTerminal;
use std::sync::RwLock;

use indicatif::{ProgressBar, ProgressStyle};
use tunebench_datasets::Progress;
use tunebench_eval::runner::RunProgress;

const TEMPLATE: &str =
    "{prefix:>12.cyan.bold} [{bar:30}] {human_pos}/{human_len} ({per_sec}, eta {eta}) {msg}";

/// The bar being drawn, if any, shared by the threads that advance it.
#[derive(Default)]
struct Slot(RwLock<Option<ProgressBar>>);

impl Slot {
    fn set(&self, bar: ProgressBar) {
        if let Ok(mut slot) = self.0.write() {
            *slot = Some(bar);
        }
    }

    fn inc(&self, n: u64) {
        // A read lock: rayon workers advance the bar concurrently without contending.
        if let Ok(slot) = self.0.read()
            && let Some(b) = slot.as_ref()
        {
            b.inc(n);
        }
    }

    fn message(&self, msg: &str) -> bool {
        if let Ok(slot) = self.0.read()
            && let Some(b) = slot.as_ref()
        {
            b.set_message(msg.to_string());
            return true;
        }
        false
    }

    fn clear(&self) {
        if let Ok(mut slot) = self.0.write()
            && let Some(b) = slot.take()
        {
            b.finish_and_clear();
        }
    }
}

/// One bar per step, drawn on stderr.
pub struct Bars {
    enabled: bool,
    quiet: bool,
    slot: Slot,
    last_note: std::sync::Mutex<String>,
}

impl Bars {
    pub fn new(quiet: bool) -> Self {
        Bars {
            enabled: !quiet && std::io::stderr().is_terminal(),
            quiet,
            slot: Slot::default(),
            last_note: std::sync::Mutex::new(String::new()),
        }
    }
}

impl Progress for Bars {
    fn start(&self, step: &str, total: u64) {
        if self.enabled {
            self.slot.set(bar(false, step, total));
        }
    }

    fn advance(&self, n: u64) {
        self.slot.inc(n);
    }

    fn finish(&self) {
        self.slot.clear();
    }
}

/// The eval runner's progress: one "evaluating" bar per candidate run.
impl RunProgress for Bars {
    fn start(&self, total: u64) {
        Progress::start(self, "evaluating", total);
    }

    fn advance(&self, n: u64) {
        Progress::advance(self, n);
    }

    fn finish(&self) {
        Progress::finish(self);
    }

    /// Beside the bar; without one (not a terminal: CI logs), each changed note is a line,
    /// as [`StatusLine`] prints a job's statuses.
    fn note(&self, message: &str) {
        if self.slot.message(message) || self.quiet {
            return;
        }
        let mut last = self.last_note.lock().unwrap_or_else(|p| p.into_inner());
        if *last != message {
            eprintln!("{message}");
            *last = message.to_string();
        }
    }
}

/// A status line for a wait of unknown length (a Bedrock job, a deployment): spinner,
/// elapsed time, the latest status as the message. Hidden like the bars; then
/// [`StatusLine::set`] prints each *changed* status as a plain line instead (for CI logs),
/// unless `quiet`.
pub struct StatusLine {
    bar: Option<ProgressBar>,
    quiet: bool,
    last: String,
}

impl StatusLine {
    pub fn new(quiet: bool, step: &str) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner().with_prefix(step.to_string());
            if let Ok(style) = ProgressStyle::with_template(SPINNER) {
                bar.set_style(style);
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        StatusLine {
            bar,
            quiet,
            last: String::new(),
        }
    }

    pub fn set(&mut self, status: String) {
        if status == self.last {
            return;
        }
        match &self.bar {
            Some(b) => b.set_message(status.clone()),
            None if !self.quiet => eprintln!("{status}"),
            None => {}
        }
        self.last = status;
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

const SPINNER: &str = "{spinner:.cyan} {prefix:.cyan.bold} [{elapsed_precise}] {wide_msg}";

/// A bar for a loop in the binary itself; hidden like the others.
pub fn bar(quiet: bool, step: &str, total: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total).with_prefix(step.to_string());
    if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// A byte bar per file fetched from the Hugging Face Hub.
pub struct DownloadBar {
    quiet: bool,
    slot: Slot,
}

impl DownloadBar {
    pub fn new(quiet: bool) -> Self {
        DownloadBar {
            quiet,
            slot: Slot::default(),
        }
    }
}

const BYTES: &str =
    "{prefix:>12.cyan.bold} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}";

impl tunebench_models::hub::DownloadProgress for DownloadBar {
    fn start(&self, file: &str, total: Option<u64>, done: u64) {
        if self.quiet {
            return;
        }
        if !std::io::stderr().is_terminal() {
            // CI logs: one line a file instead of a bar.
            eprintln!("downloading {file}");
            return;
        }
        let bar = ProgressBar::new(total.unwrap_or(0)).with_prefix("downloading");
        if let Ok(style) = ProgressStyle::with_template(BYTES) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(file.to_owned());
        bar.set_position(done);
        bar.reset_eta();
        self.slot.set(bar);
    }

    fn advance(&self, n: u64) {
        self.slot.inc(n);
    }

    fn finish(&self) {
        self.slot.clear();
    }
}
