//! Amazon Bedrock model customization: `tunebench train bedrock submit|status|wait|stop|list|
//! deploy|undeploy` (and `import`, Custom Model Import of a local model, in [`import`]).
//!
//! The recipe, top to bottom:
//!
//! 1. [`BedrockTrainSettings`] (`[train.bedrock]`) is resolved ([`BedrockTrainSettings::resolve`]);
//! 2. [`plan`] runs every pre-flight check *before anything is uploaded*, returning all problems
//!    at once ([`BedrockError::Preflight`]): base model known and offered in the Region and for
//!    the customization type ([`models`]), hyperparameters named and in range (sent as
//!    strings), `jobName` / `customModelName` / role ARN / KMS key / tags matching the
//!    CreateModelCustomizationJob patterns of the service model
//!    (`standins/models/bedrock-2023-04-20.service-2.json`), the prepared JSONL lines passing
//!    the datasets crate's target checks and record-count quotas; it then estimates the cost
//!    and builds the exact request;
//! 3. [`submit`] uploads the prepared files (skipping unchanged ones), submits with a
//!    `clientRequestToken` derived from the request and the data's hashes (resubmitting the
//!    same thing returns the same job), and writes the local job registry `<out_dir>/job.json`;
//! 4. [`wait`] polls with backoff, riding out throttling, keeps `job.json` current and, once the
//!    job completed, [`collect`]s its metrics CSVs into `<out_dir>/metrics.csv` (the columns of
//!    [`crate::metrics::COLUMNS`]) and records the custom model ARN.

pub mod import;
pub mod models;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tunebench_aws::{
    AwsSettings, Bedrock, BedrockOptions, CustomizationJob, CustomizationJobSpec,
    CustomizationJobSummary, CustomizationKind, JobFilter, S3, S3Uri, UploadOptions, UploadOutcome,
    VpcConfig, pricing::CustomizationPrices,
};
use tunebench_datasets::record::{Record, Role, Turn};
use tunebench_datasets::targets::{BedrockFormat, Split, Target};

pub use models::{BASE_MODELS, BaseModel, HpKind, Hyperparameter};

/// What can go wrong with a Bedrock customization job.
#[derive(Debug, thiserror::Error)]
pub enum BedrockError {
    /// Pre-flight checks failed; nothing was uploaded or submitted. One line per problem.
    #[error("the Bedrock job was not submitted:\n  - {}", .0.join("\n  - "))]
    Preflight(Vec<String>),
    /// The estimated cost is above `max_cost_usd`.
    #[error(
        "estimated cost ${estimate:.2} is above max_cost_usd = {limit:.2}; nothing was submitted\nhint: raise max_cost_usd, lower epochCount or train on fewer records"
    )]
    CostLimit {
        /// Estimated dollars.
        estimate: f64,
        /// The limit.
        limit: f64,
    },
    /// No job given and no registry in the run directory.
    #[error(
        "{}: no job registry\nhint: submit first (`tunebench train bedrock submit`) or name the job", path.display()
    )]
    NoRegistry {
        /// The missing `job.json`.
        path: PathBuf,
    },
    /// A job of a different configuration is still running from this run directory.
    #[error(
        "{}: job {job} (a different configuration) is still {status}\nhint: wait for it, stop it, or use another out_dir", path.display()
    )]
    Busy {
        /// The registry.
        path: PathBuf,
        /// The job in it.
        job: String,
        /// Its last known status.
        status: String,
    },
    /// A refused action (e.g. provisioned throughput without `yes`).
    #[error("{0}")]
    Refused(String),
    /// A deployment or provisioned throughput ended in a state it cannot be called in.
    #[error(
        "{arn} is {status}, not usable: {reason}\nhint: fix the cause, then `tunebench train bedrock undeploy` and deploy again"
    )]
    Unusable {
        /// The deployment or provisioned-throughput ARN.
        arn: String,
        /// Its final status.
        status: String,
        /// The service's failure message.
        reason: String,
    },
    /// A model import job failed.
    #[error(
        "model import job {arn} is {status}: {reason}\nhint: check the model directory's files and the role's access to the S3 prefix, then import again"
    )]
    ImportFailed {
        /// The import job ARN.
        arn: String,
        /// Its final status.
        status: String,
        /// The service's failure message.
        reason: String,
    },
    /// A metrics file of the job is not the CSV expected.
    #[error("{}: {reason}", path.display())]
    Metrics {
        /// The downloaded file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// AWS said no.
    #[error(transparent)]
    Aws(#[from] tunebench_aws::Error),
    /// Reading or writing a local file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `job.json` is not what tunebench writes.
    #[error("{}: {source}", path.display())]
    Registry {
        /// The registry file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Result of this module.
pub type Result<T, E = BedrockError> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BedrockError + '_ {
    move |source| BedrockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

// --- settings -------------------------------------------------------------------------------

/// `customizationType` of CreateModelCustomizationJob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CustomizationType {
    /// Supervised fine-tuning on prompt/completion or conversation records.
    #[default]
    FineTuning,
    /// Continued pre-training on unlabeled text.
    ContinuedPreTraining,
    /// Distillation from `teacher_model_id`.
    Distillation,
}

impl CustomizationType {
    fn kind(self) -> CustomizationKind {
        match self {
            CustomizationType::FineTuning => CustomizationKind::FineTuning,
            CustomizationType::ContinuedPreTraining => CustomizationKind::ContinuedPreTraining,
            CustomizationType::Distillation => CustomizationKind::Distillation,
        }
    }

    fn api_name(self) -> &'static str {
        match self {
            CustomizationType::FineTuning => "FINE_TUNING",
            CustomizationType::ContinuedPreTraining => "CONTINUED_PRE_TRAINING",
            CustomizationType::Distillation => "DISTILLATION",
        }
    }
}

/// A hyperparameter value as written in TOML: a number or a string (sent as a string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HyperValue {
    /// An integer, e.g. `epochCount = 2`.
    Int(i64),
    /// A float, e.g. `learningRate = 1e-5`.
    Float(f64),
    /// Text, e.g. `learningRate = "0.00001"`.
    Text(String),
}

