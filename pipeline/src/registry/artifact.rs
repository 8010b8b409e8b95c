//! What a registry version is: a local model, a Bedrock model by ARN, or an eval candidate
//! definition; the digest that identifies it within a model; and the eval candidate it
//! becomes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tunebench_eval::candidate::{CandidateSettings, RegistrySettings};

use super::{RegistryError, Result, Version};

/// What a version is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Artifact {
    /// A local model: `path` is a PEFT adapter when `base_model` is set, else a full model
    /// folder (or `.gguf` file).
    Local {
        /// The adapter or model.
        path: PathBuf,
        /// The base model an adapter applies to (a folder, `.gguf` file or Hub id).
        base_model: Option<String>,
    },
    /// A Bedrock model by ARN.
    Bedrock {
        /// The ARN.
        arn: String,
    },
    /// Any eval candidate, as configured (its name is replaced by the one that uses it).
    Candidate {
        /// The definition.
        candidate: CandidateSettings,
    },
}

impl Artifact {
    /// One line for listings: what it is and where.
    pub fn describe(&self) -> String {
        match self {
            Artifact::Local {
                path,
                base_model: Some(base),
            } => format!("local adapter {} on {base}", path.display()),
            Artifact::Local {
                path,
                base_model: None,
            } => format!("local model {}", path.display()),
            Artifact::Bedrock { arn } => {
                let kind = bedrock_resource(arn).map_or("model", |(kind, _)| kind.describe());
                format!("Bedrock {kind} {arn}")
            }
            Artifact::Candidate { candidate } => {
                let value = serde_json::to_value(candidate).unwrap_or_default();
                let kind = value["kind"].as_str().unwrap_or("candidate").to_owned();
                format!("{kind} candidate `{}`", candidate.name())
            }
        }
    }

    /// The digest that identifies it within a model: the local model's file digest, the
    /// ARN, or the candidate's definition.
    ///
    /// # Errors
    /// A local model's files cannot be read; an ARN that is not a Bedrock model's.
    pub(super) fn digest(&self) -> Result<String> {
        match self {
            Artifact::Local { path, base_model } => local_digest(path, base_model.as_deref()),
            Artifact::Bedrock { arn } => {
                bedrock_resource(arn).ok_or_else(|| {
                    RegistryError::Refused(format!(
                        "`{arn}` is not the ARN of a Bedrock custom model, deployment, provisioned throughput or imported model\nhint: ARNs look like arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/abc123"
                    ))
                })?;
                Ok(format!("bedrock:{arn}"))
            }
            Artifact::Candidate { candidate } => {
                // The name is how one eval calls it, not what it is.
                let mut value = serde_json::to_value(candidate)
                    .map_err(|e| RegistryError::Refused(format!("candidate definition: {e}")))?;
                value["name"] = serde_json::Value::Null;
                Ok(format!("candidate:{value}"))
            }
        }
    }
}

/// The digest of a local model (with its adapter): [`tunebench_eval::local::local_identity`].
fn local_digest(path: &Path, base_model: Option<&str>) -> Result<String> {
    let refuse = |e: &dyn std::fmt::Display| {
        RegistryError::Refused(format!("cannot read {}: {e}", path.display()))
    };
    if !path.exists() {
        return Err(RegistryError::Refused(format!(
            "{} does not exist\nhint: register the folder `train local` wrote (its out_dir), or a model folder",
            path.display()
        )));
    }
    match base_model {
        Some(base) => {
            let base =
                tunebench_models::hub::local_model(Path::new(base)).map_err(|e| refuse(&e))?;
            tunebench_eval::local::local_identity(&base, Some(path)).map_err(|e| refuse(&e))
        }
        None => tunebench_eval::local::local_identity(path, None).map_err(|e| refuse(&e)),
    }
}

/// The kinds of Bedrock resource a version can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BedrockResource {
    /// A customization job's output; called only through a deployment or provisioned
    /// throughput.
    CustomModel,
    /// An on-demand custom model deployment.
    Deployment,
    /// Provisioned throughput.
    Provisioned,
    /// A Custom Model Import.
    Imported,
}

