//! Criterion benchmark of the LoRA training step on a SmolLM2-135M-shaped Llama with random
//! weights (LoRA r=8 on q, k, v, o; AdamW; burn-flex f32): one optimizer step on a 4 × 128
//! batch, every token after the first a target, the recipe's path (forward over segments,
//! loss, backward, clipping, update). A regression shows against a saved baseline:
//!
//! ```text
//! cargo bench --workspace --bench train_hot_paths -- --save-baseline main
//! cargo bench --workspace --bench train_hot_paths -- --baseline main
//! ```
//!
//! The forward / backward / optimizer split and real banking77 batches are in the
//! whole-process `train_step` bench.

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use tunebench_train::optim::AdamW;
use tunebench_train::{StepSettings, optimizer_step};

mod common;

fn hot_paths(c: &mut Criterion) {
    let device = Device::flex();
    let window = vec![common::synthetic_batch(4, 128)];
    let mut model = Some(common::model(&device));
    let mut opt = AdamW::new((0.9, 0.999), 1e-8, 0.01);
    let mut step = 0u64;
    let mut group = c.benchmark_group("smollm2_135m_shape");
    // A step takes seconds on two cores: ten samples, not a hundred.
    group.sample_size(10);
    group.bench_function("lora_step_4x128", |b| {
        b.iter(|| {
            let m = model
                .take()
                .expect("the model is put back after every step");
            let settings = StepSettings {
                lr: 1e-4,
                max_norm: 1.0,
                seed: step,
                recompute: false,
            };
            let (next, _, _) =
                optimizer_step(m, &mut opt, &window, settings).expect("training step");
            step += 1;
            model = Some(next);
        })
    });
    group.finish();
}

criterion_group!(benches, hot_paths);
criterion_main!(benches);
