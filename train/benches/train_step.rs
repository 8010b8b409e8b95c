//! LoRA training throughput on a SmolLM2-135M-shaped Llama with random weights (30 layers,
//! hidden 576, 9 heads / 3 KV heads, intermediate 1536, vocab 8192 or
//! `TUNEBENCH_BENCH_VOCAB`, tied embeddings), the
//! shape of PERFORMANCE.md's reference (transformers + PEFT: 161 tokens/s).
//!
//! 1. Synthetic: LoRA r=8 on q/k/v/o, batch 4 × 128 tokens, every token a target, AdamW:
//!    seconds per optimizer step and tokens/s, with the step split into forward, backward
//!    and optimizer time; peak RSS.
//! 2. Real banking77 batches (the repository's training slice, tokenised with the fixture
//!    tokenizer): effective (non-padding) tokens/s with length-grouped padding and with
//!    packing into rows of 128 tokens (left out with `TUNEBENCH_BENCH_SYNTHETIC_ONLY=1`).
//!
//! `TUNEBENCH_BENCH_DEVICE` picks the device (default `cpu`; e.g. `wgpu` with the `wgpu`
//! feature), `TUNEBENCH_BENCH_BATCH` the synthetic batch (`ROWSxSEQ`, default `4x128`) and
//! `TUNEBENCH_BENCH_CHECKPOINTING=1` turns on gradient checkpointing and
//! `TUNEBENCH_BENCH_DTYPE=bf16` (or `f16`) stores the frozen weights at half precision.
//!
//! Run: `cargo bench --locked --profile dev --workspace --bench train_step`

use std::path::Path;
use std::time::Instant;

use common::synthetic_batch;
use tunebench_models::{Llama, TextTokenizer, device::parse_device, device::peak_rss_mib};
use tunebench_train::batch::{Batch, epoch_plan};
use tunebench_train::data::Encoder;
use tunebench_train::loss::causal_lm_loss;
use tunebench_train::optim::{self, AdamW};
use tunebench_train::{StepSettings, optimizer_step};

mod common;

const STEPS: usize = 4;

/// Mean seconds per optimizer step over `STEPS` steps after one warm-up step.
fn time_steps(mut model: Llama, batches: &[Vec<Batch>], recompute: bool) -> (Llama, f64) {
    let mut opt = AdamW::new((0.9, 0.999), 1e-8, 0.01);
    let mut total = 0.0;
    for (i, window) in batches.iter().enumerate() {
        let started = Instant::now();
        let settings = StepSettings {
            lr: 1e-4,
            max_norm: 1.0,
            seed: i as u64,
            recompute,
        };
        let (next, _, _) = optimizer_step(model, &mut opt, window, settings).expect("step");
        model = next;
        if i > 0 {
            total += started.elapsed().as_secs_f64();
        }
    }
    (model, total / (batches.len() - 1) as f64)
}

fn main() {
    let name = std::env::var("TUNEBENCH_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    let checkpointing = std::env::var_os("TUNEBENCH_BENCH_CHECKPOINTING").is_some();
    let device = parse_device(&name).expect("device");
    println!(
        "device {name}{}, frozen weights in {}, {} CPU threads",
        if checkpointing {
            " with gradient checkpointing"
        } else {
            ""
        },
        common::dtype().name(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let model = common::model(&device);
    let trainable: usize = optim::trainable(&model).values().map(|t| t.dims()[0]).sum();
    println!("LoRA r=8 on q,k,v,o: {trainable} trainable parameters");

    // 1. Synthetic, 4 × 128 unless TUNEBENCH_BENCH_BATCH says otherwise.
    let shape = std::env::var("TUNEBENCH_BENCH_BATCH").unwrap_or_else(|_| "4x128".into());
    let (rows, seq) = shape
        .split_once('x')
        .and_then(|(r, s)| Some((r.parse().ok()?, s.parse().ok()?)))
        .expect("TUNEBENCH_BENCH_BATCH is ROWSxSEQ, e.g. 8x512");
    let batch = synthetic_batch(rows, seq);
    let windows: Vec<Vec<Batch>> = (0..=STEPS).map(|_| vec![batch.clone()]).collect();
    let (model, per_step) = time_steps(model, &windows, checkpointing);
    let tokens = (batch.rows * batch.seq) as f64;
    println!(
        "synthetic batch {rows} x {seq}: {per_step:.2} s/step = {:.0} tokens/s",
        tokens / per_step
    );
    // Where the time goes: forward (with the autodiff graph), backward, optimizer. Not with
    // checkpointing, whose step interleaves them (and the split's whole-graph pass would
    // set the peak RSS printed below).
    if !checkpointing {
        let (mut fwd, mut bwd) = (0.0, 0.0);
        for _ in 0..2 {
            let t0 = Instant::now();
            let loss = causal_lm_loss(&model, &batch, batch.targets).expect("forward");
            let _ = loss.clone().into_scalar::<f32>();
            let t1 = Instant::now();
            let grads = loss.backward();
            let g = optim::gradients(&model, &grads);
            let _ = optim::global_norm(&g);
            fwd += (t1 - t0).as_secs_f64() / 2.0;
            bwd += t1.elapsed().as_secs_f64() / 2.0;
        }
        println!(
            "  split: forward {fwd:.2} s, backward {bwd:.2} s, optimizer and bookkeeping {:.2} s",
            (per_step - fwd - bwd).max(0.0)
        );
    }
    println!("  peak RSS {:.0} MiB", peak_rss_mib().unwrap_or(f64::NAN));

    // 2. Real banking77 batches, padded vs packed (left out by bench/side_by_side.sh, whose
    // PyTorch reference has only the synthetic batch).
    if std::env::var_os("TUNEBENCH_BENCH_SYNTHETIC_ONLY").is_some() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tokenizer = TextTokenizer::load(root.join("fixtures/tiny-llama/model")).expect("tokenizer");
    let encoder = Encoder {
        tokenizer: &tokenizer,
        eos: Some(2),
        max_seq_len: 128,
        train_on_inputs: false,
    };
    let examples = encoder
        .read(&root.join("train/tests/data/banking77-train.jsonl"))
        .expect("banking77 slice")
        .examples;
    for (label, packing, rows) in [
        ("padded, 16 rows", false, 16),
        ("packed, 4 rows of 128", true, 4),
    ] {
        let plans = epoch_plan(&examples, rows, 128, packing, 7, 0);
        let windows: Vec<Vec<Batch>> = plans
            .iter()
            .take(STEPS + 1)
            .map(|p| vec![Batch::build(p, &examples)])
            .collect();
        let real: usize = windows[1..].iter().flatten().map(|b| b.tokens).sum();
        let slots: usize = windows[1..].iter().flatten().map(|b| b.rows * b.seq).sum();
        let (_, per_step) = time_steps(common::model(&device), &windows, checkpointing);
        println!(
            "banking77 {label}: {:.0} effective tokens/s ({:.0}% of positions are real tokens)",
            real as f64 / (per_step * STEPS as f64),
            100.0 * real as f64 / slots as f64
        );
    }
}
