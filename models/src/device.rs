//! Run-time device selection (`--device cpu|cuda[:N]|tch-cpu|tch-cuda[:N]`).
//!
//! The CPU backend (burn-flex, pure Rust) is always built; CUDA (burn-cuda) and libtorch
//! (burn-tch) exist only when the crate is built with the `cuda` or `tch` feature, and naming
//! one the build lacks is an error that says which feature to enable.

use burn::prelude::*;

use crate::error::{ModelError, Result};

/// Parses a device name into a Burn device.
pub fn parse_device(name: &str) -> Result<Device> {
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
        ("cuda", i) => cuda(i.unwrap_or(0), name),
        ("tch-cpu", None) => tch_cpu(name),
        ("tch-cuda", i) => tch_cuda(i.unwrap_or(0), name),
        _ => Err(ModelError::InvalidInput(format!(
            "unknown device `{name}`\nhint: use cpu, cuda[:N], tch-cpu or tch-cuda[:N]"
        ))),
    }
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
fn tch_cpu(_name: &str) -> Result<Device> {
    Ok(Device::libtorch())
}

#[cfg(not(feature = "tch"))]
fn tch_cpu(name: &str) -> Result<Device> {
    Err(missing_feature(name, "tch"))
}

#[cfg(feature = "tch")]
fn tch_cuda(index: usize, _name: &str) -> Result<Device> {
    Ok(Device::libtorch_cuda(index))
}

#[cfg(not(feature = "tch"))]
fn tch_cuda(_index: usize, name: &str) -> Result<Device> {
    Err(missing_feature(name, "tch"))
}

#[cfg(any(not(feature = "cuda"), not(feature = "tch")))]
fn missing_feature(name: &str, feature: &str) -> ModelError {
    ModelError::InvalidInput(format!(
        "device `{name}` is not in this build\nhint: rebuild with `--features {feature}`"
    ))
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
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_names_the_feature() {
        let msg = parse_device("cuda:1")
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(msg.err().unwrap_or_default().contains("--features cuda"));
    }
}
