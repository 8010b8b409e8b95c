//! Bedrock and Bedrock Runtime clients against the loopback stand-in of tunebench-standins,
//! which validates every request against the service model. Tests that read the job's
//! metrics need the loopback S3 server of scripts/test.sh (TUNEBENCH_TEST_S3_ENDPOINT). No
//! test talks to AWS.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tunebench_aws::{
    AuditEntry, AwsSettings, Bedrock, BedrockOptions, BedrockRuntime, ConverseRequest,
    CustomizationJobSpec, Error, JobFilter, Outcome, Role, S3, S3Uri, Turn, WaitSettings,
};
use tunebench_standins::bedrock::{BedrockStandin, StandinConfig};
use tunebench_standins::s3::endpoint as s3_endpoint;

const SECRET_MARKER: &str = "SECRET-MARKER-7f3a9c";
const PROMPT_MARKER: &str = "PROMPT-MARKER-b41d";

fn settings(standin: &BedrockStandin) -> AwsSettings {
    // The clients use the default credential chain; scripts/test.sh sets static test keys.
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "AWS_ACCESS_KEY_ID is not set: run the tests with scripts/test.sh, which sets static test credentials"
    );
    AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(standin.endpoint_url().to_string()),
        ..AwsSettings::default()
    }
}

fn fast(max_attempts: u32, audit: Option<&Path>) -> BedrockOptions {
    BedrockOptions {
        max_attempts,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        audit_log: audit.map(Path::to_path_buf),
    }
}

fn spec(name: &str, output: &str) -> CustomizationJobSpec {
    CustomizationJobSpec {
        job_name: name.into(),
        custom_model_name: format!("{name}-model"),
        role_arn: "arn:aws:iam::123456789012:role/tunebench-bedrock".into(),
        base_model: "amazon.titan-text-lite-v1:0:4k".into(),
        training_s3_uri: "s3://tb-data/prep/train.jsonl".into(),
        validation_s3_uris: vec!["s3://tb-data/prep/validation.jsonl".into()],
        output_s3_uri: output.into(),
        hyper_parameters: BTreeMap::from([
            ("epochCount".into(), "2".into()),
            ("batchSize".into(), "1".into()),
            ("learningRate".into(), "0.00001".into()),
        ]),
        tags: BTreeMap::from([("project".into(), "tunebench".into())]),
        ..CustomizationJobSpec::default()
    }
}

