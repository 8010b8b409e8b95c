//! The end of a run: rendering the kept records into each split's file, `rejected.jsonl`,
//! `violations.jsonl` for a failed run, and publishing the outputs as a set.
//!
//! Everything is written into a staging folder inside `out_dir` first, then renamed into
//! place, `manifest.json` last. The manifest is the commit record: until it is replaced, the
//! previous manifest still lists the previous files' hashes, so a reader that checks them (as
//! `train local` does) sees a half-published set as a mismatch instead of silently mixing two
//! runs. A killed run's staging folder is removed by the next run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{Value, json};

use super::Progress;
use super::spill::KeptSet;
use super::steps::{Dropped, Sources};
use crate::manifest::OutputFile;
use crate::parquet::ParquetFile;
use crate::record::Record;
use crate::settings::{OutputFormat, PrepareSettings};
use crate::targets::{Split, Target};
use crate::write::{AtomicFile, Written, write_atomic};
use crate::{Error, Result};

/// Test hook, in debug builds only: with `TUNEBENCH_TEST_ABORT_AT=<point>` the process aborts
/// at that point (no destructors run, as after SIGKILL), so tests can check what a killed run
/// leaves behind. Points: `read` (nothing written yet), `staging` (one file staged),
/// `publishing` (one file renamed into place), `committing` (all but the manifest in place).
pub(super) fn abort_point(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var_os("TUNEBENCH_TEST_ABORT_AT").is_some_and(|v| v == point) {
        eprintln!("TUNEBENCH_TEST_ABORT_AT={point}: aborting");
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

/// Prefix of the staging folder inside `out_dir`; the writer's process id follows. While one
/// exists, a `prepare` is writing the folder or was killed doing so.
pub const STAGING_PREFIX: &str = ".staging-";

/// A folder inside `out_dir` where a run's outputs are written before they are published.
/// Dropped unpublished (an error), it is removed; left by a killed run, the next run removes it.
pub(super) struct Staging {
    pub(super) dir: PathBuf,
    out_dir: PathBuf,
}

impl Staging {
    pub(super) fn create(out_dir: &Path) -> Result<Self> {
        let dir = out_dir.join(format!("{STAGING_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging {
            dir,
            out_dir: out_dir.into(),
        })
    }

    /// Renames `files` from the staging folder into `out_dir`, then `manifest.json`: the set
    /// is committed when the manifest lands.
    pub(super) fn publish(self, files: &[String]) -> Result<()> {
        let manifest = "manifest.json".to_string();
        for (i, name) in files.iter().chain([&manifest]).enumerate() {
            if *name == manifest {
                abort_point("committing");
            }
            let (from, to) = (self.dir.join(name), self.out_dir.join(name));
            std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
            if i == 0 {
                abort_point("publishing");
            }
        }
        // The renames are durable once the folder's entries are (best effort: not every
        // platform can sync a folder).
        if let Ok(d) = std::fs::File::open(&self.out_dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes what an earlier run may have left: the staging folder and temporary files of a
/// killed run, and the violation list of a failed one. A staging folder whose process still
/// runs (another `prepare` on the same folder) is left alone.
pub(super) fn remove_leftovers(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if let Some(pid) = name.strip_prefix(STAGING_PREFIX) {
            let running =
                pid != std::process::id().to_string() && Path::new("/proc").join(pid).exists();
            if !running {
                std::fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        } else if tunebench_core::fs::is_temp_name(&name)
            // the temporary files of versions before tunebench-core: `.<name>.<pid>.tmp`
            || (name.starts_with('.') && name.ends_with(".tmp"))
            || name == "violations.jsonl"
        {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}

/// Records rendered at a time when the splits are written (in parallel within a batch).
const WRITE_BATCH: usize = 8_192;

/// Reads the kept records back in input order, renders each into its split's file in the
/// staging folder (adding the names to `staged`), then checks the target's file rules (size,
/// record count): a broken one fails the run before anything is published.
pub(super) fn write_splits(
    settings: &PrepareSettings,
    staging: &Staging,
    kept: &KeptSet,
    splits: &[Split],
    progress: &dyn Progress,
    staged: &mut Vec<String>,
) -> Result<BTreeMap<String, OutputFile>> {
    let target = settings.target;
    let ext = extension(settings.output_format);
    let order = [Split::Train, Split::Validation, Split::Test];
    let mut writers = order
        .iter()
        .map(|s| {
            SplitWriter::create(
                &staging.dir.join(format!("{}.{ext}", s.name())),
                settings.output_format,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let slot = |s: Split| order.iter().position(|o| *o == s).unwrap_or(0);
    progress.start("write", kept.len() as u64);
    let mut records = kept.records()?;
    let mut done = 0;
    loop {
        let batch: Vec<Record> = records.by_ref().take(WRITE_BATCH).collect::<Result<_>>()?;
        if batch.is_empty() {
            break;
        }
        let in_split = &splits[done..done + batch.len()];
        done += batch.len();
        match settings.output_format {
            OutputFormat::Jsonl => {
                let lines: Vec<Result<Vec<u8>>> =
                    batch.par_iter().map(|r| render_jsonl(target, r)).collect();
                for (line, s) in lines.into_iter().zip(in_split) {
                    writers[slot(*s)].write_line(&line?)?;
                }
            }
            OutputFormat::Parquet => {
                for (r, s) in batch.into_iter().zip(in_split) {
                    writers[slot(*s)].push_record(r)?;
                }
            }
        }
        progress.advance(in_split.len() as u64);
    }
    progress.finish();
    let mut files = BTreeMap::new();
    let mut violations = Vec::new();
    for (s, w) in order.into_iter().zip(writers) {
        let (name, n) = (format!("{}.{ext}", s.name()), w.records());
        let written = w.finish()?;
        abort_point("staging");
        violations.extend(
            target
                .check_split(s, n, written.bytes)
                .into_iter()
                .map(move |v| format!("{}: {}: {}", s.name(), v.rule, v.message)),
        );
        staged.push(name.clone());
        files.insert(
            s.name().to_string(),
            OutputFile {
                file: name,
                records: n,
                bytes: written.bytes,
                sha256: written.sha256,
            },
        );
    }
    if !violations.is_empty() {
        write_violations(&settings.out_dir, &violations)?;
        return Err(Error::TargetRules {
            target: target.to_string(),
            count: violations.len(),
            listing: listing(violations.into_iter()),
        });
    }
    Ok(files)
}

/// One split's file as it is written.
enum SplitWriter {
    Jsonl { file: AtomicFile, records: usize },
    Parquet(Box<ParquetFile>),
}

impl SplitWriter {
    fn create(path: &Path, format: OutputFormat) -> Result<Self> {
        Ok(match format {
            OutputFormat::Jsonl => SplitWriter::Jsonl {
                file: AtomicFile::create(path)?,
                records: 0,
            },
            OutputFormat::Parquet => SplitWriter::Parquet(Box::new(ParquetFile::create(path)?)),
        })
    }

    fn write_line(&mut self, line: &[u8]) -> Result<()> {
        if let SplitWriter::Jsonl { file, records } = self {
            *records += 1;
            file.write(line)?;
        }
        Ok(())
    }

    fn push_record(&mut self, r: Record) -> Result<()> {
        if let SplitWriter::Parquet(p) = self {
            p.push(r)?;
        }
        Ok(())
    }

    fn records(&self) -> usize {
        match self {
            SplitWriter::Jsonl { records, .. } => *records,
            SplitWriter::Parquet(p) => p.records(),
        }
    }

    fn finish(self) -> Result<Written> {
        match self {
            SplitWriter::Jsonl { file, .. } => file.commit(),
            SplitWriter::Parquet(p) => p.finish(),
        }
    }
}

/// The split files' extension.
pub(super) fn extension(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Jsonl => "jsonl",
        OutputFormat::Parquet => "parquet",
    }
}

/// One record as its target's JSONL line.
fn render_jsonl(target: Target, record: &Record) -> Result<Vec<u8>> {
    let v = target.render(record).map_err(|v| Error::TargetRules {
        target: target.to_string(),
        count: 1,
        listing: format!("{}: {}", v.rule, v.message),
    })?;
    let mut b = serde_json::to_vec(&v)?;
    b.push(b'\n');
    Ok(b)
}

/// `rejected.jsonl`, written as the chunks are dropped from, with counts by category.
pub(super) struct RejectedFile {
    file: AtomicFile,
    records: usize,
    by_category: BTreeMap<&'static str, usize>,
    /// `file:line: reason` of the unreadable rows, kept when they fail the run.
    unreadable: Option<Vec<String>>,
}

impl RejectedFile {
    /// In `dir`; with `list_unreadable`, the unreadable rows are also listed for the error.
    pub(super) fn create(dir: &Path, list_unreadable: bool) -> Result<Self> {
        Ok(RejectedFile {
            file: AtomicFile::create(&dir.join("rejected.jsonl"))?,
            records: 0,
            by_category: BTreeMap::new(),
            unreadable: list_unreadable.then(Vec::new),
        })
    }

    /// Appends dropped records (in input order, after every earlier one).
    pub(super) fn write(&mut self, dropped: &[Dropped], sources: &Sources) -> Result<()> {
        let lines: Vec<Result<Vec<u8>>> = dropped
            .par_iter()
            .map(|d| {
                let v: Value = json!({
                    "source": sources.at(d.file, d.line),
                    "category": d.category,
                    "reason": d.reason,
                    "record": d.record,
                });
                let mut b = serde_json::to_vec(&v)?;
                b.push(b'\n');
                Ok(b)
            })
            .collect();
        for (d, line) in dropped.iter().zip(lines) {
            if let (Some(list), "unreadable") = (&mut self.unreadable, d.category) {
                list.push(format!("{}: {}", sources.at(d.file, d.line), d.reason));
            }
            self.file.write(&line?)?;
            *self.by_category.entry(d.category).or_default() += 1;
        }
        self.records += dropped.len();
        Ok(())
    }

    /// The unreadable rows listed so far (none unless asked for at creation).
    pub(super) fn unreadable(&self) -> &[String] {
        self.unreadable.as_deref().unwrap_or_default()
    }

    /// Closes the file; returns its description and the dropped records by category.
    pub(super) fn commit(self) -> Result<(OutputFile, BTreeMap<&'static str, usize>)> {
        let w = self.file.commit()?;
        let file = OutputFile {
            file: "rejected.jsonl".into(),
            records: self.records,
            bytes: w.bytes,
            sha256: w.sha256,
        };
        Ok((file, self.by_category))
    }
}

/// The lines of a written `rejected.jsonl` as `file:line: category: reason`.
pub(super) fn read_rejected(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = Vec::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line)?;
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        lines.push(format!(
            "{}: {}: {}",
            field("source"),
            field("category"),
            field("reason")
        ));
    }
    Ok(lines)
}

pub(super) fn write_violations(dir: &Path, lines: &[String]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut body = String::new();
    for l in lines {
        body.push_str(&serde_json::to_string(&json!({ "violation": l }))?);
        body.push('\n');
    }
    write_atomic(&dir.join("violations.jsonl"), body.as_bytes())?;
    Ok(())
}

/// The first 20 lines of a listing, and how many more there are.
pub(super) fn listing(lines: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = lines.collect();
    let mut out: Vec<String> = all.iter().take(20).map(|l| format!("  {l}")).collect();
    if all.len() > 20 {
        out.push(format!(
            "  … and {} more (all in violations.jsonl)",
            all.len() - 20
        ));
    }
    out.join("\n")
}
