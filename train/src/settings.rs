//! `[train.local]`: what to train, on what, and how; parsed from TOML and resolved
//! (defaults applied, paths made absolute, ranges checked) before anything runs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tunebench_core::paths::under;
use tunebench_models::WeightDtype;
use tunebench_models::hub::{ModelSource, local_model};
use tunebench_models::lora::LORA_TARGETS;

use crate::error::{Result, TrainError};

/// What is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Low-rank adapters on chosen projections; the base stays frozen.
    #[default]
    Lora,
    /// Every weight (also continued pre-training on raw text).
    Full,
}

/// How the learning rate moves after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Half a cosine from the peak down to zero at the last step.
    #[default]
    Cosine,
    /// A straight line down to zero at the last step.
    Linear,
    /// The peak rate throughout.
    Constant,
}

/// `[train.local.lora]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraSettings {
    /// Rank.
    pub r: usize,
    /// Scale numerator: the update is scaled by `alpha / r` (or `alpha / √r` with rsLoRA).
    pub alpha: f64,
    /// Dropout on the adapter input while training.
    pub dropout: f64,
    /// Projections to adapt: any of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,
    /// down_proj.
    pub target_modules: Vec<String>,
    /// Scale by `alpha / √r` (Kalajdzievski 2023).
    pub rslora: bool,
    /// Decoder layers (0-based) that carry adapters; all when left out (PEFT's
    /// `layers_to_transform`). Adapting only the top layers makes a step cheaper: the
    /// backward pass stops at the lowest adapted layer.
    pub layers_to_transform: Option<Vec<usize>>,
}

impl Default for LoraSettings {
    fn default() -> Self {
        LoraSettings {
            r: 8,
            alpha: 16.0,
            dropout: 0.05,
            target_modules: vec!["q_proj".into(), "v_proj".into()],
            rslora: false,
            layers_to_transform: None,
        }
    }
}

/// `[train.local]` as written; see `configs/banking77.toml` for an annotated example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalTrainSettings {
    /// Name of this training run; outputs go to `<out_dir>`.
    pub name: String,
    /// Hugging Face model directory to start from (config.json, safetensors, tokenizer.json),
    /// or a `.gguf` file (llama architecture; de-quantised to f32 at load).
    pub base_model: Option<PathBuf>,
    /// Full training from scratch: a config.json to initialise a model from (weights drawn
    /// as transformers initialises them); `tokenizer` must then name a tokenizer directory.
    pub init_config: Option<PathBuf>,
    /// Directory with tokenizer.json (default: `base_model`).
    pub tokenizer: Option<PathBuf>,
    /// Prepared training data (JSONL from `tunebench data prepare`).
    pub train_file: PathBuf,
    /// Prepared validation data; no validation loss or early stopping without it.
    pub validation_file: Option<PathBuf>,
    /// Where adapter, metrics, checkpoints and summary go.
    pub out_dir: PathBuf,
    /// `lora` or `full`.
    pub method: Method,
    /// LoRA settings (method = "lora").
    pub lora: LoraSettings,
    /// Also learn to predict prompt / user tokens (default: only completion and assistant
    /// tokens count in the loss).
    pub train_on_inputs: bool,
    /// Longest sequence in tokens; longer examples are cut at this length (counted).
    /// Default: the model's context (`max_position_embeddings`), at most 512. A value longer
    /// than the context is refused: positions past it were never trained.
    pub max_seq_len: Option<usize>,
    /// Sequences per micro-batch (or packed rows of `max_seq_len` tokens with `packing`).
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Pack several examples into each row (attention stays within each example).
    pub packing: bool,
    /// Passes over the training data (ignored when `max_steps` is set).
    pub epochs: usize,
    /// Stop after this many optimizer steps.
    pub max_steps: Option<usize>,
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW β₁ and β₂.
    pub betas: (f64, f64),
    /// AdamW ε.
    pub eps: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Steps of linear warmup from 0 to `lr`.
    pub warmup_steps: usize,
    /// Decay after warmup.
    pub schedule: Schedule,
    /// Clip the global gradient norm to this (0 = no clipping).
    pub max_grad_norm: f64,
    /// Seed of the data order, adapter initialisation and dropout.
    pub seed: u64,
    /// Validation loss every this many steps (0 = only at the end).
    pub eval_every: usize,
    /// Stop after this many validations without improvement (0 = never stop early).
    pub patience: usize,
    /// Checkpoint every this many steps (0 = only on exit).
    pub checkpoint_every: usize,
    /// Also write the base model with the adapter folded in (`merged/`).
    pub merge: bool,
    /// `cpu`, `wgpu[:N]`, `wgpu:cpu` (feature `wgpu`), `cuda[:N]` (feature `cuda`), `tch-cpu`, `tch-cuda[:N]` (feature `tch`).
    pub device: String,
    /// Gradient checkpointing: keep each decoder layer's input instead of its activations,
    /// and run the layer again in the backward pass (see [`crate::loss::loss_and_gradients`]).
    /// One layer's autodiff graph in memory instead of the whole stack's, for the same loss
    /// and gradients, at the cost of a second forward pass of the layers that train.
    pub gradient_checkpointing: bool,
    /// The dtype the base model's frozen weights are stored and multiplied in: `f32`, or
    /// `bf16` / `f16` for half their memory (LoRA only: the adapters, their optimizer state
    /// and the loss stay f32; see `tunebench_models::dtype`).
    pub dtype: WeightDtype,
    /// Extra variables for the chat template that renders chat examples
    /// (`{ enable_thinking = false }` for Qwen3), as on a local eval candidate: train and
    /// evaluate with the same.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub chat_template_kwargs: serde_json::Map<String, serde_json::Value>,
}

