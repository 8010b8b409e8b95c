//! `tunebench run` in-process: a run of recorded responses through eval → report → gate,
//! seen through the [`RunUi`] a caller gives it, then run again with its eval reused; its
//! CloudWatch payload after a regression; and `TUNEBENCH_*` overrides acting on a run's
//! stages as on the single commands.

// Helpers here panic on anything unexpected: a panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use tunebench_pipeline::cloudwatch::{Mode, Published};
use tunebench_pipeline::load;
use tunebench_pipeline::overrides::{Overrides, TrainOverrides};
use tunebench_pipeline::run::{self, Finished, RunUi, Selection};

/// Records what a run shows.
#[derive(Default)]
struct Seen {
    lines: Mutex<Vec<String>>,
    finished: Mutex<Vec<String>>,
}

impl RunUi for Seen {
    fn say(&self, line: &str) {
        self.lines.lock().unwrap().push(line.to_owned());
    }
    fn data_progress(&self) -> &dyn tunebench_datasets::Progress {
        &tunebench_datasets::NoProgress
    }
    fn train_progress(&self) -> &dyn tunebench_train::Progress {
        &tunebench_train::NoProgress
    }
    fn eval_progress(&self) -> &dyn tunebench_eval::runner::RunProgress {
        &tunebench_eval::runner::NoProgress
    }
    fn bedrock_status(&self, _: &tunebench_aws::CustomizationJob) {}
    fn finished(&self, what: Finished<'_>) -> std::io::Result<()> {
        let name = match what {
            Finished::Data(_) => "data".to_owned(),
            Finished::Train(..) => "train".to_owned(),
            Finished::Eval(_) => "eval".to_owned(),
            Finished::Report(w) => {
                assert!(w.markdown.is_file());
                "report".to_owned()
            }
            Finished::Gate(g) => format!("gate passed={}", g.passed),
            Finished::Registered(r) => format!("registered {}", r.len()),
            Finished::Recorded(r) => format!("recorded {}", r.evaluated.join(",")),
            Finished::CloudWatch(Published::DryRun(calls)) => {
                let data: Vec<_> = calls.iter().flat_map(|c| &c.metric_data).collect();
                let gate: Vec<String> = data
                    .iter()
                    .filter(|d| d.metric_name.starts_with("gate_"))
                    .map(|d| format!("{}={}", d.metric_name, d.value))
                    .collect();
                format!(
                    "cloudwatch dry run: {} datums, {}",
                    data.len(),
                    gate.join(" ")
                )
            }
            Finished::CloudWatch(sent) => format!("cloudwatch {sent:?}"),
        };
        self.finished.lock().unwrap().push(name);
        Ok(())
    }
}

/// A suite of three questions and two candidates' recorded answers: `good` answers all
/// three right, `bad` one of three.
fn setup(dir: &Path, gate_min: f64) -> std::path::PathBuf {
    let q = [
        ("q1", "2+2?", "4"),
        ("q2", "3+3?", "6"),
        ("q3", "1+1?", "2"),
    ];
    let data: String = q
        .iter()
        .map(|(id, question, answer)| {
            format!("{{\"id\":\"{id}\",\"question\":\"{question}\",\"answer\":\"{answer}\"}}\n")
        })
        .collect();
    std::fs::write(dir.join("data.jsonl"), data).unwrap();
    std::fs::write(
        dir.join("suite.toml"),
        "name = \"sums\"\nversion = \"1\"\ndata = \"data.jsonl\"\nid_field = \"id\"\nprompt = \"{{ question }}\"\nreference = \"{{ answer }}\"\n[extract]\nkind = \"first_line\"\n[[metrics]]\nkind = \"accuracy\"\n",
    )
    .unwrap();
    for (name, answers) in [("good", ["4", "6", "2"]), ("bad", ["4", "5", "3"])] {
        let lines: String = q
            .iter()
            .zip(answers)
            .map(|((id, _, _), a)| format!("{{\"id\":\"{id}\",\"text\":\"{a}\"}}\n"))
            .collect();
        std::fs::write(dir.join(format!("{name}.jsonl")), lines).unwrap();
    }
    let config = dir.join("nightly.toml");
    std::fs::write(
        &config,
        format!(
            "[run]\nruns_dir = \"runs\"\n\n[eval]\nsuites = [\"suite.toml\"]\nout_dir = \"{{run_dir}}/eval\"\n[[eval.candidates]]\nkind = \"responses\"\nname = \"good\"\npath = \"good.jsonl\"\n[[eval.candidates]]\nkind = \"responses\"\nname = \"bad\"\npath = \"bad.jsonl\"\n\n[report]\nbaseline = \"bad\"\n\n[gate]\n[[gate.rules]]\ncandidate = \"good\"\nmetric = \"accuracy\"\nmin = {gate_min}\n"
        ),
    )
    .unwrap();
    config
}