fn audit_lines(path: &Path) -> Vec<AuditEntry> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn submit_wait_collect_deploy_and_provision() {
    let s3_endpoint = s3_endpoint();
    let standin = BedrockStandin::start(StandinConfig {
        polls_to_complete: 3,
        s3_endpoint: Some(s3_endpoint.clone()),
        ..StandinConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit/bedrock.jsonl");
    let bedrock = Bedrock::connect(&settings(&standin), &fast(3, Some(&audit))).unwrap();
    let s3 = S3::connect(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(s3_endpoint),
        ..AwsSettings::default()
    })
    .unwrap();
    let bucket = format!("tb-bedrock-{}", std::process::id());
    s3.create_bucket(&bucket).unwrap();

    // Idempotent submit: the same token gives the same job, and no second one.
    let mut job_spec = spec("tb-ft-1", &format!("s3://{bucket}/runs/r1/bedrock/"));
    job_spec.client_request_token = Some("run-r1-sha256-abc".into());
    let arn = bedrock.create_customization_job(&job_spec).unwrap();
    assert_eq!(bedrock.create_customization_job(&job_spec).unwrap(), arn);
    assert_eq!(standin.customization_job_count(), 1);
    // A different job under the same name is a conflict, with a hint.
    let mut other = job_spec.clone();
    other.client_request_token = Some("another-token".into());
    let err = bedrock.create_customization_job(&other).unwrap_err();
    assert!(
        matches!(&err, Error::Bedrock { code: Some(c), .. } if c == "ConflictException"),
        "{err}"
    );
    assert!(err.to_string().contains("hint:"), "{err}");

    let mut statuses = Vec::new();
    let job: tunebench_aws::CustomizationJob = tunebench_aws::wait::poll(
        &WaitSettings {
            initial_interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(10),
            timeout: Some(Duration::from_secs(30)),
            max_consecutive_errors: 0,
        },
        &arn,
        || bedrock.get_customization_job(&arn),
        |j| {
            statuses.push((j.status.clone(), j.training_status.clone()));
            Ok::<_, Error>(j.is_terminal())
        },
        |j| j.status.clone(),
    )
    .unwrap();
    assert_eq!(job.status, "Completed");
    assert_eq!(statuses.first().unwrap().0, "InProgress");
    assert_eq!(statuses.len(), 3);
    assert!(job.training_loss.is_some() && job.validation_losses.len() == 1);
    assert_eq!(job.hyper_parameters["epochCount"], "2");
    // A finished job's running time ends at its end time, whatever `now` is.
    let far = std::time::SystemTime::now() + Duration::from_secs(86_400);
    assert!(job.running_time(far).unwrap() < Duration::from_secs(60));
    let model_arn = job.output_model_arn.clone().unwrap();

    // The metrics CSVs are where the real service puts them.
    let prefix: S3Uri = job.artifacts_prefix().unwrap().parse().unwrap();
    let keys: Vec<String> = s3
        .list(&prefix)
        .unwrap()
        .into_iter()
        .map(|u| u.key)
        .collect();
    let id = job.job_id();
    assert_eq!(
        keys,
        vec![
            format!(
                "runs/r1/bedrock/model-customization-job-{id}/training_artifacts/step_wise_training_metrics.csv"
            ),
            format!(
                "runs/r1/bedrock/model-customization-job-{id}/validation_artifacts/post_fine_tuning_validation/validation_metrics.csv"
            ),
        ]
    );
    let csv = dir.path().join("train.csv");
    s3.download(
        &prefix.join("training_artifacts/step_wise_training_metrics.csv"),
        &csv,
    )
    .unwrap();
    assert!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .starts_with("step_number,epoch_number,training_loss,perplexity\n")
    );

    let model = bedrock.get_custom_model(&model_arn).unwrap();
    assert_eq!(model.status.as_deref(), Some("Active"));
    assert_eq!(model.job_arn.as_deref(), Some(arn.as_str()));

    // On-demand deployment: Creating → Active, then deleted.
    let dep = bedrock
        .create_custom_model_deployment("tb-ft-1-dep", &model_arn, Some("dep-token"))
        .unwrap();
    assert_eq!(
        bedrock
            .create_custom_model_deployment("tb-ft-1-dep", &model_arn, Some("dep-token"))
            .unwrap(),
        dep
    );
    let states: Vec<String> = (0..3)
        .map(|_| bedrock.get_custom_model_deployment(&dep).unwrap().status)
        .collect();
    assert_eq!(states, ["Creating", "Creating", "Active"]);
    bedrock.delete_custom_model_deployment(&dep).unwrap();
    let err = bedrock.get_custom_model_deployment(&dep).unwrap_err();
    assert!(
        matches!(&err, Error::Bedrock { code: Some(c), .. } if c == "ResourceNotFoundException"),
        "{err}"
    );

    // Provisioned throughput: Creating → InService, then deleted.
    let pt = bedrock
        .create_provisioned_throughput("tb-ft-1-pt", &model_arn, 1, Some("pt-token"))
        .unwrap();
    let states: Vec<String> = (0..3)
        .map(|_| bedrock.get_provisioned_throughput(&pt).unwrap().status)
        .collect();
    assert_eq!(states, ["Creating", "Creating", "InService"]);
    assert_eq!(
        bedrock.get_provisioned_throughput(&pt).unwrap().model_arn,
        model_arn
    );
    bedrock.delete_provisioned_throughput(&pt).unwrap();

    // Custom Model Import.
    let import = bedrock
        .create_model_import_job(
            "tb-import-1",
            "tb-imported",
            "arn:aws:iam::123456789012:role/tunebench-bedrock",
            &format!("s3://{bucket}/weights/"),
            Some("alias/tunebench-import"),
            Some("tb-import-token-1"),
        )
        .unwrap();
    let states: Vec<String> = (0..3)
        .map(|_| bedrock.get_model_import_job(&import).unwrap().status)
        .collect();
    assert_eq!(states, ["InProgress", "InProgress", "Completed"]);
    assert!(
        bedrock
            .get_model_import_job(&import)
            .unwrap()
            .imported_model_arn
            .unwrap()
            .contains(":imported-model/")
    );

    standin.assert_valid();

    // The audit log: one line per call, operation + ARNs + outcome.
    let lines = audit_lines(&audit);
    let create = &lines[0];
    assert_eq!(create.operation, "CreateModelCustomizationJob");
    assert_eq!(create.outcome, Outcome::Ok);
    assert_eq!(create.resources["jobArn"], arn);
    assert_eq!(create.resources["jobName"], "tb-ft-1");
    assert!(create.request_id.is_some());
    let conflict = &lines[2];
    assert_eq!(conflict.outcome, Outcome::Error);
    assert_eq!(conflict.error_code.as_deref(), Some("ConflictException"));
    assert!(
        lines
            .iter()
            .any(|l| l.operation == "GetModelCustomizationJob"
                && l.resources.get("outputModelArn") == Some(&model_arn))
    );
    assert!(
        lines
            .iter()
            .any(|l| l.operation == "DeleteProvisionedModelThroughput"
                && l.resources["provisionedModelId"] == pt)
    );
}

