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
use super::steps::{Dropped, Item, Sources};
use crate::manifest::OutputFile;
use crate::settings::{OutputFormat, PrepareSettings};
use crate::targets::{Split, Target};
use crate::write::{AtomicFile, write_atomic};
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

/// Each split's file rendered into memory, with its record count, in split order; a broken
/// file rule of the target (size, record count) fails the run before anything is staged.
pub(super) fn render_splits(
    settings: &PrepareSettings,
    items: &[Item],
    splits: &[Split],
    progress: &dyn Progress,
) -> Result<Vec<(Split, Vec<u8>, usize)>> {
    let target = settings.target;
    progress.start("write", items.len() as u64);
    let mut members: BTreeMap<Split, Vec<&Item>> = [Split::Train, Split::Validation, Split::Test]
        .into_iter()
        .map(|s| (s, Vec::new()))
        .collect();
    for (it, s) in items.iter().zip(splits) {
        members.entry(*s).or_default().push(it);
    }
    let mut bodies = Vec::new();
    for (s, members) in &members {
        let body = match settings.output_format {
            OutputFormat::Jsonl => render_jsonl(target, members)?,
            OutputFormat::Parquet => {
                crate::parquet::records_to_parquet(members.iter().map(|i| &i.row.record))?
            }
        };
        progress.advance(members.len() as u64);
        bodies.push((*s, body, members.len()));
    }
    progress.finish();
    let violations: Vec<String> = bodies
        .iter()
        .flat_map(|(s, body, n)| {
            target
                .check_split(*s, *n, body.len() as u64)
                .into_iter()
                .map(move |v| format!("{}: {}: {}", s.name(), v.rule, v.message))
        })
        .collect();
    if !violations.is_empty() {
        write_violations(&settings.out_dir, &violations)?;
        return Err(Error::TargetRules {
            target: target.to_string(),
            count: violations.len(),
            listing: listing(violations.into_iter()),
        });
    }
    Ok(bodies)
}

/// The split files' extension.
pub(super) fn extension(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Jsonl => "jsonl",
        OutputFormat::Parquet => "parquet",
    }
}

/// Writes the rendered splits into the staging folder, adding their names to `staged`.
pub(super) fn stage_splits(
    staging: &Staging,
    bodies: Vec<(Split, Vec<u8>, usize)>,
    format: OutputFormat,
    staged: &mut Vec<String>,
) -> Result<BTreeMap<String, OutputFile>> {
    let ext = extension(format);
    let mut files = BTreeMap::new();
    for (s, body, n) in bodies {
        let name = format!("{}.{ext}", s.name());
        let w = write_atomic(&staging.dir.join(&name), &body)?;
        abort_point("staging");
        staged.push(name.clone());
        files.insert(
            s.name().to_string(),
            OutputFile {
                file: name,
                records: n,
                bytes: w.bytes,
                sha256: w.sha256,
            },
        );
    }
    Ok(files)
}

fn render_jsonl(target: Target, members: &[&Item]) -> Result<Vec<u8>> {
    let lines: Vec<Result<Vec<u8>>> = members
        .par_iter()
        .map(|it| {
            let v = target
                .render(&it.row.record)
                .map_err(|v| Error::TargetRules {
                    target: target.to_string(),
                    count: 1,
                    listing: format!("{}: {}", v.rule, v.message),
                })?;
            let mut b = serde_json::to_vec(&v)?;
            b.push(b'\n');
            Ok(b)
        })
        .collect();
    let mut out = Vec::new();
    for l in lines {
        out.extend(l?);
    }
    Ok(out)
}

pub(super) fn write_rejected(
    dir: &Path,
    dropped: &[Dropped],
    sources: &Sources,
) -> Result<OutputFile> {
    let mut f = AtomicFile::create(&dir.join("rejected.jsonl"))?;
    for d in dropped {
        let v: Value = json!({
            "source": sources.at(d.file, d.line),
            "category": d.category,
            "reason": d.reason,
            "record": d.record,
        });
        let mut b = serde_json::to_vec(&v)?;
        b.push(b'\n');
        f.write(&b)?;
    }
    let w = f.commit()?;
    Ok(OutputFile {
        file: "rejected.jsonl".into(),
        records: dropped.len(),
        bytes: w.bytes,
        sha256: w.sha256,
    })
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
