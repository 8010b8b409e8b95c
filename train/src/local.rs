//! The local training recipe, in three parts: **setup** (tokenizer, examples, model with
//! trainable parameters marked, optimizer, resume from a checkpoint), **loop** (micro-batches
//! → loss → gradients accumulated over the window → clipping → AdamW → metrics, validation,
//! checkpoints), and **cleanup** (adapter or model, merged model, summary).
//!
//! Outputs in `out_dir`: `adapter_config.json` + `adapter_model.safetensors` (LoRA) or
//! `model/` (full), `merged/` (LoRA with `merge`), `metrics.csv`, `config.toml` (the resolved
//! settings), `summary.json`, and `checkpoints/`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::prelude::*;
use serde::Serialize;
use tunebench_models::lora::{self, LoraConfig};
use tunebench_models::{Llama, LlamaConfig, TextTokenizer, device::parse_device, weights};

use crate::batch::{Batch, Plan, Rng, epoch_plan};
use crate::checkpoint::{self, TrainState};
use crate::data::{Encoder, Example};
use crate::error::{Result, TrainError};
use crate::loss::{causal_lm_loss, loss_and_gradients};
use crate::metrics::{MetricsLog, Row};
use crate::optim::{self, AdamW, Named};
use crate::settings::{LocalTrainSettings, Method};

/// Receives progress; the CLI draws a bar from it.
pub trait Progress {
    /// Training starts (or resumes after `done` of `total` steps).
    fn start(&self, total: usize, done: usize);
    /// A step finished.
    fn step(&self, row: &Row);
    /// Something worth a line (validation result, checkpoint written).
    fn note(&self, message: &str);
    /// Training ended.
    fn finish(&self);
}

/// Progress that goes nowhere.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: usize, _: usize) {}
    fn step(&self, _: &Row) {}
    fn note(&self, _: &str) {}
    fn finish(&self) {}
}

/// How this invocation runs.
pub struct RunOptions<'a> {
    /// Continue from the newest checkpoint in `out_dir`.
    pub resume: bool,
    /// Set (by a Ctrl-C handler) to checkpoint and stop after the current step.
    pub stop: &'a AtomicBool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Ran every planned step.
    Completed,
    /// Validation loss stopped improving for `patience` validations.
    EarlyStopped,
    /// Stopped on request; a checkpoint holds the state (`--resume` continues).
    Interrupted,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Run name.
    pub name: String,
    /// `lora` or `full`.
    pub method: Method,
    /// How it ended.
    pub status: Status,
    /// Device name as configured.
    pub device: String,
    /// Optimizer steps done.
    pub steps: usize,
    /// Steps planned.
    pub total_steps: usize,
    /// Fractional epochs done.
    pub epochs: f64,
    /// Step with the lowest validation loss.
    pub best_step: Option<usize>,
    /// Lowest validation loss.
    pub best_val_loss: Option<f64>,
    /// Training loss of the last step.
    pub final_train_loss: Option<f64>,
    /// Validation loss at the end.
    pub final_val_loss: Option<f64>,
    /// Real tokens processed.
    pub tokens_seen: u64,
    /// Training wall time, seconds (across resumes).
    pub wall_time_s: f64,
    /// Parameters updated by training.
    pub trainable_params: usize,
    /// Training examples used.
    pub train_examples: usize,
    /// Validation examples used.
    pub validation_examples: usize,
    /// Examples cut to `max_seq_len`.
    pub truncated_examples: usize,
    /// Examples with no target token within `max_seq_len` (not used).
    pub examples_without_targets: usize,
}

