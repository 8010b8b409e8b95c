//! `config.json` of a Hugging Face Llama-family model, mirrored with serde.
//!
//! [`LlamaConfig`] keeps the raw fields as HF writes them, so a config read and written back
//! (for a merged model) loses nothing; unknown fields are kept in [`LlamaConfig::extra`]. The
//! accessors ([`LlamaConfig::head_dim`], [`LlamaConfig::rope`], ...) resolve HF's defaults and
//! the two RoPE styles:
//!
//! - transformers < 5 (most hub models): `rope_theta` and `rope_scaling` at the top level;
//! - transformers ≥ 5: `rope_parameters = { rope_theta, rope_type, factor, ... }`.
//!
//! Reference: `configuration_llama.py`, `configuration_mistral.py`, `configuration_qwen2.py`,
//! `configuration_qwen3.py`, `configuration_gemma3.py` (its text model, `gemma3_text`) and
//! `modeling_rope_utils.py` in transformers.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The `model_type`s this crate implements. SmolLM and Llama 2/3 are all `llama`.
pub const SUPPORTED_MODEL_TYPES: [&str; 5] = ["llama", "mistral", "qwen2", "qwen3", "gemma3_text"];

/// A token id or a list of them (`eos_token_id` is a list in Llama 3 configs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// One id.
    One(u32),
    /// Several ids.
    Many(Vec<u32>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// RoPE settings: transformers ≥ 5's `rope_parameters`, or the older top-level `rope_scaling`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RopeParameters {
    /// `default`, `linear` or `llama3` (others are rejected by [`LlamaConfig::rope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_type: Option<String>,
    /// The pre-2024 spelling of `rope_type`, still found in hub configs.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub legacy_type: Option<String>,
    /// Base of the RoPE frequencies (only in `rope_parameters`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// Scaling factor (`linear`, `llama3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// `llama3`: wavelengths longer than `original_max_position_embeddings / low_freq_factor`
    /// are divided by `factor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low_freq_factor: Option<f64>,
    /// `llama3`: wavelengths shorter than `original_max_position_embeddings / high_freq_factor`
    /// are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_freq_factor: Option<f64>,
    /// `llama3`: the context length the model was pre-trained with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_max_position_embeddings: Option<usize>,
    /// Fields this crate does not read, kept for round trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl RopeParameters {
    fn kind(&self) -> &str {
        self.rope_type
            .as_deref()
            .or(self.legacy_type.as_deref())
            .unwrap_or("default")
    }
}

/// How RoPE frequencies are rescaled for long contexts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Position interpolation: every frequency divided by `factor`.
    Linear {
        /// The divisor.
        factor: f64,
    },
    /// Llama 3.1's frequency-dependent scaling (`_compute_llama3_parameters` in transformers).
    Llama3 {
        /// Divisor of the low frequencies.
        factor: f64,
        /// See [`RopeParameters::low_freq_factor`].
        low_freq_factor: f64,
        /// See [`RopeParameters::high_freq_factor`].
        high_freq_factor: f64,
        /// See [`RopeParameters::original_max_position_embeddings`].
        original_max_position_embeddings: usize,
    },
}

/// Resolved RoPE settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rope {
    /// Base of the frequencies.
    pub theta: f64,
    /// Frequency scaling.
    pub scaling: RopeScaling,
}

