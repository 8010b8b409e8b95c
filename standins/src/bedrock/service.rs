//! What each implemented operation does, on validated input. Resources move through the
//! states a client polls for, one step per Get; a completed customization job writes its
//! metrics CSVs where the real service does:
//! `<outputDataConfig.s3Uri>/model-customization-job-<job id>/training_artifacts/step_wise_training_metrics.csv`
//! (`step_number,epoch_number,training_loss,perplexity`) and
//! `.../validation_artifacts/post_fine_tuning_validation/validation_metrics.csv`
//! (`step_number,epoch_number,validation_loss,validation_perplexity`), per the Bedrock user
//! guide, "Analyze the results of a model customization job". A reinforcement fine-tuning job
//! writes reward curves to the same two files instead:
//! `step_number,epoch_number,critic/rewards/mean,critic/rewards/min,critic/rewards/max` and
//! `step_number,epoch_number,validation/rewards/mean`. The metric names are the ones the user
//! guide's "Monitor your RFT training job" charts; that the service writes them to these files
//! is an assumption (the guide shows them in the console only).

use std::time::SystemTime;

use serde_json::{Value, json};

use super::{Reply, Shared, lock};

#[derive(Default)]
pub(crate) struct State {
    pub jobs: Vec<Job>,
    models: Vec<CustomModel>,
    deployments: Vec<Deployment>,
    provisioned: Vec<Provisioned>,
    imports: Vec<ImportJob>,
    invocations: Vec<InvocationJob>,
    /// Prompt prefixes (model id + text before a cache point) written to the prompt cache.
    prompt_cache: std::collections::HashSet<String>,
    next_id: u64,
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:012x}", 0x5a0000000000_u64 + self.next_id)
    }
}

pub(crate) struct Job {
    id: String,
    arn: String,
    name: String,
    token: Option<String>,
    request: Value,
    base_model_arn: String,
    model_arn: String,
    model_name: String,
    status: &'static str,
    polls: u32,
    created: SystemTime,
    modified: SystemTime,
    ended: Option<SystemTime>,
    failure: Option<String>,
    final_loss: Option<f64>,
}

struct CustomModel {
    arn: String,
    name: String,
    job_arn: String,
    base_model_arn: String,
    created: SystemTime,
    status: &'static str,
}

struct Deployment {
    arn: String,
    name: String,
    model_arn: String,
    token: Option<String>,
    polls: u32,
    created: SystemTime,
}

struct Provisioned {
    arn: String,
    name: String,
    model_arn: String,
    foundation_arn: String,
    units: i64,
    token: Option<String>,
    polls: u32,
    created: SystemTime,
}

struct ImportJob {
    arn: String,
    name: String,
    model_name: String,
    imported_arn: String,
    request: Value,
    token: Option<String>,
    polls: u32,
    created: SystemTime,
}

/// A batch inference job: Submitted → InProgress → Completed (or PartiallyCompleted) over
/// `polls_to_complete` polls; on completion it reads its input from S3, answers each record
/// as Converse would, and writes `<output>/<job id>/<input file>.out` and
/// `manifest.json.out`.
struct InvocationJob {
    arn: String,
    request: Value,
    polls: u32,
    created: SystemTime,
    /// Whether it is the first job made (the one `batch_unprocessed_share` applies to).
    first: bool,
    /// Its end, once reached.
    outcome: Option<InvocationOutcome>,
}

/// How a batch job ended.
struct InvocationOutcome {
    status: &'static str,
    message: Option<String>,
    /// Total, processed, succeeded and failed records (`None` without an S3 endpoint: no
    /// records were read).
    counts: Option<[i64; 4]>,
}

