//! The decoder of every family tunebench runs (Llama 2/3/3.1/3.2, SmolLM, Mistral, Qwen2/2.5,
//! Qwen3, Gemma 3 text), one implementation with per-family switches read from the config.
//!
//! Reference: Hugging Face transformers `models/llama/modeling_llama.py` (and the Mistral,
//! Qwen2 and Qwen3 files, which differ in q/k/v biases, sliding windows and Qwen3's per-head
//! q/k norms; and `models/gemma3/modeling_gemma3.py`, see [`LlamaConfig::is_gemma`]). One
//! file, rather than one per family, because generation, LoRA, merging, saving and training
//! all work on this one type. The Llama model is a stack of pre-norm decoder layers:
//!
//! ```text
//! h = x + o_proj(attention(rope(q_proj(rms(x))), rope(k_proj(rms(x))), v_proj(rms(x))))
//! y = h + down_proj(silu(gate_proj(rms(h))) * up_proj(rms(h)))
//! ```
//!
//! with grouped-query attention (`num_key_value_heads` ≤ `num_attention_heads`), HF's
//! rotate-half RoPE (the two halves of each head are the real and imaginary parts, not
//! interleaved pairs as in Meta's checkpoints), and `lm_head` optionally tied to the
//! embedding. Parameter paths are HF's (`model.layers.N.self_attn.q_proj`, ...), so weight
//! files and PEFT adapter keys map one to one; see [`crate::weights`] and [`crate::lora`].

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::silu;
use burn::tensor::module::{attention, embedding, linear};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{DType, Distribution};

use crate::config::LlamaConfig;
use crate::device::remade_on;
use crate::dtype::{WeightDtype, in_weight_dtype};
use crate::error::{ModelError, Result};
use crate::lora::Linear;
use crate::weights::TensorSource;

/// Root-mean-square layer norm: `x / sqrt(mean(x²) + eps) · weight` over the last axis.
///
/// # Shapes
///
/// - input: `[..., hidden]`
/// - output: `[..., hidden]`
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// Per-channel gain, `[hidden]`.
    pub weight: Param<Tensor<1>>,
    /// Added to the mean square.
    pub eps: f64,
    /// Added to the weight: 0, or 1 for Gemma (`x / rms · (1 + weight)`).
    #[module(skip)]
    pub offset: f64,
}

impl RmsNorm {
    /// Applies the norm.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let rms = (x.clone().square().mean_dim(D - 1) + self.eps).sqrt(); // [..., 1]
        let gain = match self.offset {
            0.0 => self.weight.val(),
            o => self.weight.val() + o,
        };
        (x / rms) * gain.unsqueeze()
    }
}

/// Token embedding table.
#[derive(Module, Debug)]
pub struct Embedding {
    /// `[vocab, hidden]`.
    pub weight: Param<Tensor<2>>,
}

/// Multi-head self-attention with grouped key/value heads and RoPE.
#[derive(Module, Debug)]
pub struct Attention {
    /// `[hidden] -> [heads · head_dim]`.
    pub q_proj: Linear,
    /// `[hidden] -> [kv_heads · head_dim]`.
    pub k_proj: Linear,
    /// `[hidden] -> [kv_heads · head_dim]`.
    pub v_proj: Linear,
    /// `[heads · head_dim] -> [hidden]`.
    pub o_proj: Linear,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
    /// Qwen3, Gemma 3: RMSNorm of each query head over `head_dim`, before RoPE.
    pub q_norm: Option<RmsNorm>,
    /// Qwen3, Gemma 3: RMSNorm of each key head over `head_dim`, before RoPE.
    pub k_norm: Option<RmsNorm>,
    /// Factor of the scores (None: `head_dim^-1/2`; Gemma: `query_pre_attn_scalar^-1/2`).
    #[module(skip)]
    pub scale: Option<f64>,
}

/// SwiGLU feed-forward block: `down(silu(gate(x)) · up(x))`.
#[derive(Module, Debug)]
pub struct Mlp {
    /// `[hidden] -> [intermediate]`.
    pub gate_proj: Linear,
    /// `[hidden] -> [intermediate]`.
    pub up_proj: Linear,
    /// `[intermediate] -> [hidden]`.
    pub down_proj: Linear,
    /// Gemma: GELU (tanh approximation) instead of SiLU on the gate.
    #[module(skip)]
    pub gelu_tanh: bool,
}

/// One pre-norm decoder layer.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Attention block.
    pub self_attn: Attention,
    /// Feed-forward block.
    pub mlp: Mlp,
    /// Norm before attention.
    pub input_layernorm: RmsNorm,
    /// Norm before the MLP (Llama, Qwen, Mistral); Gemma: norm of the attention's output.
    pub post_attention_layernorm: RmsNorm,
    /// Gemma: norm before the MLP.
    pub pre_feedforward_layernorm: Option<RmsNorm>,
    /// Gemma: norm of the MLP's output.
    pub post_feedforward_layernorm: Option<RmsNorm>,
    /// Keys further back than this are masked (Mistral; Qwen's and Gemma's sliding layers).
    #[module(skip)]
    pub window: Option<usize>,
    /// Gemma's sliding layers: RoPE with the local base.
    #[module(skip)]
    pub local_rope: bool,
}

/// The decoder stack without the output head (HF's `LlamaModel`, the `model.` prefix).
#[derive(Module, Debug)]
pub struct LlamaModel {
    /// Token embeddings.
    pub embed_tokens: Embedding,
    /// Decoder layers.
    pub layers: Vec<DecoderLayer>,
    /// Final norm.
    pub norm: RmsNorm,
}

/// A causal language model (HF's `LlamaForCausalLM` and its Mistral/Qwen2 siblings).
///
/// # Shapes
///
/// - input ids: `[batch, seq]`
/// - logits: `[batch, seq, vocab]` ([`Logits::All`]) or `[batch, 1, vocab]` ([`Logits::Last`])
#[derive(Module, Debug)]
pub struct Llama {
    /// The decoder stack.
    pub model: LlamaModel,
    /// Output projection `[hidden] -> [vocab]`; `None` when tied to the embedding.
    pub lm_head: Option<Linear>,
    /// The config the model was built from.
    #[module(skip)]
    pub config: LlamaConfig,
    /// RoPE inverse frequencies, `[head_dim / 2]`, scaling applied.
    #[module(skip)]
    inv_freq: Vec<f32>,
    /// Gemma's sliding layers: inverse frequencies of the local RoPE base.
    #[module(skip)]
    inv_freq_local: Option<Vec<f32>>,
}