/// `config.json` of a Llama, Mistral, Qwen2, Qwen3 or Gemma 3 text model (SmolLM and Llama 2/3
/// are `llama`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// `llama`, `mistral`, `qwen2`, `qwen3` or `gemma3_text`.
    pub model_type: String,
    /// e.g. `["LlamaForCausalLM"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// Vocabulary size (rows of `embed_tokens`).
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (GQA); `None` means one per query head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width; `None` means `hidden_size / num_attention_heads`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<usize>,
    /// Longest context the model was configured for.
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Epsilon of every RMSNorm.
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// transformers < 5: RoPE base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_theta: Option<f64>,
    /// transformers < 5: RoPE scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<RopeParameters>,
    /// transformers ≥ 5: RoPE base and scaling together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_parameters: Option<RopeParameters>,
    /// Llama: bias on q/k/v/o projections. Qwen2 has q/k/v bias whatever this says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention_bias: Option<bool>,
    /// Llama: bias on the MLP projections.
    #[serde(default)]
    pub mlp_bias: bool,
    /// `lm_head` shares `embed_tokens`' weight.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Must be `silu` (SwiGLU); Gemma 3 names its activation in `hidden_activation`.
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Beginning-of-sequence token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<TokenIds>,
    /// End-of-sequence token(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<TokenIds>,
    /// Padding token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_token_id: Option<TokenIds>,
    /// Mistral: keys further back than this are not attended to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<usize>,
    /// Gemma 3: `sliding_attention` or `full_attention` per layer (the sliding ones attend to
    /// the last `sliding_window` keys and use the local RoPE base).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_types: Option<Vec<String>>,
    /// Gemma 3: the MLP's activation (`gelu_pytorch_tanh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden_activation: Option<String>,
    /// Gemma 3: queries are scaled by `query_pre_attn_scalar^-1/2` instead of `head_dim^-1/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_pre_attn_scalar: Option<f64>,
    /// Gemma: logits are soft-capped to ± this when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_logit_softcapping: Option<f64>,
    /// Qwen2, Qwen3: whether `sliding_window` applies at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_sliding_window: Option<bool>,
    /// transformers ≥ 5: dtype of the saved weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<String>,
    /// transformers < 5: dtype of the saved weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torch_dtype: Option<String>,
    /// Fields this crate does not read, kept so that a saved config loses nothing.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_max_position_embeddings() -> usize {
    2048
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_hidden_act() -> String {
    "silu".to_string()
}

