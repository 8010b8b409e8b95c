//! A GGUF file written out as a standard HF model folder: `config.json`, `model.safetensors`
//! (f32, HF names and layouts), `tokenizer.json` and `tokenizer_config.json` (with the chat
//! template), which transformers and every tunebench command load.
//!
//! The folder is staged beside `out` and renamed into place when complete, so a crash never
//! leaves a half-written model under the real name; tensors are de-quantised and written one
//! at a time, so memory holds one tensor, not the model.

use std::path::Path;

use crate::error::{ModelError, Result};
use crate::llama::Llama;
use crate::weights::{self, TensorSource};

use super::GgufLlama;
use super::tokenizer::{tokenizer_files, write_tokenizer_files};

/// Converts `gguf` into an HF folder at `out`, which must not exist or be empty. Returns the
/// number of tensors written.
pub fn convert_to_hf(gguf: &Path, out: &Path) -> Result<usize> {
    let model = GgufLlama::open(gguf)?;
    let tokenizer = tokenizer_files(model.file())?;
    let tensors = Llama::tensor_shapes(model.config());
    model.check(&tensors)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    if out.exists() {
        let mut entries = std::fs::read_dir(out).map_err(io(out))?;
        if entries.next().is_some() {
            return Err(ModelError::InvalidInput(format!(
                "--out `{}` exists and is not empty\nhint: choose a new folder; the converted model is written whole or not at all",
                out.display()
            )));
        }
    }
    let stage = tunebench_core::fs::temp_beside(out);
    if stage.exists() {
        std::fs::remove_dir_all(&stage).map_err(io(&stage))?;
    }
    std::fs::create_dir_all(&stage).map_err(io(&stage))?;
    let write = || -> Result<()> {
        let config = serde_json::to_vec_pretty(model.config())
            .map_err(|e| ModelError::InvalidInput(e.to_string()))?;
        weights::write_atomic(&stage.join(weights::CONFIG_FILE), &config)?;
        write_tokenizer_files(&tokenizer, &stage)?;
        weights::write_safetensors_streamed(&stage.join(weights::WEIGHTS_FILE), &tensors, |i| {
            model.read_f32(&tensors[i].0, &tensors[i].1)
        })?;
        if out.exists() {
            std::fs::remove_dir(out).map_err(io(out))?;
        }
        std::fs::rename(&stage, out).map_err(io(out))
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&stage);
    })?;
    Ok(tensors.len())
}
