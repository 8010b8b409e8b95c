//! End-to-end tests of `prepare` on the real data sets shipped in data/ and on hand-made
//! bad inputs.

// Helpers here panic on anything unexpected: a panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tunebench_datasets::{Error, Manifest, NoProgress, PrepareSettings, RawDataConfig, prepare};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Settings from a `[data]` body; relative paths resolve against `base`.
fn settings(base: &Path, toml_text: &str) -> PrepareSettings {
    let raw: RawDataConfig = toml::from_str(toml_text).unwrap();
    raw.resolve(base).unwrap()
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run(s: &PrepareSettings) -> Manifest {
    prepare(s, &[], false, &NoProgress).unwrap().manifest
}

fn check_manifest(dir: &Path, m: &Manifest) {
    assert!(m.counts.balanced(), "{:?}", m.counts);
    let split_total: usize = m.splits.values().map(|o| o.records).sum();
    assert_eq!(split_total, m.counts.kept);
    for out in m.splits.values().chain([&m.rejected]) {
        let bytes = std::fs::read(dir.join(&out.file)).unwrap();
        assert_eq!(bytes.len() as u64, out.bytes, "{}", out.file);
        let sha = sha256_hex(&bytes);
        assert_eq!(sha, out.sha256, "{}", out.file);
    }
    let rejected = read_jsonl(&dir.join("rejected.jsonl"));
    assert_eq!(
        rejected.len(),
        m.counts.rejected + m.counts.duplicates + m.counts.filtered,
        "every dropped record is in rejected.jsonl"
    );
    for r in &rejected {
        assert!(r["source"].as_str().unwrap().contains(':'));
        assert!(!r["reason"].as_str().unwrap().is_empty());
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn banking77(out: &Path, target: &str, kind: &str) -> PrepareSettings {
    let mapping = match kind {
        "chat" => {
            "kind = \"chat\"\nsystem = \"Label the banking request.\"\nuser = \"{text}\"\nassistant = \"{category}\""
        }
        _ => "prompt = \"Request: {text}\\nIntent:\"\ncompletion = \" {category}\"",
    };
    settings(
        &repo(),
        &format!(
            "inputs = [\"data/banking77/train.csv\"]\ntarget = \"{target}\"\nout_dir = \"{}\"\non_error = \"reject\"\n\
             [mapping]\n{mapping}\n[tokens]\ntokenizer = \"fixtures/tiny-llama/model/tokenizer.json\"\n\
             [split]\nstratify_by = \"category\"\nseed = 3\n",
            out.display()
        ),
    )
}

fn gsm8k(out: &Path, target: &str, kind: &str) -> PrepareSettings {
    let mapping = match kind {
        "chat" => {
            "kind = \"chat\"\nsystem = \"Solve it.\"\nuser = \"{question}\"\nassistant = \"{answer}\""
        }
        _ => "prompt = \"{question}\"\ncompletion = \"{answer}\"",
    };
    settings(
        &repo(),
        &format!(
            "inputs = [\"data/gsm8k/train.jsonl\"]\ntarget = \"{target}\"\nout_dir = \"{}\"\n[mapping]\n{mapping}\n\
             [tokens]\ntokenizer = \"fixtures/tiny-llama/model/tokenizer.json\"\n[split]\nvalidation = 0.05\ntest = 0.05\n",
            out.display()
        ),
    )
}

#[test]
fn banking77_local_prepares_with_balanced_counts_and_stratified_splits() {
    let dir = tempfile::tempdir().unwrap();
    let m = run(&banking77(dir.path(), "local", "completion"));
    check_manifest(dir.path(), &m);
    assert_eq!(m.counts.input, 10_003);
    assert_eq!(m.inputs[0].records, 10_003);
    // Banking77 has a few exact duplicates once cleaned and dozens of near ones
    // ("… on my statement." / "… on my statement?"); the split is about 80/10/10.
    assert!(m.counts.exact_duplicates > 0, "{:?}", m.counts);
    assert!(m.counts.near_duplicates > 20, "{:?}", m.counts);
    let train = m.splits["train"].records as f64 / m.counts.kept as f64;
    assert!((0.78..0.84).contains(&train), "train share {train}");
    // Every intent is present in every split.
    assert_eq!(m.labels.len(), 77);
    for (label, per) in &m.labels {
        for s in ["train", "validation", "test"] {
            assert!(
                per.get(s).copied().unwrap_or(0) > 0,
                "{label} has no {s} record"
            );
        }
    }
    let tokens = m.tokens.as_ref().unwrap();
    assert_eq!(tokens.count, m.counts.kept);
    assert!(tokens.p50 > 5 && tokens.p50 <= tokens.p95 && tokens.p95 <= tokens.max);
    for line in read_jsonl(&dir.path().join("train.jsonl")).iter().take(50) {
        let obj = line.as_object().unwrap();
        assert_eq!(obj.len(), 2);
        assert!(line["prompt"].as_str().unwrap().starts_with("Request: "));
        assert!(
            line["completion"].as_str().unwrap().starts_with(' ')
                || !line["completion"].as_str().unwrap().is_empty()
        );
    }
}

#[test]
fn no_validation_or_test_record_repeats_a_train_record() {
    let dir = tempfile::tempdir().unwrap();
    let m = run(&banking77(dir.path(), "local", "completion"));
    let prompts = |s: &str| -> HashSet<String> {
        read_jsonl(&dir.path().join(format!("{s}.jsonl")))
            .iter()
            .map(|v| v["prompt"].as_str().unwrap().to_lowercase())
            .collect()
    };
    let train = prompts("train");
    assert!(prompts("validation").is_disjoint(&train));
    assert!(prompts("test").is_disjoint(&train));
    assert!(m.leakage.reported.is_empty());
}

#[test]
fn gsm8k_for_llama31_is_prompt_completion_within_quotas() {
    let dir = tempfile::tempdir().unwrap();
    let m = run(&gsm8k(dir.path(), "bedrock:llama3.1", "completion"));
    check_manifest(dir.path(), &m);
    assert_eq!(m.counts.input, 7_473);
    assert!(m.splits["train"].records <= 10_000 && m.splits["validation"].records <= 1_000);
    for line in read_jsonl(&dir.path().join("train.jsonl")) {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["completion", "prompt"]);
        assert!(line["completion"].as_str().unwrap().contains("####"));
    }
}

#[test]
fn gsm8k_for_nova_uses_the_conversation_schema() {
    let dir = tempfile::tempdir().unwrap();
    let m = run(&gsm8k(dir.path(), "bedrock:nova", "chat"));
    check_manifest(dir.path(), &m);
    for line in read_jsonl(&dir.path().join("validation.jsonl")) {
        assert_eq!(line["schemaVersion"], "bedrock-conversation-2024");
        assert_eq!(line["system"][0]["text"], "Solve it.");
        let msgs = line["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0]["role"], "user");
        assert_eq!(msgs[1]["role"], "assistant");
        assert!(
            msgs[1]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("####")
        );
    }
}

#[test]
fn banking77_for_claude_haiku_uses_string_content_messages() {
    let dir = tempfile::tempdir().unwrap();
    let m = run(&banking77(dir.path(), "bedrock:claude-3-haiku", "chat"));
    check_manifest(dir.path(), &m);
    for line in read_jsonl(&dir.path().join("train.jsonl")).iter().take(100) {
        assert_eq!(line["system"], "Label the banking request.");
        let msgs = line["messages"].as_array().unwrap();
        assert_eq!(msgs[0]["role"], "user");
        assert!(msgs[0]["content"].is_string());
        assert_eq!(msgs[1]["role"], "assistant");
    }
}

#[test]
fn gsm8k_for_claude_and_banking77_for_llama_also_prepare() {
    let dir = tempfile::tempdir().unwrap();
    let m = run(&gsm8k(
        &dir.path().join("a"),
        "bedrock:claude-3-haiku",
        "chat",
    ));
    check_manifest(&dir.path().join("a"), &m);
    let m = run(&banking77(
        &dir.path().join("b"),
        "bedrock:llama3.1",
        "completion",
    ));
    check_manifest(&dir.path().join("b"), &m);
    let m = run(&banking77(&dir.path().join("c"), "bedrock:nova", "chat"));
    check_manifest(&dir.path().join("c"), &m);
}

#[test]
fn gsm8k_for_rft_writes_prompts_with_reference_answers_and_grader_fields() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        &repo(),
        &format!(
            "inputs = [\"data/gsm8k/train.jsonl\"]\ntarget = \"bedrock:rft\"\nout_dir = \"{}\"\n\
             [mapping]\nkind = \"prompt\"\nsystem = \"End with #### and the number.\"\nuser = \"{{question}}\"\n\
             reference_answer = \"{{answer}}\"\nfields = {{ source = \"gsm8k\" }}\n\
             [split]\nvalidation = 0.05\ntest = 0.05\n",
            dir.path().display()
        ),
    );
    let m = run(&s);
    check_manifest(dir.path(), &m);
    let train = read_jsonl(&dir.path().join("train.jsonl"));
    assert!((100..=20_000).contains(&train.len()), "{}", train.len());
    for line in &train {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["messages", "reference_answer", "source"]);
        let msgs = line["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0]["role"], "system");
        assert_eq!(msgs[1]["role"], "user");
        assert!(line["reference_answer"].as_str().unwrap().contains("####"));
        assert_eq!(line["source"], "gsm8k");
    }

    // A completion mapping cannot feed RFT, nor an RFT mapping a fine-tuning target.
    let raw = |target: &str, kind: &str| -> String {
        let mapping = match kind {
            "prompt" => "kind = \"prompt\"\nuser = \"{q}\"\nreference_answer = \"{a}\"",
            _ => "prompt = \"{q}\"\ncompletion = \"{a}\"",
        };
        let cfg: RawDataConfig = toml::from_str(&format!(
            "inputs = [\"x.csv\"]\ntarget = \"{target}\"\n[mapping]\n{mapping}\n"
        ))
        .unwrap();
        cfg.resolve(dir.path()).unwrap_err().to_string()
    };
    let err = raw("bedrock:rft", "completion");
    assert!(err.contains("data.mapping.kind = \"prompt\""), "{err}");
    let err = raw("bedrock:nova", "prompt");
    assert!(err.contains("bedrock:nova does not take"), "{err}");
    let bad: RawDataConfig = toml::from_str(
        "inputs = [\"x.csv\"]\n[mapping]\nkind = \"prompt\"\nuser = \"{q}\"\nreference_answer = \"{a}\"\nfields = { messages = \"{q}\" }\n",
    )
    .unwrap();
    let err = bad.resolve(dir.path()).unwrap_err().to_string();
    assert!(err.contains("data.mapping.fields.messages"), "{err}");
}

/// Writes `body` as `name` in a temp dir and prepares it with a prompt/completion mapping.
fn prepare_file(
    name: &str,
    body: &[u8],
    extra: &str,
) -> (tempfile::TempDir, Result<Manifest, Error>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), body).unwrap();
    let s = settings(
        dir.path(),
        &format!(
            "inputs = [\"{name}\"]\nout_dir = \"out\"\n{extra}\n[mapping]\nprompt = \"{{q}}\"\ncompletion = \"{{a}}\"\n\
             [split]\nvalidation = 0.0\ntest = 0.0\n"
        ),
    );
    let r = prepare(&s, &[], false, &NoProgress).map(|p| p.manifest);
    (dir, r)
}

