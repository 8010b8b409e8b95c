//! Causal language-model loss over target tokens only.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use tunebench_models::Llama;

use crate::batch::Batch;
use crate::error::Result;

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
    let seq = batch.seq;
    let (mut at, mut next) = (Vec::new(), Vec::new());
    for (i, &w) in batch.weights.iter().enumerate() {
        if w > 0.0 {
            let (r, t) = (i / (seq - 1), i % (seq - 1));
            at.push(r * seq + t);
            next.push(batch.ids[r * seq + t + 1]);
        }
    }
    let weight = match at.is_empty() {
        true => {
            (at, next) = (vec![0], vec![0]);
            0.0
        }
        false => 1.0,
    };
    let device = model.device();
    let ids = Tensor::<2, Int>::from_data(
        TensorData::new(batch.ids.clone(), [batch.rows, seq]),
        &device,
    );
    let n = at.len();
    let logits = model.forward_segments_at(ids, &batch.segments, &at)?; // [n, vocab]
    let next = Tensor::<2, Int>::from_data(TensorData::new(next, [n, 1]), &device);
    let picked = log_softmax(logits, 1).gather(1, next); // [n, 1]
    Ok(picked
        .sum()
        .mul_scalar(-weight)
        .div_scalar(norm.max(1) as f64))
}