/// Which positions to compute logits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Every position: `[batch, seq, vocab]`.
    All,
    /// Only the last position of each row: `[batch, 1, vocab]` (generation; with padding on
    /// the left, the last position is always a real token).
    Last,
}

/// Keys and values of the positions already processed, for incremental decoding.
///
/// One cache belongs to one batch of sequences; rows advance together.
#[derive(Debug, Clone)]
pub struct KvCache {
    /// Per layer: keys and values, each `[batch, kv_heads, cached, head_dim]`.
    layers: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    /// Per row: whether each cached position is a real token (false for padding).
    key_valid: Vec<Vec<bool>>,
    /// Per row: number of real tokens seen, which is the next RoPE position.
    seen: Vec<usize>,
}

impl KvCache {
    /// An empty cache for `batch` rows of a model with `num_layers` layers.
    pub fn new(num_layers: usize, batch: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
            key_valid: vec![Vec::new(); batch],
            seen: vec![0; batch],
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.key_valid.first().map_or(0, Vec::len)
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of rows.
    pub fn batch(&self) -> usize {
        self.key_valid.len()
    }

    /// A cache of `rows` copies of this one-row cache: a prompt computed once and then
    /// continued several ways in one batch (multiple-choice scoring).
    pub fn repeat_row(&self, rows: usize) -> Result<KvCache> {
        if self.batch() != 1 {
            return Err(ModelError::InvalidInput(format!(
                "repeat_row needs a one-row cache, this one has {} rows",
                self.batch()
            )));
        }
        Ok(KvCache {
            layers: self
                .layers
                .iter()
                .map(|l| {
                    l.as_ref().map(|(k, v)| {
                        (k.clone().repeat_dim(0, rows), v.clone().repeat_dim(0, rows))
                    })
                })
                .collect(),
            key_valid: vec![self.key_valid[0].clone(); rows],
            seen: vec![self.seen[0]; rows],
        })
    }
}

/// How attention is masked in one forward pass: `None` is plain causal masking aligned
/// bottom-right (a query sees every cached key); `Some` is an explicit mask, `true` = hidden,
/// `[batch, 1, seq, cached + seq]`.
type Mask = Option<Tensor<4, Bool>>;

/// The masks of one forward pass (see [`Llama::masks`]).
struct Masks {
    /// For layers without a window: padding and packing only.
    full: Mask,
    /// For layers with the config's window.
    windowed: Mask,
}

/// What the decoder layers of one forward pass share: the RoPE tables of its positions and
/// its attention masks. [`Llama::segment_pass`] makes one for running the stack a layer at a
/// time ([`Llama::decoder_layer`]), as training with recomputation does.
pub struct Pass {
    /// RoPE cosines and sines of the global base, `[batch, 1, seq, head_dim]` each.
    global: (Tensor<4>, Tensor<4>),
    /// Gemma's sliding layers: those of the local base.
    local: Option<(Tensor<4>, Tensor<4>)>,
    /// The attention masks.
    masks: Masks,
}

impl Llama {
    /// A model with random weights as HF initialises them (normal, std 0.02; norms one), for
    /// tests and benchmarks.
    pub fn random(config: &LlamaConfig, device: &Device) -> Result<Self> {
        Self::random_as(config, device, WeightDtype::F32)
    }

    /// [`Llama::random`] with the frozen weights stored in `dtype` (see [`crate::dtype`]).
    pub fn random_as(config: &LlamaConfig, device: &Device, dtype: WeightDtype) -> Result<Self> {
        config.validate(&crate::config::no_path())?;
        let dist = Distribution::Normal(0.0, 0.02);
        let normal = |shape: [usize; 2]| remade_on(Tensor::random(shape, dist, device), device);
        let small = |n: usize| remade_on(Tensor::random([n], dist, device), device);
        let lin = |d_in: usize, d_out: usize, bias: bool| {
            Linear::new(normal([d_in, d_out]), bias.then(|| small(d_out)))
        };
        Self::build(
            config,
            (device, dtype),
            |_, d_in, d_out, bias| Ok(lin(d_in, d_out, bias)),
            |_, n| Ok(remade_on(Tensor::ones([n], device), device)),
            |_| Ok(normal([config.vocab_size, config.hidden_size])),
        )
    }

    /// Builds the model from the tensors of an HF checkpoint or a GGUF file (names and shapes
    /// as in PyTorch; linear weights are transposed into storage layout).
    ///
    /// The projections (with their biases) and the embedding table are stored in `dtype`,
    /// each converted as it is read; the norms stay f32 (see [`crate::dtype`]).
    pub fn from_tensors(
        config: &LlamaConfig,
        reader: &impl TensorSource,
        device: &Device,
        dtype: WeightDtype,
    ) -> Result<Self> {
        Self::build(
            config,
            (device, dtype),
            |name, d_in, d_out, bias| {
                let weight =
                    reader.tensor2(&format!("{name}.weight"), [d_out, d_in], true, device)?;
                let bias = match bias {
                    true => Some(reader.tensor1(&format!("{name}.bias"), d_out, device)?),
                    false => None,
                };
                Ok(Linear::new(weight, bias))
            },
            |name, n| reader.tensor1(&format!("{name}.weight"), n, device),
            |name| {
                reader.tensor2(
                    &format!("{name}.weight"),
                    [config.vocab_size, config.hidden_size],
                    false,
                    device,
                )
            },
        )
    }