impl HyperValue {
    /// The string sent in `hyperParameters`.
    pub fn to_api_string(&self) -> String {
        match self {
            HyperValue::Int(i) => i.to_string(),
            // `Display` of f64 never uses an exponent: 1e-5 → "0.00001".
            HyperValue::Float(f) => f.to_string(),
            HyperValue::Text(s) => s.trim().to_string(),
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            HyperValue::Int(i) => Some(*i as f64),
            HyperValue::Float(f) => Some(*f),
            HyperValue::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// `[train.bedrock]`: one Bedrock model customization job.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BedrockTrainSettings {
    /// Job name (`jobName`); the custom model is named `<name>-model` unless
    /// `custom_model_name` is set.
    pub name: String,
    /// Name of the custom model (`customModelName`).
    pub custom_model_name: Option<String>,
    /// Base model id, e.g. `amazon.nova-micro-v1:0:128k` (see [`models::BASE_MODELS`]).
    pub base_model_id: String,
    /// `FINE_TUNING`, `CONTINUED_PRE_TRAINING` or `DISTILLATION`.
    pub customization_type: CustomizationType,
    /// Teacher model id or ARN for `DISTILLATION`.
    pub teacher_model_id: Option<String>,
    /// Most tokens the teacher answers with (distillation).
    pub teacher_max_response_length: Option<i32>,
    /// Hyperparameters by API name (`epochCount`, `learningRate`, ...).
    pub hyperparameters: BTreeMap<String, HyperValue>,
    /// Prepared training JSONL (`runs/<x>/data/train.jsonl`) or an `s3://` URI.
    pub train_file: String,
    /// Prepared validation JSONL or an `s3://` URI.
    pub validation_file: Option<String>,
    /// `s3://` prefix the local files are uploaded to.
    pub data_s3_prefix: Option<String>,
    /// `s3://` prefix the job writes its output (metrics) to.
    pub output_s3_uri: String,
    /// IAM service role Bedrock assumes (`arn:aws:iam::<account>:role/<name>`).
    pub role_arn: String,
    /// KMS key for the custom model.
    pub kms_key_id: Option<String>,
    /// VPC the job runs in: `[train.bedrock.vpc]` with `subnet_ids` (1-16) and
    /// `security_group_ids` (1-5).
    pub vpc: Option<VpcConfig>,
    /// Tags on the job.
    pub job_tags: BTreeMap<String, String>,
    /// Tags on the custom model.
    pub model_tags: BTreeMap<String, String>,
    /// Region; checked against the base model's customization Regions.
    pub region: Option<String>,
    /// Refuse to submit when the estimate is above this many dollars.
    pub max_cost_usd: Option<f64>,
    /// Pricing table with `[[customization]]` entries (e.g. `configs/pricing.toml`), relative
    /// to the config file: the prices of the cost estimate and of provisioned throughput.
    pub pricing: Option<PathBuf>,
    /// Overrides the table's USD per 1,000 training tokens.
    pub train_price_per_1k_tokens: Option<f64>,
    /// Overrides the table's USD per month of custom model storage.
    pub storage_price_per_month: Option<f64>,
    /// Overrides the table's USD per model unit per hour of provisioned throughput for the
    /// custom model, shown before `deploy --provisioned` buys it.
    pub provisioned_price_per_hour: Option<f64>,
    /// Run directory of the job: `job.json`, downloaded metrics, `metrics.csv`.
    pub out_dir: PathBuf,
}

fn full(re: &str) -> Regex {
    // The patterns are constants of this file; a typo is a bug found by the unit tests.
    #[allow(clippy::expect_used)]
    Regex::new(&format!("^(?:{re})$")).expect("valid regex")
}

/// Patterns of CreateModelCustomizationJob members (service model bedrock-2023-04-20).
struct Patterns {
    job_name: Regex,
    model_name: Regex,
    role_arn: Regex,
    kms: Regex,
    tag: Regex,
    vpc_id: Regex,
}

impl Patterns {
    fn new() -> Self {
        Patterns {
            job_name: full(r"[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*"),
            model_name: full(r"([0-9a-zA-Z][_-]?){1,63}"),
            role_arn: full(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+"),
            kms: full(
                r"(arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:((key/[a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9\-_/]+)))|([a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9\-_/]+)",
            ),
            tag: full(r"[a-zA-Z0-9\s._:/=+@-]*"),
            vpc_id: full(r"[-0-9a-zA-Z]+"),
        }
    }
}

/// How a request names the model it creates: (words for messages, the API member, the
/// setting that sets it), e.g. ("custom model name", "customModelName", "custom_model_name").
type ModelNaming = (&'static str, &'static str, &'static str);

/// The pre-flight checks that customization jobs and model imports share: the job name, the
/// name of the model it creates, the role ARN and the KMS key, against the service model's
/// patterns.
fn identity_problems(
    p: &Patterns,
    job_name: &str,
    (model_words, model_member, model_setting): ModelNaming,
    model_name: &str,
    role_arn: &str,
    kms_key_id: Option<&str>,
) -> Vec<String> {
    let mut out = Vec::new();
    let name_ok = |re: &Regex, v: &str| (1..=63).contains(&v.len()) && re.is_match(v);
    if !name_ok(&p.job_name, job_name) {
        out.push(format!(
            "name = {job_name:?} is not a valid jobName: 1-63 characters, letters, digits, '-', '+', '.', starting with a letter or digit"
        ));
    }
    if !name_ok(&p.model_name, model_name) {
        out.push(format!(
            "{model_words} {model_name:?} is not a valid {model_member}: 1-63 letters or digits, each optionally followed by one '_' or '-'\nhint: set {model_setting}"
        ));
    }
    if role_arn.trim().is_empty() {
        out.push("role_arn is missing\nhint: role_arn = \"arn:aws:iam::<account>:role/<bedrock role>\" (see configs/iam-policy.json)".into());
    } else if !p.role_arn.is_match(role_arn) {
        out.push(format!(
            "role_arn = {role_arn:?} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)"
        ));
    }
    if let Some(k) = kms_key_id
        && !p.kms.is_match(k)
    {
        out.push(format!(
            "kms_key_id = {k:?} is not a KMS key id, key ARN or alias"
        ));
    }
    out
}

fn abs_path(base: &Path, p: &str) -> String {
    if is_s3(p) || Path::new(p).is_absolute() || p.is_empty() {
        p.to_string()
    } else {
        base.join(p).to_string_lossy().into_owned()
    }
}

fn is_s3(s: &str) -> bool {
    s.starts_with("s3://")
}

impl BedrockTrainSettings {
    /// Makes local paths absolute (relative to `base`, the config file's folder) and checks
    /// every setting that needs no file, listing all problems in one
    /// [`BedrockError::Preflight`].
    pub fn resolve(mut self, base: &Path) -> Result<Self> {
        self.train_file = abs_path(base, &self.train_file);
        self.validation_file = self.validation_file.as_deref().map(|p| abs_path(base, p));
        if self.out_dir.is_relative() {
            self.out_dir = base.join(&self.out_dir);
        }
        self.pricing = self.pricing.take().map(|p| base.join(p));
        let problems = self.problems();
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(BedrockError::Preflight(problems))
        }
    }

    /// The custom model's name.
    pub fn custom_model_name(&self) -> String {
        self.custom_model_name
            .clone()
            .unwrap_or_else(|| format!("{}-model", self.name))
    }

    /// The base model's table row, if known.
    pub fn base_model(&self) -> Option<&'static BaseModel> {
        models::find(&self.base_model_id)
    }

    /// Every problem found without reading a file or calling AWS.
    pub fn problems(&self) -> Vec<String> {
        let p = Patterns::new();
        let mut out = identity_problems(
            &p,
            &self.name,
            ("custom model name", "customModelName", "custom_model_name"),
            &self.custom_model_name(),
            &self.role_arn,
            self.kms_key_id.as_deref(),
        );
        for (what, tags) in [
            ("job_tags", &self.job_tags),
            ("model_tags", &self.model_tags),
        ] {
            // TagList: at most 200; TagKey 1-128 and TagValue 0-256 characters of the pattern.
            if tags.len() > 200 {
                out.push(format!("{what}: {} tags, at most 200", tags.len()));
            }
            for (k, v) in tags {
                if k.is_empty()
                    || k.chars().count() > 128
                    || v.chars().count() > 256
                    || !p.tag.is_match(k)
                    || !p.tag.is_match(v)
                {
                    out.push(format!("{what}: tag {k:?} = {v:?} is not a valid tag (key 1-128, value 0-256 characters of letters, digits, spaces, ._:/=+@-)"));
                }
            }
        }
        if let Some(vpc) = &self.vpc {
            for (what, ids, max) in [
                ("subnet_ids", &vpc.subnet_ids, 16),
                ("security_group_ids", &vpc.security_group_ids, 5),
            ] {
                if !(1..=max).contains(&ids.len()) {
                    out.push(format!(
                        "vpc.{what}: {} ids, the API takes 1 to {max}",
                        ids.len()
                    ));
                }
                for id in ids {
                    if id.len() > 32 || !p.vpc_id.is_match(id) {
                        out.push(format!(
                            "vpc.{what}: {id:?} is not an id (at most 32 letters, digits and '-', e.g. \"subnet-0abc\" / \"sg-0abc\")"
                        ));
                    }
                }
            }
        }
        if self.train_file.is_empty() {
            out.push("train_file is missing\nhint: train_file = \"runs/<run>/data/train.jsonl\" (written by `tunebench data prepare`)".into());
        }
        let local_data =
            !is_s3(&self.train_file) || self.validation_file.as_deref().is_some_and(|v| !is_s3(v));
        match &self.data_s3_prefix {
            None if local_data => out.push(
                "data_s3_prefix is missing: local data files must be uploaded\nhint: data_s3_prefix = \"s3://<bucket>/<prefix>/\"".into(),
            ),
            Some(d) if d.parse::<S3Uri>().is_err() => {
                out.push(format!("data_s3_prefix = {d:?} is not an s3:// URI"))
            }
            _ => {}
        }
        for (what, v) in [
            ("train_file", Some(&self.train_file)),
            ("validation_file", self.validation_file.as_ref()),
        ] {
            if let Some(v) = v
                && is_s3(v)
                && v.parse::<S3Uri>().is_err()
            {
                out.push(format!("{what} = {v:?} is not a valid s3:// URI"));
            }
        }
        if self.output_s3_uri.parse::<S3Uri>().is_err() {
            out.push(format!(
                "output_s3_uri = {:?} is not an s3:// URI\nhint: output_s3_uri = \"s3://<bucket>/<prefix>/\"",
                self.output_s3_uri
            ));
        }
        if self.out_dir.as_os_str().is_empty() {
            out.push("out_dir is missing\nhint: out_dir = \"runs/<run>/train/<name>\"".into());
        }
        if let Some(m) = self.max_cost_usd
            && !(m.is_finite() && m >= 0.0)
        {
            out.push(format!("max_cost_usd = {m} must be a non-negative number"));
        }
        let teacher = self
            .teacher_model_id
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty());
        match (self.customization_type, teacher) {
            (CustomizationType::Distillation, false) => {
                out.push("customization_type = \"DISTILLATION\" needs teacher_model_id".into())
            }
            (CustomizationType::FineTuning | CustomizationType::ContinuedPreTraining, true) => out
                .push(format!(
                    "teacher_model_id is only used by DISTILLATION, not {}",
                    self.customization_type.api_name()
                )),
            _ => {}
        }

        let Some(model) = self.base_model() else {
            let known: Vec<&str> = BASE_MODELS.iter().map(|m| m.id).collect();
            out.push(format!(
                "base_model_id = {:?} is not a base model tunebench can customize; known: {}",
                self.base_model_id,
                known.join(", ")
            ));
            return out;
        };
        let offered = match self.customization_type {
            CustomizationType::FineTuning => model.offers.fine_tuning,
            CustomizationType::ContinuedPreTraining => model.offers.continued_pre_training,
            CustomizationType::Distillation => model.offers.distillation,
        };
        if !offered {
            out.push(format!(
                "{} is not offered for {} customization",
                model.name,
                self.customization_type.api_name()
            ));
        }
        if let Some(r) = &self.region
            && !model.regions.contains(&r.as_str())
        {
            out.push(format!(
                "{} customization is offered in {}, not in region {r:?}",
                model.name,
                model.regions.join(", ")
            ));
        }
        for (k, v) in &self.hyperparameters {
            let Some(h) = model.hyperparameters.iter().find(|h| h.name == k) else {
                let names: Vec<&str> = model.hyperparameters.iter().map(|h| h.name).collect();
                out.push(format!(
                    "hyperparameters.{k}: {} takes no such hyperparameter; it takes {}",
                    model.name,
                    names.join(", ")
                ));
                continue;
            };
            match v.as_f64() {
                None => out.push(format!("hyperparameters.{k} = {v:?} is not a number")),
                Some(x) if h.kind == HpKind::Int && x.fract() != 0.0 => {
                    out.push(format!("hyperparameters.{k} = {x} must be a whole number"))
                }
                Some(x) if !(h.min..=h.max).contains(&x) => out.push(format!(
                    "hyperparameters.{k} = {x} is out of range for {}: {} to {} (default {})",
                    model.name, h.min, h.max, h.default
                )),
                Some(_) => {}
            }
        }
        out
    }

    /// The prices of this job: each `[train.bedrock]` override, else the pricing table's
    /// `[[customization]]` entry for the base model (and region). The error is the pre-flight
    /// problem: no table and no overrides, an unreadable table, or no entry.
    pub fn prices(&self) -> std::result::Result<Prices, String> {
        let table = self
            .pricing
            .as_deref()
            .map(CustomizationPrices::load)
            .transpose()
            .map_err(|e| format!("pricing: {e}"))?;
        let id = self
            .base_model()
            .map_or(self.base_model_id.as_str(), |m| m.id);
        let region = self.region.as_deref();
        let entry = table.as_ref().and_then(|t| t.find(id, region));
        let mut sources = Vec::new();
        let mut pick = |field: &'static str, over: Option<f64>, from_table: Option<f64>| {
            if over.is_some() {
                sources.push(format!("[train.bedrock] {field}"));
            }
            over.or(from_table)
        };
        let train = pick(
            "train_price_per_1k_tokens",
            self.train_price_per_1k_tokens,
            entry.map(|e| e.train_per_1k_tokens),
        );
        let storage = pick(
            "storage_price_per_month",
            self.storage_price_per_month,
            entry.map(|e| e.storage_per_month),
        );
        let provisioned = pick(
            "provisioned_price_per_hour",
            self.provisioned_price_per_hour,
            entry.and_then(|e| e.provisioned_per_hour),
        );
        let (Some(train), Some(storage)) = (train, storage) else {
            return Err(match &table {
                None => "pricing is not set, so the training cost cannot be estimated\nhint: pricing = \"configs/pricing.toml\" (relative to this config), or set train_price_per_1k_tokens and storage_price_per_month".into(),
                Some(t) => format!(
                    "{}: no [[customization]] entry for base_model = {id:?}{}\nhint: add one (prices from https://aws.amazon.com/bedrock/pricing/), or set train_price_per_1k_tokens and storage_price_per_month in [train.bedrock]",
                    t.path.display(),
                    region.map(|r| format!(" in region {r:?}")).unwrap_or_default()
                ),
            });
        };
        if let (Some(t), Some(e)) = (&table, entry)
            && (self.train_price_per_1k_tokens.is_none() || self.storage_price_per_month.is_none())
        {
            // The file name only: the estimate is the same wherever the table lives.
            let file = t.path.file_name().unwrap_or_default().to_string_lossy();
            sources.push(format!(
                "{file} [[customization]] {} (updated {}; unverified: check https://aws.amazon.com/bedrock/pricing/)",
                e.base_model, t.updated
            ));
        }
        Ok(Prices {
            train_per_1k_tokens: train,
            storage_per_month: storage,
            provisioned_per_hour: provisioned,
            source: sources.join(" + "),
        })
    }

