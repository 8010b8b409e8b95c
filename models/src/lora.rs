//! Linear layers with optional LoRA adapters, and PEFT adapter files.
//!
//! LoRA (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models") adds a
//! low-rank update to a frozen weight: `y = x·Wᵀ + b + (dropout(x)·Aᵀ·Bᵀ)·s` with `A` of
//! shape `[r, in]`, `B` of shape `[out, r]` and `s = alpha / r`, or `alpha / √r` for rsLoRA
//! (Kalajdzievski 2023). The update is computed as two thin matmuls and never materialised as
//! `W + s·B·A`: in a training graph that sum would cost a weight-sized gradient per layer.
//! [`merge_adapters`] does fold it in, for inference and export only.
//!
//! Adapters are read and written in PEFT's format (reference: `peft/tuners/lora/layer.py`,
//! `peft/utils/save_and_load.py`): `adapter_config.json` plus `adapter_model.safetensors` with
//! keys `base_model.model.<module path>.lora_A.weight` (`[r, in]`) and `.lora_B.weight`
//! (`[out, r]`).
//!
//! Storage layout: like Burn's own `Linear`, weights are held transposed relative to PyTorch
//! (`[in, out]`, so the forward is a plain `x·W`); the loaders and savers transpose at the file
//! boundary, and every tensor name and shape in files and errors is PyTorch's.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;
use burn::tensor::module::linear;
use burn::tensor::{Distribution, FloatDType};
use serde::{Deserialize, Serialize};

use crate::device::remade_on;
use crate::dtype::in_weight_dtype;
use crate::error::{ModelError, Result};
use crate::llama::Llama;
use crate::weights::{self, SafetensorsReader, TensorSource};

/// Name of PEFT's adapter config file.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// Name of PEFT's adapter weights file.
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";
/// Prefix PEFT puts before a module path in adapter keys.
const PEFT_PREFIX: &str = "base_model.model.";

/// The projections a LoRA adapter can be attached to, by their HF module names.
pub const LORA_TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// A linear layer `y = x·W + b` (`W` stored `[in, out]`) with an optional LoRA adapter.
///
/// # Shapes
///
/// - input: `[..., in]`
/// - output: `[..., out]`
#[derive(Module, Debug)]
pub struct Linear {
    /// The frozen weight, `[in, out]` (the transpose of PyTorch's `[out, in]`).
    pub weight: Param<Tensor<2>>,
    /// Optional bias, `[out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// Optional low-rank adapter.
    pub lora: Option<Lora>,
}

/// A LoRA adapter: `delta(x) = (dropout(x)·A·B)·scale`, with `A` stored `[in, r]` and `B`
/// stored `[r, out]` (PEFT's `lora_A.weight` and `lora_B.weight`, transposed).
#[derive(Module, Debug)]
pub struct Lora {
    /// Down projection, `[in, r]`.
    pub lora_a: Param<Tensor<2>>,
    /// Up projection, `[r, out]`.
    pub lora_b: Param<Tensor<2>>,
    /// `alpha / r`, or `alpha / √r` with rsLoRA.
    pub scale: f64,
    /// Dropout on the adapter's input; active only on an autodiff device.
    pub dropout: Dropout,
}

impl Linear {
    /// A layer from its weight (`[in, out]`) and optional bias; both frozen, and in the same
    /// dtype (see [`crate::dtype`]).
    pub fn new(weight: Tensor<2>, bias: Option<Tensor<1>>) -> Self {
        Self {
            weight: Param::from_tensor(weight).set_require_grad(false),
            bias: bias.map(|b| Param::from_tensor(b).set_require_grad(false)),
            lora: None,
        }
    }

    /// The layer with its frozen weight and bias stored in `dtype` (see [`crate::dtype`]).
    pub fn stored_as(self, dtype: FloatDType) -> Self {
        Self {
            weight: Param::from_tensor(self.weight.val().cast(dtype)).set_require_grad(false),
            bias: self
                .bias
                .map(|b| Param::from_tensor(b.val().cast(dtype)).set_require_grad(false)),
            lora: self.lora,
        }
    }

    /// Input width.
    pub fn d_in(&self) -> usize {
        self.weight.shape().dims::<2>()[0]
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.weight.shape().dims::<2>()[1]
    }

