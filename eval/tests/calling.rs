//! The calling side end to end: OpenAI-compatible candidates against the loopback stand-in
//! (answers, tokens, throttling, retries, fatal errors, cache, resume, cost guard, key
//! hygiene), and the local candidate against tunebench-models' own generation.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tunebench_eval::cache::{Cache, CacheMode, PruneFilter};
use tunebench_eval::candidate::{
    self, Candidate, CandidateSettings, LocalSettings, OpenAiSettings,
};
use tunebench_eval::pricing::CandidatePrice;
use tunebench_eval::runner::{
    self, CostGuard, NOT_SENT_COST, NoProgress, RunProgress, RunnerOptions,
};
use tunebench_eval::types::{ChatRequest, ExampleRequest, Message, Role, Sampling};
use tunebench_models::WeightDtype;
use tunebench_standins::openai::{OpenAiConfig, OpenAiStandin};

const SYSTEM: &str = "Answer briefly.";

/// `n` requests: a 2-word system prompt and a 4-word question, so the stand-in counts
/// 6 prompt tokens and 4 completion tokens (it echoes).
fn requests(n: usize) -> Vec<ExampleRequest> {
    (0..n)
        .map(|i| ExampleRequest {
            id: format!("ex{i}"),
            request: ChatRequest {
                system: Some(SYSTEM.into()),
                messages: vec![Message {
                    role: Role::User,
                    content: format!("what is question {i}?"),
                }],
                sampling: Sampling::default(),
                scoring: None,
            },
        })
        .collect()
}

fn server(latency_ms: u64) -> OpenAiStandin {
    OpenAiStandin::start(OpenAiConfig {
        latency: Duration::from_millis(latency_ms),
        ..OpenAiConfig::default()
    })
    .unwrap()
}

fn settings(server: &OpenAiStandin, concurrency: usize) -> OpenAiSettings {
    OpenAiSettings {
        name: "standin".into(),
        base_url: server.base_url().into(),
        model: "standin-model".into(),
        api_key_env: None,
        headers: Default::default(),
        timeout_s: 10.0,
        concurrency,
    }
}

fn openai(server: &OpenAiStandin, concurrency: usize) -> Arc<dyn Candidate> {
    candidate::build(&CandidateSettings::Openai(settings(server, concurrency))).unwrap()
}

/// Short backoffs so retries do not slow the tests.
fn fast() -> RunnerOptions {
    RunnerOptions {
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(50),
        ..RunnerOptions::default()
    }
}

/// $1 per call at 6 input + 4 output tokens.
const DOLLAR_PER_CALL: CandidatePrice = CandidatePrice::tokens(100.0, 100.0);