    fn epochs(&self, model: &BaseModel) -> f64 {
        self.hyperparameters
            .get("epochCount")
            .and_then(HyperValue::as_f64)
            .or_else(|| {
                model
                    .hyperparameters
                    .iter()
                    .find(|h| h.name == "epochCount")
                    .map(|h| h.default)
            })
            .unwrap_or(1.0)
    }
}

// --- pre-flight data checks ---------------------------------------------------------------

/// Parses a prepared JSONL line (a Bedrock target's rendering) back into a [`Record`].
fn parse_line(v: &Value) -> Option<Record> {
    let s = |v: &Value| v.as_str().map(str::to_string);
    if let (Some(p), Some(c)) = (v.get("prompt"), v.get("completion")) {
        return Some(Record::Completion {
            prompt: s(p)?,
            completion: s(c)?,
        });
    }
    if let Some(t) = v.get("input") {
        return Some(Record::Text { text: s(t)? });
    }
    let messages = v.get("messages")?.as_array()?;
    // Converse style: `content` is a list of `{"text"}` blocks, `system` a list too.
    let text_of = |c: &Value| -> Option<String> {
        match c {
            Value::String(t) => Some(t.clone()),
            Value::Array(blocks) => Some(
                blocks
                    .iter()
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => None,
        }
    };
    let system = match v.get("system") {
        None | Some(Value::Null) => None,
        Some(sys) => Some(text_of(sys)?).filter(|t| !t.is_empty()),
    };
    let mut turns = Vec::new();
    for m in messages {
        let role = match m.get("role")?.as_str()? {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            _ => return None,
        };
        turns.push(Turn {
            role,
            content: text_of(m.get("content")?)?,
        });
    }
    Some(Record::Chat { system, turns })
}

/// What a local data file holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataFile {
    /// The local file.
    pub path: PathBuf,
    /// Where it goes (or is, for `s3://` data).
    pub uri: String,
    /// Its sha256 (hex); for `s3://` data, of the URI.
    pub sha256: String,
    /// Records (lines); `None` for `s3://` data.
    pub records: Option<usize>,
    /// Estimated tokens (characters / 4) of its texts; `None` for `s3://` data.
    pub tokens: Option<u64>,
}

