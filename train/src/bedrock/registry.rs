//! The local job registry, `<out_dir>/job.json`, and the run-directory records it shares with imports.

use super::*;

/// `<out_dir>/job.json`: the local job registry, so a later run resumes watching.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRecord {
    /// Job ARN.
    pub job_arn: String,
    /// Job name.
    pub job_name: String,
    /// Last known status.
    pub status: String,
    /// Sub-statuses last seen (validation / data processing / training).
    pub sub_statuses: BTreeMap<String, String>,
    /// [`Plan::config_hash`] of the submitted configuration.
    pub config_hash: String,
    /// The idempotency token sent.
    pub client_request_token: String,
    /// Base model id.
    pub base_model: String,
    /// Custom model name.
    pub custom_model_name: String,
    /// Custom model ARN, once known.
    pub custom_model_arn: Option<String>,
    /// Output prefix of the job.
    pub output_s3_uri: String,
    /// Why it failed.
    pub failure_message: Option<String>,
    /// Final training loss.
    pub training_loss: Option<f32>,
    /// Final validation losses.
    pub validation_losses: Vec<f32>,
    /// `metrics.csv` written from the job's metrics, relative to out_dir.
    pub metrics: Option<String>,
    /// Custom model deployment ARN (on-demand inference), if deployed.
    pub deployment_arn: Option<String>,
    /// Its last known status (`Creating`, `Active`, `Failed`).
    pub deployment_status: Option<String>,
    /// Provisioned throughput ARN, if provisioned.
    pub provisioned_throughput_arn: Option<String>,
    /// Its last known status (`Creating`, `InService`, `Failed`).
    pub provisioned_throughput_status: Option<String>,
}

/// Reads a JSON record file of a run directory; `None` when there is none.
pub(crate) fn read_record<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| TrainError::Registry {
                path: path.to_path_buf(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Writes a JSON record file atomically.
pub(crate) fn write_record<T: Serialize>(path: &Path, record: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(record).map_err(|source| TrainError::Registry {
        path: path.to_path_buf(),
        source,
    })?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

impl JobRecord {
    /// The registry file of a run directory.
    pub fn path(out_dir: &Path) -> PathBuf {
        out_dir.join("job.json")
    }

    /// Reads the registry; `None` when there is none.
    pub fn load(out_dir: &Path) -> Result<Option<JobRecord>> {
        read_record(&Self::path(out_dir))
    }

    /// Writes the registry atomically.
    pub fn save(&self, out_dir: &Path) -> Result<()> {
        write_record(&Self::path(out_dir), self)
    }

    pub(super) fn update(&mut self, job: &CustomizationJob) {
        self.status = job.status.clone();
        self.sub_statuses = [
            ("validation", &job.validation_status),
            ("data_processing", &job.data_processing_status),
            ("training", &job.training_status),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
        .collect();
        if job.output_model_arn.is_some() {
            self.custom_model_arn = job.output_model_arn.clone();
        }
        self.failure_message = job.failure_message.clone();
        self.training_loss = job.training_loss;
        self.validation_losses = job.validation_losses.clone();
    }
}

/// Writes a run-directory record atomically (see [`tunebench_core::write_atomic`]), creating
/// its folder first.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    tunebench_core::write_atomic(path, bytes).map_err(io(path))
}
