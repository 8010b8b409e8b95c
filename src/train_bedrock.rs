//! `tunebench train bedrock ...`: resolve `[train.bedrock]` and `[aws]`, call the train
//! crate's Bedrock functions, print what happened (or JSON).

use std::time::Duration;

use tunebench_aws::JobFilter;
use tunebench_pipeline::grader_check::{self, GraderCheck};
use tunebench_pipeline::train::bedrock_clients;
use tunebench_pipeline::{ConfigError, Scope};
use tunebench_train::bedrock::{
    self, BedrockTrainSettings, DeployKind, JobRecord, JobRef, WaitSettings, import,
};

use crate::cli::{BedrockCommand, Global, PollArgs};
use crate::print::either;
use crate::progress::StatusLine;

pub fn run(global: &Global, cmd: &BedrockCommand) -> anyhow::Result<()> {
    let path = match cmd {
        BedrockCommand::Submit(a) => &a.config,
        BedrockCommand::Status(a) | BedrockCommand::Stop(a) => &a.config,
        BedrockCommand::Wait(a) => &a.job.config,
        BedrockCommand::List(a) => &a.config,
        BedrockCommand::Deploy(a) => &a.config,
        BedrockCommand::Undeploy(a) => &a.config,
        BedrockCommand::Import(a) => &a.config,
        BedrockCommand::GraderCheck(a) => &a.config,
    };
    let loaded = crate::load(global, path)?;
    let train = loaded.raw.train.clone().unwrap_or_default();
    if let BedrockCommand::Import(a) = cmd {
        let settings = train
            .bedrock_import
            .ok_or_else(|| {
                ConfigError(format!(
                    "{}: no [train.bedrock_import] section",
                    path.display()
                ))
            })?
            .resolve(&loaded.base)?;
        if global.show_settings {
            println!("{}", serde_json::to_string_pretty(&settings)?);
            return Ok(());
        }
        let clients = bedrock_clients(
            &loaded,
            settings.region.clone(),
            &settings.out_dir,
            Scope::Command,
        )?;
        let mut line = StatusLine::new(global.silent(), "importing");
        let done = import::import(&clients, &settings, &wait_settings(&a.poll)?, |status| {
            line.set(format!("{}: {status}", settings.name))
        })?;
        drop(line);
        let arn = done.record.imported_model_arn.clone().unwrap_or_default();
        let uploaded = done
            .uploads
            .iter()
            .filter(|u| u.outcome != tunebench_aws::UploadOutcome::Unchanged)
            .count();
        either(
            global,
            &serde_json::to_value(&done)?,
            &format!(
                "{}: {arn}\n{uploaded} of {} files uploaded; recorded in {}; evaluate it with an [[eval.candidates]] entry: kind = \"bedrock\", model_id = \"{arn}\"",
                if done.resumed {
                    "already imported"
                } else {
                    "imported"
                },
                done.uploads.len(),
                import::ImportRecord::path(&settings.out_dir).display(),
            ),
        );
        return Ok(());
    }
    let settings: BedrockTrainSettings = train
        .bedrock
        .ok_or_else(|| ConfigError(format!("{}: no [train.bedrock] section", path.display())))?
        .resolve(&loaded.base)?;
    if global.show_settings {
        println!("{}", serde_json::to_string_pretty(&settings)?);
        return Ok(());
    }
    if let BedrockCommand::GraderCheck(a) = cmd {
        let check = check_rewards(global, &loaded, &settings, a.prompts)?;
        either(global, &serde_json::to_value(&check)?, &check.describe());
        return Ok(check.refuse_if_useless(a.force, "pass --force to go on")?);
    }
    if let BedrockCommand::Submit(a) = cmd
        && !a.dry_run
        && settings.grader_check.is_some()
    {
        // The reward function on real answers before anything is uploaded or paid for.
        let check = check_rewards(global, &loaded, &settings, None)?;
        if !global.silent() {
            eprintln!("{}", check.describe());
        }
        check.refuse_if_useless(a.force, "pass --force to submit anyway")?;
    }
    if let BedrockCommand::Submit(a) = cmd
        && a.dry_run
    {
        // Nothing is contacted: the plan is all checks, the estimate and the exact request.
        let plan = bedrock::plan(&settings)?;
        println!("{}", plan.to_json());
        return Ok(());
    }
    let clients = bedrock_clients(
        &loaded,
        settings.region.clone(),
        &settings.out_dir,
        Scope::Command,
    )?;
    let job = |j: &Option<String>| match j {
        Some(j) => JobRef::Job(j.clone()),
        None => JobRef::Registry(settings.out_dir.clone()),
    };
    let print = |value: serde_json::Value, line: String| either(global, &value, &line);
    // Progress goes to stderr; --json keeps stdout to the one JSON answer.
    let quiet = global.silent();
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
            let mut line = StatusLine::new(quiet, "training");
            let j = bedrock::wait(&clients, &job(&a.job.job), &wait_settings(&a.poll)?, |j| {
                line.set(status_line(j))
            })?;
            drop(line);
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
        BedrockCommand::Deploy(a) => {
            let name = a
                .name
                .clone()
                .unwrap_or_else(|| format!("{}-dep", settings.custom_model_name()));
            let kind = if a.provisioned {
                DeployKind::Provisioned {
                    model_units: a.model_units,
                    // Without training prices the override alone still counts.
                    hourly_usd_per_unit: settings
                        .prices()
                        .map_or(settings.provisioned_price_per_hour, |p| {
                            p.provisioned_per_hour
                        }),
                    yes: a.yes,
                }
            } else {
                DeployKind::OnDemand {
                    region: settings
                        .region
                        .clone()
                        .or_else(|| loaded.aws().region)
                        .or_else(|| std::env::var("AWS_REGION").ok()),
                }
            };
            let mut line = StatusLine::new(quiet, "deploying");
            let served = bedrock::deploy(
                &clients,
                &settings.out_dir,
                &name,
                &kind,
                &wait_settings(&a.poll)?,
                // The cost is shown even with --quiet: it is what --yes agrees to.
                |notice| eprintln!("{notice}"),
                |status| line.set(format!("{name}: {status}")),
            )?;
            drop(line);
            print(
                serde_json::to_value(&served)?,
                format!(
                    "{name} is {}: {}\nrecorded in {}; evaluate it with an [[eval.candidates]] entry: kind = \"bedrock\", model_id = \"{}\"",
                    served.status,
                    served.arn,
                    JobRecord::path(&settings.out_dir).display(),
                    served.arn
                ),
            );
        }
        BedrockCommand::Import(_) | BedrockCommand::GraderCheck(_) => unreachable!("handled above"),
        BedrockCommand::Undeploy(_) => {
            let gone = bedrock::undeploy(&clients, &settings.out_dir)?;
            let line = if gone.is_empty() {
                "nothing deployed".to_string()
            } else {
                format!("deleted {}", gone.join(", "))
            };
            print(serde_json::json!({ "deleted": gone }), line);
        }
    }
    Ok(())
}

