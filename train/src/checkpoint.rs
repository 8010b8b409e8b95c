//! Checkpoints: everything a killed run needs to continue as if it had not stopped.
//!
//! `checkpoints/step-00000120/` holds `trainable.safetensors` (the trainable parameters,
//! flat, by module path), `optimizer.safetensors` (AdamW's `m.<path>` and `v.<path>`) and
//! `state.json` (step counters, best validation loss, tokens seen, wall time, and a hash of
//! the settings that shape the result). A checkpoint is written into a temporary directory
//! and renamed into place, then `checkpoints/latest` is replaced atomically, so a kill at
//! any moment leaves the previous checkpoint usable. The data position and every random
//! draw are functions of the step number and the seed, so nothing else needs saving.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use serde::{Deserialize, Serialize};
use tunebench_models::weights::{self, HostTensor, SafetensorsReader};

use crate::error::{Result, TrainError, io};
use crate::optim::{AdamW, Named};

/// Checkpoints kept besides the newest (older ones are deleted).
const KEEP: usize = 1;

/// Counters saved with a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps completed.
    pub step: usize,
    /// Lowest validation loss so far.
    pub best_val: Option<f64>,
    /// Step of the lowest validation loss.
    pub best_step: Option<usize>,
    /// Validations since the best one (early stopping).
    pub evals_since_best: usize,
    /// Real (non-padding) tokens processed.
    pub tokens_seen: u64,
    /// Training wall time so far, in seconds.
    pub elapsed_s: f64,
    /// Hash of the settings that determine the result.
    pub settings_hash: String,
}

/// What a checkpoint restores.
pub struct Restored {
    /// Counters.
    pub state: TrainState,
    /// Trainable parameters, flat.
    pub params: Named,
    /// Optimizer state.
    pub optimizer: AdamW,
}

/// The checkpoint folder of a training output directory.
pub fn dir(out_dir: &Path) -> PathBuf {
    out_dir.join("checkpoints")
}

fn to_host(named: &Named, prefix: &str) -> Result<Vec<(String, HostTensor)>> {
    named
        .iter()
        .map(|(k, t)| Ok((format!("{prefix}{k}"), weights::tensor_to_host(t.clone())?)))
        .collect()
}

/// Writes a checkpoint of step `state.step` and points `latest` at it.
pub fn save(out_dir: &Path, state: &TrainState, params: &Named, opt: &AdamW) -> Result<PathBuf> {
    let root = dir(out_dir);
    let name = format!("step-{:08}", state.step);
    let tmp = root.join(format!("{name}.tmp"));
    let done = root.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    weights::write_safetensors(&tmp.join("trainable.safetensors"), to_host(params, "")?)?;
    let mut moments = to_host(&opt.m, "m.")?;
    moments.extend(to_host(&opt.v, "v.")?);
    weights::write_safetensors(&tmp.join("optimizer.safetensors"), moments)?;
    let json = serde_json::json!({ "train": state, "adam_step": opt.step });
    let bytes = serde_json::to_vec_pretty(&json).map_err(|e| TrainError::Checkpoint {
        path: tmp.clone(),
        reason: e.to_string(),
    })?;
    weights::write_atomic(&tmp.join("state.json"), &bytes)?;
    if done.exists() {
        std::fs::remove_dir_all(&done).map_err(io(&done))?;
    }
    std::fs::rename(&tmp, &done).map_err(io(&done))?;
    weights::write_atomic(&root.join("latest"), name.as_bytes())?;
    prune(&root, &name)?;
    Ok(done)
}

/// Deletes all but the newest checkpoints and any leftover temporary directory.
fn prune(root: &Path, newest: &str) -> Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("step-") && n.as_str() != newest)
        .collect();
    names.sort();
    let stale = names.iter().filter(|n| n.ends_with(".tmp")).cloned();
    let old: Vec<String> = names
        .iter()
        .filter(|n| !n.ends_with(".tmp"))
        .cloned()
        .collect();
    let excess = old.len().saturating_sub(KEEP);
    for n in stale.chain(old.into_iter().take(excess)) {
        let p = root.join(n);
        std::fs::remove_dir_all(&p).map_err(io(&p))?;
    }
    Ok(())
}

/// The trainable parameters of the best validation step, kept next to the checkpoints.
fn best_path(out_dir: &Path) -> PathBuf {
    dir(out_dir).join("best.safetensors")
}