/// Reads one split, checks every line with the target's rules and the split's quotas.
fn check_data(
    path: &Path,
    target: Target,
    split: Split,
    problems: &mut Vec<String>,
) -> Option<(String, usize, u64)> {
    const SHOWN: usize = 20;
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let field = match split {
                Split::Train => "train_file",
                _ => "validation_file",
            };
            problems.push(format!(
                "{field} = {}: {e}\nhint: write the prepared data first with `tunebench data prepare`, or give an s3:// URI",
                path.display()
            ));
            return None;
        }
    };
    // A file that is not the one the `data prepare` manifest beside it lists is half of a
    // republished or killed run: never upload it.
    if let Err(e) = crate::data::check_prepared(path, &bytes) {
        problems.push(e.to_string());
        return None;
    }
    let sha = hex::encode(Sha256::digest(&bytes));
    let text = String::from_utf8_lossy(&bytes);
    let (mut records, mut chars, mut bad) = (0usize, 0u64, 0usize);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        records += 1;
        let mut line_problems = Vec::new();
        match serde_json::from_str::<Value>(line)
            .ok()
            .as_ref()
            .and_then(parse_line)
        {
            None => line_problems.push(format!("not a {target} record")),
            Some(r) => {
                chars += r
                    .texts()
                    .iter()
                    .map(|t| t.chars().count() as u64)
                    .sum::<u64>();
                line_problems.extend(
                    target
                        .check_record(&r, None)
                        .into_iter()
                        .map(|v| format!("{}: {}", v.rule, v.message)),
                );
            }
        }
        for p in line_problems {
            bad += 1;
            if bad <= SHOWN {
                problems.push(format!("{}:{}: {p}", path.display(), i + 1));
            }
        }
    }
    if bad > SHOWN {
        problems.push(format!(
            "{}: {} more record problems not listed",
            path.display(),
            bad - SHOWN
        ));
    }
    problems.extend(
        target
            .check_split(split, records, bytes.len() as u64)
            .into_iter()
            .map(|v| format!("{}: {}: {}", path.display(), v.rule, v.message)),
    );
    Some((sha, records, chars.div_ceil(4)))
}

// --- cost -----------------------------------------------------------------------------------

/// The customization prices of one job ([`BedrockTrainSettings::prices`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prices {
    /// USD per 1,000 training tokens.
    pub train_per_1k_tokens: f64,
    /// USD per month to store the custom model.
    pub storage_per_month: f64,
    /// USD per model unit per hour of provisioned throughput, if known.
    pub provisioned_per_hour: Option<f64>,
    /// Where they come from.
    pub source: String,
}

/// The cost estimate shown before submitting.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostEstimate {
    /// How tokens were counted.
    pub token_counter: String,
    /// Training tokens in one pass over the training file; `None` for `s3://` data.
    pub train_tokens: Option<u64>,
    /// Epochs (`epochCount`, or the model's default).
    pub epochs: f64,
    /// USD per 1,000 training tokens used.
    pub train_per_1k_tokens: f64,
    /// Training dollars (tokens × epochs × price).
    pub training_usd: Option<f64>,
    /// Dollars per month to store the custom model.
    pub storage_per_month_usd: f64,
    /// Training plus one month of storage.
    pub total_first_month_usd: Option<f64>,
    /// Where the prices come from.
    pub price_source: String,
}

// --- plan -----------------------------------------------------------------------------------

/// Everything [`submit`] will do, computed without touching the network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The CreateModelCustomizationJob request body as sent (camelCase JSON).
    pub request: Value,
    /// The same request for the aws crate.
    #[serde(skip)]
    pub spec: CustomizationJobSpec,
    /// The cost estimate.
    pub estimate: CostEstimate,
    /// Local files to upload, and `s3://` ones used as they are.
    pub data: Vec<DataFile>,
    /// Hash of the request and the data (the `clientRequestToken` is derived from it).
    pub config_hash: String,
}

impl Plan {
    /// Pretty JSON of request, estimate and data, deterministic (for `--dry-run` output and
    /// snapshots).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&json!({
            "request": self.request,
            "estimate": self.estimate,
            "data": self.data.iter().map(|d| json!({
                "file": d.path.file_name().map(|f| f.to_string_lossy().into_owned()),
                "uri": d.uri,
                "sha256": d.sha256,
                "records": d.records,
                "tokens": d.tokens,
            })).collect::<Vec<_>>(),
            "config_hash": self.config_hash,
        }))
        .unwrap_or_default()
    }
}