fn wait_settings(p: &PollArgs) -> Result<WaitSettings, ConfigError> {
    let secs = |what: &str, s: f64| {
        Duration::try_from_secs_f64(s)
            .map_err(|_| ConfigError(format!("--{what} {s}: not a number of seconds")))
    };
    let initial = secs("poll-interval", p.poll_interval)?;
    let default = WaitSettings::default();
    Ok(WaitSettings {
        initial_interval: initial,
        max_interval: default.max_interval.max(initial),
        timeout: p.timeout.map(|t| secs("timeout", t)).transpose()?,
        ..default
    })
}

/// `name: status (sub-statuses), <time since the job was created>[; custom model ARN]`.
fn status_line(j: &tunebench_aws::CustomizationJob) -> String {
    let sub = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let ran = j
        .running_time(std::time::SystemTime::now())
        .map(|d| {
            let s = d.as_secs();
            format!(", {}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
        })
        .unwrap_or_default();
    format!(
        "{}: {} (validation {}, data processing {}, training {}{ran}){}",
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

/// `grader-check`'s run, with a progress bar.
fn check_rewards(
    global: &Global,
    loaded: &tunebench_pipeline::config::Loaded,
    settings: &BedrockTrainSettings,
    prompts: Option<usize>,
) -> anyhow::Result<GraderCheck> {
    let bar = crate::progress::Bars::new(global.silent());
    Ok(grader_check::grader_check(loaded, settings, prompts, &bar)?)
}