#[test]
fn ragged_csv_row_fails_with_file_and_line() {
    let (_d, r) = prepare_file("x.csv", b"q,a\nhello,world\nbad,row,extra\nfine,ok\n", "");
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains("x.csv:3: has 3 fields, the header has 2"),
        "{err}"
    );
    assert!(err.contains("on_error = \"reject\""), "{err}");
}

#[test]
fn ragged_csv_row_is_rejected_and_counted_with_on_error_reject() {
    let (d, r) = prepare_file(
        "x.csv",
        b"q,a\nhello,world\nbad,row,extra\nfine,ok\n",
        "on_error = \"reject\"",
    );
    let m = r.unwrap();
    assert_eq!(
        (m.counts.input, m.counts.unreadable, m.counts.kept),
        (3, 1, 2)
    );
    let rej = read_jsonl(&d.path().join("out/rejected.jsonl"));
    assert!(rej[0]["source"].as_str().unwrap().ends_with("x.csv:3"));
    assert_eq!(rej[0]["category"], "unreadable");
}

#[test]
fn invalid_utf8_is_located() {
    let (_d, r) = prepare_file("x.csv", b"q,a\nhello,world\ncaf\xe9,ok\n", "");
    let err = r.unwrap_err().to_string();
    assert!(err.contains("x.csv:3: invalid UTF-8"), "{err}");
}

