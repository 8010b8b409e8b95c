//! `tunebench train bedrock` library side against the loopback Bedrock stand-in of
//! tunebench-standins (every request checked against the service model) and the loopback
//! S3 server of scripts/test.sh (TUNEBENCH_TEST_S3_ENDPOINT). No test talks to AWS.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tunebench_aws::{AwsSettings, BedrockOptions, JobFilter, S3Uri, VpcConfig};
use tunebench_standins::bedrock::{BedrockStandin, StandinConfig};
use tunebench_standins::s3::endpoint as s3_endpoint;
use tunebench_train::TrainError;
use tunebench_train::bedrock::{
    BedrockTrainSettings, Clients, CustomizationType, DeployKind, HyperValue, JobRecord, JobRef,
    WaitSettings, plan, submit, wait,
};

fn clients(standin: &BedrockStandin, s3_endpoint: &str) -> Clients {
    // The clients use the default credential chain; scripts/test.sh sets static test keys.
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "AWS_ACCESS_KEY_ID is not set: run the tests with scripts/test.sh, which sets static test credentials"
    );
    let aws = |endpoint: &str| AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_string()),
        ..AwsSettings::default()
    };
    Clients::connect(
        &aws(standin.endpoint_url()),
        &aws(s3_endpoint),
        &BedrockOptions {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            audit_log: None,
        },
    )
    .unwrap()
}

fn write_data(dir: &Path) {
    let line = |i: usize| {
        format!(
            "{{\"prompt\":\"What is {i} plus {i}?\",\"completion\":\"{}\"}}\n",
            2 * i
        )
    };
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("train.jsonl"),
        (0..40).map(line).collect::<String>(),
    )
    .unwrap();
    std::fs::write(
        dir.join("validation.jsonl"),
        (40..45).map(line).collect::<String>(),
    )
    .unwrap();
}

fn settings(root: &Path, bucket: &str) -> BedrockTrainSettings {
    write_data(&root.join("data"));
    BedrockTrainSettings {
        name: "tb-ft-1".into(),
        base_model_id: "amazon.titan-text-lite-v1:0:4k".into(),
        customization_type: CustomizationType::FineTuning,
        hyperparameters: BTreeMap::from([
            ("epochCount".into(), HyperValue::Int(2)),
            ("batchSize".into(), HyperValue::Int(1)),
            ("learningRate".into(), HyperValue::Float(1e-5)),
        ]),
        train_file: "data/train.jsonl".into(),
        validation_file: Some("data/validation.jsonl".into()),
        data_s3_prefix: Some(format!("s3://{bucket}/runs/r1/data")),
        output_s3_uri: format!("s3://{bucket}/runs/r1/bedrock/"),
        role_arn: "arn:aws:iam::123456789012:role/tunebench-bedrock".into(),
        job_tags: BTreeMap::from([("project".into(), "tunebench".into())]),
        model_tags: BTreeMap::from([("team".into(), "ml platform".into())]),
        vpc: Some(VpcConfig {
            subnet_ids: vec!["subnet-0abc123".into(), "subnet-0def456".into()],
            security_group_ids: vec!["sg-0123abcd".into()],
        }),
        region: Some("us-east-1".into()),
        pricing: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/pricing.toml")),
        max_cost_usd: Some(5.0),
        out_dir: "train/tb-ft-1".into(),
        ..BedrockTrainSettings::default()
    }
    .resolve(root)
    .unwrap()
}

fn fast_wait() -> WaitSettings {
    WaitSettings {
        initial_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(20),
        timeout: Some(Duration::from_secs(30)),
        max_consecutive_errors: 10,
    }
}

fn bucket(tag: &str) -> String {
    format!("tb-train-{tag}-{}", std::process::id())
}

/// A stand-in whose jobs write to the loopback S3 server, clients of both, and a fresh
/// bucket named after `tag`.
fn standin_with_bucket(tag: &str) -> (BedrockStandin, Clients, String) {
    let s3_endpoint = s3_endpoint();
    let standin = BedrockStandin::start(StandinConfig {
        s3_endpoint: Some(s3_endpoint.clone()),
        ..StandinConfig::default()
    })
    .unwrap();
    let c = clients(&standin, &s3_endpoint);
    let b = bucket(tag);
    c.s3.create_bucket(&b).unwrap();
    (standin, c, b)
}

