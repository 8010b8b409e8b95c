//! `data prepare` as a pipeline of steps (in [`steps`]):
//! read (map, clean) → PII → exact de-dup → near de-dup → token lengths → target rules, chunk
//! by chunk in input order; then over the kept records: split → leakage check → write
//! (atomically, in [`publish`]) → manifest.
//!
//! Every record that does not reach a split is counted and written to `rejected.jsonl` with
//! its source `file:line`, category and reason; the manifest's counts must balance. No output
//! may land on an input: that is refused before any work.

mod publish;
mod steps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::manifest::{Counts, InputFile, Manifest};
use crate::minhash::MinHasher;
use crate::pii::{PiiCounts, PiiKind, PiiScanner};
use crate::read::{self, BadRow, Input, Row};
use crate::settings::{OnError, OutputFormat, PrepareSettings};
use crate::targets::{Split, Target};
use crate::tokens::{LengthStats, TokenCounter};
use crate::{Error, Result};
pub use publish::STAGING_PREFIX;
use publish::{Staging, abort_point, listing, write_violations};
use steps::{Dropped, ExactDedup, Item, NearDedup, Sources};

/// File names `prepare` writes into `out_dir`.
pub(crate) fn output_names(format: OutputFormat) -> Vec<String> {
    let ext = publish::extension(format);
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
    publish::remove_leftovers(&settings.out_dir)?;

    // Read, each chunk of records going through the per-record steps as it is read.
    let started = std::time::Instant::now();
    let sources = Sources::new(&files);
    let mut record_steps = RecordSteps::new(settings, tokenizer.as_ref(), &sources);
    let mut items: Vec<Item> = Vec::new();
    let mut dropped: Vec<Dropped> = Vec::new();
    let ReadAll { inputs, bad } = read_inputs(settings, &files, progress, &mut |chunk| {
        items.extend(record_steps.run(chunk, &mut dropped)?);
        Ok(())
    })?;
    abort_point("read");
    refuse_unreadable(settings, &bad, &sources)?;
    let mut counts = Counts {
        input: inputs.iter().map(|i| i.records).sum(),
        ..Counts::default()
    };
    dropped.extend(bad.into_iter().map(Dropped::from));
    tracing::info!(kept = items.len(), elapsed = ?started.elapsed(), "read and per-record steps");
    // The de-duplication indexes go here (a near-dup index holds a copy of every kept
    // record's signature): only the totals live on.
    let (pii, truncated, violations) = record_steps.finish();
    if !violations.is_empty() {
        write_violations(&settings.out_dir, &violations)?;
        return Err(Error::TargetRules {
            target: settings.target.to_string(),
            count: violations.len(),
            listing: listing(violations.into_iter()),
        });
    }
    counts.truncated = truncated;

    // Over the kept records.
    let mut splits = steps::split(&items, settings);
    let leakage = steps::check_leakage(settings, &items, &mut splits, &sources);
    dropped.sort_by_key(|d| (d.file, d.line));
    if !splits.contains(&Split::Train) {
        return Err(no_train_records(
            settings, &counts, &items, &splits, &dropped, &sources,
        ));
    }

    // Write: render each split and check the target's file rules, stage every file, then
    // publish them with the manifest last.
    let bodies = publish::render_splits(settings, &items, &splits, progress)?;
    let staging = Staging::create(&settings.out_dir)?;
    let mut staged = Vec::new();
    let split_files = publish::stage_splits(&staging, bodies, settings.output_format, &mut staged)?;
    count_dropped(&mut counts, &dropped);
    counts.kept = items.len();
    let rejected = publish::write_rejected(&staging.dir, &dropped, &sources)?;
    staged.push(rejected.file.clone());
    let manifest = Manifest {
        tool: tool_version(),
        config_hash: hash,
        target: settings.target.to_string(),
        inputs: inputs.iter().map(InputFile::from).collect(),
        counts,
        pii: PiiKind::ALL
            .iter()
            .map(|&k| (k.name().to_string(), pii.get(k)))
            .collect(),
        tokens: tokenizer.as_ref().map(|_| {
            let lens: Vec<usize> = items.iter().filter_map(|i| i.tokens).collect();
            LengthStats::of(&lens)
        }),
        splits: split_files,
        labels: label_table(settings, &items, &splits),
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

/// What the read step gives besides the records.
struct ReadAll {
    /// The inputs' descriptions for the manifest.
    inputs: Vec<Input>,
    /// Rows that could not become records.
    bad: Vec<BadRow>,
}

/// Reads every input file, mapping and cleaning each row, and hands the records to
/// `on_rows` in input order, in chunks (see [`read::CHUNK_ROWS`]).
fn read_inputs(
    settings: &PrepareSettings,
    files: &[(String, PathBuf)],
    progress: &dyn Progress,
    on_rows: &mut dyn FnMut(Vec<Row>) -> Result<()>,
) -> Result<ReadAll> {
    progress.start("prepare", files.len() as u64);
    let mut inputs = Vec::new();
    let mut bad = Vec::new();
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
            on_rows,
        )?;
        inputs.push(got.input);
        bad.extend(got.bad);
        progress.advance(1);
    }
    progress.finish();
    Ok(ReadAll { inputs, bad })
}

