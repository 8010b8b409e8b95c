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
//!
//! One file per part: `settings`, `preflight` (the data), `cost`, `plan`, `submit`,
//! `registry` (`job.json`), `clients`, `watch` (status / wait / stop / list), `collect`
//! (metrics), `deploy`; `import` and `models` (the base-model table) beside them.

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

mod clients;
mod collect;
mod cost;
mod deploy;
mod plan;
mod preflight;
mod registry;
mod settings;
mod submit;
mod watch;

pub use clients::*;
pub use collect::*;
pub use cost::*;
pub use deploy::*;
pub use plan::*;
pub use preflight::*;
pub use registry::*;
pub use settings::*;
pub use submit::*;
pub use watch::*;

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