#[test]
fn json_syntax_error_is_located_and_can_be_rejected() {
    let body =
        b"{\"q\": \"a\", \"a\": \"b\"}\n{\"q\": \"c\", \"a\": }\n{\"q\": \"d\", \"a\": \"e\"}\n";
    let (_d, r) = prepare_file("x.jsonl", body, "");
    let err = r.unwrap_err().to_string();
    assert!(err.contains("x.jsonl:2: JSON syntax error"), "{err}");
    let (_d, r) = prepare_file("x.jsonl", body, "on_error = \"reject\"");
    let m = r.unwrap();
    assert_eq!((m.counts.unreadable, m.counts.kept), (1, 2));
}

#[test]
fn missing_column_names_the_columns_that_exist() {
    let (_d, r) = prepare_file("x.csv", b"question,answer\nhello,world\n", "");
    let err = r.unwrap_err().to_string();
    assert!(err.contains("no column `q`"), "{err}");
    assert!(err.contains("`question`, `answer`"), "{err}");
}

#[test]
fn wrong_types_are_named_and_numbers_become_text() {
    let (_d, r) = prepare_file("x.jsonl", b"{\"q\": [1, 2], \"a\": \"x\"}\n", "");
    let err = r.unwrap_err().to_string();
    assert!(err.contains("column `q` has type"), "{err}");
    let (d, r) = prepare_file("x.jsonl", b"{\"q\": \"six times seven\", \"a\": 42}\n", "");
    r.unwrap();
    let out = read_jsonl(&d.path().join("out/train.jsonl"));
    assert_eq!(out[0]["completion"], "42");
}

#[test]
fn empty_file_is_an_error_naming_it() {
    let (_d, r) = prepare_file("x.csv", b"", "");
    assert!(matches!(r, Err(Error::EmptyFile { ref file }) if file.ends_with("x.csv")));
    let (_d, r) = prepare_file("x.jsonl", b"\n\n", "");
    assert!(matches!(r, Err(Error::EmptyFile { .. })));
}

#[test]
fn bom_and_crlf_are_handled() {
    let (d, r) = prepare_file(
        "x.csv",
        b"\xEF\xBB\xBFq,a\r\nhello there,world\r\n\"multi\r\nline\",ok\r\n",
        "",
    );
    let m = r.unwrap();
    assert_eq!(m.counts.kept, 2);
    let out = read_jsonl(&d.path().join("out/train.jsonl"));
    let prompts: HashSet<&str> = out.iter().map(|v| v["prompt"].as_str().unwrap()).collect();
    assert!(prompts.contains("hello there"), "{prompts:?}");
    assert!(prompts.contains("multi\nline"), "{prompts:?}");
}

/// A field of a few MB used to reach the PII scan and the tokenizer (a 20 MB one peaked at
/// 3.3 GB and 20 s). Now a record over `max_record_bytes` is rejected with its reason and
/// counted before any of that: the e-mail address inside it is never even scanned.
#[test]
fn a_record_over_max_record_bytes_is_rejected_before_pii_and_tokens() {
    let big = format!(
        "mail jane.doe@example.com {}",
        "lorem ipsum ".repeat(3 << 20 >> 4)
    );
    let medium = "many words here ".repeat(500);
    let body = format!("q,a\nshort question,short answer\n\"{medium}\",answer\n\"{big}\",answer\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.csv"), body).unwrap();
    let tok = repo().join("fixtures/tiny-llama/model/tokenizer.json");
    let config = |extra: &str, out: &str| {
        settings(
            dir.path(),
            &format!(
                "inputs = [\"x.csv\"]\nout_dir = \"{out}\"\n{extra}\n[mapping]\nprompt = \"{{q}}\"\ncompletion = \"{{a}}\"\n\
                 [tokens]\ntokenizer = \"{}\"\nmax_tokens = 1000\n[split]\nvalidation = 0.0\ntest = 0.0\n",
                tok.display()
            ),
        )
    };
    let started = std::time::Instant::now();
    let m = run(&config("", "out"));
    let counts = serde_json::to_value(&m.counts).unwrap();
    assert_eq!(counts["too_large"], 1, "{counts}");
    assert_eq!((m.counts.kept, m.counts.filtered), (1, 1), "{counts}");
    assert_eq!(m.counts.input, 3);
    assert!(m.counts.balanced());
    assert_eq!(m.pii["email"], 0, "the big record reached the PII scan");
    let rej = read_jsonl(&dir.path().join("out/rejected.jsonl"));
    let too_large: Vec<&Value> = rej
        .iter()
        .filter(|r| r["category"] == "too_large")
        .collect();
    assert_eq!(too_large.len(), 1, "{rej:?}");
    assert!(
        too_large[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("x.csv:4")
    );
    assert!(
        too_large[0]["reason"]
            .as_str()
            .unwrap()
            .contains("over data.max_record_bytes = 1048576")
    );
    assert!(rej.iter().any(|r| {
        r["reason"]
            .as_str()
            .unwrap()
            .contains("over the limit of 1000")
    }));
    // Tokenising the 3 MB record alone took seconds; rejecting it takes none.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );

    // The limit is a setting.
    let m = run(&config("max_record_bytes = 100", "small"));
    let counts = serde_json::to_value(&m.counts).unwrap();
    assert_eq!(counts["too_large"], 2, "{counts}");
    assert_eq!(m.counts.kept, 1);
}