/// Trains as `settings` say. Returns the summary also written to `summary.json`.
pub fn train_local(
    settings: &LocalTrainSettings,
    opts: &RunOptions<'_>,
    progress: &dyn Progress,
) -> Result<Summary> {
    // ---- setup ------------------------------------------------------------------------
    let settings = &settings.materialize()?;
    let context = model_context(settings)?;
    // The resolved length is part of the settings from here on (checkpoint hash, config.toml).
    let settings = &LocalTrainSettings {
        max_seq_len: Some(settings.seq_len(context)),
        ..settings.clone()
    };
    let out = &settings.out_dir;
    std::fs::create_dir_all(out).map_err(crate::error::io(out))?;
    let resume_from = checkpoint::latest(out)?;
    if resume_from.is_some() && !opts.resume {
        return Err(TrainError::Config(format!(
            "{} already holds checkpoints of a run\nhint: pass --resume to continue it, or choose another out_dir",
            out.display()
        )));
    }
    let device = parse_device(&settings.device)?;
    device.seed(settings.seed);
    let tokenizer_dir = settings
        .tokenizer_dir()
        .ok_or_else(|| TrainError::Config("no tokenizer directory".into()))?;
    let tokenizer = settings.load_tokenizer()?;
    let (model, lora_config) = build_model(settings, &device)?;
    let encoder = encoder(settings, &tokenizer, &model.config);
    let train = encoder.read(&settings.train_file)?;
    let validation = match &settings.validation_file {
        Some(path) => Some(encoder.read(path)?),
        None => None,
    };
    // Both files checked against one folder's manifest, but not the same version of it: the
    // data was republished between the two reads.
    if let (Some(t), Some(v), Some(path)) = (
        &train.prepared_set,
        validation.as_ref(),
        &settings.validation_file,
    ) && path.parent() == settings.train_file.parent()
        && v.prepared_set.as_ref().is_some_and(|v| v != t)
    {
        return Err(TrainError::StaleData {
            path: path.clone(),
            manifest: path.with_file_name("manifest.json"),
            reason: format!(
                "it comes from another `data prepare` run than {}",
                settings.train_file.display()
            ),
        });
    }
    let mut model = model.train();
    let hash = settings_hash(settings);
    let mut opt = AdamW::new(settings.betas, settings.eps, settings.weight_decay);
    let mut state = TrainState {
        settings_hash: hash.clone(),
        ..TrainState::default()
    };
    if let Some(path) = resume_from.filter(|_| opts.resume) {
        let restored = checkpoint::load(&path, &device, opt)?;
        if restored.state.settings_hash != hash {
            return Err(TrainError::Checkpoint {
                path,
                reason: "was written with different settings\nhint: resume with the settings it was started with, or choose another out_dir".into(),
            });
        }
        model = optim::assign(model, &restored.params);
        opt = restored.optimizer;
        state = restored.state;
        progress.note(&format!("resuming after step {}", state.step));
    }
    let trainable_params = optim::trainable(&model).values().map(|t| t.dims()[0]).sum();
    let mut feed = Feed::new(&train.examples, settings, settings.seq_len(context));
    let total = feed.total_steps(settings);
    let mut metrics = MetricsLog::open(&out.join("metrics.csv"), state.step)?;

    // ---- loop -------------------------------------------------------------------------
    progress.start(total, state.step);
    let mut status = Status::Completed;
    let mut last_train_loss = None;
    let mut last_val_loss = None;
    while state.step < total {
        let started = Instant::now();
        let step = state.step;
        let micro = feed.micro_batches(step);
        let batches: Vec<Batch> = micro
            .iter()
            .map(|p| Batch::build(p, feed.examples))
            .collect();
        let lr = optim::learning_rate(
            settings.lr,
            settings.schedule,
            settings.warmup_steps,
            total,
            step,
        );
        let seed = Rng::derive(settings.seed, step as u64).0;
        let step_settings = StepSettings {
            lr,
            max_norm: settings.max_grad_norm,
            seed,
            recompute: settings.gradient_checkpointing,
        };
        let (next, loss_sum, grad_norm) = optimizer_step(model, &mut opt, &batches, step_settings)?;
        model = next;

        let tokens: usize = batches.iter().map(|b| b.tokens).sum();
        let seconds = started.elapsed().as_secs_f64();
        state.step += 1;
        state.tokens_seen += tokens as u64;
        state.elapsed_s += seconds;
        last_train_loss = Some(loss_sum);

        let validate = (settings.eval_every > 0 && state.step.is_multiple_of(settings.eval_every))
            || state.step == total;
        let val_loss = match (&validation, validate) {
            (Some(v), true) => Some(validation_loss(&model, &v.examples, settings.batch_size)?),
            _ => None,
        };
        let row = Row {
            step: state.step,
            epoch: feed.epochs_done(state.step),
            train_loss: loss_sum,
            val_loss,
            lr,
            grad_norm,
            tokens_per_s: tokens as f64 / seconds.max(1e-9),
            elapsed_s: state.elapsed_s,
        };
        last_val_loss = val_loss;
        metrics.write(&row)?;
        progress.step(&row);
        let mut improved = false;
        if let Some(v) = val_loss {
            if state.best_val.is_none_or(|b| v < b) {
                state.best_val = Some(v);
                state.best_step = Some(state.step);
                state.evals_since_best = 0;
                improved = true;
            } else {
                state.evals_since_best += 1;
            }
            progress.note(&format!("step {}: validation loss {v:.4}", state.step));
        }
        if improved {
            checkpoint::save_best(out, &optim::trainable(&model))?;
        }
        let early = settings.patience > 0 && state.evals_since_best >= settings.patience;
        let stop = opts.stop.load(Ordering::SeqCst);
        let due =
            settings.checkpoint_every > 0 && state.step.is_multiple_of(settings.checkpoint_every);
        if due || stop || early || state.step == total {
            checkpoint::save(out, &state, &optim::trainable(&model), &opt)?;
        }
        if early {
            status = Status::EarlyStopped;
            progress.note(&format!(
                "stopping early: no improvement in {} validations",
                settings.patience
            ));
            break;
        }
        if stop {
            status = Status::Interrupted;
            progress.note(&format!(
                "interrupted: checkpoint of step {} written; rerun with --resume to continue",
                state.step
            ));
            break;
        }
    }
    progress.finish();

    // ---- cleanup ----------------------------------------------------------------------
    if status != Status::Interrupted {
        if state.best_step.is_some() {
            model = optim::assign(model, &checkpoint::load_best(out, &device)?);
        }
        write_outputs(settings, model.valid(), lora_config.as_ref(), tokenizer_dir)?;
    }
    let summary = Summary {
        name: settings.name.clone(),
        method: settings.method,
        status,
        device: settings.device.clone(),
        steps: state.step,
        total_steps: total,
        epochs: feed.epochs_done(state.step),
        best_step: state.best_step,
        best_val_loss: state.best_val,
        final_train_loss: last_train_loss,
        final_val_loss: last_val_loss,
        tokens_seen: state.tokens_seen,
        wall_time_s: state.elapsed_s,
        trainable_params,
        train_examples: train.examples.len(),
        validation_examples: validation.as_ref().map_or(0, |v| v.examples.len()),
        truncated_examples: train.truncated + validation.as_ref().map_or(0, |v| v.truncated),
        examples_without_targets: train.without_targets
            + validation.as_ref().map_or(0, |v| v.without_targets),
    };
    let json =
        serde_json::to_vec_pretty(&summary).map_err(|e| TrainError::Config(e.to_string()))?;
    weights::write_atomic(&out.join("summary.json"), &json)?;
    Ok(summary)
}

