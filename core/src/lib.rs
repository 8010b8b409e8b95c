//! tunebench-core: small foundations every other tunebench crate may use; it depends on no
//! sibling crate: whose fault an error is ([`fault`]), the guard that keeps a command from
//! writing over its own inputs and path resolution ([`paths`]), atomic file writes and file
//! hashes ([`fs`]), digests of large files computed once ([`hash_cache`]), the run folder's
//! layout ([`run_dir`]), the seeded generator ([`rng`]) and timestamps ([`time`]).

#![warn(missing_docs)]

pub mod fault;
pub mod fs;
pub mod hash_cache;
pub mod paths;
pub mod rng;
pub mod run_dir;
pub mod time;

pub use fault::UserFault;
pub use fs::write_atomic;
pub use paths::{Overlap, refuse_overlap};
pub use rng::SplitMix64;
pub use run_dir::RunDir;