#[test]
fn empty_fields_are_dropped_and_counted() {
    let (d, r) = prepare_file(
        "x.csv",
        b"q,a\nhello,world\n,missing prompt\n  \x07 ,x\nok,\n",
        "",
    );
    let m = r.unwrap();
    assert_eq!((m.counts.empty, m.counts.kept), (3, 1));
    let rej = read_jsonl(&d.path().join("out/rejected.jsonl"));
    assert!(rej.iter().all(|r| r["category"] == "empty"));
}

#[test]
fn pii_is_redacted_in_outputs_and_counted() {
    let body = "q,a\n\
        \"Email me at jane.doe@example.com\",ok\n\
        \"My card 4111 1111 1111 1111 was charged\",card\n\
        \"Order 4111 1111 1111 1112 is late\",order\n\
        \"Key AKIAIOSFODNN7EXAMPLE leaked\",key\n";
    let (d, r) = prepare_file("x.csv", body.as_bytes(), "");
    let m = r.unwrap();
    assert_eq!(m.pii["email"], 1);
    assert_eq!(m.pii["credit_card"], 1);
    assert_eq!(m.pii["aws_access_key_id"], 1);
    let text = std::fs::read_to_string(d.path().join("out/train.jsonl")).unwrap();
    assert!(text.contains("Email me at [EMAIL]"));
    assert!(text.contains("My card [CREDIT_CARD] was charged"));
    // Not a valid card number (Luhn check fails): left as written.
    assert!(text.contains("Order 4111 1111 1111 1112 is late"));
    assert!(!text.contains("jane.doe") && !text.contains("AKIAIOSFODNN7EXAMPLE"));
}

#[test]
fn pii_reject_keeps_pii_out_of_every_output() {
    let body = "q,a\n\"call +1 415 555 0132 now\",x\nclean question,y\n";
    let (d, r) = prepare_file("x.csv", body.as_bytes(), "pii = \"reject\"");
    let m = r.unwrap();
    assert_eq!((m.counts.pii_rejected, m.counts.kept), (1, 1));
    for f in ["train.jsonl", "rejected.jsonl", "manifest.json"] {
        let text = std::fs::read_to_string(d.path().join("out").join(f)).unwrap();
        assert!(!text.contains("555 0132"), "{f} leaks the phone number");
    }
}

#[test]
fn leakage_is_moved_or_reported() {
    // Dedup off, so near-duplicate pairs survive and some land in different splits.
    let mut body = String::from("q,a\n");
    for i in 0..300 {
        body.push_str(&format!(
            "\"how do I reset the pin of card number {i} please\",reset\n"
        ));
        body.push_str(&format!(
            "\"how do I reset the pin of card number {i} please!\",reset\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.csv"), &body).unwrap();
    let base = "inputs = [\"x.csv\"]\n[mapping]\nprompt = \"{q}\"\ncompletion = \"{a}\"\n[dedup]\nexact = false\nnear = false\n";
    let moved = run(&settings(
        dir.path(),
        &format!("out_dir = \"m\"\n{base}[split]\nleakage = \"move\"\n"),
    ));
    assert!(moved.leakage.moved > 0, "{:?}", moved.leakage);
    let reported = run(&settings(
        dir.path(),
        &format!("out_dir = \"r\"\n{base}[split]\nleakage = \"report\"\n"),
    ));
    assert_eq!(reported.leakage.moved, 0);
    assert!(!reported.leakage.reported.is_empty());
    assert!(reported.leakage.reported[0].contains("x.csv:"));
}

#[test]
fn adding_rows_never_moves_an_old_record_to_another_split() {
    let dir = tempfile::tempdir().unwrap();
    let all = std::fs::read_to_string(repo().join("data/banking77/train.csv")).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    std::fs::write(dir.path().join("small.csv"), lines[..3000].join("\n")).unwrap();
    std::fs::write(dir.path().join("big.csv"), lines[..6000].join("\n")).unwrap();
    let base = "[mapping]\nprompt = \"{text}\"\ncompletion = \"{category}\"\n";
    let small = run(&settings(
        dir.path(),
        &format!("inputs = [\"small.csv\"]\nout_dir = \"s\"\n{base}"),
    ));
    let big = run(&settings(
        dir.path(),
        &format!("inputs = [\"big.csv\"]\nout_dir = \"b\"\n{base}"),
    ));
    assert!(small.counts.kept > 2500 && big.counts.kept > 5000);
    let prompts = |d: &str, s: &str| -> HashSet<String> {
        read_jsonl(&dir.path().join(d).join(format!("{s}.jsonl")))
            .iter()
            .map(|v| v["prompt"].as_str().unwrap().to_string())
            .collect()
    };
    for s in ["train", "validation", "test"] {
        let old = prompts("s", s);
        let new = prompts("b", s);
        let moved: Vec<_> = old.difference(&new).collect();
        assert!(
            moved.is_empty(),
            "{} {s} records moved, e.g. {:?}",
            moved.len(),
            moved.first()
        );
    }
}

#[test]
fn unchanged_inputs_are_reused_and_a_changed_input_is_redone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.csv"),
        "q,a\nhello,world\nhow are you,fine\n",
    )
    .unwrap();
    let s = settings(
        dir.path(),
        "inputs = [\"x.csv\"]\nout_dir = \"out\"\n[mapping]\nprompt = \"{q}\"\ncompletion = \"{a}\"\n",
    );
    assert!(!prepare(&s, &[], false, &NoProgress).unwrap().reused);
    assert!(prepare(&s, &[], false, &NoProgress).unwrap().reused);
    assert!(
        !prepare(&s, &[], true, &NoProgress).unwrap().reused,
        "--force redoes"
    );
    std::fs::write(dir.path().join("x.csv"), "q,a\nhello,world\n").unwrap();
    let p = prepare(&s, &[], false, &NoProgress).unwrap();
    assert!(!p.reused);
    assert_eq!(p.manifest.counts.input, 1);
}

