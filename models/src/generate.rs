//! Scoring (per-token log-probabilities, summed negative log-likelihood) and generation
//! (greedy or sampled, with a KV cache) on token ids.
//!
//! Conventions follow transformers: the log-probability of token `i` is read from the logits
//! at position `i - 1`, so a sequence of `n` tokens has `n - 1` scored tokens and the first
//! (usually BOS) is only context. Greedy decoding takes the first maximal logit, as
//! `torch.argmax` does. Sampling follows `TemperatureLogitsWarper`, `TopKLogitsWarper` and
//! `TopPLogitsWarper`, in that order, with a seeded generator of its own (SplitMix64), so a
//! seed reproduces a sample on any machine.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use tunebench_core::SplitMix64;

use crate::error::{ModelError, Result};
use crate::llama::{Llama, Logits};
use crate::weights::tensor_to_f32;

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    /// The most likely token.
    Greedy,
    /// A random token from the filtered, temperature-scaled distribution.
    Sample {
        /// Divides the logits; must be positive.
        temperature: f32,
        /// Keep only the `k` most likely tokens.
        top_k: Option<usize>,
        /// Keep the smallest set of most likely tokens whose probability reaches `p`.
        top_p: Option<f32>,
        /// Seed of the generator.
        seed: u64,
    },
}

/// Settings of one generation call.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Most tokens to generate per sequence.
    pub max_new_tokens: usize,
    /// Token choice.
    pub sampling: Sampling,
    /// Generation of a row stops after one of these (included in the output).
    pub eos_token_ids: Vec<u32>,
    /// Generation of a row stops once its output ends with one of these (included).
    pub stop_sequences: Vec<Vec<u32>>,
    /// Decode incrementally with a KV cache (the default); without it every step reruns the
    /// whole sequence, which exists to check the cache.
    pub use_cache: bool,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 64,
            sampling: Sampling::Greedy,
            eos_token_ids: Vec::new(),
            stop_sequences: Vec::new(),
            use_cache: true,
        }
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// It produced an end-of-sequence token.
    Eos,
    /// Its output ended with a stop sequence.
    Stop,
    /// It reached `max_new_tokens`, or prompt and output filled the model's context.
    Length,
}

/// The output of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The new tokens (prompt excluded).
    pub tokens: Vec<u32>,
    /// Why generation stopped.
    pub finish: FinishReason,
}

/// Log-probability of each token given the ones before it: `ids.len() - 1` values.
pub fn token_logprobs(model: &Llama, ids: &[u32]) -> Result<Vec<f32>> {
    Ok(token_logprobs_batch(model, &[ids.to_vec()])?.remove(0))
}

/// Summed negative log-likelihood of tokens `1..n` given their prefixes.
pub fn nll_sum(model: &Llama, ids: &[u32]) -> Result<f64> {
    Ok(-token_logprobs(model, ids)?
        .iter()
        .map(|&l| f64::from(l))
        .sum::<f64>())
}

/// [`token_logprobs`] for several sequences in one right-padded batch.
pub fn token_logprobs_batch(model: &Llama, batch: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
    check_ids(model, batch)?;
    let seq = batch.iter().map(Vec::len).max().unwrap_or(0);
    if seq < 2 {
        return Ok(batch.iter().map(|_| Vec::new()).collect());
    }
    let (ids, mask) = pad(batch, seq, Side::Right);
    let device = model.device();
    let logits = model.forward_with(
        Tensor::from_data(TensorData::new(ids.clone(), [batch.len(), seq]), &device),
        (mask.iter().any(|v| !v)).then_some(mask.as_slice()),
        None,
        Logits::All,
    )?; // [batch, seq, vocab]
    let logprobs = log_softmax(logits.narrow(1, 0, seq - 1), 2); // [batch, seq - 1, vocab]
    let targets: Vec<i64> = (0..batch.len())
        .flat_map(|r| ids[r * seq + 1..(r + 1) * seq].to_vec())
        .collect();
    let targets =
        Tensor::<3, Int>::from_data(TensorData::new(targets, [batch.len(), seq - 1, 1]), &device);
    let picked = tensor_to_f32(logprobs.gather(2, targets))?; // [batch, seq - 1, 1]
    Ok(batch
        .iter()
        .enumerate()
        .map(|(r, row)| picked[r * (seq - 1)..r * (seq - 1) + row.len().saturating_sub(1)].to_vec())
        .collect())
}