fn ts(t: SystemTime) -> Value {
    Value::String(
        aws_smithy_types::DateTime::from(t)
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default(),
    )
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

fn not_found(what: &str, id: &str) -> Reply {
    Reply::error(
        404,
        "ResourceNotFoundException",
        format!("{what} {id} was not found"),
    )
}

/// The model id inside a foundation-model ARN, or the id itself.
fn base_model_id(ident: &str) -> String {
    match ident.split_once("foundation-model/") {
        Some((_, id)) => id.to_string(),
        None => ident.to_string(),
    }
}

pub(crate) async fn dispatch(shared: &Shared, op: &str, input: Value) -> Reply {
    match op {
        "CreateModelCustomizationJob" => create_job(shared, input),
        "GetModelCustomizationJob" => get_job(shared, input).await,
        "ListModelCustomizationJobs" => list_jobs(shared, input),
        "StopModelCustomizationJob" => stop_job(shared, input),
        "GetCustomModel" => get_custom_model(shared, input),
        "CreateCustomModelDeployment" => create_deployment(shared, input),
        "GetCustomModelDeployment" => get_deployment(shared, input),
        "DeleteCustomModelDeployment" => delete_deployment(shared, input),
        "CreateProvisionedModelThroughput" => create_provisioned(shared, input),
        "GetProvisionedModelThroughput" => get_provisioned(shared, input),
        "DeleteProvisionedModelThroughput" => delete_provisioned(shared, input),
        "CreateModelImportJob" => create_import(shared, input),
        "GetModelImportJob" => get_import(shared, input),
        "CreateModelInvocationJob" => create_invocation(shared, input),
        "GetModelInvocationJob" => get_invocation(shared, input).await,
        "Converse" => converse(shared, input),
        "CountTokens" => count_tokens(input),
        _ => Reply::error(
            501,
            "NotImplementedException",
            format!("the stand-in validates {op} but does not implement it"),
        ),
    }
}

fn arn(shared: &Shared, rest: &str) -> String {
    let c = &shared.config;
    format!("arn:aws:bedrock:{}:{}:{rest}", c.region, c.account_id)
}

fn create_job(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let name = str_of(&input, "jobName").to_string();
    let token = input["clientRequestToken"].as_str().map(str::to_string);
    // The request without its token, to tell a retry from a different request.
    let mut request = input.clone();
    if let Some(o) = request.as_object_mut() {
        o.remove("clientRequestToken");
    }
    if let Some(t) = &token
        && let Some(j) = st.jobs.iter().find(|j| j.token.as_deref() == Some(t))
    {
        if j.request == request {
            return Reply::ok(201, json!({ "jobArn": j.arn }));
        }
        return Reply::error(
            400,
            "ConflictException",
            format!("clientRequestToken {t} was already used with different parameters"),
        );
    }
    if st.jobs.iter().any(|j| j.name == name) {
        return Reply::error(
            400,
            "ConflictException",
            format!("a model customization job named {name} already exists"),
        );
    }
    let model_name = str_of(&input, "customModelName").to_string();
    if st.models.iter().any(|m| m.name == model_name) {
        return Reply::error(
            400,
            "ConflictException",
            format!("a custom model named {model_name} already exists"),
        );
    }
    let base_ident = str_of(&input, "baseModelIdentifier");
    if base_ident.contains(":custom-model/") && !st.models.iter().any(|m| m.arn == base_ident) {
        return not_found("base model", base_ident);
    }
    let base_id = base_model_id(base_ident);
    let base_model_arn = format!(
        "arn:aws:bedrock:{}::foundation-model/{base_id}",
        shared.config.region
    );
    let id = st.new_id();
    let job_arn = arn(shared, &format!("model-customization-job/{base_id}/{id}"));
    let model_id = st.new_id();
    let model_arn = arn(shared, &format!("custom-model/{base_id}/{model_id}"));
    let now = SystemTime::now();
    st.models.push(CustomModel {
        arn: model_arn.clone(),
        name: model_name.clone(),
        job_arn: job_arn.clone(),
        base_model_arn: base_model_arn.clone(),
        created: now,
        status: "Creating",
    });
    st.jobs.push(Job {
        id,
        arn: job_arn.clone(),
        name,
        token,
        request,
        base_model_arn,
        model_arn,
        model_name,
        status: "InProgress",
        polls: 0,
        created: now,
        modified: now,
        ended: None,
        failure: None,
        final_loss: None,
    });
    Reply::ok(201, json!({ "jobArn": job_arn }))
}

fn find_job<'a>(st: &'a mut State, ident: &str) -> Option<&'a mut Job> {
    st.jobs
        .iter_mut()
        .find(|j| j.arn == ident || j.name == ident)
}

fn sub_status(job: &Job, stage: u32, polls_to_complete: u32) -> Value {
    // Three stages (validation, data processing, training) spread over the polls.
    let status = match job.status {
        "Completed" => "Completed",
        "Failed" if stage == 0 => "Failed",
        "Failed" => "NotStarted",
        "Stopped" | "Stopping" => job.status,
        _ => {
            let reached = (job.polls * 3) / polls_to_complete.max(1);
            match reached.cmp(&stage) {
                std::cmp::Ordering::Greater => "Completed",
                std::cmp::Ordering::Equal => "InProgress",
                std::cmp::Ordering::Less => "NotStarted",
            }
        }
    };
    json!({ "status": status, "creationTime": ts(job.created), "lastModifiedTime": ts(job.modified) })
}

