//! Run-time device selection (`--device cpu|wgpu[:N|:cpu]|cuda[:N]|tch-cpu|tch-cuda[:N]`).
//!
//! The CPU backend (burn-flex, pure Rust) is always built; wgpu (Burn's wgpu backend, WGSL
//! shaders on Vulkan, Metal or DX12), CUDA (burn-cuda) and libtorch (burn-tch) exist only when
//! the crate is built with the `wgpu`, `cuda` or `tch` feature, and naming one the build lacks
//! is an error that says which feature to enable. Every backend runs the same model code.
//!
//! `wgpu` is the adapter wgpu ranks best (a discrete GPU first; `CUBECL_WGPU_DEFAULT_DEVICE`
//! overrides it), `wgpu:N` the N-th discrete GPU, and `wgpu:cpu` a CPU adapter such as
//! lavapipe (Mesa's Vulkan on the CPU, which CI runs the GPU path on).

use burn::prelude::*;

use crate::error::{ModelError, Result};

/// Parses a device name into a Burn device.
pub fn parse_device(name: &str) -> Result<Device> {
    if name == "wgpu:cpu" {
        return wgpu(WgpuAdapter::Cpu, name);
    }
    let (kind, index) = match name.split_once(':') {
        Some((k, i)) => {
            let i: usize = i.parse().map_err(|_| {
                ModelError::InvalidInput(format!("device `{name}`: `{i}` is not a device index"))
            })?;
            (k, Some(i))
        }
        None => (name, None),
    };
    match (kind, index) {
        ("cpu", None) => Ok(Device::flex()),
        ("wgpu", None) => wgpu(WgpuAdapter::Best, name),
        ("wgpu", Some(i)) => wgpu(WgpuAdapter::Discrete(i), name),
        ("cuda", i) => cuda(i.unwrap_or(0), name),
        ("tch-cpu", None) => tch_cpu(name),
        ("tch-cuda", i) => tch_cuda(i.unwrap_or(0), name),
        _ => Err(ModelError::InvalidInput(format!(
            "unknown device `{name}`\nhint: use cpu, wgpu[:N], wgpu:cpu, cuda[:N], tch-cpu or tch-cuda[:N]"
        ))),
    }
}

/// Which wgpu adapter `wgpu[:N|:cpu]` names (read only in a build with the `wgpu` feature).
#[cfg_attr(not(feature = "wgpu"), allow(dead_code))]
enum WgpuAdapter {
    Best,
    Discrete(usize),
    Cpu,
}

#[cfg(feature = "wgpu")]
fn wgpu(adapter: WgpuAdapter, _name: &str) -> Result<Device> {
    Ok(Device::wgpu(match adapter {
        WgpuAdapter::Best => DeviceKind::DefaultDevice,
        WgpuAdapter::Discrete(i) => DeviceKind::DiscreteGpu(i),
        WgpuAdapter::Cpu => DeviceKind::Cpu,
    }))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_adapter: WgpuAdapter, name: &str) -> Result<Device> {
    Err(missing_feature(name, "wgpu"))
}

#[cfg(feature = "cuda")]
fn cuda(index: usize, _name: &str) -> Result<Device> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_index: usize, name: &str) -> Result<Device> {
    Err(missing_feature(name, "cuda"))
}

#[cfg(feature = "tch")]
#[allow(deprecated)] // Burn 0.22 deprecates burn-tch; it is kept as an opt-in feature
fn tch_cpu(_name: &str) -> Result<Device> {
    Ok(Device::libtorch())
}

#[cfg(not(feature = "tch"))]
fn tch_cpu(name: &str) -> Result<Device> {
    Err(missing_feature(name, "tch"))
}

/// A libtorch CUDA device, when the libtorch this build links has CUDA. burn-tch panics on
/// first use of a CUDA device in a CPU-only link (what `scripts/tch-env.sh` sets up unless
/// `TUNEBENCH_TCH_CUDA=1`); one tensor is made here, under `catch_unwind` with the panic
/// message kept off stderr, so that the user gets an error with the fix instead.
#[cfg(feature = "tch")]
#[allow(deprecated)] // as above
fn tch_cuda(index: usize, name: &str) -> Result<Device> {
    let device = Device::libtorch_cuda(index);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::panic::catch_unwind(|| Tensor::<1>::zeros([1], &device).into_data());
    std::panic::set_hook(hook);
    match probe {
        Ok(_) => Ok(device),
        Err(_) => Err(ModelError::InvalidInput(format!(
            "device `{name}`: this build links a libtorch without CUDA, or no CUDA device {index} is there\nhint: on a machine with an NVIDIA GPU, rebuild with `TUNEBENCH_TCH_CUDA=1 . scripts/tch-env.sh` then `cargo build --features tch`"
        ))),
    }
}