#[test]
fn submit_wait_converts_metrics_and_records_the_custom_model() {
    let s3_endpoint = s3_endpoint();
    let standin = BedrockStandin::start(StandinConfig {
        polls_to_complete: 3,
        s3_endpoint: Some(s3_endpoint.clone()),
        ..StandinConfig::default()
    })
    .unwrap();
    let c = clients(&standin, &s3_endpoint);
    let b = bucket("e2e");
    c.s3.create_bucket(&b).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &b);

    let sub = submit(&s, &c, false).unwrap();
    assert_eq!(sub.uploads.len(), 2);
    // The dry run's request is exactly what the SDK sent (VPC and model tags included).
    assert_eq!(
        standin.last_input("CreateModelCustomizationJob").unwrap(),
        sub.plan.request
    );
    let rec = sub.job.unwrap();
    assert!(rec.job_arn.contains(":model-customization-job/"));
    assert_eq!(
        JobRecord::load(&s.out_dir).unwrap().unwrap().job_arn,
        rec.job_arn
    );
    let listed: Vec<_> =
        c.s3.list(&format!("s3://{b}/runs/r1/data/").parse::<S3Uri>().unwrap())
            .unwrap();
    assert_eq!(listed.len(), 2);

    let mut seen = Vec::new();
    let job = wait(
        &c,
        &JobRef::Registry(s.out_dir.clone()),
        &fast_wait(),
        |j| seen.push((j.status.clone(), j.training_status.clone())),
    )
    .unwrap();
    assert_eq!(job.status, "Completed");
    assert_eq!(seen.first().unwrap().0, "InProgress");

    let rec = JobRecord::load(&s.out_dir).unwrap().unwrap();
    assert_eq!(rec.status, "Completed");
    assert_eq!(rec.custom_model_arn, job.output_model_arn);
    assert!(rec.custom_model_arn.is_some());
    assert_eq!(rec.metrics.as_deref(), Some("metrics.csv"));

    let metrics = std::fs::read_to_string(s.out_dir.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    assert_eq!(lines.next().unwrap(), tunebench_train::metrics::COLUMNS);
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.len() == 8 && !r[2].is_empty() && r[4..].iter().all(|c| c.is_empty()))
    );
    assert!(
        rows.iter().any(|r| !r[3].is_empty()),
        "some step has a val_loss:\n{metrics}"
    );

    // A Titan fine-tune cannot be deployed on demand: refused before any call.
    let dir = s.out_dir.clone();
    let on_demand = DeployKind::OnDemand {
        region: Some("us-east-1".into()),
    };
    let err = tunebench_train::bedrock::deploy(
        &c,
        &dir,
        "tb-ft-1-dep",
        &on_demand,
        &fast_wait(),
        |_| {},
        |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("only Amazon Nova") && err.contains("--provisioned"),
        "{err}"
    );
    assert_eq!(standin.request_count("CreateCustomModelDeployment"), 0);

    // On-demand deploy of a Nova fine-tune (the record as a Nova Micro job leaves it),
    // provisioned throughput only with consent.
    let mut rec = JobRecord::load(&dir).unwrap().unwrap();
    rec.base_model = "amazon.nova-micro-v1:0:128k".into();
    rec.save(&dir).unwrap();
    let mut statuses = Vec::new();
    let dep = tunebench_train::bedrock::deploy(
        &c,
        &dir,
        "tb-ft-1-dep",
        &on_demand,
        &fast_wait(),
        |_| {},
        |s| statuses.push(s.to_string()),
    )
    .unwrap();
    assert_eq!(dep.status, "Active");
    assert_eq!(statuses.first().map(String::as_str), Some("Creating"));
    let rec = JobRecord::load(&dir).unwrap().unwrap();
    assert_eq!(rec.deployment_arn.as_deref(), Some(dep.arn.as_str()));
    assert_eq!(rec.deployment_status.as_deref(), Some("Active"));
    // Deploying again watches the recorded deployment instead of making a second one.
    let again = tunebench_train::bedrock::deploy(
        &c,
        &dir,
        "another-name",
        &on_demand,
        &fast_wait(),
        |_| {},
        |_| {},
    )
    .unwrap();
    assert_eq!(again, dep);
    assert_eq!(standin.request_count("CreateCustomModelDeployment"), 1);
    let mut notices = Vec::new();
    let refused = tunebench_train::bedrock::deploy(
        &c,
        &dir,
        "tb-ft-1-pt",
        &DeployKind::Provisioned {
            model_units: 1,
            hourly_usd_per_unit: Some(20.0),
            yes: false,
        },
        &fast_wait(),
        |n| notices.push(n.to_string()),
        |_| {},
    )
    .unwrap_err();
    assert!(matches!(refused, TrainError::Refused(_)), "{refused}");
    assert!(notices[0].contains("$20.00/hour"), "{notices:?}");
    assert_eq!(standin.request_count("CreateProvisionedModelThroughput"), 0);
    assert_eq!(
        tunebench_train::bedrock::undeploy(&c, &dir).unwrap(),
        vec![dep.arn]
    );

    let listed = tunebench_train::bedrock::list(
        &c,
        &JobFilter {
            name_contains: Some("tb-ft".into()),
            ..JobFilter::default()
        },
    )
    .unwrap();
    assert_eq!(listed.len(), 1);
    standin.assert_valid();
}