fn job_json(shared: &Shared, j: &Job) -> Value {
    let n = shared.config.polls_to_complete;
    let mut v = json!({
        "jobArn": j.arn,
        "jobName": j.name,
        "outputModelName": j.model_name,
        "roleArn": j.request["roleArn"],
        "status": j.status,
        "statusDetails": {
            "validationDetails": sub_status(j, 0, n),
            "dataProcessingDetails": sub_status(j, 1, n),
            "trainingDetails": sub_status(j, 2, n),
        },
        "creationTime": ts(j.created),
        "lastModifiedTime": ts(j.modified),
        "baseModelArn": j.base_model_arn,
        "trainingDataConfig": j.request["trainingDataConfig"],
        "validationDataConfig": j.request.get("validationDataConfig").cloned().unwrap_or_else(|| json!({ "validators": [] })),
        "outputDataConfig": j.request["outputDataConfig"],
        "customizationType": j.request.get("customizationType").cloned().unwrap_or_else(|| json!("FINE_TUNING")),
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(t) = &j.token {
            o.insert("clientRequestToken".into(), json!(t));
        }
        if let Some(h) = j.request.get("hyperParameters") {
            o.insert("hyperParameters".into(), h.clone());
        }
        if let Some(e) = j.ended {
            o.insert("endTime".into(), ts(e));
        }
        if let Some(f) = &j.failure {
            o.insert("failureMessage".into(), json!(f));
        }
        if j.status == "Completed" {
            o.insert("outputModelArn".into(), json!(j.model_arn));
            if let Some(l) = j.final_loss {
                o.insert("trainingMetrics".into(), json!({ "trainingLoss": l }));
                let validators = j.request["validationDataConfig"]["validators"]
                    .as_array()
                    .map_or(0, Vec::len);
                let vals: Vec<Value> = (0..validators)
                    .map(|_| json!({ "validationLoss": l * 1.05 }))
                    .collect();
                o.insert("validationMetrics".into(), Value::Array(vals));
            }
        }
    }
    v
}

/// Reward curve of a finished RFT job: `(step, epoch, mean, min, max)`, deterministic: the
/// mean climbs from 0.25 towards 0.85 as the policy learns the grader's reward.
fn reward_curve(epochs: u32, steps_per_epoch: u32) -> Vec<(u32, u32, f64, f64, f64)> {
    let r = |x: f64| (x * 1e6).round() / 1e6;
    (0..epochs * steps_per_epoch)
        .map(|s| {
            let mean = 0.85 - 0.6 * (-0.2 * f64::from(s)).exp();
            let (lo, hi) = ((mean - 0.25).max(0.0), (mean + 0.15).min(1.0));
            (s, s / steps_per_epoch + 1, r(mean), r(lo), r(hi))
        })
        .collect()
}

/// Training curve of a finished job: `(step, epoch, loss)`, deterministic.
fn curve(epochs: u32, steps_per_epoch: u32) -> Vec<(u32, u32, f64)> {
    (0..epochs * steps_per_epoch)
        .map(|s| {
            let loss = 0.4 + 2.0 * (-0.15 * f64::from(s)).exp();
            (s, s / steps_per_epoch + 1, (loss * 1e6).round() / 1e6)
        })
        .collect()
}

async fn get_job(shared: &Shared, input: Value) -> Reply {
    let ident = str_of(&input, "jobIdentifier").to_string();
    let n = shared.config.polls_to_complete;
    let finished = {
        let mut st = lock(&shared.state);
        let Some(job) = find_job(&mut st, &ident) else {
            return not_found("model customization job", &ident);
        };
        let mut finished = None;
        match job.status {
            "InProgress" => {
                job.polls += 1;
                job.modified = SystemTime::now();
                if job.polls >= n {
                    let fail = shared
                        .config
                        .fail_jobs_named
                        .as_deref()
                        .is_some_and(|f| job.name.contains(f));
                    if fail {
                        job.status = "Failed";
                        job.ended = Some(job.modified);
                        job.failure = Some(
                            "Training failed: the stand-in was configured to fail this job".into(),
                        );
                    } else {
                        // Completed once the metrics are written (below, without the lock).
                        finished = Some((job.id.clone(), job.request.clone()));
                    }
                }
            }
            "Stopping" => {
                job.status = "Stopped";
                job.ended = Some(SystemTime::now());
                job.modified = SystemTime::now();
            }
            _ => {}
        }
        if job.status == "Failed" || job.status == "Stopped" {
            let arn = job.model_arn.clone();
            if let Some(m) = st.models.iter_mut().find(|m| m.arn == arn) {
                m.status = "Failed";
            }
        }
        finished
    };
    if let Some((id, request)) = finished {
        let rft = &request["customizationConfig"]["rftConfig"]["hyperParameters"];
        let epochs = request["hyperParameters"]["epochCount"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| rft["epochCount"].as_u64().map(|e| e as u32))
            .unwrap_or(2u32)
            .clamp(1, 20);
        let points = curve(epochs, 5);
        let files = if request["customizationType"] == "REINFORCEMENT_FINE_TUNING" {
            reward_files(&reward_curve(epochs, 5), 5)
        } else {
            loss_files(&points, 5)
        };
        let written = write_metrics(shared, &id, &request, files).await;
        let mut st = lock(&shared.state);
        if let Some(job) = find_job(&mut st, &ident) {
            let now = SystemTime::now();
            job.ended = Some(now);
            job.modified = now;
            match written {
                Ok(()) => {
                    job.status = "Completed";
                    if request["customizationType"] != "REINFORCEMENT_FINE_TUNING" {
                        job.final_loss = points.last().map(|p| p.2);
                    }
                }
                Err(e) => {
                    job.status = "Failed";
                    job.failure = Some(format!(
                        "Could not write the job's output to {}: {e}",
                        request["outputDataConfig"]["s3Uri"].as_str().unwrap_or("")
                    ));
                }
            }
            let (arn, status) = (job.model_arn.clone(), job.status);
            if let Some(m) = st.models.iter_mut().find(|m| m.arn == arn) {
                m.status = if status == "Completed" {
                    "Active"
                } else {
                    "Failed"
                };
            }
        }
    }
    let mut st = lock(&shared.state);
    match find_job(&mut st, &ident) {
        Some(job) => Reply::ok(200, job_json(shared, job)),
        None => not_found("model customization job", &ident),
    }
}

/// The training and validation metrics CSVs of a fine-tuning job.
fn loss_files(points: &[(u32, u32, f64)], steps_per_epoch: u32) -> [String; 2] {
    let mut train = String::from("step_number,epoch_number,training_loss,perplexity\n");
    for (s, e, l) in points {
        train.push_str(&format!("{s},{e},{l},{:.6}\n", l.exp()));
    }
    let mut val = String::from("step_number,epoch_number,validation_loss,validation_perplexity\n");
    for (s, e, l) in points.iter().filter(|p| (p.0 + 1) % steps_per_epoch == 0) {
        let vl = (l * 1.05 * 1e6).round() / 1e6;
        val.push_str(&format!("{s},{e},{vl},{:.6}\n", f64::exp(vl)));
    }
    [train, val]
}

/// The training and validation reward CSVs of a reinforcement fine-tuning job.
fn reward_files(points: &[(u32, u32, f64, f64, f64)], steps_per_epoch: u32) -> [String; 2] {
    let mut train = String::from(
        "step_number,epoch_number,critic/rewards/mean,critic/rewards/min,critic/rewards/max\n",
    );
    for (s, e, mean, lo, hi) in points {
        train.push_str(&format!("{s},{e},{mean},{lo},{hi}\n"));
    }
    let mut val = String::from("step_number,epoch_number,validation/rewards/mean\n");
    for (s, e, mean, ..) in points.iter().filter(|p| (p.0 + 1) % steps_per_epoch == 0) {
        let vm = (mean * 0.95 * 1e6).round() / 1e6;
        val.push_str(&format!("{s},{e},{vm}\n"));
    }
    [train, val]
}

async fn write_metrics(
    shared: &Shared,
    job_id: &str,
    request: &Value,
    [train, val]: [String; 2],
) -> Result<(), String> {
    let Some(endpoint) = shared.config.s3_endpoint.clone() else {
        return Ok(());
    };
    let uri = request["outputDataConfig"]["s3Uri"].as_str().unwrap_or("");
    let (bucket, prefix) = split_s3(uri)?;
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let base = format!("{prefix}model-customization-job-{job_id}/");
    let client = s3_client(shared, endpoint).await;
    for (key, body) in [
        (
            format!("{base}training_artifacts/step_wise_training_metrics.csv"),
            train,
        ),
        (
            format!(
                "{base}validation_artifacts/post_fine_tuning_validation/validation_metrics.csv"
            ),
            val,
        ),
    ] {
        put_object(client, bucket, &key, body).await?;
    }
    Ok(())
}

/// The S3 client of the configured endpoint (path-style, static credentials).
async fn s3_client(shared: &Shared, endpoint: String) -> &aws_sdk_s3::Client {
    let region = shared.config.region.clone();
    shared
        .s3
        .get_or_init(|| async move {
            let conf = aws_sdk_s3::config::Builder::new()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .http_client(crate::sdk_http_client())
                .region(aws_sdk_s3::config::Region::new(region))
                .endpoint_url(endpoint)
                .force_path_style(true)
                .credentials_provider(aws_sdk_s3::config::Credentials::new(
                    "standin",
                    "standin",
                    None,
                    None,
                    "bedrock-standin",
                ))
                .build();
            aws_sdk_s3::Client::from_conf(conf)
        })
        .await
}

fn s3_error(
    op: &str,
    bucket: &str,
    key: &str,
    e: impl aws_sdk_s3::error::ProvideErrorMetadata,
) -> String {
    format!(
        "{op} s3://{bucket}/{key}: {}",
        e.code().unwrap_or("transport error")
    )
}

async fn put_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: String,
) -> Result<(), String> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into_bytes().into())
        .send()
        .await
        .map_err(|e| s3_error("PutObject", bucket, key, e))?;
    Ok(())
}

