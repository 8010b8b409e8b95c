//! S3 client against the loopback S3 server (moto) that scripts/test.sh starts; the script
//! also sets static test credentials. No test talks to AWS.

// Helpers here panic on anything unexpected: a panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use tunebench_aws::{AwsSettings, S3, S3Uri, UploadOptions, UploadOutcome};

fn client() -> S3 {
    let endpoint = tunebench_standins::s3::endpoint();
    S3::connect(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        ..AwsSettings::default()
    })
    .unwrap()
}

#[test]
fn put_head_skip_multipart_list_and_get() {
    let s3 = client();
    let bucket = format!("tb-aws-{}", std::process::id());
    s3.create_bucket(&bucket).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.jsonl");
    std::fs::write(&small, b"{\"prompt\":\"a\",\"completion\":\"b\"}\n").unwrap();
    let opts = UploadOptions {
        sse_kms_key_id: Some("alias/tunebench-test".into()),
        ..UploadOptions::default()
    };
    let dest: S3Uri = format!("s3://{bucket}/prep/small.jsonl").parse().unwrap();
    assert_eq!(
        s3.upload(&small, &dest, &opts).unwrap(),
        UploadOutcome::Uploaded
    );
    assert_eq!(
        s3.upload(&small, &dest, &opts).unwrap(),
        UploadOutcome::Unchanged
    );
    std::fs::write(&small, b"{\"prompt\":\"a\",\"completion\":\"changed\"}\n").unwrap();
    assert_eq!(
        s3.upload(&small, &dest, &opts).unwrap(),
        UploadOutcome::Uploaded
    );

    // 12 MiB with a 5 MiB part size and threshold: three parts.
    let big = dir.path().join("big.bin");
    let data: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    let multipart = UploadOptions {
        multipart_threshold: 5 << 20,
        part_size: 5 << 20,
        sse_kms_key_id: None,
    };
    let big_dest: S3Uri = format!("s3://{bucket}/prep/big.bin").parse().unwrap();
    assert_eq!(
        s3.upload(&big, &big_dest, &multipart).unwrap(),
        UploadOutcome::Multipart(3)
    );
    assert_eq!(
        s3.upload(&big, &big_dest, &multipart).unwrap(),
        UploadOutcome::Unchanged
    );

    let listed = s3
        .list(&format!("s3://{bucket}/prep/").parse().unwrap())
        .unwrap();
    let keys: Vec<&str> = listed.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, vec!["prep/big.bin", "prep/small.jsonl"]);

    let back = dir.path().join("back.bin");
    s3.download(&big_dest, &back).unwrap();
    assert_eq!(std::fs::read(&back).unwrap(), data);
}

#[test]
fn missing_objects_and_buckets_are_named_in_the_error() {
    let s3 = client();
    let uri: S3Uri = "s3://tb-no-such-bucket-x/key.csv".parse().unwrap();
    let err = s3
        .download(&uri, &std::env::temp_dir().join("tb-never"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("GetObject") && err.contains("s3://tb-no-such-bucket-x/key.csv"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

/// Every S3 call is one audit line: operation, bucket and key, request id, outcome, HTTP
/// status of a failure, duration; never the object's content.
#[test]
fn s3_calls_are_audited_one_line_each_without_content() {
    let endpoint = tunebench_standins::s3::endpoint();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit/aws-audit.jsonl");
    let s3 = S3::connect(&AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint),
        audit_log: Some(audit.clone()),
        ..AwsSettings::default()
    })
    .unwrap();
    let bucket = format!("tb-aws-audit-{}", std::process::id());
    s3.create_bucket(&bucket).unwrap();
    let file = dir.path().join("x.jsonl");
    std::fs::write(&file, b"{\"prompt\":\"CONTENT-MARKER-7f3a\"}\n").unwrap();
    let dest: S3Uri = format!("s3://{bucket}/p/x.jsonl").parse().unwrap();
    s3.upload(&file, &dest, &UploadOptions::default()).unwrap();
    s3.upload(&file, &dest, &UploadOptions::default()).unwrap();
    s3.list(&format!("s3://{bucket}/p/").parse().unwrap())
        .unwrap();
    s3.download(&dest, &dir.path().join("back.jsonl")).unwrap();

    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(!text.contains("CONTENT-MARKER-7f3a"), "{text}");
    let lines: Vec<tunebench_aws::AuditEntry> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ops: Vec<&str> = lines.iter().map(|l| l.operation.as_str()).collect();
    assert_eq!(
        ops,
        [
            "CreateBucket",
            "HeadObject",
            "PutObject",
            "HeadObject",
            "ListObjectsV2",
            "GetObject"
        ]
    );
    for l in &lines {
        assert_eq!(l.service, "s3");
        assert_eq!(l.resources["bucket"], bucket);
        assert!(!l.time.is_empty());
    }
    // The first HeadObject finds nothing: an error with its HTTP status.
    assert_eq!(lines[1].outcome, tunebench_aws::Outcome::Error);
    assert_eq!(lines[1].http_status, Some(404));
    assert_eq!(lines[1].resources["key"], "p/x.jsonl");
    assert_eq!(lines[2].outcome, tunebench_aws::Outcome::Ok);
    assert_eq!(lines[2].http_status, None);
}