#[test]
fn parquet_in_and_out_round_trip() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let mut df =
        df!("q" => ["what is two plus two", "capital of France"], "a" => ["4", "Paris"]).unwrap();
    let f = std::fs::File::create(dir.path().join("in.parquet")).unwrap();
    ParquetWriter::new(f).finish(&mut df).unwrap();
    let s = settings(
        dir.path(),
        "inputs = [\"*.parquet\"]\nout_dir = \"out\"\noutput_format = \"parquet\"\n[mapping]\nprompt = \"{q}\"\ncompletion = \"{a}\"\n[split]\nvalidation = 0.0\ntest = 0.0\n",
    );
    let m = run(&s);
    assert_eq!(m.splits["train"].file, "train.parquet");
    let back = LazyFrame::scan_parquet(
        PlRefPath::new(
            dir.path()
                .join("out/train.parquet")
                .to_string_lossy()
                .as_ref(),
        ),
        Default::default(),
    )
    .unwrap()
    .collect()
    .unwrap();
    assert_eq!(back.height(), 2);
    assert_eq!(back.get_column_names(), vec!["prompt", "completion"]);
}

#[test]
fn target_rule_violations_stop_before_writing_and_list_every_one() {
    // Claude 3 Haiku needs at least 32 training records; three are given.
    let (d, r) = prepare_file(
        "x.csv",
        b"q,a\none,a\ntwo,b\nthree,c\n",
        "target = \"bedrock:claude-3-haiku\"",
    );
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains("bedrock:claude-3-haiku") && err.contains("train"),
        "{err}"
    );
    assert!(!d.path().join("out/train.jsonl").exists());
    assert!(d.path().join("out/violations.jsonl").exists());
}

#[test]
fn truncate_cuts_the_completion_to_the_token_limit() {
    let dir = tempfile::tempdir().unwrap();
    let long_answer = "the answer is forty two because six times seven is forty two ".repeat(20);
    std::fs::write(
        dir.path().join("x.csv"),
        format!("q,a\nwhat is six times seven,{long_answer}\n"),
    )
    .unwrap();
    let tok = repo().join("fixtures/tiny-llama/model/tokenizer.json");
    let s = settings(
        dir.path(),
        &format!(
            "inputs = [\"x.csv\"]\nout_dir = \"out\"\n[mapping]\nprompt = \"{{q}}\"\ncompletion = \"{{a}}\"\n\
             [tokens]\ntokenizer = \"{}\"\nmax_tokens = 40\nover_limit = \"truncate\"\n[split]\nvalidation = 0.0\ntest = 0.0\n",
            tok.display()
        ),
    );
    let m = run(&s);
    assert_eq!(
        (m.counts.kept, m.counts.truncated, m.counts.filtered),
        (1, 1, 0)
    );
    assert!(m.tokens.as_ref().unwrap().max <= 40);
    let out = read_jsonl(&dir.path().join("out/train.jsonl"));
    let completion = out[0]["completion"].as_str().unwrap();
    assert!(
        long_answer.starts_with(completion) && completion.len() < long_answer.len() / 4,
        "{completion}"
    );
}

#[test]
fn a_killed_runs_temporary_files_are_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/.train.jsonl.tmp-999"), "half a fi").unwrap();
    std::fs::write(dir.path().join("out/.manifest.json.999.tmp"), "{").unwrap();
    std::fs::write(dir.path().join("x.csv"), "q,a\nhello,world\n").unwrap();
    let s = settings(
        dir.path(),
        "inputs = [\"x.csv\"]\nout_dir = \"out\"\n[mapping]\nprompt = \"{q}\"\ncompletion = \"{a}\"\n",
    );
    run(&s);
    let names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn a_killed_runs_staging_folder_is_removed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("out/.staging-4194303");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("train.jsonl"), "half a run").unwrap();
    std::fs::write(dir.path().join("x.csv"), "q,a\nhello,world\n").unwrap();
    let s = settings(
        dir.path(),
        "inputs = [\"x.csv\"]\nout_dir = \"out\"\n[mapping]\nprompt = \"{q}\"\ncompletion = \"{a}\"\n[split]\nvalidation = 0.0\ntest = 0.0\n",
    );
    run(&s);
    let names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

