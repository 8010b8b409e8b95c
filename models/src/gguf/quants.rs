//! GGML tensor types and their de-quantisation to f32.
//!
//! Each quantised type stores values in blocks of 32 (the legacy `Q4_0` … `Q8_0`) or 256 (the
//! k-quants) with f16 scales; the layouts and arithmetic follow `dequantize_row_*` in
//! llama.cpp's `ggml-quants.c`, in the same order of f32 operations, so the values equal those
//! of the `gguf` Python package's `gguf.quants.dequantize` bit for bit (checked by the
//! `gguf_quants_match_the_reference` test against `fixtures/gguf`).

use half::f16;

/// The GGML types this crate de-quantises. Discriminants are GGML's type ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    /// 32-bit float.
    F32 = 0,
    /// IEEE half.
    F16 = 1,
    /// 4-bit, blocks of 32, scale only.
    Q4_0 = 2,
    /// 4-bit, blocks of 32, scale and minimum.
    Q4_1 = 3,
    /// 5-bit, blocks of 32, scale only.
    Q5_0 = 6,
    /// 5-bit, blocks of 32, scale and minimum.
    Q5_1 = 7,
    /// 8-bit, blocks of 32.
    Q8_0 = 8,
    /// 4-bit k-quant, super-blocks of 256 with 6-bit sub-block scales and minimums.
    Q4_K = 12,
    /// 5-bit k-quant.
    Q5_K = 13,
    /// 6-bit k-quant, 8-bit sub-block scales.
    Q6_K = 14,
    /// bfloat16.
    BF16 = 30,
}

/// Names of every GGML type id, for error messages about the ones not de-quantised here.
const TYPE_NAMES: [(u32, &str); 35] = [
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (6, "Q5_0"),
    (7, "Q5_1"),
    (8, "Q8_0"),
    (9, "Q8_1"),
    (10, "Q2_K"),
    (11, "Q3_K"),
    (12, "Q4_K"),
    (13, "Q5_K"),
    (14, "Q6_K"),
    (15, "Q8_K"),
    (16, "IQ2_XXS"),
    (17, "IQ2_XS"),
    (18, "IQ3_XXS"),
    (19, "IQ1_S"),
    (20, "IQ4_NL"),
    (21, "IQ3_S"),
    (22, "IQ2_S"),
    (23, "IQ4_XS"),
    (24, "I8"),
    (25, "I16"),
    (26, "I32"),
    (27, "I64"),
    (28, "F64"),
    (29, "IQ1_M"),
    (30, "BF16"),
    (34, "TQ1_0"),
    (35, "TQ2_0"),
    (39, "MXFP4"),
    (40, "NVFP4"),
    (41, "Q1_0"),
    (4, "Q4_2 (removed from GGML)"),
];

/// The types [`GgmlType::from_id`] accepts, in id order, for hints.
pub const SUPPORTED: [GgmlType; 11] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::BF16,
];

/// Name of a GGML type id, `type N` when GGML has no such id.
pub fn type_name(id: u32) -> String {
    TYPE_NAMES
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("type {id}"))
}

impl GgmlType {
    /// The type with GGML id `id`, when this crate de-quantises it.
    pub fn from_id(id: u32) -> Option<Self> {
        SUPPORTED.into_iter().find(|t| *t as u32 == id)
    }

    /// GGML's name of the type.
    pub fn name(self) -> String {
        type_name(self as u32)
    }

    /// `(values per block, bytes per block)`.
    pub fn block(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::BF16 => (1, 2),
            GgmlType::Q4_0 => (32, 18),
            GgmlType::Q4_1 => (32, 20),
            GgmlType::Q5_0 => (32, 22),
            GgmlType::Q5_1 => (32, 24),
            GgmlType::Q8_0 => (32, 34),
            GgmlType::Q4_K => (256, 144),
            GgmlType::Q5_K => (256, 176),
            GgmlType::Q6_K => (256, 210),
        }
    }

    /// Bytes that `n` values take, `None` when `n` is not a whole number of blocks.
    pub fn bytes_for(self, n: u64) -> Option<u64> {
        let (values, bytes) = self.block();
        n.is_multiple_of(values as u64)
            .then(|| n / values as u64 * bytes as u64)
    }

    /// De-quantises `data` (a whole number of blocks) to f32, appending to `out`.
    pub fn dequantize(self, data: &[u8], out: &mut Vec<f32>) {
        let (_, size) = self.block();
        let blocks = data.chunks_exact(size);
        match self {
            GgmlType::F32 => {
                out.extend(blocks.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            }
            GgmlType::F16 => out.extend(blocks.map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())),
            GgmlType::BF16 => {
                out.extend(blocks.map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()))
            }
            GgmlType::Q4_0 => blocks.for_each(|b| q4(half_at(b, 0), None, &b[2..], out)),
            GgmlType::Q4_1 => {
                blocks.for_each(|b| q4(half_at(b, 0), Some(half_at(b, 2)), &b[4..], out))
            }
            GgmlType::Q5_0 => blocks.for_each(|b| q5(half_at(b, 0), None, &b[2..], out)),
            GgmlType::Q5_1 => {
                blocks.for_each(|b| q5(half_at(b, 0), Some(half_at(b, 2)), &b[4..], out))
            }
            GgmlType::Q8_0 => blocks.for_each(|b| {
                let d = half_at(b, 0);
                out.extend(b[2..].iter().map(|&q| q as i8 as f32 * d));
            }),
            GgmlType::Q4_K => blocks.for_each(|b| q4_k(b, out)),
            GgmlType::Q5_K => blocks.for_each(|b| q5_k(b, out)),
            GgmlType::Q6_K => blocks.for_each(|b| q6_k(b, out)),
        }
    }
}