impl Default for LocalTrainSettings {
    fn default() -> Self {
        LocalTrainSettings {
            name: "local".into(),
            base_model: None,
            init_config: None,
            tokenizer: None,
            train_file: PathBuf::new(),
            validation_file: None,
            out_dir: PathBuf::new(),
            method: Method::Lora,
            lora: LoraSettings::default(),
            train_on_inputs: false,
            max_seq_len: None,
            batch_size: 8,
            grad_accum: 1,
            packing: false,
            epochs: 1,
            max_steps: None,
            lr: 2e-4,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.01,
            warmup_steps: 0,
            schedule: Schedule::Cosine,
            max_grad_norm: 1.0,
            seed: 42,
            eval_every: 0,
            patience: 0,
            checkpoint_every: 0,
            merge: false,
            gradient_checkpointing: false,
            dtype: WeightDtype::F32,
            device: "cpu".into(),
            chat_template_kwargs: serde_json::Map::new(),
        }
    }
}

/// `max_seq_len` when the config leaves it out: the model's context, at most this.
pub const DEFAULT_MAX_SEQ_LEN: usize = 512;

impl LocalTrainSettings {
    /// The longest sequence for a model whose context is `context` tokens: `max_seq_len`
    /// when set, else [`DEFAULT_MAX_SEQ_LEN`] or the context, whichever is shorter.
    pub fn seq_len(&self, context: usize) -> usize {
        self.max_seq_len
            .unwrap_or_else(|| DEFAULT_MAX_SEQ_LEN.min(context))
    }