impl LlamaConfig {
    /// Reads and validates a `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_str(&text, path)
    }

    /// Parses and validates config JSON; `path` is only used in error messages.
    pub fn from_json_str(json: &str, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let config: Self = serde_json::from_str(json).map_err(|source| ModelError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks that this crate can build the model the config describes.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let invalid = |field: &str, reason: String| ModelError::InvalidConfig {
            path: path.to_path_buf(),
            field: field.to_string(),
            reason,
        };
        if !SUPPORTED_MODEL_TYPES.contains(&self.model_type.as_str()) {
            return Err(ModelError::UnsupportedArchitecture {
                path: path.to_path_buf(),
                model_type: self.model_type.clone(),
                architectures: self.architectures.clone(),
            });
        }
        if self.is_gemma() {
            let act = self
                .hidden_activation
                .as_deref()
                .unwrap_or("gelu_pytorch_tanh");
            if act != "gelu_pytorch_tanh" {
                return Err(invalid(
                    "hidden_activation",
                    format!("`{act}` is not supported for Gemma 3, only `gelu_pytorch_tanh`"),
                ));
            }
            if self.extra.get("use_bidirectional_attention") == Some(&serde_json::json!(true)) {
                return Err(invalid(
                    "use_bidirectional_attention",
                    "bidirectional attention (EmbeddingGemma) is not a causal language model"
                        .to_string(),
                ));
            }
            if let Some(types) = &self.layer_types {
                if types.len() != self.num_hidden_layers {
                    return Err(invalid(
                        "layer_types",
                        format!(
                            "{} entries for {} layers",
                            types.len(),
                            self.num_hidden_layers
                        ),
                    ));
                }
                if let Some(t) = types
                    .iter()
                    .find(|t| !matches!(t.as_str(), "sliding_attention" | "full_attention"))
                {
                    return Err(invalid(
                        "layer_types",
                        format!("`{t}` is not sliding_attention or full_attention"),
                    ));
                }
                if self.sliding_window.is_none() && types.iter().any(|t| t == "sliding_attention") {
                    return Err(invalid(
                        "sliding_window",
                        "missing, and layer_types has sliding_attention layers".to_string(),
                    ));
                }
            }
            self.local_rope_at(path)?;
        } else if self.hidden_act != "silu" {
            return Err(invalid(
                "hidden_act",
                format!("`{}` is not supported, only `silu`", self.hidden_act),
            ));
        }
        for (field, value) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_kv_heads()),
        ] {
            if value == 0 {
                return Err(invalid(field, "must be positive".to_string()));
            }
        }
        if self.head_dim.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(invalid(
                "hidden_size",
                format!(
                    "{} is not divisible by num_attention_heads = {}",
                    self.hidden_size, self.num_attention_heads
                ),
            ));
        }
        if !self.num_attention_heads.is_multiple_of(self.num_kv_heads()) {
            return Err(invalid(
                "num_key_value_heads",
                format!(
                    "num_attention_heads = {} is not a multiple of {}",
                    self.num_attention_heads,
                    self.num_kv_heads()
                ),
            ));
        }
        if !self.head_dim().is_multiple_of(2) || self.head_dim() == 0 {
            return Err(invalid(
                "head_dim",
                format!(
                    "RoPE needs an even, positive head_dim, got {}",
                    self.head_dim()
                ),
            ));
        }
        self.rope_at(path)?;
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Number of key/value heads.
    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Whether q/k/v projections carry a bias (Qwen2 always; Llama when `attention_bias`).
    pub fn qkv_bias(&self) -> bool {
        self.model_type == "qwen2" || self.attention_bias.unwrap_or(false)
    }

    /// Whether `o_proj` carries a bias (`attention_bias` in Llama and Qwen3; never in Qwen2 or
    /// Mistral).
    pub fn o_bias(&self) -> bool {
        matches!(self.model_type.as_str(), "llama" | "qwen3" | "gemma3_text")
            && self.attention_bias.unwrap_or(false)
    }

    /// Whether each query and key head is RMS-normalised (over `head_dim`, weights
    /// `self_attn.q_norm` / `self_attn.k_norm`) before RoPE (Qwen3, Gemma 3).
    pub fn qk_norm(&self) -> bool {
        matches!(self.model_type.as_str(), "qwen3" | "gemma3_text")
    }

    /// Whether the MLP projections carry a bias (Llama's `mlp_bias`).
    pub fn mlp_bias(&self) -> bool {
        self.model_type == "llama" && self.mlp_bias
    }

    /// Whether this is a Gemma 3 text model: embeddings scaled by √hidden, RMSNorms that
    /// multiply by `1 + weight`, norms after attention and around the MLP, a GELU-tanh MLP,
    /// per-head q/k norms, and sliding-window layers with their own RoPE base. Its config's
    /// `attn_logit_softcapping` is not applied: transformers' Gemma 3 reads it but never passes
    /// it to the attention (Gemma 2 did), and the weights were trained that way.
    pub fn is_gemma(&self) -> bool {
        self.model_type == "gemma3_text"
    }

    /// Layer `layer`'s attention window: keys further back than this are masked.
    ///
    /// Qwen2 and Qwen3 (`configuration_qwen2/3.py`): only with `use_sliding_window`, on the
    /// `sliding_attention` layers of `layer_types`, or in older configs on the layers from
    /// `max_window_layers` (default 28) on.
    pub fn layer_window(&self, layer: usize) -> Option<usize> {
        match self.model_type.as_str() {
            "mistral" => self.sliding_window,
            "gemma3_text" if self.is_sliding_layer(layer) => self.sliding_window,
            "qwen2" | "qwen3" if self.use_sliding_window == Some(true) => {
                let sliding = match &self.layer_types {
                    Some(types) => types.get(layer).is_some_and(|t| t == "sliding_attention"),
                    None => {
                        let from = self
                            .extra
                            .get("max_window_layers")
                            .and_then(serde_json::Value::as_u64)
                            .unwrap_or(28) as usize;
                        layer >= from
                    }
                };
                self.sliding_window.filter(|_| sliding)
            }
            _ => None,
        }
    }

    /// Gemma 3: whether layer `layer` is a sliding-window layer (local attention and RoPE):
    /// from `layer_types`, or in older configs every layer but each `sliding_window_pattern`th.
    pub fn is_sliding_layer(&self, layer: usize) -> bool {
        if !self.is_gemma() {
            return false;
        }
        if let Some(types) = &self.layer_types {
            return types.get(layer).is_some_and(|t| t == "sliding_attention");
        }
        let pattern = ["sliding_window_pattern", "_sliding_window_pattern"]
            .iter()
            .find_map(|k| self.extra.get(*k).and_then(serde_json::Value::as_u64))
            .unwrap_or(6) as usize;
        gemma3_is_sliding(layer, pattern)
    }

    /// Gemma 3: the RoPE of the sliding-window layers (`rope_parameters.sliding_attention`, or
    /// the older `rope_local_base_freq` without scaling); `None` for other models.
    pub fn local_rope(&self) -> Result<Option<Rope>> {
        self.local_rope_at(Path::new("config.json"))
    }

    fn local_rope_at(&self, path: &Path) -> Result<Option<Rope>> {
        if !self.is_gemma() {
            return Ok(None);
        }
        if let Some(p) = self.per_layer_type_rope("sliding_attention") {
            return resolve_rope(Some(&p), None, "rope_parameters", path).map(Some);
        }
        let theta = self
            .extra
            .get("rope_local_base_freq")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(10_000.0);
        resolve_rope(None, Some(theta), "rope_local_base_freq", path).map(Some)
    }

    /// transformers ≥ 5 Gemma 3: `rope_parameters = { full_attention: {..}, sliding_attention:
    /// {..} }`; the entry of `layer_type`.
    fn per_layer_type_rope(&self, layer_type: &str) -> Option<RopeParameters> {
        let p = self.rope_parameters.as_ref()?;
        serde_json::from_value(p.extra.get(layer_type)?.clone()).ok()
    }

    /// Queries are multiplied by this before the scores (None: `head_dim^-1/2`).
    pub fn attention_scale(&self) -> Option<f64> {
        self.query_pre_attn_scalar
            .filter(|_| self.is_gemma())
            .map(|s| s.powf(-0.5))
    }

    /// The end-of-sequence token ids (empty when the config names none).
    pub fn eos_token_ids(&self) -> Vec<u32> {
        self.eos_token_id
            .as_ref()
            .map(TokenIds::to_vec)
            .unwrap_or_default()
    }

    /// The dtype the weights were saved in, as written in the config.
    pub fn weights_dtype(&self) -> Option<&str> {
        self.dtype.as_deref().or(self.torch_dtype.as_deref())
    }

    /// Resolved RoPE settings from whichever style the config uses.
    pub fn rope(&self) -> Result<Rope> {
        self.rope_at(Path::new("config.json"))
    }

    fn rope_at(&self, path: &Path) -> Result<Rope> {
        // Gemma 3 in transformers ≥ 5: one entry per layer type; this is the full layers'.
        if let Some(p) = self.per_layer_type_rope("full_attention") {
            return resolve_rope(Some(&p), None, "rope_parameters", path);
        }
        // transformers ≥ 5 moves everything into `rope_parameters`; older configs split the
        // base (`rope_theta`) from the scaling (`rope_scaling`, null when unscaled).
        let (params, field) = match (&self.rope_parameters, &self.rope_scaling) {
            (Some(p), _) => (Some(p), "rope_parameters"),
            (None, Some(s)) => (Some(s), "rope_scaling"),
            (None, None) => (None, "rope_scaling"),
        };
        resolve_rope(params, self.rope_theta, field, path)
    }

    /// Number of parameters of the model this config describes (tied weights counted once).
    pub fn num_parameters(&self) -> usize {
        let (h, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let (q, kv) = (
            self.num_attention_heads * self.head_dim(),
            self.num_kv_heads() * self.head_dim(),
        );
        let attn = h * q
            + 2 * h * kv
            + q * h
            + if self.qkv_bias() { q + 2 * kv } else { 0 }
            + if self.o_bias() { h } else { 0 };
        let mlp = 3 * h * i + if self.mlp_bias() { 2 * i + h } else { 0 };
        let norms = if self.is_gemma() { 4 * h } else { 2 * h }
            + if self.qk_norm() {
                2 * self.head_dim()
            } else {
                0
            };
        let layer = attn + mlp + norms;
        let head = if self.tie_word_embeddings { 0 } else { v * h };
        v * h + self.num_hidden_layers * layer + h + head
    }
}