#[test]
fn list_reads_every_page_and_filters() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let bedrock = Bedrock::connect(&settings(&standin), &fast(3, None)).unwrap();
    for i in 0..5 {
        bedrock
            .create_customization_job(&spec(&format!("tb-list-{i}"), "s3://tb-out/x/"))
            .unwrap();
    }
    bedrock
        .create_customization_job(&spec("other-job", "s3://tb-out/x/"))
        .unwrap();
    let all = bedrock
        .list_customization_jobs(&JobFilter {
            page_size: Some(2),
            ..JobFilter::default()
        })
        .unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].job_name, "other-job", "newest first");
    assert_eq!(standin.request_count("ListModelCustomizationJobs"), 3);
    let some = bedrock
        .list_customization_jobs(&JobFilter {
            name_contains: Some("tb-list".into()),
            status: Some("InProgress".into()),
            created_after: Some(std::time::SystemTime::now() - Duration::from_secs(3600)),
            page_size: Some(4),
        })
        .unwrap();
    assert_eq!(some.len(), 5);
    assert!(
        some.iter()
            .all(|j| j.job_name.starts_with("tb-list") && j.status == "InProgress")
    );
    // Stop one: InProgress → Stopping → Stopped; stopping it again is a conflict.
    bedrock.stop_customization_job("tb-list-0").unwrap();
    assert_eq!(
        bedrock.get_customization_job("tb-list-0").unwrap().status,
        "Stopped"
    );
    let err = bedrock.stop_customization_job("tb-list-0").unwrap_err();
    assert!(
        matches!(&err, Error::Bedrock { code: Some(c), .. } if c == "ConflictException"),
        "{err}"
    );
    standin.assert_valid();
}

