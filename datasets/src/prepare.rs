//! `data prepare` as a pipeline of steps (in [`steps`]):
//! read (map, clean) → PII → exact de-dup → near de-dup → token lengths → target rules, chunk
//! by chunk in input order, the kept records spilled to disk as they pass (in [`spill`]);
//! then over the kept records: split → leakage check → write (read back from disk and
//! rendered into the staging folder, in [`publish`]) → manifest. What a run holds in memory
//! is bounded by `--memory-limit` (in [`budget`]).
//!
//! Every record that does not reach a split is counted and written to `rejected.jsonl` with
//! its source `file:line`, category and reason; the manifest's counts must balance. No output
//! may land on an input: that is refused before any work.

mod budget;
mod publish;
mod spill;
mod steps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::manifest::{Counts, InputFile, Manifest, OutputFile};
use crate::minhash::MinHasher;
use crate::pii::{PiiCounts, PiiKind, PiiScanner};
use crate::read::{self, Input, Row};
use crate::settings::{OnError, OutputFormat, PrepareSettings};
use crate::targets::{Split, Target};
use crate::tokens::{LengthStats, TokenCounter};
use crate::{Error, Result};
use budget::Budget;
pub use publish::STAGING_PREFIX;
use publish::{RejectedFile, Staging, abort_point, listing, write_violations};
use spill::{KeptRecords, KeptSet, SignatureFile};
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
    let budget = Budget::new(settings.memory_limit);

    // Read, each chunk of records going through the per-record steps as it is read; the
    // records kept go to disk, the ones dropped to rejected.jsonl, both in the staging folder.
    let started = std::time::Instant::now();
    let staging = Staging::create(&settings.out_dir)?;
    let sources = Sources::new(&files);
    let mut record_steps = RecordSteps::new(settings, tokenizer.as_ref(), &sources);
    let signature_width = record_steps
        .hasher
        .as_ref()
        .map(|_| settings.dedup.minhash.num_perm.max(1));
    let mut kept = KeptRecords::create(&staging.dir, signature_width)?;
    let mut rejected = RejectedFile::create(&staging.dir, settings.on_error == OnError::Fail)?;
    let mut read_done = std::time::Instant::now();
    let inputs = read_inputs(settings, &files, &budget, progress, &mut |chunk| {
        record_steps.times.add("read", read_done);
        let mut dropped: Vec<Dropped> = chunk.bad.into_iter().map(Dropped::from).collect();
        let items = record_steps.run(chunk.rows, &mut dropped, kept.signatures.as_mut())?;
        let t = std::time::Instant::now();
        kept.extend(items)?;
        // Every record of a chunk comes before every record of the next one.
        dropped.sort_by_key(|d| (d.file, d.line));
        rejected.write(&dropped, &sources)?;
        read_done = record_steps.times.add("spill", t);
        budget.check_records(&record_steps, &kept)
    })?;
    record_steps.times.add("read", read_done);
    record_steps.times.log();
    abort_point("read");
    refuse_unreadable(settings, rejected.unreadable())?;
    let mut counts = Counts {
        input: inputs.iter().map(|i| i.records).sum(),
        ..Counts::default()
    };
    tracing::info!(kept = kept.kept.len(), elapsed = ?started.elapsed(), "read and per-record steps");
    // The de-duplication indexes go here: only the totals live on.
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
    let kept = kept.finish()?;

    // Over the kept records.
    let mut splits = steps::split(&kept, settings);
    budget.check_leakage(&kept, &splits, settings)?;
    let leakage = steps::check_leakage(settings, &kept, &mut splits, &sources)?;
    let (rejected, by_category) = rejected.commit()?;
    count_dropped(&mut counts, &by_category);
    if !splits.contains(&Split::Train) {
        return Err(no_train_records(
            settings,
            &counts,
            &by_category,
            &kept,
            &splits,
            &staging,
            &rejected,
        ));
    }

    // Write: render each split's records into its file and check the target's file rules,
    // then publish them with the manifest last.
    let mut staged = Vec::new();
    let split_files =
        publish::write_splits(settings, &staging, &kept, &splits, progress, &mut staged)?;
    counts.kept = kept.len();
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
            let lens: Vec<usize> = kept.kept.iter().filter_map(|k| k.tokens()).collect();
            LengthStats::of(&lens)
        }),
        splits: split_files,
        labels: label_table(settings, &kept, &splits),
        rejected,
        leakage,
        uploaded: Vec::new(),
    };
    tracing::info!(kept = kept.len(), elapsed = ?started.elapsed(), "written");
    debug_assert!(manifest.counts.balanced(), "{:?}", manifest.counts);
    crate::write_manifest(&staging.dir, &manifest)?;
    staging.publish(&staged)?;
    Ok(Prepared {
        manifest,
        out_dir: settings.out_dir.clone(),
        reused: false,
    })
}

