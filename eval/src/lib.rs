//! Evaluation of candidate models on held-out suites: the calling side. Candidates are
//! called (locally, over HTTP, on Bedrock) through a cached, cost-guarded runner; their
//! answers are scored by tunebench-scoring, whose modules are re-exported here.
//!
//! - [`candidate`]: the `Candidate` trait, call-error classes and candidate settings.
//! - [`openai`]: OpenAI-compatible chat completions client.
//! - [`batch`]: Bedrock batch inference records (input JSONL, `.jsonl.out` by record id).
//! - [`bedrock`]: Amazon Bedrock models through the Converse API.
//! - [`local`]: local Llama-family model (+ LoRA adapter) on tunebench-models.
//! - [`runner`]: concurrent, rate-adaptive, retrying, cost-guarded runner.
//! - [`cache`]: SQLite response cache.
//! - [`pricing`]: pricing table, per-response cost, dry-run estimates, latency percentiles.
//! - [`responses`]: recorded responses (JSONL) read as a candidate.
//! - [`error`]: the calling side's error type.
//! - [`evaluate`]: one `[eval]` run: every candidate on every suite, then the comparison.

#![warn(missing_docs)]

pub mod batch;
pub mod bedrock;
pub mod cache;
pub mod candidate;
pub mod error;
pub mod evaluate;
pub mod local;
pub mod openai;
pub mod pricing;
pub mod responses;
pub mod runner;

pub use tunebench_scoring::{compare, grader, judge, metrics, output, score, stats, suite, types};
