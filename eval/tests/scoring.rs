//! The scoring side end to end: the shipped suites over real data, recorded responses scored
//! to exact numbers, classification reports, paired tests with known discordant counts, the
//! result files and the Markdown table.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use tunebench_eval::compare::{TestKind, compare};
use tunebench_eval::output::{markdown, write_candidate, write_comparison};
use tunebench_eval::responses;
use tunebench_eval::score::{CandidateScores, ScoreOptions, Summary, score};
use tunebench_eval::suite::Suite;
use tunebench_eval::types::{ResponseRecord, Role};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn answer(id: &str, text: &str, cost: f64, latency: f64) -> ResponseRecord {
    ResponseRecord {
        id: id.into(),
        text: text.into(),
        input_tokens: 10,
        output_tokens: 2,
        latency_ms: latency,
        cost_usd: cost,
        cached: false,
        error: None,
        ..ResponseRecord::default()
    }
}

#[test]
fn every_shipped_suite_starts_with_its_run_command() {
    let dir = repo().join("configs/suites");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# Run: tunebench eval --config configs/")
                || text.starts_with("# Run: tunebench run configs/"),
            "{} must start with its `# Run:` command",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 2);
}

#[test]
fn gsm8k_suite_renders_the_real_test_split() {
    let suite = Suite::load(repo().join("configs/suites/gsm8k.toml")).unwrap();
    assert_eq!(suite.examples.len(), 1319);
    assert_eq!(suite.examples[0].id, "L1");
    assert_eq!(suite.examples[1318].id, "L1319");
    // "#### 18", "#### 3", "#### 70000" are the answers of the first three problems.
    let refs: Vec<&str> = suite.examples[..3]
        .iter()
        .map(|e| e.references[0].as_str())
        .collect();
    assert_eq!(refs, ["18", "3", "70000"]);

    let requests = suite.requests().unwrap();
    assert_eq!(requests.len(), 1319);
    let r = &requests[0].request;
    assert!(r.system.as_deref().unwrap().contains("#### <number>"));
    assert_eq!(r.sampling.max_tokens, 512);
    let roles: Vec<Role> = r.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::User
        ]
    );
    // Few-shot: the first two train problems, in file order, answers unextracted.
    assert!(
        r.messages[0]
            .content
            .starts_with("Question: Natalia sold clips to 48 of her friends")
    );
    assert!(r.messages[1].content.ends_with("#### 72"));
    assert!(r.messages[3].content.ends_with("#### 10"));
    assert!(
        r.messages[4]
            .content
            .starts_with("Question: Janet\u{2019}s ducks lay 16 eggs per day.")
    );
    assert!(r.messages[4].content.ends_with("\nAnswer:"));
}

/// A hand-made responses file for the first five GSM8K problems: three right (one with a
/// thousands separator), one wrong, one failed call.
const GSM8K_RESPONSES: &str = r#"{"id":"L1","text":"16 - 3 - 4 = 9 eggs, 9 * 2 = 18.\n#### 18","input_tokens":120,"output_tokens":20,"latency_ms":100,"cost_usd":0.001}
{"id":"L2","text":"2 + 1 = 3 bolts. The answer is 3.","input_tokens":110,"output_tokens":12,"latency_ms":200,"cost_usd":0.001}
{"id":"L3","text":"He made a profit of $70,000.","input_tokens":130,"output_tokens":10,"latency_ms":400,"cost_usd":0.001}
{"id":"L4","text":"So he runs 500 meters.","input_tokens":100,"output_tokens":8,"latency_ms":300,"cost_usd":0.001}
{"id":"L5","error":"HTTP 500 after 3 attempts"}
"#;