#[test]
fn resubmitting_the_same_thing_starts_one_job() {
    let (standin, c, b) = standin_with_bucket("idem");
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &b);

    let first = submit(&s, &c, false).unwrap();
    // Same registry: nothing sent.
    let again = submit(&s, &c, false).unwrap();
    assert!(again.resumed);
    assert_eq!(
        again.job.unwrap().job_arn,
        first.job.as_ref().unwrap().job_arn
    );
    // Registry lost: the same token gives the same job; the data is not uploaded again.
    std::fs::remove_file(JobRecord::path(&s.out_dir)).unwrap();
    let third = submit(&s, &c, false).unwrap();
    assert!(!third.resumed);
    assert!(
        third
            .uploads
            .iter()
            .all(|u| u.outcome == tunebench_aws::UploadOutcome::Unchanged)
    );
    let rec = third.job.unwrap();
    assert_eq!(rec.job_arn, first.job.unwrap().job_arn);
    assert_eq!(
        rec.client_request_token,
        third.plan.spec.client_request_token.unwrap()
    );
    assert_eq!(standin.customization_job_count(), 1);
    assert_eq!(standin.request_count("CreateModelCustomizationJob"), 2);
    standin.assert_valid();
}

#[test]
fn preflight_lists_every_problem_and_uploads_nothing() {
    let s3_endpoint = s3_endpoint();
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let c = clients(&standin, &s3_endpoint);
    let b = bucket("pre");
    c.s3.create_bucket(&b).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let good = settings(tmp.path(), &b);

    let mut s = good.clone();
    s.base_model_id = "amazon.titan-text-huge-v9".into();
    s.role_arn = String::new();
    s.name = "-bad name".into();
    s.custom_model_name = Some("ok".into());
    let err = submit(&s, &c, false).unwrap_err();
    let TrainError::Preflight(problems) = &err else {
        panic!("{err}")
    };
    let all = problems.join("\n");
    for want in [
        "not a valid jobName",
        "role_arn is missing",
        "not a base model tunebench can customize",
    ] {
        assert!(all.contains(want), "{want}: {all}");
    }

    // Hyperparameter out of range, unknown name, bad data line — all together.
    let mut s = good.clone();
    s.hyperparameters
        .insert("epochCount".into(), HyperValue::Int(99));
    s.hyperparameters
        .insert("dropout".into(), HyperValue::Float(0.1));
    s.role_arn = "arn:aws:iam::123:role/x".into();
    s.vpc = Some(VpcConfig {
        subnet_ids: Vec::new(),
        security_group_ids: vec!["sg_under_score".into()],
    });
    s.model_tags.insert("bad!key".into(), "v".into());
    s.pricing = None;
    std::fs::write(
        tmp.path().join("data/validation.jsonl"),
        "{\"messages\":[]}\n",
    )
    .unwrap();
    let err = submit(&s, &c, false).unwrap_err();
    let TrainError::Preflight(problems) = &err else {
        panic!("{err}")
    };
    let all = problems.join("\n");
    for want in [
        "hyperparameters.epochCount = 99 is out of range",
        "hyperparameters.dropout",
        "is not an IAM role ARN",
        "validation.jsonl:1:",
        "vpc.subnet_ids: 0 ids, the API takes 1 to 16",
        "vpc.security_group_ids: \"sg_under_score\" is not an id",
        "model_tags: tag \"bad!key\"",
        "pricing is not set, so the training cost cannot be estimated",
    ] {
        assert!(all.contains(want), "{want}: {all}");
    }
    assert!(
        c.s3.list(&format!("s3://{b}/").parse::<S3Uri>().unwrap())
            .unwrap()
            .is_empty()
    );
    assert_eq!(standin.request_count("CreateModelCustomizationJob"), 0);
    assert!(!s.out_dir.join("job.json").exists());

    // The cost cap refuses before anything is sent.
    let mut s = settings(tmp.path(), &b);
    s.max_cost_usd = Some(0.0);
    assert!(matches!(
        submit(&s, &c, false).unwrap_err(),
        TrainError::CostLimit { .. }
    ));
    assert!(
        c.s3.list(&format!("s3://{b}/").parse::<S3Uri>().unwrap())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn prices_come_from_the_pricing_table_and_overrides_win() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(tmp.path(), "tb-price");
    let table = tmp.path().join("prices.toml");
    std::fs::write(
        &table,
        "version = 1\nupdated = \"2026-01-01\"\n[[model]]\nid = \"x\"\ninput_per_1k = 1.0\noutput_per_1k = 1.0\n[[customization]]\nbase_model = \"amazon.titan-text-lite-v1:0:4k\"\nregion = \"us-east-1\"\ntrain_per_1k_tokens = 2.0\nstorage_per_month = 3.0\nprovisioned_per_hour = 7.0\n",
    )
    .unwrap();
    s.pricing = Some(table.clone());
    let p = s.prices().unwrap();
    assert_eq!(
        (
            p.train_per_1k_tokens,
            p.storage_per_month,
            p.provisioned_per_hour
        ),
        (2.0, 3.0, Some(7.0))
    );
    assert!(
        p.source.starts_with("prices.toml [[customization]]"),
        "{}",
        p.source
    );
    s.storage_price_per_month = Some(0.5);
    let p = s.prices().unwrap();
    assert_eq!((p.train_per_1k_tokens, p.storage_per_month), (2.0, 0.5));
    assert!(
        p.source.contains("[train.bedrock] storage_price_per_month"),
        "{}",
        p.source
    );
    let est = plan(&s).unwrap().estimate;
    assert_eq!(est.train_per_1k_tokens, 2.0);
    // Another region has no entry: a pre-flight problem naming the file and a fix.
    s.region = Some("us-west-2".into());
    let err = s.prices().unwrap_err();
    assert!(
        err.contains("prices.toml: no [[customization]] entry") && err.contains("hint:"),
        "{err}"
    );
    assert!(matches!(plan(&s), Err(TrainError::Preflight(_))));
    // A negative price is refused when the table is read.
    std::fs::write(
        &table,
        "version = 1\nupdated = \"x\"\n[[customization]]\nbase_model = \"m\"\ntrain_per_1k_tokens = -1.0\nstorage_per_month = 0.0\n",
    )
    .unwrap();
    assert!(s.prices().unwrap_err().contains("prices must be ≥ 0"));
}

#[test]
fn dry_run_shows_the_exact_request_and_estimate() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), "tb-dry");
    let p = plan(&s).unwrap();
    insta::assert_snapshot!(p.to_json());
}