#[test]
fn a_run_goes_through_its_stages_in_process_then_reuses_its_eval() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), 0.9);
    let loaded = load(&config, None).unwrap();
    assert_eq!(
        run::plan(&loaded).unwrap(),
        [
            tunebench_pipeline::Stage::Eval,
            tunebench_pipeline::Stage::Report,
            tunebench_pipeline::Stage::Gate
        ]
    );
    let stop = AtomicBool::new(false);
    let seen = Seen::default();
    run::run(&loaded, Selection::default(), Mode::Send, &stop, &seen).unwrap();
    assert_eq!(
        *seen.finished.lock().unwrap(),
        ["eval", "report", "gate passed=true"]
    );
    let run_dir = dir.path().join("runs/nightly");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    let statuses: Vec<&str> = manifest["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["done", "done", "done"]);
    assert!(run_dir.join("eval/sums/comparison.json").is_file());
    assert!(run_dir.join("report/gate-junit.xml").is_file());

    // Nothing changed: the eval is reused, the report and gate run again.
    let again = Seen::default();
    run::run(&loaded, Selection::default(), Mode::Send, &stop, &again).unwrap();
    assert_eq!(
        *again.finished.lock().unwrap(),
        ["report", "gate passed=true"]
    );
    assert!(
        again
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l == "eval: inputs unchanged, reusing its outputs"),
        "{:?}",
        again.lines.lock().unwrap()
    );
}

#[test]
fn a_failing_gate_is_a_regression_with_exit_code_3() {
    let dir = tempfile::tempdir().unwrap();
    // `good` scores 1.0; no candidate reaches 1.5.
    let config = setup(dir.path(), 1.5);
    let loaded = load(&config, None).unwrap();
    let seen = Seen::default();
    let err = run::run(
        &loaded,
        Selection::default(),
        Mode::Send,
        &AtomicBool::new(false),
        &seen,
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    assert_eq!(
        seen.finished.lock().unwrap().last().map(String::as_str),
        Some("gate passed=false")
    );
}

/// With `[report] cloudwatch`, a regression does not stop the metrics: they follow the gate
/// (here as a dry run's payload, the verdict in it), then the run fails with exit code 3.
#[test]
fn a_regression_still_publishes_its_metrics_then_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), 1.5);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "baseline = \"bad\"\n",
            "baseline = \"bad\"\ncloudwatch = { namespace = \"tunebench\" }\n",
        ),
    )
    .unwrap();
    let loaded = load(&config, None).unwrap();
    let seen = Seen::default();
    let err = run::run(
        &loaded,
        Selection::default(),
        Mode::DryRun,
        &AtomicBool::new(false),
        &seen,
    )
    .unwrap_err();
    assert_eq!(err.exit_code(), 3, "{err}");
    // Two candidates × (score, accuracy, cost_usd, errors; no latency: none was recorded)
    // + the verdict.
    assert_eq!(
        *seen.finished.lock().unwrap(),
        [
            "eval",
            "report",
            "gate passed=false",
            "cloudwatch dry run: 10 datums, gate_passed=0 gate_failed_checks=1"
        ]
    );
}

/// What `TUNEBENCH_TRAIN_OUT_DIR` (or `--out`) does to `train local` it does to a run's
/// train stage: here it moves the output out of the run folder, which a run refuses before
/// any stage, naming the setting.
#[test]
fn overrides_act_on_a_runs_stages() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[train.local]\nname = \"lora\"\nbase_model = \"m\"\ntrain_file = \"t.jsonl\"\nout_dir = \"{run_dir}/train/lora\"\ndevice = \"cpu\"\n",
    )
    .unwrap();
    let mut loaded = load(&config, Some("r1")).unwrap();
    run::plan(&loaded).unwrap();
    loaded
        .apply(&Overrides {
            train: TrainOverrides {
                out_dir: Some(dir.path().join("elsewhere")),
                device: Some("tch-cpu".into()),
                ..TrainOverrides::default()
            },
            ..Overrides::default()
        })
        .unwrap();
    let local = loaded.raw.train.as_ref().unwrap().local.as_ref().unwrap();
    assert_eq!(local.device, "tch-cpu");
    let err = run::plan(&loaded).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    let msg = err.to_string();
    assert!(
        msg.contains("[train.local] out_dir") && msg.contains("elsewhere"),
        "{msg}"
    );
}
