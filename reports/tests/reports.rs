//! Reports, history and the gate on runs made through the eval crate's own scoring and
//! output code (so the files are exactly what `tunebench eval` writes).

// Helpers here panic on anything unexpected: a panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use tunebench_reports::gate::{GateSettings, Rule, check, validate};
use tunebench_reports::history::{GateOutcome, History};
use tunebench_reports::load::load_run;
use tunebench_reports::render::{ReportSettings, build, write};
use tunebench_reports::summary::summarize;
use tunebench_reports::{html, markdown};
use tunebench_scoring::compare::compare;
use tunebench_scoring::output::{write_candidate, write_comparison};
use tunebench_scoring::score::{ScoreOptions, score};
use tunebench_scoring::suite::Suite;
use tunebench_scoring::types::ResponseRecord;

const N: usize = 40;
const LABELS: [&str; 4] = ["card_arrival", "lost_card", "top_up", "refund"];

fn label(i: usize) -> &'static str {
    LABELS[i % LABELS.len()]
}

/// A suite of `N` intent examples, ids `q0`..`q39`.
fn suite(dir: &Path) -> Suite {
    let mut data = String::new();
    for i in 0..N {
        data.push_str(&format!(
            "{}\n",
            serde_json::json!({"id": format!("q{i}"), "prompt": format!("query {i}"), "completion": label(i)})
        ));
    }
    std::fs::write(dir.join("intents.jsonl"), data).unwrap();
    std::fs::write(
        dir.join("intents.toml"),
        "name = \"intents\"\nversion = \"2\"\ndata = \"intents.jsonl\"\nid_field = \"id\"\nreference = \"{{ completion }}\"\n[extract]\nkind = \"first_line\"\n[[metrics]]\nkind = \"accuracy\"\n",
    )
    .unwrap();
    Suite::load(dir.join("intents.toml")).unwrap()
}

/// Responses right on every example except those in `wrong`, at `cost` dollars each.
fn responses(wrong: &[usize], cost: f64, latency: f64) -> Vec<ResponseRecord> {
    (0..N)
        .map(|i| ResponseRecord {
            id: format!("q{i}"),
            text: if wrong.contains(&i) {
                "unknown".into()
            } else {
                label(i).into()
            },
            input_tokens: 10,
            output_tokens: 2,
            latency_ms: latency + i as f64,
            cost_usd: cost,
            cached: false,
            error: None,
            ..ResponseRecord::default()
        })
        .collect()
}

/// Writes a run folder `<root>/<id>` with candidates (name, wrong ids, cost per answer) and
/// a training job's metrics.csv.
fn make_run(root: &Path, id: &str, candidates: &[(&str, Vec<usize>, f64)]) -> PathBuf {
    let run = root.join(id);
    let suite = suite(root);
    let eval = run.join("eval");
    let scored: Vec<_> = candidates
        .iter()
        .enumerate()
        .map(|(k, (name, wrong, cost))| {
            let r = responses(wrong, *cost, 100.0 * (k + 1) as f64);
            let s = score(&suite, &r, &ScoreOptions::new(*name)).unwrap();
            write_candidate(&eval, &r, &s).unwrap();
            s
        })
        .collect();
    write_comparison(&eval, &compare(&suite, &scored)).unwrap();
    let job = run.join("train").join("lora");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::write(
        job.join("metrics.csv"),
        "step,epoch,train_loss,val_loss,lr\n1,0.1,2.0,,0.01\n2,0.2,1.5,1.7,0.01\n3,0.3,1.2,,0.01\n4,0.4,1.0,1.3,0.01\n",
    )
    .unwrap();
    run
}

fn all_but(n_wrong: usize) -> Vec<usize> {
    (0..n_wrong).map(|i| i * 2 + 1).collect()
}