#[test]
fn throttling_and_server_errors_are_retried_within_the_budget() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let bedrock = Bedrock::connect(&settings(&standin), &fast(4, None)).unwrap();
    let arn = bedrock
        .create_customization_job(&spec("tb-retry", "s3://tb-out/x/"))
        .unwrap();

    standin.throttle_next(3);
    assert_eq!(bedrock.get_customization_job(&arn).unwrap().job_arn, arn);
    assert_eq!(standin.request_count("GetModelCustomizationJob"), 4);

    standin.fail_next(2);
    standin.throttle_next(1);
    bedrock.get_customization_job(&arn).unwrap();
    assert_eq!(standin.request_count("GetModelCustomizationJob"), 8);

    // Beyond the budget: a clear error after exactly max_attempts tries.
    standin.throttle_next(10);
    let err = bedrock.get_customization_job(&arn).unwrap_err();
    assert_eq!(standin.request_count("GetModelCustomizationJob"), 12);
    let text = err.to_string();
    assert!(
        text.contains("GetModelCustomizationJob") && text.contains("ThrottlingException"),
        "{text}"
    );
    assert!(
        text.contains("lower the concurrency") && text.contains("quota increase"),
        "{text}"
    );
    standin.throttle_next(0);

    standin.fail_next(10);
    let err = bedrock.get_customization_job(&arn).unwrap_err();
    assert!(err.to_string().contains("InternalServerException"), "{err}");
    standin.fail_next(0);

    // Not retried: client errors.
    standin.error_next(403, "AccessDeniedException", "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: bedrock:CreateModelCustomizationJob");
    let before = standin.request_count("CreateModelCustomizationJob");
    let err = bedrock
        .create_customization_job(&spec("tb-denied", "s3://tb-out/x/"))
        .unwrap_err();
    assert_eq!(
        standin.request_count("CreateModelCustomizationJob"),
        before + 1
    );
    let text = err.to_string();
    assert!(
        text.contains("`bedrock:CreateModelCustomizationJob`") && text.contains("iam:PassRole"),
        "{text}"
    );
    standin.assert_valid();
}

#[test]
fn validation_errors_name_the_field() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let bedrock = Bedrock::connect(&settings(&standin), &fast(2, None)).unwrap();
    let mut bad = spec("tb-bad", "s3://tb-out/x/");
    bad.base_model = "x".repeat(2049);
    let err = bedrock.create_customization_job(&bad).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ValidationException") && text.contains("`baseModelIdentifier`"),
        "{text}"
    );
    // The stand-in saw it as invalid, as AWS would; nothing else was.
    let invalid = standin.invalid_requests();
    assert_eq!(invalid.len(), 1);
    assert!(invalid[0].errors[0].contains("'baseModelIdentifier'"));
}

#[test]
fn converse_returns_text_usage_and_latency() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    standin.set_latency(Duration::from_millis(15));
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("runtime.jsonl");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = BedrockRuntime::connect(&settings(&standin), &fast(4, Some(&audit)))
            .await
            .unwrap();
        let req = ConverseRequest {
            model_id: "meta.llama3-8b-instruct-v1:0".into(),
            system: Some("Answer briefly.".into()),
            messages: vec![Turn {
                role: Role::User,
                text: format!("echo {PROMPT_MARKER} please"),
            }],
            max_tokens: Some(64),
            temperature: Some(0.0),
            ..ConverseRequest::default()
        };
        // Concurrent calls through clones, one throttled twice on the way.
        standin.throttle_next(2);
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let c = client.clone();
            let r = req.clone();
            tasks.push(tokio::spawn(async move { c.converse(&r).await }));
        }
        for t in tasks {
            let reply = t.await.unwrap().unwrap();
            assert_eq!(reply.text, format!("echo {PROMPT_MARKER} please"));
            assert_eq!((reply.input_tokens, reply.output_tokens), (5, 3));
            assert_eq!(reply.stop_reason, "end_turn");
            assert!(reply.service_latency >= Duration::from_millis(15));
            assert!(reply.wall_time >= reply.service_latency);
        }
        let short = client
            .converse(&ConverseRequest {
                max_tokens: Some(1),
                ..req.clone()
            })
            .await
            .unwrap();
        assert_eq!(
            (short.text.as_str(), short.stop_reason.as_str()),
            ("echo", "max_tokens")
        );
        // An unknown provisioned model is a clean error.
        let err = client
            .converse(&ConverseRequest {
                model_id: "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdefabcdef"
                    .into(),
                ..req
            })
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("ResourceNotFoundException"),
            "{err}"
        );
    });
    assert_eq!(standin.request_count("Converse"), 4 + 2 + 1 + 1);
    standin.assert_valid();
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        !log.contains(PROMPT_MARKER),
        "the audit log holds a prompt:\n{log}"
    );
    let lines = audit_lines(&audit);
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0].usage["input_tokens"], 5);
    assert_eq!(
        lines[0].resources["modelId"],
        "meta.llama3-8b-instruct-v1:0"
    );
}

