//! Settings given on the command line or in `TUNEBENCH_*` variables, laid over the config
//! file: command-line flags over environment variables over the file over defaults, the
//! same for each subcommand and for every stage of `tunebench run`.
//!
//! The variables (each the same as its flag):
//!
//! | variable | flag | setting |
//! |---|---|---|
//! | `TUNEBENCH_TARGET` | `data prepare --target` | `[data] target` |
//! | `TUNEBENCH_OUT_DIR` | `data prepare --out` | `[data] out_dir` |
//! | `TUNEBENCH_UPLOAD` | `data prepare --upload` | `[upload] uri` |
//! | `TUNEBENCH_MEMORY_LIMIT` | `data prepare --memory-limit` | `[data] memory_limit` |
//! | `TUNEBENCH_TRAIN_OUT_DIR` | `train local --out` | `[train.local] out_dir` |
//! | `TUNEBENCH_MAX_STEPS` | `train local --max-steps` | `[train.local] max_steps` |
//! | `TUNEBENCH_DEVICE` | `train local --device`, `model … --device` | `[train.local] device`, and `device` of every local eval candidate |
//! | `TUNEBENCH_EVAL_OUT_DIR` | `eval --out` | `[eval] out_dir` |
//!
//! Paths given here are taken from the working directory, not from the config's folder.

use std::path::{Path, PathBuf};

use tunebench_eval::candidate::CandidateSettings;

use crate::config::{ConfigError, Loaded, RawUpload};

/// `[data]` target.
pub const TARGET_VAR: &str = "TUNEBENCH_TARGET";
/// `[data]` out_dir.
pub const DATA_OUT_VAR: &str = "TUNEBENCH_OUT_DIR";
/// `[upload]` uri.
pub const UPLOAD_VAR: &str = "TUNEBENCH_UPLOAD";
/// `[data]` memory_limit.
pub const MEMORY_LIMIT_VAR: &str = "TUNEBENCH_MEMORY_LIMIT";
/// `[train.local]` out_dir.
pub const TRAIN_OUT_VAR: &str = "TUNEBENCH_TRAIN_OUT_DIR";
/// `[train.local]` max_steps.
pub const MAX_STEPS_VAR: &str = "TUNEBENCH_MAX_STEPS";
/// `[train.local]` device, the device of local eval candidates and of the `model` commands.
pub const DEVICE_VAR: &str = "TUNEBENCH_DEVICE";
/// `[eval]` out_dir.
pub const EVAL_OUT_VAR: &str = "TUNEBENCH_EVAL_OUT_DIR";

/// Overrides of `[data]`, `[upload]` and `[aws]` for `data prepare`.
#[derive(Debug, Clone, Default)]
pub struct DataOverrides {
    /// Inputs (files, globs, `s3://` URIs); replace the config's when not empty.
    pub inputs: Vec<String>,
    /// Target format.
    pub target: Option<String>,
    /// Output folder.
    pub out_dir: Option<PathBuf>,
    /// `fail` or `reject`.
    pub on_error: Option<String>,
    /// `redact`, `reject` or `off`.
    pub pii: Option<String>,
    /// `jsonl` or `parquet`.
    pub output_format: Option<String>,
    /// Memory the run may use (`2GiB`).
    pub memory_limit: Option<String>,
    /// `s3://bucket/prefix/` to upload to.
    pub upload: Option<String>,
    /// SSE-KMS key of the upload.
    pub sse_kms_key_id: Option<String>,
    /// S3-compatible endpoint.
    pub endpoint_url: Option<String>,
}

/// Overrides of `[train.local]`.
#[derive(Debug, Clone, Default)]
pub struct TrainOverrides {
    /// Output folder.
    pub out_dir: Option<PathBuf>,
    /// Stop after this many optimizer steps.
    pub max_steps: Option<usize>,
    /// `cpu`, `wgpu[:N]`, `wgpu:cpu`, `cuda[:N]`, `tch-cpu`, `tch-cuda[:N]`.
    pub device: Option<String>,
}

/// Overrides of `[eval]`.
#[derive(Debug, Clone, Default)]
pub struct EvalOverrides {
    /// Output folder.
    pub out_dir: Option<PathBuf>,
    /// The device of every local candidate (and of a registry version that is local).
    pub device: Option<String>,
}

/// Every override, by section.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `data prepare`'s.
    pub data: DataOverrides,
    /// `train local`'s.
    pub train: TrainOverrides,
    /// `eval`'s.
    pub eval: EvalOverrides,
}