/// Runs every pre-flight check and, when all pass, returns the exact request, the cost
/// estimate and the files to upload. Reads the local data files; sends nothing.
pub fn plan(settings: &BedrockTrainSettings) -> Result<Plan> {
    let mut problems = settings.problems();
    let model = settings.base_model();
    let target = model.map(|m| Target::Bedrock(m.format));
    let prefix: Option<S3Uri> = settings
        .data_s3_prefix
        .as_deref()
        .and_then(|p| p.parse().ok());

    let mut data = Vec::new();
    let files = [
        (Split::Train, Some(&settings.train_file)),
        (Split::Validation, settings.validation_file.as_ref()),
    ];
    for (split, file) in files {
        let Some(file) = file.filter(|f| !f.is_empty()) else {
            continue;
        };
        if is_s3(file) {
            data.push(DataFile {
                path: PathBuf::new(),
                uri: file.clone(),
                sha256: hex::encode(Sha256::digest(file.as_bytes())),
                records: None,
                tokens: None,
            });
            continue;
        }
        let path = PathBuf::from(file);
        let Some(target) = target else {
            // Unknown base model: the format is unknown too; that problem is listed already.
            continue;
        };
        if let Some((sha, records, tokens)) = check_data(&path, target, split, &mut problems) {
            let name = path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("{}.jsonl", split.name()));
            data.push(DataFile {
                uri: prefix
                    .as_ref()
                    .map(|p| p.join(&name).to_string())
                    .unwrap_or_default(),
                path,
                sha256: sha,
                records: Some(records),
                tokens: Some(tokens),
            });
        }
    }
    // Distillation trains on prompts only; the other types need the target's record shapes,
    // which `check_data` verified. Continued pre-training needs `{"input"}` records.
    if settings.customization_type == CustomizationType::ContinuedPreTraining
        && model.is_some_and(|m| m.format != BedrockFormat::TitanText)
    {
        problems.push(
            "CONTINUED_PRE_TRAINING data ({\"input\"} records) is only written for Titan Text"
                .into(),
        );
    }
    let prices = settings.prices();
    if let Err(p) = &prices
        && model.is_some()
    {
        problems.push(p.clone());
    }
    let (Some(model), Ok(prices)) = (model.filter(|_| problems.is_empty()), prices) else {
        return Err(BedrockError::Preflight(problems));
    };

    let train_uri = data.first().map(|d| d.uri.clone()).unwrap_or_default();
    let validation: Vec<String> = data.iter().skip(1).map(|d| d.uri.clone()).collect();
    let hyper: BTreeMap<String, String> = settings
        .hyperparameters
        .iter()
        .map(|(k, v)| (k.clone(), v.to_api_string()))
        .collect();
    let mut spec = CustomizationJobSpec {
        job_name: settings.name.clone(),
        custom_model_name: settings.custom_model_name(),
        role_arn: settings.role_arn.clone(),
        base_model: settings.base_model_id.clone(),
        kind: settings.customization_type.kind(),
        training_s3_uri: train_uri,
        validation_s3_uris: validation,
        output_s3_uri: settings.output_s3_uri.clone(),
        hyper_parameters: hyper,
        teacher_model: settings.teacher_model_id.clone(),
        teacher_max_response_length: settings.teacher_max_response_length,
        kms_key_id: settings.kms_key_id.clone(),
        tags: settings.job_tags.clone(),
        model_tags: settings.model_tags.clone(),
        vpc: settings.vpc.clone(),
        client_request_token: None,
    };
    let mut hasher = Sha256::new();
    hasher.update(request_json(&spec, settings.customization_type).to_string());
    for d in &data {
        hasher.update(b"\0");
        hasher.update(d.sha256.as_bytes());
    }
    let config_hash = hex::encode(hasher.finalize());
    // IdempotencyToken: [a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?
    spec.client_request_token = Some(format!("tb-{}", &config_hash[..48]));

    let train_tokens = data.first().and_then(|d| d.tokens);
    let epochs = settings.epochs(model);
    let price = prices.train_per_1k_tokens;
    let storage = prices.storage_per_month;
    let training_usd = train_tokens.map(|t| t as f64 * epochs / 1000.0 * price);
    let estimate = CostEstimate {
        token_counter: "characters / 4 (no tokenizer for Bedrock base models)".into(),
        train_tokens,
        epochs,
        train_per_1k_tokens: price,
        training_usd,
        storage_per_month_usd: storage,
        total_first_month_usd: training_usd.map(|t| t + storage),
        price_source: prices.source,
    };
    if let Some(limit) = settings.max_cost_usd {
        match estimate.total_first_month_usd {
            Some(e) if e > limit => {
                return Err(BedrockError::CostLimit { estimate: e, limit });
            }
            None => {
                return Err(BedrockError::Preflight(vec![
                    "max_cost_usd is set but the cost of s3:// training data cannot be estimated\nhint: give the local prepared train_file".into(),
                ]));
            }
            _ => {}
        }
    }
    Ok(Plan {
        request: request_json(&spec, settings.customization_type),
        spec,
        estimate,
        data,
        config_hash,
    })
}

/// The CreateModelCustomizationJob body for `spec`, as the SDK serialises it.
fn request_json(spec: &CustomizationJobSpec, kind: CustomizationType) -> Value {
    let mut r = json!({
        "jobName": spec.job_name,
        "customModelName": spec.custom_model_name,
        "roleArn": spec.role_arn,
        "baseModelIdentifier": spec.base_model,
        "customizationType": kind.api_name(),
        "trainingDataConfig": { "s3Uri": spec.training_s3_uri },
        "outputDataConfig": { "s3Uri": spec.output_s3_uri },
    });
    if !spec.validation_s3_uris.is_empty() {
        r["validationDataConfig"] = json!({
            "validators": spec.validation_s3_uris.iter().map(|u| json!({ "s3Uri": u })).collect::<Vec<_>>()
        });
    }
    if !spec.hyper_parameters.is_empty() {
        r["hyperParameters"] = json!(spec.hyper_parameters);
    }
    if let Some(t) = &spec.teacher_model {
        let mut teacher = json!({ "teacherModelIdentifier": t });
        if let Some(n) = spec.teacher_max_response_length {
            teacher["maxResponseLengthForInference"] = json!(n);
        }
        r["customizationConfig"] =
            json!({ "distillationConfig": { "teacherModelConfig": teacher } });
    }
    if let Some(k) = &spec.kms_key_id {
        r["customModelKmsKeyId"] = json!(k);
    }
    let tag_list = |tags: &BTreeMap<String, String>| {
        json!(
            tags.iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect::<Vec<_>>()
        )
    };
    if !spec.tags.is_empty() {
        r["jobTags"] = tag_list(&spec.tags);
    }
    if !spec.model_tags.is_empty() {
        r["customModelTags"] = tag_list(&spec.model_tags);
    }
    if let Some(vpc) = &spec.vpc {
        r["vpcConfig"] = json!({
            "subnetIds": vpc.subnet_ids,
            "securityGroupIds": vpc.security_group_ids,
        });
    }
    if let Some(t) = &spec.client_request_token {
        r["clientRequestToken"] = json!(t);
    }
    r
}

// --- registry -------------------------------------------------------------------------------

/// `<out_dir>/job.json`: the local job registry, so a later run resumes watching.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRecord {
    /// Job ARN.
    pub job_arn: String,
    /// Job name.
    pub job_name: String,
    /// Last known status.
    pub status: String,
    /// Sub-statuses last seen (validation / data processing / training).
    pub sub_statuses: BTreeMap<String, String>,
    /// [`Plan::config_hash`] of the submitted configuration.
    pub config_hash: String,
    /// The idempotency token sent.
    pub client_request_token: String,
    /// Base model id.
    pub base_model: String,
    /// Custom model name.
    pub custom_model_name: String,
    /// Custom model ARN, once known.
    pub custom_model_arn: Option<String>,
    /// Output prefix of the job.
    pub output_s3_uri: String,
    /// Why it failed.
    pub failure_message: Option<String>,
    /// Final training loss.
    pub training_loss: Option<f32>,
    /// Final validation losses.
    pub validation_losses: Vec<f32>,
    /// `metrics.csv` written from the job's metrics, relative to out_dir.
    pub metrics: Option<String>,
    /// Custom model deployment ARN (on-demand inference), if deployed.
    pub deployment_arn: Option<String>,
    /// Its last known status (`Creating`, `Active`, `Failed`).
    pub deployment_status: Option<String>,
    /// Provisioned throughput ARN, if provisioned.
    pub provisioned_throughput_arn: Option<String>,
    /// Its last known status (`Creating`, `InService`, `Failed`).
    pub provisioned_throughput_status: Option<String>,
}

