//! `tunebench train bedrock ...`: resolve `[train.bedrock]` and `[aws]`, call the train
//! crate's Bedrock functions, print what happened (or JSON).

use tunebench_aws::{AwsSettings, BedrockOptions, JobFilter};
use tunebench_train::bedrock::{self, BedrockTrainSettings, Clients, JobRef, WaitSettings};

use crate::cli::{BedrockCommand, Global};
use crate::config::{self, ConfigError};

pub fn run(global: &Global, cmd: &BedrockCommand) -> anyhow::Result<()> {
    let path = match cmd {
        BedrockCommand::Submit(a) => &a.config,
        BedrockCommand::Status(a) | BedrockCommand::Wait(a) | BedrockCommand::Stop(a) => &a.config,
        BedrockCommand::List(a) => &a.config,
    };
    let (file, base) = config::load(path)?;
    let settings: BedrockTrainSettings = file
        .train
        .and_then(|t| t.bedrock)
        .ok_or_else(|| ConfigError(format!("{}: no [train.bedrock] section", path.display())))?
        .resolve(&base)?;
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }
    if let BedrockCommand::Submit(a) = cmd
        && a.dry_run
    {
        // Nothing is contacted: the plan is all checks, the estimate and the exact request.
        let plan = bedrock::plan(&settings)?;
        println!("{}", plan.to_json());
        return Ok(());
    }
    let aws = AwsSettings {
        region: settings
            .region
            .clone()
            .or(file.aws.as_ref().and_then(|a| a.region.clone())),
        ..file.aws.clone().unwrap_or_default()
    };
    let clients = Clients::connect(&aws, &aws, &BedrockOptions::default())?;
    let job = |j: &Option<String>| match j {
        Some(j) => JobRef::Job(j.clone()),
        None => JobRef::Registry(settings.out_dir.clone()),
    };
    let print = |value: serde_json::Value, line: String| {
        if global.json {
            println!("{value:#}");
        } else if !global.quiet {
            println!("{line}");
        }
    };
    match cmd {
        BedrockCommand::Submit(_) => {
            let s = bedrock::submit(&settings, &clients, false)?;
            let arn = s
                .job
                .as_ref()
                .map(|j| j.job_arn.clone())
                .unwrap_or_default();
            let verb = if s.resumed {
                "already submitted"
            } else {
                "submitted"
            };
            print(
                serde_json::json!({ "job_arn": arn, "resumed": s.resumed }),
                format!(
                    "{verb}: {arn}\nwatch it with: tunebench train bedrock wait --config {}",
                    path.display()
                ),
            );
        }
        BedrockCommand::Status(a) => {
            let j = bedrock::status(&clients, &job(&a.job))?;
            print(serde_json::to_value(&j)?, status_line(&j));
        }
        BedrockCommand::Wait(a) => {
            let quiet = global.quiet || global.json;
            let j = bedrock::wait(&clients, &job(&a.job), &WaitSettings::default(), |j| {
                if !quiet {
                    eprintln!("{}", status_line(j));
                }
            })?;
            print(serde_json::to_value(&j)?, status_line(&j));
        }
        BedrockCommand::Stop(a) => {
            bedrock::stop(&clients, &job(&a.job))?;
            print(
                serde_json::json!({ "stopped": true }),
                "stop requested".to_string(),
            );
        }
        BedrockCommand::List(a) => {
            let filter = JobFilter {
                status: a.status.clone(),
                name_contains: a.name_contains.clone(),
                ..JobFilter::default()
            };
            let jobs = bedrock::list(&clients, &filter)?;
            let lines: Vec<String> = jobs
                .iter()
                .map(|j| {
                    format!(
                        "{}  {}  {}  {}",
                        j.creation_time, j.status, j.job_name, j.job_arn
                    )
                })
                .collect();
            print(serde_json::to_value(&jobs)?, lines.join("\n"));
        }
    }
    Ok(())
}

fn status_line(j: &tunebench_aws::CustomizationJob) -> String {
    let sub = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    format!(
        "{}: {} (validation {}, data processing {}, training {}){}",
        j.job_name,
        j.status,
        sub(&j.validation_status),
        sub(&j.data_processing_status),
        sub(&j.training_status),
        j.output_model_arn
            .as_ref()
            .map(|a| format!("; custom model {a}"))
            .unwrap_or_default()
    )
}