/// The starting model with its trainable parameters marked, and the adapter config (LoRA).
fn build_model(
    settings: &LocalTrainSettings,
    device: &Device,
) -> Result<(Llama, Option<LoraConfig>)> {
    let model = match (&settings.base_model, &settings.init_config) {
        (Some(dir), _) => weights::load_model_as(dir, device, settings.dtype)?,
        (None, Some(config)) => Llama::random(&LlamaConfig::from_file(config)?, device)?,
        (None, None) => return Err(TrainError::Config("no base_model or init_config".into())),
    };
    match settings.method {
        Method::Full => Ok((mark_trainable(model), None)),
        Method::Lora => {
            let l = &settings.lora;
            let targets: Vec<&str> = l.target_modules.iter().map(String::as_str).collect();
            let mut config = LoraConfig::new(l.r, l.alpha, &targets);
            config.lora_dropout = l.dropout;
            config.use_rslora = l.rslora;
            if let Some(layers) = &l.layers_to_transform {
                let count = model.config.num_hidden_layers;
                if layers.is_empty() || layers.iter().any(|&i| i >= count) {
                    return Err(TrainError::Config(format!(
                        "train.local.lora.layers_to_transform = {layers:?} must name layers of the model, which has {count} (0 to {})\nhint: list 0-based layer indices, or leave it out to adapt every layer",
                        count.saturating_sub(1)
                    )));
                }
                config.layers_to_transform = Some(lora::Layers::Many(layers.clone()));
            }
            config.base_model_name_or_path = settings
                .base_model
                .as_ref()
                .map(|p| p.display().to_string());
            let model = lora::attach_new(model, &config, device)?;
            Ok((mark_trainable(model), Some(config)))
        }
    }
}

