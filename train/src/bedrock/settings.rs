//! `[train.bedrock]` as written and resolved, and the checks that need no file or call.

use super::*;

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
    /// Reinforcement fine-tuning: the model's own answers to the training prompts scored by
    /// a grader Lambda (`[train.bedrock.rft]`).
    ReinforcementFineTuning,
}

impl CustomizationType {
    pub(super) fn kind(self) -> CustomizationKind {
        match self {
            CustomizationType::FineTuning => CustomizationKind::FineTuning,
            CustomizationType::ContinuedPreTraining => CustomizationKind::ContinuedPreTraining,
            CustomizationType::Distillation => CustomizationKind::Distillation,
            CustomizationType::ReinforcementFineTuning => {
                CustomizationKind::ReinforcementFineTuning
            }
        }
    }

    pub(super) fn api_name(self) -> &'static str {
        match self {
            CustomizationType::FineTuning => "FINE_TUNING",
            CustomizationType::ContinuedPreTraining => "CONTINUED_PRE_TRAINING",
            CustomizationType::Distillation => "DISTILLATION",
            CustomizationType::ReinforcementFineTuning => "REINFORCEMENT_FINE_TUNING",
        }
    }
}

fn default_check_prompts() -> usize {
    50
}

fn default_saturated() -> f64 {
    0.95
}

/// `[train.bedrock.grader_check]`: which candidate answers the first training prompts and
/// which grader scores the answers (both named in the config's `[eval]` section).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraderCheckSettings {
    /// An `[[eval.graders]]` name: the same reward function as the job's Lambda.
    pub grader: String,
    /// An `[[eval.candidates]]` name: usually the base model being tuned.
    pub candidate: String,
    /// Training prompts sent (the first ones of `train_file`).
    #[serde(default = "default_check_prompts")]
    pub prompts: usize,
    /// Share of rewards at the top or at the bottom from which they count as saturated.
    #[serde(default = "default_saturated")]
    pub saturated: f64,
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

    pub(super) fn as_f64(&self) -> Option<f64> {
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
    /// `FINE_TUNING`, `CONTINUED_PRE_TRAINING`, `DISTILLATION` or
    /// `REINFORCEMENT_FINE_TUNING`.
    pub customization_type: CustomizationType,
    /// `[train.bedrock.rft]`, for `REINFORCEMENT_FINE_TUNING`: `grader_lambda_arn` and the
    /// RFT hyperparameters (`epoch_count`, `batch_size`, `learning_rate`,
    /// `training_sample_per_prompt`, `max_prompt_length`, `inference_max_tokens`,
    /// `reasoning_effort`, `eval_interval`), checked against the service model's ranges.
    pub rft: Option<RftConfig>,
    /// `[train.bedrock.grader_check]`: run the reward function on real answers before an RFT
    /// job is paid for (`tunebench train bedrock grader-check`).
    pub grader_check: Option<GraderCheckSettings>,
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

pub(super) fn full(re: &str) -> Regex {
    // The patterns are constants of this file; a typo is a bug found by the unit tests.
    #[allow(clippy::expect_used)]
    Regex::new(&format!("^(?:{re})$")).expect("valid regex")
}

/// Patterns of CreateModelCustomizationJob members (service model bedrock-2023-04-20).
pub(super) struct Patterns {
    pub(super) job_name: Regex,
    pub(super) model_name: Regex,
    pub(super) role_arn: Regex,
    pub(super) kms: Regex,
    pub(super) tag: Regex,
    pub(super) vpc_id: Regex,
}

impl Patterns {
    pub(super) fn new() -> Self {
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
pub(super) type ModelNaming = (&'static str, &'static str, &'static str);

/// The pre-flight checks that customization jobs and model imports share: the job name, the
/// name of the model it creates, the role ARN and the KMS key, against the service model's
/// patterns.
pub(super) fn identity_problems(
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

pub(super) fn abs_path(base: &Path, p: &str) -> String {
    if is_s3(p) || Path::new(p).is_absolute() || p.is_empty() {
        p.to_string()
    } else {
        base.join(p).to_string_lossy().into_owned()
    }
}

pub(super) fn is_s3(s: &str) -> bool {
    s.starts_with("s3://")
}

impl BedrockTrainSettings {
    /// Makes local paths absolute (relative to `base`, the config file's folder) and checks
    /// every setting that needs no file, listing all problems in one
    /// [`TrainError::Preflight`].
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
            Err(TrainError::Preflight(problems))
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
            (
                CustomizationType::FineTuning
                | CustomizationType::ContinuedPreTraining
                | CustomizationType::ReinforcementFineTuning,
                true,
            ) => out.push(format!(
                "teacher_model_id is only used by DISTILLATION, not {}",
                self.customization_type.api_name()
            )),
            _ => {}
        }
        match (self.customization_type, &self.rft) {
            (CustomizationType::ReinforcementFineTuning, None) => out.push(
                "customization_type = \"REINFORCEMENT_FINE_TUNING\" needs [train.bedrock.rft] with grader_lambda_arn (the reward function's Lambda)".into(),
            ),
            (CustomizationType::ReinforcementFineTuning, Some(rft)) => {
                out.extend(rft.problems());
                if !self.hyperparameters.is_empty() {
                    out.push("hyperparameters are not sent with REINFORCEMENT_FINE_TUNING\nhint: set them in [train.bedrock.rft] (epoch_count, batch_size, learning_rate, ...)".into());
                }
            }
            (other, Some(_)) => out.push(format!(
                "[train.bedrock.rft] is only used by REINFORCEMENT_FINE_TUNING, not {}",
                other.api_name()
            )),
            (_, None) => {}
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
            CustomizationType::ReinforcementFineTuning => model.offers.reinforcement_fine_tuning,
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

    pub(super) fn epochs(&self, model: &BaseModel) -> f64 {
        let rft_epochs = self.rft.as_ref().and_then(|r| r.epoch_count).map(f64::from);
        rft_epochs
            .or_else(|| {
                self.hyperparameters
                    .get("epochCount")
                    .and_then(HyperValue::as_f64)
            })
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
