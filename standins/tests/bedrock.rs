//! The Bedrock stand-in: validation against the service model (raw HTTP, so the requests can
//! be wrong in ways the SDK never is), state machines, faults, and round trips through the
//! real SDK crates (which proves our responses and timestamps parse). The metrics-to-S3 test
//! needs the loopback S3 server of scripts/test.sh (TUNEBENCH_TEST_S3_ENDPOINT).

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tunebench_standins::bedrock::{BedrockStandin, ConversePolicy, StandinConfig};

/// One raw HTTP/1.1 request; returns (status, headers lower-cased, body).
fn raw(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_lowercase(), v.to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn valid_job_body(name: &str) -> serde_json::Value {
    serde_json::json!({
        "jobName": name,
        "customModelName": format!("{name}-model"),
        "roleArn": "arn:aws:iam::123456789012:role/tunebench-bedrock",
        "baseModelIdentifier": "amazon.titan-text-lite-v1:0:4k",
        "trainingDataConfig": { "s3Uri": "s3://tb-bucket/data/train.jsonl" },
        "outputDataConfig": { "s3Uri": "s3://tb-bucket/out/" },
        "hyperParameters": { "epochCount": "2", "learningRate": "0.00001" },
    })
}

#[test]
fn a_job_missing_its_name_is_rejected_naming_the_member() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let mut body = valid_job_body("job-a");
    body.as_object_mut().unwrap().remove("jobName");
    let (status, headers, text) = raw(
        standin.endpoint_url(),
        "POST",
        "/model-customization-jobs",
        &body.to_string(),
    );
    assert_eq!(status, 400, "{text}");
    assert_eq!(
        header(&headers, "x-amzn-errortype"),
        Some("ValidationException")
    );
    let msg: serde_json::Value = serde_json::from_str(&text).unwrap();
    let msg = msg["message"].as_str().unwrap();
    assert!(
        msg.contains("'jobName'") && msg.contains("must not be null"),
        "{msg}"
    );
    let invalid = standin.invalid_requests();
    assert_eq!(invalid.len(), 1);
    assert_eq!(invalid[0].operation, "CreateModelCustomizationJob");
    assert_eq!(standin.customization_job_count(), 0);
}

#[test]
fn lengths_patterns_enums_types_and_nested_members_are_checked() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "baseModelIdentifier",
            serde_json::json!("a".repeat(2049)),
            "length less than or equal to 2048",
        ),
        (
            "jobName",
            serde_json::json!("bad name!"),
            "regular expression pattern",
        ),
        (
            "customizationType",
            serde_json::json!("FINE_TUNE"),
            "enum value set",
        ),
        (
            "hyperParameters",
            serde_json::json!(["epochCount", "2"]),
            "must be a map",
        ),
        (
            "trainingDataConfig",
            serde_json::json!({ "s3Uri": "https://not-s3/x" }),
            "trainingDataConfig.s3Uri",
        ),
        (
            "outputDataConfig",
            serde_json::json!({}),
            "outputDataConfig.s3Uri",
        ),
        (
            "validationDataConfig",
            serde_json::json!({ "validators": [{ "s3Uri": 7 }] }),
            "validationDataConfig.validators[0].s3Uri",
        ),
        (
            "hyperParameters",
            serde_json::json!({ "epochCount": 2 }),
            "hyperParameters.epochCount",
        ),
        ("unknownMember", serde_json::json!(1), "unknownMember"),
    ];
    for (i, (member, value, expect)) in cases.iter().enumerate() {
        let mut body = valid_job_body(&format!("job-{i}"));
        body.as_object_mut()
            .unwrap()
            .insert(member.to_string(), value.clone());
        let (status, headers, text) = raw(
            standin.endpoint_url(),
            "POST",
            "/model-customization-jobs",
            &body.to_string(),
        );
        assert_eq!(status, 400, "{member}: {text}");
        assert_eq!(
            header(&headers, "x-amzn-errortype"),
            Some("ValidationException")
        );
        assert!(
            text.contains(member) && text.contains(expect),
            "{member}: {text}"
        );
    }
    assert_eq!(standin.invalid_requests().len(), cases.len());
    // Query-string members are validated too.
    let (status, _, text) = raw(
        standin.endpoint_url(),
        "GET",
        "/model-customization-jobs?maxResults=5000&sortOrder=Up",
        "",
    );
    assert_eq!(status, 400);
    assert!(
        text.contains("'maxResults'") && text.contains("'sortOrder'"),
        "{text}"
    );
    // And a valid request passes.
    let (status, _, text) = raw(
        standin.endpoint_url(),
        "POST",
        "/model-customization-jobs",
        &valid_job_body("job-ok").to_string(),
    );
    assert_eq!(status, 201, "{text}");
    assert!(
        standin.invalid_responses().is_empty(),
        "{:?}",
        standin.invalid_responses()
    );
}