    /// Makes paths absolute against `base` (the config file's folder) and checks every
    /// setting, listing all problems at once.
    pub fn resolve(mut self, base: &Path) -> Result<Self> {
        let abs = |p: &Path| under(base, p);
        // A model is a folder or a Hugging Face id (`hf:ORG/NAME@REV`), fetched when training
        // starts (see [`LocalTrainSettings::materialize`]).
        let model = |p: &Path| ModelSource::parse(base, p).to_setting();
        self.base_model = self.base_model.as_deref().map(model);
        self.init_config = self.init_config.as_deref().map(abs);
        self.tokenizer = self.tokenizer.as_deref().map(model);
        self.train_file = abs(&self.train_file);
        self.validation_file = self.validation_file.as_deref().map(abs);
        self.out_dir = abs(&self.out_dir);

        let mut problems = Vec::new();
        let mut need = |ok: bool, msg: &str| {
            if !ok {
                problems.push(msg.to_string());
            }
        };
        need(
            self.base_model.is_some() != self.init_config.is_some(),
            "set exactly one of base_model (fine-tune) and init_config (train from scratch)",
        );
        need(
            self.init_config.is_none() || self.method == Method::Full,
            "init_config needs method = \"full\" (a fresh model has nothing to adapt)",
        );
        need(
            self.dtype == WeightDtype::F32 || self.method == Method::Lora,
            "dtype = \"bf16\" or \"f16\" stores the frozen base weights at half precision, so it needs method = \"lora\" (full fine-tuning trains every weight, in f32)",
        );
        need(
            self.init_config.is_none() || self.tokenizer.is_some(),
            "init_config needs tokenizer = \"<dir with tokenizer.json>\"",
        );
        need(
            !self.train_file.as_os_str().is_empty() && self.train_file != base,
            "train_file is required (the train.jsonl written by `tunebench data prepare`)",
        );
        need(
            !self.out_dir.as_os_str().is_empty() && self.out_dir != base,
            "out_dir is required",
        );
        let inputs: Vec<(&str, &Path)> = [
            ("base_model", self.base_model.as_deref()),
            ("init_config", self.init_config.as_deref()),
            ("tokenizer", self.tokenizer.as_deref()),
            ("train_file", Some(self.train_file.as_path())),
            ("validation_file", self.validation_file.as_deref()),
        ]
        .into_iter()
        .filter_map(|(role, path)| Some((role, path?)))
        .filter(|(_, path)| !path.as_os_str().is_empty())
        .collect();
        if let Err(overlap) = tunebench_core::refuse_overlap(("out_dir", &self.out_dir), &inputs) {
            problems.push(overlap.to_string());
        }
        let mut need = |ok: bool, msg: &str| {
            if !ok {
                problems.push(msg.to_string());
            }
        };
        need(!self.name.is_empty(), "name must not be empty");
        need(
            self.max_seq_len.is_none_or(|n| n >= 2),
            "max_seq_len must be at least 2",
        );
        need(self.batch_size >= 1, "batch_size must be at least 1");
        need(self.grad_accum >= 1, "grad_accum must be at least 1");
        need(
            self.epochs >= 1 || self.max_steps.is_some(),
            "epochs must be at least 1 (or set max_steps)",
        );
        need(self.max_steps != Some(0), "max_steps must be at least 1");
        need(self.lr > 0.0 && self.lr.is_finite(), "lr must be positive");
        let (b1, b2) = self.betas;
        need(
            (0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2),
            "betas must each be in [0, 1)",
        );
        need(self.eps > 0.0, "eps must be positive");
        need(self.weight_decay >= 0.0, "weight_decay must be ≥ 0");
        need(
            self.max_grad_norm >= 0.0,
            "max_grad_norm must be ≥ 0 (0 = off)",
        );
        need(
            self.patience == 0 || self.validation_file.is_some(),
            "patience needs validation_file",
        );
        if self.method == Method::Lora {
            let l = &self.lora;
            need(l.r >= 1, "lora.r must be at least 1");
            need(l.alpha > 0.0, "lora.alpha must be positive");
            need(
                (0.0..1.0).contains(&l.dropout),
                "lora.dropout must be in [0, 1)",
            );
            need(
                !l.target_modules.is_empty(),
                "lora.target_modules must name at least one projection",
            );
            for t in &l.target_modules {
                need(
                    LORA_TARGETS.contains(&t.as_str()),
                    &format!(
                        "lora.target_modules: unknown projection `{t}` (one of {})",
                        LORA_TARGETS.join(", ")
                    ),
                );
            }
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(TrainError::Config(format!(
                "[train.local] has {} problem(s):\n  - {}",
                problems.len(),
                problems.join("\n  - ")
            )))
        }
    }

    /// These settings with `base_model` and `tokenizer` as local folders: a Hugging Face id
    /// is fetched into the HF cache (or found there) and replaced by its snapshot folder.
    ///
    /// # Errors
    /// [`TrainError::Model`] when the hub cannot give a model.
    pub fn materialize(&self) -> Result<Self> {
        let local = |p: &Option<PathBuf>| p.as_deref().map(local_model).transpose();
        Ok(LocalTrainSettings {
            base_model: local(&self.base_model)?,
            tokenizer: local(&self.tokenizer)?,
            ..self.clone()
        })
    }

    /// The directory holding `tokenizer.json`.
    pub fn tokenizer_dir(&self) -> Option<&Path> {
        self.tokenizer.as_deref().or(self.base_model.as_deref())
    }

