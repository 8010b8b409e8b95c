//! The dtype of a model's frozen weights: `dtype = "f32" | "bf16" | "f16"` in `[train.local]`
//! and on local eval candidates.
//!
//! In bf16 or f16 the base model's projection and embedding weights are stored at half the
//! memory of f32, and the matrix products with them run in that dtype, as PyTorch runs a
//! model loaded in bf16. Everything else stays f32: the activations between products, the
//! norms and their weights, attention's softmax, the LoRA adapters and their optimizer
//! state, the logits' log-softmax and the loss. The weights are converted one tensor at a
//! time as they are read, so loading never holds the model in f32.
//!
//! A backend that cannot store and compute in the dtype is refused when the model loads
//! ([`WeightDtype::on`]): WGSL, and so the wgpu backend, has no bf16. The CPU backend
//! (burn-flex) does both: its bf16 product widens both sides to f32 (slower than f32), its f16
//! product uses gemm's f16 kernels (faster than f32 on a CPU with AVX-512 FP16; BENCHMARKS.md).

use burn::prelude::*;
use burn::tensor::{DType, FloatDType};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// The dtype frozen weights are stored and multiplied in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightDtype {
    /// 32-bit floats: what every weight file is converted to unless told otherwise.
    #[default]
    F32,
    /// bfloat16: f32's range with 8 bits of mantissa.
    Bf16,
    /// IEEE half precision: 11 bits of mantissa, range up to 65,504.
    F16,
}

impl WeightDtype {
    /// Burn's dtype.
    pub fn float(self) -> FloatDType {
        match self {
            WeightDtype::F32 => FloatDType::F32,
            WeightDtype::Bf16 => FloatDType::BF16,
            WeightDtype::F16 => FloatDType::F16,
        }
    }

    /// Burn's dtype, checked against what `device` can store and compute in.
    ///
    /// # Errors
    /// [`ModelError::InvalidInput`] naming the dtype, with a hint, when it cannot.
    pub fn on(self, device: &Device) -> Result<FloatDType> {
        let dtype = self.float();
        if device.supports_dtype(dtype) {
            return Ok(dtype);
        }
        Err(ModelError::InvalidInput(format!(
            "this device cannot store and compute in {} (dtype = \"{}\")\nhint: {}",
            self.name(),
            self.name(),
            match self {
                WeightDtype::Bf16 =>
                    "use dtype = \"f16\" (WGSL, and so the wgpu backend, has no bf16), or \"f32\"",
                _ => "use dtype = \"f32\"",
            }
        )))
    }

    /// As written in a config.
    pub fn name(self) -> &'static str {
        match self {
            WeightDtype::F32 => "f32",
            WeightDtype::Bf16 => "bf16",
            WeightDtype::F16 => "f16",
        }
    }
}

impl std::str::FromStr for WeightDtype {
    type Err = String;

    /// As a config writes it (the serde names).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        use serde::de::IntoDeserializer;
        let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
            s.into_deserializer();
        Self::deserialize(de).map_err(|e| e.to_string())
    }
}

/// `f` applied to `x` in the dtype `weight` is stored in, its result back in `x`'s dtype: a
/// product with a frozen bf16 or f16 weight runs in that dtype. With weights in `x`'s dtype
/// (f32), it is `f(x)`.
pub(crate) fn in_weight_dtype<const D: usize, const E: usize>(
    x: Tensor<D>,
    weight: DType,
    f: impl FnOnce(Tensor<D>) -> Tensor<E>,
) -> Tensor<E> {
    let dtype = x.dtype();
    if dtype == weight {
        return f(x);
    }
    f(x.cast(weight)).cast(dtype)
}
