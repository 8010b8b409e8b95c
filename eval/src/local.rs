//! A local Llama-family model (optionally with a PEFT LoRA adapter) as a [`Candidate`], on
//! tunebench-models' KV-cache generation.
//!
//! Generation is CPU (or GPU) bound, so it never runs on the async runtime's threads: the
//! model lives on one dedicated worker thread that loads it, takes requests from a channel and
//! answers through oneshot channels. A dedicated thread rather than `spawn_blocking` per
//! call, because the model then needs neither `Send` nor `Sync`, is loaded once, and the
//! worker can batch: with `batch_size = B` it takes up to `B` waiting requests that share
//! generation settings and runs them through `generate_batch` together (left-padded and
//! masked, so each row computes what it would alone). The candidate's default concurrency is
//! `B`, so the runner keeps that many requests waiting.
//!
//! # Prompt rendering
//!
//! With a chat template in the model directory, the messages (system first) go through it
//! with `add_generation_prompt`, and the result is encoded without adding special tokens (the
//! template has them). Without one, the plain rendering is
//!
//! ```text
//! {system}\n\n{message 1}\n\n{message 2}...\n\n{last user message}
//! ```
//!
//! (each part's content only, no role labels; the system part only when present), encoded with
//! the tokenizer's special tokens (BOS). This is what base models fine-tuned on plain
//! prompt/completion pairs expect.
//!
//! # Log-likelihood requests
//!
//! A request with [`Scoring`] is scored, not generated, one request at a time: the prompt is
//! rendered and encoded as above (the context), each continuation (`prefix + choice`, or the
//! reference) is encoded without special tokens, and
//! [`generate::choice_logprobs`] runs the context once and every continuation as one padded
//! batch on a copy of its KV cache. Encoding the two parts apart (rather than the joined
//! text, as lm-evaluation-harness does before splitting) keeps the context's tokens the same
//! for every choice, which the shared cache needs; the two differ only where a tokenizer
//! merges across the boundary. `input_tokens` counts the context and every continuation
//! token; `output_tokens` is 0 (nothing is generated).
//!
//! # Stop sequences
//!
//! Each stop string is also encoded to token ids and passed to the generator, which stops as
//! soon as the output ends with them; since a string can tokenize differently in context, the
//! decoded text is also cut at the first stop string. Either way the stop string is not part
//! of the answer (the OpenAI convention), and `output_tokens` counts the tokens generated.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use tunebench_models::generate::{self, GenerationConfig};
use tunebench_models::{ChatMessage, Llama, TextTokenizer, device, lora, weights};

use crate::candidate::{BoxFuture, CallError, Candidate, Completion, LocalSettings};
use crate::error::{EvalError, Result};
use crate::types::{ChatRequest, Loglikelihood, Role, Sampling, Scoring};

/// Files of a model directory that decide its answers, besides `*.safetensors`.
const MODEL_FILES: [&str; 4] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
];

/// Files of a PEFT adapter directory.
const ADAPTER_FILES: [&str; 2] = ["adapter_config.json", "adapter_model.safetensors"];

struct Job {
    request: ChatRequest,
    reply: oneshot::Sender<Result<Completion, CallError>>,
}

/// A job whose prompt is encoded.
struct Prepared {
    reply: oneshot::Sender<Result<Completion, CallError>>,
    ids: Vec<u32>,
    work: Work,
}

/// What a prepared job asks for.
enum Work {
    /// Generation (batched with other jobs of the same config).
    Generate {
        config: GenerationConfig,
        stop: Vec<String>,
    },
    /// Log-likelihood scoring of continuations of the prompt (one job at a time).
    Score(Scoring),
}