    /// The tokenizer of [`Self::tokenizer_dir`], its chat template given
    /// `chat_template_kwargs`.
    pub fn load_tokenizer(&self) -> Result<tunebench_models::TextTokenizer> {
        let dir = self
            .tokenizer_dir()
            .ok_or_else(|| TrainError::Config("no tokenizer directory".into()))?;
        let mut tokenizer = tunebench_models::TextTokenizer::load(dir)?;
        tokenizer.set_chat_template_kwargs(self.chat_template_kwargs.clone());
        Ok(tokenizer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_template_kwargs_reach_the_training_tokenizer() {
        let settings: LocalTrainSettings = toml::from_str(concat!(
            "tokenizer = \"",
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/tiny-llama/model\"\n",
            "chat_template_kwargs = { enable_thinking = false }"
        ))
        .unwrap();
        let mut tokenizer = settings.load_tokenizer().unwrap();
        tokenizer.set_chat_template(
            "{% for m in messages %}{{ m.content }}{% endfor %}{% if enable_thinking is defined and enable_thinking is false %}<no-think>{% endif %}",
        );
        let messages = [tunebench_models::ChatMessage {
            role: "user".into(),
            content: "hi".into(),
        }];
        let text = tokenizer.apply_chat_template(&messages, false).unwrap();
        assert_eq!(text, "hi<no-think>");
    }

    fn parse(text: &str) -> std::result::Result<LocalTrainSettings, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn defaults_follow_pytorch_adamw() {
        let s = LocalTrainSettings::default();
        assert_eq!((s.betas, s.eps, s.weight_decay), ((0.9, 0.999), 1e-8, 0.01));
        assert!(!s.train_on_inputs);
    }

    #[test]
    fn out_dir_over_an_input_is_refused() {
        for (out_dir, says) in [
            ("models/base", "out_dir `/base/models/base` is base_model"),
            ("models/base/tuned", "lies inside base_model"),
            ("data", "holds train_file"),
        ] {
            // `./`: a folder, though it does not exist (`models/base` alone would be a
            // Hugging Face id).
            let s = parse(&format!(
                r#"
                base_model = "./models/base"
                train_file = "data/train.jsonl"
                out_dir = "{out_dir}"
                "#
            ))
            .unwrap_or_default();
            let err = s.resolve(Path::new("/base")).unwrap_err().to_string();
            assert!(err.contains(says), "{out_dir}: {err}");
        }
        let s = parse(
            r#"
            base_model = "./models/base"
            train_file = "data/train.jsonl"
            out_dir = "runs/tuned"
            "#,
        )
        .unwrap_or_default();
        assert!(s.resolve(Path::new("/base")).is_ok());
    }

    #[test]
    fn resolve_lists_every_problem() {
        let s = parse(
            r#"
            train_file = "t.jsonl"
            out_dir = "out"
            lr = -1.0
            patience = 2
            [lora]
            r = 0
            target_modules = ["qkv"]
            "#,
        )
        .unwrap();
        let err = s.resolve(Path::new("/base")).unwrap_err().to_string();
        for expected in [
            "exactly one of base_model",
            "lr must be positive",
            "patience needs validation_file",
            "lora.r must be at least 1",
            "unknown projection `qkv`",
        ] {
            assert!(err.contains(expected), "{expected} missing from:\n{err}");
        }
    }

    #[test]
    fn half_precision_weights_are_for_lora_and_a_typo_names_the_choices() {
        let s = parse(
            "base_model = \"m\"\ntrain_file = \"t.jsonl\"\nout_dir = \"out\"\nmethod = \"full\"\ndtype = \"bf16\"\n",
        )
        .unwrap();
        assert_eq!(s.dtype, WeightDtype::Bf16);
        let err = s.resolve(Path::new("/base")).unwrap_err().to_string();
        assert!(err.contains("dtype = \"bf16\" or \"f16\""), "{err}");
        let err = parse("dtype = \"fp16\"\n").unwrap_err().to_string();
        assert!(
            err.contains("expected one of `f32`, `bf16`, `f16`"),
            "{err}"
        );
    }

    #[test]
    fn resolve_makes_paths_absolute() {
        let s = parse(
            r#"
            base_model = "./models/m"
            train_file = "data/train.jsonl"
            out_dir = "/abs/out"
            "#,
        )
        .unwrap()
        .resolve(Path::new("/cfg"))
        .unwrap();
        assert_eq!(s.base_model.as_deref(), Some(Path::new("/cfg/models/m")));
        assert_eq!(s.train_file, Path::new("/cfg/data/train.jsonl"));
        assert_eq!(s.out_dir, Path::new("/abs/out"));
        assert_eq!(s.tokenizer_dir(), Some(Path::new("/cfg/models/m")));
        // ORG/NAME naming no folder is a Hugging Face id, fetched when training starts.
        let hub = parse(
            "base_model = \"HuggingFaceTB/SmolLM2-135M\"\ntrain_file = \"t.jsonl\"\nout_dir = \"o\"",
        )
        .unwrap()
        .resolve(Path::new("/cfg"))
        .unwrap();
        assert_eq!(
            hub.base_model.as_deref(),
            Some(Path::new("hf:HuggingFaceTB/SmolLM2-135M@main"))
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(parse("learning_rate = 1e-4").is_err());
    }
}