/// `s3://bucket/key` split, or why not.
fn split_s3(uri: &str) -> Result<(&str, &str), String> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{uri} is not an s3:// URI"))?;
    Ok(rest.split_once('/').unwrap_or((rest, "")))
}

fn list_jobs(shared: &Shared, input: Value) -> Reply {
    let st = lock(&shared.state);
    let parse_time = |k: &str| {
        input[k].as_str().and_then(|s| {
            aws_smithy_types::DateTime::from_str(s, aws_smithy_types::date_time::Format::DateTime)
                .ok()
                .and_then(|d| SystemTime::try_from(d).ok())
        })
    };
    let after = parse_time("creationTimeAfter");
    let before = parse_time("creationTimeBefore");
    let status = input["statusEquals"].as_str();
    let name = input["nameContains"].as_str().map(str::to_lowercase);
    let mut jobs: Vec<&Job> = st
        .jobs
        .iter()
        .filter(|j| status.is_none_or(|s| s == j.status))
        .filter(|j| {
            name.as_ref()
                .is_none_or(|n| j.name.to_lowercase().contains(n))
        })
        .filter(|j| after.is_none_or(|a| j.created > a))
        .filter(|j| before.is_none_or(|b| j.created < b))
        .collect();
    if input["sortOrder"].as_str() != Some("Ascending") {
        jobs.reverse();
    }
    let start = match input["nextToken"].as_str() {
        None => 0,
        Some(t) => match t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if n <= jobs.len() => n,
            _ => {
                return Reply::error(
                    400,
                    "ValidationException",
                    "Value at 'nextToken' failed to satisfy constraint: invalid pagination token",
                );
            }
        },
    };
    let size = input["maxResults"]
        .as_u64()
        .map_or(shared.config.default_page_size, |n| n as usize);
    let end = (start + size).min(jobs.len());
    let summaries: Vec<Value> = jobs[start..end]
        .iter()
        .map(|j| {
            let full = job_json(shared, j);
            let mut s = json!({
                "jobArn": j.arn,
                "baseModelArn": j.base_model_arn,
                "jobName": j.name,
                "status": j.status,
                "statusDetails": full["statusDetails"],
                "lastModifiedTime": ts(j.modified),
                "creationTime": ts(j.created),
                "customModelName": j.model_name,
                "customizationType": full["customizationType"],
            });
            if let Some(o) = s.as_object_mut() {
                if let Some(e) = j.ended {
                    o.insert("endTime".into(), ts(e));
                }
                if j.status == "Completed" {
                    o.insert("customModelArn".into(), json!(j.model_arn));
                }
            }
            s
        })
        .collect();
    let mut out = json!({ "modelCustomizationJobSummaries": summaries });
    if end < jobs.len()
        && let Some(o) = out.as_object_mut()
    {
        o.insert("nextToken".into(), json!(format!("page-{end}")));
    }
    Reply::ok(200, out)
}