/// A local model candidate. Its model lives on a worker thread; dropping the candidate stops
/// the thread and waits for it, so the model's memory is freed when the drop returns.
pub struct LocalCandidate {
    name: String,
    identity: String,
    batch_size: usize,
    /// `None` only while dropping.
    jobs: Option<mpsc::Sender<Job>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LocalCandidate {
    fn drop(&mut self) {
        // The worker serves until its job channel closes.
        drop(self.jobs.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl LocalCandidate {
    /// Hashes the model (and adapter) files, then loads the model on its worker thread;
    /// returns once it is loaded (or failed to load).
    pub fn load(settings: &LocalSettings) -> Result<Self> {
        let bad = |reason: String| EvalError::Candidate {
            name: settings.name.clone(),
            reason,
        };
        let batch_size = settings.batch_size.unwrap_or(1);
        if batch_size == 0 {
            return Err(bad("batch_size must be at least 1".into()));
        }
        let model_dir = tunebench_models::hub::local_model(&settings.model_dir)?;
        let identity = settings.identity()?;
        let template_kwargs = settings.chat_template_kwargs.clone();
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::sync_channel::<Result<()>>(1);
        let adapter = settings.adapter.clone();
        let device_name = settings.device.clone();
        let dtype = settings.dtype;
        let worker = std::thread::Builder::new()
            .name(format!("model-{}", settings.name))
            .spawn(move || {
                let loaded = (|| -> Result<Worker> {
                    let device = device::parse_device(&device_name)?;
                    let mut model = weights::load_model_as(&model_dir, &device, dtype)?;
                    if let Some(adapter) = &adapter {
                        model = lora::load_adapter(model, adapter)?;
                    }
                    let mut tokenizer = TextTokenizer::load(&model_dir)?;
                    tokenizer.set_chat_template_kwargs(template_kwargs);
                    Ok(Worker::new(model, tokenizer))
                })();
                match loaded {
                    Ok(worker) => {
                        let _ = ready_tx.send(Ok(()));
                        worker.serve(rx, batch_size);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| bad(format!("cannot start the model thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| bad("the model thread stopped while loading".into()))??;
        Ok(LocalCandidate {
            name: settings.name.clone(),
            identity,
            batch_size,
            jobs: Some(jobs),
            worker: Some(worker),
        })
    }
}

impl Candidate for LocalCandidate {
    fn name(&self) -> &str {
        &self.name
    }

    fn identity(&self) -> &str {
        &self.identity
    }

    fn default_concurrency(&self) -> usize {
        self.batch_size
    }

    fn default_timeout(&self) -> Option<Duration> {
        None
    }

    fn complete<'a>(
        &'a self,
        req: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, CallError>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let job = Job {
                request: req.clone(),
                reply,
            };
            self.jobs
                .as_ref()
                .and_then(|jobs| jobs.send(job).ok())
                .ok_or_else(|| CallError::Fatal("the local model thread has stopped".into()))?;
            answer
                .await
                .map_err(|_| CallError::Fatal("the local model thread has stopped".into()))?
        })
    }
}

/// The model thread's state.
struct Worker {
    model: Llama,
    tokenizer: TextTokenizer,
    eos: Vec<u32>,
}

impl Worker {
    fn new(model: Llama, tokenizer: TextTokenizer) -> Self {
        let mut eos = model.config.eos_token_ids();
        if let Some(id) = tokenizer.eos_id()
            && !eos.contains(&id)
        {
            eos.push(id);
        }
        Worker {
            model,
            tokenizer,
            eos,
        }
    }

    fn serve(self, rx: mpsc::Receiver<Job>, batch_size: usize) {
        let mut held: Option<Prepared> = None;
        loop {
            let first = match held.take() {
                Some(p) => p,
                None => match rx.recv() {
                    Ok(job) => match self.prepare(job) {
                        Some(p) => p,
                        None => continue,
                    },
                    Err(_) => return, // every sender is gone: the candidate was dropped
                },
            };
            let Work::Generate { config, .. } = &first.work else {
                self.score(first);
                continue;
            };
            let config = config.clone();
            let mut batch = vec![first];
            while batch.len() < batch_size {
                let Ok(job) = rx.try_recv() else { break };
                let Some(p) = self.prepare(job) else { continue };
                if matches!(&p.work, Work::Generate { config: c, .. } if *c == config) {
                    batch.push(p);
                } else {
                    held = Some(p);
                    break;
                }
            }
            self.run(batch, &config);
        }
    }

    /// Encodes a job's prompt; `None` when it was answered already (an error, or a caller
    /// that stopped waiting).
    fn prepare(&self, job: Job) -> Option<Prepared> {
        if job.reply.is_closed() {
            return None;
        }
        let encoded = match &job.request.scoring {
            Some(scoring) => self
                .encode_prompt(&job.request)
                .map(|ids| (ids, Work::Score(scoring.clone()))),
            None => self.encode(&job.request).map(|(ids, config)| {
                let stop = job.request.sampling.stop.clone();
                (ids, Work::Generate { config, stop })
            }),
        };
        let context = self.model.config.max_position_embeddings;
        match encoded {
            // One prompt past the context fails alone, not the batch it would have joined.
            Ok((ids, _)) if ids.len() > context => {
                let _ = job.reply.send(Err(CallError::Fatal(format!(
                    "the prompt is {} tokens, longer than the model's context of {context} tokens",
                    ids.len()
                ))));
                None
            }
            Ok((ids, work)) => Some(Prepared {
                reply: job.reply,
                ids,
                work,
            }),
            Err(e) => {
                let _ = job.reply.send(Err(CallError::Fatal(e.to_string())));
                None
            }
        }
    }

    /// The prompt's token ids (see the module docs).
    fn encode_prompt(&self, req: &ChatRequest) -> tunebench_models::Result<Vec<u32>> {
        if self.tokenizer.has_chat_template() {
            let mut messages = Vec::with_capacity(req.messages.len() + 1);
            if let Some(system) = &req.system {
                messages.push(ChatMessage {
                    role: "system".into(),
                    content: system.clone(),
                });
            }
            for m in &req.messages {
                messages.push(ChatMessage {
                    role: match m.role {
                        Role::User => "user".into(),
                        Role::Assistant => "assistant".into(),
                    },
                    content: m.content.clone(),
                });
            }
            let text = self.tokenizer.apply_chat_template(&messages, true)?;
            self.tokenizer.encode(&text, false)
        } else {
            self.tokenizer.encode(&plain_prompt(req), true)
        }
    }

    /// The prompt's ids and the generation settings of a generation request.
    fn encode(&self, req: &ChatRequest) -> tunebench_models::Result<(Vec<u32>, GenerationConfig)> {
        let ids = self.encode_prompt(req)?;
        let stop_sequences = req
            .sampling
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| self.tokenizer.encode(s, false))
            .collect::<tunebench_models::Result<Vec<_>>>()?;
        Ok((
            ids,
            GenerationConfig {
                max_new_tokens: req.sampling.max_tokens as usize,
                sampling: sampling(&req.sampling),
                eos_token_ids: self.eos.clone(),
                stop_sequences,
                use_cache: true,
            },
        ))
    }

    /// Answers a log-likelihood job.
    fn score(&self, job: Prepared) {
        if job.reply.is_closed() {
            return;
        }
        let Work::Score(scoring) = &job.work else {
            return;
        };
        let answer = self
            .likelihoods(&job.ids, scoring)
            .map_err(|e| CallError::Fatal(e.to_string()));
        let _ = job.reply.send(answer);
    }

    fn likelihoods(&self, context: &[u32], scoring: &Scoring) -> Result<Completion> {
        let texts: Vec<String> = match scoring {
            Scoring::Choices {
                choices, prefix, ..
            } => choices.iter().map(|c| format!("{prefix}{c}")).collect(),
            Scoring::Continuation { continuation } => vec![continuation.clone()],
        };
        if texts.is_empty() {
            return Err(EvalError::Runner("no choices to score".into()));
        }
        let ids = texts
            .iter()
            .map(|t| self.tokenizer.encode(t, false))
            .collect::<tunebench_models::Result<Vec<_>>>()?;
        if let Some(i) = ids.iter().position(Vec::is_empty) {
            return Err(EvalError::Runner(format!(
                "{:?} encodes to no tokens",
                texts[i]
            )));
        }
        let scored = generate::choice_logprobs(&self.model, context, &ids)?;
        let input_tokens = (context.len() + ids.iter().map(Vec::len).sum::<usize>()) as u64;
        let text = match scoring {
            Scoring::Choices {
                choices,
                length_norm,
                ..
            } => {
                let mut best = 0;
                let mut best_score = f64::NEG_INFINITY;
                for (i, s) in scored.iter().enumerate() {
                    let v = length_norm.apply(s.logprob, s.tokens, &texts[i]);
                    if v > best_score {
                        (best, best_score) = (i, v);
                    }
                }
                choices[best].clone()
            }
            Scoring::Continuation { .. } => serde_json::to_string(&Loglikelihood {
                logprob: scored[0].logprob,
                tokens: scored[0].tokens as u64,
            })
            .map_err(|e| EvalError::Runner(e.to_string()))?,
        };
        Ok(Completion {
            text,
            input_tokens,
            ..Completion::default()
        })
    }

    fn run(&self, batch: Vec<Prepared>, config: &GenerationConfig) {
        let batch: Vec<Prepared> = batch.into_iter().filter(|p| !p.reply.is_closed()).collect();
        if batch.is_empty() {
            return;
        }
        let prompts: Vec<Vec<u32>> = batch.iter().map(|p| p.ids.clone()).collect();
        match generate::generate_batch(&self.model, &prompts, config) {
            Ok(outputs) => {
                for (p, out) in batch.into_iter().zip(outputs) {
                    let stop: &[String] = match &p.work {
                        Work::Generate { stop, .. } => stop,
                        Work::Score(_) => &[],
                    };
                    let answer = self
                        .tokenizer
                        .decode(&out.tokens)
                        .map(|text| Completion {
                            text: cut_at_stop(text, stop),
                            input_tokens: p.ids.len() as u64,
                            output_tokens: out.tokens.len() as u64,
                            ..Completion::default()
                        })
                        .map_err(|e| CallError::Fatal(e.to_string()));
                    let _ = p.reply.send(answer);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for p in batch {
                    let _ = p.reply.send(Err(CallError::Fatal(msg.clone())));
                }
            }
        }
    }
}

/// The plain rendering of a chat request, for models without a chat template (see the
/// module docs).
pub fn plain_prompt(req: &ChatRequest) -> String {
    let mut parts: Vec<&str> = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = &req.system {
        parts.push(system);
    }
    parts.extend(req.messages.iter().map(|m| m.content.as_str()));
    parts.join("\n\n")
}

/// The generator's sampling for request settings: temperature 0 is greedy; a missing seed
/// is 0, so unseeded sampling is still reproducible.
pub fn sampling(s: &Sampling) -> generate::Sampling {
    if s.temperature > 0.0 {
        generate::Sampling::Sample {
            temperature: s.temperature,
            top_k: None,
            top_p: s.top_p,
            seed: s.seed.unwrap_or(0),
        }
    } else {
        generate::Sampling::Greedy
    }
}

/// `text` up to the first occurrence of any stop string.
fn cut_at_stop(mut text: String, stop: &[String]) -> String {
    if let Some(at) = stop
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
    {
        text.truncate(at);
    }
    text
}

/// `local:<sha256 of the model files>[+adapter:<sha256 of the adapter files>]`; a `.gguf`
/// model is the one file.
pub fn local_identity(model_dir: &Path, adapter: Option<&Path>) -> Result<String> {
    let mut id = match tunebench_models::gguf::is_gguf(model_dir) {
        true => {
            let dir = model_dir.parent().unwrap_or(Path::new("."));
            format!("local:{}", hash_files(dir, vec![model_dir.to_path_buf()])?)
        }
        false => format!("local:{}", hash_model_dir(model_dir)?),
    };
    if let Some(adapter) = adapter {
        let files = ADAPTER_FILES.iter().map(|f| adapter.join(f)).collect();
        id.push_str(&format!("+adapter:{}", hash_files(adapter, files)?));
    }
    Ok(id)
}

/// [`hash_files`] of an HF folder's config, tokenizer and weight files.
fn hash_model_dir(model_dir: &Path) -> Result<String> {
    let mut files: Vec<PathBuf> = MODEL_FILES.iter().map(|f| model_dir.join(f)).collect();
    let entries = std::fs::read_dir(model_dir).map_err(|source| EvalError::Io {
        path: model_dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json") {
            files.push(entry.path());
        }
    }
    hash_files(model_dir, files)
}

/// sha256 over `name \0 sha256(content) \n` of each existing file, sorted by name, so the
/// digest does not depend on where the directory lives.
fn hash_files(dir: &Path, mut files: Vec<PathBuf>) -> Result<String> {
    files.sort();
    files.dedup();
    let mut outer = Sha256::new();
    let mut weights = 0;
    for path in files {
        if !path.is_file() {
            continue; // optional file (chat template, tokenizer config)
        }
        // Weights are read once, then known by size and modification time.
        let sha =
            tunebench_core::hash_cache::sha256_cached(&path).map_err(|source| EvalError::Io {
                path: path.clone(),
                source,
            })?;
        let name = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy();
        if name.ends_with(".safetensors") || tunebench_models::gguf::is_gguf(Path::new(&*name)) {
            weights += 1;
        }
        outer.update(name.as_bytes());
        outer.update([0]);
        outer.update(sha.as_bytes());
        outer.update(b"\n");
    }
    if weights == 0 {
        return Err(EvalError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no *.safetensors file here\nhint: point model_dir (or adapter) at a Hugging Face / PEFT directory, or model_dir at a .gguf file",
            ),
        });
    }
    Ok(hex::encode(outer.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    #[test]
    fn plain_prompt_joins_system_and_turns() {
        let req = ChatRequest {
            system: Some("Be brief.".into()),
            messages: vec![
                Message {
                    role: Role::User,
                    content: "2+2?".into(),
                },
                Message {
                    role: Role::Assistant,
                    content: "4".into(),
                },
                Message {
                    role: Role::User,
                    content: "3+3?".into(),
                },
            ],
            sampling: Sampling::default(),
            scoring: None,
        };
        assert_eq!(plain_prompt(&req), "Be brief.\n\n2+2?\n\n4\n\n3+3?");
    }

    #[test]
    fn stop_strings_cut_at_the_earliest() {
        let stop = vec!["\n".to_string(), "END".to_string()];
        assert_eq!(cut_at_stop("abc END\nx".into(), &stop), "abc ");
        assert_eq!(cut_at_stop("abc".into(), &stop), "abc");
    }
}
