//! Local language models for tunebench: decoders of the Llama family (Llama 2/3, SmolLM,
//! Mistral, Qwen2), Qwen3 and Gemma 3 text in Burn, loaded from Hugging Face directories and
//! GGUF files, with PEFT LoRA adapters, log-likelihood scoring and KV-cache generation.
//!
//! - [`config`]: `config.json` mirrored with serde, both RoPE styles resolved.
//! - [`llama`]: the model, one file, HF parameter names.
//! - [`weights`]: safetensors reading (single or sharded, f32/f16/bf16) and writing.
//! - [`lora`]: LoRA layers and PEFT adapter load/save/merge.
//! - [`generate`]: per-token log-probs, NLL, greedy and sampled generation.
//! - [`device`]: run-time device names.
//! - [`dtype`]: the dtype frozen weights are stored and multiplied in (f32, bf16, f16).
//! - [`gguf`]: GGUF files (llama.cpp, Ollama): reader, de-quantisation, llama.cpp tensor
//!   names (llama, qwen2, qwen3, gemma3), tokenizer and config rebuilt from the metadata.
//! - [`hub`]: model references: folders and Hugging Face Hub ids, downloaded into the HF cache.
//! - [`tokenizer`]: `tokenizer.json` plus the chat template of `tokenizer_config.json`.
//!
//! The numbers match transformers: the tests compare logits, log-probs, NLL and greedy
//! output against one fixture per family that transformers and PEFT computed.
//!
//! ```no_run
//! use burn::prelude::*;
//! use tunebench_models::{generate, lora, weights};
//!
//! # fn main() -> tunebench_models::Result<()> {
//! let device = Device::flex();
//! let model = weights::load_model("models/tiny-llama", &device)?;
//! let model = lora::load_adapter(model, "adapters/gsm8k")?;
//! let nll = generate::nll_sum(&model, &[1, 44, 279, 322])?;
//! # let _ = nll;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod device;
pub mod dtype;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod hub;
pub mod llama;
pub mod lora;
pub mod tokenizer;
pub mod weights;

pub use config::LlamaConfig;
pub use dtype::WeightDtype;
pub use error::{ModelError, Result};
pub use llama::{KvCache, Llama, Logits};
pub use tokenizer::{ChatMessage, TextTokenizer};
