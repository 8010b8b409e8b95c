//! Custom Model Import: `tunebench train bedrock import` serves a model fine-tuned (and
//! merged) locally on Bedrock, so it can be evaluated next to Bedrock-trained ones.
//!
//! The recipe: check the local Hugging Face directory (`config.json`, `*.safetensors`,
//! `tokenizer.json`, `tokenizer_config.json`, as Custom Model Import expects; `tunebench model
//! merge` writes such a directory) and the names against the CreateModelImportJob patterns;
//! upload every file under `s3_prefix` (objects already holding the same bytes are skipped);
//! CreateModelImportJob with a `clientRequestToken` derived from the request and the files;
//! poll GetModelImportJob until `Completed`; record the imported model ARN in
//! `<out_dir>/import.json`. A rerun with unchanged files (by content) and settings returns
//! the recorded model, or resumes watching the recorded job.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tunebench_aws::{ModelImportJob, S3Uri, UploadOptions, UploadOutcome};

use super::{
    Clients, Patterns, Result, TrainError, Upload, WaitSettings, abs_path, identity_problems, io,
    poll, read_record, write_record,
};

/// `[train.bedrock_import]`: one Custom Model Import job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportSettings {
    /// Import job name (`jobName`); the model is named `<name>-model` unless `model_name`
    /// is set.
    pub name: String,
    /// Name of the imported model (`importedModelName`).
    pub model_name: Option<String>,
    /// Local Hugging Face model directory (e.g. the output of `tunebench model merge`).
    pub model_dir: PathBuf,
    /// `s3://` prefix the directory is uploaded to; the import job reads it from there.
    pub s3_prefix: String,
    /// IAM service role Bedrock assumes to read the weights.
    pub role_arn: String,
    /// KMS key for the imported model.
    pub kms_key_id: Option<String>,
    /// SSE-KMS key for the uploaded files (default: the bucket's encryption).
    pub sse_kms_key_id: Option<String>,
    /// Region (default: `[aws]` or the SDK's chain).
    pub region: Option<String>,
    /// Run directory: `import.json`.
    pub out_dir: PathBuf,
}

/// Files Custom Model Import needs besides the `*.safetensors` weights.
const REQUIRED: [&str; 3] = ["config.json", "tokenizer.json", "tokenizer_config.json"];

impl ImportSettings {
    /// Makes paths absolute (relative to `base`, the config file's folder) and checks every
    /// setting and the model directory, listing all problems in one
    /// [`TrainError::Preflight`].
    pub fn resolve(mut self, base: &Path) -> Result<Self> {
        self.model_dir = PathBuf::from(abs_path(base, &self.model_dir.to_string_lossy()));
        if self.out_dir.is_relative() {
            self.out_dir = base.join(&self.out_dir);
        }
        let problems = self.problems();
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(TrainError::Preflight(problems))
        }
    }

    /// The imported model's name.
    pub fn model_name(&self) -> String {
        self.model_name
            .clone()
            .unwrap_or_else(|| format!("{}-model", self.name))
    }

    fn problems(&self) -> Vec<String> {
        let mut out = identity_problems(
            &Patterns::new(),
            &self.name,
            ("model name", "importedModelName", "model_name"),
            &self.model_name(),
            &self.role_arn,
            self.kms_key_id.as_deref(),
        );
        if self.s3_prefix.parse::<S3Uri>().is_err() {
            out.push(format!(
                "s3_prefix = {:?} is not an s3:// URI\nhint: s3_prefix = \"s3://<bucket>/<prefix>/\"",
                self.s3_prefix
            ));
        }
        if self.out_dir.as_os_str().is_empty() {
            out.push("out_dir is missing\nhint: out_dir = \"runs/<run>/import/<name>\"".into());
        }
        match model_files(&self.model_dir) {
            Err(e) => out.push(format!(
                "model_dir = {}: {e}\nhint: a Hugging Face model directory, e.g. from `tunebench model merge`",
                self.model_dir.display()
            )),
            Ok(files) => {
                let has = |n: &str| files.iter().any(|(rel, _)| rel == n);
                for f in REQUIRED {
                    if !has(f) {
                        out.push(format!(
                            "model_dir {}: no {f} (Custom Model Import needs config.json, tokenizer.json, tokenizer_config.json and *.safetensors)",
                            self.model_dir.display()
                        ));
                    }
                }
                if !files.iter().any(|(rel, _)| rel.ends_with(".safetensors")) {
                    out.push(format!(
                        "model_dir {}: no *.safetensors weights",
                        self.model_dir.display()
                    ));
                }
            }
        }
        out
    }
}

