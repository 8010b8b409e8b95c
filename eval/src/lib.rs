//! Evaluation of candidate models on held-out suites.
//!
//! - [`types`]: the request and response records shared by the calling and scoring sides.

#![warn(missing_docs)]

pub mod types;
