//! `tunebench run`, `report` and `gate` end to end: a small banking77 pipeline (data → LoRA
//! on the tiny fixture model → eval of base, tuned and an OpenAI-compatible endpoint →
//! report → gate), stage reuse, a run killed mid-eval that resumes without sending an
//! answered request again, and a run's metrics in the loopback CloudWatch.

// Helpers here panic on anything unexpected: a panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tunebench_standins::openai::{OpenAiConfig, OpenAiStandin};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn command(args: &[&str], cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tunebench"));
    c.args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .env_remove("TUNEBENCH_RUN_ID");
    c
}

fn tunebench(args: &[&str], cwd: &Path) -> Output {
    command(args, cwd)
        .output()
        .expect("run the tunebench binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// 40 examples of the test split held in the repository, as the suite's data.
const EXAMPLES: u64 = 32;

/// Writes the config (and its suite and data) into `dir`; the endpoint candidate calls
/// `base_url`.
fn setup(dir: &Path, base_url: &str) -> PathBuf {
    let r = repo();
    let csv = std::fs::read_to_string(r.join("data/banking77/train.csv")).unwrap();
    let small: Vec<&str> = csv.lines().take(161).collect();
    std::fs::write(dir.join("b77.csv"), small.join("\n") + "\n").unwrap();
    std::fs::write(
        dir.join("suite.toml"),
        format!(
            "name = \"b77\"\nversion = \"1\"\ndata = \"{}\"\nreference = \"{{{{ completion | trim }}}}\"\n[extract]\nkind = \"first_line\"\n[[metrics]]\nkind = \"accuracy\"\n[sampling]\nmax_tokens = 4\n",
            r.join("train/tests/data/banking77-validation.jsonl").display()
        ),
    )
    .unwrap();
    let model = r.join("fixtures/tiny-llama/model");
    let config = dir.join("pipeline.toml");
    std::fs::write(
        &config,
        format!(
            r#"# Run: tunebench run pipeline.toml
[run]
runs_dir = "runs"

[data]
inputs = ["b77.csv"]
target = "local"
out_dir = "{{run_dir}}/data"
[data.mapping]
kind = "completion"
prompt = "{{text}}\nIntent:"
completion = " {{category}}"
[data.split]
validation = 0.2
test = 0.1
seed = 3

[train.local]
name = "lora"
base_model = "{model}"
train_file = "{{run_dir}}/data/train.jsonl"
validation_file = "{{run_dir}}/data/validation.jsonl"
out_dir = "{{run_dir}}/train/lora"
max_steps = 3
batch_size = 8
eval_every = 3
checkpoint_every = 1
max_seq_len = 64

[eval]
suites = ["suite.toml"]
out_dir = "{{run_dir}}/eval"
# One cache for every run id: a nightly run only pays for what changed.
cache = "runs/response-cache.sqlite"
[[eval.candidates]]
kind = "local"
name = "base"
model_dir = "{model}"
[[eval.candidates]]
kind = "local"
name = "tuned"
model_dir = "{model}"
adapter = "{{run_dir}}/train/lora"
[[eval.candidates]]
kind = "openai"
name = "api"
base_url = "{base_url}"
model = "m"
concurrency = 1

[report]
baseline = "base"
history = "runs/history.sqlite"

[gate]
history = "runs/history.sqlite"
[[gate.rules]]
candidate = "api"
metric = "accuracy"
max_drop = 0.05
"#,
            model = model.display(),
        ),
    )
    .unwrap();
    config
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("runs/pipeline/run.json")).unwrap()).unwrap()
}

