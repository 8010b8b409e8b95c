//! Criterion benchmarks of local inference's hot paths, on a SmolLM2-135M-shaped Llama with
//! random weights (burn-flex, f32; the shape of `generate`): one forward pass over a
//! training-shaped batch (4 × 128, logits at every position), one decode step with the KV
//! cache after a 32-token prompt at batch 1 and 8, and the model's matrix products at the
//! training batch's 512 rows. A regression shows against a saved baseline:
//!
//! ```text
//! cargo bench --workspace --bench hot_paths -- --save-baseline main
//! cargo bench --workspace --bench hot_paths -- --baseline main
//! ```
//!
//! (`--profile dev` runs them without a release build of the workspace: burn and the other
//! dependencies are optimised in that profile too.)
//!
//! Whole-process figures side by side with PyTorch stay in the `generate` bench and
//! BENCHMARKS.md.

use std::hint::black_box;

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tunebench_models::config::smollm2_135m_shape;
use tunebench_models::{Llama, Logits};

/// Token ids for `rows` sequences of `len` tokens, spread over the vocabulary.
fn ids(rows: usize, len: usize, device: &Device) -> Tensor<2, Int> {
    let flat: Vec<i64> = (0..rows * len)
        .map(|i| ((i * 104_729) % 8189 + 3) as i64)
        .collect();
    Tensor::from_data(TensorData::new(flat, [rows, len]), device)
}

fn hot_paths(c: &mut Criterion) {
    let config = smollm2_135m_shape(8192);
    let device = Device::flex();
    let model = Llama::random(&config, &device).expect("random model");
    let mut group = c.benchmark_group("smollm2_135m_shape");
    // A forward pass takes about a second on two cores: ten samples, not a hundred.
    group.sample_size(10);

    group.bench_function("forward_4x128", |b| {
        b.iter(|| model.forward(ids(4, 128, &device)).into_data())
    });

    for batch in [1usize, 8] {
        let mut prompt = model.new_cache(batch);
        model
            .forward_with(
                ids(batch, 32, &device),
                None,
                Some(&mut prompt),
                Logits::Last,
            )
            .expect("prefill")
            .into_data();
        group.bench_function(format!("decode_step_batch{batch}"), |b| {
            b.iter_batched(
                || prompt.clone(),
                |mut cache| {
                    model
                        .forward_with(ids(batch, 1, &device), None, Some(&mut cache), Logits::Last)
                        .expect("decode step")
                        .into_data()
                },
                BatchSize::SmallInput,
            )
        });
    }

    let rows = 4 * 128;
    let (hidden, inter) = (config.hidden_size, config.intermediate_size);
    let vocab = config.vocab_size;
    for (what, k, n) in [
        ("attention_projection", hidden, hidden),
        ("mlp_up", hidden, inter),
        ("mlp_down", inter, hidden),
        ("lm_head", hidden, vocab),
    ] {
        let name = format!("matmul_{rows}x{k}x{n}_{what}");
        let a = Tensor::<2>::random([rows, k], Distribution::Default, &device);
        let w = Tensor::<2>::random([k, n], Distribution::Default, &device);
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(a.clone())
                    .matmul(black_box(w.clone()))
                    .into_data()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