/// One optimizer step over the micro-batches of an accumulation window: forward and
/// backward for each (the loss normalised by the window's target count, dropout seeded from
/// `seed` and the micro-batch index; with `recompute`, gradient checkpointing, see
/// [`loss_and_gradients`]), gradients summed, global-norm clipping at `max_norm` (0 = off),
/// then AdamW at `lr`. Returns the updated model, the window's mean loss per target token,
/// and the gradient norm before clipping.
pub fn optimizer_step(
    model: Llama,
    opt: &mut AdamW,
    batches: &[Batch],
    step: StepSettings,
) -> Result<(Llama, f64, f64)> {
    let window_targets: usize = batches.iter().map(|b| b.targets).sum();
    let mut grads = Named::new();
    let mut loss_sum = 0.0;
    for (i, batch) in batches.iter().enumerate() {
        let seed = Rng::derive(step.seed, i as u64).0;
        let (loss, g) = loss_and_gradients(&model, batch, window_targets, seed, step.recompute)?;
        loss_sum += loss;
        optim::accumulate(&mut grads, g);
    }
    let grad_norm = optim::global_norm(&grads);
    optim::clip(&mut grads, grad_norm, step.max_norm);
    let updated = opt.step(&optim::trainable(&model), &grads, &decays, step.lr);
    Ok((optim::assign(model, &updated), loss_sum, grad_norm))
}

/// The settings of one [`optimizer_step`].
#[derive(Debug, Clone, Copy)]
pub struct StepSettings {
    /// The learning rate.
    pub lr: f64,
    /// Global-norm clipping threshold (0 = off).
    pub max_norm: f64,
    /// The seed of the step's dropout masks.
    pub seed: u64,
    /// Gradient checkpointing: recompute each decoder layer's activations in the backward
    /// pass instead of keeping them.
    pub recompute: bool,
}

/// Marks what training updates: the LoRA matrices when the model carries adapters (all
/// else frozen), otherwise every parameter.
pub fn mark_trainable(model: Llama) -> Llama {
    if model.linears().iter().all(|(_, _, l)| l.lora.is_none()) {
        return model.set_require_grad(true);
    }
    let mut model = model.set_require_grad(false);
    for (_, _, linear) in model.linears_mut() {
        if let Some(adapter) = linear.lora.take() {
            linear.lora = Some(adapter.set_require_grad(true));
        }
    }
    model
}

/// Whether AdamW's weight decay applies: not to norm gains and biases (as Hugging Face's
/// Trainer does).
fn decays(path: &str) -> bool {
    let mut parts = path.rsplit('.');
    let leaf = parts.next().unwrap_or_default();
    let module = parts.next().unwrap_or_default();
    leaf != "bias" && !module.ends_with("norm")
}

/// The model's context (`max_position_embeddings`), read from its config before any work; a
/// `max_seq_len` longer than it is refused: positions past the context were never trained,
/// so such a run would learn from garbage.
fn model_context(settings: &LocalTrainSettings) -> Result<usize> {
    let (config, source) = match (&settings.init_config, &settings.base_model) {
        (Some(file), _) => (LlamaConfig::from_file(file)?, file.clone()),
        // A folder's config.json, or a .gguf file's metadata.
        (None, Some(dir)) => (
            weights::load_config(dir)?,
            match tunebench_models::gguf::is_gguf(dir) {
                true => dir.clone(),
                false => dir.join(weights::CONFIG_FILE),
            },
        ),
        (None, None) => return Err(TrainError::Config("no base_model or init_config".into())),
    };
    let context = config.max_position_embeddings;
    if let Some(n) = settings.max_seq_len
        && n > context
    {
        return Err(TrainError::Config(format!(
            "max_seq_len = {n} is longer than the model's context of {context} tokens (max_position_embeddings in {})\nhint: set max_seq_len to at most {context}, or leave it out to use the context",
            source.display()
        )));
    }
    Ok(context)
}