impl Overrides {
    /// The `TUNEBENCH_*` variables that are set (an empty one counts as unset).
    ///
    /// # Errors
    /// When `TUNEBENCH_MAX_STEPS` is not a positive whole number.
    pub fn from_env() -> Result<Self, ConfigError> {
        let max_steps = match var(MAX_STEPS_VAR) {
            None => None,
            Some(v) => Some(v.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
                ConfigError(format!(
                    "{MAX_STEPS_VAR}={v:?} is not a number of steps\nhint: set it to a positive whole number, such as 400, or unset it"
                ))
            })?),
        };
        let device = device_from_env();
        Ok(Overrides {
            data: DataOverrides {
                target: var(TARGET_VAR),
                out_dir: var(DATA_OUT_VAR).map(PathBuf::from),
                upload: var(UPLOAD_VAR),
                memory_limit: var(MEMORY_LIMIT_VAR),
                ..DataOverrides::default()
            },
            train: TrainOverrides {
                out_dir: var(TRAIN_OUT_VAR).map(PathBuf::from),
                max_steps,
                device: device.clone(),
            },
            eval: EvalOverrides {
                out_dir: var(EVAL_OUT_VAR).map(PathBuf::from),
                device,
            },
        })
    }

    /// These overrides with `lower`'s filling what these leave unset (command-line flags
    /// over environment variables).
    pub fn over(self, lower: Overrides) -> Overrides {
        let (d, l) = (self.data, lower.data);
        let (t, lt) = (self.train, lower.train);
        Overrides {
            data: DataOverrides {
                inputs: if d.inputs.is_empty() {
                    l.inputs
                } else {
                    d.inputs
                },
                target: d.target.or(l.target),
                out_dir: d.out_dir.or(l.out_dir),
                on_error: d.on_error.or(l.on_error),
                pii: d.pii.or(l.pii),
                output_format: d.output_format.or(l.output_format),
                memory_limit: d.memory_limit.or(l.memory_limit),
                upload: d.upload.or(l.upload),
                sse_kms_key_id: d.sse_kms_key_id.or(l.sse_kms_key_id),
                endpoint_url: d.endpoint_url.or(l.endpoint_url),
            },
            train: TrainOverrides {
                out_dir: t.out_dir.or(lt.out_dir),
                max_steps: t.max_steps.or(lt.max_steps),
                device: t.device.or(lt.device),
            },
            eval: EvalOverrides {
                out_dir: self.eval.out_dir.or(lower.eval.out_dir),
                device: self.eval.device.or(lower.eval.device),
            },
        }
    }
}