fn status(m: &serde_json::Value, stage: &str) -> String {
    m["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == stage)
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn run_killed_mid_eval_resumes_without_repeating_calls_then_reuses_everything() {
    let dir = tempfile::tempdir().unwrap();
    let standin = OpenAiStandin::start(OpenAiConfig {
        latency: Duration::from_millis(150),
        ..OpenAiConfig::default()
    })
    .unwrap();
    let config = setup(dir.path(), standin.base_url());
    let cfg = config.to_str().unwrap();

    // Kill the run (SIGKILL: no cleanup) once the endpoint has answered a few examples.
    let mut child = command(&["run", cfg, "--quiet"], dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while standin.answered() < 5 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "no calls came"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = standin.requests();
    assert!(before < EXAMPLES, "killed mid-eval: {before}");
    assert_eq!(status(&manifest(dir.path()), "eval"), "running");
    assert_eq!(status(&manifest(dir.path()), "train"), "done");

    // The rerun reuses data and training and sends only what is unanswered: at most the
    // one call that was in flight when the run was killed is sent twice.
    let out = tunebench(&["run", cfg], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sent = standin.requests();
    assert!(
        (EXAMPLES..=EXAMPLES + 1).contains(&sent),
        "{sent} calls for {EXAMPLES} examples"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("train: inputs unchanged"), "{stderr}");
    // Every example ends answered exactly once, as in an uninterrupted run: the stand-in
    // echoes the prompt, cut at max_tokens (4) words.
    let responses = std::fs::read_to_string(
        dir.path()
            .join("runs/pipeline/eval/b77/api/responses.jsonl"),
    )
    .unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for line in responses.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(r.get("error").is_none(), "{line}");
        assert_eq!(r["text"], "Classify this online-banking request", "{line}");
        ids.insert(r["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len() as u64, EXAMPLES);
    let m = manifest(dir.path());
    for stage in ["data", "eval", "report", "gate"] {
        assert_eq!(status(&m, stage), "done", "{stage}: {m:#}");
    }
    assert_eq!(m["config_sha256"].as_str().unwrap().len(), 64);
    assert!(
        m["stages"][2]["outputs"]
            .as_object()
            .unwrap()
            .contains_key("eval/b77/api/responses.jsonl")
    );
    for f in [
        "report.md",
        "report.html",
        "summary.json",
        "results.csv",
        "junit.xml",
        "gate-junit.xml",
    ] {
        assert!(
            dir.path().join("runs/pipeline/report").join(f).is_file(),
            "{f}"
        );
    }
    let stdout = text(&out.stdout);
    assert!(stdout.contains("# tunebench report: pipeline"), "{stdout}");
    assert!(
        stdout.contains("gate: run pipeline against no baseline: PASS"),
        "{stdout}"
    );

    // Nothing changed: every costly stage is reused and nothing is sent.
    let again = tunebench(&["run", cfg], dir.path());
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(standin.requests(), sent);
    let m = manifest(dir.path());
    assert_eq!(status(&m, "train"), "reused");
    assert_eq!(status(&m, "eval"), "reused");

    // --from eval reruns eval from its cache: still nothing sent.
    let from = tunebench(&["run", cfg, "--from", "eval"], dir.path());
    assert!(from.status.success(), "{}", text(&from.stderr));
    assert_eq!(standin.requests(), sent);
    assert_eq!(status(&manifest(dir.path()), "eval"), "done");

    // A second run id (a nightly run) answers from the shared cache, and its gate compares
    // it with the history's last passing run.
    let second = tunebench(
        &["run", cfg, "--run-id", "pipeline-2", "--quiet"],
        dir.path(),
    );
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert_eq!(standin.requests(), sent);
    let gate = tunebench(
        &["gate", "--config", cfg, "--run-id", "pipeline-2"],
        dir.path(),
    );
    assert!(gate.status.success(), "{}", text(&gate.stderr));
    assert!(
        text(&gate.stdout).contains("against baseline pipeline: PASS"),
        "{}",
        text(&gate.stdout)
    );
}

#[test]
fn gate_exits_3_naming_the_metric_and_report_lists_history() {
    let dir = tempfile::tempdir().unwrap();
    let standin = OpenAiStandin::start(OpenAiConfig::default()).unwrap();
    let config = setup(dir.path(), standin.base_url());
    let cfg = config.to_str().unwrap();
    let out = tunebench(&["run", cfg, "--quiet"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A floor no candidate of the tiny model reaches.
    let strict = dir.path().join("strict.toml");
    std::fs::write(
        &strict,
        "# Run: tunebench gate --config strict.toml\n[run]\nid = \"pipeline\"\nruns_dir = \"runs\"\n[gate]\n[[gate.rules]]\ncandidate = \"tuned\"\nmetric = \"accuracy\"\nmin = 0.9\n",
    )
    .unwrap();
    let gate = tunebench(&["gate", "--config", strict.to_str().unwrap()], dir.path());
    assert_eq!(gate.status.code(), Some(3), "{}", text(&gate.stderr));
    let stdout = text(&gate.stdout);
    assert!(
        stdout.contains("FAIL b77/tuned accuracy") && stdout.contains("below the floor 0.9"),
        "{stdout}"
    );
    let junit =
        std::fs::read_to_string(dir.path().join("runs/pipeline/report/gate-junit.xml")).unwrap();
    assert!(junit.contains("failures=\"1\""), "{junit}");
    // The report command on the run folder, with the history's trend.
    let report = tunebench(
        &[
            "report",
            "runs/pipeline",
            "--history",
            "runs/history.sqlite",
        ],
        dir.path(),
    );
    assert!(report.status.success(), "{}", text(&report.stderr));
    assert!(
        text(&report.stdout).contains("report: "),
        "{}",
        text(&report.stdout)
    );
    // A config whose stages write outside the run folder is refused with a hint.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("out_dir = \"{run_dir}/eval\"", "out_dir = \"elsewhere\""),
    )
    .unwrap();
    let refused = tunebench(&["run", bad.to_str().unwrap()], dir.path());
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("[eval] out_dir"),
        "{}",
        text(&refused.stderr)
    );
}

/// An eval-only run config in `dir`: a two-example suite, a candidate whose endpoint refuses
/// every connection (`down`), a Bedrock foundation model on the stand-in (`nova`), and
/// `gate` (TOML of `[gate]` and its rules, may be empty).
fn failing_run_config(dir: &Path, bedrock_url: &str, gate: &str) -> PathBuf {
    common::write_math_suite(dir);
    let config = dir.join("flaky.toml");
    std::fs::write(
        &config,
        format!(
            r#"# Run: tunebench run flaky.toml
[run]
runs_dir = "runs"
[eval]
suites = ["s.toml"]
out_dir = "{{run_dir}}/eval"
max_attempts = 1
[[eval.candidates]]
kind = "openai"
name = "down"
base_url = "http://127.0.0.1:9/v1"
model = "m"
[[eval.candidates]]
kind = "bedrock"
name = "nova"
model_id = "amazon.nova-micro-v1:0"
region = "us-east-1"
endpoint_url = "{bedrock_url}"
{gate}"#
        ),
    )
    .unwrap();
    config
}

fn run_with_test_credentials(args: &[&str], cwd: &Path) -> Output {
    command(args, cwd)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run the tunebench binary")
}

/// `tunebench run` with a candidate that answered nothing: the run goes on to write the
/// report, which marks the candidate failed and does not rank it, then exits 1 (3 when the
/// gate finds a regression). Every AWS call of the run is in `<run dir>/aws-audit.jsonl`.
#[test]
fn run_with_a_failed_candidate_writes_the_report_then_exits_1_or_the_gates_3() {
    use tunebench_standins::bedrock::{BedrockStandin, StandinConfig};
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gate =
        "[gate]\n[[gate.rules]]\ncandidate = \"nova\"\nmetric = \"exact_match\"\nmin = 0.0\n";
    let config = failing_run_config(dir.path(), standin.endpoint_url(), gate);
    let out = run_with_test_credentials(&["run", config.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("candidate `down` on suite `math`: all 2 requests failed")
            && err.contains("Connection refused"),
        "{err}"
    );
    let run = dir.path().join("runs/flaky");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(status(&m, "eval"), "failed", "{m:#}");
    assert_eq!(status(&m, "report"), "done", "{m:#}");
    assert_eq!(status(&m, "gate"), "done", "{m:#}");
    let md = std::fs::read_to_string(run.join("report/report.md")).unwrap();
    assert!(
        md.contains("down (failed)")
            && md.contains("**Failed** (every request errored; not ranked): down."),
        "{md}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["suites"][0]["best"], "nova");
    assert_eq!(
        summary["suites"][0]["rank_quality"],
        serde_json::json!(["nova"])
    );
    // The run's audit log: one line per Converse call, in the run folder.
    let audit = std::fs::read_to_string(run.join("aws-audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{audit}");
    assert!(
        lines
            .iter()
            .all(|l| l["operation"] == "Converse" && l["outcome"] == "ok"),
        "{audit}"
    );
    assert!(!run.join("eval/aws-audit.jsonl").exists());

    // A gate that fails: its exit code wins.
    let strict = failing_run_config(
        dir.path(),
        standin.endpoint_url(),
        &gate.replace("min = 0.0", "min = 2.0"),
    );
    let out = run_with_test_credentials(&["run", strict.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
}

/// A gate rule naming a metric no suite has used to be reported only after the whole
/// pipeline (and its paid eval) ran. `tunebench run` now refuses it before any stage, with
/// exit 2, naming the rule and the known metrics.
#[test]
fn run_refuses_a_gate_rule_on_an_unknown_metric_before_any_stage() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), "http://127.0.0.1:9/v1");
    let text_cfg = std::fs::read_to_string(&config).unwrap();
    let typo = text_cfg.replace("metric = \"accuracy\"", "metric = \"acuracy\"");
    assert_ne!(typo, text_cfg);
    std::fs::write(&config, typo).unwrap();
    let out = tunebench(&["run", config.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("rule 1 names metric `acuracy`")
            && err.contains("the known metrics are `accuracy`, and `score`"),
        "{err}"
    );
    assert!(!dir.path().join("runs/pipeline").exists(), "a stage ran");
}

/// `TUNEBENCH_DEVICE` picks the training device under `run` as under `train local`: an
/// unknown device fails the train stage (after data), naming it, with exit 2.
#[test]
fn run_trains_on_the_device_tunebench_device_names() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), "http://127.0.0.1:9/v1");
    let config = config.to_str().unwrap();
    for args in [
        vec!["train", "local", "--config", config],
        vec!["run", config],
    ] {
        let out = command(&args, dir.path())
            .env("TUNEBENCH_DEVICE", "abacus:3")
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("abacus"), "{args:?}: {err}");
    }
    let m = manifest(dir.path());
    assert_eq!(status(&m, "data"), "done");
    assert_eq!(status(&m, "train"), "failed");
}

/// `TUNEBENCH_MAX_STEPS` sets `[train.local] max_steps` (as `train local --max-steps` does);
/// a value that is not a positive number stops `run` and `train local` before any stage,
/// naming the variable, with exit 2.
#[test]
fn the_max_steps_variable_sets_the_steps_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), "http://127.0.0.1:9/v1");
    let config = config.to_str().unwrap();
    let out = command(
        &["train", "local", "--config", config, "--show-settings"],
        dir.path(),
    )
    .env("TUNEBENCH_MAX_STEPS", "7")
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["max_steps"], 7, "{shown}");
    for args in [
        vec!["train", "local", "--config", config],
        vec!["run", config],
    ] {
        for bad in ["ten", "0", "-3"] {
            let out = command(&args, dir.path())
                .env("TUNEBENCH_MAX_STEPS", bad)
                .output()
                .unwrap();
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?} {bad}: {err}");
            assert!(err.contains("TUNEBENCH_MAX_STEPS"), "{args:?} {bad}: {err}");
        }
    }
    assert!(!dir.path().join("runs/pipeline").exists(), "a stage ran");
}