/// Reads a JSON record file of a run directory; `None` when there is none.
pub(crate) fn read_record<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| BedrockError::Registry {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Writes a JSON record file atomically.
pub(crate) fn write_record<T: Serialize>(path: &Path, record: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(record).map_err(|source| BedrockError::Registry {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

impl JobRecord {
    /// The registry file of a run directory.
    pub fn path(out_dir: &Path) -> PathBuf {
        out_dir.join("job.json")
    }

    /// Reads the registry; `None` when there is none.
    pub fn load(out_dir: &Path) -> Result<Option<JobRecord>> {
        read_record(&Self::path(out_dir))
    }

    /// Writes the registry atomically.
    pub fn save(&self, out_dir: &Path) -> Result<()> {
        write_record(&Self::path(out_dir), self)
    }

    fn update(&mut self, job: &CustomizationJob) {
        self.status = job.status.clone();
        self.sub_statuses = [
            ("validation", &job.validation_status),
            ("data_processing", &job.data_processing_status),
            ("training", &job.training_status),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
        .collect();
        if job.output_model_arn.is_some() {
            self.custom_model_arn = job.output_model_arn.clone();
        }
        self.failure_message = job.failure_message.clone();
        self.training_loss = job.training_loss;
        self.validation_losses = job.validation_losses.clone();
    }
}

/// Writes a run-directory record atomically (see [`tunebench_core::write_atomic`]), creating
/// its folder first.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    tunebench_core::write_atomic(path, bytes).map_err(io(path))
}

// --- clients --------------------------------------------------------------------------------

/// The AWS clients a Bedrock job needs.
pub struct Clients {
    /// Bedrock control plane.
    pub bedrock: Bedrock,
    /// S3 for data and metrics.
    pub s3: S3,
}

impl Clients {
    /// Connects both; `s3` may differ from `bedrock` (e.g. another endpoint override).
    pub fn connect(bedrock: &AwsSettings, s3: &AwsSettings, opts: &BedrockOptions) -> Result<Self> {
        Ok(Clients {
            bedrock: Bedrock::connect(bedrock, opts)?,
            s3: S3::connect(s3)?,
        })
    }
}

/// Which job a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRef {
    /// The job recorded in `<out_dir>/job.json` (kept up to date by the command).
    Registry(PathBuf),
    /// A job name or ARN.
    Job(String),
}

impl JobRef {
    fn resolve(&self) -> Result<(String, Option<(PathBuf, JobRecord)>)> {
        match self {
            JobRef::Job(j) => Ok((j.clone(), None)),
            JobRef::Registry(dir) => match JobRecord::load(dir)? {
                Some(r) => Ok((r.job_arn.clone(), Some((dir.clone(), r)))),
                None => Err(BedrockError::NoRegistry {
                    path: JobRecord::path(dir),
                }),
            },
        }
    }
}

// --- submit ---------------------------------------------------------------------------------

/// One uploaded (or skipped) file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upload {
    /// The local file.
    pub file: PathBuf,
    /// Where it went.
    pub uri: String,
    /// Uploaded, or already there.
    pub outcome: UploadOutcome,
}

/// What [`submit`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Submission {
    /// The plan (request, estimate, data).
    pub plan: Plan,
    /// True: nothing was uploaded or sent.
    pub dry_run: bool,
    /// Files uploaded or found unchanged.
    pub uploads: Vec<Upload>,
    /// The registry entry (`None` on a dry run).
    pub job: Option<JobRecord>,
    /// True when the registry already held this exact submission (nothing was sent).
    pub resumed: bool,
}

/// Pre-flight, cost check, upload, submit, registry. With `dry_run` returns the plan and
/// sends nothing (`clients` unused). Submitting the same configuration and data again
/// returns the recorded job (or, without a registry, the same job through the idempotency
/// token).
pub fn submit(
    settings: &BedrockTrainSettings,
    clients: &Clients,
    dry_run: bool,
) -> Result<Submission> {
    let plan = plan(settings)?;
    if dry_run {
        return Ok(Submission {
            plan,
            dry_run,
            uploads: Vec::new(),
            job: None,
            resumed: false,
        });
    }
    if let Some(rec) = JobRecord::load(&settings.out_dir)? {
        if rec.config_hash == plan.config_hash {
            return Ok(Submission {
                plan,
                dry_run,
                uploads: Vec::new(),
                job: Some(rec),
                resumed: true,
            });
        }
        if !matches!(rec.status.as_str(), "Completed" | "Failed" | "Stopped") {
            return Err(BedrockError::Busy {
                path: JobRecord::path(&settings.out_dir),
                job: rec.job_arn,
                status: rec.status,
            });
        }
    }
    let mut uploads = Vec::new();
    let opts = UploadOptions {
        sse_kms_key_id: None,
        ..UploadOptions::default()
    };
    for d in plan.data.iter().filter(|d| !d.path.as_os_str().is_empty()) {
        let uri: S3Uri = d.uri.parse()?;
        let outcome = clients.s3.upload(&d.path, &uri, &opts)?;
        uploads.push(Upload {
            file: d.path.clone(),
            uri: d.uri.clone(),
            outcome,
        });
    }
    let arn = clients.bedrock.create_customization_job(&plan.spec)?;
    let rec = JobRecord {
        job_arn: arn,
        job_name: plan.spec.job_name.clone(),
        status: "InProgress".into(),
        config_hash: plan.config_hash.clone(),
        client_request_token: plan.spec.client_request_token.clone().unwrap_or_default(),
        base_model: plan.spec.base_model.clone(),
        custom_model_name: plan.spec.custom_model_name.clone(),
        output_s3_uri: plan.spec.output_s3_uri.clone(),
        ..JobRecord::default()
    };
    rec.save(&settings.out_dir)?;
    Ok(Submission {
        plan,
        dry_run,
        uploads,
        job: Some(rec),
        resumed: false,
    })
}

// --- status / wait / stop / list ------------------------------------------------------------

/// The job's current state; updates the registry when `job` is [`JobRef::Registry`].
pub fn status(clients: &Clients, job: &JobRef) -> Result<CustomizationJob> {
    let (id, reg) = job.resolve()?;
    let j = clients.bedrock.get_customization_job(&id)?;
    if let Some((dir, mut rec)) = reg {
        rec.update(&j);
        rec.save(&dir)?;
    }
    Ok(j)
}

/// How [`wait`] polls.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitSettings {
    /// First interval between polls.
    pub initial_interval: Duration,
    /// Intervals double up to this.
    pub max_interval: Duration,
    /// Give up after this long (the job keeps running).
    pub timeout: Option<Duration>,
    /// Consecutive throttled / 5xx / transport failures tolerated (after the SDK's own
    /// retries) before giving up.
    pub max_consecutive_errors: u32,
}

impl Default for WaitSettings {
    fn default() -> Self {
        WaitSettings {
            initial_interval: Duration::from_secs(30),
            max_interval: Duration::from_secs(300),
            timeout: None,
            max_consecutive_errors: 10,
        }
    }
}

/// Whether a failed poll is worth another try.
fn transient(e: &tunebench_aws::Error) -> bool {
    match e {
        tunebench_aws::Error::Bedrock { code, .. } => match code.as_deref() {
            None => true,
            Some(c) => {
                c.contains("Throttl")
                    || c.contains("TooManyRequests")
                    || c.contains("InternalServer")
                    || c.contains("ServiceUnavailable")
            }
        },
        _ => false,
    }
}

/// Polls `get` with backoff (intervals doubling from `opts.initial_interval` up to
/// `opts.max_interval`) until `done` says the answer is final, and returns that answer.
/// Throttling, 5xx and transport errors are retried, up to `opts.max_consecutive_errors` in
/// a row; `status` names the last state in a [`tunebench_aws::Error::WaitTimeout`].
fn poll<T>(
    opts: &WaitSettings,
    target: &str,
    mut get: impl FnMut() -> std::result::Result<T, tunebench_aws::Error>,
    mut done: impl FnMut(&T) -> Result<bool>,
    status: impl Fn(&T) -> String,
) -> Result<T> {
    let started = Instant::now();
    let mut interval = opts.initial_interval;
    let mut errors = 0;
    loop {
        match get() {
            Ok(x) => {
                errors = 0;
                if done(&x)? {
                    return Ok(x);
                }
                if let Some(t) = opts.timeout
                    && started.elapsed() + interval > t
                {
                    return Err(tunebench_aws::Error::WaitTimeout {
                        target: target.to_string(),
                        status: status(&x),
                        waited: started.elapsed(),
                    }
                    .into());
                }
            }
            Err(e) if transient(&e) && errors < opts.max_consecutive_errors => errors += 1,
            Err(e) => return Err(e.into()),
        }
        std::thread::sleep(interval);
        interval = (interval * 2).min(opts.max_interval);
    }
}

