//! The AWS clients a Bedrock job needs.

use super::*;

/// The AWS clients a Bedrock job needs.
pub struct Clients {
    /// Bedrock control plane.
    pub bedrock: Bedrock,
    /// S3 for data and metrics.
    pub s3: S3,
}

impl Clients {
    /// Connects both; `s3` may differ from `bedrock` (e.g. another endpoint override).
    pub fn connect(bedrock: &AwsSettings, s3: &AwsSettings, opts: &BedrockOptions) -> Result<Self> {
        Ok(Clients {
            bedrock: Bedrock::connect(bedrock, opts)?,
            s3: S3::connect(s3)?,
        })
    }
}

/// Which job a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobRef {
    /// The job recorded in `<out_dir>/job.json` (kept up to date by the command).
    Registry(PathBuf),
    /// A job name or ARN.
    Job(String),
}

impl JobRef {
    pub(super) fn resolve(&self) -> Result<(String, Option<(PathBuf, JobRecord)>)> {
        match self {
            JobRef::Job(j) => Ok((j.clone(), None)),
            JobRef::Registry(dir) => match JobRecord::load(dir)? {
                Some(r) => Ok((r.job_arn.clone(), Some((dir.clone(), r)))),
                None => Err(TrainError::NoRegistry {
                    path: JobRecord::path(dir),
                }),
            },
        }
    }
}
