//! Amazon Bedrock model customization: `tunebench train bedrock submit|status|wait|stop|list|
//! deploy|undeploy` (and `import`, Custom Model Import of a local model, in [`import`]).
//!
//! The recipe, top to bottom:
//!
//! 1. [`BedrockTrainSettings`] (`[train.bedrock]`) is resolved ([`BedrockTrainSettings::resolve`]);
//! 2. [`plan`] runs every pre-flight check *before anything is uploaded*, returning all problems
//!    at once ([`TrainError::Preflight`]): base model known and offered in the Region and for
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

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
pub use tunebench_aws::wait::WaitSettings;
use tunebench_aws::{
    AwsSettings, Bedrock, BedrockOptions, CustomizationJob, CustomizationJobSpec,
    CustomizationJobSummary, CustomizationKind, JobFilter, RftConfig, S3, S3Uri, UploadOptions,
    UploadOutcome, VpcConfig, pricing::CustomizationPrices,
};
use tunebench_datasets::record::{Record, Role, Turn};
use tunebench_datasets::targets::{BedrockFormat, Split, Target};

pub use models::{BASE_MODELS, BaseModel, HpKind, Hyperparameter};

use crate::error::{Result, TrainError, io};

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
        let nova_target = Target::Bedrock(BedrockFormat::Nova);
        let r = parse_line(&nova, nova_target).unwrap();
        assert!(
            Target::Bedrock(BedrockFormat::Nova)
                .check_record(&r, None)
                .is_empty()
        );
        let claude = json!({"system": "s", "messages": [{"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"}]});
        assert!(matches!(
            parse_line(&claude, Target::Bedrock(BedrockFormat::Claude3Haiku)),
            Some(Record::Chat {
                system: Some(_),
                ..
            })
        ));
        assert!(parse_line(&json!({"foo": 1}), nova_target).is_none());
        // An RFT line reads back as the prompt it was written from, any JSON reference as
        // its text.
        let rft = Target::Bedrock(BedrockFormat::Rft);
        let line = json!({"messages": [{"role": "system", "content": "s"},
            {"role": "user", "content": "q"}], "reference_answer": {"answer": 18}, "level": 2});
        let r = parse_line(&line, rft).unwrap();
        assert_eq!(
            r,
            Record::Prompt {
                system: Some("s".into()),
                turns: vec![Turn {
                    role: Role::User,
                    content: "q".into()
                }],
                reference_answer: r#"{"answer":18}"#.into(),
                fields: [("level".to_string(), "2".to_string())].into(),
            }
        );
        assert!(rft.check_record(&r, None).is_empty());
    }
}