fn half_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// `Q4_0` (`min` = None: value = d·(q − 8)) and `Q4_1` (value = d·q + min): 16 bytes of
/// nibbles, low nibbles are values 0..16, high nibbles 16..32.
fn q4(d: f32, min: Option<f32>, qs: &[u8], out: &mut Vec<f32>) {
    let value = |q: u8| match min {
        None => (q as i32 - 8) as f32 * d,
        Some(m) => q as f32 * d + m,
    };
    out.extend(qs[..16].iter().map(|&q| value(q & 0x0F)));
    out.extend(qs[..16].iter().map(|&q| value(q >> 4)));
}

/// `Q5_0` / `Q5_1`: as [`q4`], plus a fifth bit per value from the 32-bit `qh`.
fn q5(d: f32, min: Option<f32>, rest: &[u8], out: &mut Vec<f32>) {
    let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let qs = &rest[4..20];
    let value = |q: u8| match min {
        None => (q as i32 - 16) as f32 * d,
        Some(m) => q as f32 * d + m,
    };
    let high = |bit: usize| (((qh >> bit) & 1) as u8) << 4;
    out.extend((0..16).map(|j| value((qs[j] & 0x0F) | high(j))));
    out.extend((0..16).map(|j| value((qs[j] >> 4) | high(j + 16))));
}

/// The 6-bit scale and minimum of sub-block `j` of a `Q4_K` / `Q5_K` super-block
/// (`get_scale_min_k4`).
fn scale_min_k4(j: usize, q: &[u8]) -> (f32, f32) {
    let (sc, m) = if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    };
    (sc as f32, m as f32)
}

/// `Q4_K`: d, dmin, 12 bytes of packed scales, 128 bytes of nibbles; each 64 values share 32
/// bytes (low nibbles first) and two sub-block scales.
fn q4_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (half_at(b, 0), half_at(b, 2));
    let scales = &b[4..16];
    for (i, q) in b[16..144].chunks_exact(32).enumerate() {
        for (sub, shift) in [(2 * i, 0), (2 * i + 1, 4)] {
            let (sc, m) = scale_min_k4(sub, scales);
            let (d, m) = (d * sc, dmin * m);
            out.extend(q.iter().map(|&x| d * ((x >> shift) & 0x0F) as f32 - m));
        }
    }
}

/// `Q5_K`: as [`q4_k`], with 32 bytes of high bits (`qh`) between scales and nibbles; sub-block
/// `s` takes its fifth bit from bit `s` of `qh`.
fn q5_k(b: &[u8], out: &mut Vec<f32>) {
    let (d, dmin) = (half_at(b, 0), half_at(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    for (i, q) in b[48..176].chunks_exact(32).enumerate() {
        for (sub, shift) in [(2 * i, 0), (2 * i + 1, 4)] {
            let (sc, m) = scale_min_k4(sub, scales);
            let (d, m) = (d * sc, dmin * m);
            out.extend(q.iter().zip(qh).map(|(&x, &h)| {
                let q = ((x >> shift) & 0x0F) | (((h >> sub) & 1) << 4);
                d * q as f32 - m
            }));
        }
    }
}

/// `Q6_K`: 128 bytes of low nibbles, 64 bytes of 2-bit highs, 16 signed 8-bit scales (one per
/// 16 values), d last. Each half of the block (128 values) uses 64 + 32 bytes.
fn q6_k(b: &[u8], out: &mut Vec<f32>) {
    let d = half_at(b, 208);
    let scales = &b[192..208];
    for half in 0..2 {
        let ql = &b[half * 64..half * 64 + 64];
        let qh = &b[128 + half * 32..128 + half * 32 + 32];
        let sc = &scales[half * 8..half * 8 + 8];
        let start = out.len();
        out.resize(start + 128, 0.0);
        let y = &mut out[start..];
        for l in 0..32 {
            let is = l / 16;
            let q = |low: u8, shift: u8| ((low | (((qh[l] >> shift) & 3) << 4)) as i8 - 32) as f32;
            y[l] = d * sc[is] as i8 as f32 * q(ql[l] & 0x0F, 0);
            y[l + 32] = d * sc[is + 2] as i8 as f32 * q(ql[l + 32] & 0x0F, 2);
            y[l + 64] = d * sc[is + 4] as i8 as f32 * q(ql[l] >> 4, 4);
            y[l + 96] = d * sc[is + 6] as i8 as f32 * q(ql[l + 32] >> 4, 6);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_block_is_scale_times_signed_bytes() {
        let mut block = f16::from_f32(0.5).to_le_bytes().to_vec();
        block.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let mut out = Vec::new();
        GgmlType::Q8_0.dequantize(&block, &mut out);
        assert_eq!(
            out,
            (0..32).map(|i| (i - 16) as f32 * 0.5).collect::<Vec<_>>()
        );
    }

    #[test]
    fn names_cover_supported_and_unsupported_ids() {
        assert_eq!(GgmlType::Q6_K.name(), "Q6_K");
        assert_eq!(type_name(16), "IQ2_XXS");
        assert_eq!(type_name(99), "type 99");
        assert_eq!(GgmlType::from_id(16), None);
        assert_eq!(GgmlType::Q4_K.bytes_for(512), Some(288));
        assert_eq!(GgmlType::Q4_K.bytes_for(100), None);
    }
}