/// Every file under `dir`, as (key relative to `dir` with `/`, path), sorted.
fn model_files(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((key, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `<out_dir>/import.json`: what was imported, so a rerun resumes instead of importing again.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ImportRecord {
    /// Import job ARN.
    pub job_arn: String,
    /// Import job name.
    pub job_name: String,
    /// Imported model name.
    pub model_name: String,
    /// Where the weights were uploaded.
    pub s3_uri: String,
    /// Hash of the request and the files (the `clientRequestToken` is derived from it).
    pub config_hash: String,
    /// Last known job status.
    pub status: String,
    /// The imported model's ARN, once completed: the `model_id` eval's Bedrock candidate
    /// calls.
    pub imported_model_arn: Option<String>,
    /// Why it failed.
    pub failure_message: Option<String>,
}

impl ImportRecord {
    /// The record file of a run directory.
    pub fn path(out_dir: &Path) -> PathBuf {
        out_dir.join("import.json")
    }

    /// Reads the record; `None` when there is none.
    pub fn load(out_dir: &Path) -> Result<Option<ImportRecord>> {
        read_record(&Self::path(out_dir))
    }

    fn save(&self, out_dir: &Path) -> Result<()> {
        write_record(&Self::path(out_dir), self)
    }

    fn update(&mut self, job: &ModelImportJob) {
        self.status = job.status.clone();
        self.imported_model_arn = job.imported_model_arn.clone();
        self.failure_message = job.failure_message.clone();
    }
}

/// What [`import`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Imported {
    /// Files uploaded or found unchanged (empty when the record was reused).
    pub uploads: Vec<Upload>,
    /// The record, with the imported model ARN.
    pub record: ImportRecord,
    /// True when `import.json` already held this exact import (nothing was uploaded).
    pub resumed: bool,
}

/// Uploads the model directory, creates the import job, waits for it and records the
/// imported model ARN. `on_poll` sees every job status.
pub fn import(
    clients: &Clients,
    settings: &ImportSettings,
    wait: &WaitSettings,
    mut on_poll: impl FnMut(&str),
) -> Result<Imported> {
    let problems = settings.problems();
    if !problems.is_empty() {
        return Err(TrainError::Preflight(problems));
    }
    let files = model_files(&settings.model_dir).map_err(io(&settings.model_dir))?;
    let prefix: S3Uri = settings.s3_prefix.parse()?;
    let s3_uri = {
        let u = prefix.to_string();
        if u.ends_with('/') { u } else { format!("{u}/") }
    };
    // The request and every file's content: an unchanged directory gives the same hash, so a
    // rerun reuses the record (and, without it, the same idempotency token).
    let mut hasher = Sha256::new();
    for part in [
        settings.name.as_str(),
        &settings.model_name(),
        &settings.role_arn,
        &s3_uri,
        settings.kms_key_id.as_deref().unwrap_or(""),
    ] {
        hasher.update(part.as_bytes());
        hasher.update(b"\0");
    }
    for (key, path) in &files {
        let mut file = std::fs::File::open(path).map_err(io(path))?;
        let mut content = Sha256::new();
        std::io::copy(&mut file, &mut content).map_err(io(path))?;
        hasher.update(format!("{key}\0{}\0", hex::encode(content.finalize())).as_bytes());
    }
    let config_hash = hex::encode(hasher.finalize());

    let mut uploads = Vec::new();
    let mut resumed = false;
    let mut rec = match ImportRecord::load(&settings.out_dir)? {
        Some(r) if r.config_hash == config_hash && r.status != "Failed" => {
            resumed = true;
            r
        }
        _ => {
            let opts = UploadOptions {
                sse_kms_key_id: settings.sse_kms_key_id.clone(),
                ..UploadOptions::default()
            };
            for (key, path) in &files {
                let dest = prefix.join(key);
                let outcome: UploadOutcome = clients.s3.upload(path, &dest, &opts)?;
                uploads.push(Upload {
                    file: path.clone(),
                    uri: dest.to_string(),
                    outcome,
                });
            }
            let token = format!("tb-{}", &config_hash[..48]);
            let job_arn = clients.bedrock.create_model_import_job(
                &settings.name,
                &settings.model_name(),
                &settings.role_arn,
                &s3_uri,
                settings.kms_key_id.as_deref(),
                Some(&token),
            )?;
            let r = ImportRecord {
                job_arn,
                job_name: settings.name.clone(),
                model_name: settings.model_name(),
                s3_uri,
                config_hash,
                status: "InProgress".into(),
                ..ImportRecord::default()
            };
            r.save(&settings.out_dir)?;
            r
        }
    };
    if rec.status != "Completed" {
        let arn = rec.job_arn.clone();
        let job = poll(
            wait,
            &arn,
            || clients.bedrock.get_model_import_job(&arn),
            |j| {
                on_poll(&j.status);
                rec.update(j);
                rec.save(&settings.out_dir)?;
                Ok(j.status != "InProgress")
            },
            |j| j.status.clone(),
        )?;
        if job.status != "Completed" {
            return Err(TrainError::ImportFailed {
                arn,
                status: job.status,
                reason: job
                    .failure_message
                    .unwrap_or_else(|| "no reason given".into()),
            });
        }
    }
    Ok(Imported {
        uploads,
        record: rec,
        resumed,
    })
}
