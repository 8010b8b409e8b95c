//! tunebench-core: small foundations every other tunebench crate may use; it depends on no
//! sibling crate. Today it holds the guard that keeps a command from writing over its own
//! inputs ([`paths`]).

#![warn(missing_docs)]

pub mod paths;

pub use paths::{Overlap, refuse_overlap};