    /// Assembles the module tree; the closures supply each parameter by its HF module path.
    /// The projections and the embedding table are stored in `dtype` as each arrives, so the
    /// model is never held in two dtypes at once; the norms stay f32. A device that cannot
    /// store and multiply `dtype` is an error before anything is read.
    fn build(
        config: &LlamaConfig,
        (device, dtype): (&Device, WeightDtype),
        linear: impl Fn(&str, usize, usize, bool) -> Result<Linear>,
        norm: impl Fn(&str, usize) -> Result<Tensor<1>>,
        embed: impl Fn(&str) -> Result<Tensor<2>>,
    ) -> Result<Self> {
        let dtype = dtype.on(device)?;
        let linear = |name: &str, d_in: usize, d_out: usize, bias: bool| -> Result<Linear> {
            Ok(linear(name, d_in, d_out, bias)?.stored_as(dtype))
        };
        let embed = |name: &str| -> Result<Tensor<2>> { Ok(embed(name)?.cast(dtype)) };
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let (q, kv) = (
            config.num_attention_heads * config.head_dim(),
            config.num_kv_heads() * config.head_dim(),
        );
        let offset = if config.is_gemma() { 1.0 } else { 0.0 };
        let rms_of = |name: &str, width: usize| -> Result<RmsNorm> {
            Ok(RmsNorm {
                weight: Param::from_tensor(norm(name, width)?).set_require_grad(false),
                eps: config.rms_norm_eps,
                offset,
            })
        };
        let gemma_norm = |name: String| -> Result<Option<RmsNorm>> {
            config.is_gemma().then(|| rms_of(&name, h)).transpose()
        };
        let rms = |name: &str| rms_of(name, h);
        let head_norm = |name: String| -> Result<Option<RmsNorm>> {
            config
                .qk_norm()
                .then(|| rms_of(&name, config.head_dim()))
                .transpose()
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("model.layers.{l}");
            let (qkv_bias, o_bias, mlp_bias) =
                (config.qkv_bias(), config.o_bias(), config.mlp_bias());
            layers.push(DecoderLayer {
                self_attn: Attention {
                    q_proj: linear(&format!("{p}.self_attn.q_proj"), h, q, qkv_bias)?,
                    k_proj: linear(&format!("{p}.self_attn.k_proj"), h, kv, qkv_bias)?,
                    v_proj: linear(&format!("{p}.self_attn.v_proj"), h, kv, qkv_bias)?,
                    o_proj: linear(&format!("{p}.self_attn.o_proj"), q, h, o_bias)?,
                    num_heads: config.num_attention_heads,
                    num_kv_heads: config.num_kv_heads(),
                    head_dim: config.head_dim(),
                    q_norm: head_norm(format!("{p}.self_attn.q_norm"))?,
                    k_norm: head_norm(format!("{p}.self_attn.k_norm"))?,
                    scale: config.attention_scale(),
                },
                mlp: Mlp {
                    gate_proj: linear(&format!("{p}.mlp.gate_proj"), h, i, mlp_bias)?,
                    up_proj: linear(&format!("{p}.mlp.up_proj"), h, i, mlp_bias)?,
                    down_proj: linear(&format!("{p}.mlp.down_proj"), i, h, mlp_bias)?,
                    gelu_tanh: config.is_gemma(),
                },
                input_layernorm: rms(&format!("{p}.input_layernorm"))?,
                post_attention_layernorm: rms(&format!("{p}.post_attention_layernorm"))?,
                pre_feedforward_layernorm: gemma_norm(format!("{p}.pre_feedforward_layernorm"))?,
                post_feedforward_layernorm: gemma_norm(format!("{p}.post_feedforward_layernorm"))?,
                window: config.layer_window(l),
                local_rope: config.is_sliding_layer(l),
            });
        }
        let model = LlamaModel {
            embed_tokens: Embedding {
                weight: Param::from_tensor(embed("model.embed_tokens")?).set_require_grad(false),
            },
            layers,
            norm: rms("model.norm")?,
        };
        let lm_head = match config.tie_word_embeddings {
            true => None,
            false => Some(linear("lm_head", h, config.vocab_size, false)?),
        };
        Ok(Self {
            model,
            lm_head,
            config: config.clone(),
            inv_freq: inverse_frequencies(config.head_dim(), config.rope()?),
            inv_freq_local: config
                .local_rope()?
                .map(|r| inverse_frequencies(config.head_dim(), r)),
        })
    }

    /// The HF names and PyTorch shapes of every tensor the checkpoint must hold.
    pub fn tensor_shapes(config: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
        let (h, i, v) = (
            config.hidden_size,
            config.intermediate_size,
            config.vocab_size,
        );
        let (q, kv) = (
            config.num_attention_heads * config.head_dim(),
            config.num_kv_heads() * config.head_dim(),
        );
        let mut out = vec![("model.embed_tokens.weight".to_string(), vec![v, h])];
        for l in 0..config.num_hidden_layers {
            let p = format!("model.layers.{l}");
            for (name, d_out, d_in, bias) in [
                ("self_attn.q_proj", q, h, config.qkv_bias()),
                ("self_attn.k_proj", kv, h, config.qkv_bias()),
                ("self_attn.v_proj", kv, h, config.qkv_bias()),
                ("self_attn.o_proj", h, q, config.o_bias()),
                ("mlp.gate_proj", i, h, config.mlp_bias()),
                ("mlp.up_proj", i, h, config.mlp_bias()),
                ("mlp.down_proj", h, i, config.mlp_bias()),
            ] {
                out.push((format!("{p}.{name}.weight"), vec![d_out, d_in]));
                if bias {
                    out.push((format!("{p}.{name}.bias"), vec![d_out]));
                }
            }
            if config.qk_norm() {
                for name in ["q_norm", "k_norm"] {
                    out.push((
                        format!("{p}.self_attn.{name}.weight"),
                        vec![config.head_dim()],
                    ));
                }
            }
            out.push((format!("{p}.input_layernorm.weight"), vec![h]));
            out.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
            if config.is_gemma() {
                for name in ["pre_feedforward_layernorm", "post_feedforward_layernorm"] {
                    out.push((format!("{p}.{name}.weight"), vec![h]));
                }
            }
        }
        out.push(("model.norm.weight".to_string(), vec![h]));
        if !config.tie_word_embeddings {
            out.push(("lm_head.weight".to_string(), vec![v, h]));
        }
        out
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.model.embed_tokens.weight.device()
    }

