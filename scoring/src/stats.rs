//! Deterministic statistics for comparing evaluation runs.
//!
//! All resampling uses [`Rng`], a self-contained xoshiro256** generator seeded
//! through SplitMix64, so results are bit-for-bit reproducible for a given
//! seed on every platform.

use serde::{Deserialize, Serialize};
use tunebench_core::SplitMix64;

/// Errors of the statistics helpers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    /// No values were given.
    #[error("no values")]
    Empty,
    /// Paired inputs have different lengths.
    #[error("paired inputs differ in length: {left} vs {right}")]
    LengthMismatch {
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
    /// A value is NaN or infinite.
    #[error("value at index {0} is not finite")]
    NonFinite(usize),
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}

/// xoshiro256** pseudo-random generator (Blackman & Vigna), seeded with
/// SplitMix64. Not cryptographically secure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Creates a generator from a 64-bit seed.
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut sm = SplitMix64(seed);
        let s = [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()];
        Self { s }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform `f64` in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` without modulo bias (Lemire's method).
    /// Returns 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }
}

/// Settings for bootstrap resampling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of bootstrap resamples (default 1000).
    pub n_resamples: usize,
    /// RNG seed (default 0).
    pub seed: u64,
    /// Confidence level of the interval (default 0.95).
    pub confidence: f64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            n_resamples: 1000,
            seed: 0,
            confidence: 0.95,
        }
    }
}

impl BootstrapConfig {
    fn validate(&self) -> Result<(), StatsError> {
        if self.n_resamples == 0 {
            return Err(StatsError::InvalidParameter(
                "n_resamples must be >= 1".into(),
            ));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(StatsError::InvalidParameter(format!(
                "confidence must be in (0, 1), got {}",
                self.confidence
            )));
        }
        Ok(())
    }
}

/// A mean with its percentile bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeanCi {
    /// Sample mean.
    pub mean: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
    /// Number of values.
    pub n: usize,
    /// Number of bootstrap resamples used.
    pub n_resamples: usize,
    /// Confidence level.
    pub confidence: f64,
}

fn check_finite(values: &[f64]) -> Result<(), StatsError> {
    if values.is_empty() {
        return Err(StatsError::Empty);
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(StatsError::NonFinite(i)),
        None => Ok(()),
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Quantile of sorted data with linear interpolation between order statistics
/// (NumPy's default `method='linear'`, Hyndman & Fan type 7).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    let frac = h - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Draws `config.n_resamples` resamples of the indices `0..n` (with
/// replacement, `n` draws each) and returns `statistic` of each, in draw order.
fn resample_indices(
    n: usize,
    config: &BootstrapConfig,
    mut statistic: impl FnMut(&[usize]) -> f64,
) -> Vec<f64> {
    let mut rng = Rng::seed_from_u64(config.seed);
    let mut indices = vec![0usize; n];
    (0..config.n_resamples)
        .map(|_| {
            for i in indices.iter_mut() {
                *i = rng.below(n as u64) as usize;
            }
            statistic(&indices)
        })
        .collect()
}

/// Means of `n_resamples` bootstrap resamples (with replacement, same size as
/// `values`) of `values`, sorted ascending.
fn bootstrap_means(values: &[f64], config: &BootstrapConfig) -> Vec<f64> {
    let n = values.len();
    let mut means = resample_indices(n, config, |idx| {
        idx.iter().map(|&i| values[i]).sum::<f64>() / n as f64
    });
    means.sort_by(f64::total_cmp);
    means
}

/// Percentile bootstrap interval `(lower, upper)` of any statistic of `n`
/// examples, e.g. corpus BLEU recomputed from resampled segment statistics.
///
/// `statistic` receives the resampled example indices (`n` of them, drawn
/// with replacement) and returns the statistic of that resample. The same
/// seed draws the same indices as [`bootstrap_mean_ci`], so for the mean the
/// two agree.
///
/// # Errors
/// [`StatsError`] for `n == 0`, a non-finite resampled statistic or invalid
/// settings.
pub fn bootstrap_ci_by(
    n: usize,
    config: &BootstrapConfig,
    statistic: impl FnMut(&[usize]) -> f64,
) -> Result<(f64, f64), StatsError> {
    config.validate()?;
    if n == 0 {
        return Err(StatsError::Empty);
    }
    let mut values = resample_indices(n, config, statistic);
    check_finite(&values)?;
    values.sort_by(f64::total_cmp);
    let alpha = 1.0 - config.confidence;
    Ok((
        quantile_sorted(&values, alpha / 2.0),
        quantile_sorted(&values, 1.0 - alpha / 2.0),
    ))
}

/// Mean of `values` with a percentile bootstrap confidence interval.
///
/// The interval is given by the `(1 - confidence)/2` and `(1 + confidence)/2`
/// quantiles (linear interpolation, see [`quantile_sorted`]) of the means of
/// `config.n_resamples` resamples drawn with replacement.
///
/// # Errors
/// [`StatsError`] for empty or non-finite input or invalid settings.
pub fn bootstrap_mean_ci(values: &[f64], config: &BootstrapConfig) -> Result<MeanCi, StatsError> {
    config.validate()?;
    check_finite(values)?;
    let means = bootstrap_means(values, config);
    let alpha = 1.0 - config.confidence;
    Ok(MeanCi {
        mean: mean(values),
        lower: quantile_sorted(&means, alpha / 2.0),
        upper: quantile_sorted(&means, 1.0 - alpha / 2.0),
        n: values.len(),
        n_resamples: config.n_resamples,
        confidence: config.confidence,
    })
}

/// Result of [`paired_bootstrap`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedBootstrap {
    /// Mean of the first system's scores.
    pub mean_a: f64,
    /// Mean of the second system's scores.
    pub mean_b: f64,
    /// Observed mean difference `mean(a) - mean(b)`.
    pub mean_diff: f64,
    /// Lower end of the percentile interval of the difference.
    pub lower: f64,
    /// Upper end of the percentile interval of the difference.
    pub upper: f64,
    /// Two-sided bootstrap p-value (see [`paired_bootstrap`]).
    pub p_value: f64,
    /// Number of bootstrap resamples used.
    pub n_resamples: usize,
}

/// Paired bootstrap test of two per-example score vectors measured on the same
/// examples (`a[i]` and `b[i]` belong to example `i`).
///
/// Examples are resampled with replacement (the same indices for both
/// systems), giving `B = n_resamples` resampled mean differences `d*`.
/// The interval is the percentile interval of `d*`. With the observed
/// difference `d = mean(a) - mean(b)`, the two-sided p-value is
///
/// `p = min(1, 2 · (1 + #{d* ≤ 0}) / (B + 1))` when `d > 0`,
/// `p = min(1, 2 · (1 + #{d* ≥ 0}) / (B + 1))` when `d < 0`, and `p = 1`
/// when `d = 0`:
///
/// twice the fraction of resampled differences whose sign is opposite to (or
/// zero instead of) the observed one, with the `+1` correction that keeps the
/// p-value away from 0 for a finite number of resamples.
///
/// # Errors
/// [`StatsError`] for different lengths, empty or non-finite input, or
/// invalid settings.
pub fn paired_bootstrap(
    a: &[f64],
    b: &[f64],
    config: &BootstrapConfig,
) -> Result<PairedBootstrap, StatsError> {
    config.validate()?;
    if a.len() != b.len() {
        return Err(StatsError::LengthMismatch {
            left: a.len(),
            right: b.len(),
        });
    }
    check_finite(a)?;
    check_finite(b)?;
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let observed = mean(&diffs);
    let means = bootstrap_means(&diffs, config);
    Ok(paired_result(mean(a), mean(b), observed, means, config))
}

/// [`paired_bootstrap`] for any statistic of the examples: `statistic_a` and
/// `statistic_b` receive the same resampled example indices (`n` of them) and
/// return each system's statistic (e.g. corpus BLEU from summed segment
/// statistics); the difference is `a - b`. The interval and p-value are
/// defined as in [`paired_bootstrap`].
///
/// # Errors
/// [`StatsError`] for `n == 0`, non-finite statistics or invalid settings.
pub fn paired_bootstrap_by(
    n: usize,
    config: &BootstrapConfig,
    mut statistic_a: impl FnMut(&[usize]) -> f64,
    mut statistic_b: impl FnMut(&[usize]) -> f64,
) -> Result<PairedBootstrap, StatsError> {
    config.validate()?;
    if n == 0 {
        return Err(StatsError::Empty);
    }
    let all: Vec<usize> = (0..n).collect();
    let (mean_a, mean_b) = (statistic_a(&all), statistic_b(&all));
    check_finite(&[mean_a, mean_b])?;
    let mut diffs = resample_indices(n, config, |idx| statistic_a(idx) - statistic_b(idx));
    check_finite(&diffs)?;
    diffs.sort_by(f64::total_cmp);
    Ok(paired_result(
        mean_a,
        mean_b,
        mean_a - mean_b,
        diffs,
        config,
    ))
}

/// Interval and two-sided p-value from the sorted resampled differences.
fn paired_result(
    mean_a: f64,
    mean_b: f64,
    observed: f64,
    sorted_diffs: Vec<f64>,
    config: &BootstrapConfig,
) -> PairedBootstrap {
    let alpha = 1.0 - config.confidence;
    let opposite = if observed > 0.0 {
        sorted_diffs.iter().filter(|&&d| d <= 0.0).count()
    } else {
        sorted_diffs.iter().filter(|&&d| d >= 0.0).count()
    };
    let p_value = if observed == 0.0 {
        1.0
    } else {
        (2.0 * (opposite as f64 + 1.0) / (sorted_diffs.len() as f64 + 1.0)).min(1.0)
    };
    PairedBootstrap {
        mean_a,
        mean_b,
        mean_diff: observed,
        lower: quantile_sorted(&sorted_diffs, alpha / 2.0),
        upper: quantile_sorted(&sorted_diffs, 1.0 - alpha / 2.0),
        p_value,
        n_resamples: config.n_resamples,
    }
}

/// Result of the exact McNemar test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Examples where system A passes and system B fails.
    pub b: u64,
    /// Examples where system A fails and system B passes.
    pub c: u64,
    /// Two-sided exact p-value.
    pub p_value: f64,
}

/// Exact McNemar test on paired pass/fail outcomes of two systems.
///
/// # Errors
/// [`StatsError::LengthMismatch`] when the vectors differ in length.
pub fn mcnemar_exact(a_pass: &[bool], b_pass: &[bool]) -> Result<McNemar, StatsError> {
    if a_pass.len() != b_pass.len() {
        return Err(StatsError::LengthMismatch {
            left: a_pass.len(),
            right: b_pass.len(),
        });
    }
    let b = a_pass
        .iter()
        .zip(b_pass)
        .filter(|&(&x, &y)| x && !y)
        .count() as u64;
    let c = a_pass
        .iter()
        .zip(b_pass)
        .filter(|&(&x, &y)| !x && y)
        .count() as u64;
    Ok(McNemar {
        b,
        c,
        p_value: mcnemar_exact_p(b, c),
    })
}

/// Two-sided exact McNemar p-value from the discordant counts:
/// `min(1, 2 · P(X ≤ min(b, c)))` with `X ~ Binomial(b + c, 1/2)`; `1` when
/// `b + c = 0`.
///
/// For `b + c ≤ 100` the tail is summed exactly in 128-bit integers, so the
/// result is the correctly rounded binomial tail; above that it is summed in
/// log space (log-sum-exp), which stays accurate for very large counts.
pub fn mcnemar_exact_p(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    let tail = if n <= 100 {
        binomial_half_cdf_exact(n, k)
    } else {
        binomial_half_cdf_log(n, k).exp()
    };
    (2.0 * tail).min(1.0)
}

/// `P(X ≤ k)` for `X ~ Bin(n, 1/2)`, exactly, for `n ≤ 126`.
fn binomial_half_cdf_exact(n: u64, k: u64) -> f64 {
    let mut term: u128 = 1; // C(n, 0)
    let mut sum: u128 = 1;
    for i in 1..=k {
        term = term * u128::from(n - i + 1) / u128::from(i);
        sum += term;
    }
    // sum < 2^n <= 2^126: converting rounds once; scaling by 2^-n is exact.
    let exp = i32::try_from(n).unwrap_or(i32::MAX);
    sum as f64 * 2f64.powi(-exp)
}

/// `ln P(X ≤ k)` for `X ~ Bin(n, 1/2)`, summed in log space.
fn binomial_half_cdf_log(n: u64, k: u64) -> f64 {
    // ln C(n, i) built incrementally; terms increase with i for i <= n/2, so
    // the last term is the largest and serves as the log-sum-exp pivot.
    let mut log_terms = Vec::with_capacity(usize::try_from(k).unwrap_or(0).saturating_add(1));
    let mut log_c = 0.0f64;
    log_terms.push(log_c);
    for i in 1..=k {
        log_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        log_terms.push(log_c);
    }
    let pivot = log_terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = log_terms.iter().map(|&t| (t - pivot).exp()).sum();
    pivot + sum.ln() - n as f64 * std::f64::consts::LN_2
}

/// A candidate configuration for [`pareto_frontier`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParetoPoint<Id> {
    /// Identifier returned in the frontier.
    pub id: Id,
    /// Quality, higher is better.
    pub quality: f64,
    /// Cost, lower is better.
    pub cost: f64,
}