/// Reads every input file, mapping and cleaning each row, and hands the records to
/// `on_chunk` in input order, a stretch of each file at a time (its size set by `budget`).
/// Returns the inputs' descriptions for the manifest.
fn read_inputs(
    settings: &PrepareSettings,
    files: &[(String, PathBuf)],
    budget: &Budget,
    progress: &dyn Progress,
    on_chunk: &mut dyn FnMut(read::Chunk) -> Result<()>,
) -> Result<Vec<Input>> {
    let reader = read::FileReader {
        mapping: &settings.mapping,
        label: settings.split.stratify_by.as_deref(),
        max_record_bytes: settings.max_record_bytes,
        chunk_bytes: budget.chunk_bytes(),
        max_pending_bytes: budget.max_pending_bytes(),
    };
    progress.start("prepare", files.len() as u64);
    let mut inputs = Vec::new();
    for (i, (name, path)) in files.iter().enumerate() {
        let format = read::format_of(name, settings.format)?;
        inputs.push(reader.read(i as u32, name, path, format, on_chunk)?);
        progress.advance(1);
    }
    progress.finish();
    Ok(inputs)
}

/// With `on_error = "fail"`, an unreadable row fails the run, listing every one
/// (`file:line: reason`).
fn refuse_unreadable(settings: &PrepareSettings, lines: &[String]) -> Result<()> {
    if settings.on_error != OnError::Fail || lines.is_empty() {
        return Ok(());
    }
    write_violations(&settings.out_dir, lines)?;
    Err(Error::BadRecords {
        count: lines.len(),
        listing: listing(lines.iter().cloned()),
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
    /// Time spent in each step so far (logged at the end of the run).
    times: StepTimes,
}

/// Wall time per step, summed over the chunks, in pipeline order: `RUST_LOG=info` shows
/// where a run's time went.
#[derive(Default)]
struct StepTimes(Vec<(&'static str, std::time::Duration)>);

impl StepTimes {
    /// Adds the time since `since` to `step`; returns now, where the next step starts.
    fn add(&mut self, step: &'static str, since: std::time::Instant) -> std::time::Instant {
        let now = std::time::Instant::now();
        match self.0.iter_mut().find(|(s, _)| *s == step) {
            Some((_, t)) => *t += now - since,
            None => self.0.push((step, now - since)),
        }
        now
    }

    fn log(&self) {
        let text: Vec<String> = self
            .0
            .iter()
            .map(|(s, t)| format!("{s} {:.2}s", t.as_secs_f64()))
            .collect();
        tracing::info!("time per step: {}", text.join(", "));
    }
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
            times: StepTimes::default(),
        }
    }

    /// The totals: PII found, records truncated, target-rule violations. The rest (the
    /// de-duplication indexes) is dropped.
    fn finish(self) -> (PiiCounts, usize, Vec<String>) {
        (self.pii, self.truncated, self.violations)
    }

    /// Approximate bytes the de-duplication indexes hold.
    fn memory(&self) -> (usize, usize) {
        (
            self.exact.as_ref().map_or(0, ExactDedup::memory),
            self.near.as_ref().map_or(0, NearDedup::memory),
        )
    }

    /// One chunk through every per-record step; returns the records kept, in input order.
    /// `signatures` stores the near de-duplication index's signatures.
    fn run(
        &mut self,
        chunk: Vec<Row>,
        dropped: &mut Vec<Dropped>,
        signatures: Option<&mut SignatureFile>,
    ) -> Result<Vec<Item>> {
        let s = self.settings;
        let t = std::time::Instant::now();
        let mut items = steps::redact_pii(chunk, &self.scanner, s.pii, &mut self.pii).keep(dropped);
        let t = self.times.add("pii", t);
        if let Some(exact) = &mut self.exact {
            items = exact.apply(items, self.sources).keep(dropped);
        }
        let t = self.times.add("exact de-dup", t);
        steps::minhash(&mut items, self.hasher.as_ref());
        let t = self.times.add("minhash", t);
        if let (Some(near), Some(store)) = (&mut self.near, signatures) {
            items = near.apply(items, self.sources, store)?.keep(dropped);
        }
        let t = self.times.add("near de-dup", t);
        if let Some(tok) = self.tokenizer {
            let (stepped, truncated) = steps::count_tokens(items, tok, &s.tokens)?;
            self.truncated += truncated;
            items = stepped.keep(dropped);
        }
        let t = self.times.add("tokens", t);
        let (stepped, violations) = steps::check_target(items, s.target, s.on_error, self.sources);
        self.violations.extend(violations);
        self.times.add("target rules", t);
        Ok(stepped.keep(dropped))
    }
}

/// The error for a run that leaves no record in train (a failed run, not a success with
/// nothing in it), with every dropped record listed in `violations.jsonl`.
fn no_train_records(
    settings: &PrepareSettings,
    counts: &Counts,
    by_category: &BTreeMap<&'static str, usize>,
    kept: &KeptSet,
    splits: &[Split],
    staging: &Staging,
    rejected: &OutputFile,
) -> Error {
    let lines = match publish::read_rejected(&staging.dir.join(&rejected.file)) {
        Ok(lines) => lines,
        Err(e) => return e,
    };
    if let Err(e) = write_violations(&settings.out_dir, &lines) {
        return e;
    }
    let in_split = |s: Split| splits.iter().filter(|x| **x == s).count();
    let dropped_text: Vec<String> = by_category
        .iter()
        .map(|(c, n)| format!("{n} {c}"))
        .collect();
    let summary = format!(
        "{} record(s) in, {} kept (validation {}, test {}), dropped: {}",
        counts.input,
        kept.len(),
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

/// Adds the dropped records' counts by category, and the sums.
fn count_dropped(counts: &mut Counts, by_category: &BTreeMap<&'static str, usize>) {
    for (&category, &n) in by_category {
        match category {
            "unreadable" => counts.unreadable += n,
            "empty" => counts.empty += n,
            "too_large" => counts.too_large += n,
            "pii" => counts.pii_rejected += n,
            "invalid_for_target" => counts.invalid_for_target += n,
            "exact_duplicate" => counts.exact_duplicates += n,
            "near_duplicate" => counts.near_duplicates += n,
            "filtered" => counts.filtered += n,
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
    kept: &KeptSet,
    splits: &[Split],
) -> BTreeMap<String, BTreeMap<String, usize>> {
    let mut t: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    if settings.split.stratify_by.is_some() {
        for (k, s) in kept.kept.iter().zip(splits) {
            let l = k.label().map(|l| kept.labels.name(l)).unwrap_or_default();
            *t.entry(l.to_string())
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
        let budget = Budget::new(settings.memory_limit);
        read_inputs(&settings, &files, &budget, &NoProgress, &mut |chunk| {
            rows.extend(chunk.rows);
            Ok(())
        })
        .unwrap();
        let sources = Sources::new(&files);
        let tok = TokenCounter::load(settings.tokens.tokenizer.as_deref().unwrap()).unwrap();
        let run = |chunk: usize| {
            let dir = tempfile::tempdir().unwrap();
            let width = settings.dedup.minhash.num_perm;
            let mut store = SignatureFile::create(dir.path().join("signatures"), width).unwrap();
            let mut steps = RecordSteps::new(&settings, Some(&tok), &sources);
            let (mut kept, mut dropped) = (Vec::new(), Vec::new());
            for c in rows.chunks(chunk) {
                kept.extend(
                    steps
                        .run(c.to_vec(), &mut dropped, Some(&mut store))
                        .unwrap(),
                );
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