impl BedrockResource {
    fn describe(self) -> &'static str {
        match self {
            BedrockResource::CustomModel => "custom model",
            BedrockResource::Deployment => "custom model deployment",
            BedrockResource::Provisioned => "provisioned throughput",
            BedrockResource::Imported => "imported model",
        }
    }
}

/// The resource type and region of a Bedrock model ARN
/// (`arn:<partition>:bedrock:<region>:<account>:<type>/<id>`).
pub fn bedrock_resource(arn: &str) -> Option<(BedrockResource, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, "bedrock", region, _, resource] = parts.as_slice() else {
        return None;
    };
    let (kind, id) = resource.split_once('/')?;
    if id.is_empty() || region.is_empty() {
        return None;
    }
    let kind = match kind {
        "custom-model" => BedrockResource::CustomModel,
        "custom-model-deployment" => BedrockResource::Deployment,
        "provisioned-model" => BedrockResource::Provisioned,
        "imported-model" => BedrockResource::Imported,
        _ => return None,
    };
    Some((kind, (*region).to_owned()))
}

/// The eval candidate `version` is, named and set up as `settings` says. A local version's
/// files must still be the registered ones; a Bedrock custom model must be served.
///
/// # Errors
/// [`RegistryError::Refused`] naming the version and what changed or is missing.
pub fn candidate(version: &Version, settings: &RegistrySettings) -> Result<CandidateSettings> {
    let at = format!("{}@{}", version.model, version.version);
    let value = match &version.artifact {
        Artifact::Local { path, base_model } => {
            let now = local_digest(path, base_model.as_deref());
            if now.ok().as_ref() != Some(&version.digest) {
                return Err(RegistryError::Refused(format!(
                    "{at}: the files at {} are no longer the ones registered\nhint: register the folder again (a new version), or restore it",
                    path.display()
                )));
            }
            let mut v = serde_json::json!({"kind": "local", "name": settings.name});
            match base_model {
                Some(base) => {
                    v["model_dir"] = base.clone().into();
                    v["adapter"] = path.to_string_lossy().into_owned().into();
                }
                None => v["model_dir"] = path.to_string_lossy().into_owned().into(),
            }
            if let Some(d) = &settings.device {
                v["device"] = d.clone().into();
            }
            if let Some(b) = settings.batch_size {
                v["batch_size"] = b.into();
            }
            v
        }
        Artifact::Bedrock { arn } => {
            let (kind, region) = bedrock_resource(arn).ok_or_else(|| {
                RegistryError::Refused(format!("{at}: `{arn}` is not a Bedrock model ARN"))
            })?;
            if kind == BedrockResource::CustomModel {
                return Err(RegistryError::Refused(format!(
                    "{at} is the custom model {arn}, which Bedrock calls only through a deployment or provisioned throughput\nhint: `tunebench train bedrock deploy`, then `tunebench model register {} --bedrock <deployment ARN>`",
                    version.model
                )));
            }
            let mut v = serde_json::json!({
                "kind": "bedrock",
                "name": settings.name,
                "model_id": arn,
                "region": settings.region.clone().unwrap_or(region),
            });
            if let Some(e) = &settings.endpoint_url {
                v["endpoint_url"] = e.clone().into();
            }
            if let Some(t) = settings.timeout_s {
                v["timeout_s"] = t.into();
            }
            if let Some(c) = settings.concurrency {
                v["concurrency"] = c.into();
            }
            v
        }
        Artifact::Candidate { candidate } => {
            let mut v = serde_json::to_value(candidate)
                .map_err(|e| RegistryError::Refused(format!("{at}: {e}")))?;
            v["name"] = settings.name.clone().into();
            v
        }
    };
    // Defaults come from the candidate's own schema.
    serde_json::from_value(value)
        .map_err(|e| RegistryError::Refused(format!("{at}: not a candidate: {e}")))
}
