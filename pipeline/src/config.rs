//! The config file: raw TOML (every field optional) and its merge with CLI flags and
//! environment variables. Resolution (defaults, checks, absolute paths) happens in the
//! library crates' `resolve` functions.
//!
//! A config that names a run (`[run]`) may write `{run_dir}` in any string; it stands for
//! `<runs_dir>/<run id>` (run id: `--run-id`, else `[run] id`, else the config file's name),
//! so every stage of `tunebench run`, and each stage run by hand, reads and writes the same
//! run folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tunebench_aws::AwsSettings;
use tunebench_core::paths::under;
use tunebench_core::run_dir::{AUDIT_FILE, RunDir};
use tunebench_datasets::RawDataConfig;
use tunebench_eval::evaluate::EvalSettings;
use tunebench_reports::gate::GateSettings;
use tunebench_reports::render::ReportSettings;
use tunebench_train::LocalTrainSettings;
use tunebench_train::bedrock::BedrockTrainSettings;
use tunebench_train::bedrock::import::ImportSettings;

pub use crate::error::ConfigError;

/// A config file as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[data]`: dataset preparation.
    pub data: Option<RawDataConfig>,
    /// `[aws]`: region, profile, endpoint.
    pub aws: Option<AwsSettings>,
    /// `[upload]`: where prepared data goes on S3.
    pub upload: Option<RawUpload>,
    /// `[train]`: fine-tuning.
    pub train: Option<RawTrain>,
    /// `[eval]`: candidates on suites.
    pub eval: Option<EvalSettings>,
    /// `[run]`: where `tunebench run` writes (the `{run_dir}` placeholder).
    pub run: Option<RawRun>,
    /// `[report]`: the report's baseline candidate and history.
    pub report: Option<ReportSettings>,
    /// `[gate]`: regression rules against a baseline run.
    pub gate: Option<GateSettings>,
    /// `[registry]`: the model what the run trains is registered under, and promotion.
    pub registry: Option<crate::lifecycle::RegistryConfig>,
}

/// `[run]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    /// Run id (default: the config file's name without `.toml`); `--run-id` overrides it.
    pub id: Option<String>,
    /// Folder of runs (default `runs` in the working directory; relative to the config when
    /// set here).
    pub runs_dir: Option<PathBuf>,
}

/// `[train]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrain {
    /// `[train.local]`: LoRA or full fine-tuning on this machine.
    pub local: Option<LocalTrainSettings>,
    /// `[train.bedrock]`: an Amazon Bedrock model customization job.
    pub bedrock: Option<BedrockTrainSettings>,
    /// `[train.bedrock_import]`: Custom Model Import of a local model into Bedrock.
    pub bedrock_import: Option<ImportSettings>,
}

/// `[upload]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpload {
    /// `s3://bucket/prefix/`.
    pub uri: Option<String>,
    /// SSE-KMS key id or ARN.
    pub sse_kms_key_id: Option<String>,
    /// Files at least this many MiB go up in parts (default 64).
    pub multipart_threshold_mib: Option<u64>,
}

/// The placeholder for the run folder in config strings.
pub const RUN_DIR: &str = "{run_dir}";

/// Where a stage runs, which decides where its AWS calls are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A subcommand by itself: the audit log goes beside the command's outputs.
    Command,
    /// A stage of `tunebench run`: every stage logs to the run folder's audit log.
    Run,
}

/// A config with its folder and run.
pub struct Loaded {
    /// The config file.
    pub path: PathBuf,
    /// The config as written, `{run_dir}` replaced, with the flags and `TUNEBENCH_*`
    /// variables of [`Loaded::apply`] on top.
    pub raw: RawConfig,
    /// Its folder (relative paths are taken from here).
    pub base: PathBuf,
    /// The run id.
    pub run_id: String,
    /// `<runs_dir>/<run id>`.
    pub run: RunDir,
}

impl Loaded {
    /// `aws` with its audit log resolved: `[aws] audit_log` (relative to the config's
    /// folder), else the run folder's `aws-audit.jsonl` for a stage of `tunebench run`, else
    /// `aws-audit.jsonl` in `out_dir`, the folder of the command's output. The audit log is
    /// always on.
    pub fn audited(&self, mut aws: AwsSettings, out_dir: &Path, scope: Scope) -> AwsSettings {
        aws.audit_log = Some(match aws.audit_log.take() {
            Some(p) => under(&self.base, p),
            None => match scope {
                Scope::Run => self.run.audit_log(),
                Scope::Command => out_dir.join(AUDIT_FILE),
            },
        });
        aws
    }

    /// The config's `[aws]`, or the defaults.
    pub fn aws(&self) -> AwsSettings {
        self.raw.aws.clone().unwrap_or_default()
    }
}