/// `tunebench` with test credentials (for the loopback CloudWatch) and the registry's actor
/// pinned, so the audit trail is checkable.
fn tunebench_as(args: &[&str], cwd: &Path) -> Output {
    command(args, cwd)
        .env("TUNEBENCH_ACTOR", "ci:nightly#42")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run the tunebench binary")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

/// Recorded answers to the 20 questions of [`write_qa_suite`]: the first `right` correct.
fn write_responses(dir: &Path, name: &str, right: usize) {
    let lines: String = (1..=20)
        .map(|i| {
            let answer = if i <= right {
                format!("a{i}")
            } else {
                "?".into()
            };
            format!(
                "{{\"id\":\"L{i}\",\"text\":\"{answer}\",\"input_tokens\":0,\"output_tokens\":0}}\n"
            )
        })
        .collect();
    std::fs::write(dir.join(format!("{name}.jsonl")), lines).unwrap();
    std::fs::write(
        dir.join(format!("{name}.toml")),
        format!("kind = \"responses\"\nname = \"{name}\"\npath = \"{name}.jsonl\"\n"),
    )
    .unwrap();
}

/// A 20-question exact-match suite (`qa.toml` over `qa.jsonl`, ids L1…L20).
fn write_qa_suite(dir: &Path) {
    let lines: String = (1..=20)
        .map(|i| format!("{{\"q\":\"q{i}\",\"a\":\"a{i}\"}}\n"))
        .collect();
    std::fs::write(dir.join("qa.jsonl"), lines).unwrap();
    std::fs::write(
        dir.join("qa.toml"),
        "name = \"qa\"\nversion = \"1\"\ndata = \"qa.jsonl\"\nprompt = \"{{ q }}\"\nreference = \"{{ a }}\"\n[[metrics]]\nkind = \"exact_match\"\n",
    )
    .unwrap();
}

/// The model lifecycle from the command line: versions registered, the first promoted to
/// prod by hand (forced, with a reason), then the nightly run compares `@prod` with
/// `@latest`, promotes the latest to staging when the gate passes, and keeps staging (and
/// prod) when the next version regresses, each night's verdict and scores arriving in the
/// loopback CloudWatch; promotion of the regressed version is refused, rollback restores
/// the previous holder, and the audit names who did what.
#[test]
fn nightly_promotes_on_pass_and_keeps_prod_on_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_qa_suite(d);
    write_responses(d, "v1", 14);
    write_responses(d, "v2", 20);
    write_responses(d, "v3", 4);
    let history = ["--history", "runs/history.sqlite"];
    let register = |name: &str| {
        let args = [
            &[
                "model",
                "register",
                "support-bot",
                "--candidate",
                name,
                "--json",
            ][..],
            &history[..],
        ]
        .concat();
        json(&tunebench_as(&args, d))
    };
    assert_eq!(register("v1.toml")["version"], 1);
    assert_eq!(register("v2.toml")["version"], 2);
    // The same definition again is the same version.
    let again = register("v2.toml");
    assert_eq!(
        (again["version"].as_u64(), again["created"].as_bool()),
        (Some(2), Some(false))
    );

    // Never gated: refused (exit 2), then forced with a reason.
    let promote = |v: &str, extra: &[&str]| {
        let args = [
            &["model", "promote", "support-bot", v, "--to", "prod"][..],
            extra,
            &history[..],
        ]
        .concat();
        tunebench_as(&args, d)
    };
    let refused = promote("1", &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("--force --reason"),
        "{}",
        text(&refused.stderr)
    );
    let forced = promote("1", &["--force", "--reason", "first production model"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert!(
        text(&forced.stdout).contains("promoted support-bot@prod → version 1"),
        "{}",
        text(&forced.stdout)
    );

    let namespace = fresh_namespace("lifecycle");
    std::fs::write(
        d.join("nightly.toml"),
        format!(
            r#"# Run: tunebench run nightly.toml --run-id nightly-1
[run]
runs_dir = "runs"
[registry]
model = "support-bot"
promote_on_pass = "staging"
[eval]
suites = ["qa.toml"]
out_dir = "{{run_dir}}/eval"
[[eval.candidates]]
kind = "registry"
name = "prod"
model = "registry:support-bot@prod"
[[eval.candidates]]
kind = "registry"
name = "latest"
model = "registry:support-bot@latest"
[report]
baseline = "prod"
history = "runs/history.sqlite"
cloudwatch = {{ namespace = "{namespace}", region = "us-east-1", endpoint_url = "{endpoint}" }}
[gate]
history = "runs/history.sqlite"
[[gate.rules]]
candidate = "latest"
metric = "exact_match"
against = "prod"
max_drop = 0.0
require_significant = false
"#,
            endpoint = cloudwatch_endpoint(),
        ),
    )
    .unwrap();
    let cw = cloudwatch_reader();
    let pipeline = [("pipeline", "nightly")];
    let latest = [
        ("pipeline", "nightly"),
        ("suite", "qa"),
        ("candidate", "latest"),
    ];
    let night = |id: &str| tunebench_as(&["run", "nightly.toml", "--run-id", id], d);
    let n1 = night("nightly-1");
    assert!(
        n1.status.success(),
        "{}{}",
        text(&n1.stdout),
        text(&n1.stderr)
    );
    let stdout = text(&n1.stdout);
    assert!(
        stdout.contains("promoted support-bot@staging → version 2"),
        "{stdout}"
    );
    let report = std::fs::read_to_string(d.join("runs/nightly-1/report/report.md")).unwrap();
    let row = |cells: &[&str]| {
        report
            .lines()
            .any(|l| cells.iter().all(|c| l.contains(&format!("| {c} "))))
    };
    assert!(report.contains("## Models from the registry"), "{report}");
    assert!(
        row(&["prod", "support-bot@prod", "support-bot@1"]),
        "{report}"
    );
    assert!(
        row(&["latest", "support-bot@latest", "support-bot@2"]),
        "{report}"
    );
    assert_eq!(
        read_back(&cw, &namespace, &["gate_passed", "score"], &pipeline)[0],
        Some(vec![1.0])
    );
    assert_eq!(
        read_back(&cw, &namespace, &["score"], &latest)[0],
        Some(vec![1.0])
    );

    register("v3.toml");
    let n2 = night("nightly-2");
    assert_eq!(
        n2.status.code(),
        Some(3),
        "{}{}",
        text(&n2.stdout),
        text(&n2.stderr)
    );
    let stdout = text(&n2.stdout);
    assert!(
        stdout.contains(
            "the gate failed: support-bot@3 is not promoted; `staging` stays at support-bot@2"
        ),
        "{stdout}"
    );
    // Night 2 in CloudWatch: one failed check. GetMetricData lists the newest minute first:
    // when both nights fall in one minute, its maximum is night 2's; when they straddle a
    // minute boundary, night 1's passing gate (0 failed checks) follows.
    let failed = read_back(&cw, &namespace, &["gate_failed_checks"], &pipeline)[0]
        .clone()
        .unwrap_or_default();
    assert!(failed == [1.0] || failed == [1.0, 0.0], "{failed:?}");
    assert_eq!(cloudwatch().invalid_requests(), Vec::<String>::new());
    let list = json(&tunebench_as(
        &[&["model", "list", "--json"][..], &history[..]].concat(),
        d,
    ));
    assert_eq!(
        list[0]["aliases"],
        serde_json::json!([["prod", 1], ["staging", 2]]),
        "{list}"
    );

    // The regressed version cannot be promoted; the one that passed can.
    let refused = promote("3", &[]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("says `regression`"),
        "{}",
        text(&refused.stderr)
    );
    assert!(promote("2", &[]).status.success());
    let rollback = tunebench_as(
        &[
            &[
                "model",
                "rollback",
                "support-bot",
                "--alias",
                "prod",
                "--reason",
                "tickets misrouted",
            ][..],
            &history[..],
        ]
        .concat(),
        d,
    );
    assert!(rollback.status.success(), "{}", text(&rollback.stderr));
    assert!(
        text(&rollback.stdout).contains("rolled back support-bot@prod → version 1 (was 2)"),
        "{}",
        text(&rollback.stdout)
    );

    let shown = json(&tunebench_as(
        &[
            &["model", "show", "support-bot@2", "--json"][..],
            &history[..],
        ]
        .concat(),
        d,
    ));
    let v = &shown["version"];
    assert_eq!(v["gate"], "pass", "{shown}");
    assert_eq!(v["aliases"], serde_json::json!(["staging"]));
    let evals = v["evaluations"].as_array().unwrap();
    // Night 1 as `latest` (checked, passed); night 2 as `prod`'s rival is not v2.
    assert_eq!(evals.len(), 1, "{shown}");
    assert_eq!(
        (evals[0]["run_id"].as_str(), evals[0]["score"].as_f64()),
        (Some("nightly-1"), Some(1.0))
    );
    let audit: Vec<String> = shown["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {}",
                a["who"].as_str().unwrap(),
                a["action"].as_str().unwrap(),
                a["alias"],
                a["version"]
            )
        })
        .collect();
    assert_eq!(
        audit,
        [
            "ci:nightly#42 register null 1",
            "ci:nightly#42 register null 2",
            "ci:nightly#42 promote \"prod\" 1",
            "ci:nightly#42 promote \"staging\" 2",
            "ci:nightly#42 register null 3",
            "ci:nightly#42 promote \"prod\" 2",
            "ci:nightly#42 rollback \"prod\" 1",
        ]
    );
    assert_eq!(shown["audit"][2]["reason"], "first production model");
    assert_eq!(shown["audit"][2]["forced"], true);
}