#[test]
fn report_markdown_and_summary_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(
        dir.path(),
        "nightly-1",
        &[
            ("base", all_but(18), 0.0),
            ("tuned", all_but(4), 0.0),
            ("api", all_but(3), 0.001),
        ],
    );
    let results = load_run(&run, None).unwrap();
    let settings = ReportSettings {
        baseline: Some("base".into()),
        ..ReportSettings::default()
    };
    let report = build(&results, &settings, "2026-11-25T00:00:00Z", Vec::new());
    insta::assert_snapshot!("report_md", markdown::render(&report));
    insta::assert_json_snapshot!("summary_json", report.summary);
    let written = write(&report, &run.join("report")).unwrap();
    let csv = std::fs::read_to_string(&written.results).unwrap();
    assert_eq!(csv.lines().count(), 1 + 3 * 2, "{csv}");
    let junit = std::fs::read_to_string(&written.junit).unwrap();
    assert!(junit.contains("tests=\"3\" failures=\"0\""), "{junit}");
}

/// `[report] examples = N`: the first N broken and fixed examples of each candidate with the
/// reference and both answers; unset, only ids (the snapshot above).
#[test]
fn flipped_examples_are_shown_with_reference_and_answers_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(
        dir.path(),
        "r1",
        &[("base", all_but(18), 0.0), ("tuned", all_but(4), 0.0)],
    );
    let results = load_run(&run, None).unwrap();
    let settings = ReportSettings {
        examples: Some(2),
        ..ReportSettings::default()
    };
    let report = build(&results, &settings, "t", Vec::new());
    let md = markdown::render(&report);
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| q")).collect();
    // tuned fixes q9, q11, … (base answered "unknown" there), breaks none, and still fails
    // q1, q3 (both answered "unknown").
    assert_eq!(rows.len(), 4, "{md}");
    let want = [
        ("q9", "fixed", "lost_card", "lost_card"),
        ("q11", "fixed", "refund", "refund"),
        ("q1", "still failing", "lost_card", "unknown"),
        ("q3", "still failing", "refund", "unknown"),
    ];
    for (row, (id, outcome, reference, answer)) in rows.iter().zip(want) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let prompt = format!("query {}", &id[1..]);
        assert_eq!(
            cells[1..7],
            [id, outcome, &prompt, reference, "unknown", answer],
            "{row}"
        );
    }
    assert!(html::render(&report).unwrap().contains("<td>unknown</td>"));
}

#[test]
fn html_is_self_contained_with_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(
        dir.path(),
        "r1",
        &[("base", all_but(18), 0.0), ("tuned", all_but(4), 0.002)],
    );
    // A reinforcement fine-tuning job reports rewards, not losses.
    let rft = run.join("train").join("rft");
    std::fs::create_dir_all(&rft).unwrap();
    std::fs::write(
        rft.join("metrics.csv"),
        "step,epoch,train_loss,val_loss,lr,grad_norm,tokens_per_s,elapsed_s,train_reward,train_reward_min,train_reward_max,val_reward\n\
         0,1,,,,,,,0.25,0.0,0.4,\n4,1,,,,,,,0.61,0.36,0.76,0.58\n9,2,,,,,,,0.78,0.53,0.93,0.74\n",
    )
    .unwrap();
    let results = load_run(&run, None).unwrap();
    let report = build(&results, &ReportSettings::default(), "t", Vec::new());
    let page = html::render(&report).unwrap();
    // Score vs cost, metric bars, latency, loss curves, reward curves.
    assert_eq!(page.matches("<svg").count(), 5, "{page}");
    for needle in [
        "Pareto frontier",
        "tuned",
        "lora train",
        "lora validation",
        "training and validation reward",
        "rft train",
        "rft validation",
    ] {
        assert!(page.contains(needle), "{needle} missing");
    }
    // The suite is scored with `accuracy`: each candidate's macro-F1 and its confusions.
    assert!(
        page.contains("Per label (4 labels, metric <code>accuracy</code>)")
            && page.contains("lost_card → unknown ×2"),
        "{page}"
    );
    let md = markdown::render(&report);
    let row = md.lines().find(|l| l.starts_with("| rft ")).unwrap();
    assert!(md.contains("best val reward"), "{md}");
    assert!(row.contains("0.7800") && row.contains("0.7400"), "{row}");
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "nothing is fetched"
    );
    assert!(
        !page.contains("<script"),
        "no script: nothing to run or fetch"
    );
}

