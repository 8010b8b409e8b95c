//! tunebench patch: element-wise loops over contiguous slices, split over rayon's pool
//! when they are large enough.
//!
//! Upstream runs `unary_op`, `binary_op` and `scalar_op` on the calling thread whatever
//! the size; on the 2-core machine tunebench is measured on, a LoRA training step spent
//! 72% of its wall time in such single-threaded loops while the matrix products used both
//! cores. Below [`MIN_PARALLEL`] elements the loops stay sequential (dispatching to the pool
//! costs a few microseconds).

#[cfg(feature = "rayon")]
use rayon::prelude::*;

/// Smallest slice worth splitting (also the threshold of `simd::portable`'s parallel loops).
#[cfg_attr(not(feature = "rayon"), allow(dead_code))]
pub(crate) const MIN_PARALLEL: usize = 128 * 1024;

/// Elements per rayon task (also `simd::portable`'s).
#[cfg(feature = "rayon")]
pub(crate) const CHUNK: usize = 32 * 1024;

/// `x = op(x)` for every element.
pub(crate) fn map_inplace<E, Op>(data: &mut [E], op: Op)
where
    E: Copy + Send,
    Op: Fn(E) -> E + Sync,
{
    #[cfg(feature = "rayon")]
    if data.len() >= MIN_PARALLEL {
        data.par_chunks_mut(CHUNK).for_each(|chunk| {
            chunk.iter_mut().for_each(|x| *x = op(*x));
        });
        return;
    }
    data.iter_mut().for_each(|x| *x = op(*x));
}

/// `a = op(a, b)` element by element; `a` and `b` have the same length.
pub(crate) fn zip_inplace<E, Op>(a: &mut [E], b: &[E], op: Op)
where
    E: Copy + Send + Sync,
    Op: Fn(E, E) -> E + Sync,
{
    debug_assert_eq!(a.len(), b.len());
    #[cfg(feature = "rayon")]
    if a.len() >= MIN_PARALLEL {
        a.par_chunks_mut(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .for_each(|(a, b)| {
                a.iter_mut().zip(b).for_each(|(a, &b)| *a = op(*a, b));
            });
        return;
    }
    a.iter_mut().zip(b).for_each(|(a, &b)| *a = op(*a, b));
}

/// `op(x)` for every element, into a new vector.
pub(crate) fn map_collect<E, R, Op>(data: &[E], op: Op) -> alloc::vec::Vec<R>
where
    E: Copy + Sync,
    R: Send,
    Op: Fn(E) -> R + Sync,
{
    #[cfg(feature = "rayon")]
    if data.len() >= MIN_PARALLEL {
        return data
            .par_iter()
            .with_min_len(CHUNK)
            .map(|&x| op(x))
            .collect();
    }
    data.iter().map(|&x| op(x)).collect()
}

/// `op(a, b)` element by element, into a new vector; `a` and `b` have the same length.
pub(crate) fn zip_collect<E, R, Op>(a: &[E], b: &[E], op: Op) -> alloc::vec::Vec<R>
where
    E: Copy + Sync,
    R: Send,
    Op: Fn(E, E) -> R + Sync,
{
    debug_assert_eq!(a.len(), b.len());
    #[cfg(feature = "rayon")]
    if a.len() >= MIN_PARALLEL {
        return a
            .par_iter()
            .zip(b.par_iter())
            .with_min_len(CHUNK)
            .map(|(&a, &b)| op(a, b))
            .collect();
    }
    a.iter().zip(b).map(|(&a, &b)| op(a, b)).collect()
}

/// `eˣ` for f32 without a libm call, written so that loops over it vectorise.
///
/// tunebench patch: the libm `expf` behind `f32::exp` is a call with branches per element,
/// which keeps SiLU's sigmoid scalar (6% of a LoRA training step's samples). This is Cephes'
/// `expf`: `x = n·ln 2 + r` with `n` rounded to nearest (by the 1.5·2²³ trick, which needs
/// no rounding instruction), a degree-6 polynomial for `eʳ` on `|r| ≤ ln 2 / 2`, and `2ⁿ`
/// built from its exponent bits (as two factors, so that `n` may reach 128). Relative error
/// below 2·10⁻⁷ (tests below) from -87.3 up to ln(f32::MAX) ≈ 88.72, infinity above (as
/// libm), and 0 below -87.3, where libm returns subnormals: values that small in a
/// softmax's output or gradient turn subnormal in the matrix products, which then run many
/// times slower.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³
    const LOWEST: f32 = -87.3;
    let underflows = x < LOWEST;
    // Above 89, the result overflows to infinity through the products below.
    let x = x.clamp(LOWEST, 89.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5.000_000_1e-1;
    let p = p * r * r + r + 1.0;
    let n = n as i32;
    let half = n >> 1;
    let scale_a = f32::from_bits(((half + 127) as u32) << 23);
    let scale_b = f32::from_bits(((n - half + 127) as u32) << 23);
    if underflows {
        0.0
    } else {
        p * scale_a * scale_b
    }
}

/// The logistic sigmoid `1 / (1 + e⁻ˣ)` through [`exp_f32`], branch-free: with
/// `e = e^-|x|`, `1 / (1 + e)` for `x ≥ 0` and `e / (1 + e)` below, so that neither side
/// overflows.
#[inline(always)]
pub(crate) fn sigmoid_f32(x: f32) -> f32 {
    let e = exp_f32(-x.abs());
    let s = 1.0 / (1.0 + e);
    if x >= 0.0 { s } else { e * s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.72 {
            let ours = f64::from(exp_f32(x));
            let libm = f64::from(x).exp();
            worst = worst.max(((ours - libm) / libm).abs());
            x += 0.001_3;
        }
        assert!(worst < 2e-7, "worst relative error {worst}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-87.2) >= f32::MIN_POSITIVE);
        assert_eq!(exp_f32(-87.4), 0.0);
        assert_eq!(exp_f32(-1000.0), 0.0);
        assert!(exp_f32(88.72).is_finite());
        assert_eq!(exp_f32(88.73), f32::INFINITY);
        assert_eq!(exp_f32(1000.0), f32::INFINITY);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_matches_libm() {
        let mut x = -100.0f32;
        while x < 100.0 {
            let ours = f64::from(sigmoid_f32(x));
            let exact = 1.0 / (1.0 + (-f64::from(x)).exp());
            assert!(
                (ours - exact).abs() <= 3e-7 * exact.max(1e-30) + 1e-38,
                "sigmoid({x}) = {ours}, exactly {exact}"
            );
            x += 0.007_1;
        }
    }

    #[test]
    fn parallel_and_sequential_loops_agree() {
        let n = MIN_PARALLEL + 12_345;
        let a: alloc::vec::Vec<f32> = (0..n).map(|i| (i % 1000) as f32 * 0.01 - 5.0).collect();
        let b: alloc::vec::Vec<f32> = (0..n).map(|i| (i % 777) as f32 * 0.02).collect();
        let expected: alloc::vec::Vec<f32> = a.iter().zip(&b).map(|(x, y)| x * y + 1.0).collect();
        assert_eq!(zip_collect(&a, &b, |x, y| x * y + 1.0), expected);
        let mut inplace = a.clone();
        zip_inplace(&mut inplace, &b, |x, y| x * y + 1.0);
        assert_eq!(inplace, expected);
        let expected: alloc::vec::Vec<f32> = a.iter().map(|x| x * 3.0).collect();
        assert_eq!(map_collect(&a, |x| x * 3.0), expected);
        let mut inplace = a;
        map_inplace(&mut inplace, |x| x * 3.0);
        assert_eq!(inplace, expected);
    }
}