    /// An empty KV cache for `batch` rows.
    pub fn new_cache(&self, batch: usize) -> KvCache {
        KvCache::new(self.model.layers.len(), batch)
    }

    /// HF module path of a LoRA-capable projection, e.g. `model.layers.3.self_attn.q_proj`.
    pub fn linear_path(layer: usize, name: &str) -> String {
        let block = match name {
            "gate_proj" | "up_proj" | "down_proj" => "mlp",
            _ => "self_attn",
        };
        format!("model.layers.{layer}.{block}.{name}")
    }

    /// Every LoRA-capable projection as (layer, module name, layer).
    pub fn linears(&self) -> Vec<(usize, &'static str, &Linear)> {
        let mut out = Vec::new();
        for (l, layer) in self.model.layers.iter().enumerate() {
            let (a, m) = (&layer.self_attn, &layer.mlp);
            out.extend([
                (l, "q_proj", &a.q_proj),
                (l, "k_proj", &a.k_proj),
                (l, "v_proj", &a.v_proj),
                (l, "o_proj", &a.o_proj),
                (l, "gate_proj", &m.gate_proj),
                (l, "up_proj", &m.up_proj),
                (l, "down_proj", &m.down_proj),
            ]);
        }
        out
    }

    /// Every LoRA-capable projection as (layer, module name, layer), mutably.
    pub fn linears_mut(&mut self) -> Vec<(usize, &'static str, &mut Linear)> {
        let mut out = Vec::new();
        for (l, layer) in self.model.layers.iter_mut().enumerate() {
            let (a, m) = (&mut layer.self_attn, &mut layer.mlp);
            out.extend([
                (l, "q_proj", &mut a.q_proj),
                (l, "k_proj", &mut a.k_proj),
                (l, "v_proj", &mut a.v_proj),
                (l, "o_proj", &mut a.o_proj),
                (l, "gate_proj", &mut m.gate_proj),
                (l, "up_proj", &mut m.up_proj),
                (l, "down_proj", &mut m.down_proj),
            ]);
        }
        out
    }

    /// Logits for a batch of unpadded sequences of equal length, with a causal mask.
    ///
    /// # Shapes
    ///
    /// - input_ids: `[batch, seq]`, every id `< vocab_size`
    /// - output: `[batch, seq, vocab]`
    pub fn forward(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        self.run(input_ids, None, None, Logits::All)
    }

    /// Logits with optional padding and an optional KV cache.
    ///
    /// `attention_mask` (`[batch · seq]`, row-major, `true` = real token) marks padding,
    /// which no query attends to; RoPE positions count real tokens only, so a left-padded row
    /// computes what the same row unpadded would. With a `cache`, `input_ids` are the tokens
    /// after the cached ones, and the cache is extended with them.
    ///
    /// # Shapes
    ///
    /// - input_ids: `[batch, seq]`
    /// - output: `[batch, seq, vocab]` or `[batch, 1, vocab]` (see [`Logits`])
    pub fn forward_with(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<&[bool]>,
        cache: Option<&mut KvCache>,
        logits: Logits,
    ) -> Result<Tensor<3>> {
        let [batch, seq] = input_ids.dims();
        if seq == 0 {
            return Err(ModelError::InvalidInput(
                "empty input (seq = 0)".to_string(),
            ));
        }
        if let Some(mask) = attention_mask
            && mask.len() != batch * seq
        {
            return Err(ModelError::InvalidInput(format!(
                "attention mask has {} entries, expected batch · seq = {}",
                mask.len(),
                batch * seq
            )));
        }
        if let Some(c) = cache.as_deref()
            && c.batch() != batch
        {
            return Err(ModelError::InvalidInput(format!(
                "KV cache holds {} rows, input has {batch}",
                c.batch()
            )));
        }
        Ok(self.run(input_ids, attention_mask, cache, logits))
    }

    /// Logits for training rows that hold one or more whole sequences each (sequence packing)
    /// and may end in padding.
    ///
    /// `segments` (`[batch · seq]`, row-major) numbers the sequences within each row,
    /// `0` marking padding. A position attends only to earlier positions of its own
    /// sequence, and RoPE positions restart at 0 with each sequence, so a packed row computes
    /// what its sequences would compute alone.
    ///
    /// # Shapes
    ///
    /// - input_ids: `[batch, seq]`
    /// - output: `[batch, seq, vocab]`
    pub fn forward_segments(
        &self,
        input_ids: Tensor<2, Int>,
        segments: &[u32],
    ) -> Result<Tensor<3>> {
        let pass = self.segment_pass(input_ids.dims(), segments)?;
        Ok(self.head(self.model.norm.forward(self.stack(input_ids, &pass, None))))
    }

    /// [`Llama::forward_segments`]'s logits at the positions `at` only (indices into the
    /// row-major `[batch · seq]` positions), in that order: training needs logits only where
    /// a target token is predicted, and the output head over a 50k–150k vocabulary at every
    /// position would be a large share of a step's time and memory.
    ///
    /// # Shapes
    ///
    /// - input_ids: `[batch, seq]`; `at`: non-empty, every index `< batch · seq`
    /// - output: `[at.len(), vocab]`
    pub fn forward_segments_at(
        &self,
        input_ids: Tensor<2, Int>,
        segments: &[u32],
        at: &[usize],
    ) -> Result<Tensor<2>> {
        let [batch, seq] = input_ids.dims();
        let pass = self.segment_pass([batch, seq], segments)?;
        self.head_at(self.stack(input_ids, &pass, None), at)
    }

