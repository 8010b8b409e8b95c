//! tunebench-core: small foundations every other tunebench crate may use; it depends on no
//! sibling crate: the guard that keeps a command from writing over its own inputs
//! ([`paths`]), atomic file writes ([`fs`]) and the seeded generator ([`rng`]).

#![warn(missing_docs)]

pub mod fs;
pub mod paths;
pub mod rng;

pub use fs::write_atomic;
pub use paths::{Overlap, refuse_overlap};
pub use rng::SplitMix64;