#[test]
fn gsm8k_recorded_responses_score_to_exact_numbers() {
    let suite = Suite::load(repo().join("configs/suites/gsm8k.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let recorded = responses::read(write(dir.path(), "r.jsonl", GSM8K_RESPONSES)).unwrap();
    assert_eq!(recorded.len(), 5);

    // 1,314 examples have no response: an error unless allowed.
    let err = score(&suite, &recorded, &ScoreOptions::new("recorded"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("1314 example(s) have no response: \"L6\", \"L7\""),
        "{err}"
    );
    let options = ScoreOptions {
        allow_missing: true,
        ..ScoreOptions::new("recorded")
    };
    let scores = score(&suite, &recorded, &options).unwrap();
    let s = &scores.summary;
    assert_eq!((s.n, s.errors, s.missing), (5, 1, 1314));
    assert_eq!(s.score.value, 0.6);
    assert_eq!(s.metrics[0].name, "numeric");
    assert_eq!(s.metrics[0].estimate.value, 0.6);
    assert!(s.score.lower <= 0.6 && 0.6 <= s.score.upper);
    assert!(s.score.lower >= 0.0 && s.score.upper <= 1.0 && s.score.lower < s.score.upper);
    assert_eq!((s.input_tokens, s.output_tokens), (460, 50));
    // Latencies of the four answered calls: 100, 200, 300, 400 ms (linear interpolation).
    assert_eq!(s.latency_p50_ms, Some(250.0));
    assert_eq!(s.latency_p95_ms, Some(385.0));
    // Recorded answers without `latency_ms` have no latency: none is reported (not 0 ms,
    // which would rank them fastest), and one unmeasured answer does not pull the median.
    let mut unmeasured = recorded.clone();
    unmeasured.iter_mut().for_each(|r| r.latency_ms = 0.0);
    let s0 = score(&suite, &unmeasured, &options).unwrap().summary;
    assert_eq!((s0.latency_p50_ms, s0.latency_p95_ms), (None, None));
    unmeasured = recorded.clone();
    unmeasured[0].latency_ms = 0.0;
    let s1 = score(&suite, &unmeasured, &options).unwrap().summary;
    assert_eq!(s1.latency_p50_ms, Some(300.0), "200, 300, 400 ms");
    assert!((s.cost_usd - 0.004).abs() < 1e-15);
    assert!((s.quality_per_dollar.unwrap() - 150.0).abs() < 1e-9);

    let per: Vec<(&str, Option<&str>, f64)> = scores
        .examples
        .iter()
        .map(|e| (e.id.as_str(), e.extracted.as_deref(), e.metrics["numeric"]))
        .collect();
    assert_eq!(
        per,
        [
            ("L1", Some("18"), 1.0),
            ("L2", Some("3"), 1.0),
            ("L3", Some("70000"), 1.0),
            ("L4", Some("500"), 0.0),
            ("L5", None, 0.0),
        ]
    );
    assert_eq!(scores.examples[3].reference, ["540"]);
    assert_eq!(
        scores.examples[4].error.as_deref(),
        Some("HTTP 500 after 3 attempts")
    );
    // Seeded: the same input gives the same interval.
    assert_eq!(score(&suite, &recorded, &options).unwrap(), scores);

    // A response for an id the suite does not have is always an error.
    let mut stray = recorded.clone();
    stray.push(answer("L99999", "1", 0.0, 1.0));
    let err = score(&suite, &stray, &options).unwrap_err().to_string();
    assert!(
        err.contains("ids the suite does not have: \"L99999\""),
        "{err}"
    );
}

/// The banking77 suite's configuration over records in the exact format `tunebench data
/// prepare` writes, with the labels of scikit-learn's `f1_score` documentation example
/// (y_true = [0, 1, 2, 0, 1, 2], y_pred = [0, 2, 1, 0, 0, 1]: macro-F1 0.2667, accuracy 1/3).
#[test]
fn banking77_accuracy_macro_f1_and_confusion_matrix() {
    let labels = ["card_arrival", "lost_or_stolen_card", "top_up_failed"];
    let truth = [0, 1, 2, 0, 1, 2];
    let predicted = [0, 2, 1, 0, 0, 1];
    let dir = tempfile::tempdir().unwrap();
    let mut data = String::new();
    for (i, t) in truth.iter().enumerate() {
        data.push_str(&format!(
            "{{\"completion\":\" {}\",\"prompt\":\"Classify this online-banking request into one of 77 intents.\\nRequest: query {i}\\nIntent:\"}}\n",
            labels[*t]
        ));
    }
    write(dir.path(), "test.jsonl", &data);
    let shipped = std::fs::read_to_string(repo().join("configs/suites/banking77.toml")).unwrap();
    let toml = shipped.replace("../../runs/banking77/data/test.jsonl", "test.jsonl");
    assert_ne!(
        toml, shipped,
        "the shipped suite reads the prepared test split"
    );
    let suite = Suite::load(write(dir.path(), "banking77.toml", &toml)).unwrap();
    let requests = suite.requests().unwrap();
    assert_eq!(
        requests[1].request.messages[0].content,
        "Classify this online-banking request into one of 77 intents.\nRequest: query 1\nIntent:"
    );
    assert_eq!(suite.examples[1].references, ["lost_or_stolen_card"]);

    let recorded: Vec<ResponseRecord> = predicted
        .iter()
        .enumerate()
        .map(|(i, p)| {
            answer(
                &format!("L{}", i + 1),
                &format!(" {}\nbecause the customer says so", labels[*p]),
                0.0,
                10.0,
            )
        })
        .collect();
    let scores = score(&suite, &recorded, &ScoreOptions::new("tuned")).unwrap();
    let s = &scores.summary;
    assert_eq!(s.metrics[0].estimate.value, 1.0 / 3.0);
    let c = &s.classification["accuracy"];
    assert_eq!(c.report.accuracy, 1.0 / 3.0);
    assert_eq!(c.report.macro_f1, 0.26666666666666666);
    let f1: Vec<f64> = c.report.per_label.iter().map(|l| l.f1).collect();
    assert_eq!(f1, [0.8, 0.0, 0.0]);
    assert_eq!(c.confusion.labels, labels);
    assert_eq!(
        c.confusion.counts,
        [vec![2, 0, 0], vec![1, 0, 1], vec![0, 2, 0]]
    );
    // Nothing spent: no quality per dollar rather than infinity.
    assert_eq!(s.quality_per_dollar, None);
}

#[test]
fn loglikelihood_pools_tokens_into_perplexity_and_rejects_generated_text() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "d.jsonl",
        "{\"q\":\"a\",\"r\":\" x\"}\n{\"q\":\"b\",\"r\":\" y\"}\n{\"q\":\"c\",\"r\":\" z\"}\n",
    );
    let suite = Suite::load(write(
        dir.path(),
        "s.toml",
        "name = \"ll\"\nversion = \"1\"\ndata = \"d.jsonl\"\nprompt = \"{{ q }}\"\nreference = \"{{ r }}\"\nloglikelihood = true\n[[metrics]]\nkind = \"loglikelihood\"\n",
    ))
    .unwrap();
    let mut failed = answer("L3", "", 0.0, 1.0);
    failed.error = Some("model thread stopped".into());
    let recorded = vec![
        answer("L1", r#"{"logprob": -2.0, "tokens": 2}"#, 0.0, 1.0),
        answer("L2", r#"{"logprob": -4.0, "tokens": 2}"#, 0.0, 1.0),
        failed,
    ];
    let scores = score(&suite, &recorded, &ScoreOptions::new("local")).unwrap();
    let per_example: Vec<f64> = scores
        .examples
        .iter()
        .map(|e| e.metrics["loglikelihood"])
        .collect();
    assert_eq!(per_example, [(-1.0f64).exp(), (-2.0f64).exp(), 0.0]);
    // Pooled over the answered examples' tokens: exp(-6 / 4); perplexity is its inverse.
    let s = &scores.summary;
    assert!(s.metrics[0].corpus);
    assert!((s.metrics[0].estimate.value - (-1.5f64).exp()).abs() < 1e-12);
    assert!((s.perplexity["loglikelihood"] - 1.5f64.exp()).abs() < 1e-9);
    assert_eq!(s.errors, 1);

    let generated = vec![
        answer("L1", "the answer is x", 0.0, 1.0),
        answer("L2", r#"{"logprob": -4.0, "tokens": 2}"#, 0.0, 1.0),
        answer("L3", r#"{"logprob": -4.0, "tokens": 2}"#, 0.0, 1.0),
    ];
    let err = score(&suite, &generated, &ScoreOptions::new("api"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("example \"L1\"") && err.contains("hint: were these responses generated"),
        "{err}"
    );
}

#[test]
fn banking77_suite_over_the_prepared_split_when_present() {
    let data = repo().join("runs/banking77/data/test.jsonl");
    if !data.exists() {
        eprintln!(
            "skipped: {} is written by `tunebench data prepare --config configs/banking77.toml`",
            data.display()
        );
        return;
    }
    let lines = std::fs::read_to_string(&data).unwrap().lines().count();
    let suite = Suite::load(repo().join("configs/suites/banking77.toml")).unwrap();
    assert_eq!(suite.examples.len(), lines);
    assert!(suite.examples.iter().all(|e| {
        let r = &e.references[0];
        !r.is_empty() && r.trim() == r
    }));
}

/// 20 examples: both right on 5, only A on 1, only B on 9, both wrong on 5. Exact McNemar:
/// n = 10 discordant, P(X <= 1) = 11/1024, p = 22/1024 = 0.021484375.
fn paired_fixture() -> (tempfile::TempDir, Suite, Vec<CandidateScores>) {
    let dir = tempfile::tempdir().unwrap();
    let mut data = String::new();
    for i in 0..20 {
        data.push_str(&format!(
            "{{\"id\":\"q{i:02}\",\"q\":\"question {i}\",\"a\":\"the answer is {i}\"}}\n"
        ));
    }
    write(dir.path(), "d.jsonl", &data);
    let suite_path = write(
        dir.path(),
        "pair.toml",
        r#"name = "pair"
version = "2"
data = "d.jsonl"
id_field = "id"
prompt = "{{ q }}"
reference = "{{ a }}"
[[metrics]]
kind = "exact_match"
normalize = "lenient"
[[metrics]]
kind = "chrf"
weight = 0.0
"#,
    );
    let suite = Suite::load(&suite_path).unwrap();
    let right = |i: usize| format!("The answer is {i}.");
    let wrong = |i: usize| format!("maybe {}", i + 100);
    // q00-q04 both right, q05 only A, q06-q14 only B, q15-q19 both wrong.
    let a: Vec<ResponseRecord> = (0..20)
        .map(|i| {
            let t = if i <= 5 { right(i) } else { wrong(i) };
            answer(&format!("q{i:02}"), &t, 0.0005, 50.0 + i as f64)
        })
        .collect();
    let b: Vec<ResponseRecord> = (0..20)
        .map(|i| {
            let t = if i <= 4 || (6..=14).contains(&i) {
                right(i)
            } else {
                wrong(i)
            };
            answer(&format!("q{i:02}"), &t, 0.01, 400.0 + i as f64)
        })
        .collect();
    let c: Vec<ResponseRecord> = a
        .iter()
        .map(|r| ResponseRecord {
            cost_usd: 0.002,
            ..r.clone()
        })
        .collect();
    let scored = [("a-small", &a), ("b-large", &b), ("c-copy", &c)]
        .iter()
        .map(|(name, r)| score(&suite, r, &ScoreOptions::new(*name)).unwrap())
        .collect();
    (dir, suite, scored)
}

#[test]
fn paired_tests_use_mcnemar_for_pass_fail_and_bootstrap_otherwise() {
    let (_dir, suite, scored) = paired_fixture();
    assert_eq!(scored[0].summary.score.value, 0.3);
    assert_eq!(scored[1].summary.score.value, 0.7);
    assert!(scored[0].summary.metrics[1].corpus);
    let cmp = compare(&suite, &scored);

    let em = cmp.test("a-small", "b-large", "exact_match").unwrap();
    assert_eq!(em.test, TestKind::McNemar);
    assert_eq!((em.a_only, em.b_only), (Some(1), Some(9)));
    assert_eq!(em.p_value, 0.021484375);
    assert!(em.significant);
    assert!((em.diff + 0.4).abs() < 1e-12);
    // chrF weighs 0, so the aggregate is the exact match: McNemar again.
    let agg = cmp.test("a-small", "b-large", "score").unwrap();
    assert_eq!((agg.test, agg.p_value), (TestKind::McNemar, 0.021484375));
    // chrF is a corpus score: paired bootstrap over resampled corpora.
    let chrf = cmp.test("a-small", "b-large", "chrf").unwrap();
    assert_eq!(chrf.test, TestKind::PairedBootstrap);
    assert!(chrf.value_b > chrf.value_a);
    assert!(chrf.p_value > 0.0 && chrf.p_value < 0.05, "{chrf:?}");
    // Identical answers: no discordant pair, p = 1.
    let same = cmp.test("a-small", "c-copy", "exact_match").unwrap();
    assert_eq!((same.a_only, same.b_only), (Some(0), Some(0)));
    assert_eq!((same.p_value, same.significant), (1.0, false));
    assert_eq!(cmp.tests.len(), 3 * 3);

    assert_eq!(cmp.best.as_deref(), Some("b-large"));
    assert_eq!(cmp.rank_quality, ["b-large", "a-small", "c-copy"]);
    // 0.3 / $0.01 = 30 per dollar beats 0.7 / $0.2 = 3.5.
    assert_eq!(
        cmp.rank_quality_per_dollar,
        ["a-small", "c-copy", "b-large"]
    );
    assert_eq!(cmp.pareto_cost, ["a-small", "b-large"]);
    // c-copy answers like a-small at a-small's latency: exact duplicates are both kept.
    assert_eq!(cmp.pareto_latency, ["a-small", "c-copy", "b-large"]);
}

/// Equal as JSON, numbers within 1e-12 relative (serde_json's default float parsing may be
/// off by one unit in the last place).
fn assert_json_close<T: serde::Serialize>(read_back: &T, written: &T) {
    fn close(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
        use serde_json::Value::*;
        match (a, b) {
            (Number(x), Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!(
                    (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                    "{at}: {x} vs {y}"
                );
            }
            (Array(x), Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}");
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    close(p, q, &format!("{at}[{i}]"));
                }
            }
            (Object(x), Object(y)) => {
                assert_eq!(
                    x.keys().collect::<Vec<_>>(),
                    y.keys().collect::<Vec<_>>(),
                    "{at}"
                );
                for (k, p) in x {
                    close(p, &y[k], &format!("{at}.{k}"));
                }
            }
            _ => assert_eq!(a, b, "{at}"),
        }
    }
    close(
        &serde_json::to_value(read_back).unwrap(),
        &serde_json::to_value(written).unwrap(),
        "",
    );
}

#[test]
fn result_files_are_written_and_read_back() {
    let (dir, suite, scored) = paired_fixture();
    let out = dir.path().join("eval");
    let recorded = vec![answer("q00", "x", 0.0, 1.0)];
    let folder = write_candidate(&out, &recorded, &scored[0]).unwrap();
    assert_eq!(folder, out.join("pair/a-small"));
    let lines = std::fs::read_to_string(folder.join("scores.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 20);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "q00");
    assert_eq!(first["extracted"], "The answer is 0.");
    assert_eq!(first["metrics"]["exact_match"], 1.0);
    assert!(first.get("error").is_none());
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(folder.join("summary.json")).unwrap())
            .unwrap();
    assert_json_close(&summary, &scored[0].summary);
    assert_eq!(
        responses::read(folder.join("responses.jsonl")).unwrap(),
        recorded
    );

    let cmp = compare(&suite, &scored);
    let suite_dir = write_comparison(&out, &cmp).unwrap();
    let back: tunebench_eval::compare::Comparison =
        serde_json::from_str(&std::fs::read_to_string(suite_dir.join("comparison.json")).unwrap())
            .unwrap();
    assert_json_close(&back, &cmp);
    assert_eq!(
        std::fs::read_to_string(suite_dir.join("comparison.md")).unwrap(),
        markdown(&cmp)
    );
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(&suite_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn markdown_comparison_table() {
    let (_dir, suite, mut scored) = paired_fixture();
    // d-close misses one example b-large gets (q14) and fails one call (q19, which both
    // miss): one discordant pair, p = 1, so it is marked as not significantly worse.
    let d: Vec<ResponseRecord> = (0..20)
        .map(|i| {
            let id = format!("q{i:02}");
            if i == 19 {
                return ResponseRecord {
                    error: Some("timeout".into()),
                    ..answer(&id, "", 0.0, 0.0)
                };
            }
            let t = if i <= 4 || (6..=13).contains(&i) {
                format!("The answer is {i}.")
            } else {
                "no idea".into()
            };
            answer(&id, &t, 0.004, 200.0 + i as f64)
        })
        .collect();
    scored.push(score(&suite, &d, &ScoreOptions::new("d-close")).unwrap());
    let md = markdown(&compare(&suite, &scored));
    insta::assert_snapshot!(md, @r#"
    ### pair (v2): 4 candidates on 20 examples

    | rank | candidate      |       score (95% CI) | exact_match |  chrf | cost $ | score/$ | rank by score/$ | p50 ms | p95 ms | errors | vs best                   |
    | ---: | -------------- | -------------------: | ----------: | ----: | -----: | ------: | --------------: | -----: | -----: | -----: | ------------------------- |
    |    1 | b-large (best) | 0.700 [0.500, 0.900] |       0.700 | 0.646 | 0.2000 |     3.5 |               4 |    410 |    418 |      0 | best                      |
    |    2 | d-close        | 0.650 [0.450, 0.850] |       0.650 | 0.615 | 0.0760 |     8.6 |               2 |    209 |    217 |      1 | p=1.000 ≈ not significant |
    |    3 | a-small        | 0.300 [0.100, 0.500] |       0.300 | 0.315 | 0.0100 |    30.0 |               1 |     60 |     68 |      0 | p=0.021                   |
    |    4 | c-copy         | 0.300 [0.100, 0.500] |       0.300 | 0.315 | 0.0400 |     7.5 |               3 |     60 |     68 |      0 | p=0.021                   |

    Best: **b-large**. `≈ not significant`: p ≥ 0.05 in the paired test on the same examples (exact McNemar for pass/fail scores, paired bootstrap otherwise).
    Pareto frontier, score vs cost: a-small, d-close, b-large; score vs p50 latency: a-small, c-copy, d-close, b-large.
    Rank by score: b-large, d-close, a-small, c-copy; by score per dollar: a-small, d-close, c-copy, b-large.
    "#);
}