/// `TUNEBENCH_DEVICE`, when set.
pub fn device_from_env() -> Option<String> {
    var(DEVICE_VAR)
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Loaded {
    /// Lays `o` over the config's sections. Only sections the config has are changed (a
    /// variable set for every nightly job adds no stage to a run); `data prepare`, which
    /// may take everything from flags, starts from an empty `[data]` itself.
    ///
    /// # Errors
    /// When the working directory cannot be read (paths here are taken from it).
    pub fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        let cwd = std::env::current_dir()
            .map_err(|e| ConfigError(format!("reading the working directory: {e}")))?;
        let from_cwd = |p: &Path| cwd.join(p);
        let raw = &mut self.raw;
        if let Some(data) = raw.data.as_mut() {
            let d = &o.data;
            if !d.inputs.is_empty() {
                data.inputs = Some(
                    d.inputs
                        .iter()
                        .map(|i| {
                            if i.starts_with("s3://") {
                                i.clone()
                            } else {
                                from_cwd(Path::new(i)).to_string_lossy().into_owned()
                            }
                        })
                        .collect(),
                );
            }
            set(&mut data.target, &d.target);
            set(&mut data.on_error, &d.on_error);
            set(&mut data.pii, &d.pii);
            set(&mut data.output_format, &d.output_format);
            set(&mut data.memory_limit, &d.memory_limit);
            if let Some(out) = &d.out_dir {
                data.out_dir = Some(from_cwd(out).to_string_lossy().into_owned());
            }
            if d.upload.is_some() || d.sse_kms_key_id.is_some() {
                let upload = raw.upload.get_or_insert_with(RawUpload::default);
                set(&mut upload.uri, &d.upload);
                set(&mut upload.sse_kms_key_id, &d.sse_kms_key_id);
            }
            if d.endpoint_url.is_some() {
                set(
                    &mut raw.aws.get_or_insert_default().endpoint_url,
                    &d.endpoint_url,
                );
            }
        }
        if let Some(local) = raw.train.as_mut().and_then(|t| t.local.as_mut()) {
            let t = &o.train;
            if let Some(out) = &t.out_dir {
                local.out_dir = from_cwd(out);
            }
            if let Some(n) = t.max_steps {
                local.max_steps = Some(n);
            }
            if let Some(device) = &t.device {
                local.device.clone_from(device);
            }
        }
        if let Some(eval) = raw.eval.as_mut() {
            if let Some(out) = &o.eval.out_dir {
                eval.out_dir = from_cwd(out);
            }
            if let Some(device) = &o.eval.device {
                for candidate in &mut eval.candidates {
                    match candidate {
                        CandidateSettings::Local(local) => local.device.clone_from(device),
                        CandidateSettings::Registry(version) => {
                            version.device = Some(device.clone());
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }
}

fn set(field: &mut Option<String>, value: &Option<String>) {
    if value.is_some() {
        field.clone_from(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config `text`, written to a temporary folder (kept alive with it) and loaded.
    fn loaded(text: &str) -> (tempfile::TempDir, Loaded) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        let loaded = crate::config::load(&p, None).unwrap();
        (dir, loaded)
    }

    #[test]
    fn flags_win_over_variables_which_win_over_the_file() {
        let (_dir, mut loaded) = loaded(
            "[data]\ninputs = [\"x.csv\"]\ntarget = \"local\"\npii = \"off\"\n\n[train.local]\nbase_model = \"m\"\ntrain_file = \"d\"\nout_dir = \"o\"\ndevice = \"cpu\"\n",
        );
        let env = Overrides {
            data: DataOverrides {
                target: Some("bedrock:nova".into()),
                pii: Some("reject".into()),
                ..DataOverrides::default()
            },
            train: TrainOverrides {
                device: Some("cuda:1".into()),
                ..TrainOverrides::default()
            },
            ..Overrides::default()
        };
        let flags = Overrides {
            data: DataOverrides {
                pii: Some("redact".into()),
                ..DataOverrides::default()
            },
            ..Overrides::default()
        };
        loaded.apply(&flags.over(env)).unwrap();
        let data = loaded.raw.data.as_ref().unwrap();
        assert_eq!(data.target.as_deref(), Some("bedrock:nova"));
        assert_eq!(data.pii.as_deref(), Some("redact"));
        let local = loaded.raw.train.as_ref().unwrap().local.as_ref().unwrap();
        assert_eq!(local.device, "cuda:1");
        // No [eval] in the file: an override adds none.
        loaded
            .apply(&Overrides {
                eval: EvalOverrides {
                    out_dir: Some("e".into()),
                    device: None,
                },
                ..Overrides::default()
            })
            .unwrap();
        assert!(loaded.raw.eval.is_none());
    }

    /// `TUNEBENCH_DEVICE` moves every local eval candidate to that device (so one variable
    /// moves a whole `tunebench run`), and leaves remote candidates alone.
    #[test]
    fn the_device_variable_moves_local_eval_candidates() {
        let (_dir, mut loaded) = loaded(
            "[eval]\nsuites = [\"s.toml\"]\nout_dir = \"e\"\n\n[[eval.candidates]]\nkind = \"local\"\nname = \"base\"\nmodel_dir = \"m\"\n\n[[eval.candidates]]\nkind = \"openai\"\nname = \"remote\"\nbase_url = \"http://127.0.0.1:9/v1\"\nmodel = \"x\"\n",
        );
        let device_of = |loaded: &Loaded| match &loaded.raw.eval.as_ref().unwrap().candidates[0] {
            CandidateSettings::Local(local) => local.device.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(device_of(&loaded), "cpu");
        let env = Overrides {
            eval: EvalOverrides {
                device: Some("tch-cpu".into()),
                ..EvalOverrides::default()
            },
            ..Overrides::default()
        };
        loaded.apply(&Overrides::default().over(env)).unwrap();
        assert_eq!(device_of(&loaded), "tch-cpu");
        let remote = &loaded.raw.eval.as_ref().unwrap().candidates[1];
        assert!(matches!(remote, CandidateSettings::Openai(_)), "{remote:?}");
    }
}