/// 300 rows, one of them with a quote that never closes: it used to swallow every row after
/// it (120 records counted, "1 rejected"). Now it costs its own line only.
#[test]
fn an_unterminated_quote_costs_one_row_not_the_rest_of_the_file() {
    let rows = |bad: &[(usize, &str)]| {
        let mut body = String::from("q,a\n");
        for i in 1..=300 {
            match bad.iter().find(|(r, _)| *r == i) {
                Some((_, line)) => body.push_str(line),
                None => body.push_str(&format!("question number {i},answer {i}")),
            }
            body.push('\n');
        }
        body
    };
    let cases = [
        // The quote runs to the end of the file.
        rows(&[(120, "\"never closed,a")]),
        // The quote pairs with a properly quoted field 80 rows later.
        rows(&[(120, "\"never closed,a"), (200, "\"a, quoted field\",b")]),
        // Two stray quotes enclose lines that do not add up to a record.
        rows(&[(120, "x,\"stray"), (150, "y\",z,extra")]),
    ];
    for (n, body) in cases.iter().enumerate() {
        // Dedup off: the numbered rows are near duplicates of each other.
        let extra = "on_error = \"reject\"\n[dedup]\nnear = false";
        let (d, r) = prepare_file("x.csv", body.as_bytes(), extra);
        let m = r.unwrap();
        assert_eq!(m.counts.input, 300, "case {n}: {:?}", m.counts);
        assert!(m.counts.balanced(), "case {n}: {:?}", m.counts);
        let rej = read_jsonl(&d.path().join("out/rejected.jsonl"));
        let sources: Vec<&str> = rej.iter().map(|r| r["source"].as_str().unwrap()).collect();
        assert!(sources[0].ends_with("x.csv:121"), "case {n}: {sources:?}");
        assert!(
            rej.iter().all(|r| r["category"] == "unreadable"),
            "case {n}: {rej:?}"
        );
        assert!(
            m.counts.kept >= 298 && m.counts.unreadable <= 2,
            "case {n}: {:?}",
            m.counts
        );
        let train = read_jsonl(&d.path().join("out/train.jsonl"));
        let prompts: HashSet<&str> = train
            .iter()
            .map(|v| v["prompt"].as_str().unwrap())
            .collect();
        assert!(prompts.contains("question number 300"), "case {n}");
    }
    // With on_error = "fail" the same file stops, naming the line.
    let (_d, r) = prepare_file("x.csv", cases[0].as_bytes(), "[dedup]\nnear = false");
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains("x.csv:121: a quoted field is never closed"),
        "{err}"
    );
}

#[test]
fn a_header_only_csv_says_it_has_a_header_but_no_rows() {
    let (_d, r) = prepare_file("x.csv", b"q,a\n", "");
    let err = r.unwrap_err().to_string();
    assert!(
        err.contains("x.csv") && err.contains("has a header") && err.contains("no rows"),
        "{err}"
    );
    assert!(!err.contains("no header"), "{err}");
    assert!(err.contains("`q`, `a`"), "{err}");
}

/// Every row dropped (here: all blank) used to end in "prepared", exit 0, and an empty
/// train.jsonl.
#[test]
fn a_prepare_that_leaves_no_train_record_fails_and_writes_nothing() {
    let (d, r) = prepare_file("x.csv", b"q,a\n,x\n  ,y\n", "");
    let err = r.unwrap_err().to_string();
    assert!(err.contains("no record reached the train split"), "{err}");
    assert!(
        err.contains("2 record(s) in") && err.contains("2 empty"),
        "{err}"
    );
    assert!(err.contains("x.csv:2: empty: "), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!d.path().join("out/train.jsonl").exists());
    assert!(!d.path().join("out/manifest.json").exists());
}

/// An input that sits in out_dir under an output's name used to be replaced by the prepared
/// rows. Now the run is refused before any work and the input is left as it was.
#[test]
fn an_input_that_is_an_output_path_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let input = dir.path().join("data/train.jsonl");
    let body = "{\"q\": \"hello\", \"a\": \"world\"}\n{\"q\": \"how are you\", \"a\": \"fine\"}\n";
    std::fs::write(&input, body).unwrap();
    let mapping = "[mapping]\nprompt = \"{q}\"\ncompletion = \"{a}\"\n";
    for inputs in ["data/train.jsonl", "data/*.jsonl"] {
        let s = settings(
            dir.path(),
            &format!("inputs = [\"{inputs}\"]\nout_dir = \"data\"\n{mapping}"),
        );
        let err = prepare(&s, &[], false, &NoProgress).unwrap_err();
        assert!(matches!(err, Error::Config(_)) || err.to_string().contains("input"));
        let text = err.to_string();
        assert!(
            text.contains(&input.display().to_string()) && text.contains("hint:"),
            "{text}"
        );
        assert_eq!(std::fs::read_to_string(&input).unwrap(), body);
        assert!(!dir.path().join("data/manifest.json").exists());
    }
    // A glob that would read the outputs back in on the next run is refused too, even
    // before any output exists.
    std::fs::create_dir_all(dir.path().join("raw")).unwrap();
    std::fs::write(dir.path().join("raw/x.jsonl"), body).unwrap();
    let s = settings(
        dir.path(),
        &format!("inputs = [\"raw/*\"]\nout_dir = \"raw\"\n{mapping}"),
    );
    let text = prepare(&s, &[], false, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(text.contains("raw/*") && text.contains("raw/"), "{text}");
    assert!(!dir.path().join("raw/train.jsonl").exists());
}