/// `tunebench run` with `[registry] model` registers the adapter it trains, with its
/// lineage; the eval's local candidate that is that adapter gets its results recorded; a
/// `registry:` candidate calls the version; a rerun registers nothing new.
#[test]
fn run_registers_what_it_trains_with_lineage() {
    let dir = tempfile::tempdir().unwrap();
    let standin = OpenAiStandin::start(OpenAiConfig::default()).unwrap();
    let config = setup(dir.path(), standin.base_url());
    let mut text_cfg = std::fs::read_to_string(&config).unwrap();
    text_cfg.push_str("\n[registry]\nmodel = \"b77\"\n");
    std::fs::write(&config, &text_cfg).unwrap();
    let cfg = config.to_str().unwrap();
    let out = tunebench_as(&["run", cfg], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("registered b77@1"), "{stdout}");
    assert!(
        stdout.contains("registry: results recorded for b77@1"),
        "{stdout}"
    );
    let history = ["--history", "runs/history.sqlite"];
    let shown = json(&tunebench_as(
        &[&["model", "show", "b77", "--json"][..], &history[..]].concat(),
        dir.path(),
    ));
    let v = &shown["version"];
    let l = &v["lineage"];
    assert_eq!(l["run_id"], "pipeline", "{shown}");
    assert_eq!(l["training"]["steps"], 3, "{shown}");
    let manifest = manifest(dir.path());
    assert_eq!(l["config_sha256"], manifest["config_sha256"], "{shown}");
    assert_eq!(
        l["data_manifest_sha256"].as_str().map(str::len),
        Some(64),
        "{shown}"
    );
    assert!(
        l["base_model"]
            .as_str()
            .unwrap()
            .ends_with("fixtures/tiny-llama/model"),
        "{shown}"
    );
    assert_eq!(v["artifact"]["kind"], "local");
    let evals = v["evaluations"].as_array().unwrap();
    assert_eq!(evals.len(), 1, "{shown}");
    assert_eq!(evals[0]["candidate"], "tuned");
    // The gate checked only `api`: no verdict on the adapter.
    assert!(v["gate"].is_null(), "{shown}");

    // The registered adapter as a `registry:` candidate, in a second eval-only run.
    std::fs::write(
        dir.path().join("again.toml"),
        "# Run: tunebench run again.toml\n[run]\nruns_dir = \"runs\"\n[eval]\nsuites = [\"suite.toml\"]\nout_dir = \"{run_dir}/eval\"\ncache = \"runs/response-cache.sqlite\"\n[[eval.candidates]]\nkind = \"registry\"\nname = \"v1\"\nmodel = \"registry:b77@1\"\n[report]\nhistory = \"runs/history.sqlite\"\n"
    )
    .unwrap();
    let out = tunebench_as(&["run", "again.toml"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // Answers come from the cache the first run filled: the same model, the same identity.
    assert!(stdout.contains("v1: 0 answered, 32 from cache"), "{stdout}");
    let registry_json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("runs/again/eval/registry.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(registry_json[0]["version"], 1, "{registry_json}");

    // Unchanged inputs: train is reused and nothing is registered again.
    let out = tunebench_as(&["run", cfg], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("registered b77"),
        "{}",
        text(&out.stdout)
    );
    let list = json(&tunebench_as(
        &[&["model", "list", "b77", "--json"][..], &history[..]].concat(),
        dir.path(),
    ));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
}

/// The loopback CloudWatch stand-in every test of this binary shares (each uses its own
/// namespace); it validates what it is sent against botocore's CloudWatch model.
fn cloudwatch() -> &'static tunebench_standins::cloudwatch::CloudWatchStandin {
    static STANDIN: std::sync::OnceLock<tunebench_standins::cloudwatch::CloudWatchStandin> =
        std::sync::OnceLock::new();
    STANDIN.get_or_init(|| tunebench_standins::cloudwatch::CloudWatchStandin::start().unwrap())
}

fn cloudwatch_endpoint() -> String {
    cloudwatch().endpoint_url().to_owned()
}

/// A namespace no other test (or earlier test run on the same server) uses.
fn fresh_namespace(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("tunebench-test/{test}/{}-{nanos}", std::process::id())
}

/// A client of the loopback CloudWatch, to read back what tunebench sent.
fn cloudwatch_reader() -> tunebench_aws::CloudWatch {
    let settings = tunebench_aws::AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(cloudwatch_endpoint()),
        ..tunebench_aws::AwsSettings::default()
    };
    tunebench_aws::CloudWatch::connect(&settings, &tunebench_aws::BedrockOptions::default())
        .unwrap()
}

/// An eval-only run of recorded responses on the two-example math suite, with
/// `[report] cloudwatch` in `namespace` on the loopback server: `good` answers both (100 and
/// 300 ms, a cent each), `bad` answers one wrongly (50 ms) and errors on the other. The
/// gate wants `good`'s exact match to be at least `min`.
fn cloudwatch_run_config(dir: &Path, namespace: &str, min: f64) -> PathBuf {
    common::write_math_suite(dir);
    std::fs::write(
        dir.join("good.jsonl"),
        "{\"id\":\"L1\",\"text\":\"4\",\"latency_ms\":100,\"cost_usd\":0.01}\n{\"id\":\"L2\",\"text\":\"6\",\"latency_ms\":300,\"cost_usd\":0.01}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("bad.jsonl"),
        "{\"id\":\"L1\",\"text\":\"5\",\"latency_ms\":50}\n{\"id\":\"L2\",\"error\":\"timeout\"}\n",
    )
    .unwrap();
    let config = dir.join("metrics.toml");
    std::fs::write(
        &config,
        format!(
            r#"# Run: tunebench run metrics.toml
[run]
runs_dir = "runs"
[eval]
suites = ["s.toml"]
out_dir = "{{run_dir}}/eval"
[[eval.candidates]]
kind = "responses"
name = "good"
path = "good.jsonl"
[[eval.candidates]]
kind = "responses"
name = "bad"
path = "bad.jsonl"
[report]
cloudwatch = {{ namespace = "{namespace}", region = "us-east-1", endpoint_url = "{endpoint}" }}
[gate]
[[gate.rules]]
candidate = "good"
metric = "exact_match"
min = {min:?}
"#,
            endpoint = cloudwatch_endpoint(),
        ),
    )
    .unwrap();
    config
}

/// The value of each metric of `namespace` with exactly `dims`, read with GetMetricData (the
/// maximum per minute around now); `None` for a metric without data.
fn read_back(
    cw: &tunebench_aws::CloudWatch,
    namespace: &str,
    metrics: &[&str],
    dims: &[(&str, &str)],
) -> Vec<Option<Vec<f64>>> {
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut call = cw
        .sdk()
        .get_metric_data()
        .start_time(DateTime::from_secs(now - 3600))
        .end_time(DateTime::from_secs(now + 3600));
    for (i, name) in metrics.iter().enumerate() {
        let metric = Metric::builder()
            .namespace(namespace)
            .metric_name(*name)
            .set_dimensions(Some(
                dims.iter()
                    .map(|(n, v)| Dimension::builder().name(*n).value(*v).build())
                    .collect(),
            ))
            .build();
        call = call.metric_data_queries(
            MetricDataQuery::builder()
                .id(format!("m{i}"))
                .metric_stat(
                    MetricStat::builder()
                        .metric(metric)
                        .period(60)
                        .stat("Maximum")
                        .build(),
                )
                .build(),
        );
    }
    let out = cw.block_on(call.send()).unwrap();
    (0..metrics.len())
        .map(|i| {
            let id = format!("m{i}");
            out.metric_data_results()
                .iter()
                .find(|r| r.id() == Some(id.as_str()))
                .map(|r| r.values().to_vec())
                .filter(|v| !v.is_empty())
        })
        .collect()
}

/// Metric names in `namespace` (ListMetrics).
fn listed(cw: &tunebench_aws::CloudWatch, namespace: &str) -> Vec<String> {
    let out = cw
        .block_on(cw.sdk().list_metrics().namespace(namespace).send())
        .unwrap();
    out.metrics()
        .iter()
        .filter_map(|m| m.metric_name().map(str::to_owned))
        .collect()
}

/// `tunebench run` with `[report] cloudwatch`: after the report and a gate that finds a
/// regression, the run's metrics and the verdict arrive in the loopback CloudWatch (read back
/// with GetMetricData, equal to summary.json), one audit line says so, and the run still
/// exits 3.
#[test]
fn run_publishes_its_metrics_and_a_failed_gate_to_cloudwatch_then_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let namespace = fresh_namespace("run");
    let config = cloudwatch_run_config(dir.path(), &namespace, 2.0);
    let out = run_with_test_credentials(&["run", config.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "cloudwatch: 14 datums sent to namespace {namespace} in 1 PutMetricData call(s)"
        )),
        "{stdout}"
    );

    let run = dir.path().join("runs/metrics");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("report/summary.json")).unwrap()).unwrap();
    let cw = cloudwatch_reader();
    let suite = &summary["suites"][0];
    assert_eq!(suite["suite"], "math");
    for c in suite["candidates"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let got = read_back(
            &cw,
            &namespace,
            &[
                "score",
                "exact_match",
                "cost_usd",
                "latency_p50_ms",
                "latency_p95_ms",
                "errors",
            ],
            &[
                ("pipeline", "metrics"),
                ("suite", "math"),
                ("candidate", name),
            ],
        );
        let one = |v: &serde_json::Value| v.as_f64().map(|x| vec![x]);
        let exact_match = c["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "exact_match")
            .unwrap();
        let want = vec![
            one(&c["score"]["value"]),
            one(&exact_match["value"]),
            one(&c["cost_usd"]),
            one(&c["latency_p50_ms"]),
            one(&c["latency_p95_ms"]),
            one(&c["errors"]),
        ];
        assert_eq!(got, want, "{name}: {c:#}");
    }
    // The values this test is about, in case summary.json itself went wrong.
    let good = &suite["candidates"][0];
    assert_eq!(
        (good["name"].as_str(), good["score"]["value"].as_f64()),
        (Some("good"), Some(1.0))
    );
    assert!(good["latency_p50_ms"].as_f64().is_some());
    assert_eq!(suite["candidates"][1]["errors"], 1);
    assert_eq!(suite["candidates"][1]["latency_p50_ms"], 50.0);
    let gate = read_back(
        &cw,
        &namespace,
        &["gate_passed", "gate_failed_checks"],
        &[("pipeline", "metrics")],
    );
    assert_eq!(gate, vec![Some(vec![0.0]), Some(vec![1.0])]);

    // One audit line for the one call: namespace and datum count, no value.
    let audit = std::fs::read_to_string(run.join("aws-audit.jsonl")).unwrap();
    let calls: Vec<serde_json::Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["service"] == "cloudwatch")
        .collect();
    assert_eq!(calls.len(), 1, "{audit}");
    assert_eq!(calls[0]["operation"], "PutMetricData");
    assert_eq!(calls[0]["outcome"], "ok");
    assert_eq!(
        calls[0]["resources"],
        serde_json::json!({ "namespace": namespace, "datums": "14" })
    );
}