#[test]
fn a_later_run_resumes_watching_from_the_registry() {
    let s3_endpoint = s3_endpoint();
    let standin = BedrockStandin::start(StandinConfig {
        polls_to_complete: 4,
        s3_endpoint: Some(s3_endpoint.clone()),
        ..StandinConfig::default()
    })
    .unwrap();
    let c = clients(&standin, &s3_endpoint);
    let b = bucket("resume");
    c.s3.create_bucket(&b).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &b);
    submit(&s, &c, false).unwrap();
    // One status call (a "first process"), then a fresh client resumes from job.json alone.
    let reg = JobRef::Registry(s.out_dir.clone());
    assert_eq!(
        tunebench_train::bedrock::status(&c, &reg).unwrap().status,
        "InProgress"
    );
    drop(c);
    let c = clients(&standin, &s3_endpoint);
    let job = wait(&c, &reg, &fast_wait(), |_| {}).unwrap();
    assert_eq!(job.status, "Completed");
    let rec = JobRecord::load(&s.out_dir).unwrap().unwrap();
    assert!(rec.custom_model_arn.is_some());
    assert!(s.out_dir.join("metrics.csv").exists());
    assert_eq!(standin.customization_job_count(), 1);
    standin.assert_valid();
}

#[test]
fn waiting_survives_a_throttling_storm() {
    let s3_endpoint = s3_endpoint();
    let standin = BedrockStandin::start(StandinConfig {
        polls_to_complete: 2,
        s3_endpoint: Some(s3_endpoint.clone()),
        ..StandinConfig::default()
    })
    .unwrap();
    let c = clients(&standin, &s3_endpoint);
    let b = bucket("storm");
    c.s3.create_bucket(&b).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), &b);
    submit(&s, &c, false).unwrap();
    // 2 attempts per call in the SDK: 9 throttles exhaust it several times over.
    standin.throttle_next(9);
    standin.fail_next(2);
    let job = wait(
        &c,
        &JobRef::Registry(s.out_dir.clone()),
        &fast_wait(),
        |_| {},
    )
    .unwrap();
    assert_eq!(job.status, "Completed");
    assert!(
        JobRecord::load(&s.out_dir)
            .unwrap()
            .unwrap()
            .custom_model_arn
            .is_some()
    );
    standin.assert_valid();
}