/// With `on_error = "fail"`, an unreadable row fails the run, listing every one.
fn refuse_unreadable(settings: &PrepareSettings, bad: &[BadRow], sources: &Sources) -> Result<()> {
    if settings.on_error != OnError::Fail {
        return Ok(());
    }
    let lines: Vec<String> = bad
        .iter()
        .filter(|b| b.category == "unreadable")
        .map(|b| format!("{}: {}", sources.at(b.file, b.line), b.reason))
        .collect();
    if lines.is_empty() {
        return Ok(());
    }
    write_violations(&settings.out_dir, &lines)?;
    Err(Error::BadRecords {
        count: lines.len(),
        listing: listing(lines.into_iter()),
    })
}

/// The per-record steps in order, with what they carry from chunk to chunk: the
/// de-duplication indexes, and the PII found, records truncated and target-rule violations
/// so far.
struct RecordSteps<'a> {
    settings: &'a PrepareSettings,
    tokenizer: Option<&'a TokenCounter>,
    sources: &'a Sources,
    scanner: PiiScanner,
    /// Set when near de-dup or the leakage check needs signatures.
    hasher: Option<MinHasher>,
    exact: Option<ExactDedup>,
    near: Option<NearDedup>,
    pii: PiiCounts,
    truncated: usize,
    violations: Vec<String>,
}

impl<'a> RecordSteps<'a> {
    fn new(
        settings: &'a PrepareSettings,
        tokenizer: Option<&'a TokenCounter>,
        sources: &'a Sources,
    ) -> Self {
        let needs_signatures = settings.dedup.near || settings.split.leakage_threshold < 1.0;
        RecordSteps {
            settings,
            tokenizer,
            sources,
            scanner: PiiScanner::new(),
            hasher: needs_signatures
                .then(|| MinHasher::new(settings.dedup.minhash, settings.split.seed)),
            exact: settings.dedup.exact.then(ExactDedup::default),
            near: settings
                .dedup
                .near
                .then(|| NearDedup::new(settings.dedup.minhash)),
            pii: PiiCounts::default(),
            truncated: 0,
            violations: Vec::new(),
        }
    }

    /// The totals: PII found, records truncated, target-rule violations. The rest (the
    /// de-duplication indexes) is dropped.
    fn finish(self) -> (PiiCounts, usize, Vec<String>) {
        (self.pii, self.truncated, self.violations)
    }

    /// One chunk through every per-record step; returns the records kept, in input order.
    fn run(&mut self, chunk: Vec<Row>, dropped: &mut Vec<Dropped>) -> Result<Vec<Item>> {
        let s = self.settings;
        let mut items = steps::redact_pii(chunk, &self.scanner, s.pii, &mut self.pii).keep(dropped);
        if let Some(exact) = &mut self.exact {
            items = exact.apply(items, self.sources).keep(dropped);
        }
        steps::minhash(&mut items, self.hasher.as_ref());
        if let Some(near) = &mut self.near {
            items = near.apply(items, self.sources).keep(dropped);
        }
        if let Some(tok) = self.tokenizer {
            let (stepped, truncated) = steps::count_tokens(items, tok, &s.tokens)?;
            self.truncated += truncated;
            items = stepped.keep(dropped);
        }
        let (stepped, violations) = steps::check_target(items, s.target, s.on_error, self.sources);
        self.violations.extend(violations);
        Ok(stepped.keep(dropped))
    }
}

