//! Fine-tuning for tunebench.
//!
//! Local training ([`local::train_local`]) fine-tunes a Llama-family model from the models
//! crate with LoRA or in full, on the JSONL that `tunebench data prepare` writes, and saves
//! PEFT-format adapters. The recipe reads top to bottom in [`local`]; its parts:
//!
//! - [`settings`]: `[train.local]`, resolved and checked.
//! - [`data`]: examples tokenised with a per-token target flag (completion / assistant
//!   tokens only unless `train_on_inputs`).
//! - [`batch`]: seeded epoch plans, length-grouped padding or packing.
//! - [`loss`]: cross-entropy on target tokens, normalised over the accumulation window.
//! - [`optim`]: AdamW as PyTorch computes it, schedules, clipping, accumulation.
//! - [`checkpoint`]: atomic checkpoints for resume.
//! - [`metrics`]: the `metrics.csv` log.
//! - [`bedrock`]: Amazon Bedrock model customization (pre-flight checks, cost estimate,
//!   submit / status / wait / stop / list, metrics into `metrics.csv`, deploy).

#![warn(missing_docs)]

pub mod batch;
pub mod bedrock;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod local;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod settings;

pub use error::{Result, TrainError};
pub use local::{
    NoProgress, Progress, RunOptions, Status, StepSettings, Summary, mark_trainable,
    optimizer_step, train_local,
};
pub use settings::{LocalTrainSettings, Method};