/// The cases whose outputs are pinned byte for byte in `tests/expected/golden.tsv`: both
/// shipped data sets with every target (chat for the targets that take conversations), and
/// the options that change which records survive (PII rejection, truncation, leakage report,
/// Parquet out). `(name, data set, target, mapping kind, extra [data] settings)`.
const GOLDEN: &[(&str, &str, &str, &str, &str)] = &[
    ("banking77-local", "banking77", "local", "completion", ""),
    ("banking77-local-chat", "banking77", "local", "chat", ""),
    (
        "banking77-local-parquet",
        "banking77",
        "local",
        "completion",
        "output_format = \"parquet\"\n",
    ),
    (
        "banking77-titan",
        "banking77",
        "bedrock:titan",
        "completion",
        "",
    ),
    (
        "banking77-llama3.1",
        "banking77",
        "bedrock:llama3.1",
        "completion",
        "",
    ),
    (
        "banking77-llama3.2",
        "banking77",
        "bedrock:llama3.2",
        "completion",
        "",
    ),
    (
        "banking77-cohere",
        "banking77",
        "bedrock:cohere",
        "completion",
        "",
    ),
    ("banking77-nova", "banking77", "bedrock:nova", "chat", ""),
    (
        "banking77-claude",
        "banking77",
        "bedrock:claude-3-haiku",
        "chat",
        "",
    ),
    (
        "banking77-pii-reject",
        "banking77",
        "local",
        "completion",
        "pii = \"reject\"\n",
    ),
    ("gsm8k-local", "gsm8k", "local", "completion", ""),
    ("gsm8k-local-chat", "gsm8k", "local", "chat", ""),
    ("gsm8k-titan", "gsm8k", "bedrock:titan", "completion", ""),
    (
        "gsm8k-llama3.1",
        "gsm8k",
        "bedrock:llama3.1",
        "completion",
        "",
    ),
    (
        "gsm8k-llama3.2",
        "gsm8k",
        "bedrock:llama3.2",
        "completion",
        "",
    ),
    ("gsm8k-cohere", "gsm8k", "bedrock:cohere", "completion", ""),
    ("gsm8k-nova", "gsm8k", "bedrock:nova", "chat", ""),
    (
        "gsm8k-claude",
        "gsm8k",
        "bedrock:claude-3-haiku",
        "chat",
        "",
    ),
    (
        "gsm8k-truncate",
        "gsm8k",
        "local",
        "completion",
        "tokens.max_tokens = 128\ntokens.over_limit = \"truncate\"\n",
    ),
    (
        "gsm8k-filter",
        "gsm8k",
        "local",
        "completion",
        "tokens.max_tokens = 160\n",
    ),
    (
        "gsm8k-leakage-report",
        "gsm8k",
        "local",
        "completion",
        "split.leakage = \"report\"\nsplit.leakage_threshold = 0.5\n",
    ),
];

/// One golden case's outputs as a line: the sha256 of each output file, and of the manifest
/// less what depends on where the run happened (paths, the settings' hash). Rejected
/// records name their input file, so the checkout's path is replaced by `<repo>` first.
fn golden_line(name: &str, dataset: &str, target: &str, kind: &str, extra: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (input, mapping, split) = match (dataset, kind) {
        ("banking77", "chat") => (
            "data/banking77/train.csv",
            "kind = \"chat\"\nsystem = \"Label the banking request.\"\nuser = \"{text}\"\nassistant = \"{category}\"",
            "stratify_by = \"category\"\nseed = 3",
        ),
        ("banking77", _) => (
            "data/banking77/train.csv",
            "prompt = \"Request: {text}\\nIntent:\"\ncompletion = \" {category}\"",
            "stratify_by = \"category\"\nseed = 3",
        ),
        (_, "chat") => (
            "data/gsm8k/train.jsonl",
            "kind = \"chat\"\nsystem = \"Solve it.\"\nuser = \"{question}\"\nassistant = \"{answer}\"",
            "validation = 0.05\ntest = 0.05",
        ),
        _ => (
            "data/gsm8k/train.jsonl",
            "prompt = \"{question}\"\ncompletion = \"{answer}\"",
            "validation = 0.05\ntest = 0.05",
        ),
    };
    // Dotted keys of `extra` go into their tables.
    let (mut top, mut tokens, mut split_extra) = (String::new(), String::new(), String::new());
    for line in extra.lines() {
        if let Some(l) = line.strip_prefix("tokens.") {
            tokens.push_str(l);
            tokens.push('\n');
        } else if let Some(l) = line.strip_prefix("split.") {
            split_extra.push_str(l);
            split_extra.push('\n');
        } else {
            top.push_str(line);
            top.push('\n');
        }
    }
    let s = settings(
        &repo(),
        &format!(
            "inputs = [\"{input}\"]\ntarget = \"{target}\"\nout_dir = \"{}\"\non_error = \"reject\"\n{top}\
             [mapping]\n{mapping}\n[tokens]\ntokenizer = \"fixtures/tiny-llama/model/tokenizer.json\"\n{tokens}\
             [split]\n{split}\n{split_extra}",
            dir.path().display()
        ),
    );
    let checkout = std::fs::canonicalize(repo()).unwrap().display().to_string();
    let placed = |bytes: Vec<u8>| {
        String::from_utf8(bytes)
            .map(|t| t.replace(&checkout, "<repo>").into_bytes())
            .unwrap_or_else(|e| e.into_bytes())
    };
    let mut fields = vec![name.to_string()];
    match prepare(&s, &[], false, &NoProgress) {
        Ok(p) => {
            let m = p.manifest;
            for out in m.splits.values().chain([&m.rejected]) {
                let bytes = placed(std::fs::read(dir.path().join(&out.file)).unwrap());
                fields.push(format!("{}={}", out.file, &sha256_hex(&bytes)[..16]));
            }
            let mut v = serde_json::to_value(&m).unwrap();
            let obj = v.as_object_mut().unwrap();
            obj.remove("config_hash");
            obj.remove("inputs");
            // rejected.jsonl's size and sha256 depend on the checkout's path; its content is
            // checked above, placed.
            if let Some(rejected) = obj.get_mut("rejected").and_then(|r| r.as_object_mut()) {
                rejected.remove("sha256");
                rejected.remove("bytes");
            }
            let text = placed(serde_json::to_string(&v).unwrap().into_bytes());
            fields.push(format!("manifest={}", &sha256_hex(&text)[..16]));
        }
        Err(e) => fields.push(format!("error={}", e.to_string().lines().next().unwrap())),
    }
    fields.join("\t")
}