/// A Hugging Face model directory as `tunebench model merge` writes it (tiny stand-in files).
fn write_model_dir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, body) in [
        ("config.json", "{\"model_type\": \"llama\"}"),
        ("tokenizer.json", "{}"),
        ("tokenizer_config.json", "{}"),
        ("model.safetensors", "weights"),
    ] {
        std::fs::write(dir.join(name), body).unwrap();
    }
}

#[test]
fn import_uploads_the_model_waits_and_records_the_imported_model() {
    use tunebench_train::bedrock::import::{ImportRecord, ImportSettings, import};
    let s3_endpoint = s3_endpoint();
    let standin = BedrockStandin::start(StandinConfig {
        polls_to_complete: 3,
        ..StandinConfig::default()
    })
    .unwrap();
    let c = clients(&standin, &s3_endpoint);
    let b = bucket("import");
    c.s3.create_bucket(&b).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    write_model_dir(&tmp.path().join("merged"));
    let settings = ImportSettings {
        name: "tb-import-1".into(),
        model_dir: "merged".into(),
        s3_prefix: format!("s3://{b}/imports/tb-import-1/"),
        role_arn: "arn:aws:iam::123456789012:role/tunebench-bedrock".into(),
        out_dir: "import/tb-import-1".into(),
        ..ImportSettings::default()
    }
    .resolve(tmp.path())
    .unwrap();

    let mut statuses = Vec::new();
    let done = import(&c, &settings, &fast_wait(), |s| {
        statuses.push(s.to_string())
    })
    .unwrap();
    assert!(!done.resumed);
    assert_eq!(done.uploads.len(), 4);
    assert_eq!(statuses, ["InProgress", "InProgress", "Completed"]);
    let arn = done.record.imported_model_arn.clone().unwrap();
    assert!(arn.contains(":imported-model/"), "{arn}");
    let rec = ImportRecord::load(&settings.out_dir).unwrap().unwrap();
    assert_eq!(rec.imported_model_arn.as_deref(), Some(arn.as_str()));
    assert_eq!(rec.status, "Completed");
    let keys: Vec<String> =
        c.s3.list(&settings.s3_prefix.parse::<S3Uri>().unwrap())
            .unwrap()
            .into_iter()
            .map(|u| u.key)
            .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys.iter().any(|k| k.ends_with("/model.safetensors")));

    // Same files and settings: the recorded import is reused; nothing is sent again.
    let again = import(&c, &settings, &fast_wait(), |_| {}).unwrap();
    assert!(again.resumed && again.uploads.is_empty());
    assert_eq!(
        again.record.imported_model_arn.as_deref(),
        Some(arn.as_str())
    );
    assert_eq!(standin.request_count("CreateModelImportJob"), 1);

    // Record lost: the files are found unchanged on S3 and the idempotency token returns
    // the same job.
    std::fs::remove_file(ImportRecord::path(&settings.out_dir)).unwrap();
    let third = import(&c, &settings, &fast_wait(), |_| {}).unwrap();
    assert!(
        third
            .uploads
            .iter()
            .all(|u| u.outcome == tunebench_aws::UploadOutcome::Unchanged)
    );
    assert_eq!(third.record.job_arn, done.record.job_arn);
    assert_eq!(standin.request_count("CreateModelImportJob"), 2);

    // Changed weights are a new import: uploaded again, and under the same job name the
    // service refuses it (a new name is needed), with a hint.
    std::fs::write(tmp.path().join("merged/model.safetensors"), "new weights").unwrap();
    let err = import(&c, &settings, &fast_wait(), |_| {}).unwrap_err();
    assert!(err.to_string().contains("ConflictException"), "{err}");
    assert!(err.to_string().contains("hint:"), "{err}");
    standin.assert_valid();
}