/// Gemma 3's layer pattern: every `pattern`th layer (1-based) global, the others sliding.
pub fn gemma3_is_sliding(layer: usize, pattern: usize) -> bool {
    !(layer + 1).is_multiple_of(pattern.max(1))
}

/// RoPE settings from `params` (the `rope_parameters` or `rope_scaling` entry, if any) and a
/// top-level `rope_theta`; `field` names the entry in errors.
fn resolve_rope(
    params: Option<&RopeParameters>,
    top_theta: Option<f64>,
    field: &str,
    path: &Path,
) -> Result<Rope> {
    let theta = params
        .and_then(|p| p.rope_theta)
        .or(top_theta)
        .unwrap_or(10_000.0);

    let invalid = |reason: String| ModelError::InvalidConfig {
        path: path.to_path_buf(),
        field: field.to_string(),
        reason,
    };
    if !(theta.is_finite() && theta > 1.0) {
        return Err(invalid(format!("rope_theta must be > 1, got {theta}")));
    }
    let Some(p) = params else {
        return Ok(Rope {
            theta,
            scaling: RopeScaling::None,
        });
    };
    let factor = |name: &str| {
        let f = p
            .factor
            .ok_or_else(|| invalid(format!("rope type `{name}` needs `factor`")))?;
        if f.is_finite() && f > 0.0 {
            Ok(f)
        } else {
            Err(invalid(format!("`factor` must be positive, got {f}")))
        }
    };
    let scaling = match p.kind() {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear {
            factor: factor("linear")?,
        },
        "llama3" => {
            let need = |v: Option<f64>, name: &str| {
                v.ok_or_else(|| invalid(format!("rope type `llama3` needs `{name}`")))
            };
            let low_freq_factor = need(p.low_freq_factor, "low_freq_factor")?;
            let high_freq_factor = need(p.high_freq_factor, "high_freq_factor")?;
            if high_freq_factor <= low_freq_factor {
                return Err(invalid(format!(
                    "high_freq_factor ({high_freq_factor}) must exceed low_freq_factor ({low_freq_factor})"
                )));
            }
            let original_max_position_embeddings =
                p.original_max_position_embeddings.ok_or_else(|| {
                    invalid(
                        "rope type `llama3` needs `original_max_position_embeddings`".to_string(),
                    )
                })?;
            RopeScaling::Llama3 {
                factor: factor("llama3")?,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            }
        }
        other => {
            return Err(invalid(format!(
                "rope type `{other}` is not supported (supported: default, linear, llama3)"
            )));
        }
    };
    Ok(Rope { theta, scaling })
}

