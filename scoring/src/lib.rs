//! Scoring of candidate models' answers on held-out suites: everything that needs neither a
//! model nor a network, so reports and other readers of results build without them.
//!
//! - [`types`]: the request and response records shared by the calling and scoring sides.
//! - [`suite`]: suite files (TOML + JSONL/CSV/Parquet data) rendered into requests.
//! - [`metrics`]: per-example and corpus metrics (exact match, ROUGE, BLEU, chrF, numeric, JSON,
//!   classification), each checked against its published reference implementation.
//! - [`judge`]: LLM-as-judge metrics (rubric, verdict parsing, accounting).
//! - [`grader`]: reward functions (a Bedrock RFT job's Lambda) run locally on answers.
//! - [`score`]: per-example scores and a candidate's summary (intervals, cost, latency).
//! - [`stats`]: seeded bootstrap intervals, paired bootstrap and exact McNemar tests, Pareto frontiers.
//! - [`compare`]: paired tests between candidates, Pareto frontiers, ranks.
//! - [`output`]: atomic result files and the Markdown comparison table.
//! - [`table`]: a table rendered as Markdown or HTML, the one renderer of every table the
//!   comparison and the reports show.
//! - [`error`]: the crate's error type and [`error::Location`].

#![warn(missing_docs)]

pub mod compare;
pub mod error;
pub mod grader;
pub mod judge;
pub mod metrics;
pub mod output;
pub mod score;
pub mod stats;
pub mod suite;
pub mod table;
pub mod types;
