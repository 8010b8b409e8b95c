//! Causal language-model loss over target tokens only, and its gradients: in one backward
//! pass over the whole graph, or with gradient checkpointing, a decoder layer at a time.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use tunebench_models::Llama;

use crate::batch::{Batch, Rng};
use crate::error::{Result, TrainError};
use crate::optim::{self, Named};

/// Summed cross-entropy of the batch's target tokens divided by `norm`.
///
/// `norm` is the number of target tokens in the whole gradient-accumulation window, so
/// that the micro-batch losses of one optimizer step add up to the mean over that window
/// (as PyTorch's `cross_entropy(reduction="mean")` over the concatenated window), however
/// the tokens fall into micro-batches.
///
/// The output head runs only at the positions that predict a target token (position `t`
/// predicts token `t + 1`): on a prompt/completion data set most positions are prompt, and
/// the head over a real vocabulary (49k–150k) is a large share of a step. A batch without
/// a target computes the head at its first position and weighs it 0, so the loss stays part
/// of the graph.
///
/// # Shapes
///
/// - output: `[1]`
pub fn causal_lm_loss(model: &Llama, batch: &Batch, norm: usize) -> Result<Tensor<1>> {
    let targets = Targets::of(batch);
    let logits =
        model.forward_segments_at(input_ids(model, batch), &batch.segments, &targets.at)?;
    Ok(targets.loss(model, logits, norm))
}

/// [`causal_lm_loss`]'s value and the gradients of the model's trainable parameters.
///
/// With `recompute` (`gradient_checkpointing = true`), the autodiff graph of one decoder
/// layer is held at a time instead of the whole stack's:
///
/// 1. The forward pass runs on a copy of the model that requires no gradient, so Burn
///    records nothing, and keeps only the input `[batch, seq, hidden]` of each layer from
///    the lowest trainable one up.
/// 2. The loss is differentiated with respect to the last layer's output (the final norm
///    and the head have their graph; their parameters get their gradients here).
/// 3. From the top down, each of those layers runs again from its saved input, with
///    autodiff, and `sum(layer(x) · g)` is differentiated, `g` being the gradient of the
///    layer's output: that is the vector-Jacobian product, which gives the layer's
///    parameter gradients and `∂loss/∂x`, the `g` of the layer below. With trainable
///    embeddings (full fine-tuning), the embedding lookup is differentiated last the same way.
///
/// Layers below the lowest trainable one never run backward, with or without `recompute`.
/// The price is a second forward pass of the layers from the lowest trainable one up.
/// Dropout draws from the device's generator seeded by `(seed, layer)` in both runs of a
/// layer, so both see the same mask; without `recompute` the generator is seeded by `seed`
/// once, so the two modes draw different (equally valid) masks.
pub fn loss_and_gradients(
    model: &Llama,
    batch: &Batch,
    norm: usize,
    seed: u64,
    recompute: bool,
) -> Result<(f64, Named)> {
    let device = model.device();
    if !recompute {
        device.seed(seed);
        let loss = causal_lm_loss(model, batch, norm)?;
        let value = f64::from(loss.clone().into_scalar::<f32>());
        return Ok((value, optim::gradients(model, &loss.backward())));
    }
    let ids = input_ids(model, batch);
    let pass = model.segment_pass([batch.rows, batch.seq], &batch.segments)?;
    let layers = model.model.layers.len();
    let embeddings_train = model.model.embed_tokens.weight.val().is_require_grad();
    let lowest = match embeddings_train {
        true => 0,
        false => (0..layers)
            .find(|&l| !optim::trainable(&model.model.layers[l]).is_empty())
            .unwrap_or(layers),
    };
    let seed_layer = |l: usize| device.seed(Rng::derive(seed, l as u64).0);

    // 1. Forward without a graph, keeping the inputs of the layers that run backward.
    let frozen = model.clone().no_grad();
    let mut x = frozen.embed(ids.clone());
    let mut inputs = Vec::with_capacity(layers - lowest);
    for l in 0..layers {
        if l >= lowest {
            inputs.push(x.clone());
        }
        seed_layer(l);
        x = frozen.decoder_layer(l, x, &pass);
    }
    drop(frozen);

    // 2. The head and the loss, differentiated down to the last layer's output.
    let last = x.detach().require_grad();
    let targets = Targets::of(batch);
    let loss = targets.loss(model, model.head_at(last.clone(), &targets.at)?, norm);
    let value = f64::from(loss.clone().into_scalar::<f32>());
    let g = loss.backward();
    let mut grads = optim::gradients(model, &g);
    let mut upstream = last.grad(&g);

    // 3. Each layer again, top down, against the gradient of its output.
    for l in (lowest..layers).rev() {
        let input = inputs.pop().map(|x| x.detach().require_grad());
        let (Some(input), Some(g_out)) = (input, upstream.take()) else {
            return Err(missing_gradient(l));
        };
        seed_layer(l);
        let out = model.decoder_layer(l, input.clone(), &pass);
        let g = (out * Tensor::from_inner(g_out)).sum().backward();
        optim::accumulate(&mut grads, optim::gradients(model, &g));
        upstream = input.grad(&g);
    }
    if embeddings_train {
        let g_out = upstream.ok_or_else(|| missing_gradient(0))?;
        let g = (model.embed(ids) * Tensor::from_inner(g_out))
            .sum()
            .backward();
        optim::accumulate(&mut grads, optim::gradients(model, &g));
    }
    Ok((value, grads))
}

/// The error for a gradient that the backward pass of layer `l` should have produced.
fn missing_gradient(l: usize) -> TrainError {
    TrainError::Config(format!(
        "gradient checkpointing: no gradient reached the input of decoder layer {l} (a bug: please report it)"
    ))
}

/// The batch's token ids on the model's device.
///
/// # Shapes
///
/// - output: `[rows, seq]`
fn input_ids(model: &Llama, batch: &Batch) -> Tensor<2, Int> {
    Tensor::from_data(
        TensorData::new(batch.ids.clone(), [batch.rows, batch.seq]),
        &model.device(),
    )
}

/// The positions of a batch that predict a target token, and the tokens they predict.
struct Targets {
    /// Row-major indices into `[rows · seq]`.
    at: Vec<usize>,
    /// The token after each of them.
    next: Vec<i64>,
    /// 1, or 0 for a batch without a target (then `at` is its first position).
    weight: f64,
}

impl Targets {
    fn of(batch: &Batch) -> Self {
        let seq = batch.seq;
        let (mut at, mut next) = (Vec::new(), Vec::new());
        for (i, &w) in batch.weights.iter().enumerate() {
            if w > 0.0 {
                let (r, t) = (i / (seq - 1), i % (seq - 1));
                at.push(r * seq + t);
                next.push(batch.ids[r * seq + t + 1]);
            }
        }
        match at.is_empty() {
            true => Targets {
                at: vec![0],
                next: vec![0],
                weight: 0.0,
            },
            false => Targets {
                at,
                next,
                weight: 1.0,
            },
        }
    }

    /// The summed negative log-likelihood of the targets under `logits` (`[at.len(),
    /// vocab]`), weighted and divided by `norm`.
    fn loss(&self, model: &Llama, logits: Tensor<2>, norm: usize) -> Tensor<1> {
        let n = self.at.len();
        let next = Tensor::<2, Int>::from_data(
            TensorData::new(self.next.clone(), [n, 1]),
            &model.device(),
        );
        log_softmax(logits, 1)
            .gather(1, next)
            .sum()
            .mul_scalar(-self.weight)
            .div_scalar(norm.max(1) as f64)
    }
}