/// Run folders and history written before the comparison format had a number (format 1:
/// each row's score as three numbers, metrics without intervals, no tokens; suites' version
/// and size as `version` and `examples`) read as today's; a newer format is refused.
#[test]
fn format_1_comparisons_and_summaries_read_as_today() {
    use serde_json::{Value, json};
    use tunebench_reports::summary::RunSummary;

    let dir = tempfile::tempdir().unwrap();
    let run = make_run(
        dir.path(),
        "old",
        &[("base", all_but(18), 0.0), ("tuned", all_but(4), 0.001)],
    );
    let today = load_run(&run, None).unwrap();
    let path = run.join("eval").join("intents").join("comparison.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["format"], 2);
    let c = v.as_object_mut().unwrap();
    c.remove("format");
    for row in c["candidates"].as_array_mut().unwrap() {
        let r = row.as_object_mut().unwrap();
        let score = r.remove("score").unwrap();
        for (k, from) in [("score", "value"), ("lower", "lower"), ("upper", "upper")] {
            r.insert(k.into(), score[from].clone());
        }
        let metrics: Vec<Value> = r["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| json!([m["name"], m["value"]]))
            .collect();
        r.insert("metrics".into(), metrics.into());
        r.remove("input_tokens");
        r.remove("output_tokens");
    }
    std::fs::write(&path, v.to_string()).unwrap();
    let old = load_run(&run, None).unwrap();
    assert_eq!(old.suites[0].comparison, today.suites[0].comparison);

    let summary = summarize(&today, "2026-11-25T00:00:00Z");
    let mut v = serde_json::to_value(&summary).unwrap();
    v.as_object_mut().unwrap().remove("format");
    for s in v["suites"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        s.remove("format");
        s.remove("bootstrap");
        let version = s.remove("suite_version").unwrap();
        s.insert("version".into(), version);
        let examples = s.remove("suite_examples").unwrap();
        s.insert("examples".into(), examples);
    }
    let mut expected = summary.clone();
    expected.suites[0].bootstrap = None;
    assert_eq!(RunSummary::from_json(&v.to_string()).unwrap(), expected);

    v["format"] = 3.into();
    let e = RunSummary::from_json(&v.to_string())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("summary format 3 is newer than this tunebench reads (up to 2)"),
        "{e}"
    );
    std::fs::write(&path, r#"{"format": 3}"#).unwrap();
    let e = load_run(&run, None).unwrap_err().to_string();
    assert!(e.contains("comparison format 3 is newer"), "{e}");
}

#[test]
fn history_trends_and_last_passing_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.sqlite");
    let mut history = History::open(&db).unwrap();
    let mut dirs = Vec::new();
    for (i, wrong) in [6, 4, 2].into_iter().enumerate() {
        let id = format!("n{i}");
        let run = make_run(dir.path(), &id, &[("model", all_but(wrong), 0.0)]);
        let r = load_run(&run, None).unwrap();
        history
            .append(&summarize(&r, &format!("2026-11-2{i}T00:00:00Z")), &run)
            .unwrap();
        dirs.push(run);
    }
    history.set_gate("n0", GateOutcome::Pass).unwrap();
    history.set_gate("n1", GateOutcome::Regression).unwrap();
    // Appending a run again replaces it and keeps its verdict.
    let again = load_run(&dirs[0], None).unwrap();
    history
        .append(&summarize(&again, "2026-11-20T00:00:00Z"), &dirs[0])
        .unwrap();
    let runs = history.runs(None).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.summary.run_id.as_str()).collect();
    assert_eq!(ids, ["n0", "n1", "n2"]);
    assert_eq!(
        history.last_passing("n2").unwrap().unwrap().summary.run_id,
        "n0"
    );
    assert!(history.set_gate("missing", GateOutcome::Pass).is_err());

    let trend: Vec<_> = runs.into_iter().map(|r| r.summary).collect();
    let current = load_run(&dirs[2], None).unwrap();
    let report = build(&current, &ReportSettings::default(), "t", trend);
    let md = markdown::render(&report);
    assert!(md.contains("## Trend over 3 runs"), "{md}");
    assert!(md.contains("| n0  |"), "{md}");
    assert!(html::render(&report).unwrap().contains("score across runs"));
}

