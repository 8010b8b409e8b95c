//! A llama-, qwen2- or qwen3-architecture GGUF as the HF checkpoint it was converted from:
//! `config.json` values from the `{arch}.*` metadata, HF tensor names from llama.cpp's, and
//! (llama) the Q/K row permutation undone; Llama 3.1's RoPE divisors become `rope_scaling`.
//!
//! llama.cpp's `convert_hf_to_gguf.py` (`LlamaModel.modify_tensors` and `permute`) reorders the
//! rows of `q_proj` (with `num_attention_heads`) and `k_proj` (with `num_key_value_heads`) so
//! that each head's two RoPE halves interleave: within a head of width `d`, HF row
//! `a·d/2 + b` (`a` ∈ {0, 1}) is stored at row `2b + a`. [`GgufLlama`] reads them back in HF's
//! order, as transformers' GGUF loader does (`reverse_permute`). Mistral files use the `llama`
//! architecture too; SmolLM and Llama 2/3 are `llama`. `Qwen2Model` in the converter stores
//! Qwen2 (and Qwen2.5) with the same names, q/k/v biases as `blk.N.attn_q.bias` …, and no
//! permutation; `Qwen3Model` adds the per-head q/k norms as `blk.N.attn_q_norm` /
//! `blk.N.attn_k_norm`. `Gemma3Model` (architecture `gemma3`, HF `gemma3_text`) names the norm
//! after attention `post_attention_norm`, the norms around the MLP `ffn_norm` and
//! `post_ffw_norm`, and stores every norm weight plus one (llama.cpp multiplies by the weight,
//! Gemma by `1 + weight`): they are read back minus one, as transformers' GGUF loader does. What
//! the file leaves out is llama.cpp's fixed Gemma 3 rule, which transformers' defaults share:
//! every sixth layer global, the others sliding with RoPE base 10,000, and queries scaled by
//! `key_length^-1/2` (hidden / heads for the 62-layer 27B).

use std::path::Path;

use burn::prelude::Device;

use crate::config::{LlamaConfig, TokenIds};
use crate::dtype::WeightDtype;
use crate::error::{ModelError, Result};
use crate::llama::Llama;
use crate::weights::TensorSource;

use super::file::{GgufFile, Value};

/// The architectures (`general.architecture`) this crate loads from GGUF; each is the HF
/// `model_type` of the same name.
pub const SUPPORTED_ARCHITECTURES: [&str; 4] = ["llama", "qwen2", "qwen3", "gemma3"];

/// A llama, qwen2, qwen3 or gemma3 GGUF file read through HF names.
#[derive(Debug)]
pub struct GgufLlama {
    file: GgufFile,
    config: LlamaConfig,
}

/// Where an HF tensor lives in the GGUF, how many head groups its rows are permuted in, and
/// whether it is stored plus one (Gemma's norms).
struct Mapped {
    name: String,
    permute_heads: Option<usize>,
    plus_one: bool,
}

impl GgufLlama {
    /// Opens a GGUF file and derives the HF config from its metadata.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let file = GgufFile::open(path)?;
        let config = config_from_metadata(&file)?;
        Ok(Self { file, config })
    }

    /// The HF config the metadata describes.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The underlying file.
    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// Builds the model, de-quantising one tensor at a time, its frozen weights in `dtype`.
    pub fn load_model(&self, device: &Device, dtype: WeightDtype) -> Result<Llama> {
        self.check(&Llama::tensor_shapes(&self.config))?;
        Llama::from_tensors(&self.config, self, device, dtype)
    }

    /// The GGUF tensor behind HF tensor `hf`, `None` for names a llama checkpoint lacks.
    fn map(&self, hf: &str) -> Option<Mapped> {
        let gemma = self.config.is_gemma();
        let plain = |name: String| Mapped {
            plus_one: gemma && name.ends_with("norm.weight"),
            name,
            permute_heads: None,
        };
        match hf {
            "model.embed_tokens.weight" => return Some(plain("token_embd.weight".into())),
            "model.norm.weight" => return Some(plain("output_norm.weight".into())),
            "lm_head.weight" => return Some(plain("output.weight".into())),
            _ => {}
        }
        let rest = hf.strip_prefix("model.layers.")?;
        let (layer, rest) = rest.split_once('.')?;
        let layer: usize = layer.parse().ok()?;
        let (module, kind) = rest.rsplit_once('.')?;
        // Only the llama converter permutes.
        let permuted = |heads: usize| (self.config.model_type == "llama").then_some(heads);
        let (gguf, permute_heads) = match module {
            "self_attn.q_proj" => ("attn_q", permuted(self.config.num_attention_heads)),
            "self_attn.k_proj" => ("attn_k", permuted(self.config.num_kv_heads())),
            "self_attn.v_proj" => ("attn_v", None),
            "self_attn.o_proj" => ("attn_output", None),
            "self_attn.q_norm" => ("attn_q_norm", None),
            "self_attn.k_norm" => ("attn_k_norm", None),
            "mlp.gate_proj" => ("ffn_gate", None),
            "mlp.up_proj" => ("ffn_up", None),
            "mlp.down_proj" => ("ffn_down", None),
            "input_layernorm" => ("attn_norm", None),
            "post_attention_layernorm" if gemma => ("post_attention_norm", None),
            "post_attention_layernorm" => ("ffn_norm", None),
            "pre_feedforward_layernorm" => ("ffn_norm", None),
            "post_feedforward_layernorm" => ("post_ffw_norm", None),
            _ => return None,
        };
        Some(Mapped {
            permute_heads,
            ..plain(format!("blk.{layer}.{gguf}.{kind}"))
        })
    }
}

