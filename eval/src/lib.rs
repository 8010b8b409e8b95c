//! Evaluation of candidate models on held-out suites.
//!
//! - [`types`]: the request and response records shared by the calling and scoring sides.
//! - [`metrics`]: per-example and corpus metrics (exact match, ROUGE, BLEU, chrF, numeric, JSON,
//!   classification), each checked against its published reference implementation.
//! - [`candidate`]: the `Candidate` trait, call-error classes and candidate settings.
//! - [`openai`]: OpenAI-compatible chat completions client.
//! - [`batch`]: Bedrock batch inference records (input JSONL, `.jsonl.out` by record id).
//! - [`bedrock`]: Amazon Bedrock models through the Converse API.
//! - [`local`]: local Llama-family model (+ LoRA adapter) on tunebench-models.
//! - [`runner`]: concurrent, rate-adaptive, retrying, cost-guarded runner.
//! - [`cache`]: SQLite response cache.
//! - [`pricing`]: pricing table, per-response cost, dry-run estimates, latency percentiles.
//! - [`error`]: the crate's error type.
//! - [`stats`]: seeded bootstrap intervals, paired bootstrap and exact McNemar tests, Pareto frontiers.
//! - [`suite`]: suite files (TOML + JSONL/CSV/Parquet data) rendered into requests.
//! - [`responses`]: recorded responses (JSONL) read as a candidate.
//! - [`score`]: per-example scores and a candidate's summary (intervals, cost, latency).
//! - [`compare`]: paired tests between candidates, Pareto frontiers, ranks.
//! - [`output`]: atomic result files and the Markdown comparison table.
//! - [`judge`]: LLM-as-judge metrics (rubric, judge candidate, verdict parsing, accounting).
//! - [`evaluate`]: one `[eval]` run: every candidate on every suite, then the comparison.

#![warn(missing_docs)]

pub mod batch;
pub mod bedrock;
pub mod cache;
pub mod candidate;
pub mod compare;
pub mod error;
pub mod evaluate;
pub mod judge;
pub mod local;
pub mod metrics;
pub mod openai;
pub mod output;
pub mod pricing;
pub mod responses;
pub mod runner;
pub mod score;
pub mod stats;
pub mod suite;
pub mod types;
