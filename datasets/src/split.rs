//! Deterministic train / validation / test assignment.
//!
//! Each record's place comes from a seeded hash of its cleaned content, so the split is the
//! same on every machine and adding rows never moves an old one. With `stratify_by`, each
//! label's records are ordered by that hash and cut by rank, so every label keeps the
//! requested proportions exactly; the price is that new rows of a label can shift that
//! label's boundary by a record or two.

use std::collections::HashMap;

pub use crate::targets::Split;

/// Where the record with hash `key` goes (unstratified).
pub fn assign(key: u64, validation: f64, test: f64) -> Split {
    // The top 53 bits as a uniform fraction in [0, 1).
    let u = (key >> 11) as f64 / (1u64 << 53) as f64;
    if u < test {
        Split::Test
    } else if u < test + validation {
        Split::Validation
    } else {
        Split::Train
    }
}

/// Stratified assignment: `items` are `(label, key)`; returns one split per item.
pub fn assign_stratified(items: &[(Option<&str>, u64)], validation: f64, test: f64) -> Vec<Split> {
    let mut groups: HashMap<Option<&str>, Vec<usize>> = HashMap::new();
    for (i, (label, _)) in items.iter().enumerate() {
        groups.entry(*label).or_default().push(i);
    }
    let mut out = vec![Split::Train; items.len()];
    for members in groups.values_mut() {
        members.sort_by_key(|&i| (items[i].1, i));
        let n = members.len() as f64;
        let n_test = (n * test).round() as usize;
        let n_val = (n * validation).round() as usize;
        for (rank, &i) in members.iter().enumerate() {
            out[i] = if rank < n_test {
                Split::Test
            } else if rank < n_test + n_val {
                Split::Validation
            } else {
                Split::Train
            };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(x: u64) -> u64 {
        tunebench_core::SplitMix64(x).next_u64()
    }

    #[test]
    fn proportions_follow_the_fractions() {
        let counts = (0..100_000u64).fold([0usize; 3], |mut c, i| {
            match assign(mix(i), 0.1, 0.2) {
                Split::Train => c[0] += 1,
                Split::Validation => c[1] += 1,
                Split::Test => c[2] += 1,
            }
            c
        });
        assert!((counts[1] as f64 / 1e5 - 0.1).abs() < 0.01, "{counts:?}");
        assert!((counts[2] as f64 / 1e5 - 0.2).abs() < 0.01, "{counts:?}");
    }

    #[test]
    fn stratified_split_keeps_each_label_in_proportion() {
        let items: Vec<(Option<&str>, u64)> = (0..200u64)
            .map(|i| (Some(if i % 4 == 0 { "rare" } else { "common" }), mix(i)))
            .collect();
        let splits = assign_stratified(&items, 0.1, 0.1);
        let count = |label: &str, s: Split| {
            items
                .iter()
                .zip(&splits)
                .filter(|((l, _), x)| *l == Some(label) && **x == s)
                .count()
        };
        assert_eq!(count("rare", Split::Test), 5);
        assert_eq!(count("rare", Split::Validation), 5);
        assert_eq!(count("common", Split::Test), 15);
        assert_eq!(count("common", Split::Train), 120);
    }
}