fn encoder<'a>(
    settings: &LocalTrainSettings,
    tokenizer: &'a TextTokenizer,
    config: &LlamaConfig,
) -> Encoder<'a> {
    Encoder {
        tokenizer,
        eos: tokenizer
            .eos_id()
            .or_else(|| config.eos_token_ids().first().copied()),
        max_seq_len: settings.seq_len(config.max_position_embeddings),
        train_on_inputs: settings.train_on_inputs,
    }
}

/// Mean loss per target token of `model` on the settings' validation file, measured as
/// training measures it (e.g. to check a saved adapter).
pub fn validation_loss_of(model: &Llama, settings: &LocalTrainSettings) -> Result<f64> {
    let path = settings
        .validation_file
        .as_deref()
        .ok_or_else(|| TrainError::Config("no validation_file".into()))?;
    let tokenizer = settings.load_tokenizer()?;
    let examples = encoder(settings, &tokenizer, &model.config).read(path)?;
    validation_loss(model, &examples.examples, settings.batch_size)
}

/// Mean loss per target token over `examples`, without autodiff and dropout.
fn validation_loss(model: &Llama, examples: &[Example], batch_size: usize) -> Result<f64> {
    let model = model.valid();
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| examples[i].ids.len());
    let (mut sum, mut targets) = (0.0, 0);
    for chunk in order.chunks(batch_size) {
        let plan: Plan = chunk.iter().map(|&i| vec![i]).collect();
        let batch = Batch::build(&plan, examples);
        sum += f64::from(causal_lm_loss(&model, &batch, 1)?.into_scalar::<f32>());
        targets += batch.targets;
    }
    Ok(sum / targets.max(1) as f64)
}

/// Where each step's micro-batches come from. Epoch `e`'s plan (a function of the seed and
/// `e`) is cut into steps of `accum` micro-batches; epochs follow one another, and past the
/// last epoch (with `max_steps`) epochs continue with new orders. Epochs may differ in length:
/// greedy packing makes as many rows as the epoch's shuffle lets it, so each epoch's length
/// is taken from its own plan, never from the first one's.
struct Feed<'a> {
    examples: &'a [Example],
    accum: usize,
    batch_size: usize,
    max_seq_len: usize,
    packing: bool,
    seed: u64,
    /// First step of each epoch planned so far, plus the step after the last one:
    /// epoch `e` runs steps `starts[e] .. starts[e + 1]`.
    starts: Vec<usize>,
    /// The plan of the epoch last used.
    current: Option<(usize, Vec<Plan>)>,
}

impl<'a> Feed<'a> {
    fn new(examples: &'a [Example], s: &LocalTrainSettings, max_seq_len: usize) -> Self {
        Feed {
            examples,
            accum: s.grad_accum,
            batch_size: s.batch_size,
            max_seq_len,
            packing: s.packing,
            seed: s.seed,
            starts: vec![0],
            current: None,
        }
    }

    fn plan(&self, epoch: usize) -> Vec<Plan> {
        epoch_plan(
            self.examples,
            self.batch_size,
            self.max_seq_len,
            self.packing,
            self.seed,
            epoch,
        )
    }

    /// Plans epochs until `starts` covers `epochs` whole epochs.
    fn plan_through(&mut self, epochs: usize) {
        while self.starts.len() <= epochs {
            let epoch = self.starts.len() - 1;
            // Never empty: the data reader refuses a file without usable examples.
            let steps = self.plan(epoch).len().div_ceil(self.accum).max(1);
            self.starts.push(self.starts[epoch] + steps);
        }
    }

    fn total_steps(&mut self, s: &LocalTrainSettings) -> usize {
        if let Some(max) = s.max_steps {
            return max;
        }
        self.plan_through(s.epochs);
        self.starts[s.epochs]
    }

    /// The epoch that `step` belongs to, and the step's index within it.
    fn locate(&mut self, step: usize) -> (usize, usize) {
        while self.starts.last().is_none_or(|&end| end <= step) {
            self.plan_through(self.starts.len());
        }
        let epoch = self.starts.partition_point(|&start| start <= step) - 1;
        (epoch, step - self.starts[epoch])
    }

    /// Epochs completed after `steps` steps, with the fraction of the current one.
    fn epochs_done(&mut self, steps: usize) -> f64 {
        let (epoch, within) = self.locate(steps);
        let length = self.starts[epoch + 1] - self.starts[epoch];
        epoch as f64 + within as f64 / length as f64
    }