    /// Applies the layer.
    ///
    /// # Shapes
    ///
    /// - input: `[..., in]`
    /// - output: `[..., out]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let weight = self.weight.val();
        let base = in_weight_dtype(x.clone(), weight.dtype(), |x| {
            linear(x, weight, self.bias.as_ref().map(|b| b.val()))
        });
        match &self.lora {
            None => base,
            Some(lora) => base + lora.forward(x),
        }
    }
}

impl Lora {
    /// An adapter from `A` (`[in, r]`) and `B` (`[r, out]`).
    pub fn new(lora_a: Tensor<2>, lora_b: Tensor<2>, scale: f64, dropout: f64) -> Self {
        Self {
            lora_a: Param::from_tensor(lora_a),
            lora_b: Param::from_tensor(lora_b),
            scale,
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// Rank of the adapter.
    pub fn rank(&self) -> usize {
        self.lora_a.shape().dims::<2>()[1]
    }

    /// The low-rank update for input `x`.
    ///
    /// # Shapes
    ///
    /// - input: `[..., in]`
    /// - output: `[..., out]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let x = self.dropout.forward(x);
        let low = linear(x, self.lora_a.val(), None); // [..., r]
        linear(low, self.lora_b.val(), None).mul_scalar(self.scale)
    }
}

/// `target_modules` of an adapter config: a list of module names or one string (PEFT treats a
/// string as a regex, except `all-linear`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    /// Module names such as `q_proj`.
    List(Vec<String>),
    /// `all-linear`, or a regex (not supported).
    Pattern(String),
}

/// `layers_to_transform`: one layer index or a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Layers {
    /// One layer.
    One(usize),
    /// Several layers.
    Many(Vec<usize>),
}

/// `adapter_config.json` of a PEFT LoRA adapter. Fields this crate does not read are kept in
/// [`LoraConfig::extra`], so an adapter loaded and saved again keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Must be `LORA`.
    #[serde(default = "default_peft_type")]
    pub peft_type: String,
    /// `CAUSAL_LM` for these models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// The base model the adapter was trained on.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// Rank.
    pub r: usize,
    /// Scale numerator.
    pub lora_alpha: f64,
    /// Dropout on the adapter input during training.
    #[serde(default)]
    pub lora_dropout: f64,
    /// Modules the adapter is attached to.
    pub target_modules: TargetModules,
    /// rsLoRA: scale by `alpha / √r` instead of `alpha / r`.
    #[serde(default)]
    pub use_rslora: bool,
    /// Must be `none`.
    #[serde(default = "default_bias")]
    pub bias: String,
    /// Must be false (Conv1D-style weights, GPT-2 only).
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Must be false (DoRA is not implemented).
    #[serde(default)]
    pub use_dora: bool,
    /// Per-module ranks (not supported: must be empty).
    #[serde(default)]
    pub rank_pattern: serde_json::Map<String, serde_json::Value>,
    /// Per-module alphas (not supported: must be empty).
    #[serde(default)]
    pub alpha_pattern: serde_json::Map<String, serde_json::Value>,
    /// Modules trained in full next to the adapter (not supported: must be empty).
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    /// Layers that carry the adapter; `None` means all.
    #[serde(default)]
    pub layers_to_transform: Option<Layers>,
    /// PEFT sets this when saving; kept for compatibility.
    #[serde(default = "default_true")]
    pub inference_mode: bool,
    /// Fields this crate does not read.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_peft_type() -> String {
    "LORA".to_string()
}
fn default_bias() -> String {
    "none".to_string()
}
fn default_true() -> bool {
    true
}

impl LoraConfig {
    /// A config for a new adapter of rank `r` on `targets` (module names from [`LORA_TARGETS`]).
    pub fn new(r: usize, lora_alpha: f64, targets: &[&str]) -> Self {
        Self {
            peft_type: default_peft_type(),
            task_type: Some("CAUSAL_LM".to_string()),
            base_model_name_or_path: None,
            r,
            lora_alpha,
            lora_dropout: 0.0,
            target_modules: TargetModules::List(targets.iter().map(|t| t.to_string()).collect()),
            use_rslora: false,
            bias: default_bias(),
            fan_in_fan_out: false,
            use_dora: false,
            rank_pattern: Default::default(),
            alpha_pattern: Default::default(),
            modules_to_save: None,
            layers_to_transform: None,
            inference_mode: true,
            extra: Default::default(),
        }
    }

