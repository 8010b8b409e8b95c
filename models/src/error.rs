//! The crate's error type.
//!
//! Every failure a user can cause (a bad model directory, a config this crate does not
//! implement, an adapter that does not fit its base model, token ids out of range) is a
//! [`ModelError`] whose message names the file and the field or tensor at fault, and ends
//! with a `hint:` where the fix is known.

use std::path::PathBuf;

/// Errors raised while loading, running or saving a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A JSON file (config, index, adapter config) did not parse.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },

    /// The Hugging Face Hub could not give a model.
    #[error("Hugging Face model {repo}@{revision}: {message}")]
    Hub {
        /// `ORG/NAME`.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// What went wrong, with a hint where the fix is known.
        message: String,
    },

    /// A config field has a value this crate cannot use.
    #[error("{}: field `{field}`: {reason}", path.display())]
    InvalidConfig {
        /// The config file (empty when the config did not come from a file).
        path: PathBuf,
        /// The field at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The config names an architecture this crate does not implement.
    #[error(
        "{}: unsupported architecture: model_type `{model_type}`{}\nhint: supported model types are llama (Llama 2/3, SmolLM), mistral and qwen2",
        path.display(),
        architectures.as_ref().map(|a| format!(" (architectures {a:?})")).unwrap_or_default()
    )]
    UnsupportedArchitecture {
        /// The config file.
        path: PathBuf,
        /// `model_type` from the config.
        model_type: String,
        /// `architectures` from the config, when present.
        architectures: Option<Vec<String>>,
    },

    /// A safetensors file is malformed.
    #[error("{}: invalid safetensors file: {reason}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The model directory holds no weights in a format this crate reads.
    #[error(
        "{}: no weights found\nhint: expected model.safetensors, or model.safetensors.index.json with its shards",
        dir.display()
    )]
    NoWeights {
        /// The model directory.
        dir: PathBuf,
    },

    /// Tensors the model needs are absent from the weight files.
    #[error(
        "{}: {} missing tensor(s): {}",
        dir.display(),
        names.len(),
        summarize(names)
    )]
    MissingTensors {
        /// The model or adapter directory.
        dir: PathBuf,
        /// The missing tensor names.
        names: Vec<String>,
    },

    /// A tensor has a shape other than the config implies.
    #[error(
        "{}: tensor `{name}` has shape {found:?}, expected {expected:?}\nhint: {hint}",
        path.display()
    )]
    ShapeMismatch {
        /// What to check, naming the config the expected shape came from.
        hint: String,
        /// The file holding the tensor.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The shape the config implies.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },

    /// A tensor is stored in a dtype this crate does not convert.
    #[error(
        "{}: tensor `{name}` has dtype {dtype}\nhint: supported weight dtypes are F32, F16, BF16 and F64",
        path.display()
    )]
    UnsupportedDtype {
        /// The file holding the tensor.
        path: PathBuf,
        /// The tensor name.
        name: String,
        /// The dtype found.
        dtype: String,
    },

    /// An adapter cannot be applied to this model.
    #[error("{}: {reason}", path.display())]
    InvalidAdapter {
        /// The adapter directory or file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The tokenizer or its chat template failed.
    #[error("{}: {reason}", path.display())]
    Tokenizer {
        /// tokenizer.json or tokenizer_config.json.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// A GGUF file is malformed, or holds something this crate does not read (an
    /// architecture, a quantisation type, a tokenizer model).
    #[error("{}: {reason}", path.display())]
    Gguf {
        /// The GGUF file.
        path: PathBuf,
        /// What is wrong, naming the metadata key or tensor.
        reason: String,
    },

    /// A caller passed input the model cannot run on.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The backend failed while reading a tensor back.
    #[error("backend error: {0}")]
    Backend(String),
}

/// Shows at most ten names, so a wrong config does not print a thousand lines.
fn summarize(names: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut out = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

/// Result alias for this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// A bad config.json, an architecture tunebench does not run, or a bad input (prompt,
/// sampling setting) is the user's to fix.
impl tunebench_core::UserFault for ModelError {
    fn is_user_fault(&self) -> bool {
        matches!(
            self,
            ModelError::InvalidConfig { .. }
                | ModelError::UnsupportedArchitecture { .. }
                | ModelError::InvalidInput(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tensors_message_is_capped_at_ten_names() {
        let names: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
        let err = ModelError::MissingTensors {
            dir: PathBuf::from("m"),
            names,
        };
        let msg = err.to_string();
        assert!(msg.contains("12 missing tensor(s)"), "{msg}");
        assert!(msg.contains("`t9`") && !msg.contains("`t10`"), "{msg}");
        assert!(msg.ends_with("and 2 more"), "{msg}");
    }
}
