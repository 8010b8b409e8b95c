//! End-to-end tests of the `tunebench` binary: real configs, real data, exit codes, JSON
//! output, and S3 against the loopback server that scripts/test.sh starts.

// Helpers here panic on anything unexpected: a panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tunebench_standins::s3::endpoint as s3_endpoint;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tunebench(args: &[&str], cwd: &Path) -> Output {
    tunebench_env(args, cwd, &[])
}

/// `tunebench` with static test credentials and these extra environment variables.
fn tunebench_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
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

/// `data prepare --config CONFIG --show-settings EXTRA…` with `var` set to `value` (or
/// unset): the exit status and what it printed.
fn shown_data_settings(
    config: &Path,
    extra: &[&str],
    var: &str,
    value: Option<&str>,
) -> (Option<i32>, serde_json::Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tunebench"));
    cmd.args(["data", "prepare", "--show-settings", "--config"])
        .arg(config)
        .args(extra)
        .current_dir(repo());
    match value {
        Some(v) => cmd.env(var, v),
        None => cmd.env_remove(var),
    };
    let out = cmd.output().unwrap();
    let shown = serde_json::from_slice(&out.stdout).unwrap_or_default();
    (out.status.code(), shown, text(&out.stderr))
}

#[test]
fn show_settings_applies_flag_over_env_over_file() {
    let config = repo().join("configs/banking77.toml");
    let target = |extra: &[&str], env: Option<&str>| {
        let (code, v, err) = shown_data_settings(&config, extra, "TUNEBENCH_TARGET", env);
        assert_eq!(code, Some(0), "{err}");
        v["data"]["target"].as_str().unwrap().to_string()
    };
    assert_eq!(target(&[], None), "local");
    assert_eq!(target(&[], Some("bedrock:nova")), "bedrock:nova");
    assert_eq!(
        target(&["--target", "bedrock:llama3.1"], Some("bedrock:nova")),
        "bedrock:llama3.1"
    );

    // The memory limit: flag over TUNEBENCH_MEMORY_LIMIT over `[data] memory_limit`.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[data]\ninputs = [\"x.csv\"]\nmemory_limit = \"1GiB\"\n[data.mapping]\nprompt = \"{q}\"\ncompletion = \"{a}\"\n",
    )
    .unwrap();
    let limit = |extra: &[&str], env: Option<&str>| {
        let (code, v, err) = shown_data_settings(&config, extra, "TUNEBENCH_MEMORY_LIMIT", env);
        assert_eq!(code, Some(0), "{err}");
        v["data"]["memory_limit"].as_str().unwrap().to_string()
    };
    assert_eq!(limit(&[], None), "1.0 GiB");
    assert_eq!(limit(&[], Some("512MiB")), "512.0 MiB");
    assert_eq!(
        limit(&["--memory-limit", "3GiB"], Some("512MiB")),
        "3.0 GiB"
    );
    let (code, _, err) = shown_data_settings(
        &config,
        &["--memory-limit", "lots"],
        "TUNEBENCH_MEMORY_LIMIT",
        None,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("data.memory_limit = \"lots\""), "{err}");
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
    // The default memory limit is half of this machine's memory.
    let shown: String = text(&out.stdout)
        .replace(repo().to_str().unwrap(), "[REPO]")
        .lines()
        .filter(|l| !l.contains("\"memory_limit\""))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(shown);
}

#[test]
fn eval_paths_read_without_dot_dot() {
    let out = tunebench(
        &[
            "eval",
            "--config",
            "configs/eval-banking77.toml",
            "--show-settings",
        ],
        &repo(),
    );
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!shown.contains(".."), "{shown}");
    for path in [
        "runs/banking77/eval",
        "configs/suites/banking77.toml",
        "fixtures/tiny-llama/model",
    ] {
        let full = repo().join(path);
        assert!(
            shown.contains(full.to_str().unwrap()),
            "{path} not in {shown}"
        );
    }
}

#[test]
fn shipped_gsm8k_local_config_scores_a_local_and_a_recorded_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    let args = [
        "eval",
        "--config",
        "configs/eval-gsm8k-local.toml",
        "--out",
        out.to_str().unwrap(),
    ];
    let run = tunebench(&args, &repo());
    let stdout = text(&run.stdout);
    assert!(run.status.success(), "{stdout}{}", text(&run.stderr));
    assert!(
        stdout.contains("tiny-llama: 10 answered, 0 from cache"),
        "{stdout}"
    );
    let summary = |name: &str| -> serde_json::Value {
        serde_json::from_slice(
            &std::fs::read(out.join(format!("gsm8k-zero-shot/{name}/summary.json"))).unwrap(),
        )
        .unwrap()
    };
    // The recorded file has 3 of its 10 final answers off by one.
    assert_eq!(summary("recorded")["n"], 10);
    assert_eq!(summary("recorded")["metrics"][0]["value"], 0.7);
    assert_eq!(summary("tiny-llama")["n"], 10);
    assert!(summary("tiny-llama")["output_tokens"].as_u64().unwrap() > 0);
    let again = tunebench(&args, &repo());
    assert!(
        text(&again.stdout).contains("tiny-llama: 0 answered, 10 from cache"),
        "{}",
        text(&again.stdout)
    );
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

/// Creates a bucket on the loopback S3 server.
fn create_bucket(endpoint: &str, bucket: &str) {
    let create = Command::new("python3")
        .args([
            "-c",
            &format!("import urllib.request as u; u.urlopen(u.Request('{endpoint}/{bucket}', method='PUT'))"),
        ])
        .status()
        .unwrap();
    assert!(create.success());
}