impl RopeScaling {
    /// Applies the scaling to the unscaled inverse frequencies `base^(-2i/d)`.
    pub fn apply(&self, inv_freq: &mut [f64]) {
        match *self {
            RopeScaling::None => {}
            RopeScaling::Linear { factor } => inv_freq.iter_mut().for_each(|f| *f /= factor),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let old_context = original_max_position_embeddings as f64;
                let low_freq_wavelen = old_context / low_freq_factor;
                let high_freq_wavelen = old_context / high_freq_factor;
                for f in inv_freq.iter_mut() {
                    let wavelen = 2.0 * std::f64::consts::PI / *f;
                    if wavelen > low_freq_wavelen {
                        *f /= factor;
                    } else if wavelen >= high_freq_wavelen {
                        // Between the two wavelengths: interpolate between scaled and unscaled.
                        let smooth = (old_context / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        *f = (1.0 - smooth) * *f / factor + smooth * *f;
                    }
                }
            }
        }
    }
}

/// A config that did not come from a file, for error messages.
pub(crate) fn no_path() -> PathBuf {
    PathBuf::from("<config>")
}

/// SmolLM2-135M's shape (30 layers, hidden 576, 9 heads / 3 KV heads, intermediate 1536,
/// tied embeddings) with a `vocab`-token vocabulary, for the benchmarks' random-weight
/// models: 8,192 is the vocabulary of PERFORMANCE.md's reference workloads, 49,152 is
/// SmolLM2's own.
pub fn smollm2_135m_shape(vocab: usize) -> LlamaConfig {
    let json =
        SMOLLM2_135M_SHAPE.replace("\"vocab_size\": 8192", &format!("\"vocab_size\": {vocab}"));
    LlamaConfig::from_json_str(&json, "smollm2-135m-shape.json").expect("SmolLM2-135M shape")
}

