//! Causal language-model loss over target tokens only.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::batch::Batch;

/// Summed cross-entropy of the batch's target tokens divided by `norm`.
///
/// `norm` is the number of target tokens in the whole gradient-accumulation window, so
/// that the micro-batch losses of one optimizer step add up to the mean over that window
/// (as PyTorch's `cross_entropy(reduction="mean")` over the concatenated window), however
/// the tokens fall into micro-batches.
///
/// # Shapes
///
/// - logits: `[rows, seq, vocab]`
/// - output: `[1]`
pub fn causal_lm_loss(logits: Tensor<3>, batch: &Batch, norm: usize) -> Tensor<1> {
    let [rows, seq, _] = logits.dims();
    let device = logits.device();
    // Position t predicts token t + 1.
    let next: Vec<i64> = (0..rows)
        .flat_map(|r| batch.ids[r * seq + 1..(r + 1) * seq].iter().copied())
        .collect();
    let next = Tensor::<3, Int>::from_data(TensorData::new(next, [rows, seq - 1, 1]), &device);
    let weights = Tensor::<2>::from_data(
        TensorData::new(batch.weights.clone(), [rows, seq - 1]),
        &device,
    );
    let logp = log_softmax(logits.narrow(1, 0, seq - 1), 2); // [rows, seq-1, vocab]
    let picked = logp.gather(2, next).reshape([rows, seq - 1]);
    (picked * weights)
        .sum()
        .neg()
        .div_scalar(norm.max(1) as f64)
}