/// The error for a run that leaves no record in train (a failed run, not a success with
/// nothing in it), with every dropped record listed in `violations.jsonl`.
fn no_train_records(
    settings: &PrepareSettings,
    counts: &Counts,
    items: &[Item],
    splits: &[Split],
    dropped: &[Dropped],
    sources: &Sources,
) -> Error {
    let lines: Vec<String> = dropped
        .iter()
        .map(|d| {
            format!(
                "{}: {}: {}",
                sources.at(d.file, d.line),
                d.category,
                d.reason
            )
        })
        .collect();
    if let Err(e) = write_violations(&settings.out_dir, &lines) {
        return e;
    }
    let in_split = |s: Split| splits.iter().filter(|x| **x == s).count();
    let mut by_category: BTreeMap<&str, usize> = BTreeMap::new();
    for d in dropped {
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
    Error::NoTrainRecords {
        summary,
        listing: if lines.is_empty() {
            String::new()
        } else {
            format!("\n{}", listing(lines.into_iter()))
        },
    }
}

/// Adds each dropped record to its category's count, and the sums.
fn count_dropped(counts: &mut Counts, dropped: &[Dropped]) {
    for d in dropped {
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
}

/// Records per label and split, when the split is stratified.
fn label_table(
    settings: &PrepareSettings,
    items: &[Item],
    splits: &[Split],
) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut t: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    if settings.split.stratify_by.is_some() {
        for (it, s) in items.iter().zip(splits) {
            let l = it.row.label.clone().unwrap_or_default();
            *t.entry(l)
                .or_default()
                .entry(s.name().to_string())
                .or_default() += 1;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-record steps keep and drop the same records, for the same reasons, whether
    /// the rows come in one chunk or in many: the de-duplications carry their state from
    /// chunk to chunk, so a duplicate of a record in an earlier chunk is still found.
    #[test]
    fn record_steps_do_not_depend_on_the_chunk_size() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let raw: crate::RawDataConfig = toml::from_str(
            "inputs = [\"data/banking77/train.csv\"]\nout_dir = \"unused\"\n\
             [mapping]\nprompt = \"{text}\"\ncompletion = \"{category}\"\n\
             [tokens]\ntokenizer = \"fixtures/tiny-llama/model/tokenizer.json\"\nmax_tokens = 24\n\
             over_limit = \"truncate\"\n",
        )
        .unwrap();
        let settings = raw.resolve(&root).unwrap();
        let files = read::expand(&settings.inputs, &[]).unwrap();
        let mut rows = Vec::new();
        read_inputs(&settings, &files, &NoProgress, &mut |chunk| {
            rows.extend(chunk);
            Ok(())
        })
        .unwrap();
        let sources = Sources::new(&files);
        let tok = TokenCounter::load(settings.tokens.tokenizer.as_deref().unwrap()).unwrap();
        let run = |chunk: usize| {
            let mut steps = RecordSteps::new(&settings, Some(&tok), &sources);
            let (mut kept, mut dropped) = (Vec::new(), Vec::new());
            for c in rows.chunks(chunk) {
                kept.extend(steps.run(c.to_vec(), &mut dropped).unwrap());
            }
            let kept: Vec<_> = kept.iter().map(|i| (i.row.line, i.key, i.tokens)).collect();
            // The pipeline lists dropped records in input order; steps add them as they go.
            let mut dropped: Vec<_> = dropped
                .into_iter()
                .map(|d| (d.line, d.category, d.reason))
                .collect();
            dropped.sort();
            (kept, dropped, steps.truncated)
        };
        let whole = run(rows.len());
        for category in ["exact_duplicate", "near_duplicate", "filtered"] {
            assert!(whole.1.iter().any(|d| d.1 == category), "{category}");
        }
        assert!(whole.2 > 0, "some records are truncated");
        let chunked = run(997);
        // Compared piecewise: a failure prints the first difference, not 10,000 records.
        assert_eq!(chunked.2, whole.2);
        assert_eq!(chunked.0.len(), whole.0.len());
        assert_eq!(chunked.1.len(), whole.1.len());
        for (c, w) in chunked.0.iter().zip(&whole.0) {
            assert_eq!(c, w);
        }
        for (c, w) in chunked.1.iter().zip(&whole.1) {
            assert_eq!(c, w);
        }
    }
}
