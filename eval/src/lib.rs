//! Evaluation of candidate models on held-out suites.
