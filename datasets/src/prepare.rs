//! `data prepare`: the whole preparation as one function, steps in order:
//! read (and clean) → PII → exact and near de-duplication → token lengths → target rules →
//! split → leakage check → write (atomically) → manifest.
//!
//! Every record that does not reach a split is counted and written to `rejected.jsonl` with
//! its source `file:line`, category and reason; the manifest's counts must balance.
//!
//! The outputs are published as a set: everything is written into a staging folder inside
//! `out_dir` first, then renamed into place, `manifest.json` last. The manifest is the commit
//! record: until it is replaced, the previous manifest still lists the previous files' hashes,
//! so a reader that checks them (as `train local` does) sees a half-published set as a
//! mismatch instead of silently mixing two runs. A killed run's staging folder is removed by
//! the next run. No output may land on an input: that is refused before any work.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::manifest::{Counts, InputFile, Leakage, Manifest, OutputFile};
use crate::minhash::{LshIndex, MinHashParams, MinHasher, Signature};
use crate::pii::{PiiCounts, PiiKind, PiiScanner};
use crate::read::{self, BadRow, Input, Row};
use crate::record::Record;
use crate::settings::{
    LeakageAction, OnError, OutputFormat, OverLimit, PiiAction, PrepareSettings,
};
use crate::targets::{Split, Target};
use crate::tokens::{LengthStats, TokenCounter};
use crate::write::{AtomicFile, write_atomic};
use crate::{Error, Result};

/// Test hook, in debug builds only: with `TUNEBENCH_TEST_ABORT_AT=<point>` the process aborts
/// at that point (no destructors run, as after SIGKILL), so tests can check what a killed run
/// leaves behind. Points: `read` (nothing written yet), `staging` (one file staged),
/// `publishing` (one file renamed into place), `committing` (all but the manifest in place).
fn abort_point(point: &str) {
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
struct Staging {
    dir: PathBuf,
    out_dir: PathBuf,
}

impl Staging {
    fn create(out_dir: &Path) -> Result<Self> {
        let dir = out_dir.join(format!("{STAGING_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging {
            dir,
            out_dir: out_dir.into(),
        })
    }

    /// Renames `files` from the staging folder into `out_dir`, then `manifest.json`: the set
    /// is committed when the manifest lands.
    fn publish(self, files: &[String]) -> Result<()> {
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

/// File names `prepare` writes into `out_dir`.
pub(crate) fn output_names(format: OutputFormat) -> Vec<String> {
    let ext = match format {
        OutputFormat::Jsonl => "jsonl",
        OutputFormat::Parquet => "parquet",
    };
    let mut names: Vec<String> = [Split::Train, Split::Validation, Split::Test]
        .iter()
        .map(|s| format!("{}.{ext}", s.name()))
        .collect();
    names.extend(["rejected.jsonl", "manifest.json", "violations.jsonl"].map(String::from));
    names
}

/// Refuses a run whose outputs would land on one of its inputs: an input file that sits in
/// `out_dir` under an output's name would be replaced by the prepared rows, and an input glob
/// that matches an output would read the outputs back in on the next run.
fn check_outputs_are_not_inputs(
    settings: &PrepareSettings,
    files: &[(String, PathBuf)],
) -> Result<()> {
    let outputs: Vec<PathBuf> = output_names(settings.output_format)
        .iter()
        .map(|n| settings.out_dir.join(n))
        .collect();
    let inputs: Vec<(&str, &Path)> = files
        .iter()
        .map(|(_, path)| ("the input", path.as_path()))
        .collect();
    for out in &outputs {
        tunebench_core::refuse_overlap(("the output", out), &inputs)?;
    }
    let literal_separator = glob::MatchOptions {
        require_literal_separator: true,
        ..glob::MatchOptions::new()
    };
    for p in settings.inputs.iter().filter(|p| !p.starts_with("s3://")) {
        let Ok(pattern) = glob::Pattern::new(p) else {
            continue;
        };
        if let Some(out) = outputs
            .iter()
            .find(|o| pattern.matches_path_with(o, literal_separator))
        {
            return Err(Error::OutputIsInput {
                input: p.clone(),
                output: out.display().to_string(),
                how: "is matched by",
            });
        }
    }
    Ok(())
}

/// Receives progress of the long steps (the CLI draws bars with it).
pub trait Progress: Sync {
    /// A step starts; `total` records, when known.
    fn start(&self, step: &str, total: u64);
    /// `n` more records done.
    fn advance(&self, n: u64);
    /// The step is done.
    fn finish(&self);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// Result of [`prepare`].
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The manifest as written.
    pub manifest: Manifest,
    /// Output folder.
    pub out_dir: PathBuf,
    /// True when the outputs were already up to date and nothing was redone.
    pub reused: bool,
}

/// A record that leaves the pipeline, with why.
struct Dropped {
    file: u32,
    line: u32,
    category: &'static str,
    reason: String,
    record: Option<Record>,
}

/// A record still in the pipeline.
struct Item {
    row: Row,
    key: [u8; 16],
    tokens: Option<usize>,
    /// MinHash of the content, when near-duplicate search or the leakage check needs it.
    signature: Option<Signature>,
}

const SEP: u8 = 0x1f;

/// Hash of a cleaned record: equal records, equal keys.
fn record_key(r: &Record) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(match r {
        Record::Completion { .. } => b"c",
        Record::Chat { .. } => b"m",
        Record::Text { .. } => b"t",
    });
    for t in r.texts() {
        h.update([SEP]);
        h.update(t.as_bytes());
    }
    let d = h.finalize();
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

fn tool_version() -> String {
    format!("tunebench-datasets {}", env!("CARGO_PKG_VERSION"))
}

/// sha256 of the resolved settings.
pub fn config_hash(settings: &PrepareSettings) -> Result<String> {
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(settings)?)))
}