impl TensorSource for GgufLlama {
    fn check(&self, expected: &[(String, Vec<usize>)]) -> Result<()> {
        let mut missing = Vec::new();
        for (hf, shape) in expected {
            let Some(m) = self.map(hf) else {
                missing.push(hf.clone());
                continue;
            };
            let Some(info) = self.file.tensor(&m.name) else {
                missing.push(format!("{} (HF `{hf}`)", m.name));
                continue;
            };
            if &info.shape() != shape {
                return Err(ModelError::ShapeMismatch {
                    hint: "the GGUF metadata (`{arch}.*` keys) does not describe these tensors"
                        .into(),
                    path: self.file.path().to_path_buf(),
                    name: m.name,
                    expected: shape.clone(),
                    found: info.shape(),
                });
            }
            // A quantisation this crate cannot read is refused before any tensor is loaded.
            self.file.typed_tensor(&m.name)?;
        }
        match missing.is_empty() {
            true => Ok(()),
            false => Err(ModelError::MissingTensors {
                dir: self.file.path().to_path_buf(),
                names: missing,
            }),
        }
    }

    fn read_f32(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        self.check(&[(name.to_string(), expected.to_vec())])?;
        let m = self
            .map(name)
            .ok_or_else(|| self.file.error(format!("no GGUF tensor holds `{name}`")))?;
        let mut values = self.file.read_f32(&m.name)?;
        if m.plus_one {
            values.iter_mut().for_each(|v| *v -= 1.0);
        }
        Ok(match m.permute_heads {
            Some(heads) => unpermute_rows(&values, expected[0], heads),
            None => values,
        })
    }
}

/// Undoes `convert_hf_to_gguf.py`'s `permute` on a row-major tensor of `rows` rows: in each
/// of `heads` groups of `d` rows, stored row `2b + a` is HF row `a·d/2 + b`.
fn unpermute_rows(values: &[f32], rows: usize, heads: usize) -> Vec<f32> {
    let cols = values.len() / rows;
    let d = rows / heads;
    let half = d / 2;
    let mut out = vec![0.0; values.len()];
    for h in 0..heads {
        for a in 0..2 {
            for b in 0..half {
                let src = (h * d + 2 * b + a) * cols;
                let dst = (h * d + a * half + b) * cols;
                out[dst..dst + cols].copy_from_slice(&values[src..src + cols]);
            }
        }
    }
    out
}