#[test]
fn unknown_paths_are_recorded() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let (status, _, _) = raw(standin.endpoint_url(), "POST", "/no-such-thing", "{}");
    assert_eq!(status, 404);
    assert_eq!(standin.invalid_requests()[0].operation, "<unrouted>");
}

#[test]
fn model_patterns_all_compile() {
    assert_eq!(
        tunebench_standins::bedrock::skipped_patterns(),
        Vec::<String>::new()
    );
}

fn sdk_config(endpoint: &str) -> aws_sdk_bedrock::Config {
    aws_sdk_bedrock::Config::builder()
        .behavior_version(aws_sdk_bedrock::config::BehaviorVersion::latest())
        .http_client(tunebench_standins::sdk_http_client())
        .region(aws_sdk_bedrock::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_bedrock::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .build()
}

#[test]
fn the_sdk_round_trips_jobs_and_timestamps() {
    let standin = BedrockStandin::start(StandinConfig {
        polls_to_complete: 3,
        ..StandinConfig::default()
    })
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = aws_sdk_bedrock::Client::from_conf(sdk_config(standin.endpoint_url()));
        let arn = client
            .create_model_customization_job()
            .job_name("sdk-job")
            .custom_model_name("sdk-model")
            .role_arn("arn:aws:iam::123456789012:role/r")
            .base_model_identifier(
                "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-lite-v1:0:4k",
            )
            .training_data_config(
                aws_sdk_bedrock::types::TrainingDataConfig::builder()
                    .s3_uri("s3://b-1/t.jsonl")
                    .build(),
            )
            .output_data_config(
                aws_sdk_bedrock::types::OutputDataConfig::builder()
                    .s3_uri("s3://b-1/out/")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap()
            .job_arn()
            .to_string();
        assert!(
            arn.contains(":model-customization-job/amazon.titan-text-lite-v1:0:4k/"),
            "{arn}"
        );
        let mut seen = Vec::new();
        for _ in 0..3 {
            let j = client
                .get_model_customization_job()
                .job_identifier(&arn)
                .send()
                .await
                .unwrap();
            let d = j.status_details().unwrap();
            seen.push((
                j.status().unwrap().as_str().to_string(),
                d.training_details()
                    .unwrap()
                    .status()
                    .unwrap()
                    .as_str()
                    .to_string(),
            ));
            assert!(j.creation_time().secs() > 1_700_000_000);
        }
        assert_eq!(
            seen[0],
            ("InProgress".to_string(), "NotStarted".to_string())
        );
        assert_eq!(seen[2], ("Completed".to_string(), "Completed".to_string()));
        let j = client
            .get_model_customization_job()
            .job_identifier(&arn)
            .send()
            .await
            .unwrap();
        assert!(j.output_model_arn().unwrap().contains(":custom-model/"));
        assert!(j.end_time().is_some());
        let m = client
            .get_custom_model()
            .model_identifier("sdk-model")
            .send()
            .await
            .unwrap();
        assert_eq!(m.model_status().unwrap().as_str(), "Active");
    });
    standin.assert_valid();
}

#[test]
fn converse_answers_by_policy_with_usage() {
    let standin = BedrockStandin::start(StandinConfig {
        converse: ConversePolicy::Lookup([("What is 2+2?".to_string(), "4".to_string())].into()),
        ..StandinConfig::default()
    })
    .unwrap();
    standin.set_latency(Duration::from_millis(20));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let conf = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .http_client(tunebench_standins::sdk_http_client())
            .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
            .endpoint_url(standin.endpoint_url())
            .credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .build();
        let client = aws_sdk_bedrockruntime::Client::from_conf(conf);
        use aws_sdk_bedrockruntime::types::{
            ContentBlock, ConversationRole, ConverseOutput, Message,
        };
        for (q, a) in [("What is 2+2?", "4"), ("say this back", "say this back")] {
            let out = client
                .converse()
                .model_id("anthropic.claude-3-haiku-20240307-v1:0")
                .messages(
                    Message::builder()
                        .role(ConversationRole::User)
                        .content(ContentBlock::Text(q.into()))
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            let Some(ConverseOutput::Message(m)) = out.output() else {
                panic!()
            };
            assert_eq!(m.content()[0].as_text().unwrap(), a);
            let u = out.usage().unwrap();
            assert_eq!(u.input_tokens() as usize, q.split_whitespace().count());
            assert_eq!(u.total_tokens(), u.input_tokens() + u.output_tokens());
            assert!(out.metrics().unwrap().latency_ms() >= 20);
            assert_eq!(out.stop_reason().as_str(), "end_turn");
        }
    });
    assert_eq!(standin.request_count("Converse"), 2);
    standin.assert_valid();
}