/// Reads and parses a config file; relative paths in it are later taken from its folder.
/// `run_id` (`--run-id`) names the run folder that `{run_dir}` stands for, before the
/// config's `[run] id` and its file name.
pub fn load(path: &Path, run_id: Option<&str>) -> Result<Loaded, ConfigError> {
    let at = |e: &dyn std::fmt::Display| ConfigError(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| at(&e))?;
    // Parsed as written first, for errors with a line and column.
    toml::from_str::<RawConfig>(&text).map_err(|e| at(&e))?;
    let mut value: toml::Table = toml::from_str(&text).map_err(|e| at(&e))?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = std::path::absolute(&base).map_err(|e| at(&e))?;
    let run: RawRun = value
        .get("run")
        .cloned()
        .map(|v| v.try_into())
        .transpose()
        .map_err(|e: toml::de::Error| at(&format!("[run]: {e}")))?
        .unwrap_or_default();
    let run_id = run_id
        .map(str::to_owned)
        .or(run.id)
        .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "run".into());
    if run_id.is_empty()
        || !run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || run_id.starts_with('.')
    {
        return Err(at(&format!(
            "run id `{run_id}` cannot name a folder\nhint: use letters, digits, '-', '_' and '.'"
        )));
    }
    let runs_dir = match run.runs_dir {
        Some(d) => under(&base, &d),
        None => std::path::absolute("runs").map_err(|e| at(&e))?,
    };
    let run_dir = runs_dir.join(&run_id);
    replace_run_dir(&mut value, &run_dir.to_string_lossy());
    let raw: RawConfig = toml::Value::Table(value)
        .try_into()
        .map_err(|e: toml::de::Error| at(&e))?;
    Ok(Loaded {
        path: path.to_path_buf(),
        raw,
        base,
        run_id,
        run: RunDir::new(run_dir),
    })
}

fn replace_run_dir(table: &mut toml::Table, dir: &str) {
    fn walk(v: &mut toml::Value, dir: &str) {
        match v {
            toml::Value::String(s) if s.contains(RUN_DIR) => *s = s.replace(RUN_DIR, dir),
            toml::Value::Array(items) => items.iter_mut().for_each(|i| walk(i, dir)),
            toml::Value::Table(t) => t.iter_mut().for_each(|(_, i)| walk(i, dir)),
            _ => {}
        }
    }
    table.iter_mut().for_each(|(_, v)| walk(v, dir));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped config parses and resolves (inputs need not exist to resolve).
    #[test]
    fn every_shipped_config_loads_and_resolves() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|n| n == "pricing.toml") {
                // Not a pipeline config: the pricing table `[eval] pricing` points at.
                tunebench_eval::pricing::Pricing::load(&path).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
                continue;
            }
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    text.starts_with("# Run: "),
                    "{} must start with a `# Run: <command>` comment",
                    path.display()
                );
                let Loaded { raw, base, .. } = load(&path, None).unwrap_or_else(|e| panic!("{e}"));
                if let Some(data) = raw.data {
                    data.resolve(&base)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                if let Some(eval) = raw.eval {
                    eval.resolve(&base)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                let train = raw.train.unwrap_or_default();
                if let Some(local) = train.local {
                    local
                        .resolve(&base)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                if let Some(bedrock) = train.bedrock {
                    let b = bedrock
                        .resolve(&base)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    // The estimate's prices must be in the pricing table it names.
                    b.prices()
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                if let Some(import) = train.bedrock_import {
                    import
                        .resolve(&base)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                }
                seen += 1;
            }
        }
        assert!(
            seen >= 3,
            "expected the shipped configs in {}",
            dir.display()
        );
    }

    #[test]
    fn unknown_sections_are_config_errors_with_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.toml");
        std::fs::write(&p, "[data]\ninputz = []\n").unwrap();
        let err = load(&p, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("inputz") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn run_dir_placeholder_is_the_run_folder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nightly.toml");
        std::fs::write(
            &p,
            "[run]\nruns_dir = \"out\"\n[data]\nout_dir = \"{run_dir}/data\"\ninputs = [\"x.csv\"]\n",
        )
        .unwrap();
        let l = load(&p, None).unwrap();
        assert_eq!(l.run_id, "nightly");
        assert_eq!(l.run.root(), dir.path().join("out").join("nightly"));
        assert_eq!(load(&p, Some("n2")).unwrap().run_id, "n2");
        let out = l.raw.data.unwrap().out_dir.unwrap();
        assert_eq!(
            std::path::Path::new(&out),
            dir.path().join("out/nightly/data")
        );
    }
}
