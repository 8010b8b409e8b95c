//! Parity of the training loss and LoRA gradients with PyTorch + PEFT on the tiny-llama,
//! tiny-qwen3 and tiny-gemma3 fixtures (`train_loss`, `grad.*` in fixtures/tiny-*, computed by transformers
//! 5.24 / 5.25 and peft in float32).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::DType;
use tunebench_models::weights::{self, SafetensorsReader};
use tunebench_models::{Llama, WeightDtype, lora};
use tunebench_standins::real_models::test_device_name as device_name;
use tunebench_train::batch::Batch;
use tunebench_train::batch::Rng;
use tunebench_train::data::Example;
use tunebench_train::loss::{causal_lm_loss, loss_and_gradients};
use tunebench_train::optim::Named;
use tunebench_train::{mark_trainable, optim};

/// The fixture of the tests that need one model; the gradient parity runs on both.
const LLAMA: &str = "tiny-llama";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

fn expected(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture(name).join("expected.json")).unwrap()).unwrap()
}

/// The device under test (`TUNEBENCH_TEST_WGPU=1 scripts/test.sh` runs these tests again on
/// `wgpu:cpu`, lavapipe).
fn device() -> Device {
    tunebench_models::device::parse_device(&device_name()).unwrap_or_else(|e| panic!("{e}"))
}

fn model_with_adapter(name: &str) -> Llama {
    model_with_adapter_on(name, &device())
}

fn model_with_adapter_on(name: &str, device: &Device) -> Llama {
    model_with_adapter_as(name, device, WeightDtype::F32)
}

fn model_with_adapter_as(name: &str, device: &Device, dtype: WeightDtype) -> Llama {
    let base = weights::load_model_as(fixture(name).join("model"), device, dtype).unwrap();
    mark_trainable(lora::load_adapter(base, fixture(name).join("adapter")).unwrap()).train()
}

/// The fixture's batch: every token but the first of each row is a target.
fn fixture_batch(expected: &serde_json::Value) -> Batch {
    let rows: Vec<Vec<u32>> = serde_json::from_value(expected["train_batch"].clone()).unwrap();
    let examples: Vec<Example> = rows
        .iter()
        .map(|ids| Example {
            ids: ids.clone(),
            target: (0..ids.len()).map(|i| i > 0).collect(),
        })
        .collect();
    Batch::build(&vec![vec![0], vec![1]], &examples)
}

fn loss_of(model: &Llama, batch: &Batch, norm: usize) -> Tensor<1> {
    causal_lm_loss(model, batch, norm).unwrap()
}

/// The device's random generator is one per process and tests run in parallel: a test that
/// seeds it and draws from it (dropout) holds this lock meanwhile, so that no other test
/// reseeds it halfway.
static DEVICE_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn device_rng() -> std::sync::MutexGuard<'static, ()> {
    DEVICE_RNG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`loss_and_gradients`] holding [`DEVICE_RNG`] (it seeds the generator).
fn step(model: &Llama, batch: &Batch, seed: u64, recompute: bool) -> (f64, Named) {
    let _rng = device_rng();
    loss_and_gradients(model, batch, batch.targets, seed, recompute).unwrap()
}

fn rel_err(ours: &[f32], theirs: &[f32]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    let diff = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| f64::from((a - b).abs()))
        .fold(0.0, f64::max);
    let scale = theirs
        .iter()
        .map(|b| f64::from(b.abs()))
        .fold(0.0, f64::max);
    diff / scale
}

/// The tolerances of f32 against PEFT's f32: loss, and the largest LoRA gradient error
/// relative to the gradient's largest entry.
const F32: Tolerance = Tolerance {
    dtype: WeightDtype::F32,
    loss: 1e-5,
    gradient: 1e-3,
};

#[test]
fn loss_and_lora_gradients_match_peft() {
    for fixture_name in [LLAMA, "tiny-qwen3", "tiny-gemma3"] {
        loss_and_lora_gradients_match_peft_on(fixture_name, &device(), F32, false);
    }
}