fn stop_job(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let ident = str_of(&input, "jobIdentifier").to_string();
    let Some(job) = find_job(&mut st, &ident) else {
        return not_found("model customization job", &ident);
    };
    if job.status != "InProgress" {
        return Reply::error(
            400,
            "ConflictException",
            format!(
                "the job is {}; only an InProgress job can be stopped",
                job.status
            ),
        );
    }
    job.status = "Stopping";
    job.modified = SystemTime::now();
    Reply::ok(200, json!({}))
}

fn get_custom_model(shared: &Shared, input: Value) -> Reply {
    let st = lock(&shared.state);
    let ident = str_of(&input, "modelIdentifier");
    let Some(m) = st.models.iter().find(|m| m.arn == ident || m.name == ident) else {
        return not_found("custom model", ident);
    };
    let job = st.jobs.iter().find(|j| j.arn == m.job_arn);
    let mut v = json!({
        "modelArn": m.arn,
        "modelName": m.name,
        "jobArn": m.job_arn,
        "baseModelArn": m.base_model_arn,
        "creationTime": ts(m.created),
        "modelStatus": m.status,
    });
    if let (Some(j), Some(o)) = (job, v.as_object_mut()) {
        o.insert("jobName".into(), json!(j.name));
        o.insert(
            "trainingDataConfig".into(),
            j.request["trainingDataConfig"].clone(),
        );
        o.insert(
            "outputDataConfig".into(),
            j.request["outputDataConfig"].clone(),
        );
        o.insert(
            "customizationType".into(),
            j.request
                .get("customizationType")
                .cloned()
                .unwrap_or_else(|| json!("FINE_TUNING")),
        );
        if let Some(h) = j.request.get("hyperParameters") {
            o.insert("hyperParameters".into(), h.clone());
        }
        if let Some(l) = j.final_loss {
            o.insert("trainingMetrics".into(), json!({ "trainingLoss": l }));
        }
    }
    Reply::ok(200, v)
}

fn create_deployment(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let token = input["clientRequestToken"].as_str().map(str::to_string);
    if let Some(t) = &token
        && let Some(d) = st
            .deployments
            .iter()
            .find(|d| d.token.as_deref() == Some(t))
    {
        return Reply::ok(202, json!({ "customModelDeploymentArn": d.arn }));
    }
    let model_arn = str_of(&input, "modelArn").to_string();
    match st.models.iter().find(|m| m.arn == model_arn) {
        None => return not_found("custom model", &model_arn),
        Some(m) if m.status != "Active" => {
            return Reply::error(
                400,
                "ValidationException",
                format!("custom model {model_arn} is {}, not Active", m.status),
            );
        }
        Some(_) => {}
    }
    let name = str_of(&input, "modelDeploymentName").to_string();
    if st.deployments.iter().any(|d| d.name == name) {
        return Reply::error(
            400,
            "ConflictException",
            format!("a deployment named {name} already exists"),
        );
    }
    let id = st.new_id();
    let arn = arn(shared, &format!("custom-model-deployment/{id}"));
    st.deployments.push(Deployment {
        arn: arn.clone(),
        name,
        model_arn,
        token,
        polls: 0,
        created: SystemTime::now(),
    });
    Reply::ok(202, json!({ "customModelDeploymentArn": arn }))
}

fn get_deployment(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let ident = str_of(&input, "customModelDeploymentIdentifier");
    let Some(d) = st
        .deployments
        .iter_mut()
        .find(|d| d.arn == ident || d.name == ident)
    else {
        return not_found("custom model deployment", ident);
    };
    d.polls += 1;
    let status = if d.polls >= shared.config.polls_to_complete {
        "Active"
    } else {
        "Creating"
    };
    Reply::ok(
        200,
        json!({
            "customModelDeploymentArn": d.arn,
            "modelDeploymentName": d.name,
            "modelArn": d.model_arn,
            "createdAt": ts(d.created),
            "lastUpdatedAt": ts(SystemTime::now()),
            "status": status,
        }),
    )
}

fn delete_deployment(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let ident = str_of(&input, "customModelDeploymentIdentifier");
    let before = st.deployments.len();
    st.deployments.retain(|d| d.arn != ident && d.name != ident);
    if st.deployments.len() == before {
        return not_found("custom model deployment", ident);
    }
    Reply::ok(200, json!({}))
}

fn create_provisioned(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let token = input["clientRequestToken"].as_str().map(str::to_string);
    if let Some(t) = &token
        && let Some(p) = st
            .provisioned
            .iter()
            .find(|p| p.token.as_deref() == Some(t))
    {
        return Reply::ok(201, json!({ "provisionedModelArn": p.arn }));
    }
    let model_id = str_of(&input, "modelId").to_string();
    let (model_arn, foundation_arn) =
        if model_id.contains(":custom-model/") || !model_id.contains('.') {
            match st
                .models
                .iter()
                .find(|m| m.arn == model_id || m.name == model_id)
            {
                Some(m) if m.status == "Active" => (m.arn.clone(), m.base_model_arn.clone()),
                Some(m) => {
                    return Reply::error(
                        400,
                        "ValidationException",
                        format!("custom model {} is {}, not Active", m.arn, m.status),
                    );
                }
                None => return not_found("model", &model_id),
            }
        } else {
            let f = format!(
                "arn:aws:bedrock:{}::foundation-model/{}",
                shared.config.region,
                base_model_id(&model_id)
            );
            (f.clone(), f)
        };
    let name = str_of(&input, "provisionedModelName").to_string();
    if st.provisioned.iter().any(|p| p.name == name) {
        return Reply::error(
            400,
            "ConflictException",
            format!("a provisioned model named {name} already exists"),
        );
    }
    let id = st.new_id();
    let arn = arn(shared, &format!("provisioned-model/{id}"));
    st.provisioned.push(Provisioned {
        arn: arn.clone(),
        name,
        model_arn,
        foundation_arn,
        units: input["modelUnits"].as_i64().unwrap_or(1),
        token,
        polls: 0,
        created: SystemTime::now(),
    });
    Reply::ok(201, json!({ "provisionedModelArn": arn }))
}