#[test]
fn import_refuses_a_directory_that_is_not_a_hf_model() {
    use tunebench_train::bedrock::import::ImportSettings;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("merged")).unwrap();
    std::fs::write(tmp.path().join("merged/config.json"), "{}").unwrap();
    let err = ImportSettings {
        name: "tb import".into(),
        model_dir: "merged".into(),
        s3_prefix: "not-s3".into(),
        role_arn: "arn:aws:iam::123456789012:role/r".into(),
        out_dir: "out".into(),
        ..ImportSettings::default()
    }
    .resolve(tmp.path())
    .unwrap_err();
    let TrainError::Preflight(problems) = &err else {
        panic!("{err}")
    };
    let all = problems.join("\n");
    for want in [
        "is not a valid jobName",
        "no tokenizer.json",
        "no tokenizer_config.json",
        "no *.safetensors weights",
        "s3_prefix = \"not-s3\" is not an s3:// URI",
    ] {
        assert!(all.contains(want), "{want}: {all}");
    }
    assert!(!all.contains("no config.json"), "{all}");
}

/// `n` RFT prompts from GSM8K's training split: the question as the user's turn, the worked
/// answer as `reference_answer`.
fn write_rft_data(path: &Path, n: usize) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/gsm8k/train.jsonl"),
    )
    .unwrap();
    let lines: String = text
        .lines()
        .take(n)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let rec = serde_json::json!({
                "messages": [{"role": "user", "content": v["question"]}],
                "reference_answer": {"answer": v["answer"]},
            });
            format!("{rec}\n")
        })
        .collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, lines).unwrap();
}

