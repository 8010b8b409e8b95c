//! What the training benches share: a SmolLM2-135M-shaped Llama with random weights and
//! LoRA r=8 on q, k, v and o (its frozen weights in `TUNEBENCH_BENCH_DTYPE`), and a
//! synthetic batch.

use burn::prelude::*;
use tunebench_models::config::{bench_vocab, smollm2_135m_shape};
use tunebench_models::lora::{self, LoraConfig};
use tunebench_models::{Llama, WeightDtype};
use tunebench_train::batch::{Batch, Plan};
use tunebench_train::data::Example;
use tunebench_train::mark_trainable;

/// The model, in training mode, LoRA weights trainable, its frozen weights in [`dtype`].
pub fn model(device: &Device) -> Llama {
    let config = smollm2_135m_shape(bench_vocab());
    let base = Llama::random_as(&config, device, dtype()).expect("random model");
    let lora = LoraConfig::new(8, 16.0, &["q_proj", "k_proj", "v_proj", "o_proj"]);
    mark_trainable(lora::attach_new(base, &lora, device).expect("adapters")).train()
}

/// `rows` rows of `seq` token ids spread over the vocabulary, every token after the first a
/// target.
pub fn synthetic_batch(rows: usize, seq: usize) -> Batch {
    let examples: Vec<Example> = (0..rows)
        .map(|r| Example {
            ids: (0..seq)
                .map(|i| ((r * 7919 + i * 104_729) % 8189 + 3) as u32)
                .collect(),
            target: (0..seq).map(|i| i > 0).collect(),
        })
        .collect();
    let plan: Plan = (0..rows).map(|r| vec![r]).collect();
    Batch::build(&plan, &examples)
}

/// `TUNEBENCH_BENCH_DTYPE`: the dtype of the frozen weights (`f32`, the default, `bf16` or
/// `f16`).
pub fn dtype() -> WeightDtype {
    std::env::var("TUNEBENCH_BENCH_DTYPE").map_or(WeightDtype::F32, |v| {
        v.parse()
            .unwrap_or_else(|e| panic!("TUNEBENCH_BENCH_DTYPE: {e}"))
    })
}