/// Polls until the job is `Completed`, `Failed` or `Stopped`, with backoff; throttling and
/// server errors are retried. `on_poll` sees every status (and sub-statuses) for a progress
/// display. With a registry, `job.json` follows each poll and a completed job is
/// [`collect`]ed. A failed job is returned, not an error.
pub fn wait(
    clients: &Clients,
    job: &JobRef,
    opts: &WaitSettings,
    mut on_poll: impl FnMut(&CustomizationJob),
) -> Result<CustomizationJob> {
    let (id, mut reg) = job.resolve()?;
    let j = poll(
        opts,
        &id,
        || clients.bedrock.get_customization_job(&id),
        |j| {
            on_poll(j);
            if let Some((dir, rec)) = reg.as_mut() {
                rec.update(j);
                rec.save(dir)?;
            }
            Ok(j.is_terminal())
        },
        |j| j.status.clone(),
    )?;
    if let Some((dir, _)) = &reg
        && j.status == "Completed"
    {
        collect(clients, dir, &j)?;
    }
    Ok(j)
}

/// Asks the job to stop (updates the registry's status on the next `status`/`wait`).
pub fn stop(clients: &Clients, job: &JobRef) -> Result<()> {
    let (id, _) = job.resolve()?;
    Ok(clients.bedrock.stop_customization_job(&id)?)
}

/// Customization jobs matching `filter`, newest first.
pub fn list(clients: &Clients, filter: &JobFilter) -> Result<Vec<CustomizationJobSummary>> {
    Ok(clients.bedrock.list_customization_jobs(filter)?)
}

// --- metrics --------------------------------------------------------------------------------

/// Downloads a completed job's metrics CSVs into `out_dir/bedrock_metrics/`, converts them
/// to `out_dir/metrics.csv` and records the custom model ARN in `job.json`. Returns the path
/// of `metrics.csv`.
pub fn collect(clients: &Clients, out_dir: &Path, job: &CustomizationJob) -> Result<PathBuf> {
    let mut rec = JobRecord::load(out_dir)?.unwrap_or_else(|| JobRecord {
        job_arn: job.job_arn.clone(),
        job_name: job.job_name.clone(),
        ..JobRecord::default()
    });
    rec.update(job);
    let prefix: Option<S3Uri> = job.artifacts_prefix().and_then(|p| p.parse().ok());
    let raw = out_dir.join("bedrock_metrics");
    let mut train = None;
    let mut val = None;
    if let Some(prefix) = prefix {
        std::fs::create_dir_all(&raw).map_err(io(&raw))?;
        for (rel, slot) in [
            (
                "training_artifacts/step_wise_training_metrics.csv",
                &mut train,
            ),
            (
                "validation_artifacts/post_fine_tuning_validation/validation_metrics.csv",
                &mut val,
            ),
        ] {
            let local = raw.join(rel.rsplit('/').next().unwrap_or(rel));
            match clients.s3.download(&prefix.join(rel), &local) {
                Ok(()) => *slot = Some(local),
                // A job without a validation set writes no validation metrics.
                Err(tunebench_aws::Error::Service { message, .. })
                    if message.contains("NoSuchKey") || message.contains("NotFound") => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let text = convert_metrics(train.as_deref(), val.as_deref())?;
    let metrics = out_dir.join("metrics.csv");
    write_atomic(&metrics, text.as_bytes())?;
    rec.metrics = Some("metrics.csv".into());
    rec.save(out_dir)?;
    Ok(metrics)
}

fn read_csv(path: &Path) -> Result<Vec<BTreeMap<String, String>>> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Ok(Vec::new());
    };
    let cols: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
    lines
        .enumerate()
        .map(|(i, l)| {
            let cells: Vec<&str> = l.split(',').map(str::trim).collect();
            if cells.len() != cols.len() {
                return Err(BedrockError::Metrics {
                    path: path.to_path_buf(),
                    reason: format!(
                        "line {}: {} cells, header has {}",
                        i + 2,
                        cells.len(),
                        cols.len()
                    ),
                });
            }
            Ok(cols
                .iter()
                .cloned()
                .zip(cells.into_iter().map(str::to_string))
                .collect())
        })
        .collect()
}

/// Bedrock's `step_wise_training_metrics.csv` (`step_number,epoch_number,training_loss,...`)
/// and `validation_metrics.csv` (`step_number,epoch_number,validation_loss,...`) as the text
/// of `metrics.csv` ([`crate::metrics::COLUMNS`]): one row per step, values copied as the
/// service wrote them, `val_loss` on steps that have one, columns Bedrock does not report
/// (`lr`, `grad_norm`, `tokens_per_s`, `elapsed_s`) empty. Step numbers are the service's.
pub fn convert_metrics(train: Option<&Path>, validation: Option<&Path>) -> Result<String> {
    #[derive(Default)]
    struct Row {
        epoch: String,
        train_loss: String,
        val_loss: String,
    }
    let mut rows: BTreeMap<u64, Row> = BTreeMap::new();
    for (path, loss_col, is_val) in [
        (train, "training_loss", false),
        (validation, "validation_loss", true),
    ] {
        let Some(path) = path else { continue };
        for r in read_csv(path)? {
            let bad = |what: &str| BedrockError::Metrics {
                path: path.to_path_buf(),
                reason: format!("missing or bad {what}"),
            };
            let step: u64 = r
                .get("step_number")
                .and_then(|s| s.parse::<f64>().ok())
                .map(|s| s as u64)
                .ok_or_else(|| bad("step_number"))?;
            let loss = r.get(loss_col).cloned().ok_or_else(|| bad(loss_col))?;
            let row = rows.entry(step).or_default();
            if let Some(e) = r.get("epoch_number") {
                row.epoch = e.clone();
            }
            if is_val {
                row.val_loss = loss;
            } else {
                row.train_loss = loss;
            }
        }
    }
    let mut out = format!("{}\n", crate::metrics::COLUMNS);
    for (step, r) in rows {
        out.push_str(&format!(
            "{step},{},{},{},,,,\n",
            r.epoch, r.train_loss, r.val_loss
        ));
    }
    Ok(out)
}

// --- deploy ---------------------------------------------------------------------------------

/// How to serve a custom model.
#[derive(Debug, Clone, PartialEq)]
pub enum DeployKind {
    /// On-demand custom model deployment (CreateCustomModelDeployment).
    OnDemand,
    /// Provisioned throughput: billed by the hour whether used or not.
    Provisioned {
        /// Model units.
        model_units: i32,
        /// USD per model unit per hour, shown before committing (from configs/pricing.toml's
        /// `provisioned_per_hour` or the pricing page).
        hourly_usd_per_unit: Option<f64>,
        /// The caller's explicit consent; without it nothing is created.
        yes: bool,
    },
}

/// What [`deploy`] made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Served {
    /// The deployment or provisioned-throughput ARN: the `modelId` eval's Bedrock candidate
    /// calls.
    pub arn: String,
    /// Its final status (`Active` or `InService`).
    pub status: String,
}