    /// The logits at the positions `at` (indices into the row-major `[batch · seq]`
    /// positions) of the last decoder layer's output `last`: the final norm and the output
    /// head, on those positions only.
    ///
    /// # Shapes
    ///
    /// - last: `[batch, seq, hidden]`; `at`: non-empty, every index `< batch · seq`
    /// - output: `[at.len(), vocab]`
    pub fn head_at(&self, last: Tensor<3>, at: &[usize]) -> Result<Tensor<2>> {
        let [batch, seq, width] = last.dims();
        if at.is_empty() || at.iter().any(|&i| i >= batch * seq) {
            return Err(ModelError::InvalidInput(format!(
                "positions for logits must be non-empty and below {} (batch · seq)",
                batch * seq
            )));
        }
        let index = at.iter().map(|&i| i as i64).collect::<Vec<_>>();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [at.len()]), &self.device());
        let picked = last.reshape([batch * seq, width]).select(0, index);
        Ok(self.head(self.model.norm.forward(picked)))
    }

    /// The RoPE tables and masks of a [`Llama::forward_segments`] pass over a `[batch, seq]`
    /// batch whose rows hold the sequences that `segments` numbers.
    pub fn segment_pass(&self, [batch, seq]: [usize; 2], segments: &[u32]) -> Result<Pass> {
        if seq == 0 || segments.len() != batch * seq {
            return Err(ModelError::InvalidInput(format!(
                "segments have {} entries for a [{batch}, {seq}] batch",
                segments.len()
            )));
        }
        let mut positions = Vec::with_capacity(batch * seq);
        for row in segments.chunks(seq) {
            let mut pos = 0;
            for (j, &s) in row.iter().enumerate() {
                if j > 0 && s != row[j - 1] {
                    pos = 0;
                }
                positions.push(pos);
                pos += 1;
            }
        }
        let one_sequence = segments.iter().all(|&s| s == 1);
        let masks = self.masks(seq, seq, |window| {
            if one_sequence && window.is_none() {
                return None;
            }
            let mut hidden = Vec::with_capacity(batch * seq * seq);
            for row in segments.chunks(seq) {
                for (q, &sq) in row.iter().enumerate() {
                    for (k, &sk) in row.iter().enumerate() {
                        let visible = k == q
                            || (k < q && sq != 0 && sk == sq && window.is_none_or(|w| q - k < w));
                        hidden.push(!visible);
                    }
                }
            }
            let data = TensorData::new(hidden, [batch, 1, seq, seq]);
            Some(Tensor::from_data(data, &self.device()))
        });
        Ok(self.pass(&positions, [batch, seq], masks))
    }

    /// [`Llama::forward_with`] on checked arguments.
    fn run(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<&[bool]>,
        mut cache: Option<&mut KvCache>,
        logits: Logits,
    ) -> Tensor<3> {
        let [batch, seq] = input_ids.dims();
        let past = cache.as_deref().map_or(0, KvCache::len);
        let valid = |r: usize, j: usize| attention_mask.is_none_or(|m| m[r * seq + j]);

        // Key validity over cached + new positions, and RoPE positions of the new tokens.
        let mut key_valid: Vec<Vec<bool>> = Vec::with_capacity(batch);
        let mut positions = Vec::with_capacity(batch * seq);
        let mut seen_after = Vec::with_capacity(batch);
        for r in 0..batch {
            let mut row = cache
                .as_deref()
                .map_or_else(Vec::new, |c| c.key_valid[r].clone());
            let mut seen = cache.as_deref().map_or(0, |c| c.seen[r]);
            for j in 0..seq {
                positions.push(seen);
                let v = valid(r, j);
                seen += usize::from(v);
                row.push(v);
            }
            key_valid.push(row);
            seen_after.push(seen);
        }

        let total = past + seq;
        let any_padding = key_valid.iter().flatten().any(|v| !v);
        let masks = self.masks(seq, total, |window| {
            if !any_padding && window.is_none() {
                return None;
            }
            let mut hidden = Vec::with_capacity(batch * seq * total);
            for row in &key_valid {
                for i in 0..seq {
                    let q = past + i;
                    for (k, &kv) in row.iter().enumerate() {
                        // A query always sees itself, so that a padding row never has every
                        // key hidden (its output is ignored, but must stay finite).
                        let visible = k == q || (k < q && kv && window.is_none_or(|w| q - k < w));
                        hidden.push(!visible);
                    }
                }
            }
            let data = TensorData::new(hidden, [batch, 1, seq, total]);
            Some(Tensor::from_data(data, &self.device()))
        });

        let pass = self.pass(&positions, [batch, seq], masks);
        let hidden = self
            .model
            .norm
            .forward(self.stack(input_ids, &pass, cache.as_deref_mut()));
        if let Some(c) = cache {
            c.key_valid = key_valid;
            c.seen = seen_after;
        }
        let hidden = match logits {
            Logits::All => hidden,
            Logits::Last => hidden.narrow(1, seq - 1, 1), // [batch, 1, hidden]
        };
        self.head(hidden)
    }

    /// The masks of one pass of `queries` queries over `keys` keys: `full` for the layers
    /// without a window, `windowed` for those with one (every windowed layer shares the
    /// config's window; a window no shorter than `keys` hides nothing). `build` makes the mask
    /// of a window in Burn's convention (`true`: hidden), or `None` when causality alone
    /// hides; a mask no layer reads is not built.
    ///
    /// On a libtorch device without autodiff the masks are given in PyTorch's convention
    /// instead (training on libtorch keeps Burn's: autodiff computes attention itself, see
    /// `device::attends_like_pytorch`): burn-tch 0.22 hands `attention` to PyTorch's
    /// `scaled_dot_product_attention` unchanged, whose
    /// boolean mask means "attend" (Burn's means "hide") and whose `is_causal` aligns the
    /// causal triangle with the first keys (Burn's with the last: a decode step's one query
    /// would see only the first cached key). So each mask is inverted, and a causal pass over
    /// more keys than queries gets an explicit mask rather than `is_causal`.
    fn masks(&self, queries: usize, keys: usize, build: impl Fn(Option<usize>) -> Mask) -> Masks {
        let layers = &self.model.layers;
        let window = layers.iter().find_map(|l| l.window).filter(|w| keys > *w);
        let full = match window.is_none() || layers.iter().any(|l| l.window.is_none()) {
            true => build(None),
            false => None,
        };
        let windowed = match window {
            Some(_) => build(window),
            None => full.clone(),
        };
        if !crate::device::attends_like_pytorch(&self.device()) {
            return Masks { full, windowed };
        }
        let in_pytorch_convention = |mask: Mask| match mask {
            Some(hidden) => Some(hidden.bool_not()),
            None if keys > queries => {
                let past = keys - queries;
                let visible: Vec<bool> = (0..queries)
                    .flat_map(|q| (0..keys).map(move |k| k <= past + q))
                    .collect();
                let data = TensorData::new(visible, [1, 1, queries, keys]);
                Some(Tensor::from_data(data, &self.device()))
            }
            None => None,
        };
        Masks {
            full: in_pytorch_convention(full),
            windowed: in_pytorch_convention(windowed),
        }
    }

    /// The pass over `positions` (RoPE positions, `batch · seq` of them) with `masks`.
    fn pass(&self, positions: &[usize], [batch, seq]: [usize; 2], masks: Masks) -> Pass {
        Pass {
            global: self.rope_tables(&self.inv_freq, positions, batch, seq),
            local: self
                .inv_freq_local
                .as_ref()
                .map(|f| self.rope_tables(f, positions, batch, seq)),
            masks,
        }
    }

    /// Runs the embedding and the decoder stack (the final norm is the caller's: training
    /// takes it at target positions only, [`Llama::head_at`]).
    ///
    /// # Shapes
    ///
    /// - input_ids: `[batch, seq]`, the batch `pass` was made for
    /// - output: `[batch, seq, hidden]`, the last layer's output
    fn stack(
        &self,
        input_ids: Tensor<2, Int>,
        pass: &Pass,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let mut x = self.embed(input_ids);
        for l in 0..self.model.layers.len() {
            let slot = cache.as_deref_mut().map(|c| &mut c.layers[l]);
            x = self.layer(l, x, pass, slot);
        }
        x
    }

    /// The token embeddings, in f32 whatever the table's dtype (Gemma's scaled by
    /// √hidden): the input of the first decoder layer.
    ///
    /// # Shapes
    ///
    /// - input_ids: `[batch, seq]`
    /// - output: `[batch, seq, hidden]`
    pub fn embed(&self, input_ids: Tensor<2, Int>) -> Tensor<3> {
        let x = embedding(self.model.embed_tokens.weight.val(), input_ids).cast(DType::F32);
        match self.config.is_gemma() {
            // Gemma scales the embeddings by √hidden (in f32).
            true => x * (self.config.hidden_size as f32).sqrt(),
            false => x,
        }
    }

    /// Decoder layer `l` of a pass: its input `x` to its output.
    ///
    /// # Shapes
    ///
    /// - x: `[batch, seq, hidden]`, the batch `pass` was made for
    /// - output: `[batch, seq, hidden]`
    pub fn decoder_layer(&self, l: usize, x: Tensor<3>, pass: &Pass) -> Tensor<3> {
        self.layer(l, x, pass, None)
    }

    /// [`Llama::decoder_layer`] with the layer's slot of a KV cache.
    fn layer(
        &self,
        l: usize,
        x: Tensor<3>,
        pass: &Pass,
        slot: Option<&mut Option<(Tensor<4>, Tensor<4>)>>,
    ) -> Tensor<3> {
        let layer = &self.model.layers[l];
        let (cos, sin) = match (&pass.local, layer.local_rope) {
            (Some(local), true) => local,
            _ => &pass.global,
        };
        let mask = match layer.window {
            Some(_) => &pass.masks.windowed,
            None => &pass.masks.full,
        };
        let attn = layer.self_attn.forward(
            layer.input_layernorm.forward(x.clone()),
            (cos, sin),
            mask,
            slot,
        );
        match (
            &layer.pre_feedforward_layernorm,
            &layer.post_feedforward_layernorm,
        ) {
            // Gemma: every block's output is normed before the residual add.
            (Some(pre), Some(post)) => {
                let h = x + layer.post_attention_layernorm.forward(attn);
                h.clone() + post.forward(layer.mlp.forward(pre.forward(h)))
            }
            _ => {
                let h = x + attn;
                h.clone() + layer.mlp.forward(layer.post_attention_layernorm.forward(h))
            }
        }
    }

    /// The output head.
    ///
    /// # Shapes
    ///
    /// - input: `[..., hidden]`
    /// - output: `[..., vocab]`
    fn head<const D: usize>(&self, hidden: Tensor<D>) -> Tensor<D> {
        let logits = match &self.lm_head {
            Some(head) => head.forward(hidden),
            None => self.tied_head(hidden),
        };
        match self
            .config
            .final_logit_softcapping
            .filter(|_| self.config.is_gemma())
        {
            Some(cap) => softcap(logits, cap),
            None => logits,
        }
    }

    /// The output head of a model whose head is its embedding table `[vocab, hidden]`.
    ///
    /// For a few rows (decoding, or a training batch's target positions), `table · xᵀ`
    /// reads the table in its stored layout and the small `[vocab, rows]` result is
    /// transposed after; `x · tableᵀ` through a transposed view made the matrix product pack
    /// the whole table into panels on every call (measured with SmolLM2's 49,152 × 576
    /// table on burn-flex: 133 → 14 ms for one row, 47 → 20 ms for 16 rows, 78 → 58 ms for
    /// 64; equal at 128 rows and 22% slower at 512; BENCHMARKS.md). Many rows go through the
    /// view.
    ///
    /// # Shapes
    ///
    /// - input: `[..., hidden]`
    /// - output: `[..., vocab]`
    fn tied_head<const D: usize>(&self, hidden: Tensor<D>) -> Tensor<D> {
        /// Up to this many rows the table is multiplied in its stored layout.
        const FEW_ROWS: usize = 64;
        let table = self.model.embed_tokens.weight.val(); // [vocab, hidden]
        let [vocab, width] = table.dims();
        let mut dims = hidden.dims();
        let rows = dims[..D - 1].iter().product::<usize>();
        in_weight_dtype(hidden, table.dtype(), |hidden| {
            if rows > FEW_ROWS {
                return linear(hidden, table.transpose(), None);
            }
            dims[D - 1] = vocab;
            let columns = hidden.reshape([rows, width]).transpose(); // [hidden, rows]
            table.matmul(columns).transpose().reshape(dims)
        })
    }

    /// RoPE cosines and sines for the given positions, computed as transformers does: the
    /// angle `position · inv_freq` in f32, duplicated over both halves of the head.
    ///
    /// # Shapes
    ///
    /// - output: two `[batch, 1, seq, head_dim]` tensors
    fn rope_tables(
        &self,
        inv_freq: &[f32],
        positions: &[usize],
        batch: usize,
        seq: usize,
    ) -> (Tensor<4>, Tensor<4>) {
        let half = inv_freq.len();
        let dim = 2 * half;
        let mut cos = Vec::with_capacity(positions.len() * dim);
        let mut sin = Vec::with_capacity(positions.len() * dim);
        for &p in positions {
            let start = cos.len();
            for &f in inv_freq {
                let angle = f64::from(p as f32 * f);
                cos.push(angle.cos() as f32);
                sin.push(angle.sin() as f32);
            }
            cos.extend_from_within(start..start + half);
            sin.extend_from_within(start..start + half);
        }
        let device = self.device();
        let shape = [batch, 1, seq, dim];
        (
            Tensor::from_data(TensorData::new(cos, shape), &device),
            Tensor::from_data(TensorData::new(sin, shape), &device),
        )
    }
}

