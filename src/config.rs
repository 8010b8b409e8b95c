//! The config file: raw TOML (every field optional) and its merge with CLI flags and
//! environment variables. Resolution (defaults, checks, absolute paths) happens in the
//! library crates' `resolve` functions.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tunebench_aws::AwsSettings;
use tunebench_datasets::RawDataConfig;
use tunebench_eval::evaluate::EvalSettings;
use tunebench_train::LocalTrainSettings;
use tunebench_train::bedrock::BedrockTrainSettings;
use tunebench_train::bedrock::import::ImportSettings;

/// A problem with the config file itself (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

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

/// Reads and parses a config file; relative paths in it are later taken from its folder.
pub fn load(path: &Path) -> Result<(RawConfig, PathBuf), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    let raw: RawConfig =
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base =
        std::path::absolute(&base).map_err(|e| ConfigError(format!("{}: {e}", base.display())))?;
    Ok((raw, base))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shipped config parses and resolves (inputs need not exist to resolve).
    #[test]
    fn every_shipped_config_loads_and_resolves() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
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
                let (raw, base) = load(&path).unwrap_or_else(|e| panic!("{e}"));
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
        let err = load(&p).unwrap_err().to_string();
        assert!(err.contains("inputz") && err.contains("line 2"), "{err}");
    }
}