fn rule(metric: &str, min: Option<f64>, max_drop: Option<f64>) -> Rule {
    Rule {
        suite: None,
        candidate: None,
        metric: metric.into(),
        min,
        max_drop,
        against: None,
        require_significant: true,
    }
}

#[test]
fn gate_against_another_candidate_of_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    // `latest` breaks 14 examples `prod` answers: a significant drop, with no baseline run.
    let worse = make_run(
        dir.path(),
        "worse",
        &[("prod", all_but(2), 0.0), ("latest", all_but(16), 0.0)],
    );
    let settings = GateSettings {
        rules: vec![Rule {
            against: Some("prod".into()),
            ..rule("accuracy", None, Some(0.0))
        }],
        ..GateSettings::default()
    };
    let report = check(&load_run(&worse, None).unwrap(), None, &settings).unwrap();
    assert!(!report.passed, "{}", report.explain());
    // One check: `prod` is not compared with itself.
    assert_eq!(report.checks.len(), 1, "{:?}", report.checks);
    let c = &report.checks[0];
    assert_eq!(c.candidate, "latest");
    assert!(c.reason.contains("from prod"), "{}", c.reason);
    assert_eq!(c.broken_count, 14);
    // One more example right than prod: passes.
    let better = make_run(
        dir.path(),
        "better",
        &[("prod", all_but(2), 0.0), ("latest", all_but(1), 0.0)],
    );
    let report = check(&load_run(&better, None).unwrap(), None, &settings).unwrap();
    assert!(report.passed, "{}", report.explain());
    // `against` must name a candidate, not the rule's own, and needs a max_drop.
    let suites = vec![("intents".to_owned(), vec!["accuracy".to_owned()])];
    let candidates = vec!["prod".to_owned(), "latest".to_owned()];
    let typo = GateSettings {
        rules: vec![Rule {
            against: Some("prd".into()),
            ..rule("accuracy", None, Some(0.0))
        }],
        ..GateSettings::default()
    };
    let msg = validate(&typo, &suites, &candidates)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("against candidate `prd`"), "{msg}");
    let no_drop = GateSettings {
        rules: vec![Rule {
            against: Some("prod".into()),
            ..rule("accuracy", Some(0.5), None)
        }],
        ..GateSettings::default()
    };
    let msg = validate(&no_drop, &suites, &candidates)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no max_drop"), "{msg}");
}

#[test]
fn gate_fails_a_significant_drop_naming_metric_and_examples() {
    let dir = tempfile::tempdir().unwrap();
    let base = make_run(dir.path(), "base", &[("model", all_but(2), 0.0)]);
    // Injected regression: 14 more examples wrong.
    let bad = make_run(dir.path(), "bad", &[("model", all_but(16), 0.0)]);
    let settings = GateSettings {
        rules: vec![rule("accuracy", Some(0.5), Some(0.05))],
        ..GateSettings::default()
    };
    let baseline = load_run(&base, None).unwrap();
    let report = check(&load_run(&bad, None).unwrap(), Some(&baseline), &settings).unwrap();
    assert!(!report.passed);
    let text = report.explain();
    assert!(
        text.contains("REGRESSION") && text.contains("FAIL intents/model accuracy"),
        "{text}"
    );
    assert!(text.contains("14 examples now fail: q5, q7"), "{text}");
    let p = report.checks[0].p_value.unwrap();
    assert!(p < 0.001, "McNemar on 14 discordant pairs: {p}");
    // Exact two-sided McNemar with b = 0, c = 14: 2 * 0.5^14.
    assert!((p - 2.0 * 0.5f64.powi(14)).abs() < 1e-12, "{p}");
    assert!(report.cases()[0].failure.is_some());
}