/// Builds `config.json`'s values from the `{arch}.*` and `tokenizer.ggml.*` metadata (the keys
/// `convert_hf_to_gguf.py` writes), and checks them.
fn config_from_metadata(file: &GgufFile) -> Result<LlamaConfig> {
    let arch = file.require("general.architecture", "a string", |v| {
        v.as_str().map(str::to_string)
    })?;
    if !SUPPORTED_ARCHITECTURES.contains(&arch.as_str()) {
        return Err(file.error(format!(
            "metadata `general.architecture`: architecture `{arch}` is not supported\nhint: tunebench loads GGUF files of the architectures {SUPPORTED_ARCHITECTURES:?} (Llama 2/3, SmolLM, Mistral, Qwen2/2.5, Qwen3, Gemma 3)"
        )));
    }
    let int = |k: &str| file.require(&format!("{arch}.{k}"), "an unsigned integer", Value::as_u64);
    let opt_int =
        |k: &str| file.optional(&format!("{arch}.{k}"), "an unsigned integer", Value::as_u64);
    let opt_float = |k: &str| file.optional(&format!("{arch}.{k}"), "a float", Value::as_f64);
    let token = |k: &str| {
        file.optional(&format!("tokenizer.ggml.{k}"), "a token id", Value::as_u64)
            .map(|id| id.map(|id| TokenIds::One(id as u32)))
    };
    let hidden = int("embedding_length")?;
    let heads = int("attention.head_count")?;
    let vocab = match opt_int("vocab_size")? {
        Some(v) => v,
        None => file.strings("tokenizer.ggml.tokens")?.len() as u64,
    };
    let head_dim = opt_int("attention.key_length")?;
    let rope_dim = opt_int("rope.dimension_count")?;
    let effective_head_dim = head_dim.unwrap_or(hidden / heads.max(1));
    if let Some(r) = rope_dim
        && r != effective_head_dim
    {
        return Err(file.error(format!(
            "metadata `{arch}.rope.dimension_count`: {r} differs from the head width {effective_head_dim}; partial rotary embeddings are not supported"
        )));
    }
    let theta = opt_float("rope.freq_base")?.unwrap_or(10000.0);
    let rope_scaling = match file.optional(
        &format!("{arch}.rope.scaling.type"),
        "a string",
        |v| v.as_str().map(str::to_string),
    )? {
        None if file.tensor("rope_freqs.weight").is_some() => {
            llama3_scaling(file, theta, effective_head_dim as usize)?
        }
        None => None,
        Some(t) if t == "none" => None,
        Some(t) if t == "linear" => Some(serde_json::json!({
            "rope_type": "linear",
            "factor": file.require(&format!("{arch}.rope.scaling.factor"), "a float", Value::as_f64)?,
        })),
        Some(t) => {
            return Err(file.error(format!(
                "metadata `{arch}.rope.scaling.type`: `{t}` is not supported (none and linear are)"
            )));
        }
    };
    let (model_type, class) = match arch.as_str() {
        "qwen2" => ("qwen2", "Qwen2ForCausalLM"),
        "qwen3" => ("qwen3", "Qwen3ForCausalLM"),
        "gemma3" => ("gemma3_text", "Gemma3ForCausalLM"),
        _ => ("llama", "LlamaForCausalLM"),
    };
    let layers = int("block_count")?;
    let mut json = serde_json::json!({
        "model_type": model_type,
        "architectures": [class],
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": int("feed_forward_length")?,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": opt_int("attention.head_count_kv")?.unwrap_or(heads),
        "head_dim": head_dim,
        "max_position_embeddings": opt_int("context_length")?.unwrap_or(2048),
        "rms_norm_eps": opt_float("attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5),
        "rope_theta": theta,
        "rope_scaling": rope_scaling,
        "tie_word_embeddings": file.tensor("output.weight").is_none(),
        // Llama's optional biases (Qwen2's q/k/v biases come with its model_type).
        "attention_bias": arch != "qwen2" && file.tensor("blk.0.attn_q.bias").is_some(),
        "mlp_bias": file.tensor("blk.0.ffn_up.bias").is_some(),
        "hidden_act": "silu",
        "bos_token_id": token("bos_token_id")?,
        "eos_token_id": token("eos_token_id")?,
        "pad_token_id": token("padding_token_id")?,
        "torch_dtype": "float32",
    });
    if arch == "gemma3" {
        // llama.cpp's fixed Gemma 3 rule (see the module docs).
        let json = json.as_object_mut().expect("a JSON object");
        let window = opt_int("attention.sliding_window")?;
        let scalar = match layers {
            62 => hidden / heads.max(1),
            _ => effective_head_dim,
        };
        let layer_types: Vec<&str> = (0..layers as usize)
            .map(|l| match crate::config::gemma3_is_sliding(l, 6) {
                true => "sliding_attention",
                false => "full_attention",
            })
            .collect();
        for (k, v) in [
            ("hidden_activation", serde_json::json!("gelu_pytorch_tanh")),
            ("query_pre_attn_scalar", serde_json::json!(scalar)),
            ("sliding_window", serde_json::json!(window)),
            ("layer_types", serde_json::json!(layer_types)),
            ("rope_local_base_freq", serde_json::json!(10_000.0)),
            (
                "rms_norm_eps",
                serde_json::json!(opt_float("attention.layer_norm_rms_epsilon")?.unwrap_or(1e-6)),
            ),
        ] {
            json.insert(k.to_string(), v);
        }
    }
    let config: LlamaConfig = serde_json::from_value(json)
        .map_err(|e| file.error(format!("metadata does not make a config: {e}")))?;
    config.validate(file.path())?;
    Ok(config)
}

/// Llama 3.1's RoPE scaling from the per-frequency divisors that `convert_hf_to_gguf.py`
/// (`LlamaModel.generate_extra_tensors`) stores as `rope_freqs.weight` instead of the
/// `rope_scaling` parameters: 1 for short wavelengths, `factor` for long ones, and
/// `1 / ((1 - s) / factor + s)` between, with `s = orig / λ · 1/(high - low) - low/(high - low)`.
/// The divisors depend on `original_max_position_embeddings`, `low_freq_factor` and
/// `high_freq_factor` only through `a = orig / (high - low)` and `b = low / (high - low)`, so
/// `a` and `b` are fitted on the divisors between 1 and `factor`, the parameters are stated
/// with `low_freq_factor` = 1 (Llama 3.1 and 3.2's value), and every divisor is checked against
/// them. `None` when no divisor differs from 1.
fn llama3_scaling(
    file: &GgufFile,
    theta: f64,
    head_dim: usize,
) -> Result<Option<serde_json::Value>> {
    let name = "rope_freqs.weight";
    let factors = file.read_f32(name)?;
    if factors.len() != head_dim / 2 {
        return Err(file.error(format!(
            "tensor `{name}`: {} divisors for a head width of {head_dim}",
            factors.len()
        )));
    }
    let inv: Vec<f64> = (0..head_dim / 2)
        .map(|i| 1.0 / theta.powf((2 * i) as f64 / head_dim as f64))
        .collect();
    let factor = factors.iter().copied().fold(1.0f32, f32::max) as f64;
    if factor == 1.0 {
        return Ok(None);
    }
    // Points (1/λ, s) of the band between the two wavelengths, where s = a/λ - b.
    let band: Vec<(f64, f64)> = factors
        .iter()
        .zip(&inv)
        .filter(|(f, _)| (**f as f64) > 1.0 + 1e-6 && (**f as f64) < factor * (1.0 - 1e-6))
        .map(|(&f, &i)| {
            let s = (1.0 / f as f64 - 1.0 / factor) / (1.0 - 1.0 / factor);
            (i / (2.0 * std::f64::consts::PI), s)
        })
        .collect();
    let unrecoverable = |why: &str| {
        file.error(format!(
            "tensor `{name}`: the RoPE divisors do not follow Llama 3.1's scaling ({why})\nhint: load the model's HF folder instead"
        ))
    };
    if band.len() < 2 {
        return Err(unrecoverable(
            "fewer than two divisors between 1 and the factor",
        ));
    }
    // Least squares of s on 1/λ.
    let n = band.len() as f64;
    let (mx, my) = band
        .iter()
        .fold((0.0, 0.0), |(x, y), (a, b)| (x + a / n, y + b / n));
    let sxy: f64 = band.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = band.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let a = sxy / sxx;
    let b = a * mx - my;
    if !(a > 0.0 && b > 0.0) {
        return Err(unrecoverable("no positive fit"));
    }
    let high = ((1.0 + 1.0 / b) * 1e4).round() / 1e4;
    let original = (a / b).round() as usize;
    let scaling = crate::config::RopeScaling::Llama3 {
        factor,
        low_freq_factor: 1.0,
        high_freq_factor: high,
        original_max_position_embeddings: original,
    };
    let mut scaled = inv.clone();
    scaling.apply(&mut scaled);
    for ((f, i), s) in factors.iter().zip(&inv).zip(&scaled) {
        if ((i / s) - *f as f64).abs() > 1e-4 * (*f as f64) {
            return Err(unrecoverable(&format!(
                "divisor {f} where factor {factor}, high_freq_factor {high}, original context {original} give {}",
                i / s
            )));
        }
    }
    Ok(Some(serde_json::json!({
        "rope_type": "llama3",
        "factor": factor,
        "low_freq_factor": 1.0,
        "high_freq_factor": high,
        "original_max_position_embeddings": original,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_the_converters_permute() {
        // convert_hf_to_gguf.py: w.reshape(heads, 2, d/2, cols).swapaxes(1, 2).reshape(rows, cols)
        let (heads, d, cols) = (3, 4, 2);
        let rows = heads * d;
        let hf: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
        let mut permuted = vec![0.0; hf.len()];
        for h in 0..heads {
            for a in 0..2 {
                for b in 0..d / 2 {
                    for c in 0..cols {
                        // index (h, a, b) of the reshape moves to (h, b, a)
                        permuted[(h * d + b * 2 + a) * cols + c] =
                            hf[(h * d + a * (d / 2) + b) * cols + c];
                    }
                }
            }
        }
        assert_ne!(permuted, hf);
        assert_eq!(unpermute_rows(&permuted, rows, heads), hf);
    }

    #[test]
    fn other_architectures_are_named_in_the_error() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/gguf/quants.gguf");
        let msg = GgufLlama::open(&path).unwrap_err().to_string();
        assert!(
            msg.contains(
                "quants.gguf: metadata `general.architecture`: architecture `test` is not supported"
            ),
            "{msg}"
        );
    }
}
