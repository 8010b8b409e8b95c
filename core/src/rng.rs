//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
//! OOPSLA 2014; Vigna's `splitmix64.c`): small, seedable, the same on every platform, and its
//! whole state is one `u64`, which checkpoints can store. Every seeded stream in tunebench
//! (data order, dropout seeds, sampling, MinHash coefficients, bootstrap seeding, retry
//! jitter) comes from it. Not cryptographically secure.

/// A SplitMix64 generator; the field is its whole state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`), by rejection so that every value is equally likely.
    pub fn below(&mut self, n: usize) -> usize {
        let n = n as u64;
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// A generator for one purpose of one seed, independent of the others.
    pub fn derive(seed: u64, purpose: u64) -> SplitMix64 {
        let mut r = SplitMix64(seed ^ purpose.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        SplitMix64(r.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_implementation() {
        // First output of Vigna's splitmix64.c seeded with 0.
        let mut r = SplitMix64(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn below_and_shuffle_stay_in_range() {
        let mut r = SplitMix64(7);
        assert!((0..1000).all(|_| r.below(3) < 3));
        let mut v: Vec<u32> = (0..50).collect();
        r.shuffle(&mut v);
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
        assert!((0.0..1.0).contains(&r.next_f64()));
    }
}