/// Runs the body in a child process whose AWS_SECRET_ACCESS_KEY is a marker (edition 2024
/// makes `set_var` unsafe, and this crate forbids unsafe), then checks the marker appears in
/// neither the audit log nor any error text.
#[test]
fn secrets_never_reach_the_audit_log_or_errors() {
    if std::env::var_os("TB_SECRET_CHILD").is_none() {
        let dir = tempfile::tempdir().unwrap();
        let audit = dir.path().join("audit.jsonl");
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "secrets_never_reach_the_audit_log_or_errors",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("TB_SECRET_CHILD", &audit)
            .env("AWS_ACCESS_KEY_ID", "AKIDMARKERTEST")
            .env("AWS_SECRET_ACCESS_KEY", SECRET_MARKER)
            .env("AWS_SESSION_TOKEN", format!("{SECRET_MARKER}-token"))
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{all}");
        assert!(all.contains("child checked"), "{all}");
        assert!(!all.contains(SECRET_MARKER), "{all}");
        let log = std::fs::read_to_string(&audit).unwrap();
        assert!(
            !log.contains(SECRET_MARKER) && !log.contains(PROMPT_MARKER),
            "{log}"
        );
        assert!(log.lines().count() >= 4, "{log}");
        return;
    }
    let audit = std::path::PathBuf::from(std::env::var_os("TB_SECRET_CHILD").unwrap());
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let bedrock = Bedrock::connect(&settings(&standin), &fast(2, Some(&audit))).unwrap();
    let arn = bedrock
        .create_customization_job(&spec("tb-secret", "s3://tb-out/x/"))
        .unwrap();
    bedrock.get_customization_job(&arn).unwrap();
    let mut errors = Vec::new();
    standin.error_next(403, "AccessDeniedException", "not authorized");
    errors.push(bedrock.get_customization_job(&arn).unwrap_err().to_string());
    standin.throttle_next(5);
    errors.push(bedrock.get_customization_job(&arn).unwrap_err().to_string());
    standin.throttle_next(0);
    let mut bad = spec("tb-secret-2", "s3://tb-out/x/");
    bad.job_name = "not a valid name".into();
    errors.push(
        bedrock
            .create_customization_job(&bad)
            .unwrap_err()
            .to_string(),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = BedrockRuntime::connect(&settings(&standin), &fast(2, Some(&audit)))
            .await
            .unwrap();
        client
            .converse(&ConverseRequest {
                model_id: "meta.llama3-8b-instruct-v1:0".into(),
                messages: vec![Turn {
                    role: Role::User,
                    text: PROMPT_MARKER.into(),
                }],
                ..ConverseRequest::default()
            })
            .await
            .unwrap();
    });
    for e in &errors {
        assert!(!e.contains(SECRET_MARKER), "{e}");
        println!("error: {e}");
    }
    println!("child checked");
}