fn get_provisioned(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let ident = str_of(&input, "provisionedModelId");
    let Some(p) = st
        .provisioned
        .iter_mut()
        .find(|p| p.arn == ident || p.name == ident)
    else {
        return not_found("provisioned model", ident);
    };
    p.polls += 1;
    let status = if p.polls >= shared.config.polls_to_complete {
        "InService"
    } else {
        "Creating"
    };
    Reply::ok(
        200,
        json!({
            "modelUnits": p.units,
            "desiredModelUnits": p.units,
            "provisionedModelName": p.name,
            "provisionedModelArn": p.arn,
            "modelArn": p.model_arn,
            "desiredModelArn": p.model_arn,
            "foundationModelArn": p.foundation_arn,
            "status": status,
            "creationTime": ts(p.created),
            "lastModifiedTime": ts(SystemTime::now()),
        }),
    )
}

fn delete_provisioned(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let ident = str_of(&input, "provisionedModelId");
    let before = st.provisioned.len();
    st.provisioned.retain(|p| p.arn != ident && p.name != ident);
    if st.provisioned.len() == before {
        return not_found("provisioned model", ident);
    }
    Reply::ok(200, json!({}))
}

fn create_import(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let name = str_of(&input, "jobName").to_string();
    let mut request = input.clone();
    let token = request
        .as_object_mut()
        .and_then(|o| o.remove("clientRequestToken"))
        .and_then(|t| t.as_str().map(str::to_string));
    if let Some(j) = st.imports.iter().find(|j| j.name == name) {
        // Idempotent only for the same token and the same request, like the service.
        if token.is_some() && j.token == token && j.request == request {
            return Reply::ok(201, json!({ "jobArn": j.arn }));
        }
        return Reply::error(
            400,
            "ConflictException",
            format!("a model import job named {name} already exists"),
        );
    }
    let id = st.new_id();
    let arn = arn(shared, &format!("model-import-job/{id}"));
    let model_id = st.new_id();
    let imported_arn = arn_of(shared, &format!("imported-model/{model_id}"));
    st.imports.push(ImportJob {
        arn: arn.clone(),
        name,
        model_name: str_of(&input, "importedModelName").to_string(),
        imported_arn,
        request,
        token,
        polls: 0,
        created: SystemTime::now(),
    });
    Reply::ok(201, json!({ "jobArn": arn }))
}

fn arn_of(shared: &Shared, rest: &str) -> String {
    arn(shared, rest)
}

fn get_import(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let ident = str_of(&input, "jobIdentifier");
    let Some(j) = st
        .imports
        .iter_mut()
        .find(|j| j.arn == ident || j.name == ident)
    else {
        return not_found("model import job", ident);
    };
    j.polls += 1;
    let done = j.polls >= shared.config.polls_to_complete;
    let now = SystemTime::now();
    let mut v = json!({
        "jobArn": j.arn,
        "jobName": j.name,
        "importedModelName": j.model_name,
        "roleArn": j.request["roleArn"],
        "modelDataSource": j.request["modelDataSource"],
        "status": if done { "Completed" } else { "InProgress" },
        "creationTime": ts(j.created),
        "lastModifiedTime": ts(now),
    });
    if done && let Some(o) = v.as_object_mut() {
        o.insert("importedModelArn".into(), json!(j.imported_arn));
        o.insert("endTime".into(), ts(now));
    }
    Reply::ok(200, v)
}

fn create_invocation(shared: &Shared, input: Value) -> Reply {
    let mut st = lock(&shared.state);
    let name = str_of(&input, "jobName").to_string();
    if let Some(j) = st
        .invocations
        .iter()
        .find(|j| j.request["jobName"] == input["jobName"])
    {
        let token = &input["clientRequestToken"];
        if !token.is_null() && j.request["clientRequestToken"] == *token {
            return Reply::ok(200, json!({ "jobArn": j.arn }));
        }
        return Reply::error(
            400,
            "ConflictException",
            format!("a batch inference job named {name} already exists"),
        );
    }
    let id = st.new_id();
    let arn = arn(shared, &format!("model-invocation-job/{id}"));
    let first = st.invocations.is_empty();
    st.invocations.push(InvocationJob {
        arn: arn.clone(),
        request: input,
        polls: 0,
        created: SystemTime::now(),
        first,
        outcome: None,
    });
    Reply::ok(200, json!({ "jobArn": arn }))
}