/// `--cloudwatch-dry-run` prints the exact payload (the run's time, the verdict) and sends
/// nothing: ListMetrics finds nothing in the namespace, until `tunebench report` sends the
/// run's metrics (without the gate's, which only `run` has).
#[test]
fn cloudwatch_dry_run_prints_the_payload_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let namespace = fresh_namespace("dry-run");
    let config = cloudwatch_run_config(dir.path(), &namespace, 0.5);
    let cfg = config.to_str().unwrap();
    let out =
        run_with_test_credentials(&["run", cfg, "--quiet", "--cloudwatch-dry-run"], dir.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let payload: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    let calls = payload.as_array().unwrap();
    assert_eq!(calls.len(), 1, "{payload:#}");
    assert_eq!(calls[0]["Namespace"], namespace.as_str());
    let data = calls[0]["MetricData"].as_array().unwrap();
    assert_eq!(data.len(), 14, "{payload:#}");
    let started: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("runs/metrics/run.json")).unwrap())
            .unwrap();
    assert!(
        data.iter().all(|d| d["Timestamp"] == started["started"]),
        "{payload:#}"
    );
    let passed = data
        .iter()
        .find(|d| d["MetricName"] == "gate_passed")
        .unwrap();
    assert_eq!(
        passed,
        &serde_json::json!({
            "MetricName": "gate_passed",
            "Dimensions": [{ "Name": "pipeline", "Value": "metrics" }],
            "Value": 1.0,
            "Unit": "None",
            "Timestamp": started["started"],
        })
    );
    let cw = cloudwatch_reader();
    assert_eq!(listed(&cw, &namespace), Vec::<String>::new());
    let audit = std::fs::read_to_string(dir.path().join("runs/metrics/aws-audit.jsonl"))
        .unwrap_or_default();
    assert!(!audit.contains("cloudwatch"), "{audit}");

    // `report --cloudwatch-dry-run` shows the run's metrics without a verdict; `report` sends
    // them.
    let report = ["report", "--config", cfg, "--quiet"];
    let dry = run_with_test_credentials(
        &[&report[..], &["--cloudwatch-dry-run"][..]].concat(),
        dir.path(),
    );
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let payload: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    let names: Vec<&str> = payload[0]["MetricData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["MetricName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 12, "{names:?}");
    assert!(!names.iter().any(|n| n.starts_with("gate_")), "{names:?}");
    assert_eq!(listed(&cw, &namespace), Vec::<String>::new());
    let sent = run_with_test_credentials(&report, dir.path());
    assert!(sent.status.success(), "{}", text(&sent.stderr));
    let mut names = listed(&cw, &namespace);
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            "cost_usd",
            "errors",
            "exact_match",
            "latency_p50_ms",
            "latency_p95_ms",
            "score"
        ]
    );
    // Its audit line is beside the report it sent.
    let audit =
        std::fs::read_to_string(dir.path().join("runs/metrics/report/aws-audit.jsonl")).unwrap();
    assert!(audit.contains("\"PutMetricData\""), "{audit}");

    // A dry run without [report] cloudwatch has nothing to show: a config error.
    let plain = dir.path().join("plain.toml");
    std::fs::write(
        &plain,
        std::fs::read_to_string(&config)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("cloudwatch ="))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let refused = run_with_test_credentials(
        &["run", plain.to_str().unwrap(), "--cloudwatch-dry-run"],
        dir.path(),
    );
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("no [report] cloudwatch"),
        "{}",
        text(&refused.stderr)
    );
}
