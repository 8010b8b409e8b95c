//! tunebench-pipeline: what a tunebench command does, below the command line. It owns the
//! config file and how flags and `TUNEBENCH_*` variables lie over it ([`config`],
//! [`overrides`]); each stage as a function of resolved settings ([`data`], [`train`],
//! [`eval`], [`report`]) and the response cache's pruning ([`cache`]); the model registry
//! ([`registry`]) and its place in a run ([`lifecycle`]); a run's metrics sent to CloudWatch
//! ([`cloudwatch`]); a whole run with its manifest, fingerprints, reuse and resume
//! ([`run`]); its error, which knows its exit code
//! ([`error`]); and the redaction of credentials from everything printed ([`redact`]). The
//! `tunebench` binary parses, calls one function here, prints, and exits with
//! [`PipelineError::exit_code`].

pub mod cache;
pub mod cloudwatch;
pub mod config;
pub mod data;
pub mod error;
pub mod eval;
pub mod grader_check;
pub mod lifecycle;
pub mod overrides;
pub mod redact;
pub mod registry;
pub mod report;
pub mod run;
pub mod train;

pub use config::{ConfigError, Loaded, Scope, load};
pub use error::{PipelineError, Result};
pub use overrides::Overrides;
pub use run::{Finished, RunUi, Selection, Stage};
