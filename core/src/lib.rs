//! tunebench-core: small foundations every other tunebench crate may use; it depends on no
//! sibling crate: the guard that keeps a command from writing over its own inputs and path
//! resolution ([`paths`]), atomic file writes and file hashes ([`fs`]), the seeded generator
//! ([`rng`]) and timestamps ([`time`]).

#![warn(missing_docs)]

pub mod fs;
pub mod paths;
pub mod rng;
pub mod time;

pub use fs::write_atomic;
pub use paths::{Overlap, refuse_overlap};
pub use rng::SplitMix64;