#[test]
fn upload_to_s3_then_prepare_from_s3() {
    let endpoint = s3_endpoint();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("data");
    let bucket = format!("tb-cli-{}", std::process::id());
    create_bucket(&endpoint, &bucket);
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

fn fixture() -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(repo().join("fixtures/tiny-llama/expected.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn model_info_describes_the_fixture() {
    let out = tunebench(
        &["model", "info", "fixtures/tiny-llama/model", "--json"],
        &repo(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["model_type"], "llama");
    assert_eq!(v["vocab_size"], 512);
    assert_eq!(v["kv_heads"], 2);
    assert_eq!(v["context_length"], 256);
    assert_eq!(v["chat_template"], false);
    // 2 layers of hidden 64 plus untied 512x64 embedding and head.
    assert!(v["parameters"].as_u64().unwrap() > 2 * 512 * 64);
    let out = tunebench(&["model", "info", "fixtures/nope"], &repo());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("fixtures/nope"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn model_generate_is_greedy_like_transformers() {
    let f = fixture();
    let prompt = f["samples"][2].as_str().unwrap();
    let out = tunebench(
        &[
            "model",
            "generate",
            "fixtures/tiny-llama/model",
            "--prompt",
            prompt,
            "--max-new-tokens",
            "12",
            "--json",
        ],
        &repo(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tokens"], f["greedy_12"]);
    assert_eq!(v["finish"], "length");
}

#[test]
fn model_score_and_merge_match_the_reference_nll() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.jsonl");
    let body: String = f["samples"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{}\n",
                serde_json::json!({"id": format!("s{i}"), "text": s})
            )
        })
        .collect();
    std::fs::write(&input, body).unwrap();
    let score = |model: &str, adapter: Option<&str>| -> Vec<f64> {
        let mut args = vec!["model", "score", model, "--input", input.to_str().unwrap()];
        if let Some(a) = adapter {
            args.extend(["--adapter", a]);
        }
        let out = tunebench(&args, &repo());
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["nll"]
                    .as_f64()
                    .unwrap()
            })
            .collect()
    };
    let close = |got: &[f64], want: &serde_json::Value| {
        for (g, w) in got.iter().zip(want.as_array().unwrap()) {
            let w = w.as_f64().unwrap();
            assert!((g - w).abs() / w < 1e-4, "{g} vs {w}");
        }
        assert_eq!(got.len(), 4);
    };
    close(&score("fixtures/tiny-llama/model", None), &f["nll_sum"]);
    close(
        &score(
            "fixtures/tiny-llama/model",
            Some("fixtures/tiny-llama/adapter"),
        ),
        &f["nll_sum_lora"],
    );

    let merged = dir.path().join("merged");
    let out = tunebench(
        &[
            "model",
            "merge",
            "fixtures/tiny-llama/model",
            "--adapter",
            "fixtures/tiny-llama/adapter",
            "--out",
            merged.to_str().unwrap(),
        ],
        &repo(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(merged.join("tokenizer.json").exists() && merged.join("config.json").exists());
    close(&score(merged.to_str().unwrap(), None), &f["nll_sum_lora"]);

    std::fs::write(&input, "{\"text\": \"ok text here\"}\n{\"txt\": 1}\n").unwrap();
    let out = tunebench(
        &[
            "model",
            "score",
            "fixtures/tiny-llama/model",
            "--input",
            input.to_str().unwrap(),
        ],
        &repo(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("texts.jsonl:2: no text field `text`"),
        "{}",
        text(&out.stderr)
    );
}

/// A `[train.local]` config over the banking77 slice in train/tests/data.
fn train_config(dir: &Path, max_steps: usize) -> PathBuf {
    let r = repo();
    let text = format!(
        r#"# Run: tunebench train local --config this.toml
[train.local]
name = "cli-test"
base_model = "{model}"
train_file = "{data}/banking77-train.jsonl"
validation_file = "{data}/banking77-validation.jsonl"
out_dir = "out"
batch_size = 4
max_steps = {max_steps}
eval_every = 50
checkpoint_every = 1000
lr = 1e-3
"#,
        model = r.join("fixtures/tiny-llama/model").display(),
        data = r.join("train/tests/data").display(),
    );
    let path = dir.join("train.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn train_local_writes_adapter_metrics_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let config = train_config(dir.path(), 6);
    let out = tunebench(
        &[
            "train",
            "local",
            "--config",
            config.to_str().unwrap(),
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["status"], "completed");
    assert_eq!(summary["steps"], 6);
    let run = dir.path().join("out");
    for f in [
        "adapter_config.json",
        "adapter_model.safetensors",
        "metrics.csv",
        "summary.json",
        "config.toml",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(
        csv.starts_with("step,epoch,train_loss,val_loss,lr,grad_norm,tokens_per_s,elapsed_s\n")
    );
    assert_eq!(csv.lines().count(), 7);

    // Bad input: an unusable line is named by file and line, exit code 2.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"prompt\": \"a\", \"completion\": \" b\"}\n{\"prompt\": 3}\n",
    )
    .unwrap();
    let cfg = std::fs::read_to_string(&config)
        .unwrap()
        .replace("out_dir = \"out\"", "out_dir = \"out2\"")
        .replace(
            &format!(
                "{}/banking77-train.jsonl",
                repo().join("train/tests/data").display()
            ),
            bad.to_str().unwrap(),
        );
    std::fs::write(&config, cfg).unwrap();
    let out = tunebench(
        &["train", "local", "--config", config.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad.jsonl:2") && err.contains("`prompt`"),
        "{err}"
    );
}

#[test]
fn ctrl_c_checkpoints_and_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let config = train_config(dir.path(), 150);
    let child = Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .args([
            "train",
            "local",
            "--config",
            config.to_str().unwrap(),
            "--quiet",
        ])
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for training to start (metrics.csv gets a row), then send SIGINT.
    let metrics = dir.path().join("out/metrics.csv");
    for _ in 0..600 {
        if std::fs::read_to_string(&metrics).is_ok_and(|t| t.lines().count() > 2) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--resume"));
    let latest = std::fs::read_to_string(dir.path().join("out/checkpoints/latest")).unwrap();
    let stopped_at: usize = latest.trim_start_matches("step-").parse().unwrap();
    assert!(stopped_at > 0 && stopped_at < 150, "{latest}");

    let out = tunebench(
        &[
            "train",
            "local",
            "--config",
            config.to_str().unwrap(),
            "--resume",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["steps"], 150);
    let csv = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(csv.lines().count(), 151, "one row per step, none twice");
}

#[test]
fn eval_scores_local_and_recorded_candidates_and_reuses_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo();
    let suite = dir.path().join("suite.toml");
    std::fs::write(
        &suite,
        format!(
            r#"# Run: tunebench eval --config eval.toml (suite used by it)
name = "b77"
version = "1"
data = "{}"
reference = "{{{{ completion | trim }}}}"
[extract]
kind = "first_line"
[[metrics]]
kind = "accuracy"
[sampling]
max_tokens = 6
"#,
            r.join("train/tests/data/banking77-validation.jsonl")
                .display()
        ),
    )
    .unwrap();
    // Recorded responses: the right intent for the first 20 examples, a wrong one after.
    let data =
        std::fs::read_to_string(r.join("train/tests/data/banking77-validation.jsonl")).unwrap();
    let mut recorded = String::new();
    for (i, line) in data.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = if i < 20 {
            v["completion"].as_str().unwrap().trim()
        } else {
            "wrong"
        };
        recorded.push_str(&format!(
            "{}\n",
            serde_json::json!({"id": format!("L{}", i + 1), "text": text})
        ));
    }
    std::fs::write(dir.path().join("recorded.jsonl"), recorded).unwrap();
    let config = dir.path().join("eval.toml");
    std::fs::write(
        &config,
        format!(
            r#"# Run: tunebench eval --config eval.toml
[eval]
suites = ["suite.toml"]
out_dir = "out"
[[eval.candidates]]
kind = "local"
name = "base"
model_dir = "{model}"
[[eval.candidates]]
kind = "local"
name = "adapted"
model_dir = "{model}"
adapter = "{adapter}"
[[eval.candidates]]
kind = "responses"
name = "recorded"
path = "recorded.jsonl"
"#,
            model = r.join("fixtures/tiny-llama/model").display(),
            adapter = r.join("fixtures/tiny-llama/adapter").display(),
        ),
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let out = tunebench(&["eval", "--config", cfg], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("**recorded**") && stdout.contains("base: 32 answered, 0 from cache"),
        "{stdout}"
    );
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/b77/recorded/summary.json")).unwrap(),
    )
    .unwrap();
    let accuracy = summary.to_string();
    assert!(accuracy.contains("0.625"), "20 of 32 right: {accuracy}");
    for f in [
        "out/b77/comparison.md",
        "out/b77/comparison.json",
        "out/b77/base/scores.jsonl",
        "out/b77/adapted/responses.jsonl",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    // A rerun answers everything from the cache; a dry run sends nothing either.
    let again = tunebench(&["eval", "--config", cfg], dir.path());
    assert!(
        text(&again.stdout).contains("0 answered, 32 from cache"),
        "{}",
        text(&again.stdout)
    );
    let dry = tunebench(&["eval", "--config", cfg, "--dry-run"], dir.path());
    assert!(
        dry.status.success() && text(&dry.stdout).contains("0 requests to send (32 cached)"),
        "{}",
        text(&dry.stdout)
    );

    // `cache prune`: no filter is refused; by age nothing this fresh goes; by candidate
    // name exactly that candidate's answers go, and the next run asks it again.
    let bare = tunebench(&["cache", "prune", "--config", cfg], dir.path());
    assert_eq!(bare.status.code(), Some(2), "{}", text(&bare.stderr));
    assert!(
        text(&bare.stderr).contains("--all"),
        "{}",
        text(&bare.stderr)
    );
    let old = tunebench(
        &["cache", "prune", "--config", cfg, "--older-than", "1d"],
        dir.path(),
    );
    assert!(
        old.status.success() && text(&old.stdout).contains("removed 0, 64 left"),
        "{}{}",
        text(&old.stdout),
        text(&old.stderr)
    );
    let pruned = tunebench(
        &["cache", "prune", "--config", cfg, "--candidate", "adapted"],
        dir.path(),
    );
    let stdout = text(&pruned.stdout);
    assert!(
        pruned.status.success()
            && stdout.contains("removed 32 answer(s) of local:")
            && stdout.contains("+adapter:")
            && stdout.contains("(adapted)")
            && stdout.contains("removed 32, 32 left"),
        "{stdout}{}",
        text(&pruned.stderr)
    );
    let after = tunebench(&["eval", "--config", cfg], dir.path());
    let stdout = text(&after.stdout);
    assert!(
        stdout.contains("base: 0 answered, 32 from cache")
            && stdout.contains("adapted: 32 answered, 0 from cache"),
        "{stdout}"
    );
}

#[test]
fn eval_scores_banking77_as_multiple_choice_by_loglikelihood() {
    let dir = tempfile::tempdir().unwrap();
    let r = repo();
    let data = r.join("train/tests/data/banking77-validation.jsonl");
    // The shipped multiple-choice suite, over the validation split the train tests use.
    let shipped = std::fs::read_to_string(r.join("configs/suites/banking77-choices.toml")).unwrap();
    let suite = shipped.replace(
        "../../runs/banking77/data/test.jsonl",
        data.to_str().unwrap(),
    );
    assert_ne!(suite, shipped);
    std::fs::write(dir.path().join("suite.toml"), suite).unwrap();
    let config = dir.path().join("eval.toml");
    std::fs::write(
        &config,
        format!(
            "[eval]\nsuites = [\"suite.toml\"]\nout_dir = \"out\"\n[[eval.candidates]]\nkind = \"local\"\nname = \"base\"\nmodel_dir = \"{}\"\n",
            r.join("fixtures/tiny-llama/model").display()
        ),
    )
    .unwrap();
    let out = tunebench(&["eval", "--config", config.to_str().unwrap()], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("base: 32 answered"),
        "{}",
        text(&out.stdout)
    );
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/banking77-choices/base/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["n"], 32);
    assert_eq!(summary["output_tokens"], 0, "nothing is generated");
    // Every answer is one of the intents of the split.
    let labels: std::collections::BTreeSet<String> = std::fs::read_to_string(&data)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["completion"].as_str().unwrap().trim().to_string()
        })
        .collect();
    let responses = std::fs::read_to_string(
        dir.path()
            .join("out/banking77-choices/base/responses.jsonl"),
    )
    .unwrap();
    for line in responses.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(labels.contains(v["text"].as_str().unwrap()), "{line}");
    }
    let report = &summary["classification"]["accuracy"]["report"];
    assert_eq!(report["n_samples"], 32);
}

#[test]
fn train_bedrock_dry_run_prints_the_request_and_preflight_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let lines: String = (0..40)
        .map(|i| {
            format!(
                "{{\"prompt\":\"What is {i} plus {i}?\",\"completion\":\"{}\"}}\n",
                2 * i
            )
        })
        .collect();
    std::fs::write(data.join("train.jsonl"), lines).unwrap();
    let config = |base_model: &str, epochs: u32| {
        format!(
            r#"# Run: tunebench train bedrock submit --config bedrock.toml --dry-run
[train.bedrock]
name = "tb-ft-1"
base_model_id = "{base_model}"
customization_type = "FINE_TUNING"
train_file = "data/train.jsonl"
data_s3_prefix = "s3://my-bucket/runs/r1/data"
output_s3_uri = "s3://my-bucket/runs/r1/bedrock/"
role_arn = "arn:aws:iam::123456789012:role/tunebench-bedrock"
region = "us-east-1"
out_dir = "train/tb-ft-1"
pricing = "{pricing}"
[train.bedrock.hyperparameters]
epochCount = {epochs}
batchSize = 1
learningRate = 0.00001
"#,
            pricing = repo().join("configs/pricing.toml").display()
        )
    };
    let path = dir.path().join("bedrock.toml");
    std::fs::write(&path, config("amazon.titan-text-lite-v1:0:4k", 2)).unwrap();
    let cfg = path.to_str().unwrap();
    let out = tunebench(
        &["train", "bedrock", "submit", "--config", cfg, "--dry-run"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(
        plan.contains("amazon.titan-text-lite-v1:0:4k") && plan.contains("\"epochCount\": \"2\""),
        "{plan}"
    );

    std::fs::write(&path, config("amazon.no-such-model-v9", 999)).unwrap();
    let out = tunebench(
        &["train", "bedrock", "submit", "--config", cfg, "--dry-run"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("not submitted"),
        "{}",
        text(&out.stderr)
    );
}

/// The whole Bedrock path from the command line against the validating Bedrock stand-in and
/// the loopback S3 server: submit → wait → metrics.csv → deploy (waits until Active) →
/// `tunebench eval` calls the deployment ARN through its Bedrock candidate → undeploy.
/// Provisioned throughput shows its hourly cost and is refused without --yes.
#[test]
fn train_bedrock_submit_wait_deploy_eval_undeploy() {
    use tunebench_standins::bedrock::{BedrockStandin, StandinConfig};
    let s3 = s3_endpoint();
    let standin = BedrockStandin::start(StandinConfig {
        polls_to_complete: 3,
        s3_endpoint: Some(s3.clone()),
        ..StandinConfig::default()
    })
    .unwrap();
    let bucket = format!("tb-cli-bedrock-{}", std::process::id());
    create_bucket(&s3, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let line = |i: usize| {
        format!(
            "{{\"prompt\":\"what is {i} plus {i}\",\"completion\":\"{}\"}}\n",
            2 * i
        )
    };
    std::fs::write(
        data.join("train.jsonl"),
        (0..40).map(line).collect::<String>(),
    )
    .unwrap();
    std::fs::write(
        data.join("validation.jsonl"),
        (40..44).map(line).collect::<String>(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bedrock.toml"),
        format!(
            r#"# Run: tunebench train bedrock submit --config bedrock.toml
[aws]
region = "us-east-1"
[train.bedrock]
name = "tb-cli-e2e"
base_model_id = "amazon.titan-text-lite-v1:0:4k"
train_file = "data/train.jsonl"
validation_file = "data/validation.jsonl"
data_s3_prefix = "s3://{bucket}/data"
output_s3_uri = "s3://{bucket}/bedrock/"
role_arn = "arn:aws:iam::123456789012:role/tunebench-bedrock"
region = "us-east-1"
out_dir = "train/tb-cli-e2e"
pricing = "{pricing}"
provisioned_price_per_hour = 20.0
[train.bedrock.hyperparameters]
epochCount = 1
"#,
            pricing = repo().join("configs/pricing.toml").display()
        ),
    )
    .unwrap();
    // Each service to its own loopback server, as the SDK reads AWS_ENDPOINT_URL_<SERVICE>.
    let env = [
        ("AWS_ENDPOINT_URL_S3", s3.as_str()),
        ("AWS_ENDPOINT_URL_BEDROCK", standin.endpoint_url()),
    ];
    let run = |args: &[&str]| {
        let mut all = vec!["train", "bedrock"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--config", "bedrock.toml"]);
        tunebench_env(&all, dir.path(), &env)
    };

    let out = run(&["submit"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("submitted: arn:aws:bedrock:"),
        "{}",
        text(&out.stdout)
    );

    let out = run(&["wait", "--poll-interval", "0.01"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("tb-cli-e2e: Completed"),
        "{}",
        text(&out.stdout)
    );
    // Not a terminal: each status change is one plain line on stderr, no spinner.
    let progress = text(&out.stderr);
    assert!(
        progress.contains("tb-cli-e2e: InProgress (validation"),
        "{progress}"
    );
    let out_dir = dir.path().join("train/tb-cli-e2e");
    let metrics = std::fs::read_to_string(out_dir.join("metrics.csv")).unwrap();
    assert!(metrics.lines().count() > 1, "{metrics}");

    // A Titan fine-tune is not served on demand: refused, naming the rule, nothing created.
    let out = run(&["deploy", "--poll-interval", "0.01"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("only Amazon Nova") && err.contains("--provisioned"),
        "{err}"
    );
    assert_eq!(standin.request_count("CreateCustomModelDeployment"), 0);
    // The same job record as a Nova Micro fine-tune leaves it deploys on demand.
    let record = out_dir.join("job.json");
    let mut job: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    job["base_model"] = "amazon.nova-micro-v1:0:128k".into();
    std::fs::write(&record, serde_json::to_vec_pretty(&job).unwrap()).unwrap();

    let out = run(&["deploy", "--poll-interval", "0.01", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let served: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arn = served["arn"].as_str().unwrap().to_string();
    assert!(arn.contains(":custom-model-deployment/"), "{served}");
    assert_eq!(served["status"], "Active");
    let job: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("job.json")).unwrap()).unwrap();
    assert_eq!(job["deployment_arn"], arn.as_str());
    assert_eq!(job["deployment_status"], "Active");

    // A name the API would reject is refused before anything is sent.
    let out = run(&["deploy", "--name", "bad.name"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("hint: pass --name"),
        "{}",
        text(&out.stderr)
    );

    // Provisioned throughput: the hourly cost is shown, nothing is bought without --yes.
    let out = run(&["deploy", "--provisioned", "--model-units", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("$40.00/hour") && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(standin.request_count("CreateProvisionedModelThroughput"), 0);

    // eval's Bedrock candidate calls the deployment ARN (the stand-in answers only ARNs it
    // made, echoing the prompt).
    let bedrock = format!(
        "kind = \"bedrock\"\nmodel_id = \"{arn}\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"",
        standin.endpoint_url()
    );
    eval_answers_through_bedrock(dir.path(), &bedrock, &standin, &env);

    let out = run(&["undeploy"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("deleted {arn}"));
    let job: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("job.json")).unwrap()).unwrap();
    assert!(job["deployment_arn"].is_null(), "{job}");
    assert_eq!(standin.request_count("DeleteCustomModelDeployment"), 1);
    standin.assert_valid();
}

/// `tunebench eval` with one Bedrock candidate calling `model_id` through the stand-in
/// (which answers only model ARNs it made, echoing the prompt): 3 examples, all answered.
/// `tunebench eval` of one candidate named `custom` (`candidate`: its TOML lines after the
/// name) on three echo examples answered by the Bedrock stand-in.
fn eval_answers_through_bedrock(
    dir: &Path,
    candidate: &str,
    standin: &tunebench_standins::bedrock::BedrockStandin,
    env: &[(&str, &str)],
) {
    let examples: String = (0..3)
        .map(|i| {
            format!("{{\"id\":\"e{i}\",\"prompt\":\"answer {i}\",\"completion\":\"answer {i}\"}}\n")
        })
        .collect();
    std::fs::write(dir.join("test.jsonl"), examples).unwrap();
    std::fs::write(
        dir.join("suite.toml"),
        "name = \"echo\"\nversion = \"1\"\ndata = \"test.jsonl\"\nreference = \"{{ completion }}\"\n[extract]\nkind = \"first_line\"\n[[metrics]]\nkind = \"accuracy\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("eval.toml"),
        format!(
            "# Run: tunebench eval --config eval.toml\n[eval]\nsuites = [\"suite.toml\"]\nout_dir = \"eval\"\n[[eval.candidates]]\nname = \"custom\"\n{candidate}\n[report]\nhistory = \"history.sqlite\"\n"
        ),
    )
    .unwrap();
    let before = standin.request_count("Converse");
    let out = tunebench_env(&["eval", "--config", "eval.toml", "--no-cache"], dir, env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("custom: 3 answered, 0 from cache, 0 failed"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(standin.request_count("Converse") - before, 3);
}

/// `train bedrock import` against the stand-in and the loopback S3 server: the model
/// directory is uploaded, the import job watched to Completed, the imported model ARN
/// recorded and callable by eval; a rerun reuses the record.
#[test]
fn train_bedrock_import_records_a_callable_imported_model() {
    use tunebench_standins::bedrock::{BedrockStandin, StandinConfig};
    let s3 = s3_endpoint();
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let bucket = format!("tb-cli-import-{}", std::process::id());
    create_bucket(&s3, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let merged = dir.path().join("merged");
    std::fs::create_dir_all(&merged).unwrap();
    for f in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "model.safetensors",
    ] {
        std::fs::write(merged.join(f), format!("{{\"file\": \"{f}\"}}")).unwrap();
    }
    std::fs::write(
        dir.path().join("import.toml"),
        format!(
            r#"# Run: tunebench train bedrock import --config import.toml
[aws]
region = "us-east-1"
[train.bedrock_import]
name = "tb-cli-import"
model_dir = "merged"
s3_prefix = "s3://{bucket}/imports/tb-cli-import/"
role_arn = "arn:aws:iam::123456789012:role/tunebench-bedrock"
out_dir = "import/tb-cli-import"
"#
        ),
    )
    .unwrap();
    let env = [
        ("AWS_ENDPOINT_URL_S3", s3.as_str()),
        ("AWS_ENDPOINT_URL_BEDROCK", standin.endpoint_url()),
    ];
    let args = [
        "train",
        "bedrock",
        "import",
        "--config",
        "import.toml",
        "--poll-interval",
        "0.01",
    ];
    let out = tunebench_env(&args, dir.path(), &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("imported: arn:aws:bedrock:")
            && stdout.contains("4 of 4 files uploaded"),
        "{stdout}"
    );
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("import/tb-cli-import/import.json")).unwrap(),
    )
    .unwrap();
    let arn = rec["imported_model_arn"].as_str().unwrap().to_string();
    assert!(arn.contains(":imported-model/"), "{rec}");
    let bedrock = |model_id: &str| {
        format!(
            "kind = \"bedrock\"\nmodel_id = \"{model_id}\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"",
            standin.endpoint_url()
        )
    };
    eval_answers_through_bedrock(dir.path(), &bedrock(&arn), &standin, &env);
    // Registered, the imported model is called through a `registry:` candidate.
    let out = tunebench_env(
        &[
            "model",
            "register",
            "imp",
            "--bedrock",
            &arn,
            "--history",
            "history.sqlite",
        ],
        dir.path(),
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("registered imp@1: Bedrock imported model"),
        "{}",
        text(&out.stdout)
    );
    let registry = format!(
        "kind = \"registry\"\nmodel = \"registry:imp@1\"\nendpoint_url = \"{}\"",
        standin.endpoint_url()
    );
    eval_answers_through_bedrock(dir.path(), &registry, &standin, &env);
    let resolved = std::fs::read_to_string(dir.path().join("eval/registry.json")).unwrap();
    assert!(
        resolved.contains(&arn) && resolved.contains("\"version\": 1"),
        "{resolved}"
    );

    let out = tunebench_env(&args, dir.path(), &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(&format!("already imported: {arn}")),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(standin.request_count("CreateModelImportJob"), 1);
    standin.assert_valid();
}

/// Copies a flat folder (a model or adapter fixture) into `to`.
fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn model_merge_refuses_to_write_over_its_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base");
    let adapter = dir.path().join("adapter");
    copy_folder(&repo().join("fixtures/tiny-llama/model"), &base);
    copy_folder(&repo().join("fixtures/tiny-llama/adapter"), &adapter);
    let other_adapter = dir.path().join("other-adapter");
    copy_folder(&adapter, &other_adapter);
    let weights = std::fs::read(base.join("model.safetensors")).unwrap();
    let adapter_files: Vec<_> = std::fs::read_dir(&adapter).unwrap().collect();
    let merge = |out: &Path| {
        tunebench(
            &[
                "model",
                "merge",
                base.to_str().unwrap(),
                "--adapter",
                adapter.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &repo(),
        )
    };
    for (out, says) in [
        (base.clone(), "the base model folder"),
        (base.join("merged"), "lies inside"),
        (adapter.clone(), "the --adapter folder"),
        (dir.path().to_path_buf(), "holds"),
        (other_adapter.clone(), "holds an adapter"),
    ] {
        let run = merge(&out);
        let err = text(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "--out {}: {err}", out.display());
        assert!(err.contains(says), "--out {}: {err}", out.display());
    }
    assert_eq!(
        std::fs::read(base.join("model.safetensors")).unwrap(),
        weights,
        "the base model is untouched"
    );
    assert!(!base.join("merged").exists());
    assert_eq!(
        std::fs::read_dir(&adapter).unwrap().count(),
        adapter_files.len()
    );
    assert!(!other_adapter.join("model.safetensors").exists());
    // A new folder beside them is fine (control).
    let ok = merge(&dir.path().join("merged"));
    assert!(ok.status.success(), "{}", text(&ok.stderr));
}

#[test]
fn model_convert_writes_a_gguf_out_as_the_hf_folder_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = repo().join("fixtures/gguf/tiny-llama.gguf");
    let out = dir.path().join("tiny");
    let convert = |file: &Path, out: &Path| {
        tunebench(
            &[
                "model",
                "convert",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            &repo(),
        )
    };
    let ok = convert(&gguf, &out);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stdout).contains("(21 tensors, f32)"),
        "{}",
        text(&ok.stdout)
    );
    // The GGUF, the folder written from it, and the original folder generate the same.
    let generate = |model: &Path| {
        let run = tunebench(
            &[
                "model",
                "generate",
                model.to_str().unwrap(),
                "--prompt",
                "Janet has 3 eggs",
                "--max-new-tokens",
                "8",
            ],
            &repo(),
        );
        assert!(run.status.success(), "{}", text(&run.stderr));
        text(&run.stdout)
    };
    let original = generate(&repo().join("fixtures/tiny-llama/model"));
    assert_eq!(generate(&gguf), original);
    assert_eq!(generate(&out), original);
    // Written whole or not at all: not into a finished folder, not over its input.
    for (file, out, code, says) in [
        (&gguf, &out, 2, "exists and is not empty"),
        (&gguf, &gguf, 2, "the GGUF file"),
        (
            &repo().join("fixtures/gguf/quants.gguf"),
            &dir.path().join("quants"),
            1,
            "architecture `test` is not supported",
        ),
    ] {
        let run = convert(file, out);
        let err = text(&run.stderr);
        assert_eq!(run.status.code(), Some(code), "{err}");
        assert!(err.contains(says), "{err}");
    }
    assert!(!dir.path().join("quants").exists());
}

#[test]
fn model_info_refuses_truncated_weights() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    copy_folder(&repo().join("fixtures/tiny-llama/model"), &model);
    let ok = tunebench(&["model", "info", model.to_str().unwrap()], &repo());
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("tensors present"));
    let file = model.join("model.safetensors");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    let out = tunebench(&["model", "info", model.to_str().unwrap()], &repo());
    let err = text(&out.stderr);
    assert!(!out.status.success(), "a truncated file is not fine: {err}");
    assert!(
        err.contains("model.safetensors") && err.contains("hint: the file is truncated"),
        "{err}"
    );
}

#[test]
fn model_generate_refuses_negative_or_nan_temperature() {
    for bad in ["-1", "NaN", "inf"] {
        let out = tunebench(
            &[
                "model",
                "generate",
                "fixtures/tiny-llama/model",
                "--prompt",
                "Hello",
                "--temperature",
                bad,
            ],
            &repo(),
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--temperature {bad}: {err}");
        assert!(err.contains("not a temperature"), "{err}");
    }
    let out = tunebench(
        &[
            "model",
            "generate",
            "fixtures/tiny-llama/model",
            "--prompt",
            "Hello",
            "--temperature",
            "0",
            "--max-new-tokens",
            "2",
        ],
        &repo(),
    );
    assert!(out.status.success(), "0 is greedy: {}", text(&out.stderr));
}

#[test]
fn train_local_refuses_max_seq_len_beyond_the_context_and_an_empty_train_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = train_config(dir.path(), 2);
    let text_of = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text_of.replace("batch_size = 4", "batch_size = 4\nmax_seq_len = 4096"),
    )
    .unwrap();
    let out = tunebench(
        &["train", "local", "--config", config.to_str().unwrap()],
        dir.path(),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("max_seq_len = 4096") && err.contains("context of 256"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists(), "refused before any work");

    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    std::fs::write(
        &config,
        text_of.replace(
            &format!(
                "{}/banking77-train.jsonl",
                repo().join("train/tests/data").display()
            ),
            empty.to_str().unwrap(),
        ),
    )
    .unwrap();
    let out = tunebench(
        &["train", "local", "--config", config.to_str().unwrap()],
        dir.path(),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("empty.jsonl: no usable example"), "{err}");
    assert!(!err.contains("empty.jsonl:0"), "no line 0: {err}");
}

#[test]
fn model_score_refuses_output_over_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.jsonl");
    let body = "{\"text\": \"Janet has three eggs\"}\n";
    std::fs::write(&input, body).unwrap();
    let out = tunebench(
        &[
            "model",
            "score",
            "fixtures/tiny-llama/model",
            "--input",
            input.to_str().unwrap(),
            "--output",
            input.to_str().unwrap(),
        ],
        &repo(),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--output") && err.contains("--input"), "{err}");
    assert_eq!(std::fs::read_to_string(&input).unwrap(), body);
}

#[test]
fn eval_refuses_to_write_over_recorded_responses_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let recorded = dir
        .path()
        .join("eval/gsm8k-zero-shot/recorded/responses.jsonl");
    std::fs::create_dir_all(recorded.parent().unwrap()).unwrap();
    std::fs::copy(
        repo().join("configs/responses/gsm8k-test-first10.jsonl"),
        &recorded,
    )
    .unwrap();
    let before = std::fs::read(&recorded).unwrap();
    let config = dir.path().join("eval.toml");
    std::fs::write(
        &config,
        format!(
            "[eval]\nsuites = [\"{}\"]\nout_dir = \"eval\"\nlimit = 3\n\n[[eval.candidates]]\nkind = \"responses\"\nname = \"recorded\"\npath = \"{}\"\n",
            repo().join("configs/suites/gsm8k-zero-shot.toml").display(),
            recorded.display()
        ),
    )
    .unwrap();
    let out = tunebench(&["eval", "--config", config.to_str().unwrap()], dir.path());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("holds") && err.contains("the responses of `recorded`"),
        "{err}"
    );
    assert_eq!(std::fs::read(&recorded).unwrap(), before, "input untouched");
}

/// A `[data]` config over `x.csv` in `dir`, writing to `data/`, with extra `[data]` lines.
fn data_config(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[data]\ninputs = [\"x.csv\"]\nout_dir = \"data\"\n{extra}\n[data.mapping]\nprompt = \"{{q}}\"\ncompletion = \" {{a}}\"\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn data_prepare_refuses_to_write_over_an_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let input = dir.path().join("data/train.jsonl");
    let body = "{\"q\": \"hello\", \"a\": \"world\"}\n{\"q\": \"how are you\", \"a\": \"fine\"}\n";
    std::fs::write(&input, body).unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        "[data]\ninputs = [\"data/train.jsonl\"]\nout_dir = \"data\"\n[data.mapping]\nprompt = \"{q}\"\ncompletion = \"{a}\"\n",
    )
    .unwrap();
    let out = tunebench(
        &["data", "prepare", "--config", cfg.to_str().unwrap()],
        dir.path(),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(input.to_str().unwrap()) && err.contains("hint:"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&input).unwrap(), body);
    assert!(!dir.path().join("data/manifest.json").exists());

    // An upload that would land under an s3:// input prefix is refused before any request.
    let out = tunebench(
        &[
            "data",
            "prepare",
            "--config",
            cfg.to_str().unwrap(),
            "--input",
            "s3://tunebench-in/exports/",
            "--upload",
            "s3://tunebench-in/exports/prepared/",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
        dir.path(),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("s3://tunebench-in/exports/prepared/train.jsonl")
            && err.contains("s3://tunebench-in/exports/"),
        "{err}"
    );
}

#[test]
fn data_prepare_with_no_train_record_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.csv"), "q,a\n,x\n   ,y\n").unwrap();
    let cfg = data_config(dir.path(), "c.toml", "");
    let out = tunebench(
        &["data", "prepare", "--config", cfg.to_str().unwrap()],
        dir.path(),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no record reached the train split"), "{err}");
    assert!(!dir.path().join("data/train.jsonl").exists());
}

/// The output files of `data/` that the manifest lists, each with what the training data
/// reader says of it: `Ok(Some(set))` (matches; `set` names the manifest's output set) or
/// `Err` (refused: it is not the file the manifest lists).
fn reader_view(data: &Path) -> Vec<(String, Result<Option<String>, String>)> {
    ["train.jsonl", "validation.jsonl", "test.jsonl"]
        .iter()
        .map(|f| {
            let path = data.join(f);
            let bytes = std::fs::read(&path).unwrap();
            let seen =
                tunebench_train::data::check_prepared(&path, &bytes).map_err(|e| e.to_string());
            (f.to_string(), seen)
        })
        .collect()
}

/// A `data prepare` killed before, while and after writing (the test hook aborts the process
/// as SIGKILL would) never leaves a set that a reader takes for whole while it mixes two
/// runs, and the next run cleans up and ends with the same files as an undisturbed run.
#[test]
fn a_killed_prepare_never_leaves_a_mixed_set_and_the_rerun_completes() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("q,a\n");
    for i in 0..400 {
        csv.push_str(&format!("what is {i} plus {i},{}\n", 2 * i));
    }
    std::fs::write(dir.path().join("x.csv"), csv).unwrap();
    // Two runs that differ only in the split seed, so every split file differs.
    let extra = |seed: u64| format!("[data.dedup]\nnear = false\n[data.split]\nseed = {seed}\n");
    let first = data_config(dir.path(), "first.toml", &extra(1));
    let second = data_config(dir.path(), "second.toml", &extra(2));
    let data = dir.path().join("data");
    // `data prepare` of `cfg` into `out`, aborted at `abort_at` ("" = not aborted).
    let prepare_into = |cfg: &Path, out: &Path, abort_at: &str| {
        tunebench_env(
            &[
                "data",
                "prepare",
                "--quiet",
                "--config",
                cfg.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            dir.path(),
            &[("TUNEBENCH_TEST_ABORT_AT", abort_at)],
        )
    };
    let prepare = |cfg: &Path, abort_at: &str| prepare_into(cfg, &data, abort_at);
    let out = prepare(&first, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first_view = reader_view(&data);
    assert!(first_view.iter().all(|(_, v)| matches!(v, Ok(Some(_)))));

    for point in ["read", "staging", "publishing", "committing"] {
        let out = prepare(&second, point);
        assert!(
            !out.status.success(),
            "{point}: the hook did not stop the run"
        );
        let view = reader_view(&data);
        let sets: std::collections::HashSet<&String> = view
            .iter()
            .filter_map(|(_, v)| v.as_ref().ok().and_then(Option::as_ref))
            .collect();
        assert!(sets.len() <= 1, "{point}: files of two runs pass: {view:?}");
        let refused = view.iter().filter(|(_, v)| v.is_err()).count();
        match point {
            // Nothing was published: the first run's set is whole.
            "read" | "staging" => assert_eq!(view, first_view, "{point}"),
            // New files sit beside the first run's manifest: the reader refuses them.
            _ => {
                assert!(refused > 0, "{point}: {view:?}");
                for (f, v) in &view {
                    if let Err(e) = v {
                        assert!(e.contains("rerun `tunebench data prepare`"), "{f}: {e}");
                    }
                }
            }
        }
        if point == "publishing" {
            // `train local` on the half-published folder stops with the same advice.
            let cfg = dir.path().join("train.toml");
            std::fs::write(
                &cfg,
                format!(
                    "[train.local]\nname = \"t\"\nbase_model = \"{}\"\ntrain_file = \"data/train.jsonl\"\nvalidation_file = \"data/validation.jsonl\"\nout_dir = \"train\"\nmax_steps = 1\n",
                    repo().join("fixtures/tiny-llama/model").display()
                ),
            )
            .unwrap();
            let out = tunebench(
                &["train", "local", "--config", cfg.to_str().unwrap()],
                dir.path(),
            );
            let err = text(&out.stderr);
            assert!(!out.status.success(), "{err}");
            assert!(err.contains("rerun `tunebench data prepare`"), "{err}");
        }
    }
    let leftovers = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect()
    };
    assert!(
        !leftovers(&data).is_empty(),
        "a killed run leaves its staging folder"
    );

    // A first run, with no earlier manifest to check against, killed while publishing: the
    // staging folder it leaves tells the reader the set is incomplete.
    let fresh = dir.path().join("fresh");
    let out = prepare_into(&second, &fresh, "publishing");
    assert!(!out.status.success());
    let train = fresh.join("train.jsonl");
    let seen = tunebench_train::data::check_prepared(&train, &std::fs::read(&train).unwrap());
    assert!(
        seen.is_err_and(|e| e.to_string().contains("rerun `tunebench data prepare`")),
        "a half-published first run was read as whole"
    );

    // The rerun cleans up and ends where an undisturbed run ends.
    let out = prepare(&second, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(leftovers(&data).is_empty(), "{:?}", leftovers(&data));
    let view = reader_view(&data);
    assert!(
        view.iter().all(|(_, v)| matches!(v, Ok(Some(_)))),
        "{view:?}"
    );
    assert_ne!(view, first_view);
    let clean = dir.path().join("clean");
    let out = prepare_into(&second, &clean, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest = |d: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("manifest.json")).unwrap()).unwrap()
    };
    assert_eq!(manifest(&data)["splits"], manifest(&clean)["splits"]);
    assert_eq!(manifest(&data)["counts"]["input"], 400);
}

/// An eval config (in `dir`) of a two-example suite with the candidates `candidates` (TOML
/// of `[[eval.candidates]]` entries); recorded wrong answers are in `rec.jsonl`.
fn small_eval(dir: &Path, candidates: &str) {
    common::write_math_suite(dir);
    std::fs::write(
        dir.join("rec.jsonl"),
        "{\"id\":\"L1\",\"text\":\"5\"}\n{\"id\":\"L2\",\"text\":\"7\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("eval.toml"),
        format!(
            "# Run: tunebench eval --config eval.toml\n[eval]\nsuites = [\"s.toml\"]\nout_dir = \"out\"\nmax_attempts = 1\n{candidates}"
        ),
    )
    .unwrap();
}

/// Every request of `down` is refused (nothing listens on port 9): `tunebench eval` used to
/// exit 0 and show it as best with 0.000. Now it writes the results, marks the candidate
/// failed in the table, and exits 1 with an error that names the cause.
#[test]
fn eval_exits_1_when_every_request_of_a_candidate_failed() {
    let dir = tempfile::tempdir().unwrap();
    small_eval(
        dir.path(),
        "[[eval.candidates]]\nkind = \"openai\"\nname = \"down\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n[[eval.candidates]]\nkind = \"responses\"\nname = \"rec\"\npath = \"rec.jsonl\"\n",
    );
    let out = tunebench(&["eval", "--config", "eval.toml"], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "error: candidate `down` on suite `math`: all 2 requests failed; first error: "
        ) && err.contains("error sending request")
            && err.contains("Connection refused"),
        "{err}"
    );
    let stdout = text(&out.stdout);
    let row = stdout
        .lines()
        .find(|l| l.contains("| down (failed) |"))
        .unwrap();
    assert!(row.contains("every request failed: not ranked"), "{stdout}");
    assert!(stdout.contains("Best: **rec**"), "{stdout}");
    let c: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("out/math/comparison.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(c["best"], "rec");
    assert_eq!(c["rank_quality"], serde_json::json!(["rec"]));
    assert_eq!(c["candidates"][0]["failed"], true);
}

/// Every file under `dir` (recursively).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The lines of a JSONL audit log.
fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Each audit line has the documented fields, and none holds a planted secret.
fn assert_audit_fields(lines: &[serde_json::Value]) {
    for l in lines {
        for field in [
            "time",
            "service",
            "operation",
            "resources",
            "request_id",
            "outcome",
            "http_status",
            "duration_ms",
        ] {
            assert!(l.get(field).is_some(), "no {field} in {l}");
        }
    }
}

/// Credentials planted in the environment (AWS key id, secret key, session token, an
/// endpoint's API key) never appear in anything tunebench prints at `-vv` or writes, for a
/// data prepare uploading to S3 and an eval calling Bedrock and an OpenAI-compatible
/// endpoint. (The AWS SDK's debug lines used to print the access key id.) Every AWS call is
/// in an audit log: `[aws] audit_log` when set, else `aws-audit.jsonl` in the output folder.
#[test]
fn no_planted_credential_reaches_output_or_files_at_vv_and_aws_calls_are_audited() {
    use tunebench_standins::bedrock::{BedrockStandin, StandinConfig};
    use tunebench_standins::openai::{OpenAiConfig, OpenAiStandin};
    const KEY_ID: &str = "AKIAPLANTEDKEYID0001";
    const SECRET: &str = "planted+Secret/Key0123456789abcdefghijklmn";
    const TOKEN: &str = "PlantedSessionToken//Zm9vYmFy+0123456789";
    const API_KEY: &str = "sk-planted-endpoint-9c3e5d";
    let s3 = s3_endpoint();
    let bedrock = BedrockStandin::start(StandinConfig::default()).unwrap();
    let openai = OpenAiStandin::start(OpenAiConfig {
        api_key: Some(API_KEY.into()),
        ..OpenAiConfig::default()
    })
    .unwrap();
    let bucket = format!("tb-cli-secrets-{}", std::process::id());
    create_bucket(&s3, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", TOKEN),
        // Not named like a secret: only the config's `api_key_env` says it is one.
        ("TB_PLANTED_ENDPOINT_AUTH", API_KEY),
    ];
    let mut printed = String::new();

    // data prepare → S3, audit log where [aws] audit_log says.
    let records: String = (0..30)
        .map(|i| format!("{{\"prompt\":\"question {i}\",\"completion\":\"answer {i}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("in.jsonl"), records).unwrap();
    std::fs::write(
        dir.path().join("data.toml"),
        format!(
            "[data]\ninputs = [\"in.jsonl\"]\nout_dir = \"data\"\n[data.mapping]\nprompt = \"{{prompt}}\"\ncompletion = \"{{completion}}\"\n[aws]\nendpoint_url = \"{s3}\"\naudit_log = \"audit/s3.jsonl\"\n"
        ),
    )
    .unwrap();
    let dest = format!("s3://{bucket}/prep/");
    let out = tunebench_env(
        &[
            "-vv",
            "data",
            "prepare",
            "--config",
            "data.toml",
            "--upload",
            &dest,
        ],
        dir.path(),
        &env,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    printed.push_str(&text(&out.stdout));
    printed.push_str(&text(&out.stderr));
    let s3_lines = audit_lines(&dir.path().join("audit/s3.jsonl"));
    assert_audit_fields(&s3_lines);
    let ops: Vec<&str> = s3_lines
        .iter()
        .map(|l| l["operation"].as_str().unwrap())
        .collect();
    // HeadObject then PutObject per file (the splits, rejected.jsonl, manifest.json).
    let puts = ops.iter().filter(|o| **o == "PutObject").count();
    assert!(puts >= 3, "{ops:?}");
    assert_eq!(
        ops.iter().filter(|o| **o == "HeadObject").count(),
        puts,
        "{ops:?}"
    );
    assert_eq!(ops.len(), 2 * puts, "{ops:?}");
    for l in &s3_lines {
        assert_eq!(l["service"], "s3");
        assert_eq!(l["resources"]["bucket"], bucket.as_str());
        assert!(
            l["resources"]["key"].as_str().unwrap().starts_with("prep/"),
            "{l}"
        );
    }
    assert!(
        s3_lines
            .iter()
            .any(|l| l["operation"] == "PutObject" && l["outcome"] == "ok"),
        "{s3_lines:?}"
    );

    // eval → Bedrock (foundation model) + OpenAI-compatible endpoint, default audit log.
    small_eval(
        dir.path(),
        &format!(
            "[[eval.candidates]]\nkind = \"bedrock\"\nname = \"nova\"\nmodel_id = \"amazon.nova-micro-v1:0\"\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\n[[eval.candidates]]\nkind = \"openai\"\nname = \"api\"\nbase_url = \"{}\"\nmodel = \"m\"\napi_key_env = \"TB_PLANTED_ENDPOINT_AUTH\"\n",
            bedrock.endpoint_url(),
            openai.base_url()
        ),
    );
    let out = tunebench_env(&["-vv", "eval", "--config", "eval.toml"], dir.path(), &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    printed.push_str(&text(&out.stdout));
    printed.push_str(&text(&out.stderr));
    assert!(
        text(&out.stdout).contains("api: 2 answered")
            && text(&out.stdout).contains("nova: 2 answered"),
        "{}",
        text(&out.stdout)
    );
    let converse = audit_lines(&dir.path().join("out/aws-audit.jsonl"));
    assert_audit_fields(&converse);
    assert_eq!(converse.len(), 2, "{converse:?}");
    for l in &converse {
        assert_eq!(l["service"], "bedrock-runtime");
        assert_eq!(l["operation"], "Converse");
        assert_eq!(l["outcome"], "ok");
        assert_eq!(l["resources"]["modelId"], "amazon.nova-micro-v1:0");
    }
    // The prompts are in no audit line.
    let log = std::fs::read_to_string(dir.path().join("out/aws-audit.jsonl")).unwrap();
    assert!(!log.contains("2+2") && !log.contains("3+3"), "{log}");

    // -vv did print the SDK's debug lines (else this test would prove nothing).
    assert!(printed.contains("DEBUG"), "{printed}");
    for secret in [KEY_ID, SECRET, TOKEN, API_KEY] {
        assert!(!printed.contains(secret), "{secret} printed:\n{printed}");
        for f in files_under(dir.path()) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} written to {}",
                f.display()
            );
        }
    }
}

/// `model info ORG/NAME` fetches the model from `HF_ENDPOINT` into `HF_HUB_CACHE` (the
/// loopback hub stand-in here), then `HF_HUB_OFFLINE=1` answers from the cache alone.
#[test]
fn a_hugging_face_id_is_fetched_into_the_hf_cache_then_works_offline() {
    use tunebench_standins::hub::{HubConfig, HubStandin};
    let dir = tempfile::tempdir().unwrap();
    let hub = HubStandin::start(HubConfig {
        repo: "tiny/llama".into(),
        commit: "89abcdef0123456789abcdef0123456789abcdef".into(),
        files: repo().join("fixtures/tiny-llama/model"),
        token: None,
    })
    .unwrap();
    let cache = dir.path().join("hf");
    let cache = cache.to_str().unwrap();
    let env = [
        ("HF_ENDPOINT", hub.endpoint()),
        ("HF_HUB_CACHE", cache),
        ("HF_HUB_OFFLINE", "0"),
    ];
    let first = tunebench_env(&["model", "info", "tiny/llama"], dir.path(), &env);
    let err = text(&first.stderr);
    assert!(first.status.success(), "{err}");
    assert!(
        err.contains("downloading tiny/llama/model.safetensors"),
        "{err}"
    );
    // Fetched once: the second call reads the cache.
    let online = tunebench_env(&["--json", "model", "info", "tiny/llama"], dir.path(), &env);
    assert!(online.status.success(), "{}", text(&online.stderr));
    assert_eq!(hub.lfs_downloads(), 1);
    let info: serde_json::Value = serde_json::from_slice(&online.stdout).unwrap();
    assert!(
        info["dir"]
            .as_str()
            .unwrap()
            .ends_with("models--tiny--llama/snapshots/89abcdef0123456789abcdef0123456789abcdef"),
        "{info}"
    );
    let offline = tunebench_env(
        &["model", "info", "hf:tiny/llama"],
        dir.path(),
        &[
            ("HF_ENDPOINT", "http://127.0.0.1:9"),
            ("HF_HUB_CACHE", cache),
            ("HF_HUB_OFFLINE", "1"),
        ],
    );
    assert!(offline.status.success(), "{}", text(&offline.stderr));
}

/// A Bedrock candidate with `mode = "batch"` from `tunebench eval`, killed while it waits
/// for its job: the rerun watches the same job (nothing is submitted twice) and scores
/// every example; `tunebench run` runs the same suite through a job of its own.
#[test]
fn eval_batch_resumes_the_same_job_after_a_kill_and_runs_under_run() {
    use tunebench_standins::bedrock::{BedrockStandin, StandinConfig};
    let s3 = s3_endpoint();
    let bucket = format!("tb-cli-batch-{}", std::process::id());
    create_bucket(&s3, &bucket);
    let standin = BedrockStandin::start(StandinConfig {
        s3_endpoint: Some(s3.clone()),
        polls_to_complete: 40,
        ..StandinConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data: String = (0..300)
        .map(|i| format!("{{\"q\":\"w{i}\",\"a\":\"w{i}\"}}\n"))
        .collect();
    std::fs::write(dir.path().join("d.jsonl"), data).unwrap();
    std::fs::write(
        dir.path().join("s.toml"),
        "name = \"echo\"\nversion = \"1\"\ndata = \"d.jsonl\"\nprompt = \"{{ q }}\"\nreference = \"{{ a }}\"\n[[metrics]]\nkind = \"exact_match\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("batch.toml"),
        format!(
            r#"# Run: tunebench eval --config batch.toml
[run]
runs_dir = "runs"
[eval]
suites = ["s.toml"]
out_dir = "out"
[[eval.candidates]]
kind = "bedrock"
name = "nova"
model_id = "amazon.nova-micro-v1:0"
region = "us-east-1"
endpoint_url = "{}"
mode = "batch"
[eval.batch]
s3_prefix = "s3://{bucket}/batch/"
role_arn = "arn:aws:iam::123456789012:role/tunebench-batch"
poll_s = 0.05
max_poll_s = 0.05
"#,
            standin.endpoint_url()
        ),
    )
    .unwrap();
    let env = [("AWS_ENDPOINT_URL_S3", s3.as_str())];
    let args = ["eval", "--config", "batch.toml"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_tunebench"))
        .args(args)
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the job is submitted and being watched.
    for _ in 0..400 {
        if standin.request_count("GetModelInvocationJob") >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(standin.request_count("GetModelInvocationJob") >= 3);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(standin.request_count("CreateModelInvocationJob"), 1);
    let state_dir = dir.path().join("out/echo/nova/batch");
    let state = std::fs::read_dir(&state_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    let before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(
        before["job_arn"]
            .as_str()
            .unwrap()
            .contains(":model-invocation-job/"),
        "{before}"
    );
    assert_eq!(before["joined"], false);

    let out = tunebench_env(&args, dir.path(), &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        standin.request_count("CreateModelInvocationJob"),
        1,
        "submitted twice"
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "nova: 300 answered, 0 from cache, 0 failed, 0 not sent, 0 retries, 1 batch job"
        ),
        "{stdout}"
    );
    let after: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(
        (&after["job_arn"], &after["joined"]),
        (&before["job_arn"], &serde_json::json!(true))
    );
    // The dry run of a cached suite has nothing left to send.
    let out = tunebench_env(
        &["eval", "--config", "batch.toml", "--dry-run"],
        dir.path(),
        &env,
    );
    assert!(
        text(&out.stdout).contains("0 requests to send (300 cached)"),
        "{}",
        text(&out.stdout)
    );

    // Under `run`, the eval stage's batch job writes its state in the run folder.
    let config = std::fs::read_to_string(dir.path().join("batch.toml")).unwrap();
    std::fs::write(
        dir.path().join("nightly.toml"),
        config.replace("out_dir = \"out\"", "out_dir = \"{run_dir}/eval\""),
    )
    .unwrap();
    let out = tunebench_env(&["run", "nightly.toml"], dir.path(), &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(standin.request_count("CreateModelInvocationJob"), 2);
    let eval = dir.path().join("runs/nightly/eval/echo/nova");
    assert!(eval.join("batch").is_dir());
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(eval.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        (summary["n"].as_u64(), summary["errors"].as_u64()),
        (Some(300), Some(0))
    );
    standin.assert_valid();
}

/// The shipped reward-function example: the GSM8K grader (a Lambda handler file) scores
/// recorded responses as the `reward` metric; a second candidate whose answers lost their
/// `####` marker scores 0 on it (its final-number match is unchanged), and the paired test
/// between them is in the comparison.
#[test]
fn eval_scores_with_the_shipped_gsm8k_grader() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    let args = [
        "eval",
        "--config",
        "configs/eval-gsm8k-reward.toml",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ];
    let run = tunebench(&args, &repo());
    assert!(run.status.success(), "{}", text(&run.stderr));
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("gsm8k-reward/recorded/summary.json")).unwrap(),
    )
    .unwrap();
    let reward = summary["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "reward")
        .unwrap();
    // Seven of the ten recorded answers are right (1), three end with a wrong number (0.2).
    let value = reward["value"].as_f64().unwrap();
    assert!((value - 0.76).abs() < 1e-9, "{summary:#}");
    assert_eq!(summary["judges"]["reward"]["judged"], 10, "{summary:#}");
    let format = summary["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "format")
        .unwrap();
    assert_eq!(format["value"].as_f64(), Some(1.0), "{summary:#}");

    // Answers without the `#### N` line: the reward drops to 0 and the paired test shows it.
    let recorded =
        std::fs::read_to_string(repo().join("configs/responses/gsm8k-test-first10.jsonl")).unwrap();
    let stripped: String = recorded
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let t = v["text"]
                .as_str()
                .unwrap()
                .replace("####", "so the answer is");
            v["text"] = t.into();
            format!("{v}\n")
        })
        .collect();
    std::fs::write(dir.path().join("stripped.jsonl"), stripped).unwrap();
    let config = std::fs::read_to_string(repo().join("configs/eval-gsm8k-reward.toml")).unwrap();
    let configs = repo().join("configs");
    let config = config
        .replace("\"suites/", &format!("\"{}/suites/", configs.display()))
        .replace("\"graders/", &format!("\"{}/graders/", configs.display()))
        .replace(
            "\"responses/",
            &format!("\"{}/responses/", configs.display()),
        )
        + "\n[[eval.candidates]]\nkind = \"responses\"\nname = \"stripped\"\npath = \"stripped.jsonl\"\n";
    std::fs::write(dir.path().join("two.toml"), config).unwrap();
    let run = tunebench(
        &["eval", "--config", "two.toml", "--out", "two"],
        dir.path(),
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let comparison: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("two/gsm8k-reward/comparison.json")).unwrap(),
    )
    .unwrap();
    let stripped = comparison["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "stripped")
        .unwrap();
    let metrics: std::collections::HashMap<String, f64> = stripped["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(metrics["reward"], 0.0, "{comparison:#}");
    // The grader's `format` entry is a column of its own: 0 without `####`.
    assert_eq!(metrics["format"], 0.0, "{comparison:#}");
    assert!(
        (metrics["numeric"] - 0.7).abs() < 1e-9,
        "the last number is unchanged: {comparison:#}"
    );
    assert!(
        comparison["tests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.to_string().contains("reward")),
        "{comparison:#}"
    );
}

/// `train bedrock grader-check`: the first RFT prompts answered by a Bedrock candidate (the
/// stand-in), the answers graded by the shipped GSM8K reward: a candidate that gets some
/// right passes; one whose rewards are all the same is refused (exit 2) unless --force.
#[test]
fn grader_check_runs_the_reward_on_real_answers_before_an_rft_job() {
    use std::collections::HashMap;
    use tunebench_standins::bedrock::{BedrockStandin, ConversePolicy, StandinConfig};
    let dir = tempfile::tempdir().unwrap();
    let train = std::fs::read_to_string(repo().join("data/gsm8k/train.jsonl")).unwrap();
    let mut answers = HashMap::new();
    let mut prompts = String::new();
    for (i, line) in train.lines().take(120).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let question = v["question"].as_str().unwrap().to_string();
        let answer = v["answer"].as_str().unwrap().to_string();
        // Every third answer ends with a wrong number.
        let given = if i % 3 == 0 {
            format!("{answer}0")
        } else {
            answer.clone()
        };
        answers.insert(question.clone(), given);
        let rec = serde_json::json!({
            "messages": [{"role": "user", "content": question}],
            "reference_answer": {"answer": answer},
        });
        prompts.push_str(&format!("{rec}\n"));
    }
    std::fs::write(dir.path().join("rft.jsonl"), prompts).unwrap();
    let graders = repo().join("configs/graders/gsm8k_reward.py");
    let config = |endpoint: &str| {
        format!(
            r#"# Run: tunebench train bedrock grader-check --config rft.toml
[train.bedrock]
name = "gsm8k-rft"
base_model_id = "amazon.nova-lite-v2:0:256k"
customization_type = "REINFORCEMENT_FINE_TUNING"
train_file = "rft.jsonl"
data_s3_prefix = "s3://tb-rft/data/"
output_s3_uri = "s3://tb-rft/out/"
role_arn = "arn:aws:iam::123456789012:role/tunebench-bedrock"
region = "us-east-1"
out_dir = "train"
[train.bedrock.rft]
grader_lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:gsm8k-reward"
inference_max_tokens = 512
[train.bedrock.grader_check]
grader = "gsm8k-reward"
candidate = "base"
prompts = 30
[eval]
suites = ["s.toml"]
out_dir = "eval"
[[eval.graders]]
name = "gsm8k-reward"
lambda = "{}"
[[eval.candidates]]
kind = "bedrock"
name = "base"
model_id = "amazon.nova-lite-v1:0"
region = "us-east-1"
endpoint_url = "{endpoint}"
"#,
            graders.display()
        )
    };
    let lookup = ConversePolicy::Lookup(answers);
    let standin = BedrockStandin::start(StandinConfig {
        converse: lookup,
        ..StandinConfig::default()
    })
    .unwrap();
    std::fs::write(dir.path().join("rft.toml"), config(standin.endpoint_url())).unwrap();
    let args = ["train", "bedrock", "grader-check", "--config", "rft.toml"];
    let out = tunebench(&args, dir.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with(
            "grader `gsm8k-reward` on 30 answers of `base` (30 prompts): mean reward 0.7333"
        ) && stdout.contains("the rewards vary: worth a job"),
        "{stdout}"
    );
    assert_eq!(standin.request_count("Converse"), 30);
    standin.assert_valid();
    // The answers are cached: a second check sends nothing.
    let out = tunebench(&args, dir.path());
    assert!(out.status.success());
    assert_eq!(standin.request_count("Converse"), 30);

    // A model that never writes `####` earns 0 everywhere: refused, unless --force.
    let flat = BedrockStandin::start(StandinConfig {
        converse: ConversePolicy::Fixed("I think it is 12.".into()),
        ..StandinConfig::default()
    })
    .unwrap();
    std::fs::write(dir.path().join("rft.toml"), config(flat.endpoint_url())).unwrap();
    std::fs::remove_dir_all(dir.path().join("eval")).unwrap();
    let out = tunebench(&args, dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("every reward is 0: a constant reward gives the job nothing to learn from")
            && err.contains("--force"),
        "{err}"
    );
    // `submit` runs the same check first and refuses before anything is uploaded.
    let out = tunebench(
        &["train", "bedrock", "submit", "--config", "rft.toml"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("every reward is 0") && err.contains("--force to submit anyway"),
        "{err}"
    );
    assert_eq!(flat.request_count("CreateModelCustomizationJob"), 0);
    // So does `tunebench run`'s train stage.
    let run = config(flat.endpoint_url())
        .replace(
            "out_dir = \"train\"",
            "out_dir = \"{run_dir}/train/gsm8k-rft\"",
        )
        .replace("out_dir = \"eval\"", "out_dir = \"{run_dir}/eval\"");
    std::fs::write(dir.path().join("run.toml"), run).unwrap();
    let out = tunebench(&["run", "run.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("every reward is 0") && err.contains("submit --force"),
        "{err}"
    );
    assert_eq!(flat.request_count("CreateModelCustomizationJob"), 0);
    let out = tunebench(
        &[
            "train",
            "bedrock",
            "grader-check",
            "--config",
            "rft.toml",
            "--force",
            "--prompts",
            "5",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("problem: every reward is 0"));
}

/// The shipped RFT example end to end against the stand-ins (Bedrock, loopback S3): prompts
/// prepared from GSM8K, the reward checked on the base model's answers, the job dry-run,
/// submitted, waited on (reward curves into metrics.csv), deployed on demand (Nova), and base
/// and tuned compared on the grader's reward. The stand-in's base model gets every third
/// problem wrong; the deployed one gets them all right.
#[test]
fn shipped_rft_example_goes_from_prompts_to_a_graded_eval() {
    use std::collections::HashMap;
    use std::sync::Arc;
    use tunebench_standins::bedrock::{BedrockStandin, ConversePolicy, StandinConfig};
    let squash = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut answers: HashMap<String, String> = HashMap::new();
    for file in ["data/gsm8k/train.jsonl", "data/gsm8k/test.jsonl"] {
        for line in std::fs::read_to_string(repo().join(file)).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let prompt = format!("Question: {}\nAnswer:", v["question"].as_str().unwrap());
            answers.insert(squash(&prompt), v["answer"].as_str().unwrap().to_string());
        }
    }
    let policy = ConversePolicy::Func(Arc::new(move |model: &str, prompt: &str| {
        let key = squash(prompt);
        let Some(answer) = answers.get(&key) else {
            return "I do not know.".into();
        };
        let tuned = model.contains(":custom-model-deployment/");
        if tuned || key.len() % 3 != 0 {
            answer.clone()
        } else {
            format!("{answer}0")
        }
    }));
    let s3 = s3_endpoint();
    let standin = BedrockStandin::start(StandinConfig {
        polls_to_complete: 3,
        s3_endpoint: Some(s3.clone()),
        converse: policy,
        ..StandinConfig::default()
    })
    .unwrap();
    let bucket = format!("tb-cli-rft-{}", std::process::id());
    create_bucket(&s3, &bucket);
    let dir = tempfile::tempdir().unwrap();
    let configs = repo().join("configs");
    let endpoint = format!(
        "region = \"us-east-1\"\nendpoint_url = \"{}\"",
        standin.endpoint_url()
    );
    let shipped = std::fs::read_to_string(configs.join("gsm8k-rft.toml")).unwrap();
    let config = shipped
        .replace("my-tunebench-bucket", &bucket)
        .replace("\"../data/", &format!("\"{}/data/", repo().display()))
        .replace("\"../runs/gsm8k-rft/", "\"")
        .replace("\"suites/", &format!("\"{}/suites/", configs.display()))
        .replace("\"graders/", &format!("\"{}/graders/", configs.display()))
        .replace(
            "\"pricing.toml\"",
            &format!("\"{}/pricing.toml\"", configs.display()),
        )
        .replace("limit = 200", "limit = 12")
        .replace("prompts = 50", "prompts = 30")
        .replace(
            "model_id = \"us.amazon.nova-2-lite-v1:0\"\nregion = \"us-east-1\"",
            &format!("model_id = \"us.amazon.nova-2-lite-v1:0\"\n{endpoint}"),
        );
    assert_ne!(config, shipped);
    std::fs::write(dir.path().join("rft.toml"), &config).unwrap();
    let env = [
        ("AWS_ENDPOINT_URL_S3", s3.as_str()),
        ("AWS_ENDPOINT_URL_BEDROCK", standin.endpoint_url()),
    ];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--config", "rft.toml"]);
        tunebench_env(&all, dir.path(), &env)
    };

    let out = run(&["data", "prepare"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("target bedrock:rft"),
        "{}",
        text(&out.stdout)
    );
    let first = std::fs::read_to_string(dir.path().join("data/train.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    assert_eq!(line["messages"][1]["role"], "user", "{line}");
    assert!(line["reference_answer"].as_str().unwrap().contains("####"));

    let out = run(&["train", "bedrock", "grader-check"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("grader `gsm8k-reward` on 30 answers of `base` (30 prompts)")
            && stdout.contains("the rewards vary: worth a job"),
        "{stdout}"
    );

    let out = run(&["train", "bedrock", "submit", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["request"]["customizationType"],
        "REINFORCEMENT_FINE_TUNING"
    );
    assert_eq!(standin.request_count("CreateModelCustomizationJob"), 0);

    let out = run(&["train", "bedrock", "submit"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["train", "bedrock", "wait", "--poll-interval", "0.01"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let job_dir = dir.path().join("train/nova2-lite-rft");
    let metrics = std::fs::read_to_string(job_dir.join("metrics.csv")).unwrap();
    assert!(
        metrics
            .lines()
            .next()
            .unwrap()
            .ends_with(tunebench_train::metrics::REWARD_COLUMNS),
        "{metrics}"
    );

    let out = run(&[
        "train",
        "bedrock",
        "deploy",
        "--poll-interval",
        "0.01",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let served: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arn = served["arn"].as_str().unwrap().to_string();
    assert!(arn.contains(":custom-model-deployment/"), "{served}");

    let config = config.replace(
        "model_id = \"arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/REPLACE-ME\"\nregion = \"us-east-1\"",
        &format!("model_id = \"{arn}\"\n{endpoint}"),
    );
    std::fs::write(dir.path().join("rft.toml"), &config).unwrap();
    let out = run(&["eval"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let comparison: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("eval/gsm8k-reward/comparison.json")).unwrap(),
    )
    .unwrap();
    let reward = |name: &str| -> f64 {
        let c = comparison["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        c["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "reward")
            .unwrap()["value"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(reward("tuned"), 1.0, "{comparison:#}");
    assert!(reward("base") < 1.0, "{comparison:#}");
    standin.assert_valid();
}

/// `TUNEBENCH_GIVE_BACK_MS` (set by scripts/tch-env.sh for libtorch processes) runs the
/// heap-trimming thread; a value that is not a positive number of milliseconds stops the
/// process before anything runs, naming the variable.
#[test]
fn the_give_back_variable_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = tunebench_env(
        &["--version"],
        dir.path(),
        &[("TUNEBENCH_GIVE_BACK_MS", "300")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    for bad in ["ten", "0", "-3"] {
        let out = tunebench_env(
            &["--version"],
            dir.path(),
            &[("TUNEBENCH_GIVE_BACK_MS", bad)],
        );
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("TUNEBENCH_GIVE_BACK_MS"), "{bad}: {err}");
    }
}