/// `dtype = "bf16"` / `"f16"`: the base model's projections and embedding stored (and
/// multiplied) in half precision, at half the bytes, keep the loss and the LoRA gradients
/// within these tolerances of PEFT's f32 (bf16 keeps 8 bits of mantissa, f16 11); the
/// adapters and norms stay f32.
#[test]
fn half_precision_base_weights_keep_the_loss_and_lora_gradients_close() {
    for tolerance in [
        // Measured (burn-flex): bf16 loss within 2.6e-4, gradients 2.4e-2; f16 1.7e-5 and
        // 3.0e-3.
        Tolerance {
            dtype: WeightDtype::Bf16,
            loss: 1e-3,
            gradient: 1e-1,
        },
        Tolerance {
            dtype: WeightDtype::F16,
            loss: 1e-4,
            gradient: 1.5e-2,
        },
    ] {
        let want = DType::from(tolerance.dtype.float());
        if !device().supports_dtype(want) {
            // WGSL (wgpu, lavapipe) has no bf16: loading says so and names the way out.
            let err =
                weights::load_model_as(fixture(LLAMA).join("model"), &device(), tolerance.dtype)
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("cannot store and compute in"), "{err}");
            eprintln!(
                "{}: not on {}: {err}",
                tolerance.dtype.name(),
                device_name()
            );
            continue;
        }
        for fixture_name in [LLAMA, "tiny-qwen3", "tiny-gemma3"] {
            let model = model_with_adapter_as(fixture_name, &device(), tolerance.dtype);
            let f32_model = model_with_adapter_on(fixture_name, &device());
            for ((_, _, half), (_, _, full)) in model.linears().into_iter().zip(f32_model.linears())
            {
                assert_eq!(half.weight.val().dtype(), want);
                assert_eq!(
                    2 * half.weight.val().into_data().as_bytes().len(),
                    full.weight.val().into_data().as_bytes().len()
                );
                let lora = half.lora.as_ref().map(|l| l.lora_a.val().dtype());
                assert!(lora.is_none_or(|d| d == DType::F32), "{lora:?}");
            }
            assert_eq!(model.model.embed_tokens.weight.val().dtype(), want);
            assert_eq!(model.model.norm.weight.val().dtype(), DType::F32);
            loss_and_lora_gradients_match_peft_on(fixture_name, &device(), tolerance, false);
        }
    }
}

/// `gradient_checkpointing = true` (each decoder layer run again in the backward pass,
/// one layer's graph held at a time) gives the loss and LoRA gradients within the same
/// tolerances of PEFT's, and those of the whole-graph backward pass to float rounding.
#[test]
fn gradient_checkpointing_keeps_the_loss_and_lora_gradients() {
    for fixture_name in [LLAMA, "tiny-qwen3", "tiny-gemma3"] {
        let with = loss_and_lora_gradients_match_peft_on(fixture_name, &device(), F32, true);
        let without = loss_and_lora_gradients_match_peft_on(fixture_name, &device(), F32, false);
        assert_same_step(fixture_name, &with, &without);
    }
}

/// Recomputation where only some layers train: LoRA on the middle layer of three, so the
/// layer above is frozen and must still pass the gradient down, and the layer below never
/// runs backward; and full fine-tuning, where every parameter trains, the embedding table
/// included (its gradient is the embedding lookup's backward against the first layer's
/// input gradient).
#[test]
fn gradient_checkpointing_matches_with_frozen_layers_and_in_full_fine_tuning() {
    let batch = fixture_batch(&expected("tiny-gemma3"));
    let mut middle_only = model_with_adapter("tiny-gemma3");
    for (layer, _, linear) in middle_only.linears_mut() {
        if layer != 1 {
            linear.lora = None;
        }
    }
    let full =
        mark_trainable(weights::load_model(fixture(LLAMA).join("model"), &device()).unwrap())
            .train();
    for (name, model, trainable) in [
        ("LoRA on layer 1 of 3", middle_only, 4),
        ("full fine-tuning", full, 0),
    ] {
        let with = step(&model, &batch, 7, true);
        let without = step(&model, &batch, 7, false);
        let want = match trainable {
            0 => optim::trainable(&model).len(),
            n => n,
        };
        assert_eq!(with.1.len(), want, "{name}: {:?}", with.1.keys());
        assert!(with.1.contains_key("model.embed_tokens.weight") == (trainable == 0));
        assert_same_step(name, &with, &without);
    }
}

