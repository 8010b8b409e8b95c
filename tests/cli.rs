//! End-to-end tests of the `tunebench` binary: real configs, real data, exit codes, JSON
//! output, and S3 against the loopback server that scripts/test.sh starts.

// Helpers here panic on anything unexpected: a panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tunebench(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run the tunebench binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_teaches_the_commands_and_exit_codes() {
    let out = tunebench(&["--help"], &repo());
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(
        help.contains("data") && help.contains("Exit codes"),
        "{help}"
    );
    let out = tunebench(&["data", "prepare", "--help"], &repo());
    let help = text(&out.stdout);
    assert!(
        help.contains("--upload") && help.contains("rejected.jsonl"),
        "{help}"
    );
}

#[test]
fn shipped_banking77_config_runs_and_prints_json() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("data");
    let out = tunebench(
        &[
            "data",
            "prepare",
            "--config",
            "configs/banking77.toml",
            "--out",
            out_dir.to_str().unwrap(),
            "--json",
        ],
        &repo(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["counts"]["input"], 10_003);
    assert_eq!(m["target"], "local");
    assert!(out_dir.join("train.jsonl").exists() && out_dir.join("manifest.json").exists());
    // A second run finds everything up to date.
    let again = tunebench(
        &[
            "data",
            "prepare",
            "--config",
            "configs/banking77.toml",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &repo(),
    );
    assert!(
        text(&again.stdout).starts_with("up to date"),
        "{}",
        text(&again.stdout)
    );
}

#[test]
fn show_settings_applies_flag_over_env_over_file() {
    let run = |extra: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tunebench"));
        cmd.args([
            "data",
            "prepare",
            "--config",
            "configs/banking77.toml",
            "--show-settings",
        ])
        .args(extra)
        .current_dir(repo());
        match env {
            Some(t) => cmd.env("TUNEBENCH_TARGET", t),
            None => cmd.env_remove("TUNEBENCH_TARGET"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["data"]["target"].as_str().unwrap().to_string()
    };
    assert_eq!(run(&[], None), "local");
    assert_eq!(run(&[], Some("bedrock:nova")), "bedrock:nova");
    assert_eq!(
        run(&["--target", "bedrock:llama3.1"], Some("bedrock:nova")),
        "bedrock:llama3.1"
    );
}

#[test]
fn show_settings_snapshot_pins_the_defaults() {
    let out = tunebench(
        &[
            "data",
            "prepare",
            "--config",
            "configs/gsm8k-nova.toml",
            "--show-settings",
        ],
        &repo(),
    );
    assert!(out.status.success());
    let shown = text(&out.stdout).replace(repo().to_str().unwrap(), "[REPO]");
    insta::assert_snapshot!(shown);
}

#[test]
fn config_errors_exit_2_and_data_errors_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[data]\ninputs = [\"x.csv\"]\ntarget = \"bedrock:gpt\"\n[data.mapping]\nprompt = \"{q}\"\ncompletion = \"{a}\"\n",
    )
    .unwrap();
    let out = tunebench(
        &["data", "prepare", "--config", cfg.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("data.target"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(dir.path().join("x.csv"), "q,a\nfine,ok\nbroken,row,here\n").unwrap();
    std::fs::write(
        &cfg,
        "[data]\ninputs = [\"x.csv\"]\n[data.mapping]\nprompt = \"{q}\"\ncompletion = \"{a}\"\n",
    )
    .unwrap();
    let out = tunebench(
        &["data", "prepare", "--config", cfg.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("x.csv:3") && err.contains("hint:"), "{err}");
    // The bad row's content never reaches the error output.
    assert!(!err.contains("broken"), "{err}");

    let out = tunebench(&["data", "prepare", "--bogus"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

/// The loopback S3 server started by scripts/test.sh.
fn s3_endpoint() -> String {
    std::env::var("TUNEBENCH_TEST_S3_ENDPOINT").expect(
        "TUNEBENCH_TEST_S3_ENDPOINT is not set: run the tests with scripts/test.sh, which starts a local S3 server",
    )
}

#[test]
fn upload_to_s3_then_prepare_from_s3() {
    let endpoint = s3_endpoint();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("data");
    let bucket = format!("tb-cli-{}", std::process::id());
    let create = Command::new("python3")
        .args([
            "-c",
            &format!("import urllib.request as u; u.urlopen(u.Request('{endpoint}/{bucket}', method='PUT'))"),
        ])
        .status()
        .unwrap();
    assert!(create.success());
    let dest = format!("s3://{bucket}/banking77/");
    let args = [
        "data",
        "prepare",
        "--config",
        "configs/banking77.toml",
        "--out",
        out_dir.to_str().unwrap(),
        "--endpoint-url",
        &endpoint,
        "--upload",
        &dest,
        "--sse-kms-key-id",
        "alias/tunebench-test",
    ];
    let out = tunebench(&args, &repo());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "uploaded train.jsonl → {dest}train.jsonl (uploaded)"
        )),
        "{stdout}"
    );
    // The same outputs again: nothing is sent.
    let out = tunebench(&args, &repo());
    assert!(
        text(&out.stdout).contains("(unchanged)"),
        "{}",
        text(&out.stdout)
    );

    // Prepare again from the uploaded train split.
    let cfg = dir.path().join("from-s3.toml");
    std::fs::write(
        &cfg,
        format!(
            "[data]\ninputs = [\"{dest}train.jsonl\"]\nout_dir = \"again\"\n[data.mapping]\nprompt = \"{{prompt}}\"\ncompletion = \"{{completion}}\"\n[aws]\nendpoint_url = \"{endpoint}\"\n"
        ),
    )
    .unwrap();
    let out = tunebench(
        &[
            "data",
            "prepare",
            "--config",
            cfg.to_str().unwrap(),
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["inputs"][0]["name"], format!("{dest}train.jsonl"));
    assert!(m["counts"]["input"].as_u64().unwrap() > 7000);

    // A missing object is a clear error naming it.
    let missing = format!("s3://{bucket}/nope.jsonl");
    let out = tunebench(
        &[
            "data",
            "prepare",
            "--config",
            cfg.to_str().unwrap(),
            "--input",
            &missing,
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("GetObject") && err.contains(&missing), "{err}");
}