/// Summed log-probability of `continuation` after `context` (multiple-choice scoring), and
/// whether every continuation token was the greedy choice.
pub fn continuation_logprob(
    model: &Llama,
    context: &[u32],
    continuation: &[u32],
) -> Result<(f64, bool)> {
    if context.is_empty() {
        return Err(ModelError::InvalidInput("empty context".to_string()));
    }
    let ids = [context, continuation].concat();
    check_ids(model, std::slice::from_ref(&ids))?;
    let device = model.device();
    let n = ids.len();
    let logits = model.forward(Tensor::from_data(
        TensorData::new(
            ids.iter().map(|&t| i64::from(t)).collect::<Vec<_>>(),
            [1, n],
        ),
        &device,
    ));
    let start = context.len() - 1;
    let logprobs = tensor_to_f32(log_softmax(logits.narrow(1, start, continuation.len()), 2))?;
    let vocab = model.config.vocab_size;
    let mut total = 0.0;
    let mut greedy = true;
    for (i, &tok) in continuation.iter().enumerate() {
        let row = &logprobs[i * vocab..(i + 1) * vocab];
        total += f64::from(row[tok as usize]);
        greedy &= argmax(row) == tok as usize;
    }
    Ok((total, greedy))
}

/// Most logits one forward pass of [`choice_logprobs`] materialises (64 Mi floats, 256 MiB):
/// the choices are scored in as many row chunks as this takes.
const CHOICE_LOGITS_BUDGET: usize = 64 << 20;

/// The log-probability of one continuation of a shared context.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChoiceLogprob {
    /// Summed log-probability of the continuation's tokens given the context.
    pub logprob: f64,
    /// Number of continuation tokens.
    pub tokens: usize,
}