fn cache_in(dir: &tempfile::TempDir) -> Cache {
    Cache::open(dir.path().join("cache.sqlite")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_is_answered_in_order_with_the_servers_token_counts() {
    let server = server(5);
    let mut reqs = requests(50);
    reqs[7].request.sampling = Sampling {
        temperature: 0.7,
        top_p: Some(0.9),
        max_tokens: 3,
        stop: vec!["\n\n".into()],
        seed: Some(42),
    };
    let out = runner::run_with_stats(
        openai(&server, 8),
        &reqs,
        None,
        &fast(),
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(out.records.len(), 50);
    for (i, r) in out.records.iter().enumerate() {
        assert_eq!(r.id, format!("ex{i}"));
        assert_eq!(r.error, None);
        assert!(!r.cached);
        assert_eq!(r.input_tokens, 6);
        if i == 7 {
            // max_tokens = 3 reached the server: it cut the echo to 3 words.
            assert_eq!(r.text, "what is question");
            assert_eq!(r.output_tokens, 3);
        } else {
            assert_eq!(r.text, format!("what is question {i}?"));
            assert_eq!(r.output_tokens, 4);
            assert!((r.cost_usd - 1.0).abs() < 1e-9, "{}", r.cost_usd);
        }
        assert!(r.latency_ms >= 5.0, "{}", r.latency_ms);
    }
    assert_eq!(server.requests(), 50);
    assert!(server.max_in_flight() <= 8);
    assert_eq!(out.stats.answered, 50);

    // Every sampling parameter and the system prompt go over the wire.
    let one = runner::run(
        openai(&server, 1),
        &reqs[7..8],
        None,
        &fast(),
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(one[0].text, "what is question");
    let body = server.last_request().unwrap();
    assert_eq!(body["model"], "standin-model");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][0]["content"], SYSTEM);
    assert_eq!(body["messages"][1]["role"], "user");
    assert!((body["temperature"].as_f64().unwrap() - 0.7).abs() < 1e-6);
    assert!((body["top_p"].as_f64().unwrap() - 0.9).abs() < 1e-6);
    assert_eq!(body["max_tokens"], 3);
    assert_eq!(body["stop"][0], "\n\n");
    assert_eq!(body["seed"], 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_storm_shrinks_concurrency_and_every_example_ends_with_a_record() {
    let server = server(20);
    // More than 4 in flight: 429 at once, without Retry-After.
    server.storm(Some(4));
    let opts = RunnerOptions {
        concurrency: Some(16),
        max_attempts: 30,
        increase_after: 5,
        ..fast()
    };
    let reqs = requests(200);
    let out = runner::run_with_stats(
        openai(&server, 16),
        &reqs,
        None,
        &opts,
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(out.records.len(), 200);
    for (i, r) in out.records.iter().enumerate() {
        assert_eq!(r.id, format!("ex{i}"));
        assert!(
            r.error.is_some() || r.text == format!("what is question {i}?"),
            "{r:?}"
        );
    }
    let s = &out.stats;
    assert!(s.throttled > 0, "{s:?}");
    assert_eq!(s.throttled, server.throttled());
    assert!(server.max_in_flight() <= 16, "{}", server.max_in_flight());
    assert!(s.min_concurrency <= 4, "concurrency did not shrink: {s:?}");
    assert_eq!(s.initial_concurrency, 16);
    // AIMD keeps it near the capacity, so almost every example gets through.
    assert_eq!(s.answered + s.failed, 200);
    assert!(s.answered >= 190, "{s:?}");
    assert_eq!(server.answered(), s.answered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let server = OpenAiStandin::start(OpenAiConfig {
        retry_after: Some(Duration::from_millis(150)),
        ..OpenAiConfig::default()
    })
    .unwrap();
    server.throttle_next(2);
    let started = Instant::now();
    let out = runner::run_with_stats(
        openai(&server, 1),
        &requests(3),
        None,
        &fast(),
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(out.records.iter().all(|r| r.error.is_none()));
    assert_eq!(server.requests(), 5);
    assert_eq!(out.stats.throttled, 2);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_and_then_given_up() {
    let server = server(0);
    server.fail_next(5);
    let out = runner::run_with_stats(
        openai(&server, 2),
        &requests(10),
        None,
        &fast(),
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(out.records.iter().all(|r| r.error.is_none()));
    assert_eq!(server.requests(), 15);
    assert_eq!(out.stats.retries, 5);

    server.reset_counters();
    server.fail_next(100);
    let opts = RunnerOptions {
        max_attempts: 3,
        ..fast()
    };
    let out = runner::run(
        openai(&server, 2),
        &requests(1),
        None,
        &opts,
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    let err = out[0].error.as_deref().unwrap();
    assert!(err.contains("HTTP 500"), "{err}");
    assert!(err.contains("gave up after 3 attempts"), "{err}");
    assert_eq!(server.requests(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_request_is_fatal_with_the_servers_message() {
    let server = server(0);
    server.reject_containing(Some("POISON"));
    let mut reqs = requests(5);
    reqs[3].request.messages[0].content = "a POISON prompt".into();
    let out = runner::run(
        openai(&server, 2),
        &reqs,
        None,
        &fast(),
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    let err = out[3].error.as_deref().unwrap();
    assert!(err.starts_with("HTTP 400: "), "{err}");
    assert!(err.contains("rejected by the stand-in"), "{err}");
    assert_eq!(out[3].text, "");
    assert_eq!(out.iter().filter(|r| r.error.is_none()).count(), 4);
    // Not retried.
    assert_eq!(server.requests(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_calls_time_out_and_are_retried() {
    let server = server(400);
    let opts = RunnerOptions {
        timeout: Some(Duration::from_millis(50)),
        max_attempts: 2,
        ..fast()
    };
    let out = runner::run(
        openai(&server, 1),
        &requests(1),
        None,
        &opts,
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    let err = out[0].error.as_deref().unwrap();
    assert_eq!(err, "timed out after 0.05 s (gave up after 2 attempts)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_rerun_sends_nothing() {
    let server = server(1);
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir);
    let reqs = requests(30);
    let first = runner::run(
        openai(&server, 4),
        &reqs,
        Some(&cache),
        &fast(),
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(cache.len().unwrap(), 30);
    server.reset_counters();

    let again = runner::run_with_stats(
        openai(&server, 4),
        &reqs,
        Some(&cache),
        &fast(),
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(server.requests(), 0);
    assert_eq!(again.stats.cache_hits, 30);
    for (a, b) in first.iter().zip(&again.records) {
        assert!(b.cached);
        assert_eq!(b.cost_usd, 0.0);
        assert_eq!(
            (
                &a.id,
                &a.text,
                a.input_tokens,
                a.output_tokens,
                a.latency_ms
            ),
            (
                &b.id,
                &b.text,
                b.input_tokens,
                b.output_tokens,
                b.latency_ms
            )
        );
    }

    // Any sampling change is a different request.
    let mut warmer = reqs.clone();
    warmer[0].request.sampling.temperature = 0.5;
    runner::run(
        openai(&server, 4),
        &warmer,
        Some(&cache),
        &fast(),
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(server.requests(), 1);

    // --refresh sends everything and rewrites; --no-cache sends everything and writes nothing.
    server.reset_counters();
    for mode in [CacheMode::Refresh, CacheMode::Off] {
        let opts = RunnerOptions {
            cache_mode: mode,
            ..fast()
        };
        let out = runner::run(
            openai(&server, 4),
            &reqs,
            Some(&cache),
            &opts,
            &DOLLAR_PER_CALL,
            &NoProgress,
        )
        .await
        .unwrap();
        assert!(out.iter().all(|r| !r.cached && r.error.is_none()));
    }
    assert_eq!(server.requests(), 60);
    assert_eq!(cache.len().unwrap(), 31);

    // Prune by candidate identity.
    let identity = openai(&server, 1).identity().to_string();
    assert!(identity.starts_with("openai:http://127.0.0.1:"));
    let pruned = cache
        .prune(&PruneFilter {
            older_than: None,
            candidate: Some(identity.clone()),
        })
        .unwrap();
    assert_eq!(pruned, vec![(identity, 31)]);
}

/// Progress that wakes the test once `k` examples have their record.
struct KillAfter {
    done: AtomicU64,
    k: u64,
    notify: Arc<Notify>,
}

impl RunProgress for KillAfter {
    fn start(&self, _total: u64) {}
    fn advance(&self, n: u64) {
        if self.done.fetch_add(n, Ordering::SeqCst) + n >= self.k {
            self.notify.notify_one();
        }
    }
    fn finish(&self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_resumes_sending_only_what_is_missing() {
    let server = server(10);
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(&dir);
    let reqs = requests(100);
    let notify = Arc::new(Notify::new());
    let progress = KillAfter {
        done: AtomicU64::new(0),
        k: 30,
        notify: notify.clone(),
    };
    let candidate = openai(&server, 4);
    let opts = fast();
    tokio::select! {
        _ = runner::run(candidate.clone(), &reqs, Some(&cache), &opts, &DOLLAR_PER_CALL, &progress) => {
            panic!("the run finished before it was killed");
        }
        _ = notify.notified() => {}
    }
    // The run future is dropped: its calls in flight are abandoned.
    let committed = cache.len().unwrap();
    assert!((30..100).contains(&committed), "{committed}");
    let sent_first = server.requests();
    assert!(
        sent_first >= committed && sent_first <= committed + 4,
        "{sent_first} {committed}"
    );
    // Let abandoned requests drain before counting afresh.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.reset_counters();

    let out = runner::run_with_stats(
        candidate,
        &reqs,
        Some(&cache),
        &fast(),
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(server.requests(), 100 - committed);
    assert_eq!(out.stats.cache_hits, committed);
    assert_eq!(out.stats.answered, 100 - committed);
    assert_eq!(cache.len().unwrap(), 100);
    for (i, r) in out.records.iter().enumerate() {
        assert_eq!(r.text, format!("what is question {i}?"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_cost_stops_sending_across_candidates() {
    let server = server(0);
    let guard = CostGuard::new(Some(10.0));
    let opts = RunnerOptions {
        concurrency: Some(1),
        cost_guard: Some(guard.clone()),
        ..fast()
    };
    let out = runner::run_with_stats(
        openai(&server, 1),
        &requests(50),
        None,
        &opts,
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(server.requests(), 10);
    assert_eq!(out.stats.not_sent, 40);
    assert!((guard.spent() - 10.0).abs() < 1e-9);
    for (i, r) in out.records.iter().enumerate() {
        if i < 10 {
            assert_eq!(r.error, None);
        } else {
            assert_eq!(r.error.as_deref(), Some(NOT_SENT_COST));
            assert_eq!(r.id, format!("ex{i}"));
        }
    }
    // The guard is shared: a second candidate sends nothing.
    let out = runner::run(
        openai(&server, 1),
        &requests(5),
        None,
        &opts,
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(server.requests(), 10);
    assert!(
        out.iter()
            .all(|r| r.error.as_deref() == Some(NOT_SENT_COST))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_never_appears_in_errors() {
    // Rust 2024 makes `set_var` unsafe (forbidden here), so the "key" is an existing
    // variable's value: PATH, long and distinctive.
    let key = std::env::var("PATH").unwrap();
    assert!(key.len() > 4);
    let server = OpenAiStandin::start(OpenAiConfig {
        api_key: Some("the-right-key".into()),
        ..OpenAiConfig::default()
    })
    .unwrap();
    let mut s = settings(&server, 1);
    s.api_key_env = Some("PATH".into());
    let wrong = candidate::build(&CandidateSettings::Openai(s.clone())).unwrap();
    let out = runner::run(
        wrong,
        &requests(1),
        None,
        &fast(),
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    let err = out[0].error.as_deref().unwrap();
    assert!(err.starts_with("HTTP 401"), "{err}");
    assert!(err.contains("Incorrect API key provided: ***"), "{err}");
    assert!(!err.contains(&key), "key leaked: {err}");

    // A connection failure names the URL, never the key.
    let mut down = s.clone();
    down.base_url = "http://127.0.0.1:9/v1".into();
    let out = runner::run(
        candidate::build(&CandidateSettings::Openai(down)).unwrap(),
        &requests(1),
        None,
        &RunnerOptions {
            max_attempts: 1,
            ..fast()
        },
        &DOLLAR_PER_CALL,
        &NoProgress,
    )
    .await
    .unwrap();
    let err = out[0].error.as_deref().unwrap();
    assert!(err.contains("127.0.0.1:9"), "{err}");
    assert!(!err.contains(&key), "key leaked: {err}");

    // A missing variable is named; nothing else is said.
    let mut missing = s;
    missing.api_key_env = Some("TUNEBENCH_TEST_SURELY_UNSET_KEY".into());
    let err = candidate::build(&CandidateSettings::Openai(missing))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("TUNEBENCH_TEST_SURELY_UNSET_KEY"), "{err}");
}

fn tiny_llama() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tiny-llama/model")
}

/// What tunebench-models generates for `prompt` (plain rendering: no chat template in the
/// fixture), greedy, `max_tokens` new tokens.
fn reference_generation(
    model_dir: &Path,
    adapter: Option<&Path>,
    dtype: WeightDtype,
    prompt: &str,
    max_tokens: usize,
) -> (String, u64, u64) {
    use tunebench_models::generate::{self, GenerationConfig, Sampling};
    use tunebench_models::{TextTokenizer, device, lora, weights};
    let dev = device::parse_device("cpu").unwrap();
    let mut model = weights::load_model_as(model_dir, &dev, dtype).unwrap();
    if let Some(a) = adapter {
        model = lora::load_adapter(model, a).unwrap();
    }
    let tok = TextTokenizer::load(model_dir).unwrap();
    assert!(!tok.has_chat_template());
    let ids = tok.encode(prompt, true).unwrap();
    let mut eos = model.config.eos_token_ids();
    eos.extend(tok.eos_id());
    let out = generate::generate(
        &model,
        &ids,
        &GenerationConfig {
            max_new_tokens: max_tokens,
            sampling: Sampling::Greedy,
            eos_token_ids: eos,
            ..GenerationConfig::default()
        },
    )
    .unwrap();
    (
        tok.decode(&out.tokens).unwrap(),
        ids.len() as u64,
        out.tokens.len() as u64,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_greedy_answers_equal_generate() {
    let model_dir = tiny_llama();
    let adapter = model_dir.join("../adapter");
    let mut reqs = requests(3);
    for r in &mut reqs {
        r.request.sampling.max_tokens = 12;
    }
    // The frozen weights in bf16 (`dtype`) answer as the model loaded so answers.
    for (adapter, batch_size, dtype) in [
        (None, None, WeightDtype::F32),
        (Some(adapter.clone()), Some(2), WeightDtype::F32),
        (Some(adapter.clone()), Some(2), WeightDtype::Bf16),
    ] {
        let settings = LocalSettings {
            name: "tiny".into(),
            model_dir: model_dir.clone(),
            adapter: adapter.clone(),
            device: "cpu".into(),
            batch_size,
            dtype,
            chat_template_kwargs: Default::default(),
        };
        let candidate = candidate::build(&CandidateSettings::Local(settings)).unwrap();
        assert!(candidate.identity().starts_with("local:"));
        assert_eq!(
            candidate.identity().contains("+adapter:"),
            adapter.is_some()
        );
        assert_eq!(
            candidate.identity().contains("+dtype:bf16"),
            dtype == WeightDtype::Bf16
        );
        let out = runner::run(
            candidate,
            &reqs,
            None,
            &RunnerOptions::default(),
            &CandidatePrice::Hourly { usd_per_hour: 3.6 },
            &NoProgress,
        )
        .await
        .unwrap();
        for (r, req) in out.iter().zip(&reqs) {
            assert_eq!(r.error, None);
            let prompt = format!("{SYSTEM}\n\n{}", req.request.messages[0].content);
            let (text, input, output) =
                reference_generation(&model_dir, adapter.as_deref(), dtype, &prompt, 12);
            assert_eq!(r.text, text);
            assert_eq!(r.input_tokens, input);
            assert_eq!(r.output_tokens, output);
            // $3.6/h = $0.001/s of wall time.
            assert!(r.cost_usd > 0.0 && r.cost_usd < 0.1, "{}", r.cost_usd);
        }
    }
}

/// Log-likelihood requests: the multiple-choice answer is the argmax of each choice's
/// continuation log-prob as tunebench-models computes it unshared (under both length
/// normalisations), and a continuation's answer carries its exact log-prob and token count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_candidate_scores_choices_and_continuations_by_loglikelihood() {
    use tunebench_eval::types::{LengthNorm, Loglikelihood, Scoring};
    use tunebench_models::generate;
    use tunebench_models::{TextTokenizer, device, weights};
    let model_dir = tiny_llama();
    let model = weights::load_model(&model_dir, &device::parse_device("cpu").unwrap()).unwrap();
    let tok = TextTokenizer::load(&model_dir).unwrap();
    let prompt = "Janet has 3 eggs";
    let choices: Vec<String> = ["ducks", "a very long answer about eggs", "3", "16 eggs"]
        .map(String::from)
        .to_vec();
    let context = tok.encode(&format!("{SYSTEM}\n\n{prompt}"), true).unwrap();
    let alone: Vec<(f64, usize)> = choices
        .iter()
        .map(|c| {
            let ids = tok.encode(&format!(" {c}"), false).unwrap();
            let (lp, _) = generate::continuation_logprob(&model, &context, &ids).unwrap();
            (lp, ids.len())
        })
        .collect();
    let argmax = |f: &dyn Fn(usize) -> f64| {
        (0..choices.len()).fold(0, |best, i| if f(i) > f(best) { i } else { best })
    };
    let by_sum = argmax(&|i| alone[i].0);
    let by_chars = argmax(&|i| alone[i].0 / (choices[i].chars().count() + 1) as f64);

    let candidate = candidate::build(&CandidateSettings::Local(LocalSettings {
        name: "tiny".into(),
        model_dir: model_dir.clone(),
        adapter: None,
        device: "cpu".into(),
        batch_size: Some(2),
        dtype: WeightDtype::F32,
        chat_template_kwargs: Default::default(),
    }))
    .unwrap();
    let request = |scoring: Scoring| {
        let mut r = requests(1).remove(0);
        r.request.messages[0].content = prompt.into();
        r.request.scoring = Some(scoring);
        r
    };
    let choice = |length_norm| {
        request(Scoring::Choices {
            choices: choices.clone(),
            prefix: " ".into(),
            length_norm,
        })
    };
    let mut reqs = vec![
        choice(LengthNorm::None),
        choice(LengthNorm::Chars),
        request(Scoring::Continuation {
            continuation: " 16 eggs".into(),
        }),
    ];
    for (i, r) in reqs.iter_mut().enumerate() {
        r.id = format!("r{i}");
    }
    let out = runner::run(
        candidate,
        &reqs,
        None,
        &RunnerOptions::default(),
        &CandidatePrice::Hourly { usd_per_hour: 3.6 },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(out.iter().all(|r| r.error.is_none()), "{out:?}");
    assert_eq!(out[0].text, choices[by_sum]);
    assert_eq!(out[1].text, choices[by_chars]);
    let total_choice_tokens: usize = alone.iter().map(|a| a.1).sum();
    assert_eq!(
        out[0].input_tokens,
        (context.len() + total_choice_tokens) as u64
    );
    let ll: Loglikelihood = serde_json::from_str(&out[2].text).unwrap();
    let (lp, n) = alone[3];
    assert_eq!(ll.tokens, n as u64);
    assert!((ll.logprob - lp).abs() < 1e-4, "{} vs {lp}", ll.logprob);
}

/// A Bedrock candidate answers through Converse against the validating stand-in (every
/// request checked against the service model), and a burst of ThrottlingExceptions is
/// absorbed by the runner's retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_candidate_answers_through_converse_and_rides_out_throttling() {
    use tunebench_eval::candidate::BedrockSettings;
    use tunebench_standins::bedrock::{BedrockStandin, StandinConfig};
    // The SDK uses the default credential chain; scripts/test.sh sets static test keys.
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some(),
        "AWS_ACCESS_KEY_ID is not set: run the tests with scripts/test.sh"
    );
    let standin = BedrockStandin::start(StandinConfig::default()).unwrap();
    standin.throttle_next(3);
    let settings = CandidateSettings::Bedrock(BedrockSettings {
        name: "nova-micro".into(),
        model_id: "amazon.nova-micro-v1:0".into(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(standin.endpoint_url().to_string()),
        timeout_s: 30.0,
        concurrency: 2,
        mode: tunebench_eval::candidate::BedrockMode::OnDemand,
        service_tier: None,
        latency: None,
        cache_prompt: false,
    });
    let candidate = candidate::build(&settings).unwrap();
    assert_eq!(
        candidate.identity(),
        "bedrock:us-east-1:amazon.nova-micro-v1:0"
    );
    let reqs = requests(6);
    let records = runner::run(
        candidate,
        &reqs,
        None,
        &fast(),
        &CandidatePrice::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.error, None, "{r:?}");
        assert_eq!(r.text, format!("what is question {i}?"));
        assert!(r.input_tokens > 0 && r.output_tokens > 0, "{r:?}");
    }
    assert_eq!(standin.request_count("Converse"), 6 + 3);
    standin.assert_valid();
}

/// LLM-as-judge through `evaluate`: an OpenAI-compatible judge (the stand-in) grades a
/// recorded candidate's answers by a rubric; verdicts are mapped onto [0, 1], an
/// unparseable verdict is an example's judge error (not a silent score), the judge's tokens
/// and dollars are counted apart from the candidate's, and a rerun takes the verdicts from
/// the cache. A `responses` judge reads recorded verdicts by `<candidate>/<id>`.
#[test]
fn judge_metric_grades_answers_and_counts_the_judges_cost_apart() {
    use std::collections::HashMap;
    use tunebench_eval::evaluate::{EvalOptions, EvalReport, EvalSettings, evaluate};
    use tunebench_standins::openai::Answer;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("d.jsonl"),
        "{\"q\":\"2+2\",\"a\":\"4\"}\n{\"q\":\"3+3\",\"a\":\"6\"}\n{\"q\":\"5+5\",\"a\":\"10\"}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("s.toml"),
        r#"name = "math"
version = "1"
data = "d.jsonl"
prompt = "{{ q }}"
reference = "{{ a }}"
[[metrics]]
kind = "judge"
judge = "grader"
scale = "1-5"
rubric = "Q: {{ prompt }}\nA: {{ response }}\nRef: {{ reference }}\nGive Score: 1-5."
"#,
    )
    .unwrap();
    // L1 right, L2 wrong, L3 makes the judge ramble without a score.
    std::fs::write(
        d.join("recorded.jsonl"),
        "{\"id\":\"L1\",\"text\":\"4\"}\n{\"id\":\"L2\",\"text\":\"7\"}\n{\"id\":\"L3\",\"text\":\"ramble\"}\n",
    )
    .unwrap();
    let server = OpenAiStandin::start(OpenAiConfig {
        answer: Answer::With(Arc::new(|call| {
            let rubric = call.last_user();
            let answer = |tag: &str| {
                rubric
                    .lines()
                    .find_map(|l| l.strip_prefix(tag))
                    .unwrap_or_default()
                    .to_string()
            };
            match (answer("A: "), answer("Ref: ")) {
                (a, _) if a == "ramble" => "It is hard to say.".into(),
                (a, r) if a == r => "Correct. Score: 5".into(),
                _ => "Wrong. Score: 1".into(),
            }
        })),
        ..OpenAiConfig::default()
    })
    .unwrap();
    std::fs::write(
        d.join("pricing.toml"),
        "version = 1\nupdated = \"2025-01-01\"\n[local]\nusd_per_hour = 0.0\n[[model]]\nid = \"judge-model\"\nprovider = \"openai\"\ninput_per_1k = 1.0\noutput_per_1k = 2.0\n",
    )
    .unwrap();
    let config = format!(
        r#"suites = ["s.toml"]
out_dir = "out"
pricing = "pricing.toml"
[[candidates]]
kind = "responses"
name = "rec"
path = "recorded.jsonl"
[[judges]]
kind = "openai"
name = "grader"
base_url = "{}"
model = "judge-model"
"#,
        server.base_url()
    );
    let settings: EvalSettings = toml::from_str(&config).unwrap();
    let settings = settings.resolve(d).unwrap();
    let run = || match evaluate(&settings, &EvalOptions::default(), &NoProgress).unwrap() {
        EvalReport::Results(mut r) => r.remove(0),
        EvalReport::DryRun(_) => panic!("not a dry run"),
    };
    // A dry run prices the judge's calls and sends nothing; after the run they are cached.
    let dry = |to_send: u64, cached: u64| {
        let EvalReport::DryRun(plan) = evaluate(
            &settings,
            &EvalOptions {
                dry_run: true,
                ..EvalOptions::default()
            },
            &NoProgress,
        )
        .unwrap() else {
            panic!("a dry run")
        };
        let judge = plan
            .iter()
            .find(|p| p.candidate == "grader (judge `judge` of rec)")
            .unwrap();
        assert_eq!((judge.estimate.requests, judge.cached), (to_send, cached));
        assert!(to_send == 0 || judge.estimate.max_cost_usd.unwrap() > 0.0);
    };
    dry(3, 0);
    assert_eq!(server.requests(), 0);
    let first = run();
    assert_eq!(server.requests(), 3);
    dry(0, 3);
    let summary: tunebench_eval::score::Summary =
        serde_json::from_slice(&std::fs::read(d.join("out/math/rec/summary.json")).unwrap())
            .unwrap();
    // (1.0 + 0.0 + 0.0) / 3: the unparseable verdict scores 0 and is counted as failed.
    assert!((summary.metrics[0].estimate.value - 1.0 / 3.0).abs() < 1e-12);
    let tally = &summary.judges["judge"];
    assert_eq!(
        (tally.judge.as_str(), tally.judged, tally.failed),
        ("grader", 3, 1)
    );
    assert!(tally.input_tokens > 0 && tally.output_tokens > 0);
    let expected = (tally.input_tokens as f64 * 1.0 + tally.output_tokens as f64 * 2.0) / 1000.0;
    assert!(
        (tally.cost_usd - expected).abs() < 1e-12,
        "{}",
        tally.cost_usd
    );
    assert_eq!(summary.cost_usd, 0.0, "the candidate itself cost nothing");
    assert!(
        first
            .stats
            .iter()
            .any(|(n, s)| n.starts_with("grader") && s.answered == 3)
    );
    let scores = std::fs::read_to_string(d.join("out/math/rec/scores.jsonl")).unwrap();
    let l3 = scores.lines().find(|l| l.contains("\"L3\"")).unwrap();
    assert!(l3.contains("no verdict in the judge's answer"), "{l3}");

    // A rerun takes every verdict from the cache.
    run();
    assert_eq!(server.requests(), 3);

    // The same verdicts recorded: a `responses` judge.
    std::fs::write(
        d.join("verdicts.jsonl"),
        "{\"id\":\"rec/L1\",\"text\":\"Score: 4\"}\n{\"id\":\"rec/L2\",\"text\":\"Score: 2\"}\n",
    )
    .unwrap();
    let recorded = config.split("[[judges]]").next().unwrap().to_string()
        + "[[judges]]\nkind = \"responses\"\nname = \"grader\"\npath = \"verdicts.jsonl\"\n";
    let settings: EvalSettings = toml::from_str(&recorded).unwrap();
    let settings = settings.resolve(d).unwrap();
    evaluate(&settings, &EvalOptions::default(), &NoProgress).unwrap();
    let scores = std::fs::read_to_string(d.join("out/math/rec/scores.jsonl")).unwrap();
    let values: HashMap<String, f64> = scores
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().to_string(),
                v["metrics"]["judge"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(values["L1"], 0.75);
    assert_eq!(values["L2"], 0.25);
    assert!(
        scores.contains("has no verdict with id \\\"rec/L3\\\""),
        "{scores}"
    );

    // A metric naming an unknown judge is refused before anything runs.
    let unknown = recorded.replace("name = \"grader\"", "name = \"other\"");
    let settings: EvalSettings = toml::from_str(&unknown).unwrap();
    let err = evaluate(
        &settings.resolve(d).unwrap(),
        &EvalOptions::default(),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("metrics[0].judge`: no judge named \"grader\""),
        "{err}"
    );
}

/// A log-likelihood suite with a candidate that cannot score likelihoods is refused before
/// anything is sent, naming the suite's field and the candidate.
#[test]
fn loglikelihood_suites_refuse_endpoint_candidates() {
    use tunebench_eval::evaluate::{EvalOptions, EvalSettings, evaluate};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("d.jsonl"), "{\"q\":\"x\",\"a\":\"yes\"}\n").unwrap();
    std::fs::write(
        d.join("s.toml"),
        "name = \"mc\"\nversion = \"1\"\ndata = \"d.jsonl\"\nprompt = \"{{ q }}\"\nreference = \"{{ a }}\"\n[choices]\nlist = [\"yes\", \"no\"]\n[[metrics]]\nkind = \"accuracy\"\n",
    )
    .unwrap();
    // Never contacted: the check comes first.
    let settings: EvalSettings = toml::from_str(
        "suites = [\"s.toml\"]\nout_dir = \"out\"\n[[candidates]]\nkind = \"openai\"\nname = \"api\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n",
    )
    .unwrap();
    let err = evaluate(
        &settings.resolve(d).unwrap(),
        &EvalOptions::default(),
        &NoProgress,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("s.toml: field `choices`: this suite is scored by log-likelihood")
            && msg.contains("candidate `api`"),
        "{msg}"
    );
    assert!(matches!(
        err,
        tunebench_eval::error::EvalError::Input { .. }
    ));
}

/// Writes a two-example suite `s.toml` and recorded (wrong) answers `rec.jsonl` into `d`.
fn small_suite(d: &Path) {
    std::fs::write(
        d.join("d.jsonl"),
        "{\"q\":\"2+2\",\"a\":\"4\"}\n{\"q\":\"3+3\",\"a\":\"6\"}\n",
    )
    .unwrap();
    std::fs::write(
        d.join("s.toml"),
        "name = \"math\"\nversion = \"1\"\ndata = \"d.jsonl\"\nprompt = \"{{ q }}\"\nreference = \"{{ a }}\"\n[[metrics]]\nkind = \"exact_match\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("rec.jsonl"),
        "{\"id\":\"L1\",\"text\":\"5\"}\n{\"id\":\"L2\",\"text\":\"7\"}\n",
    )
    .unwrap();
}

/// A candidate whose endpoint refuses every connection used to come out "best" with 0.000
/// and the run to succeed, its errors saying only "error sending request". Now each error
/// names the cause, the candidate is marked failed (never best, never ranked, in no test),
/// and `EvalReport::check` fails the run naming it, after the results are written.
#[test]
fn candidate_whose_every_request_failed_is_marked_failed_and_fails_the_run() {
    use tunebench_eval::evaluate::{EvalOptions, EvalReport, EvalSettings, evaluate};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    small_suite(d);
    // Port 9 (discard) on loopback: nothing listens, connections are refused.
    let settings: EvalSettings = toml::from_str(
        "suites = [\"s.toml\"]\nout_dir = \"out\"\nmax_attempts = 1\n[[candidates]]\nkind = \"openai\"\nname = \"down\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\n[[candidates]]\nkind = \"responses\"\nname = \"rec\"\npath = \"rec.jsonl\"\n",
    )
    .unwrap();
    let opts = EvalOptions {
        cache_mode: CacheMode::Off,
        ..EvalOptions::default()
    };
    let report = evaluate(&settings.resolve(d).unwrap(), &opts, &NoProgress).unwrap();
    let EvalReport::Results(results) = &report else {
        panic!("not a dry run")
    };
    let c = &results[0].comparison;
    assert_eq!(c.best.as_deref(), Some("rec"), "{c:#?}");
    assert_eq!(c.rank_quality, ["rec"]);
    assert!(c.candidates[0].failed && !c.candidates[1].failed);
    let responses = std::fs::read_to_string(d.join("out/math/down/responses.jsonl")).unwrap();
    assert!(
        responses.contains("error sending request") && responses.contains("Connection refused"),
        "{responses}"
    );
    let err = report.check().unwrap_err();
    assert!(matches!(
        err,
        tunebench_eval::error::EvalError::CandidatesFailed { .. }
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("candidate `down` on suite `math`: all 2 requests failed; first error: ")
            && msg.contains("Connection refused")
            && !msg.contains("`rec`"),
        "{msg}"
    );
}

/// Local candidates take turns: each is loaded for its turn, answers every suite, and is
/// dropped (its model thread stopped and joined) before the next one loads, so one local
/// model is resident at a time. Seen from the model threads alive whenever a run starts.
#[test]
fn local_candidates_are_loaded_one_at_a_time_and_freed_after_their_turn() {
    use std::sync::Mutex;
    use tunebench_eval::evaluate::{EvalOptions, EvalReport, EvalSettings, evaluate};

    /// The names of this process's threads that serve this test's models (`model-turn…`;
    /// other tests in this binary name theirs otherwise).
    fn model_threads() -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|n| n.trim().to_string())
            .filter(|n| n.starts_with("model-turn"))
            .collect();
        names.sort();
        names
    }
    #[derive(Default)]
    struct Threads(Mutex<Vec<Vec<String>>>);
    impl RunProgress for Threads {
        fn start(&self, _total: u64) {
            self.0.lock().unwrap().push(model_threads());
        }
        fn advance(&self, _n: u64) {}
        fn finish(&self) {}
    }

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    small_suite(d);
    let second = std::fs::read_to_string(d.join("s.toml"))
        .unwrap()
        .replace("name = \"math\"", "name = \"math2\"");
    std::fs::write(d.join("s2.toml"), second).unwrap();
    // (Short answers: the model is random.)
    for suite in ["s.toml", "s2.toml"] {
        let text = std::fs::read_to_string(d.join(suite)).unwrap();
        std::fs::write(d.join(suite), format!("{text}[sampling]\nmax_tokens = 4\n")).unwrap();
    }
    let model = tiny_llama();
    let local = |name: &str, adapter: &str| {
        format!(
            "[[candidates]]\nkind = \"local\"\nname = \"{name}\"\nmodel_dir = \"{}\"\n{adapter}",
            model.display()
        )
    };
    let adapter = format!("adapter = \"{}\"\n", model.join("../adapter").display());
    let settings: EvalSettings = toml::from_str(&format!(
        "suites = [\"s.toml\", \"s2.toml\"]\nout_dir = \"out\"\n{}{}[[candidates]]\nkind = \"responses\"\nname = \"rec\"\npath = \"rec.jsonl\"\n",
        local("turn1", ""),
        local("turn2", &adapter),
    ))
    .unwrap();
    let opts = EvalOptions {
        cache_mode: CacheMode::Off,
        ..EvalOptions::default()
    };
    let threads = Threads::default();
    let report = evaluate(&settings.resolve(d).unwrap(), &opts, &threads).unwrap();
    assert_eq!(
        *threads.0.lock().unwrap(),
        [
            vec!["model-turn1"],
            vec!["model-turn1"],
            vec!["model-turn2"],
            vec!["model-turn2"]
        ]
    );
    assert!(model_threads().is_empty(), "{:?}", model_threads());
    // Every suite still compares every candidate, in the order of the settings.
    let EvalReport::Results(results) = report else {
        panic!("not a dry run")
    };
    assert_eq!(results.len(), 2);
    for r in &results {
        let names: Vec<&str> = r
            .comparison
            .candidates
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["turn1", "turn2", "rec"]);
    }
}

/// The hint for recorded responses that miss examples names the option that exists:
/// `allow_missing = true` on the `responses` candidate, which then scores the rest.
#[test]
fn responses_missing_ids_hint_names_the_real_allow_missing_option() {
    use tunebench_eval::evaluate::{EvalOptions, EvalSettings, evaluate};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    small_suite(d);
    std::fs::write(d.join("rec.jsonl"), "{\"id\":\"L1\",\"text\":\"4\"}\n").unwrap();
    let config = "suites = [\"s.toml\"]\nout_dir = \"out\"\n[[candidates]]\nkind = \"responses\"\nname = \"rec\"\npath = \"rec.jsonl\"\n";
    let settings: EvalSettings = toml::from_str(config).unwrap();
    let err = evaluate(
        &settings.resolve(d).unwrap(),
        &EvalOptions::default(),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("1 example(s) have no response: \"L2\"")
            && err.contains("`allow_missing = true` in the candidate's [[eval.candidates]] entry"),
        "{err}"
    );
    let settings: EvalSettings =
        toml::from_str(&format!("{config}allow_missing = true\n")).unwrap();
    let report = evaluate(
        &settings.resolve(d).unwrap(),
        &EvalOptions::default(),
        &NoProgress,
    )
    .unwrap();
    report.check().unwrap();
    let summary: tunebench_eval::score::Summary =
        serde_json::from_slice(&std::fs::read(d.join("out/math/rec/summary.json")).unwrap())
            .unwrap();
    assert_eq!((summary.n, summary.missing, summary.errors), (1, 1, 0));
    assert_eq!(summary.score.value, 1.0);
}

/// A `.gguf` file as a local candidate's `model_dir`: SmolLM2-135M-Instruct's Q4_1 GGUF
/// (fetched by scripts/test.sh, which sets `TUNEBENCH_TEST_SMOLLM2_GGUF`) answers a chat
/// request with transformers' greedy reply (`fixtures/gguf/smollm2_expected.json`, chat 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_gguf_candidate_answers_like_transformers() {
    let Some(gguf) = tunebench_standins::real_models::smollm2_gguf() else {
        return;
    };
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gguf/smollm2_expected.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let chat = &expected["chat"][0];
    let reply: Vec<u32> = serde_json::from_value(chat["reply"].clone()).unwrap();
    let tok = tunebench_models::TextTokenizer::load(&gguf).unwrap();
    let settings = LocalSettings {
        name: "smollm2".into(),
        model_dir: gguf.clone(),
        adapter: None,
        device: "cpu".into(),
        batch_size: None,
        dtype: WeightDtype::F32,
        chat_template_kwargs: Default::default(),
    };
    let candidate = candidate::build(&CandidateSettings::Local(settings)).unwrap();
    assert!(candidate.identity().starts_with("local:"));
    let req = ExampleRequest {
        id: "france".into(),
        request: ChatRequest {
            system: None,
            messages: vec![Message {
                role: Role::User,
                content: chat["messages"][0]["content"].as_str().unwrap().into(),
            }],
            sampling: Sampling {
                max_tokens: 8,
                ..Sampling::default()
            },
            scoring: None,
        },
    };
    let out = runner::run(
        candidate,
        std::slice::from_ref(&req),
        None,
        &RunnerOptions::default(),
        &CandidatePrice::Hourly { usd_per_hour: 3.6 },
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(out[0].error, None);
    assert_eq!(out[0].text, tok.decode(&reply).unwrap());
    assert_eq!(out[0].output_tokens, reply.len() as u64);
    assert_eq!(out[0].text, "The capital of France is Paris.");
}