/// Ids of the non-dominated points, sorted by increasing cost (ties by
/// decreasing quality, then input order).
///
/// A point is dominated when another point has quality ≥ and cost ≤ with at
/// least one strict inequality. Exact duplicates do not dominate each other,
/// so all of them are returned. Points with a NaN or infinite quality or cost
/// are ignored.
pub fn pareto_frontier<Id: Clone>(points: &[ParetoPoint<Id>]) -> Vec<Id> {
    // `+ 0.0` folds -0.0 into 0.0 so that total_cmp agrees with `==`.
    let mut order: Vec<(f64, f64, usize)> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.quality.is_finite() && p.cost.is_finite())
        .map(|(i, p)| (p.cost + 0.0, p.quality + 0.0, i))
        .collect();
    order.sort_by(|x, y| {
        x.0.total_cmp(&y.0)
            .then(y.1.total_cmp(&x.1))
            .then(x.2.cmp(&y.2))
    });
    let mut out = Vec::new();
    let mut best: Option<(f64, f64)> = None; // (quality, cost) of the last frontier point
    for (cost, quality, i) in order {
        let keep = match best {
            None => true,
            Some((bq, bc)) => quality > bq || (quality == bq && cost == bc),
        };
        if keep {
            best = Some((quality, cost));
            out.push(points[i].id.clone());
        }
    }
    out
}