/// Summed log-probability of each of `choices` after `context` (multiple-choice scoring),
/// equal to [`continuation_logprob`] of each choice, but with the context's work done once:
/// the context runs through the model once (one row, filling a KV cache, logits of its last
/// position only, which score every choice's first token); the cache is then copied to one
/// row per choice and the choices' remaining tokens run as one right-padded, masked batch
/// (in chunks of rows when `choices × longest × vocab` logits would exceed 256 MiB).
///
/// A choice of `k` tokens costs `k - 1` positions; 77 one- or two-token labels after a
/// 200-token prompt cost about 277 positions instead of 77 × 201.
pub fn choice_logprobs(
    model: &Llama,
    context: &[u32],
    choices: &[Vec<u32>],
) -> Result<Vec<ChoiceLogprob>> {
    if context.is_empty() {
        return Err(ModelError::InvalidInput("empty context".to_string()));
    }
    if let Some(i) = choices.iter().position(Vec::is_empty) {
        return Err(ModelError::InvalidInput(format!(
            "choice {i} has no tokens"
        )));
    }
    check_ids(model, std::slice::from_ref(&context.to_vec()))?;
    check_ids(model, choices)?;
    let device = model.device();
    let vocab = model.config.vocab_size;
    let mut cache = model.new_cache(1);
    let last = model.forward_with(
        Tensor::from_data(
            TensorData::new(
                context.iter().map(|&t| i64::from(t)).collect::<Vec<_>>(),
                [1, context.len()],
            ),
            &device,
        ),
        None,
        Some(&mut cache),
        Logits::Last,
    )?; // [1, 1, vocab]
    let first = tensor_to_f32(log_softmax(last, 2))?; // the first token of every choice
    let mut out: Vec<ChoiceLogprob> = choices
        .iter()
        .map(|c| ChoiceLogprob {
            logprob: f64::from(first[c[0] as usize]),
            tokens: c.len(),
        })
        .collect();

    // The rest: row r feeds choice r's tokens 0..k-1 and reads the log-probs of 1..k.
    let rest: Vec<usize> = (0..choices.len())
        .filter(|&i| choices[i].len() > 1)
        .collect();
    let width = rest
        .iter()
        .map(|&i| choices[i].len() - 1)
        .max()
        .unwrap_or(0);
    if width == 0 {
        return Ok(out);
    }
    let rows_per_pass = (CHOICE_LOGITS_BUDGET / (width * vocab)).max(1);
    for chunk in rest.chunks(rows_per_pass) {
        let inputs: Vec<Vec<u32>> = chunk
            .iter()
            .map(|&i| choices[i][..choices[i].len() - 1].to_vec())
            .collect();
        let targets: Vec<Vec<u32>> = chunk.iter().map(|&i| choices[i][1..].to_vec()).collect();
        let (ids, mask) = pad(&inputs, width, Side::Right);
        let (targets, _) = pad(&targets, width, Side::Right);
        let rows = chunk.len();
        let mut rows_cache = cache.repeat_row(rows)?;
        let logits = model.forward_with(
            Tensor::from_data(TensorData::new(ids, [rows, width]), &device),
            mask.iter().any(|v| !v).then_some(mask.as_slice()),
            Some(&mut rows_cache),
            Logits::All,
        )?; // [rows, width, vocab]
        let targets =
            Tensor::<3, Int>::from_data(TensorData::new(targets, [rows, width, 1]), &device);
        let picked = tensor_to_f32(log_softmax(logits, 2).gather(2, targets))?; // [rows, width, 1]
        for (r, &i) in chunk.iter().enumerate() {
            let n = choices[i].len() - 1;
            out[i].logprob += picked[r * width..r * width + n]
                .iter()
                .map(|&l| f64::from(l))
                .sum::<f64>();
        }
    }
    Ok(out)
}

/// Generates a continuation of one prompt.
pub fn generate(model: &Llama, prompt: &[u32], config: &GenerationConfig) -> Result<Generation> {
    Ok(generate_batch(model, &[prompt.to_vec()], config)?.remove(0))
}