impl Attention {
    /// Self-attention over the new positions and the cached ones.
    ///
    /// # Shapes
    ///
    /// - x: `[batch, seq, hidden]`; cos/sin: `[batch, 1, seq, head_dim]`
    /// - output: `[batch, seq, hidden]`
    fn forward(
        &self,
        x: Tensor<3>,
        (cos, sin): (&Tensor<4>, &Tensor<4>),
        mask: &Mask,
        cache: Option<&mut Option<(Tensor<4>, Tensor<4>)>>,
    ) -> Tensor<3> {
        let [batch, seq, _] = x.dims();
        let (h, kvh, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let heads = |t: Tensor<3>, n: usize| t.reshape([batch, seq, n, d]).swap_dims(1, 2);
        let q = heads(self.q_proj.forward(x.clone()), h); // [batch, heads, seq, head_dim]
        let k = heads(self.k_proj.forward(x.clone()), kvh); // [batch, kv_heads, seq, head_dim]
        let v = heads(self.v_proj.forward(x), kvh);
        let (q, k) = match (&self.q_norm, &self.k_norm) {
            (Some(qn), Some(kn)) => (qn.forward(q), kn.forward(k)),
            _ => (q, k),
        };
        let q = apply_rope(q, cos, sin);
        let k = apply_rope(k, cos, sin);

        let (k, v) = match cache {
            None => (k, v),
            Some(slot) => {
                let (k, v) = match slot.take() {
                    None => (k, v),
                    Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
                };
                *slot = Some((k.clone(), v.clone()));
                (k, v) // [batch, kv_heads, cached + seq, head_dim]
            }
        };
        let total = k.dims()[2];
        let (k, v) = (repeat_kv(k, h / kvh), repeat_kv(v, h / kvh)); // [batch, heads, total, head_dim]

        let is_causal = mask.is_none();
        let mask = mask.clone().map(|m| m.expand([batch, h, seq, total]));
        let options = AttentionModuleOptions {
            scale: self.scale, // None: 1/√head_dim
            softcap: None,
            is_causal,
        };
        let out = attention(q, k, v, mask, None, options); // [batch, heads, seq, head_dim]
        let out = out.swap_dims(1, 2).reshape([batch, seq, h * d]);
        self.o_proj.forward(out)
    }
}

impl Mlp {
    /// # Shapes
    ///
    /// - input: `[batch, seq, hidden]`
    /// - output: `[batch, seq, hidden]`
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = self.gate_proj.forward(x.clone()); // [batch, seq, intermediate]
        let gate = if self.gelu_tanh {
            gelu_tanh(gate)
        } else {
            silu(gate)
        };
        self.down_proj.forward(gate * self.up_proj.forward(x))
    }
}