    fn micro_batches(&mut self, step: usize) -> Vec<Plan> {
        let (epoch, within) = self.locate(step);
        if self.current.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.current = Some((epoch, self.plan(epoch)));
        }
        let plans = self
            .current
            .as_ref()
            .map(|(_, p)| p.as_slice())
            .unwrap_or_default();
        let first = (within * self.accum).min(plans.len());
        let last = (first + self.accum).min(plans.len());
        plans[first..last].to_vec()
    }
}

/// Writes the adapter (and merged model) or the full model, plus the resolved settings.
fn write_outputs(
    settings: &LocalTrainSettings,
    model: Llama,
    lora_config: Option<&LoraConfig>,
    tokenizer_dir: &Path,
) -> Result<()> {
    let out = &settings.out_dir;
    match lora_config {
        Some(config) => {
            lora::save_adapter(&model, config, out)?;
            if settings.merge {
                let merged = out.join("merged");
                weights::save_model(&lora::merge_adapters(model), &merged)?;
                weights::copy_tokenizer_files(tokenizer_dir, &merged)?;
            }
        }
        None => {
            let dir = out.join("model");
            weights::save_model(&model, &dir)?;
            weights::copy_tokenizer_files(tokenizer_dir, &dir)?;
        }
    }
    let toml = toml::to_string_pretty(settings).map_err(|e| TrainError::Config(e.to_string()))?;
    Ok(weights::write_atomic(
        &out.join("config.toml"),
        toml.as_bytes(),
    )?)
}

/// A hash of everything that shapes the trained weights (not the device, gradient
/// checkpointing, the checkpoint interval or the output folder), so a resume with other
/// settings is refused.
fn settings_hash(s: &LocalTrainSettings) -> String {
    let mut s = s.clone();
    s.device.clear();
    s.gradient_checkpointing = false;
    s.checkpoint_every = 0;
    s.out_dir.clear();
    let text = toml::to_string(&s).unwrap_or_default();
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Examples of varied lengths, so that greedy packing makes a different number of rows
    /// in each epoch's order.
    fn ragged_examples() -> Vec<Example> {
        let mut rng = Rng(7);
        (0..97)
            .map(|_| {
                let len = 2 + (rng.next_u64() % 30) as usize;
                Example {
                    ids: vec![1; len],
                    target: vec![true; len],
                }
            })
            .collect()
    }

    #[test]
    fn packing_epochs_of_different_lengths_each_use_every_example_once() {
        let examples = ragged_examples();
        let settings = LocalTrainSettings {
            packing: true,
            batch_size: 1,
            grad_accum: 2,
            epochs: 8,
            ..LocalTrainSettings::default()
        };
        let mut feed = Feed::new(&examples, &settings, 40);
        let total = feed.total_steps(&settings);
        let mut used = vec![vec![0usize; examples.len()]; settings.epochs];
        for step in 0..total {
            let (epoch, _) = feed.locate(step);
            for plan in feed.micro_batches(step) {
                for row in plan {
                    for i in row {
                        used[epoch][i] += 1;
                    }
                }
            }
        }
        let lengths: Vec<usize> = feed.starts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            lengths.iter().any(|&l| l != lengths[0]),
            "the data must make epochs of different lengths for this test to mean anything: {lengths:?}"
        );
        for (epoch, counts) in used.iter().enumerate() {
            assert!(
                counts.iter().all(|&c| c == 1),
                "epoch {epoch}: every example exactly once, got {counts:?}"
            );
        }
        assert_eq!(feed.epochs_done(total), settings.epochs as f64);
        // Steps past the planned epochs (max_steps) go on into new epochs.
        assert!(!feed.micro_batches(total + 5).is_empty());
    }

    #[test]
    fn weight_decay_skips_norms_and_biases() {
        assert!(decays("model.layers.0.self_attn.q_proj.lora.lora_a"));
        assert!(decays("model.embed_tokens.weight"));
        assert!(!decays("model.layers.0.input_layernorm.weight"));
        assert!(!decays("model.norm.weight"));
        assert!(!decays("model.layers.0.self_attn.q_proj.bias"));
    }
}