/// Generates continuations of several prompts together; shorter prompts are left-padded
/// (and masked), so every row computes what it would alone.
pub fn generate_batch(
    model: &Llama,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
) -> Result<Vec<Generation>> {
    check_ids(model, prompts)?;
    if prompts.is_empty() {
        return Ok(Vec::new());
    }
    if prompts.iter().any(Vec::is_empty) {
        return Err(ModelError::InvalidInput("empty prompt".to_string()));
    }
    if let Sampling::Sample {
        temperature, top_p, ..
    } = &config.sampling
    {
        if !(temperature.is_finite() && *temperature > 0.0) {
            return Err(ModelError::InvalidInput(format!(
                "temperature must be positive, got {temperature}"
            )));
        }
        if let Some(p) = top_p
            && !(*p > 0.0 && *p <= 1.0)
        {
            return Err(ModelError::InvalidInput(format!(
                "top_p must be in (0, 1], got {p}"
            )));
        }
    }
    let batch = prompts.len();
    let device = model.device();
    let width = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let (mut ids, mut mask) = pad(prompts, width, Side::Left);
    let mut rng = match config.sampling {
        Sampling::Sample { seed, .. } => SplitMix64(seed),
        Sampling::Greedy => SplitMix64(0),
    };
    let mut cache = config.use_cache.then(|| model.new_cache(batch));
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); batch];
    // A row ends with `Length` once prompt + output fill the model's context.
    let context = model.config.max_position_embeddings;
    let mut finish: Vec<Option<FinishReason>> = prompts
        .iter()
        .map(|p| (p.len() >= context).then_some(FinishReason::Length))
        .collect();
    let steps = if finish.iter().all(Option::is_some) {
        0
    } else {
        config.max_new_tokens
    };
    let mut step_ids = ids.clone();
    let mut step_mask = mask.clone();
    let mut len = width;

    for _ in 0..steps {
        let step_len = step_ids.len() / batch;
        let input = Tensor::from_data(
            TensorData::new(step_ids.clone(), [batch, step_len]),
            &device,
        );
        let any_pad = step_mask.iter().any(|v| !v) || mask.iter().any(|v| !v);
        let logits = model.forward_with(
            input,
            any_pad.then_some(step_mask.as_slice()),
            cache.as_mut(),
            Logits::Last,
        )?; // [batch, 1, vocab]
        let logits = tensor_to_f32(logits)?;
        let vocab = logits.len() / batch;
        let mut next = Vec::with_capacity(batch);
        for r in 0..batch {
            let row = &logits[r * vocab..(r + 1) * vocab];
            let tok = match &config.sampling {
                Sampling::Greedy => argmax(row),
                Sampling::Sample {
                    temperature,
                    top_k,
                    top_p,
                    ..
                } => sample(row, *temperature, *top_k, *top_p, &mut rng),
            } as u32;
            if finish[r].is_none() {
                out[r].push(tok);
                if config.eos_token_ids.contains(&tok) {
                    finish[r] = Some(FinishReason::Eos);
                } else if config
                    .stop_sequences
                    .iter()
                    .any(|s| !s.is_empty() && out[r].ends_with(s))
                {
                    finish[r] = Some(FinishReason::Stop);
                } else if prompts[r].len() + out[r].len() >= context {
                    finish[r] = Some(FinishReason::Length);
                }
            }
            next.push(i64::from(tok));
        }
        if finish.iter().all(Option::is_some) {
            break;
        }
        // Finished rows keep decoding (their tokens are discarded) so the batch stays square.
        len += 1;
        let mut grown_ids = Vec::with_capacity(batch * len);
        let mut grown_mask = Vec::with_capacity(batch * len);
        for r in 0..batch {
            grown_ids.extend_from_slice(&ids[r * (len - 1)..(r + 1) * (len - 1)]);
            grown_ids.push(next[r]);
            grown_mask.extend_from_slice(&mask[r * (len - 1)..(r + 1) * (len - 1)]);
            grown_mask.push(true);
        }
        ids = grown_ids;
        mask = grown_mask;
        if config.use_cache {
            step_ids = next;
            step_mask = vec![true; batch];
        } else {
            step_ids = ids.clone();
            step_mask = mask.clone();
        }
    }
    Ok(out
        .into_iter()
        .zip(finish)
        .map(|(tokens, f)| Generation {
            tokens,
            finish: f.unwrap_or(FinishReason::Length),
        })
        .collect())
}