/// Deploys the custom model recorded in `out_dir/job.json` and waits until it can be called
/// (`Active` / `InService`). The ARN is recorded in the registry as soon as it exists (so
/// `undeploy` can remove a deployment whose wait was interrupted) and its status after every
/// poll. `on_notice` gets the hourly cost line before provisioned throughput is bought;
/// `on_poll` sees every status. A deployment (or provisioned throughput) already recorded is
/// watched again instead of creating a second one; and a create retried with the same name
/// returns the same resource (idempotency token from the name and the model).
pub fn deploy(
    clients: &Clients,
    out_dir: &Path,
    name: &str,
    kind: &DeployKind,
    wait: &WaitSettings,
    mut on_notice: impl FnMut(&str),
    mut on_poll: impl FnMut(&str),
) -> Result<Served> {
    let mut rec = JobRecord::load(out_dir)?.ok_or_else(|| BedrockError::NoRegistry {
        path: JobRecord::path(out_dir),
    })?;
    let model = rec.custom_model_arn.clone().ok_or_else(|| {
        BedrockError::Refused(format!(
            "{}: no custom model ARN yet (job status {})\nhint: `tunebench train bedrock wait` first",
            JobRecord::path(out_dir).display(),
            rec.status
        ))
    })?;
    // ModelDeploymentName and ProvisionedModelName: ([0-9a-zA-Z][_-]?){1,63}.
    if !((1..=63).contains(&name.len()) && Patterns::new().model_name.is_match(name)) {
        return Err(BedrockError::Refused(format!(
            "deployment name {name:?} is not valid: 1-63 letters or digits, each optionally followed by one '_' or '-'; nothing was created\nhint: pass --name"
        )));
    }
    let token = format!(
        "tb-{}",
        &hex::encode(Sha256::digest(format!("{name}\0{model}")))[..48]
    );
    let bedrock = &clients.bedrock;
    match kind {
        DeployKind::OnDemand => {
            // A recorded deployment is watched, not replaced: a second one would leave the
            // first running and unrecorded.
            let arn = match rec.deployment_arn.clone() {
                Some(arn) => arn,
                None => {
                    let arn = bedrock.create_custom_model_deployment(name, &model, Some(&token))?;
                    rec.deployment_arn = Some(arn.clone());
                    rec.deployment_status = Some("Creating".into());
                    rec.save(out_dir)?;
                    arn
                }
            };
            let d = poll(
                wait,
                &arn,
                || bedrock.get_custom_model_deployment(&arn),
                |d| {
                    on_poll(&d.status);
                    rec.deployment_status = Some(d.status.clone());
                    rec.save(out_dir)?;
                    Ok(d.status != "Creating")
                },
                |d| d.status.clone(),
            )?;
            usable(&arn, &d.status, "Active", d.failure_message.as_deref())
        }
        DeployKind::Provisioned {
            model_units,
            hourly_usd_per_unit,
            yes,
        } if rec.provisioned_throughput_arn.is_none() => {
            let cost = match hourly_usd_per_unit {
                Some(h) => format!(
                    "${:.2}/hour (${:.0}/month) for {model_units} model unit(s)",
                    h * f64::from(*model_units),
                    h * f64::from(*model_units) * 730.0
                ),
                None => {
                    "an hourly rate per model unit (see https://aws.amazon.com/bedrock/pricing/)"
                        .into()
                }
            };
            on_notice(&format!(
                "provisioned throughput for {model} is billed at {cost} until it is deleted"
            ));
            if !yes {
                return Err(BedrockError::Refused(format!(
                    "provisioned throughput not created: it costs {cost}\nhint: pass --yes to accept"
                )));
            }
            let arn =
                bedrock.create_provisioned_throughput(name, &model, *model_units, Some(&token))?;
            rec.provisioned_throughput_arn = Some(arn.clone());
            rec.provisioned_throughput_status = Some("Creating".into());
            rec.save(out_dir)?;
            wait_provisioned(bedrock, &mut rec, out_dir, &arn, wait, on_poll)
        }
        // Already bought (and recorded): watch it, nothing new is billed.
        DeployKind::Provisioned { .. } => {
            let arn = rec.provisioned_throughput_arn.clone().unwrap_or_default();
            wait_provisioned(bedrock, &mut rec, out_dir, &arn, wait, on_poll)
        }
    }
}

fn wait_provisioned(
    bedrock: &tunebench_aws::Bedrock,
    rec: &mut JobRecord,
    out_dir: &Path,
    arn: &str,
    wait: &WaitSettings,
    mut on_poll: impl FnMut(&str),
) -> Result<Served> {
    let p = poll(
        wait,
        arn,
        || bedrock.get_provisioned_throughput(arn),
        |p| {
            on_poll(&p.status);
            rec.provisioned_throughput_status = Some(p.status.clone());
            rec.save(out_dir)?;
            Ok(!matches!(p.status.as_str(), "Creating" | "Updating"))
        },
        |p| p.status.clone(),
    )?;
    usable(arn, &p.status, "InService", p.failure_message.as_deref())
}

fn usable(arn: &str, status: &str, ready: &str, failure: Option<&str>) -> Result<Served> {
    if status == ready {
        Ok(Served {
            arn: arn.to_string(),
            status: status.to_string(),
        })
    } else {
        Err(BedrockError::Unusable {
            arn: arn.to_string(),
            status: status.to_string(),
            reason: failure.unwrap_or("no reason given").to_string(),
        })
    }
}

/// Deletes the deployment and provisioned throughput recorded in `out_dir/job.json`; returns
/// the ARNs deleted.
pub fn undeploy(clients: &Clients, out_dir: &Path) -> Result<Vec<String>> {
    let mut rec = JobRecord::load(out_dir)?.ok_or_else(|| BedrockError::NoRegistry {
        path: JobRecord::path(out_dir),
    })?;
    let mut gone = Vec::new();
    if let Some(d) = rec.deployment_arn.take() {
        clients.bedrock.delete_custom_model_deployment(&d)?;
        rec.deployment_status = None;
        gone.push(d);
        rec.save(out_dir)?;
    }
    if let Some(p) = rec.provisioned_throughput_arn.take() {
        clients.bedrock.delete_provisioned_throughput(&p)?;
        rec.provisioned_throughput_status = None;
        gone.push(p);
        rec.save(out_dir)?;
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperparameters_are_sent_as_plain_decimal_strings() {
        assert_eq!(HyperValue::Float(1e-5).to_api_string(), "0.00001");
        assert_eq!(HyperValue::Int(2).to_api_string(), "2");
        assert_eq!(HyperValue::Text(" 0.1 ".into()).to_api_string(), "0.1");
    }

    #[test]
    fn patterns_follow_the_service_model() {
        let p = Patterns::new();
        assert!(p.job_name.is_match("tb-ft.1+a"));
        assert!(!p.job_name.is_match("-x"));
        assert!(!p.job_name.is_match("a_b"));
        assert!(p.model_name.is_match("tb_ft-1"));
        assert!(!p.model_name.is_match("tb--ft"));
        assert!(p.role_arn.is_match("arn:aws:iam::123456789012:role/x"));
        assert!(!p.role_arn.is_match("arn:aws:iam::123:role/x"));
        assert!(p.kms.is_match("alias/tb_key-1"));
    }

    #[test]
    fn prepared_lines_parse_back_into_records() {
        let nova = json!({"schemaVersion": "bedrock-conversation-2024", "system": [{"text": "s"}],
            "messages": [{"role": "user", "content": [{"text": "q"}]},
                         {"role": "assistant", "content": [{"text": "a"}]}]});
        let r = parse_line(&nova).unwrap();
        assert!(
            Target::Bedrock(BedrockFormat::Nova)
                .check_record(&r, None)
                .is_empty()
        );
        let claude = json!({"system": "s", "messages": [{"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"}]});
        assert!(matches!(
            parse_line(&claude),
            Some(Record::Chat {
                system: Some(_),
                ..
            })
        ));
        assert!(parse_line(&json!({"foo": 1})).is_none());
    }
}
