//! Local inference speed on a SmolLM2-135M-shaped Llama with random weights (30 layers,
//! hidden 576, 9 heads / 3 KV heads, intermediate 1536, vocab 8192 or
//! `TUNEBENCH_BENCH_VOCAB`, tied embeddings; the shape of PERFORMANCE.md's reference): prompt
//! processing tokens/s and greedy generation tokens/s at batch 1 and 8 (32-token prompt, 48
//! new tokens), and peak RSS against the weight size.
//!
//! `TUNEBENCH_BENCH_DEVICE` picks the device (default `cpu`, burn-flex; e.g. `tch-cpu` with the
//! `tch` feature).
//!
//! Run: `cargo bench -p tunebench-models --bench generate`

use std::time::Instant;

use burn::prelude::*;
use tunebench_models::Llama;
use tunebench_models::config::{bench_vocab, smollm2_135m_shape};
use tunebench_models::generate::{self, GenerationConfig};

fn peak_rss_mib() -> f64 {
    tunebench_models::device::peak_rss_mib().unwrap_or(f64::NAN)
}

fn main() {
    let config = smollm2_135m_shape(bench_vocab());
    let name = std::env::var("TUNEBENCH_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    let device = tunebench_models::device::parse_device(&name).expect("device");
    let model = Llama::random(&config, &device).expect("random model");
    let weights_mib = config.num_parameters() as f64 * 4.0 / 1048576.0;
    println!(
        "model: {} parameters, {weights_mib:.0} MiB of f32 weights; device {name}, {} threads",
        config.num_parameters(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (prompt_len, new_tokens) = (32usize, 48usize);
    for batch in [1usize, 8] {
        let prompts: Vec<Vec<u32>> = (0..batch)
            .map(|b| {
                (0..prompt_len)
                    .map(|i| ((b * 131 + i * 17) % 8000 + 3) as u32)
                    .collect()
            })
            .collect();
        // Prompt processing: one forward pass over the whole batch (best of 3).
        let flat: Vec<i64> = prompts.iter().flatten().map(|&t| i64::from(t)).collect();
        let mut prefill = f64::MAX;
        for _ in 0..3 {
            let ids = Tensor::<2, Int>::from_data(
                TensorData::new(flat.clone(), [batch, prompt_len]),
                &device,
            );
            let started = Instant::now();
            let logits = model.forward(ids);
            let _ = logits.into_data();
            prefill = prefill.min(started.elapsed().as_secs_f64());
        }
        // Greedy generation with the KV cache, no EOS stop.
        let cfg = GenerationConfig {
            max_new_tokens: new_tokens,
            ..GenerationConfig::default()
        };
        let started = Instant::now();
        let out = generate::generate_batch(&model, &prompts, &cfg).expect("generate");
        let total = started.elapsed().as_secs_f64();
        let generated: usize = out.iter().map(|g| g.tokens.len()).sum();
        let decode = (total - prefill).max(1e-9);
        println!(
            "batch {batch}: prompt {:.0} tokens/s; generation {:.1} tokens/s ({generated} tokens, {total:.2} s with prefill)",
            (batch * prompt_len) as f64 / prefill,
            generated as f64 / decode,
        );
    }
    let rss = peak_rss_mib();
    println!(
        "peak RSS {rss:.0} MiB = {:.2}x the weights",
        rss / weights_mib
    );
}