/// A reinforcement fine-tuning job: `[train.bedrock.rft]` checked against the service
/// model's ranges, the RFT prompt format and count checked line by line, and the request the
/// dry run shows is the one the SDK sends (validated by the stand-in).
#[test]
fn reinforcement_fine_tuning_is_planned_checked_and_submitted() {
    use tunebench_aws::RftConfig;
    let (standin, c, b) = standin_with_bucket("rft");
    let tmp = tempfile::tempdir().unwrap();
    write_rft_data(&tmp.path().join("data/rft.jsonl"), 120);
    let rft = RftConfig {
        grader_lambda_arn: "arn:aws:lambda:us-east-1:123456789012:function:gsm8k-reward".into(),
        epoch_count: Some(2),
        batch_size: Some(64),
        training_sample_per_prompt: Some(4),
        inference_max_tokens: Some(1024),
        reasoning_effort: Some("low".into()),
        ..RftConfig::default()
    };
    let raw = BedrockTrainSettings {
        name: "tb-rft-1".into(),
        base_model_id: "amazon.nova-lite-v2:0:256k".into(),
        customization_type: CustomizationType::ReinforcementFineTuning,
        rft: Some(rft.clone()),
        train_file: "data/rft.jsonl".into(),
        data_s3_prefix: Some(format!("s3://{b}/runs/rft/data")),
        output_s3_uri: format!("s3://{b}/runs/rft/bedrock/"),
        role_arn: "arn:aws:iam::123456789012:role/tunebench-bedrock".into(),
        region: Some("us-east-1".into()),
        train_price_per_1k_tokens: Some(0.01),
        storage_price_per_month: Some(1.95),
        out_dir: "train/tb-rft-1".into(),
        ..BedrockTrainSettings::default()
    };
    let s = raw.clone().resolve(tmp.path()).unwrap();
    let sub = submit(&s, &c, false).unwrap();
    let sent = standin.last_input("CreateModelCustomizationJob").unwrap();
    assert_eq!(sent, sub.plan.request, "the dry run shows what is sent");
    assert_eq!(sent["customizationType"], "REINFORCEMENT_FINE_TUNING");
    assert_eq!(
        sent["customizationConfig"]["rftConfig"]["hyperParameters"]["trainingSamplePerPrompt"],
        4
    );
    assert!(sub.job.is_some());
    assert!(
        sub.plan.estimate.token_counter.contains("so a lower bound"),
        "{:?}",
        sub.plan.estimate
    );
    // Waited on, the job's reward curves become metrics.csv's reward columns.
    let reg = JobRef::Registry(s.out_dir.clone());
    let job = wait(&c, &reg, &fast_wait(), |_| {}).unwrap();
    assert_eq!(job.status, "Completed");
    let metrics = std::fs::read_to_string(s.out_dir.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "{},{}",
            tunebench_train::metrics::COLUMNS,
            tunebench_train::metrics::REWARD_COLUMNS
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 10, "2 epochs of 5 steps:\n{metrics}");
    let reward = |r: &Vec<&str>| r[8].parse::<f64>().unwrap();
    assert!(
        rows.iter()
            .all(|r| r.len() == 12 && r[2].is_empty() && r[3].is_empty())
    );
    assert!(
        reward(&rows[9]) > reward(&rows[0]) + 0.3,
        "the reward climbs:\n{metrics}"
    );
    for r in &rows {
        let (lo, mean, hi) = (
            r[9].parse::<f64>().unwrap(),
            reward(r),
            r[10].parse::<f64>().unwrap(),
        );
        assert!(lo <= mean && mean <= hi, "{r:?}");
    }
    assert_eq!(
        rows.iter().filter(|r| !r[11].is_empty()).count(),
        2,
        "one validation reward per epoch:\n{metrics}"
    );
    standin.assert_valid();

    // Out-of-range values, SFT hyperparameters, bad lines and too few prompts: all listed.
    write_rft_data(&tmp.path().join("data/few.jsonl"), 40);
    let mut few = std::fs::read_to_string(tmp.path().join("data/few.jsonl")).unwrap();
    few.push_str("{\"messages\": [{\"role\": \"assistant\", \"content\": \"42\"}]}\n");
    std::fs::write(tmp.path().join("data/few.jsonl"), few).unwrap();
    let bad = BedrockTrainSettings {
        rft: Some(RftConfig {
            batch_size: Some(8),
            grader_lambda_arn: "gsm8k-reward".into(),
            ..rft
        }),
        hyperparameters: BTreeMap::from([("epochCount".into(), HyperValue::Int(2))]),
        train_file: "data/few.jsonl".into(),
        ..raw.clone()
    };
    let err = match bad.resolve(tmp.path()) {
        Err(TrainError::Preflight(p)) => p,
        other => panic!("{other:?}"),
    };
    let text = err.join("\n");
    for want in [
        "rft.batch_size = 8 is out of range: 16 to 512",
        "rft.grader_lambda_arn = \"gsm8k-reward\" is not a Lambda function ARN",
        "hyperparameters are not sent with REINFORCEMENT_FINE_TUNING",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    let bad_data = BedrockTrainSettings {
        train_file: "data/few.jsonl".into(),
        ..raw.clone()
    }
    .resolve(tmp.path())
    .unwrap();
    let err = match plan(&bad_data) {
        Err(TrainError::Preflight(p)) => p.join("\n"),
        other => panic!("{other:?}"),
    };
    for want in [
        "few.jsonl:41: empty-turn: reference_answer is empty",
        "few.jsonl:41: role-order: turn 1 is assistant; a prompt must end with a user turn",
        "min-records: train split has 41 records; bedrock:rft needs at least 100",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    // RFT settings on a fine-tuning job are refused.
    let ft = BedrockTrainSettings {
        customization_type: CustomizationType::FineTuning,
        ..raw
    };
    let err = match ft.resolve(tmp.path()) {
        Err(TrainError::Preflight(p)) => p.join("\n"),
        other => panic!("{other:?}"),
    };
    assert!(
        err.contains(
            "[train.bedrock.rft] is only used by REINFORCEMENT_FINE_TUNING, not FINE_TUNING"
        ),
        "{err}"
    );
}