/// With LoRA dropout, both runs of a layer draw the same mask: the checkpointed gradients
/// equal those of a whole-graph pass that seeds the device's generator before each layer
/// as the checkpointed step does (seed derived from the step's seed and the layer index).
/// Were the recomputed mask another one, the gradient arriving from the layer above (made
/// with the first run's output) would not be that of the recomputed layer's output.
#[test]
fn gradient_checkpointing_recomputes_the_same_dropout_masks() {
    let _rng = device_rng();
    let model = model_with_adapter("tiny-gemma3");
    let mut model = model;
    for (_, _, linear) in model.linears_mut() {
        if let Some(lora) = linear.lora.as_mut() {
            lora.dropout = burn::nn::DropoutConfig::new(0.5).init();
        }
    }
    let model = model.train();
    let batch = fixture_batch(&expected("tiny-gemma3"));
    let seed = 11;
    let (loss, grads) = loss_and_gradients(&model, &batch, batch.targets, seed, true).unwrap();

    // The reference: one graph, the generator seeded per layer, the loss over the targets.
    let ids = Tensor::<2, Int>::from_data(
        TensorData::new(batch.ids.clone(), [batch.rows, batch.seq]),
        &model.device(),
    );
    let pass = model
        .segment_pass([batch.rows, batch.seq], &batch.segments)
        .unwrap();
    let mut x = model.embed(ids);
    for l in 0..model.model.layers.len() {
        model.device().seed(Rng::derive(seed, l as u64).0);
        x = model.decoder_layer(l, x, &pass);
    }
    let (mut at, mut next) = (Vec::new(), Vec::new());
    for r in 0..batch.rows {
        for t in 0..batch.seq - 1 {
            at.push(r * batch.seq + t);
            next.push(batch.ids[r * batch.seq + t + 1]);
        }
    }
    let next = Tensor::<2, Int>::from_data(TensorData::new(next, [at.len(), 1]), &model.device());
    let logits = model.head_at(x, &at).unwrap();
    let reference = burn::tensor::activation::log_softmax(logits, 1)
        .gather(1, next)
        .sum()
        .neg()
        .div_scalar(batch.targets as f64);
    let reference_loss = f64::from(reference.clone().into_scalar::<f32>());
    let reference = (
        reference_loss,
        optim::gradients(&model, &reference.backward()),
    );
    assert_same_step("dropout 0.5", &(loss, grads.clone()), &reference);

    // And the masks are not all-ones: without dropout the gradients differ.
    let mut no_dropout = model_with_adapter("tiny-gemma3");
    no_dropout = no_dropout.train();
    let plain = loss_and_gradients(&no_dropout, &batch, batch.targets, seed, true).unwrap();
    let key = "model.layers.0.self_attn.q_proj.lora.lora_b";
    assert!(rel_err(&host(grads[key].clone()), &host(plain.1[key].clone())) > 1e-2);
}

/// Two training steps' losses and gradients agree to float rounding: the loss to 1e-6
/// relative, each gradient to 1e-4 of its largest entry.
fn assert_same_step(
    what: &str,
    (loss_a, grads_a): &(f64, Named),
    (loss_b, grads_b): &(f64, Named),
) {
    assert!(
        (loss_a - loss_b).abs() <= 1e-6 * loss_b.abs(),
        "{what}: loss {loss_a} vs {loss_b}"
    );
    assert_eq!(
        grads_a.keys().collect::<Vec<_>>(),
        grads_b.keys().collect::<Vec<_>>(),
        "{what}"
    );
    let mut worst: f64 = 0.0;
    for (name, a) in grads_a {
        let err = rel_err(&host(a.clone()), &host(grads_b[name].clone()));
        assert!(err < 1e-4, "{what} {name}: relative error {err}");
        worst = worst.max(err);
    }
    eprintln!("{what}: loss {loss_a} vs {loss_b}, worst gradient relative error {worst:.2e}");
}

/// How close to PEFT's f32 numbers a base model stored in `dtype` must come.
#[derive(Clone, Copy)]
struct Tolerance {
    dtype: WeightDtype,
    /// Relative error of the loss.
    loss: f64,
    /// Largest error of a LoRA gradient relative to its largest entry.
    gradient: f64,
}