#[test]
fn gate_passes_a_change_within_noise_and_checks_floors() {
    let dir = tempfile::tempdir().unwrap();
    let base = make_run(dir.path(), "base", &[("model", all_but(2), 0.0)]);
    let noisy = make_run(dir.path(), "noisy", &[("model", all_but(5), 0.0)]);
    let baseline = load_run(&base, None).unwrap();
    let run = load_run(&noisy, None).unwrap();
    let within = GateSettings {
        rules: vec![rule("accuracy", None, Some(0.05))],
        ..GateSettings::default()
    };
    let report = check(&run, Some(&baseline), &within).unwrap();
    assert!(report.passed, "{}", report.explain());
    assert!(
        report.explain().contains("within noise"),
        "{}",
        report.explain()
    );
    // The same drop without the significance requirement fails.
    let strict = GateSettings {
        rules: vec![Rule {
            require_significant: false,
            ..rule("accuracy", None, Some(0.05))
        }],
        ..GateSettings::default()
    };
    assert!(!check(&run, Some(&baseline), &strict).unwrap().passed);
    // A floor above the value fails even without a baseline.
    let floor = GateSettings {
        rules: vec![rule("score", Some(0.95), None)],
        ..GateSettings::default()
    };
    let r = check(&run, None, &floor).unwrap();
    assert!(
        !r.passed && r.explain().contains("below the floor 0.95"),
        "{}",
        r.explain()
    );
    // A rule naming a metric the run lacks is an error, not a silent pass.
    let typo = GateSettings {
        rules: vec![rule("acuracy", Some(0.1), None)],
        ..GateSettings::default()
    };
    let err = check(&run, None, &typo).unwrap_err().to_string();
    assert!(
        err.contains("matches nothing") && err.contains("acuracy"),
        "{err}"
    );
}

/// A candidate whose every request failed (e.g. its endpoint refused connections) scores 0
/// on everything; the report must say it failed, never rank it, and never call it best —
/// even when it is the only other candidate.
#[test]
fn failed_candidate_is_marked_and_never_ranked_or_best() {
    let dir = tempfile::tempdir().unwrap();
    let suite = suite(dir.path());
    let run = dir.path().join("with-failure");
    let eval = run.join("eval");
    let down: Vec<ResponseRecord> = (0..N)
        .map(|i| {
            ResponseRecord::failed(
                format!("q{i}"),
                "http://127.0.0.1:9/v1/chat/completions: error sending request: Connection refused",
            )
        })
        .collect();
    // Every answer of `weak` wrong: a real score of 0, which still ranks.
    let weak = responses(&(0..N).collect::<Vec<_>>(), 0.0, 100.0);
    let mut scored = Vec::new();
    for (name, r) in [("down", &down), ("weak", &weak)] {
        let s = score(&suite, r, &ScoreOptions::new(name)).unwrap();
        write_candidate(&eval, r, &s).unwrap();
        scored.push(s);
    }
    let comparison = compare(&suite, &scored);
    assert_eq!(comparison.best.as_deref(), Some("weak"));
    assert_eq!(comparison.rank_quality, ["weak"]);
    assert!(comparison.candidates[0].failed && !comparison.candidates[1].failed);
    assert!(comparison.tests.is_empty(), "{:?}", comparison.tests);
    let table = tunebench_scoring::output::markdown(&comparison);
    let row = table
        .lines()
        .find(|l| l.contains("| down (failed) |"))
        .unwrap();
    assert!(
        row.contains(" failed |")
            && row.contains("every request failed: not ranked")
            && !row.contains("best"),
        "{table}"
    );
    assert!(
        table.contains("**Failed** (every request errored; not ranked, not compared): down"),
        "{table}"
    );
    write_comparison(&eval, &comparison).unwrap();

    let results = load_run(&run, None).unwrap();
    let report = build(
        &results,
        &ReportSettings::default(),
        "2026-11-25T00:00:00Z",
        Vec::new(),
    );
    let s = &report.summary.suites[0];
    assert!(s.candidate("down").unwrap().failed);
    let board = tunebench_scoring::output::leaderboard(s);
    assert_eq!(
        board.rows[0][..2],
        ["1".to_string(), "weak (best)".to_string()]
    );
    assert_eq!(
        board.rows[1][..3],
        [
            "–".to_string(),
            "down (failed)".to_string(),
            "failed".to_string()
        ]
    );
    let md = markdown::render(&report);
    assert!(
        md.contains("**Failed** (every request errored; not ranked): down."),
        "{md}"
    );
    let cases = tunebench_reports::exports::report_cases(&report.summary);
    assert!(cases[0].failure.as_deref().unwrap().starts_with("failed: "));
}