/// PyTorch's `gelu(x, approximate="tanh")`: `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let inner =
        (x.clone() + x.clone().powi_scalar(3) * 0.044715) * (2.0 / std::f64::consts::PI).sqrt();
    x * (inner.tanh() + 1.0) * 0.5
}

/// Gemma's soft cap: `tanh(x / cap) · cap`.
fn softcap<const D: usize>(x: Tensor<D>, cap: f64) -> Tensor<D> {
    (x / cap).tanh() * cap
}

/// HF's rotate-half RoPE: `x·cos + rotate_half(x)·sin`, `rotate_half([a, b]) = [-b, a]`.
///
/// # Shapes
///
/// - x: `[batch, heads, seq, head_dim]`; cos/sin: `[batch, 1, seq, head_dim]`
/// - output: like x
fn apply_rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let half = x.dims()[3] / 2;
    let first = x.clone().narrow(3, 0, half);
    let second = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![second.neg(), first], 3);
    x * cos.clone() + rotated * sin.clone()
}

/// Repeats each key/value head `n_rep` times so that query head `i` reads kv head
/// `i / n_rep`, as transformers' `repeat_kv`.
///
/// # Shapes
///
/// - input: `[batch, kv_heads, seq, head_dim]`
/// - output: `[batch, kv_heads · n_rep, seq, head_dim]`
fn repeat_kv(x: Tensor<4>, n_rep: usize) -> Tensor<4> {
    if n_rep == 1 {
        return x;
    }
    let [b, kvh, s, d] = x.dims();
    x.unsqueeze_dim::<5>(2) // [batch, kv_heads, 1, seq, head_dim]
        .expand([b, kvh, n_rep, s, d])
        .reshape([b, kvh * n_rep, s, d])
}

