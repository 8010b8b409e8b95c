//! Local graders (reward functions) through the Lambda batch contract: the shipped GSM8K
//! reward run unchanged through the Python shim on recorded GSM8K responses, a plain
//! command, and graders that crash on one sample, time out, answer malformed grades or give
//! a constant reward.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tunebench_scoring::grader::{GraderSettings, RewardStats, Sample, Turn};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn user(text: &str) -> Vec<Turn> {
    vec![Turn {
        role: "user".into(),
        content: text.into(),
    }]
}

fn command(name: &str, python: &str, timeout_s: f64, batch_size: usize) -> GraderSettings {
    toml::from_str::<GraderSettings>(&format!(
        "name = {name:?}\ncommand = [\"python3\", \"-c\", {python:?}]\ntimeout_s = {timeout_s:?}\nbatch_size = {batch_size}"
    ))
    .unwrap()
    .resolve(&repo())
    .unwrap()
}

/// Samples answered with `answers`, ids `s0`, `s1`, ...
fn samples(answers: &[&str]) -> Vec<Sample> {
    answers
        .iter()
        .enumerate()
        .map(|(i, a)| Sample::new(format!("s{i}"), user("q"), a, json!(null)))
        .collect()
}

/// The first 10 GSM8K test problems with the recorded responses to them.
fn gsm8k_samples() -> Vec<Sample> {
    let root = repo();
    let problems: Vec<Value> = std::fs::read_to_string(root.join("data/gsm8k/test.jsonl"))
        .unwrap()
        .lines()
        .take(10)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let responses: Vec<Value> =
        std::fs::read_to_string(root.join("configs/responses/gsm8k-test-first10.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    problems
        .iter()
        .zip(&responses)
        .map(|(p, r)| {
            Sample::new(
                r["id"].as_str().unwrap(),
                user(p["question"].as_str().unwrap()),
                r["text"].as_str().unwrap(),
                json!({ "answer": p["answer"] }),
            )
        })
        .collect()
}

#[test]
fn the_shipped_gsm8k_reward_runs_unchanged_on_recorded_responses() {
    let grader = toml::from_str::<GraderSettings>(
        "name = \"gsm8k\"\nlambda = \"configs/graders/gsm8k_reward.py\"\nbatch_size = 4",
    )
    .unwrap()
    .resolve(&repo())
    .unwrap();
    let samples = gsm8k_samples();
    let graded = grader.grade(&samples);
    // Three of the recorded answers end with a wrong `#### N` (problems 3, 6 and 9): they
    // keep the format reward; the others are rewarded in full.
    let rewards: Vec<f64> = graded
        .iter()
        .map(|g| g.as_ref().unwrap().aggregate_reward_score)
        .collect();
    assert_eq!(rewards, [1.0, 1.0, 0.2, 1.0, 1.0, 0.2, 1.0, 1.0, 0.2, 1.0]);
    let first = graded[0].as_ref().unwrap();
    assert_eq!(first.metrics_list[0].kind, "Reward");
    assert_eq!(first.metrics_list[1].name, "format");
    let stats = RewardStats::of(&graded);
    assert!((stats.mean - 0.76).abs() < 1e-12, "{stats:?}");
    assert!((stats.share_at_max - 0.7).abs() < 1e-12, "{stats:?}");
    assert!(stats.problems(0.95).is_empty(), "{stats:?}");

    // Without `####` nothing is rewarded: a constant reward, which a job cannot learn from.
    let mut stripped = samples.clone();
    for s in &mut stripped {
        let answer = &mut s.messages.last_mut().unwrap().content;
        *answer = answer.replace("####", "The answer is");
    }
    let stats = RewardStats::of(&grader.grade(&stripped));
    assert_eq!((stats.mean, stats.std, stats.errors), (0.0, 0.0, 0));
    let problems = stats.problems(0.95);
    assert!(problems[0].contains("every reward is 0"), "{problems:?}");
}

/// A plain command: reward = answer length / 10 + the sample's `bonus` field.
const LENGTH: &str = "import json, sys\nprint(json.dumps([{'id': s['id'], 'aggregate_reward_score': len(s['messages'][-1]['content']) / 10 + s.get('bonus', 0), 'metrics_list': [{'name': 'length', 'value': len(s['messages'][-1]['content']), 'type': 'Metric'}]} for s in json.load(sys.stdin)]))";

#[test]
fn a_plain_command_speaks_the_same_contract() {
    let grader = command("length", LENGTH, 30.0, 2);
    let mut samples = samples(&["a", "bb", "ccc"]);
    samples[2].extra.insert("bonus".into(), json!(1.0));
    let graded = grader.grade(&samples);
    let rewards: Vec<f64> = graded
        .iter()
        .map(|g| g.as_ref().unwrap().aggregate_reward_score)
        .collect();
    assert_eq!(rewards, [0.1, 0.2, 1.3]);
    assert_eq!(graded[1].as_ref().unwrap().metrics_list[0].value, 2.0);
}

#[test]
fn the_sample_that_crashes_or_stalls_the_grader_is_the_one_reported() {
    let flaky = "import json, sys, time\nout = []\nfor s in json.load(sys.stdin):\n    a = s['messages'][-1]['content']\n    if a == 'boom': raise ValueError('cannot grade ' + a)\n    if a == 'slow': time.sleep(30)\n    out.append({'id': s['id'], 'aggregate_reward_score': 0.5, 'metrics_list': []})\nprint(json.dumps(out))";
    let grader = command("flaky", flaky, 2.0, 8);
    let graded = grader.grade(&samples(&["ok", "boom", "ok", "slow", "ok"]));
    assert_eq!(graded.len(), 5);
    for i in [0, 2, 4] {
        assert_eq!(graded[i].as_ref().unwrap().aggregate_reward_score, 0.5);
    }
    let crash = graded[1].as_ref().unwrap_err();
    assert!(crash.contains("ValueError: cannot grade boom"), "{crash}");
    let stall = graded[3].as_ref().unwrap_err();
    assert!(stall.contains("timed out after 2 s"), "{stall}");
    let stats = RewardStats::of(&graded);
    assert_eq!((stats.n, stats.errors), (5, 2));
}

#[test]
fn malformed_and_missing_grades_are_reported_by_sample() {
    let sloppy = "import json, sys\nout = []\nfor s in json.load(sys.stdin):\n    a = s['messages'][-1]['content']\n    if a == 'skip': continue\n    score = 'high' if a == 'text' else 1.0\n    kind = 'Bonus' if a == 'kind' else 'Reward'\n    out.append({'id': s['id'], 'aggregate_reward_score': score, 'metrics_list': [{'name': 'm', 'value': 1, 'type': kind}]})\nprint(json.dumps(out))";
    let grader = command("sloppy", sloppy, 30.0, 16);
    let graded = grader.grade(&samples(&["good", "text", "skip", "kind"]));
    assert!(graded[0].is_ok());
    let errors: Vec<String> = graded[1..].iter().map(|g| g.clone().unwrap_err()).collect();
    assert!(errors[0].starts_with("malformed grade"), "{errors:?}");
    assert_eq!(errors[1], "the grader returned no grade for this sample");
    assert!(
        errors[2].contains("type must be \"Reward\" or \"Metric\""),
        "{errors:?}"
    );
    let stats = RewardStats::of(&graded);
    assert!(
        stats.problems(0.95)[0].contains("3 of 4 samples have no grade"),
        "{stats:?}"
    );
}

#[test]
fn a_grader_is_a_command_or_a_lambda_file() {
    let err = |text: &str| {
        toml::from_str::<GraderSettings>(text)
            .unwrap()
            .resolve(&repo())
            .unwrap_err()
            .to_string()
    };
    assert!(err("name = \"g\"").contains("exactly one of `command`"));
    assert!(
        err("name = \"g\"\ncommand = [\"x\"]\nlambda = \"configs/graders/gsm8k_reward.py\"")
            .contains("exactly one of")
    );
    assert!(err("name = \"g\"\nlambda = \"nope.py\"").contains("nope.py is not a file"));
    assert!(err("name = \"g\"\ncommand = []").contains("command is empty"));
}