    /// Reads and validates `adapter_config.json` from an adapter directory.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let path = dir.as_ref().join(ADAPTER_CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: path.clone(),
            source,
        })?;
        config.validate(&path)?;
        Ok(config)
    }

    /// The factor the low-rank update is multiplied by.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// The targeted module names, resolved against [`LORA_TARGETS`].
    pub fn targets(&self) -> Result<Vec<&'static str>> {
        self.targets_at(Path::new(ADAPTER_CONFIG_FILE))
    }

    fn targets_at(&self, path: &Path) -> Result<Vec<&'static str>> {
        let invalid = |reason: String| ModelError::InvalidAdapter {
            path: path.to_path_buf(),
            reason,
        };
        match &self.target_modules {
            TargetModules::Pattern(p) if p == "all-linear" => Ok(LORA_TARGETS.to_vec()),
            TargetModules::Pattern(p) => Err(invalid(format!(
                "target_modules: regex `{p}` is not supported\nhint: list module names, e.g. [\"q_proj\", \"v_proj\"], or use \"all-linear\""
            ))),
            TargetModules::List(names) => names
                .iter()
                .map(|n| {
                    LORA_TARGETS
                        .iter()
                        .copied()
                        .find(|t| t == n)
                        .ok_or_else(|| {
                            invalid(format!(
                                "target_modules: `{n}` is not supported (supported: {})",
                                LORA_TARGETS.join(", ")
                            ))
                        })
                })
                .collect(),
        }
    }

    /// Whether layer `layer` carries the adapter.
    pub fn applies_to_layer(&self, layer: usize) -> bool {
        match &self.layers_to_transform {
            None => true,
            Some(Layers::One(l)) => *l == layer,
            Some(Layers::Many(ls)) => ls.contains(&layer),
        }
    }

    /// Checks that this crate implements what the config asks for.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let invalid = |reason: String| {
            Err(ModelError::InvalidAdapter {
                path: path.to_path_buf(),
                reason,
            })
        };
        if self.peft_type != "LORA" {
            return invalid(format!(
                "peft_type `{}` is not supported, only LORA",
                self.peft_type
            ));
        }
        if self.r == 0 {
            return invalid("r must be positive".to_string());
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return invalid(format!(
                "lora_dropout must be in [0, 1), got {}",
                self.lora_dropout
            ));
        }
        if self.bias != "none" {
            return invalid(format!(
                "bias `{}` is not supported, only `none`",
                self.bias
            ));
        }
        if self.fan_in_fan_out {
            return invalid("fan_in_fan_out = true is not supported".to_string());
        }
        if self.use_dora {
            return invalid("DoRA (use_dora = true) is not supported".to_string());
        }
        if !self.rank_pattern.is_empty() || !self.alpha_pattern.is_empty() {
            return invalid("rank_pattern / alpha_pattern are not supported".to_string());
        }
        if self.modules_to_save.as_ref().is_some_and(|m| !m.is_empty()) {
            return invalid("modules_to_save is not supported".to_string());
        }
        self.targets_at(path)?;
        Ok(())
    }
}

/// Splits a PEFT key into (module path, `A` or `B`), accepting the adapter-name infix
/// (`lora_A.default.weight`) that some tools leave in.
fn parse_peft_key(key: &str) -> Option<(&str, char)> {
    let rest = key.strip_prefix(PEFT_PREFIX)?;
    for (suffix, which) in [
        (".lora_A.weight", 'A'),
        (".lora_B.weight", 'B'),
        (".lora_A.default.weight", 'A'),
        (".lora_B.default.weight", 'B'),
    ] {
        if let Some(module) = rest.strip_suffix(suffix) {
            return Some((module, which));
        }
    }
    None
}

/// Attaches fresh adapters as PEFT initialises them: `A` Kaiming-uniform (bound `1/√in`),
/// `B` zero, so the model's output is unchanged until training moves `B`. Adapters already
/// present on targeted layers are replaced.
pub fn attach_new(mut model: Llama, config: &LoraConfig, device: &Device) -> Result<Llama> {
    config.validate(Path::new(ADAPTER_CONFIG_FILE))?;
    let targets = config.targets()?;
    let scale = config.scale();
    for (layer, name, linear) in model.linears_mut() {
        if !targets.contains(&name) || !config.applies_to_layer(layer) {
            continue;
        }
        let (d_in, d_out) = (linear.d_in(), linear.d_out());
        let bound = 1.0 / (d_in as f64).sqrt();
        let a = Tensor::random(
            [d_in, config.r],
            Distribution::Uniform(-bound, bound),
            device,
        );
        let a = remade_on(a, device);
        let b = remade_on(Tensor::zeros([config.r, d_out], device), device);
        linear.lora = Some(Lora::new(a, b, scale, config.lora_dropout));
    }
    Ok(model)
}