/// The benchmarks' vocabulary: `TUNEBENCH_BENCH_VOCAB`, default 8,192 (PERFORMANCE.md's
/// reference shape; bench/side_by_side.sh also runs 49,152, SmolLM2's own).
pub fn bench_vocab() -> usize {
    std::env::var("TUNEBENCH_BENCH_VOCAB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8192)
}

/// `config.json` of SmolLM2-135M's shape with an 8,192-token vocabulary; see
/// [`smollm2_135m_shape`].
const SMOLLM2_135M_SHAPE: &str = r#"{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
  "num_attention_heads": 9, "num_key_value_heads": 3, "head_dim": 64,
  "vocab_size": 8192, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
  "rope_theta": 100000.0, "tie_word_embeddings": true, "hidden_act": "silu",
  "bos_token_id": 1, "eos_token_id": 2
}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_shape_with_smollm2s_vocabulary_has_its_parameter_count() {
        // SmolLM2-135M's published count (tied embeddings).
        assert_eq!(smollm2_135m_shape(49_152).num_parameters(), 134_515_008);
        assert_eq!(smollm2_135m_shape(8192).vocab_size, 8192);
    }

    const BASE: &str = r#"{
        "model_type": "llama", "vocab_size": 32, "hidden_size": 16,
        "intermediate_size": 24, "num_hidden_layers": 1, "num_attention_heads": 4,
        "num_key_value_heads": 2 ROPE
    }"#;

    fn parse(rope: &str) -> Result<LlamaConfig> {
        LlamaConfig::from_json_str(&BASE.replace("ROPE", rope), "config.json")
    }

    #[test]
    fn head_dim_defaults_to_hidden_over_heads() -> Result<()> {
        let c = parse("")?;
        assert_eq!(c.head_dim(), 4);
        assert_eq!(c.num_kv_heads(), 2);
        assert_eq!(
            c.rope()?,
            Rope {
                theta: 10_000.0,
                scaling: RopeScaling::None
            }
        );
        Ok(())
    }

    #[test]
    fn both_rope_styles_resolve_to_the_same_settings() -> Result<()> {
        let legacy = parse(
            r#", "rope_theta": 500000.0, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}"#,
        )?;
        let v5 = parse(
            r#", "rope_parameters": {"rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}"#,
        )?;
        assert_eq!(legacy.rope()?, v5.rope()?);
        assert!(matches!(
            v5.rope()?.scaling,
            RopeScaling::Llama3 { factor, .. } if factor == 8.0
        ));
        // The pre-2024 `type` key.
        let old = parse(r#", "rope_scaling": {"type": "linear", "factor": 2.0}"#)?;
        assert_eq!(old.rope()?.scaling, RopeScaling::Linear { factor: 2.0 });
        Ok(())
    }

    #[test]
    fn unknown_architecture_is_a_clear_error() {
        let json = BASE
            .replace("ROPE", r#", "architectures": ["GPT2LMHeadModel"]"#)
            .replace("\"llama\"", "\"gpt2\"");
        let err = LlamaConfig::from_json_str(&json, "m/config.json").map(|_| ());
        let msg = err.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(msg.contains("model_type `gpt2`"), "{msg}");
        assert!(msg.contains("GPT2LMHeadModel"), "{msg}");
        assert!(msg.starts_with("m/config.json"), "{msg}");
    }

    #[test]
    fn unsupported_rope_type_names_the_field() {
        let msg = parse(r#", "rope_scaling": {"rope_type": "yarn", "factor": 4.0}"#)
            .map(|_| ())
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default();
        assert!(
            msg.contains("`rope_scaling`") && msg.contains("yarn"),
            "{msg}"
        );
    }

    #[test]
    fn qwen2_implies_qkv_bias_but_not_o_bias() -> Result<()> {
        let c =
            LlamaConfig::from_json_str(&BASE.replace("ROPE", "").replace("llama", "qwen2"), "c")?;
        assert!(c.qkv_bias() && !c.o_bias());
        let l = parse(r#", "attention_bias": true"#)?;
        assert!(l.qkv_bias() && l.o_bias());
        assert!(!parse("")?.qkv_bias());
        Ok(())
    }

    #[test]
    fn eos_token_id_may_be_a_list() -> Result<()> {
        assert_eq!(
            parse(r#", "eos_token_id": [128001, 128009]"#)?.eos_token_ids(),
            vec![128001, 128009]
        );
        assert_eq!(parse(r#", "eos_token_id": 2"#)?.eos_token_ids(), vec![2]);
        Ok(())
    }

    #[test]
    fn llama3_scaling_matches_transformers() {
        // Values from transformers' `_compute_llama3_parameters` (theta 500000, dim 128,
        // factor 8, low 1, high 4, original 8192): the first frequencies stay, the last are /8,
        // and index 30 lies in the smoothed band.
        let dim = 128;
        let mut inv: Vec<f64> = (0..dim / 2)
            .map(|i| 1.0 / 500_000f64.powf(2.0 * i as f64 / dim as f64))
            .collect();
        let orig = inv.clone();
        RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        }
        .apply(&mut inv);
        assert_eq!(inv[0], orig[0]);
        assert!((inv[63] - orig[63] / 8.0).abs() < 1e-18);
        // wavelen at i = 30 is 2π·500000^(60/128) ≈ 2π·470 ≈ 2950: between 2048 and 8192.
        let wavelen = 2.0 * std::f64::consts::PI / orig[30];
        assert!(wavelen > 2048.0 && wavelen < 8192.0, "{wavelen}");
        let smooth = (8192.0 / wavelen - 1.0) / 3.0;
        let want = (1.0 - smooth) * orig[30] / 8.0 + smooth * orig[30];
        assert!((inv[30] - want).abs() < 1e-15);
        assert!(inv[30] < orig[30] && inv[30] > orig[30] / 8.0);
    }

    #[test]
    fn config_round_trips_unknown_fields() -> Result<()> {
        let c = parse(r#", "some_future_field": {"a": 1}"#)?;
        let json =
            serde_json::to_string(&c).map_err(|e| ModelError::InvalidInput(e.to_string()))?;
        assert!(json.contains("some_future_field"));
        assert_eq!(LlamaConfig::from_json_str(&json, "c")?, c);
        Ok(())
    }
}