/// Checks the loss and every LoRA gradient against PEFT's on `device`, the base model's
/// frozen weights in `tolerance.dtype`, with or without gradient checkpointing
/// (`recompute`); returns the loss and the gradients.
fn loss_and_lora_gradients_match_peft_on(
    fixture_name: &str,
    device: &Device,
    tolerance: Tolerance,
    recompute: bool,
) -> (f64, Named) {
    let expected = expected(fixture_name);
    let model = model_with_adapter_as(fixture_name, device, tolerance.dtype);
    let batch = fixture_batch(&expected);
    assert_eq!(batch.targets, 30);
    let (ours, grads) = step(&model, &batch, 0, recompute);
    let theirs = expected["train_loss"].as_f64().unwrap();
    let dtype = tolerance.dtype.name();
    let loss_err = (ours - theirs).abs() / theirs;
    assert!(
        loss_err < tolerance.loss,
        "{fixture_name} {dtype}: loss {ours} vs {theirs}"
    );

    // q_proj and v_proj of every layer, A and B each; nothing else is trainable.
    let layers = model.config.num_hidden_layers;
    assert_eq!(
        grads.len(),
        4 * layers,
        "{:?}",
        grads.keys().collect::<Vec<_>>()
    );
    let reference =
        SafetensorsReader::open_file(fixture(fixture_name).join("expected.safetensors")).unwrap();
    let mut worst: f64 = 0.0;
    for layer in 0..layers {
        for proj in ["q_proj", "v_proj"] {
            for (ours_name, peft) in [("lora_a", "lora_A"), ("lora_b", "lora_B")] {
                let path = format!("model.layers.{layer}.self_attn.{proj}.lora.{ours_name}");
                let name = format!("grad.model.layers.{layer}.self_attn.{proj}.{peft}.weight");
                let shape = reference.shape(&name).unwrap().to_vec();
                let theirs = reference.read_f32(&name, &shape).unwrap();
                // Ours is stored transposed ([in, r] / [r, out]); PEFT's is [r, in] / [out, r].
                let (rows, cols) = (shape[0], shape[1]);
                let flat = grads[&path].clone().try_into_vec_as::<f32>().unwrap();
                let ours: Vec<f32> = (0..rows)
                    .flat_map(|i| (0..cols).map(move |j| (i, j)))
                    .map(|(i, j)| flat[j * rows + i])
                    .collect();
                let err = rel_err(&ours, &theirs);
                assert!(
                    err < tolerance.gradient,
                    "{fixture_name} {dtype} {name}: relative error {err}"
                );
                worst = worst.max(err);
            }
        }
    }
    eprintln!(
        "{fixture_name} {dtype}: loss relative error {loss_err:.2e}, worst LoRA gradient relative error {worst:.2e}"
    );
    (ours, grads)
}

fn host(t: Tensor<1>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}

/// Prompt tokens masked out of the loss contribute nothing to it: the masked loss is the
/// mean NLL (computed here from the log-softmax independently) of the unmasked tokens.
#[test]
fn masked_loss_is_the_mean_over_unmasked_tokens() {
    let expected = expected(LLAMA);
    let model = model_with_adapter(LLAMA);
    let full = fixture_batch(&expected);
    let seq = full.seq;
    let mut masked = full.clone();
    for r in 0..masked.rows {
        masked.weights[r * (seq - 1)..r * (seq - 1) + 7].fill(0.0); // tokens 1..=7: prompt
    }
    masked.targets = masked.weights.iter().filter(|&&w| w > 0.0).count();
    assert_eq!(masked.targets, 2 * 8);
    let ours = loss_of(&model, &masked, masked.targets).into_scalar::<f32>();

    let ids = Tensor::<2, Int>::from_data(
        TensorData::new(full.ids.clone(), [full.rows, seq]),
        &model.device(),
    );
    let logits = model.valid().forward_segments(ids, &full.segments).unwrap();
    let logp = burn::tensor::activation::log_softmax(logits, 2)
        .try_into_vec_as::<f32>()
        .unwrap();
    let vocab = 512;
    let mut sum = 0.0f64;
    for r in 0..full.rows {
        for t in 7..seq - 1 {
            let next = full.ids[r * seq + t + 1] as usize;
            sum -= f64::from(logp[(r * seq + t) * vocab + next]);
        }
    }
    let theirs = sum / 16.0;
    assert!(
        (f64::from(ours) - theirs).abs() < 1e-5,
        "{ours} vs {theirs}"
    );
}

/// A masked token's label reaches neither the loss nor the gradient: changing the label of
/// the last position (which no other position sees) changes nothing when it is masked, and
/// changes both when it is not.
/// A micro-batch whose every token is masked (possible with `train_on_inputs = false` and a
/// long prompt cut short) adds nothing: its loss is 0, and its backward pass runs and gives
/// zero gradients.
#[test]
fn a_batch_without_targets_adds_a_zero_loss_and_zero_gradients() {
    let model = model_with_adapter(LLAMA);
    let mut batch = fixture_batch(&expected(LLAMA));
    batch.weights.fill(0.0);
    batch.targets = 0;
    let loss = loss_of(&model, &batch, 1);
    let grads = optim::gradients(&model, &loss.backward());
    assert_eq!(loss.into_scalar::<f32>(), 0.0);
    assert!(!grads.is_empty());
    assert!(grads.into_values().flat_map(host).all(|g| g == 0.0));
}