#[test]
fn faults_are_served_in_order_and_counted() {
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    standin.throttle_next(2);
    standin.fail_next(1);
    standin.error_next(403, "AccessDeniedException", "not authorized");
    let codes: Vec<(u16, Option<String>)> = (0..5)
        .map(|_| {
            let (s, h, _) = raw(
                standin.endpoint_url(),
                "GET",
                "/model-customization-jobs",
                "",
            );
            (s, header(&h, "x-amzn-errortype").map(str::to_string))
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (429, Some("ThrottlingException".into())),
            (429, Some("ThrottlingException".into())),
            (500, Some("InternalServerException".into())),
            (403, Some("AccessDeniedException".into())),
            (200, None),
        ]
    );
    assert_eq!(standin.request_count("ListModelCustomizationJobs"), 5);
}

#[test]
fn completed_jobs_write_metrics_csvs_to_s3() {
    let s3_endpoint = tunebench_standins::s3::endpoint();
    let standin = BedrockStandin::start(StandinConfig {
        polls_to_complete: 1,
        s3_endpoint: Some(s3_endpoint.clone()),
        ..StandinConfig::default()
    })
    .unwrap();
    let bucket = format!("tb-standin-{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .http_client(tunebench_standins::sdk_http_client())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&s3_endpoint)
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build(),
    );
    rt.block_on(s3.create_bucket().bucket(&bucket).send())
        .unwrap();
    let mut body = valid_job_body("metrics-job");
    body["outputDataConfig"]["s3Uri"] = serde_json::json!(format!("s3://{bucket}/runs/r1/"));
    let (status, _, text) = raw(
        standin.endpoint_url(),
        "POST",
        "/model-customization-jobs",
        &body.to_string(),
    );
    assert_eq!(status, 201, "{text}");
    let arn = serde_json::from_str::<serde_json::Value>(&text).unwrap()["jobArn"]
        .as_str()
        .unwrap()
        .to_string();
    let encoded = arn.replace(':', "%3A").replace('/', "%2F");
    let (status, _, text) = raw(
        standin.endpoint_url(),
        "GET",
        &format!("/model-customization-jobs/{encoded}"),
        "",
    );
    assert_eq!(status, 200, "{text}");
    let job: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(job["status"], "Completed", "{text}");
    let id = arn.rsplit('/').next().unwrap();
    let prefix = format!("runs/r1/model-customization-job-{id}/");
    let get = |key: String| {
        let o = rt
            .block_on(s3.get_object().bucket(&bucket).key(&key).send())
            .unwrap();
        String::from_utf8(rt.block_on(o.body.collect()).unwrap().to_vec()).unwrap()
    };
    let train = get(format!(
        "{prefix}training_artifacts/step_wise_training_metrics.csv"
    ));
    assert!(
        train.starts_with("step_number,epoch_number,training_loss,perplexity\n0,1,"),
        "{train}"
    );
    assert_eq!(train.lines().count(), 1 + 2 * 5); // epochCount 2, five steps each
    let val = get(format!(
        "{prefix}validation_artifacts/post_fine_tuning_validation/validation_metrics.csv"
    ));
    assert!(
        val.starts_with("step_number,epoch_number,validation_loss,validation_perplexity\n4,1,"),
        "{val}"
    );
    assert!(standin.invalid_requests().is_empty());

    // An output bucket that does not exist fails the job, as the real service would.
    let mut body = valid_job_body("metrics-job-2");
    body["outputDataConfig"]["s3Uri"] = serde_json::json!("s3://tb-no-such-bucket-x/out/");
    let (_, _, text) = raw(
        standin.endpoint_url(),
        "POST",
        "/model-customization-jobs",
        &body.to_string(),
    );
    let arn = serde_json::from_str::<serde_json::Value>(&text).unwrap()["jobArn"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, text) = raw(
        standin.endpoint_url(),
        "GET",
        &format!("/model-customization-jobs/{}", arn.replace('/', "%2F")),
        "",
    );
    let job: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(job["status"], "Failed", "{text}");
    assert!(
        job["failureMessage"]
            .as_str()
            .unwrap()
            .contains("NoSuchBucket"),
        "{text}"
    );
}