/// Loads a PEFT adapter directory onto `model`, replacing adapters on the layers it covers.
///
/// Every tensor of the adapter must belong to a targeted projection of the model with PEFT's
/// shapes (`A` `[r, in]`, `B` `[out, r]`), and every targeted projection must have both.
pub fn load_adapter(mut model: Llama, dir: impl AsRef<Path>) -> Result<Llama> {
    let dir = dir.as_ref();
    let config = LoraConfig::from_dir(dir)?;
    let file = dir.join(ADAPTER_WEIGHTS_FILE);
    let reader = SafetensorsReader::open_file(&file)?;
    let targets = config.targets()?;
    let scale = config.scale();
    let device = model.device();
    let invalid = |reason: String| ModelError::InvalidAdapter {
        path: file.clone(),
        reason,
    };

    // Module path -> (A key, B key), from the file's own names.
    let mut pairs: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for key in reader.names() {
        let (module, which) = parse_peft_key(key).ok_or_else(|| {
            invalid(format!(
                "tensor `{key}` is not a LoRA weight (expected `{PEFT_PREFIX}<module>.lora_A.weight` or `.lora_B.weight`)"
            ))
        })?;
        let entry = pairs.entry(module.to_string()).or_default();
        match which {
            'A' => entry.0 = Some(key.to_string()),
            _ => entry.1 = Some(key.to_string()),
        }
    }

    let mut missing = Vec::new();
    for (layer, name, linear) in model.linears_mut() {
        let path = Llama::linear_path(layer, name);
        let Some((a_key, b_key)) = pairs.remove(&path) else {
            if targets.contains(&name) && config.applies_to_layer(layer) {
                missing.push(format!("{PEFT_PREFIX}{path}.lora_A.weight"));
                missing.push(format!("{PEFT_PREFIX}{path}.lora_B.weight"));
            }
            continue;
        };
        let (Some(a_key), Some(b_key)) = (a_key, b_key) else {
            missing.push(format!(
                "{PEFT_PREFIX}{path}.lora_{{A,B}}.weight (one of the pair)"
            ));
            continue;
        };
        let (d_in, d_out, r) = (linear.d_in(), linear.d_out(), config.r);
        // PEFT layout [r, in] / [out, r], transposed on the way in to [in, r] / [r, out].
        let adapter_hint = |e: ModelError| match e {
            ModelError::ShapeMismatch {
                path,
                name,
                expected,
                found,
                ..
            } => ModelError::ShapeMismatch {
                hint: format!(
                    "check that {ADAPTER_CONFIG_FILE} (r = {r}) belongs to these adapter weights, and that the adapter was trained on this base model"
                ),
                path,
                name,
                expected,
                found,
            },
            other => other,
        };
        let a = reader
            .tensor2(&a_key, [r, d_in], true, &device)
            .map_err(adapter_hint)?;
        let b = reader
            .tensor2(&b_key, [d_out, r], true, &device)
            .map_err(adapter_hint)?;
        linear.lora = Some(Lora::new(a, b, scale, config.lora_dropout));
    }
    if let Some(path) = pairs.keys().next() {
        return Err(invalid(format!(
            "adapter has weights for `{path}`, which is not a LoRA-capable projection of this model"
        )));
    }
    if !missing.is_empty() {
        return Err(ModelError::MissingTensors {
            dir: file,
            names: missing,
        });
    }
    Ok(model)
}