/// `1 / theta^(2i / head_dim)` with the config's scaling applied.
fn inverse_frequencies(dim: usize, rope: crate::config::Rope) -> Vec<f32> {
    let mut inv: Vec<f64> = (0..dim / 2)
        .map(|i| 1.0 / rope.theta.powf((2 * i) as f64 / dim as f64))
        .collect();
    rope.scaling.apply(&mut inv);
    inv.into_iter().map(|f| f as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_config(extra: &str) -> Result<LlamaConfig> {
        LlamaConfig::from_json_str(
            &format!(
                r#"{{"model_type": "llama", "vocab_size": 40, "hidden_size": 24,
                "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 6,
                "num_key_value_heads": 2 {extra}}}"#
            ),
            "test",
        )
    }

    fn max_abs_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    #[test]
    fn rotate_half_rope_at_position_zero_is_identity() {
        let device = Device::flex();
        let x = Tensor::<4>::random([1, 2, 3, 8], Distribution::Default, &device);
        let cos = Tensor::<4>::ones([1, 1, 3, 8], &device);
        let sin = Tensor::<4>::zeros([1, 1, 3, 8], &device);
        let y = apply_rope(x.clone(), &cos, &sin);
        assert!((y - x).abs().max().into_scalar::<f32>() == 0.0);
    }

    #[test]
    fn rope_rotates_halves_not_interleaved_pairs() {
        // With angle π/2 everywhere, HF's rotate-half maps [a, b] to [-b, a].
        let device = Device::flex();
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 1, 4]),
            &device,
        );
        let cos = Tensor::<4>::zeros([1, 1, 1, 4], &device);
        let sin = Tensor::<4>::ones([1, 1, 1, 4], &device);
        let y = apply_rope(x, &cos, &sin)
            .try_into_vec_as::<f32>()
            .unwrap_or_default();
        assert_eq!(y, vec![-3.0, -4.0, 1.0, 2.0]);
    }

    #[test]
    fn repeat_kv_maps_query_head_to_kv_head_by_division() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(TensorData::new(vec![0.0f32, 1.0], [1, 2, 1, 1]), &device);
        let y = repeat_kv(x, 3).try_into_vec_as::<f32>().unwrap_or_default();
        assert_eq!(y, vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn kv_cache_decoding_equals_full_forward() -> Result<()> {
        let device = Device::flex();
        for extra in [
            "",
            r#", "tie_word_embeddings": true, "attention_bias": true"#,
        ] {
            let config = tiny_config(extra)?;
            let model = Llama::random(&config, &device)?;
            let ids: Vec<i64> = vec![3, 7, 1, 22, 9, 14, 30];
            let full = model.forward(Tensor::from_data(
                TensorData::new(ids.clone(), [1, 7]),
                &device,
            ));
            let mut cache = model.new_cache(1);
            let mut steps = Vec::new();
            // Prefill 4 tokens, then one at a time.
            let first = Tensor::from_data(TensorData::new(ids[..4].to_vec(), [1, 4]), &device);
            steps.push(model.forward_with(first, None, Some(&mut cache), Logits::All)?);
            for &id in &ids[4..] {
                let t = Tensor::from_data(TensorData::new(vec![id], [1, 1]), &device);
                steps.push(model.forward_with(t, None, Some(&mut cache), Logits::All)?);
            }
            assert_eq!(cache.len(), 7);
            let diff = max_abs_diff(full, Tensor::cat(steps, 1));
            assert!(diff < 1e-5, "{extra}: {diff}");
        }
        Ok(())
    }

    #[test]
    fn left_padding_gives_the_unpadded_logits() -> Result<()> {
        let device = Device::flex();
        let model = Llama::random(&tiny_config("")?, &device)?;
        let ids: Vec<i64> = vec![5, 6, 7, 8];
        let plain = model.forward(Tensor::from_data(
            TensorData::new(ids.clone(), [1, 4]),
            &device,
        ));
        let padded_ids: Vec<i64> = [vec![0, 0], ids].concat();
        let mask = [false, false, true, true, true, true];
        let padded = model.forward_with(
            Tensor::from_data(TensorData::new(padded_ids, [1, 6]), &device),
            Some(&mask),
            None,
            Logits::All,
        )?;
        let diff = max_abs_diff(plain, padded.narrow(1, 2, 4));
        assert!(diff < 1e-5, "{diff}");
        Ok(())
    }

    #[test]
    fn sliding_window_hides_distant_keys() -> Result<()> {
        let device = Device::flex();
        let windowed = tiny_config(r#", "sliding_window": 2"#)?;
        let mut mistral = windowed.clone();
        mistral.model_type = "mistral".to_string();
        let model = Llama::random(&mistral, &device)?;
        let ids = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [1, 4]), &device);
        // With a window of 2, the last position cannot see position 0 or 1.
        let a = model.forward(ids(vec![1, 2, 3, 4])).narrow(1, 3, 1);
        let b = model.forward(ids(vec![9, 2, 3, 4])).narrow(1, 3, 1);
        let c = model.forward(ids(vec![1, 9, 3, 4])).narrow(1, 3, 1);
        // Layer 2 sees layer 1's output at position 2, which saw position 1: two layers reach
        // back three positions, so only position 0 is out of reach.
        assert!(max_abs_diff(a.clone(), b) < 1e-6);
        assert!(max_abs_diff(a, c) > 1e-6);
        Ok(())
    }

    #[test]
    fn qwen_windows_only_the_layers_from_max_window_layers() -> Result<()> {
        let qwen = |extra: &str| -> Result<LlamaConfig> {
            let mut c = tiny_config(&format!(r#", "sliding_window": 2{extra}"#))?;
            c.model_type = "qwen3".to_string();
            Ok(c)
        };
        // Without use_sliding_window the window is ignored, as transformers ignores it.
        let off = qwen("")?;
        assert_eq!((off.layer_window(0), off.layer_window(1)), (None, None));
        let on = qwen(r#", "use_sliding_window": true, "max_window_layers": 1"#)?;
        assert_eq!((on.layer_window(0), on.layer_window(1)), (None, Some(2)));
        let typed = qwen(
            r#", "use_sliding_window": true, "layer_types": ["sliding_attention", "full_attention"]"#,
        )?;
        assert_eq!(
            (typed.layer_window(0), typed.layer_window(1)),
            (Some(2), None)
        );
        // Only the windowed layer hides position 0 from position 3: the model still sees it
        // through the full layer.
        let device = Device::flex();
        let model = Llama::random(&on, &device)?;
        assert_eq!(model.model.layers[1].window, Some(2));
        assert_eq!(model.model.layers[0].window, None);
        let ids = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [1, 4]), &device);
        let a = model.forward(ids(vec![1, 2, 3, 4])).narrow(1, 3, 1);
        let b = model.forward(ids(vec![9, 2, 3, 4])).narrow(1, 3, 1);
        assert!(max_abs_diff(a, b) > 1e-6);
        Ok(())
    }
}