async fn get_invocation(shared: &Shared, input: Value) -> Reply {
    let ident = str_of(&input, "jobIdentifier").to_string();
    let due = {
        let mut st = lock(&shared.state);
        let Some(j) = st.invocations.iter_mut().find(|j| j.arn == ident) else {
            return not_found("model invocation job", &ident);
        };
        j.polls += 1;
        (j.outcome.is_none() && j.polls >= shared.config.polls_to_complete)
            .then(|| (j.request.clone(), j.first))
    };
    if let Some((request, first)) = due {
        let outcome = match run_invocation(shared, &ident, &request, first).await {
            Ok((status, counts)) => InvocationOutcome {
                status,
                message: None,
                counts,
            },
            Err(e) => InvocationOutcome {
                status: "Failed",
                message: Some(e),
                counts: None,
            },
        };
        let mut st = lock(&shared.state);
        if let Some(j) = st.invocations.iter_mut().find(|j| j.arn == ident) {
            j.outcome = Some(outcome);
        }
    }
    let st = lock(&shared.state);
    let Some(j) = st.invocations.iter().find(|j| j.arn == ident) else {
        return not_found("model invocation job", &ident);
    };
    let status = match &j.outcome {
        Some(o) => o.status,
        None if j.polls == 1 => "Submitted",
        None => "InProgress",
    };
    let now = SystemTime::now();
    let r = &j.request;
    let mut v = json!({
        "jobArn": j.arn,
        "jobName": r["jobName"],
        "modelId": r["modelId"],
        "roleArn": r["roleArn"],
        "status": status,
        "submitTime": ts(j.created),
        "lastModifiedTime": ts(now),
        "inputDataConfig": r["inputDataConfig"],
        "outputDataConfig": r["outputDataConfig"],
    });
    if let Some(o) = v.as_object_mut() {
        for k in [
            "clientRequestToken",
            "modelInvocationType",
            "timeoutDurationInHours",
        ] {
            if let Some(x) = r.get(k) {
                o.insert(k.into(), x.clone());
            }
        }
        if let Some(end) = &j.outcome {
            o.insert("endTime".into(), ts(now));
            if let Some(m) = &end.message {
                o.insert("message".into(), json!(m));
            }
            if let Some([total, processed, success, error]) = end.counts {
                o.insert("totalRecordCount".into(), json!(total));
                o.insert("processedRecordCount".into(), json!(processed));
                o.insert("successRecordCount".into(), json!(success));
                o.insert("errorRecordCount".into(), json!(error));
            }
        }
    }
    Reply::ok(200, v)
}

/// Whether record `k` is one of the evenly spread `share` of records.
fn picked(k: usize, share: f64) -> bool {
    (((k + 1) as f64) * share).floor() > ((k as f64) * share).floor()
}

/// Runs a batch job's records: reads the input object, answers each record as Converse
/// would (a `batch_error_share` of them with an error; the first job leaves a
/// `batch_unprocessed_share` unprocessed and ends `PartiallyCompleted`), writes the output
/// and the manifest where the service does. Returns the status and the record counts.
/// Without an S3 endpoint the job completes without reading or writing anything (for tests
/// of the control plane alone), and has no counts.
async fn run_invocation(
    shared: &Shared,
    arn: &str,
    request: &Value,
    first: bool,
) -> Result<(&'static str, Option<[i64; 4]>), String> {
    let Some(endpoint) = shared.config.s3_endpoint.clone() else {
        return Ok(("Completed", None));
    };
    let client = s3_client(shared, endpoint).await;
    let input_uri = request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
        .as_str()
        .unwrap_or("");
    let (bucket, key) = split_s3(input_uri)?;
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| s3_error("GetObject", bucket, key, e))?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| format!("reading {input_uri}: {e}"))?
        .into_bytes();
    let text =
        String::from_utf8(bytes.to_vec()).map_err(|_| format!("{input_uri} is not UTF-8"))?;
    let model_id = str_of(request, "modelId").to_string();
    let config = &shared.config;
    let unprocessed_share = if first {
        config.batch_unprocessed_share
    } else {
        0.0
    };
    let mut out = String::new();
    let [mut total, mut processed, mut success, mut errors] = [0i64; 4];
    let (mut input_tokens, mut output_tokens) = (0u64, 0u64);
    for (k, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        total += 1;
        let record: Value =
            serde_json::from_str(line).map_err(|e| format!("{input_uri} line {}: {e}", k + 1))?;
        if picked(k, unprocessed_share) {
            continue;
        }
        // Errors are spread over the processed records.
        let p = processed as usize;
        processed += 1;
        let answer = if picked(p, config.batch_error_share) {
            Err((
                400,
                "ValidationException: the stand-in was configured to fail this record".to_string(),
            ))
        } else {
            respond(
                shared,
                &model_id,
                &record["modelInput"],
                std::time::Instant::now(),
            )
            .map_err(|r| {
                (
                    r.status,
                    r.body["message"].as_str().unwrap_or("").to_string(),
                )
            })
        };
        let line = match answer {
            Ok(output) => {
                success += 1;
                input_tokens += output["usage"]["inputTokens"].as_u64().unwrap_or(0);
                output_tokens += output["usage"]["outputTokens"].as_u64().unwrap_or(0);
                json!({ "recordId": record["recordId"], "modelInput": record["modelInput"], "modelOutput": output })
            }
            Err((code, message)) => {
                errors += 1;
                json!({
                    "recordId": record["recordId"],
                    "modelInput": record["modelInput"],
                    "error": { "errorCode": code, "errorMessage": message },
                })
            }
        };
        out.push_str(&line.to_string());
        out.push('\n');
    }
    let output_uri = request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"]
        .as_str()
        .unwrap_or("");
    let (out_bucket, prefix) = split_s3(output_uri)?;
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    };
    let job_id = arn.rsplit('/').next().unwrap_or(arn);
    let file = key.rsplit('/').next().unwrap_or(key);
    put_object(
        client,
        out_bucket,
        &format!("{prefix}{job_id}/{file}.out"),
        out,
    )
    .await?;
    let manifest = json!({
        "totalRecordCount": total,
        "processedRecordCount": processed,
        "successRecordCount": success,
        "errorRecordCount": errors,
        "inputTokenCount": input_tokens,
        "outputTokenCount": output_tokens,
    });
    put_object(
        client,
        out_bucket,
        &format!("{prefix}{job_id}/manifest.json.out"),
        manifest.to_string(),
    )
    .await?;
    let status = if processed < total {
        "PartiallyCompleted"
    } else {
        "Completed"
    };
    Ok((status, Some([total, processed, success, errors])))
}

