//! The order examples are seen in, and how they are laid out in padded or packed rows.
//!
//! Each epoch's plan is a pure function of `(seed, epoch)`, so a resumed run replays the
//! same batches from a saved position. Without packing, batches group examples of similar
//! length (shuffle, then sort within windows of 32 batches, then shuffle the batches) to
//! waste little on padding; with packing, examples are laid end to end in rows of
//! `max_seq_len` tokens and told apart by segment numbers.

use crate::data::Example;

/// The seeded generator of data order and dropout seeds; its state is one `u64`, which
/// checkpoints store.
pub use tunebench_core::SplitMix64 as Rng;

/// Rows of example indices: one micro-batch.
pub type Plan = Vec<Vec<usize>>;

/// The micro-batches of one epoch.
pub fn epoch_plan(
    examples: &[Example],
    batch_size: usize,
    max_seq_len: usize,
    packing: bool,
    seed: u64,
    epoch: usize,
) -> Vec<Plan> {
    let mut rng = Rng::derive(seed, 1 + epoch as u64);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    rng.shuffle(&mut order);
    if packing {
        let rows = pack(&order, examples, max_seq_len);
        rows.chunks(batch_size).map(<[_]>::to_vec).collect()
    } else {
        let window = batch_size * 32;
        let mut batches: Vec<Plan> = Vec::new();
        for chunk in order.chunks_mut(window) {
            chunk.sort_by_key(|&i| std::cmp::Reverse(examples[i].ids.len()));
            batches.extend(
                chunk
                    .chunks(batch_size)
                    .map(|b| b.iter().map(|&i| vec![i]).collect()),
            );
        }
        rng.shuffle(&mut batches);
        batches
    }
}

/// Greedy packing in the given order: an example starts a new row when it does not fit in
/// the current one.
fn pack(order: &[usize], examples: &[Example], max_seq_len: usize) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = max_seq_len; // forces a first row
    for &i in order {
        let len = examples[i].ids.len();
        if used + len > max_seq_len {
            rows.push(Vec::new());
            used = 0;
        }
        if let Some(row) = rows.last_mut() {
            row.push(i);
        }
        used += len;
    }
    rows
}

/// A micro-batch as the model takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Rows.
    pub rows: usize,
    /// Positions per row.
    pub seq: usize,
    /// `[rows · seq]` token ids, padding 0.
    pub ids: Vec<i64>,
    /// `[rows · seq]` sequence number within the row, 0 for padding.
    pub segments: Vec<u32>,
    /// `[rows · (seq - 1)]`: 1 where position `t` predicts a target token at `t + 1`.
    pub weights: Vec<f32>,
    /// Number of target tokens (the sum of `weights`).
    pub targets: usize,
    /// Number of real (non-padding) tokens.
    pub tokens: usize,
}

impl Batch {
    /// Lays out the examples of `plan`; rows are padded on the right to the longest.
    pub fn build(plan: &Plan, examples: &[Example]) -> Batch {
        let seq = plan
            .iter()
            .map(|row| row.iter().map(|&i| examples[i].ids.len()).sum::<usize>())
            .max()
            .unwrap_or(0)
            .max(2);
        let rows = plan.len();
        let mut ids = vec![0i64; rows * seq];
        let mut segments = vec![0u32; rows * seq];
        let mut target = vec![false; rows * seq];
        for (r, row) in plan.iter().enumerate() {
            let mut at = r * seq;
            for (s, &i) in row.iter().enumerate() {
                let ex = &examples[i];
                for (j, (&id, &t)) in ex.ids.iter().zip(&ex.target).enumerate() {
                    ids[at + j] = i64::from(id);
                    segments[at + j] = s as u32 + 1;
                    target[at + j] = t;
                }
                at += ex.ids.len();
            }
        }
        let mut weights = Vec::with_capacity(rows * (seq - 1));
        for r in 0..rows {
            for t in 0..seq - 1 {
                let (here, next) = (r * seq + t, r * seq + t + 1);
                // An example's first token is never a target, so a target's predecessor
                // always belongs to the same sequence.
                weights.push(if target[next] { 1.0 } else { 0.0 });
                debug_assert!(!target[next] || segments[here] == segments[next]);
            }
        }
        let targets = target.iter().filter(|&&t| t).count();
        let tokens = segments.iter().filter(|&&s| s != 0).count();
        Batch {
            rows,
            seq,
            ids,
            segments,
            weights,
            targets,
            tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(len: usize) -> Example {
        Example {
            ids: (1..=len as u32).collect(),
            target: (0..len).map(|i| i > 0).collect(),
        }
    }

    #[test]
    fn plan_is_a_function_of_seed_and_epoch() {
        let examples: Vec<_> = (1..50).map(|n| ex(n % 7 + 2)).collect();
        let a = epoch_plan(&examples, 4, 64, false, 7, 0);
        assert_eq!(a, epoch_plan(&examples, 4, 64, false, 7, 0));
        assert_ne!(a, epoch_plan(&examples, 4, 64, false, 7, 1));
        assert_ne!(a, epoch_plan(&examples, 4, 64, false, 8, 0));
        // Every example exactly once.
        let mut seen: Vec<usize> = a.iter().flatten().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..examples.len()).collect::<Vec<_>>());
    }

    #[test]
    fn length_grouping_reduces_padding() {
        let examples: Vec<_> = (0..256).map(|n| ex(2 + (n * 37) % 60)).collect();
        let padding = |plans: &[Plan]| -> usize {
            plans
                .iter()
                .map(|p| {
                    let b = Batch::build(p, &examples);
                    b.rows * b.seq - b.tokens
                })
                .sum()
        };
        let grouped = epoch_plan(&examples, 8, 64, false, 1, 0);
        let mut order: Vec<usize> = (0..examples.len()).collect();
        Rng(1).shuffle(&mut order);
        let random: Vec<Plan> = order
            .chunks(8)
            .map(|c| c.iter().map(|&i| vec![i]).collect())
            .collect();
        assert!(padding(&grouped) * 3 < padding(&random));
    }

    #[test]
    fn packing_fills_rows_and_numbers_segments() {
        let examples = vec![ex(3), ex(4), ex(5)];
        let rows = pack(&[0, 1, 2], &examples, 8);
        assert_eq!(rows, vec![vec![0, 1], vec![2]]);
        let b = Batch::build(&rows, &examples);
        assert_eq!(b.seq, 7);
        assert_eq!(&b.segments[..7], &[1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(&b.segments[7..], &[1, 1, 1, 1, 1, 0, 0]);
        // Row 0 predicts tokens 1, 2 of example 0 and 1, 2, 3 of example 1; the first token
        // of example 1 (position 3) is not predicted from example 0's last token.
        assert_eq!(&b.weights[..6], &[1.0, 1.0, 0.0, 1.0, 1.0, 1.0]);
        assert_eq!(b.targets, 2 + 3 + 4);
        assert_eq!(b.tokens, 12);
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = Rng(3);
        let mut hit = [false; 5];
        for _ in 0..200 {
            hit[rng.below(5)] = true;
        }
        assert!(hit.iter().all(|&h| h));
    }
}