#[test]
fn masked_labels_do_not_reach_the_gradient() {
    let expected = expected(LLAMA);
    let model = model_with_adapter(LLAMA);
    let base = fixture_batch(&expected);
    let seq = base.seq;
    let run = |batch: &Batch| {
        let loss = loss_of(&model, batch, 30);
        let grads = optim::gradients(&model, &loss.backward());
        let value = loss.into_scalar::<f32>();
        (
            value,
            grads.into_values().flat_map(host).collect::<Vec<f32>>(),
        )
    };
    let relabel = |mut b: Batch| {
        b.ids[seq - 1] = (b.ids[seq - 1] + 1) % 512;
        b
    };
    let mut masked = base.clone();
    masked.weights[seq - 2] = 0.0; // row 0 predicts its last token at position seq - 2
    assert_eq!(run(&masked), run(&relabel(masked.clone())));
    let (loss_a, grads_a) = run(&base);
    let (loss_b, grads_b) = run(&relabel(base.clone()));
    assert_ne!(loss_a, loss_b);
    assert_ne!(grads_a, grads_b);
}

/// A packed row computes what its sequences compute alone: attention stays inside each
/// sequence and positions restart.
#[test]
fn packed_rows_equal_separate_sequences() {
    let expected = expected(LLAMA);
    let model = model_with_adapter(LLAMA).valid();
    let rows: Vec<Vec<i64>> = serde_json::from_value(expected["train_batch"].clone()).unwrap();
    let (a, b) = (&rows[0][..9], &rows[1][..12]);
    let device = model.device();
    let alone = |ids: &[i64]| {
        let t = Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &device);
        weights::tensor_to_f32(model.forward(t)).unwrap()
    };
    let packed: Vec<i64> = a.iter().chain(b).copied().chain([0, 0]).collect();
    let segments: Vec<u32> = [vec![1; a.len()], vec![2; b.len()], vec![0; 2]].concat();
    let n = packed.len();
    let t = Tensor::<2, Int>::from_data(TensorData::new(packed, [1, n]), &device);
    let logits = weights::tensor_to_f32(model.forward_segments(t, &segments).unwrap()).unwrap();
    let vocab = 512;
    let whole = [alone(a), alone(b)].concat();
    let err = rel_err(&logits[..whole.len()], &whole);
    assert!(err < 1e-5, "packed vs alone: {err}");
    assert_eq!(logits.len(), n * vocab);
}

/// On a device other than the CPU default (`TUNEBENCH_TEST_DEVICE`), a padded batch whose rows
/// differ in length and whose targets are a few tokens at each row's end (the shape of every
/// real training batch, which the PEFT fixture's batch is not) gives the CPU default's loss and
/// LoRA gradients, with and without gradient checkpointing. On the CPU default itself there is
/// nothing to compare with, and the test says so.
#[test]
fn padded_batches_give_the_cpu_defaults_loss_and_gradients() {
    if device_name() == "cpu" {
        eprintln!("the test device is the CPU default: nothing to compare");
        return;
    }
    let cpu = tunebench_models::device::parse_device("cpu").unwrap();
    for fixture_name in [LLAMA, "tiny-qwen3", "tiny-gemma3"] {
        let rows: Vec<Vec<u32>> =
            serde_json::from_value(expected(fixture_name)["train_batch"].clone()).unwrap();
        // Two rows with 3 targets each, and eight rows with every token but the first a
        // target (92: the tied output head takes its path for more than 64 rows).
        let few: Vec<Example> = [&rows[0][..9], &rows[1][..14]]
            .iter()
            .map(|ids| Example {
                ids: ids.to_vec(),
                target: (0..ids.len()).map(|i| i + 3 >= ids.len()).collect(),
            })
            .collect();
        let many: Vec<Example> = (0..8)
            .map(|i| {
                let ids = rows[i % 2][..16 - i].to_vec();
                let target = (0..ids.len()).map(|j| j > 0).collect();
                Example { ids, target }
            })
            .collect();
        let batches = [
            Batch::build(&vec![vec![0], vec![1]], &few),
            Batch::build(&(0..8).map(|i| vec![i]).collect(), &many),
        ];
        for (batch, recompute) in batches.iter().flat_map(|b| [(b, false), (b, true)]) {
            let on = |device: &Device| {
                let model = model_with_adapter_on(fixture_name, device);
                step(&model, batch, 3, recompute)
            };
            let what = format!(
                "{fixture_name}, {} targets, on {} (recompute {recompute})",
                batch.targets,
                device_name()
            );
            assert_same_step(&what, &on(&device()), &on(&cpu));
        }
    }
}