/// Writes the model's adapters as a PEFT adapter directory (`adapter_config.json` and
/// `adapter_model.safetensors`, f32, PEFT key names and shapes). Files are written atomically.
pub fn save_adapter(model: &Llama, config: &LoraConfig, dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut tensors = Vec::new();
    for (layer, name, linear) in model.linears() {
        let Some(lora) = &linear.lora else { continue };
        let path = Llama::linear_path(layer, name);
        // Back to PEFT's [r, in] and [out, r].
        tensors.push((
            format!("{PEFT_PREFIX}{path}.lora_A.weight"),
            weights::tensor_to_host_transposed(lora.lora_a.val())?,
        ));
        tensors.push((
            format!("{PEFT_PREFIX}{path}.lora_B.weight"),
            weights::tensor_to_host_transposed(lora.lora_b.val())?,
        ));
    }
    if tensors.is_empty() {
        return Err(ModelError::InvalidInput(
            "the model carries no LoRA adapter to save".to_string(),
        ));
    }
    weights::write_safetensors(&dir.join(ADAPTER_WEIGHTS_FILE), tensors)?;
    let json = serde_json::to_string_pretty(config)
        .map_err(|e| ModelError::InvalidInput(format!("adapter config: {e}")))?;
    weights::write_atomic(&dir.join(ADAPTER_CONFIG_FILE), json.as_bytes())
}

/// Folds every adapter into its base weight (`W ← W + s·A·B` in storage layout) and removes
/// it, for fast inference or export of a merged model. Not for training graphs.
pub fn merge_adapters(mut model: Llama) -> Llama {
    for (_, _, linear) in model.linears_mut() {
        let Some(lora) = linear.lora.take() else {
            continue;
        };
        // [in, r]·[r, out] -> [in, out]
        let delta = lora
            .lora_a
            .val()
            .matmul(lora.lora_b.val())
            .mul_scalar(lora.scale);
        let weight = linear.weight.val();
        let dtype = weight.dtype();
        let merged = weight + delta.cast(dtype);
        linear.weight = Param::from_tensor(merged).set_require_grad(false);
    }
    model
}

/// Removes every adapter, leaving the base model.
pub fn remove_adapters(mut model: Llama) -> Llama {
    for (_, _, linear) in model.linears_mut() {
        linear.lora = None;
    }
    model
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peft_keys_parse_with_and_without_adapter_name() {
        assert_eq!(
            parse_peft_key("base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight"),
            Some(("model.layers.3.self_attn.q_proj", 'A'))
        );
        assert_eq!(
            parse_peft_key("base_model.model.model.layers.0.mlp.down_proj.lora_B.default.weight"),
            Some(("model.layers.0.mlp.down_proj", 'B'))
        );
        assert_eq!(parse_peft_key("model.layers.0.mlp.down_proj.weight"), None);
    }

    #[test]
    fn scale_is_alpha_over_r_or_over_sqrt_r() {
        let mut c = LoraConfig::new(4, 8.0, &["q_proj"]);
        assert_eq!(c.scale(), 2.0);
        c.use_rslora = true;
        assert_eq!(c.scale(), 4.0);
    }

    #[test]
    fn unsupported_adapter_settings_are_rejected() {
        let p = Path::new("a/adapter_config.json");
        let mut c = LoraConfig::new(4, 8.0, &["q_proj", "lm_head"]);
        let msg = c
            .validate(p)
            .map_err(|e| e.to_string())
            .err()
            .unwrap_or_default();
        assert!(msg.contains("`lm_head` is not supported"), "{msg}");
        c = LoraConfig::new(4, 8.0, &["q_proj"]);
        c.use_dora = true;
        assert!(c.validate(p).is_err());
        c.use_dora = false;
        c.target_modules = TargetModules::Pattern(".*attn.*".to_string());
        assert!(c.validate(p).is_err());
        c.target_modules = TargetModules::Pattern("all-linear".to_string());
        assert!(c.validate(p).is_ok());
        assert_eq!(c.targets().map(|t| t.len()).unwrap_or(0), 7);
    }

    #[test]
    fn lora_linear_equals_linear_with_merged_weight() -> Result<()> {
        let device = Device::flex();
        let w = Tensor::<2>::random([6, 5], Distribution::Default, &device);
        let a = Tensor::<2>::random([6, 2], Distribution::Default, &device);
        let b = Tensor::<2>::random([2, 5], Distribution::Default, &device);
        let x = Tensor::<3>::random([2, 3, 6], Distribution::Default, &device);
        let mut layer = Linear::new(w.clone(), None);
        layer.lora = Some(Lora::new(a.clone(), b.clone(), 1.5, 0.0));
        let y = layer.forward(x.clone());
        let merged = Linear::new(w + a.matmul(b).mul_scalar(1.5), None).forward(x);
        let diff = (y - merged).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-5, "{diff}");
        Ok(())
    }
}