/// `tunebench run` checks `[gate]` against the eval's suites and candidates before any stage:
/// a typo in a metric is found before the (paid) eval, naming the rule and the known metrics.
#[test]
fn gate_rules_are_validated_against_suites_and_candidates_before_the_eval() {
    let suites = vec![("intents".to_string(), vec!["accuracy".to_string()])];
    let candidates = vec!["base".to_string(), "tuned".to_string()];
    let ok = GateSettings {
        rules: vec![
            rule("accuracy", Some(0.5), None),
            rule("score", None, Some(0.1)),
        ],
        ..GateSettings::default()
    };
    validate(&ok, &suites, &candidates).unwrap();
    let typo = GateSettings {
        rules: vec![
            rule("accuracy", Some(0.5), None),
            rule("acuracy", Some(0.1), None),
        ],
        ..GateSettings::default()
    };
    let err = validate(&typo, &suites, &candidates).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("rule 2 names metric `acuracy`")
            && msg.contains("hint: the known metrics are `accuracy`, and `score`"),
        "{msg}"
    );
    assert!(matches!(err, tunebench_reports::ReportError::Gate(_)));
    let who = GateSettings {
        rules: vec![Rule {
            candidate: Some("tunde".into()),
            ..rule("accuracy", Some(0.5), None)
        }],
        ..GateSettings::default()
    };
    let msg = validate(&who, &suites, &candidates)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("candidate `tunde`") && msg.contains("`base`, `tuned`"),
        "{msg}"
    );
    let which = GateSettings {
        rules: vec![Rule {
            suite: Some("intent".into()),
            ..rule("accuracy", Some(0.5), None)
        }],
        ..GateSettings::default()
    };
    let msg = validate(&which, &suites, &candidates)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("suite `intent`") && msg.contains("`intents`"),
        "{msg}"
    );
}

/// The HTML report in headless Chromium: it loads without console errors and its charts are
/// rendered SVG with content. Chromium comes from `scripts/test.sh`, which installs
/// Debian's package and sets TUNEBENCH_TEST_CHROMIUM; without it the test says so and
/// checks nothing.
#[test]
fn html_report_renders_in_headless_chromium() {
    let Ok(chromium) = std::env::var("TUNEBENCH_TEST_CHROMIUM") else {
        eprintln!(
            "TUNEBENCH_TEST_CHROMIUM not set (scripts/test.sh sets it): browser check skipped"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(
        dir.path(),
        "r1",
        &[("base", all_but(18), 0.0), ("tuned", all_but(4), 0.002)],
    );
    let results = load_run(&run, None).unwrap();
    let report = build(&results, &ReportSettings::default(), "t", Vec::new());
    let written = write(&report, &run.join("report")).unwrap();
    let profile = dir.path().join("profile");
    let out = std::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", written.html.display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    assert!(!log.contains("CONSOLE"), "console messages: {log}");
    // The parsed DOM holds the charts as SVG elements with drawn shapes and text.
    assert_eq!(dom.matches("<svg").count(), 4, "{dom}");
    assert!(
        dom.matches("<rect").count() > 8 && dom.contains("<circle"),
        "{dom}"
    );
    assert!(
        dom.contains("Pareto frontier") && dom.contains("<polyline"),
        "{dom}"
    );
}