/// Outputs stay byte-identical to those of the one-pass `prepare` that the step pipeline
/// replaced: `tests/expected/golden.tsv` was written by that code (commit "datasets: golden
/// outputs of today's prepare"). `TUNEBENCH_BLESS_GOLDEN=1` rewrites it, for a deliberate
/// change of output.
#[test]
fn outputs_match_the_golden_hashes_for_every_target() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected/golden.tsv");
    let got: Vec<String> = GOLDEN
        .iter()
        .map(|(n, d, t, k, e)| golden_line(n, d, t, k, e))
        .collect();
    let got = got.join("\n") + "\n";
    if std::env::var_os("TUNEBENCH_BLESS_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    for (g, w) in got.lines().zip(want.lines()) {
        assert_eq!(g, w);
    }
    assert_eq!(got.lines().count(), want.lines().count());
}

/// The steps run in parallel inside each chunk; what they write must not depend on how many
/// threads did it: one thread and three give the golden outputs.
#[test]
fn outputs_do_not_depend_on_the_number_of_threads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected/golden.tsv");
    let want = std::fs::read_to_string(&path).unwrap();
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        for case in GOLDEN
            .iter()
            .filter(|c| ["banking77-local", "banking77-nova", "gsm8k-truncate"].contains(&c.0))
        {
            let (n, d, t, k, e) = *case;
            let got = pool.install(|| golden_line(n, d, t, k, e));
            let expected = want.lines().find(|l| l.starts_with(&format!("{n}\t")));
            assert_eq!(Some(got.as_str()), expected, "{threads} thread(s)");
        }
    }
}

/// Inputs are read, de-duplicated and written a stretch at a time; where the stretches end
/// changes nothing. A 128 MiB memory limit reads 256 KiB at a time, so banking77 comes in
/// four stretches and GSM8K in sixteen, against two and eight at the default limit: every
/// golden case still gives the golden outputs.
#[test]
fn outputs_do_not_depend_on_the_memory_limit() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected/golden.tsv");
    let want = std::fs::read_to_string(&path).unwrap();
    for (n, d, t, k, e) in GOLDEN {
        let extra = format!("{e}\nmemory_limit = \"128MiB\"");
        let got = golden_line(n, d, t, k, &extra);
        let expected = want.lines().find(|l| l.starts_with(&format!("{n}\t")));
        assert_eq!(Some(got.as_str()), expected);
    }
}

/// A JSON key that one stretch of the file never has, and a later one does, is null in the
/// first (its records are dropped as empty, each with its line) and read in the second; a
/// key no line has is an error naming the keys the file does have.
#[test]
fn a_json_key_missing_from_one_stretch_is_null_there_and_read_in_the_next() {
    let mut body = String::new();
    for i in 0..12_000 {
        body.push_str(&format!(
            "{{\"q\": \"question number {i}\", \"b\": \"padding text\"}}\n"
        ));
    }
    body.push_str("{\"q\": \"the last question\", \"a\": \"its answer\"}\n");
    let (d, r) = prepare_file(
        "x.jsonl",
        body.as_bytes(),
        "memory_limit = \"128MiB\"\non_error = \"reject\"",
    );
    let m = r.unwrap();
    assert_eq!(m.counts.kept, 1);
    assert_eq!(m.counts.empty, 12_000);
    let out = read_jsonl(&d.path().join("out/train.jsonl"));
    assert_eq!(out[0]["completion"], "its answer");
    let rejected = read_jsonl(&d.path().join("out/rejected.jsonl"));
    let source = rejected[11_999]["source"].as_str().unwrap();
    assert!(source.ends_with("/x.jsonl:12000"), "{source}");

    let (_d, r) = prepare_file(
        "y.jsonl",
        b"{\"q\": \"x\", \"b\": 1}\n{\"q\": \"y\", \"c\": 2}\n",
        "",
    );
    let err = r.unwrap_err().to_string();
    assert!(err.contains("no column `a`"), "{err}");
    assert!(err.contains("`q`, `b`, `c`"), "{err}");
}

/// A quote that never closes makes the rest of the file one record. Past a quarter of the
/// memory limit the reader stops holding it and fails, naming the line, instead of reading
/// the whole file into memory.
#[test]
fn a_record_longer_than_the_memory_limit_allows_fails_naming_its_line() {
    let mut body = String::from("q,a\nfine,row\n\"never closed,x\n");
    while body.len() < 33 << 20 {
        body.push_str("more,rows that the open quote swallows\n");
    }
    let (d, r) = prepare_file(
        "x.csv",
        body.as_bytes(),
        "memory_limit = \"128MiB\"\non_error = \"reject\"",
    );
    let err = r.unwrap_err();
    assert!(matches!(err, Error::RecordTooLong { line: 3, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("/x.csv:3: a record runs on for"), "{text}");
    assert!(text.contains("quote"), "{text}");
    assert!(!d.path().join("out/manifest.json").exists());
}

/// A run whose per-record state outgrows the memory limit stops with what holds how much,
/// before writing anything, instead of being killed by the system.
#[test]
fn a_run_that_outgrows_the_memory_limit_says_which_step_holds_what() {
    let mut body = String::from("q,a\n");
    for i in 0..400_000u64 {
        // Distinct texts: every record is kept, so the near-duplicate index grows with them.
        let h = tunebench_core::SplitMix64(i).next_u64();
        body.push_str(&format!("ticket {h:x} about card {i},label{}\n", i % 7));
    }
    let (d, r) = prepare_file("x.csv", body.as_bytes(), "memory_limit = \"128MiB\"");
    let err = r.unwrap_err();
    assert!(matches!(err, Error::MemoryLimit { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("more memory than the limit of 128.0 MiB"),
        "{text}"
    );
    assert!(
        text.contains("the largest is the near-duplicate index"),
        "{text}"
    );
    assert!(text.contains("--memory-limit"), "{text}");
    assert!(!d.path().join("out/manifest.json").exists());
    assert!(!d.path().join("out/train.jsonl").exists());
}