fn words(s: &str) -> usize {
    s.split_whitespace().count()
}

fn converse(shared: &Shared, input: Value) -> Reply {
    let started = std::time::Instant::now();
    let model_id = str_of(&input, "modelId").to_string();
    {
        let st = lock(&shared.state);
        let known = |a: &str| {
            st.provisioned.iter().any(|p| p.arn == a)
                || st.deployments.iter().any(|d| d.arn == a)
                || st.models.iter().any(|m| m.arn == a)
                || st
                    .imports
                    .iter()
                    .any(|j| j.imported_arn == a && j.polls >= shared.config.polls_to_complete)
        };
        let is_resource_arn = [
            "provisioned-model/",
            "custom-model-deployment/",
            "custom-model/",
            "imported-model/",
        ]
        .iter()
        .any(|k| model_id.contains(k));
        if is_resource_arn && !known(&model_id) {
            return not_found("model", &model_id);
        }
    }
    match respond(shared, &model_id, &input, started) {
        Ok(v) => Reply::ok(200, v),
        Err(r) => r,
    }
}

/// The text of a list of content blocks (text blocks joined by newlines), and the text
/// before its first `cachePoint` block, if it has one.
fn blocks_text(content: &Value) -> (String, Option<String>) {
    let mut text = Vec::new();
    let mut cached = None;
    for b in content.as_array().into_iter().flatten() {
        if b.get("cachePoint").is_some() && cached.is_none() {
            cached = Some(text.join("\n"));
        }
        if let Some(t) = b["text"].as_str() {
            text.push(t);
        }
    }
    (text.join("\n"), cached)
}

/// The Converse answer to `body` (a Converse request body: `messages`, `system`,
/// `inferenceConfig`, `serviceTier`, `performanceConfig`; also a batch record's
/// `modelInput`). Input tokens are words; a `cachePoint` caches the words before it
/// (written on first sight of that prefix, read after), which usage counts apart.
fn respond(
    shared: &Shared,
    model_id: &str,
    body: &Value,
    started: std::time::Instant,
) -> Result<Value, Reply> {
    let empty = Vec::new();
    let messages = body["messages"].as_array().unwrap_or(&empty);
    if messages.is_empty() {
        return Err(Reply::error(
            400,
            "ValidationException",
            "Value at 'messages' failed to satisfy constraint: a conversation must contain at least one message",
        ));
    }
    let mut input_tokens = 0;
    let mut prefix: Vec<String> = Vec::new();
    let mut cache_prefix: Option<String> = None;
    if body["system"].is_array() {
        let (text, cached) = blocks_text(&body["system"]);
        input_tokens += words(&text);
        if let Some(c) = cached {
            cache_prefix = Some(c);
        }
        prefix.push(text);
    }
    for m in messages {
        let (text, cached) = blocks_text(&m["content"]);
        input_tokens += words(&text);
        if let Some(c) = cached {
            let mut p = prefix.clone();
            p.push(c);
            cache_prefix = Some(p.join("\n"));
        }
        prefix.push(text);
    }
    let (mut cache_read, mut cache_write) = (0, 0);
    if let Some(p) = cache_prefix {
        let n = words(&p);
        let fresh = lock(&shared.state)
            .prompt_cache
            .insert(format!("{model_id}\n{p}"));
        if fresh {
            cache_write = n;
        } else {
            cache_read = n;
        }
        input_tokens -= n;
    }
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| blocks_text(&m["content"]).0)
        .unwrap_or_default();
    let mut answer = shared.config.converse.answer(model_id, &last_user);
    let mut stop = "end_turn";
    if let Some(max) = body["inferenceConfig"]["maxTokens"].as_u64()
        && words(&answer) as u64 > max
    {
        answer = answer
            .split_whitespace()
            .take(max as usize)
            .collect::<Vec<_>>()
            .join(" ");
        stop = "max_tokens";
    }
    let output_tokens = words(&answer);
    let latency = started.elapsed() + lock(&shared.faults).latency;
    let mut usage = json!({
        "inputTokens": input_tokens,
        "outputTokens": output_tokens,
        "totalTokens": input_tokens + cache_read + cache_write + output_tokens,
    });
    if cache_read + cache_write > 0 {
        usage["cacheReadInputTokens"] = json!(cache_read);
        usage["cacheWriteInputTokens"] = json!(cache_write);
    }
    let mut v = json!({
        "output": { "message": { "role": "assistant", "content": [ { "text": answer } ] } },
        "stopReason": stop,
        "usage": usage,
        "metrics": { "latencyMs": latency.as_millis() as u64 },
    });
    for k in ["serviceTier", "performanceConfig"] {
        if body[k].is_object() {
            v[k] = body[k].clone();
        }
    }
    Ok(v)
}

/// `CountTokens` of a Converse input: the input tokens Converse would report (words).
fn count_tokens(input: Value) -> Reply {
    let converse = &input["input"]["converse"];
    if !converse.is_object() {
        return Reply::error(
            400,
            "ValidationException",
            "the stand-in counts Converse inputs only (input.converse)",
        );
    }
    let mut n = words(&blocks_text(&converse["system"]).0);
    for m in converse["messages"].as_array().into_iter().flatten() {
        n += words(&blocks_text(&m["content"]).0);
    }
    Reply::ok(200, json!({ "inputTokens": n }))
}