#[cfg(not(feature = "tch"))]
fn tch_cuda(_index: usize, name: &str) -> Result<Device> {
    Err(missing_feature(name, "tch"))
}

/// Whether attention on `device` is PyTorch's `scaled_dot_product_attention`, with PyTorch's
/// mask conventions rather than Burn's (see `Llama::masks`): a libtorch device without
/// autodiff. Under autodiff (training), Burn computes attention itself from matrix products
/// and a softmax, with its own conventions, on every backend. Burn 0.22 does not export its
/// device kinds, so this reads the kind from the device's `Debug` form (`Device<LibTorch(Cpu)>`),
/// which `attention_conventions_tell_the_device_kinds_apart` checks.
#[cfg(feature = "tch")]
pub(crate) fn attends_like_pytorch(device: &Device) -> bool {
    !device.is_autodiff() && format!("{device:?}").contains("LibTorch(")
}

/// Whether attention on `device` follows PyTorch's conventions: never, in a build without the
/// `tch` feature.
#[cfg(not(feature = "tch"))]
pub(crate) fn attends_like_pytorch(_device: &Device) -> bool {
    false
}

#[cfg(any(not(feature = "cuda"), not(feature = "tch"), not(feature = "wgpu")))]
fn missing_feature(name: &str, feature: &str) -> ModelError {
    ModelError::InvalidInput(format!(
        "device `{name}` is not in this build\nhint: rebuild with `--features {feature}`"
    ))
}

/// `t` remade on `device` from its values, so that it carries `device`'s autodiff context:
/// Burn 0.22's `Tensor::random`, `zeros` and `ones` on an autodiff device with gradient
/// checkpointing leave the strategy off, and Burn refuses operations that mix strategies.
/// Only for tensors made at initialisation (a copy through host memory).
pub fn remade_on<const D: usize>(t: Tensor<D>, device: &Device) -> Tensor<D> {
    Tensor::from_data(t.into_data(), device)
}

/// Peak resident memory of this process in MiB (`VmHWM` of `/proc/self/status`), for
/// benchmarks; `None` where the platform has no such file.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_parses_and_unknown_names_are_rejected() {
        assert!(parse_device("cpu").is_ok());
        assert!(parse_device("gpu").is_err());
        assert!(parse_device("cuda:x").is_err());
        assert!(parse_device("wgpu:x").is_err());
    }

    /// The message `parse_device(name)` fails with; empty if it succeeds.
    #[cfg(any(not(feature = "wgpu"), not(feature = "cuda"), feature = "tch"))]
    fn error_of(name: &str) -> String {
        parse_device(name)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[cfg(not(feature = "wgpu"))]
    #[test]
    fn wgpu_without_the_feature_names_the_feature() {
        for name in ["wgpu", "wgpu:1", "wgpu:cpu"] {
            assert!(error_of(name).contains("--features wgpu"));
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_names_the_feature() {
        assert!(error_of("cuda:1").contains("--features cuda"));
    }

    /// Without a CUDA device (none here), `tch-cuda` is an error with the fix, not a panic,
    /// whether the build links libtorch's CPU libraries alone or the whole CUDA build.
    #[cfg(feature = "tch")]
    #[test]
    fn tch_cuda_without_a_cuda_device_is_an_error_with_the_fix() {
        if std::path::Path::new("/dev/nvidia0").exists() {
            return;
        }
        assert!(error_of("tch-cuda:0").contains("TUNEBENCH_TCH_CUDA=1"));
    }

    #[test]
    #[allow(deprecated)] // burn-tch's devices
    fn attention_conventions_tell_the_device_kinds_apart() {
        assert!(!attends_like_pytorch(&Device::flex()));
        assert!(!attends_like_pytorch(&Device::flex().autodiff()));
        #[cfg(feature = "tch")]
        for device in [Device::libtorch(), Device::libtorch_cuda(1)] {
            assert!(attends_like_pytorch(&device), "{device:?}");
            let training = device.autodiff();
            assert!(!attends_like_pytorch(&training), "{training:?}");
        }
    }
}