/// Every id within the vocabulary, and no sequence longer than the model's context
/// (positions past `max_position_embeddings` were never trained: what a model computes there
/// is not to be trusted, so such input is refused rather than silently scored).
fn check_ids(model: &Llama, batch: &[Vec<u32>]) -> Result<()> {
    let vocab = model.config.vocab_size;
    let context = model.config.max_position_embeddings;
    for (r, row) in batch.iter().enumerate() {
        if row.len() > context {
            return Err(ModelError::InvalidInput(format!(
                "sequence {r} is {} tokens, longer than the model's context of {context} tokens (max_position_embeddings in config.json)\nhint: shorten the prompt, or use a model with a longer context",
                row.len()
            )));
        }
        if let Some((i, t)) = row.iter().enumerate().find(|(_, t)| **t as usize >= vocab) {
            return Err(ModelError::InvalidInput(format!(
                "sequence {r}, position {i}: token id {t} is outside the vocabulary (size {vocab})\nhint: the tokenizer does not belong to this model"
            )));
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Side {
    Left,
    Right,
}

/// Pads rows to `width` with id 0: (ids `[batch · width]`, mask with `true` = real token).
fn pad(batch: &[Vec<u32>], width: usize, side: Side) -> (Vec<i64>, Vec<bool>) {
    let mut ids = Vec::with_capacity(batch.len() * width);
    let mut mask = Vec::with_capacity(batch.len() * width);
    for row in batch {
        let fill = width - row.len();
        if let Side::Left = side {
            ids.extend(std::iter::repeat_n(0, fill));
            mask.extend(std::iter::repeat_n(false, fill));
        }
        ids.extend(row.iter().map(|&t| i64::from(t)));
        mask.extend(std::iter::repeat_n(true, row.len()));
        if let Side::Right = side {
            ids.extend(std::iter::repeat_n(0, fill));
            mask.extend(std::iter::repeat_n(false, fill));
        }
    }
    (ids, mask)
}

/// Index of the first maximum (NaN never wins).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Samples from `softmax(logits / temperature)` restricted by top-k, then top-p.
fn sample(
    logits: &[f32],
    temperature: f32,
    top_k: Option<usize>,
    top_p: Option<f32>,
    rng: &mut SplitMix64,
) -> usize {
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if let Some(k) = top_k {
        order.truncate(k.max(1));
    }
    let max = f64::from(logits[order[0]] / temperature);
    let mut probs: Vec<f64> = order
        .iter()
        .map(|&i| (f64::from(logits[i] / temperature) - max).exp())
        .collect();
    let sum: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= sum);
    if let Some(p) = top_p {
        // Keep tokens while the mass before them is below p (always at least one).
        let mut mass = 0.0;
        let keep = probs
            .iter()
            .take_while(|&&q| {
                let before = mass;
                mass += q;
                before < f64::from(p)
            })
            .count()
            .max(1);
        order.truncate(keep);
        probs.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut u = rng.next_f64() * total;
    for (i, q) in order.iter().zip(&probs) {
        if u < *q {
            return *i;
        }
        u -= q;
    }
    order[order.len() - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 1.0]), 0);
    }

    #[test]
    fn top_k_one_and_tiny_top_p_are_greedy() {
        let logits = [0.1, 2.0, 1.9, -1.0];
        let mut rng = SplitMix64(7);
        for _ in 0..20 {
            assert_eq!(sample(&logits, 1.0, Some(1), None, &mut rng), 1);
            assert_eq!(sample(&logits, 1.0, None, Some(1e-6), &mut rng), 1);
        }
    }

    #[test]
    fn sampling_follows_the_distribution() {
        // softmax([ln 1, ln 3]) = [0.25, 0.75]
        let logits = [0.0f32, 3f32.ln()];
        let mut rng = SplitMix64(42);
        let n = 20_000;
        let ones = (0..n)
            .filter(|_| sample(&logits, 1.0, None, None, &mut rng) == 1)
            .count();
        let frac = ones as f64 / n as f64;
        assert!((frac - 0.75).abs() < 0.02, "{frac}");
    }

    #[test]
    fn top_p_drops_the_tail() {
        // probs 0.5, 0.3, 0.2: p = 0.7 keeps the first two (mass before the third is 0.8).
        let logits = [0.5f32.ln(), 0.3f32.ln(), 0.2f32.ln()];
        let mut rng = SplitMix64(1);
        assert!((0..2000).all(|_| sample(&logits, 1.0, None, Some(0.7), &mut rng) != 2));
    }

    #[test]
    fn padding_sides() {
        let (ids, mask) = pad(&[vec![5, 6], vec![7]], 2, Side::Left);
        assert_eq!(ids, vec![5, 6, 0, 7]);
        assert_eq!(mask, vec![true, true, false, true]);
        let (ids, mask) = pad(&[vec![5, 6], vec![7]], 2, Side::Right);
        assert_eq!(ids, vec![5, 6, 7, 0]);
        assert_eq!(mask, vec![true, true, true, false]);
    }
}