/// The existing manifest, if the outputs in `out_dir` came from these settings and inputs
/// and are intact: then there is nothing to redo.
fn up_to_date(
    settings: &PrepareSettings,
    files: &[(String, PathBuf)],
    hash: &str,
) -> Option<Manifest> {
    let text = std::fs::read(settings.out_dir.join("manifest.json")).ok()?;
    let m: Manifest = serde_json::from_slice(&text).ok()?;
    if m.config_hash != hash || m.tool != tool_version() || m.inputs.len() != files.len() {
        return None;
    }
    for (rec, (name, path)) in m.inputs.iter().zip(files) {
        if &rec.name != name || tunebench_core::fs::sha256_file(path).ok()? != rec.sha256 {
            return None;
        }
    }
    for out in m.splits.values().chain([&m.rejected]) {
        if tunebench_core::fs::sha256_file(&settings.out_dir.join(&out.file)).ok()? != out.sha256 {
            return None;
        }
    }
    Some(m)
}

/// Prepares the data set. `fetched` maps `s3://` inputs to local copies (see
/// [`crate::fetch_inputs`]). With `force`, up-to-date outputs are rebuilt anyway.
pub fn prepare(
    settings: &PrepareSettings,
    fetched: &[(String, PathBuf)],
    force: bool,
    progress: &dyn Progress,
) -> Result<Prepared> {
    let files = read::expand(&settings.inputs, fetched)?;
    check_outputs_are_not_inputs(settings, &files)?;
    let hash = config_hash(settings)?;
    if !force && let Some(manifest) = up_to_date(settings, &files, &hash) {
        return Ok(Prepared {
            manifest,
            out_dir: settings.out_dir.clone(),
            reused: true,
        });
    }
    if settings.output_format == OutputFormat::Parquet && settings.target != Target::Local {
        return Err(Error::Config(format!(
            "data.output_format = \"parquet\" is only for the local target; {} takes JSONL",
            settings.target
        )));
    }
    let tokenizer = settings
        .tokens
        .tokenizer
        .as_deref()
        .map(TokenCounter::load)
        .transpose()?;

    remove_leftovers(&settings.out_dir)?;

    // Read.
    let started = std::time::Instant::now();
    progress.start("read", files.len() as u64);
    let mut inputs: Vec<Input> = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut bad: Vec<BadRow> = Vec::new();
    for (i, (name, path)) in files.iter().enumerate() {
        let format = read::format_of(name, settings.format)?;
        let got = read::read_file(
            i as u32,
            name,
            path,
            format,
            &settings.mapping,
            settings.split.stratify_by.as_deref(),
            settings.max_record_bytes,
        )?;
        inputs.push(got.input);
        rows.extend(got.rows);
        bad.extend(got.bad);
        progress.advance(1);
    }
    progress.finish();
    tracing::info!(files = files.len(), records = rows.len(), bad = bad.len(), elapsed = ?started.elapsed(), "read");
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    let at = |file: u32, line: u32| format!("{}:{line}", names[file as usize]);
    abort_point("read");
    let unreadable: Vec<&BadRow> = bad.iter().filter(|b| b.category == "unreadable").collect();
    if settings.on_error == OnError::Fail && !unreadable.is_empty() {
        let lines: Vec<String> = unreadable
            .iter()
            .map(|b| format!("{}: {}", at(b.file, b.line), b.reason))
            .collect();
        write_violations(&settings.out_dir, &lines)?;
        return Err(Error::BadRecords {
            count: lines.len(),
            listing: listing(lines.into_iter()),
        });
    }
    let mut counts = Counts {
        input: rows.len() + bad.len(),
        ..Counts::default()
    };
    let mut dropped: Vec<Dropped> = bad
        .into_iter()
        .map(|b| Dropped {
            file: b.file,
            line: b.line,
            category: b.category,
            reason: b.reason,
            record: None,
        })
        .collect();

    // Scan for PII, in parallel (values were cleaned when read).
    progress.start("PII", rows.len() as u64);
    let scanner = PiiScanner::new();
    let pii_action = settings.pii;
    let scanned: Vec<(Row, PiiCounts)> = rows
        .into_par_iter()
        .map(|mut row| {
            let mut found = PiiCounts::default();
            for t in row.record.texts_mut() {
                let (redacted, c) = scanner.redact(t);
                if !c.is_empty() {
                    found.add(&c);
                    if pii_action != PiiAction::Off {
                        *t = redacted.into_owned();
                    }
                }
            }
            progress.advance(1);
            (row, found)
        })
        .collect();
    progress.finish();
    let mut pii_total = PiiCounts::default();
    let mut items: Vec<Item> = Vec::with_capacity(scanned.len());
    for (row, found) in scanned {
        pii_total.add(&found);
        if pii_action == PiiAction::Reject && !found.is_empty() {
            let kinds: Vec<&str> = found
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(k, _)| k.name())
                .collect();
            dropped.push(Dropped {
                file: row.file,
                line: row.line,
                category: "pii",
                reason: format!("contains PII: {} (redacted here)", kinds.join(", ")),
                record: Some(row.record),
            });
        } else {
            items.push(Item {
                key: record_key(&row.record),
                row,
                tokens: None,
                signature: None,
            });
        }
    }

    tracing::info!(kept = items.len(), elapsed = ?started.elapsed(), "PII scan");

    // Exact duplicates: the first occurrence stays.
    if settings.dedup.exact {
        let mut seen: HashMap<[u8; 16], (u32, u32)> = HashMap::with_capacity(items.len());
        let mut kept = Vec::with_capacity(items.len());
        for it in items {
            match seen.get(&it.key) {
                Some(&(f, l)) => dropped.push(Dropped {
                    file: it.row.file,
                    line: it.row.line,
                    category: "exact_duplicate",
                    reason: format!("exact duplicate of {}", at(f, l)),
                    record: Some(it.row.record),
                }),
                None => {
                    seen.insert(it.key, (it.row.file, it.row.line));
                    kept.push(it);
                }
            }
        }
        items = kept;
    }

    // Near duplicates: signatures in parallel, the index in input order.
    let needs_signatures = settings.dedup.near || settings.split.leakage_threshold < 1.0;
    let hasher = MinHasher::new(settings.dedup.minhash, settings.split.seed);
    if needs_signatures {
        progress.start("MinHash", items.len() as u64);
        items.par_iter_mut().for_each(|it| {
            it.signature = Some(hasher.signature(&it.row.content));
            progress.advance(1);
        });
        progress.finish();
    }
    if settings.dedup.near {
        let mut index = LshIndex::new(settings.dedup.minhash);
        let mut kept = Vec::with_capacity(items.len());
        let mut origin: Vec<(u32, u32)> = Vec::new();
        for it in items {
            let Some(sig) = &it.signature else {
                kept.push(it);
                continue;
            };
            match index.query(sig) {
                Some((id, j)) => {
                    let (f, l) = origin[id];
                    dropped.push(Dropped {
                        file: it.row.file,
                        line: it.row.line,
                        category: "near_duplicate",
                        reason: format!("near duplicate (Jaccard ≈ {j:.2}) of {}", at(f, l)),
                        record: Some(it.row.record),
                    })
                }
                None => {
                    index.insert(origin.len(), sig);
                    origin.push((it.row.file, it.row.line));
                    kept.push(it);
                }
            }
        }
        items = kept;
    }

    tracing::info!(kept = items.len(), elapsed = ?started.elapsed(), "de-duplication");

    // Token lengths: filter or truncate over the limit.
    if let Some(tok) = &tokenizer {
        progress.start("tokens", items.len() as u64);
        let mut all = Vec::with_capacity(items.len());
        for chunk in items.chunks(8192) {
            let refs: Vec<&Record> = chunk.iter().map(|i| &i.row.record).collect();
            all.extend(tok.count(&refs)?);
            progress.advance(chunk.len() as u64);
        }
        progress.finish();
        let mut kept = Vec::with_capacity(items.len());
        for (mut it, n) in items.into_iter().zip(all) {
            let mut n = Some(n);
            if let (Some(max), Some(len)) = (settings.tokens.max_tokens, n)
                && len > max
            {
                n = match settings.tokens.over_limit {
                    OverLimit::Filter => None,
                    OverLimit::Truncate => tok.truncate(&mut it.row.record, len, max)?,
                };
                match n {
                    None => {
                        dropped.push(Dropped {
                            file: it.row.file,
                            line: it.row.line,
                            category: "filtered",
                            reason: format!("{len} tokens, over the limit of {max}"),
                            record: Some(it.row.record),
                        });
                        continue;
                    }
                    Some(_) => {
                        counts.truncated += 1;
                        it.key = record_key(&it.row.record);
                    }
                }
            }
            it.tokens = n;
            kept.push(it);
        }
        items = kept;
    }

    tracing::info!(kept = items.len(), elapsed = ?started.elapsed(), "token lengths");

    // Target rules per record.
    let target = settings.target;
    let violations: Vec<(usize, Vec<crate::targets::Violation>)> = items
        .par_iter()
        .enumerate()
        .map(|(i, it)| (i, target.check_record(&it.row.record, it.tokens)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if !violations.is_empty() {
        let lines: Vec<String> = violations
            .iter()
            .flat_map(|(i, vs)| {
                let loc = at(items[*i].row.file, items[*i].row.line);
                vs.iter()
                    .map(move |v| format!("{loc}: {}: {}", v.rule, v.message))
            })
            .collect();
        if settings.on_error == OnError::Fail {
            write_violations(&settings.out_dir, &lines)?;
            return Err(Error::TargetRules {
                target: target.to_string(),
                count: lines.len(),
                listing: listing(lines.iter().cloned()),
            });
        }
        let mut reasons: Vec<Option<String>> = vec![None; items.len()];
        for (i, vs) in violations {
            let text: Vec<String> = vs
                .iter()
                .map(|v| format!("{}: {}", v.rule, v.message))
                .collect();
            reasons[i] = Some(text.join("; "));
        }
        let mut kept = Vec::with_capacity(items.len());
        for (it, reason) in items.into_iter().zip(reasons) {
            match reason {
                Some(reason) => dropped.push(Dropped {
                    file: it.row.file,
                    line: it.row.line,
                    category: "invalid_for_target",
                    reason,
                    record: Some(it.row.record),
                }),
                None => kept.push(it),
            }
        }
        items = kept;
    }

    // Split by a seeded hash of the content.
    let split_keys: Vec<u64> = items
        .par_iter()
        .map(|it| {
            let mut h = Sha256::new();
            h.update(settings.split.seed.to_le_bytes());
            h.update(it.key);
            let d = h.finalize();
            u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
        })
        .collect();
    let mut splits: Vec<Split> = match &settings.split.stratify_by {
        Some(_) => {
            let labelled: Vec<(Option<&str>, u64)> = items
                .iter()
                .zip(&split_keys)
                .map(|(it, &k)| (it.row.label.as_deref(), k))
                .collect();
            crate::split::assign_stratified(
                &labelled,
                settings.split.validation,
                settings.split.test,
            )
        }
        None => split_keys
            .iter()
            .map(|&k| crate::split::assign(k, settings.split.validation, settings.split.test))
            .collect(),
    };

    // Leakage: no validation/test record may repeat a train record.
    let leakage = check_leakage(settings, &items, &mut splits, &at);

    // An empty train split is a failed run, not a success with nothing in it.
    if !splits.contains(&Split::Train) {
        dropped.sort_by_key(|d| (d.file, d.line));
        let lines: Vec<String> = dropped
            .iter()
            .map(|d| format!("{}: {}: {}", at(d.file, d.line), d.category, d.reason))
            .collect();
        write_violations(&settings.out_dir, &lines)?;
        let in_split = |s: Split| splits.iter().filter(|x| **x == s).count();
        let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &dropped {
            *by_category.entry(d.category).or_default() += 1;
        }
        let dropped_text: Vec<String> = by_category
            .iter()
            .map(|(c, n)| format!("{n} {c}"))
            .collect();
        let summary = format!(
            "{} record(s) in, {} kept (validation {}, test {}), dropped: {}",
            counts.input,
            items.len(),
            in_split(Split::Validation),
            in_split(Split::Test),
            if dropped_text.is_empty() {
                "none".to_string()
            } else {
                dropped_text.join(", ")
            }
        );
        return Err(Error::NoTrainRecords {
            summary,
            listing: if lines.is_empty() {
                String::new()
            } else {
                format!("\n{}", listing(lines.into_iter()))
            },
        });
    }

    // Render each split into memory, check the target's file rules, then write.
    progress.start("write", items.len() as u64);
    let mut rendered: BTreeMap<Split, Vec<&Item>> = BTreeMap::new();
    for s in [Split::Train, Split::Validation, Split::Test] {
        rendered.insert(s, Vec::new());
    }
    for (it, s) in items.iter().zip(&splits) {
        rendered.entry(*s).or_default().push(it);
    }
    let mut file_bodies: Vec<(Split, Vec<u8>, usize)> = Vec::new();
    for (s, members) in &rendered {
        let body = match settings.output_format {
            OutputFormat::Jsonl => render_jsonl(target, members)?,
            OutputFormat::Parquet => {
                crate::parquet::records_to_parquet(members.iter().map(|i| &i.row.record))?
            }
        };
        progress.advance(members.len() as u64);
        file_bodies.push((*s, body, members.len()));
    }
    progress.finish();
    let split_violations: Vec<String> = file_bodies
        .iter()
        .flat_map(|(s, body, n)| {
            target
                .check_split(*s, *n, body.len() as u64)
                .into_iter()
                .map(move |v| format!("{}: {}: {}", s.name(), v.rule, v.message))
        })
        .collect();
    if !split_violations.is_empty() {
        write_violations(&settings.out_dir, &split_violations)?;
        return Err(Error::TargetRules {
            target: target.to_string(),
            count: split_violations.len(),
            listing: listing(split_violations.into_iter()),
        });
    }
    let ext = match settings.output_format {
        OutputFormat::Jsonl => "jsonl",
        OutputFormat::Parquet => "parquet",
    };
    let staging = Staging::create(&settings.out_dir)?;
    let mut split_files = BTreeMap::new();
    let mut staged = Vec::new();
    for (s, body, n) in file_bodies {
        let name = format!("{}.{ext}", s.name());
        let w = write_atomic(&staging.dir.join(&name), &body)?;
        abort_point("staging");
        staged.push(name.clone());
        split_files.insert(
            s.name().to_string(),
            OutputFile {
                file: name,
                records: n,
                bytes: w.bytes,
                sha256: w.sha256,
            },
        );
    }

    // Account for every dropped record and write rejected.jsonl.
    dropped.sort_by_key(|d| (d.file, d.line));
    for d in &dropped {
        match d.category {
            "unreadable" => counts.unreadable += 1,
            "empty" => counts.empty += 1,
            "too_large" => counts.too_large += 1,
            "pii" => counts.pii_rejected += 1,
            "invalid_for_target" => counts.invalid_for_target += 1,
            "exact_duplicate" => counts.exact_duplicates += 1,
            "near_duplicate" => counts.near_duplicates += 1,
            "filtered" => counts.filtered += 1,
            _ => {}
        }
    }
    counts.rejected = counts.unreadable
        + counts.empty
        + counts.too_large
        + counts.pii_rejected
        + counts.invalid_for_target;
    counts.duplicates = counts.exact_duplicates + counts.near_duplicates;
    counts.kept = items.len();
    let rejected = write_rejected(&staging.dir, &dropped, &at)?;
    staged.push(rejected.file.clone());

    let labels = match &settings.split.stratify_by {
        Some(_) => {
            let mut t: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
            for (it, s) in items.iter().zip(&splits) {
                let l = it.row.label.clone().unwrap_or_default();
                *t.entry(l)
                    .or_default()
                    .entry(s.name().to_string())
                    .or_default() += 1;
            }
            t
        }
        None => BTreeMap::new(),
    };
    let tokens = tokenizer.as_ref().map(|_| {
        let lens: Vec<usize> = items.iter().filter_map(|i| i.tokens).collect();
        LengthStats::of(&lens)
    });
    let manifest = Manifest {
        tool: tool_version(),
        config_hash: hash,
        target: target.to_string(),
        inputs: inputs.iter().map(InputFile::from).collect(),
        counts,
        pii: PiiKind::ALL
            .iter()
            .map(|&k| (k.name().to_string(), pii_total.get(k)))
            .collect(),
        tokens,
        splits: split_files,
        labels,
        rejected,
        leakage,
        uploaded: Vec::new(),
    };
    tracing::info!(kept = items.len(), elapsed = ?started.elapsed(), "written");
    debug_assert!(manifest.counts.balanced(), "{:?}", manifest.counts);
    crate::write_manifest(&staging.dir, &manifest)?;
    staging.publish(&staged)?;
    Ok(Prepared {
        manifest,
        out_dir: settings.out_dir.clone(),
        reused: false,
    })
}

/// Removes what an earlier run may have left: the staging folder and temporary files of a
/// killed run, and the violation list of a failed one. A staging folder whose process still
/// runs (another `prepare` on the same folder) is left alone.
fn remove_leftovers(dir: &Path) -> Result<()> {
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

fn check_leakage(
    settings: &PrepareSettings,
    items: &[Item],
    splits: &mut [Split],
    at: &dyn Fn(u32, u32) -> String,
) -> Leakage {
    let threshold = settings.split.leakage_threshold;
    let train_keys: HashSet<[u8; 16]> = items
        .iter()
        .zip(splits.iter())
        .filter(|(_, s)| **s == Split::Train)
        .map(|(i, _)| i.key)
        .collect();
    let params = MinHashParams {
        threshold,
        ..settings.dedup.minhash
    };
    let mut index = LshIndex::new(params);
    // Threshold 0 would match everything: only exact copies count then.
    let near = |i: usize| items[i].signature.as_ref().filter(|_| threshold > 0.0);
    for (i, s) in splits.iter().enumerate() {
        if let (Split::Train, Some(sig)) = (s, near(i)) {
            index.insert(i, sig);
        }
    }
    let mut leak = Leakage {
        threshold,
        ..Leakage::default()
    };
    for i in 0..items.len() {
        if splits[i] == Split::Train {
            continue;
        }
        let leaked = train_keys.contains(&items[i].key)
            || near(i).is_some_and(|sig| index.query(sig).is_some());
        if leaked {
            match settings.split.leakage {
                LeakageAction::Move => {
                    splits[i] = Split::Train;
                    leak.moved += 1;
                }
                LeakageAction::Report => {
                    leak.reported.push(at(items[i].row.file, items[i].row.line))
                }
            }
        }
    }
    leak
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

fn write_rejected(
    dir: &Path,
    dropped: &[Dropped],
    at: &dyn Fn(u32, u32) -> String,
) -> Result<OutputFile> {
    let mut f = AtomicFile::create(&dir.join("rejected.jsonl"))?;
    for d in dropped {
        let v: Value = json!({
            "source": at(d.file, d.line),
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

fn write_violations(dir: &Path, lines: &[String]) -> Result<()> {
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
fn listing(lines: impl Iterator<Item = String>) -> String {
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