/// Quality per unit of cost (e.g. accuracy per dollar): `quality / cost`.
/// `None` when the cost is zero, negative or not finite, or the quality is not
/// finite.
pub fn quality_per_dollar(quality: f64, cost: f64) -> Option<f64> {
    if !quality.is_finite() || !cost.is_finite() || cost <= 0.0 {
        None
    } else {
        Some(quality / cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Exact McNemar p-values computed by hand from the binomial distribution:
    //   b=1, c=9: n=10, P(X<=1) = (1 + 10)/2^10 = 11/1024 -> p = 22/1024 = 0.021484375
    //   b=0, c=5: n=5,  P(X<=0) = 1/32 -> p = 2/32 = 0.0625
    //   b=5, c=5: P(X<=5) = 638/1024 > 0.5 -> p = 1
    //   b=2, c=8: P(X<=2) = (1+10+45)/1024 = 56/1024 -> p = 0.109375
    // (these agree with statsmodels' mcnemar(exact=True) and R's
    // binom.test(b, b + c)$p.value).
    #[test]
    fn mcnemar_hand_computed() {
        assert_eq!(mcnemar_exact_p(1, 9), 0.021484375);
        assert_eq!(mcnemar_exact_p(9, 1), 0.021484375);
        assert_eq!(mcnemar_exact_p(0, 5), 0.0625);
        assert_eq!(mcnemar_exact_p(5, 5), 1.0);
        assert_eq!(mcnemar_exact_p(2, 8), 0.109375);
        assert_eq!(mcnemar_exact_p(0, 0), 1.0);
        assert_eq!(mcnemar_exact_p(0, 1), 1.0);
    }

    #[test]
    fn mcnemar_from_vectors() {
        // b = A pass & B fail, c = A fail & B pass.
        let a = [true, true, false, false, true, false];
        let b = [false, true, true, true, true, false];
        let r = mcnemar_exact(&a, &b).expect("same length");
        assert_eq!((r.b, r.c), (1, 2));
        // n=3, P(X<=1) = 4/8 -> p = 1
        assert_eq!(r.p_value, 1.0);
        assert!(mcnemar_exact(&a, &b[..2]).is_err());
    }

    #[test]
    fn mcnemar_log_space_agrees_with_exact_and_scales() {
        for (n, k) in [(100u64, 0u64), (100, 10), (100, 37), (100, 50), (60, 20)] {
            let exact = binomial_half_cdf_exact(n, k);
            let logspace = binomial_half_cdf_log(n, k).exp();
            assert!(
                ((exact - logspace) / exact).abs() < 1e-12,
                "n={n} k={k}: {exact} vs {logspace}"
            );
        }
        // Very large n: no overflow/underflow to NaN, monotone in the gap.
        let p_close = mcnemar_exact_p(50_000, 50_100);
        let p_far = mcnemar_exact_p(50_000, 51_000);
        assert!(p_close.is_finite() && p_close > 0.5 && p_close <= 1.0);
        assert!(p_far > 0.0 && p_far < 0.01);
        // Normal approximation sanity check for b=50000, c=51000:
        // z = (c - b) / sqrt(b + c) ≈ 3.1466 -> two-sided p ≈ 0.00165.
        assert!((p_far - 0.00165).abs() < 0.0002, "{p_far}");
        // Extreme tail underflows gracefully to 0 instead of NaN.
        assert_eq!(mcnemar_exact_p(0, 5000), 0.0);
    }

    #[test]
    fn rng_reproducible_and_unbiased_enough() {
        let mut a = Rng::seed_from_u64(42);
        let mut b = Rng::seed_from_u64(42);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(
            Rng::seed_from_u64(1).next_u64(),
            Rng::seed_from_u64(2).next_u64()
        );
        let mut r = Rng::seed_from_u64(7);
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[r.below(3) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );
        let f = r.next_f64();
        assert!((0.0..1.0).contains(&f));
        assert_eq!(r.below(0), 0);
    }

    fn synthetic(n: usize, seed: u64) -> Vec<f64> {
        let mut r = Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| if r.next_f64() < 0.7 { 1.0 } else { 0.0 })
            .collect()
    }

    #[test]
    fn bootstrap_ci_contains_mean_is_reproducible_and_narrows() {
        let cfg = BootstrapConfig::default();
        let small = synthetic(100, 1);
        let large = synthetic(10_000, 1);
        let ci_small = bootstrap_mean_ci(&small, &cfg).expect("valid input");
        let ci_large = bootstrap_mean_ci(&large, &cfg).expect("valid input");
        for ci in [ci_small, ci_large] {
            assert!(ci.lower <= ci.mean && ci.mean <= ci.upper, "{ci:?}");
        }
        assert!(ci_large.upper - ci_large.lower < (ci_small.upper - ci_small.lower) / 5.0);
        // Width close to the normal-theory 2·1.96·sqrt(p(1-p)/n) for n=10000.
        let p = ci_large.mean;
        let expected = 2.0 * 1.96 * (p * (1.0 - p) / large.len() as f64).sqrt();
        assert!(((ci_large.upper - ci_large.lower) - expected).abs() < 0.25 * expected);
        // Same seed -> identical result; different seed -> different interval
        // (continuous data, so the quantiles do not land on the same lattice
        // point as they can for 0/1 scores).
        assert_eq!(
            bootstrap_mean_ci(&small, &cfg).expect("valid input"),
            ci_small
        );
        let mut r = Rng::seed_from_u64(5);
        let continuous: Vec<f64> = (0..100).map(|_| r.next_f64()).collect();
        let ci_a = bootstrap_mean_ci(&continuous, &cfg).expect("valid input");
        assert_eq!(
            bootstrap_mean_ci(&continuous, &cfg).expect("valid input"),
            ci_a
        );
        let other = BootstrapConfig { seed: 99, ..cfg };
        let ci_b = bootstrap_mean_ci(&continuous, &other).expect("valid input");
        assert_ne!((ci_a.lower, ci_a.upper), (ci_b.lower, ci_b.upper));
        assert_eq!(ci_a.mean, ci_b.mean);
        // Constant data -> degenerate interval.
        let c = bootstrap_mean_ci(&[0.5; 10], &cfg).expect("valid input");
        assert_eq!((c.lower, c.mean, c.upper), (0.5, 0.5, 0.5));
    }

    #[test]
    fn bootstrap_errors() {
        let cfg = BootstrapConfig::default();
        assert_eq!(bootstrap_mean_ci(&[], &cfg), Err(StatsError::Empty));
        assert_eq!(
            bootstrap_mean_ci(&[1.0, f64::NAN], &cfg),
            Err(StatsError::NonFinite(1))
        );
        let zero = BootstrapConfig {
            n_resamples: 0,
            ..cfg
        };
        assert!(bootstrap_mean_ci(&[1.0], &zero).is_err());
        let bad_conf = BootstrapConfig {
            confidence: 1.0,
            ..cfg
        };
        assert!(bootstrap_mean_ci(&[1.0], &bad_conf).is_err());
        assert!(paired_bootstrap(&[1.0], &[1.0, 2.0], &cfg).is_err());
    }

    #[test]
    fn quantile_matches_numpy_linear() {
        // numpy.quantile([1, 2, 3, 4], [0.25, 0.5, 0.975]) -> [1.75, 2.5, 3.925]
        let s = [1.0, 2.0, 3.0, 4.0];
        assert!((quantile_sorted(&s, 0.25) - 1.75).abs() < 1e-12);
        assert!((quantile_sorted(&s, 0.5) - 2.5).abs() < 1e-12);
        assert!((quantile_sorted(&s, 0.975) - 3.925).abs() < 1e-12);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn paired_bootstrap_behaviour() {
        let cfg = BootstrapConfig::default();
        let b = synthetic(500, 3);
        // A is uniformly better by 0.1 on every example: every resampled
        // difference is 0.1, so p = 2 · 1 / 1001.
        let a: Vec<f64> = b.iter().map(|x| x + 0.1).collect();
        let r = paired_bootstrap(&a, &b, &cfg).expect("valid input");
        assert!((r.mean_diff - 0.1).abs() < 1e-12);
        assert!((r.p_value - 2.0 / 1001.0).abs() < 1e-15);
        assert!(r.lower <= r.mean_diff && r.mean_diff <= r.upper);

        // Identical systems: difference 0, p = 1.
        let same = paired_bootstrap(&b, &b, &cfg).expect("valid input");
        assert_eq!((same.mean_diff, same.p_value), (0.0, 1.0));

        // Two independent noisy systems with the same accuracy: not significant.
        let c = synthetic(500, 4);
        let r = paired_bootstrap(&b, &c, &cfg).expect("valid input");
        assert!(r.lower < 0.0 && r.upper > 0.0, "{r:?}");
        assert!(r.p_value > 0.05);
        // Swapping systems flips the sign but keeps the p-value.
        let swapped = paired_bootstrap(&c, &b, &cfg).expect("valid input");
        assert!((swapped.mean_diff + r.mean_diff).abs() < 1e-12);
        assert!((swapped.p_value - r.p_value).abs() < 1e-12);
        // Reproducible.
        assert_eq!(paired_bootstrap(&b, &c, &cfg).expect("valid input"), r);
    }

    #[test]
    fn statistic_bootstrap_agrees_with_mean_versions() {
        let cfg = BootstrapConfig::default();
        let a = synthetic(300, 11);
        let b = synthetic(300, 12);
        let mean_of =
            |v: &[f64], idx: &[usize]| idx.iter().map(|&i| v[i]).sum::<f64>() / idx.len() as f64;
        let ci = bootstrap_mean_ci(&a, &cfg).expect("valid input");
        let by = bootstrap_ci_by(a.len(), &cfg, |idx| mean_of(&a, idx)).expect("valid input");
        assert_eq!((ci.lower, ci.upper), by);
        let p = paired_bootstrap(&a, &b, &cfg).expect("valid input");
        let q = paired_bootstrap_by(a.len(), &cfg, |i| mean_of(&a, i), |i| mean_of(&b, i))
            .expect("valid input");
        assert!((p.mean_diff - q.mean_diff).abs() < 1e-12);
        assert!((p.lower - q.lower).abs() < 1e-12 && (p.upper - q.upper).abs() < 1e-12);
        assert_eq!(p.p_value, q.p_value);
        assert_eq!(bootstrap_ci_by(0, &cfg, |_| 0.0), Err(StatsError::Empty));
    }

    #[test]
    fn pareto_frontier_cases() {
        let pts = vec![
            ParetoPoint {
                id: "cheap-bad",
                quality: 0.5,
                cost: 1.0,
            },
            ParetoPoint {
                id: "dominated",
                quality: 0.5,
                cost: 2.0,
            },
            ParetoPoint {
                id: "mid",
                quality: 0.7,
                cost: 2.0,
            },
            ParetoPoint {
                id: "same-cost-worse",
                quality: 0.6,
                cost: 2.0,
            },
            ParetoPoint {
                id: "expensive-best",
                quality: 0.9,
                cost: 10.0,
            },
            ParetoPoint {
                id: "expensive-worse",
                quality: 0.8,
                cost: 12.0,
            },
            ParetoPoint {
                id: "mid-duplicate",
                quality: 0.7,
                cost: 2.0,
            },
            ParetoPoint {
                id: "nan",
                quality: f64::NAN,
                cost: 0.0,
            },
        ];
        assert_eq!(
            pareto_frontier(&pts),
            vec!["cheap-bad", "mid", "mid-duplicate", "expensive-best"]
        );
        let empty: Vec<ParetoPoint<u8>> = Vec::new();
        assert!(pareto_frontier(&empty).is_empty());
        let zero = vec![
            ParetoPoint {
                id: 1,
                quality: 0.1,
                cost: -0.0,
            },
            ParetoPoint {
                id: 2,
                quality: 0.1,
                cost: 0.0,
            },
        ];
        assert_eq!(pareto_frontier(&zero), vec![1, 2]);
    }

    #[test]
    fn quality_per_dollar_cases() {
        assert_eq!(quality_per_dollar(0.8, 2.0), Some(0.4));
        assert_eq!(quality_per_dollar(0.8, 0.0), None);
        assert_eq!(quality_per_dollar(0.8, -1.0), None);
        assert_eq!(quality_per_dollar(f64::NAN, 1.0), None);
    }
}