/// Keeps `params` as the best validation step's weights.
pub fn save_best(out_dir: &Path, params: &Named) -> Result<()> {
    std::fs::create_dir_all(dir(out_dir)).map_err(io(dir(out_dir)))?;
    Ok(weights::write_safetensors(
        &best_path(out_dir),
        to_host(params, "")?,
    )?)
}

/// The weights [`save_best`] kept.
pub fn load_best(out_dir: &Path, device: &Device) -> Result<Named> {
    read_flat(&best_path(out_dir), device)
}

/// Every tensor of a safetensors file, flat, by name.
fn read_flat(file: &Path, device: &Device) -> Result<Named> {
    let reader = SafetensorsReader::open_file(file)?;
    let names: Vec<String> = reader.names().map(str::to_string).collect();
    names
        .into_iter()
        .map(|n| {
            let len = reader.shape(&n).map_or(0, |s| s.iter().product());
            let values = reader.read_f32(&n, &[len])?;
            Ok((n, Tensor::from_data(TensorData::new(values, [len]), device)))
        })
        .collect()
}

/// The newest checkpoint of `out_dir`, if any.
pub fn latest(out_dir: &Path) -> Result<Option<PathBuf>> {
    let root = dir(out_dir);
    match std::fs::read_to_string(root.join("latest")) {
        Ok(name) => Ok(Some(root.join(name.trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(root.join("latest"))(e)),
    }
}

/// Reads a checkpoint into `opt`, a fresh optimizer with the run's settings.
pub fn load(path: &Path, device: &Device, opt: AdamW) -> Result<Restored> {
    let bad = |reason: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let text =
        std::fs::read_to_string(path.join("state.json")).map_err(io(path.join("state.json")))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let state: TrainState =
        serde_json::from_value(json["train"].clone()).map_err(|e| bad(e.to_string()))?;
    let adam_step = json["adam_step"]
        .as_u64()
        .ok_or_else(|| bad("state.json lacks adam_step".into()))?;
    let params = read_flat(&path.join("trainable.safetensors"), device)?;
    let mut optimizer = opt;
    optimizer.step = adam_step;
    for (name, t) in read_flat(&path.join("optimizer.safetensors"), device)? {
        if let Some(k) = name.strip_prefix("m.") {
            optimizer.m.insert(k.to_string(), t);
        } else if let Some(k) = name.strip_prefix("v.") {
            optimizer.v.insert(k.to_string(), t);
        } else {
            return Err(bad(format!(
                "unexpected tensor `{name}` in optimizer.safetensors"
            )));
        }
    }
    Ok(Restored {
        state,
        params,
        optimizer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(values: &[f32]) -> Tensor<1> {
        Tensor::from_data(
            TensorData::new(values.to_vec(), [values.len()]),
            &Device::flex(),
        )
    }

    #[test]
    fn round_trip_and_pruning() {
        let tmp = tempfile::tempdir().unwrap();
        let params = Named::from([("a.b".to_string(), flat(&[1.0, 2.0]))]);
        let mut opt = AdamW::new((0.9, 0.999), 1e-8, 0.0);
        opt.step = 3;
        opt.m.insert("a.b".into(), flat(&[0.5, 0.25]));
        opt.v.insert("a.b".into(), flat(&[0.1, 0.2]));
        for step in [10, 20, 30] {
            let state = TrainState {
                step,
                tokens_seen: 99,
                ..TrainState::default()
            };
            save(tmp.path(), &state, &params, &opt).unwrap();
        }
        let latest = latest(tmp.path()).unwrap().unwrap();
        assert!(latest.ends_with("step-00000030"));
        let mut left: Vec<_> = std::fs::read_dir(dir(tmp.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["latest", "step-00000020", "step-00000030"]);

        let r = load(
            &latest,
            &Device::flex(),
            AdamW::new((0.9, 0.999), 1e-8, 0.0),
        )
        .unwrap();
        assert_eq!(
            (r.state.step, r.state.tokens_seen, r.optimizer.step),
            (30, 99, 3)
        );
        let host = |t: &Tensor<1>| t.clone().try_into_vec_as::<f32>().unwrap();
        assert_eq!(host(&r.params["a.b"]), vec![1.0, 2.0]);
        assert_eq!(host(&r.optimizer.v["a.b"]), vec![0.1, 0.2]);
    }
}