#[test]
fn batch_inference_job_is_submitted_idempotently_and_completes() {
    use tunebench_aws::InvocationJobSpec;
    let standin = BedrockStandin::start(StandinConfig {
        polls_to_complete: 3,
        ..StandinConfig::default()
    })
    .unwrap();
    let bedrock = Bedrock::connect(&settings(&standin), &fast(3, None)).unwrap();
    let spec = InvocationJobSpec {
        job_name: "tb-eval-gsm8k-batch".into(),
        role_arn: "arn:aws:iam::123456789012:role/tunebench-bedrock".into(),
        model_id: "amazon.nova-micro-v1:0".into(),
        input_s3_uri: "s3://tb-data/batch/gsm8k.jsonl".into(),
        output_s3_uri: "s3://tb-data/batch/out/".into(),
        client_request_token: Some("tb-0001".into()),
        timeout_hours: Some(24),
    };
    let arn = bedrock.create_invocation_job(&spec).unwrap();
    assert!(arn.contains(":model-invocation-job/"), "{arn}");
    // The same token: the same job; another token under the same name: a conflict.
    assert_eq!(bedrock.create_invocation_job(&spec).unwrap(), arn);
    let other = InvocationJobSpec {
        client_request_token: Some("tb-0002".into()),
        ..spec.clone()
    };
    let err = bedrock
        .create_invocation_job(&other)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ConflictException") || err.contains("already exists"),
        "{err}"
    );

    let statuses: Vec<String> = (0..3)
        .map(|_| bedrock.get_invocation_job(&arn).unwrap().status)
        .collect();
    assert_eq!(statuses, ["Submitted", "InProgress", "Completed"]);
    let job = bedrock.get_invocation_job(&arn).unwrap();
    assert!(job.is_terminal() && job.end_time.is_some());
    assert_eq!(job.job_name, spec.job_name);
    assert_eq!(job.model_id, spec.model_id);
    assert_eq!(
        job.output_s3_uri.as_deref(),
        Some("s3://tb-data/batch/out/")
    );
    assert_eq!(arn.rsplit('/').next(), Some(job.job_id()));
    standin.assert_valid();
}

/// A reinforcement fine-tuning job's request (`customizationType` and `rftConfig` with its
/// grader Lambda and hyperparameters) passes the service model's validation; a value out of
/// the model's range is refused by it, naming the member.
#[test]
fn reinforcement_fine_tuning_requests_match_the_service_model() {
    use tunebench_aws::{CustomizationKind, RftConfig};
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let bedrock = Bedrock::connect(&settings(&standin), &fast(1, None)).unwrap();
    let rft = RftConfig {
        grader_lambda_arn: "arn:aws:lambda:us-east-1:123456789012:function:gsm8k-reward".into(),
        epoch_count: Some(2),
        batch_size: Some(64),
        learning_rate: Some(1e-5),
        training_sample_per_prompt: Some(8),
        inference_max_tokens: Some(1024),
        reasoning_effort: Some("medium".into()),
        eval_interval: Some(10),
        ..RftConfig::default()
    };
    let job = CustomizationJobSpec {
        base_model: "amazon.nova-lite-v2:0:256k".into(),
        kind: CustomizationKind::ReinforcementFineTuning,
        validation_s3_uris: Vec::new(),
        hyper_parameters: BTreeMap::new(),
        rft: Some(rft.clone()),
        ..spec("tb-rft-1", "s3://tb-data/runs/rft/")
    };
    bedrock.create_customization_job(&job).unwrap();
    let sent = standin.last_input("CreateModelCustomizationJob").unwrap();
    assert_eq!(sent["customizationType"], "REINFORCEMENT_FINE_TUNING");
    let config = &sent["customizationConfig"]["rftConfig"];
    assert_eq!(
        config["graderConfig"]["lambdaGrader"]["lambdaArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:gsm8k-reward"
    );
    assert_eq!(config["hyperParameters"]["trainingSamplePerPrompt"], 8);
    assert_eq!(config["hyperParameters"]["reasoningEffort"], "medium");
    standin.assert_valid();

    // 4 samples per batch is below the model's minimum of 16.
    let small = CustomizationJobSpec {
        job_name: "tb-rft-2".into(),
        rft: Some(RftConfig {
            batch_size: Some(4),
            ..rft
        }),
        ..job
    };
    let err = bedrock
        .create_customization_job(&small)
        .unwrap_err()
        .to_string();
    assert!(err.contains("batchSize"), "{err}");
    assert_eq!(standin.invalid_requests().len(), 1);
}
