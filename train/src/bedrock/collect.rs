//! Collecting a completed job's metrics CSVs into `<out_dir>/metrics.csv`.

use super::*;

/// Downloads a completed job's metrics CSVs into `out_dir/bedrock_metrics/`, converts them
/// to `out_dir/metrics.csv` and records the custom model ARN in `job.json`. Returns the path
/// of `metrics.csv`.
pub fn collect(clients: &Clients, out_dir: &Path, job: &CustomizationJob) -> Result<PathBuf> {
    let mut rec = JobRecord::load(out_dir)?.unwrap_or_else(|| JobRecord {
        job_arn: job.job_arn.clone(),
        job_name: job.job_name.clone(),
        ..JobRecord::default()
    });
    rec.update(job);
    let prefix: Option<S3Uri> = job.artifacts_prefix().and_then(|p| p.parse().ok());
    let raw = out_dir.join("bedrock_metrics");
    let mut train = None;
    let mut val = None;
    if let Some(prefix) = prefix {
        std::fs::create_dir_all(&raw).map_err(io(&raw))?;
        for (rel, slot) in [
            (
                "training_artifacts/step_wise_training_metrics.csv",
                &mut train,
            ),
            (
                "validation_artifacts/post_fine_tuning_validation/validation_metrics.csv",
                &mut val,
            ),
        ] {
            let local = raw.join(rel.rsplit('/').next().unwrap_or(rel));
            match clients.s3.download(&prefix.join(rel), &local) {
                Ok(()) => *slot = Some(local),
                // A job without a validation set writes no validation metrics.
                Err(tunebench_aws::Error::Service { message, .. })
                    if message.contains("NoSuchKey") || message.contains("NotFound") => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let text = convert_metrics(train.as_deref(), val.as_deref())?;
    let metrics = out_dir.join("metrics.csv");
    write_atomic(&metrics, text.as_bytes())?;
    rec.metrics = Some("metrics.csv".into());
    rec.save(out_dir)?;
    Ok(metrics)
}

pub(super) fn read_csv(path: &Path) -> Result<Vec<BTreeMap<String, String>>> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Ok(Vec::new());
    };
    let cols: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
    lines
        .enumerate()
        .map(|(i, l)| {
            let cells: Vec<&str> = l.split(',').map(str::trim).collect();
            if cells.len() != cols.len() {
                return Err(TrainError::Metrics {
                    path: path.to_path_buf(),
                    reason: format!(
                        "line {}: {} cells, header has {}",
                        i + 2,
                        cells.len(),
                        cols.len()
                    ),
                });
            }
            Ok(cols
                .iter()
                .cloned()
                .zip(cells.into_iter().map(str::to_string))
                .collect())
        })
        .collect()
}

/// Columns Bedrock's metrics CSVs are read from, and the `metrics.csv` column each fills.
/// Fine-tuning writes losses; reinforcement fine-tuning writes rewards (the metric names of
/// the user guide's RFT charts; see the stand-in for what is assumed about the files).
const TRAIN_SOURCES: [(&str, &str); 4] = [
    ("training_loss", "train_loss"),
    ("critic/rewards/mean", "train_reward"),
    ("critic/rewards/min", "train_reward_min"),
    ("critic/rewards/max", "train_reward_max"),
];
const VALIDATION_SOURCES: [(&str, &str); 2] = [
    ("validation_loss", "val_loss"),
    ("validation/rewards/mean", "val_reward"),
];

/// Bedrock's `step_wise_training_metrics.csv` (`step_number,epoch_number,training_loss,...`,
/// or `critic/rewards/mean,...` for RFT) and `validation_metrics.csv`
/// (`step_number,epoch_number,validation_loss,...`, or `validation/rewards/mean`) as the text
/// of `metrics.csv` ([`crate::metrics::COLUMNS`], then [`crate::metrics::REWARD_COLUMNS`] when
/// the job reported rewards): one row per step, values copied as the service wrote them,
/// validation values on steps that have one, columns Bedrock does not report (`lr`,
/// `grad_norm`, `tokens_per_s`, `elapsed_s`) empty. Step numbers are the service's.
pub fn convert_metrics(train: Option<&Path>, validation: Option<&Path>) -> Result<String> {
    #[derive(Default)]
    struct Row {
        epoch: String,
        values: BTreeMap<&'static str, String>,
    }
    let mut rows: BTreeMap<u64, Row> = BTreeMap::new();
    for (path, sources) in [
        (train, &TRAIN_SOURCES[..]),
        (validation, &VALIDATION_SOURCES[..]),
    ] {
        let Some(path) = path else { continue };
        for r in read_csv(path)? {
            let bad = |what: &str| TrainError::Metrics {
                path: path.to_path_buf(),
                reason: format!("missing or bad {what}"),
            };
            let step: u64 = r
                .get("step_number")
                .and_then(|s| s.parse::<f64>().ok())
                .map(|s| s as u64)
                .ok_or_else(|| bad("step_number"))?;
            let found: Vec<(&'static str, String)> = sources
                .iter()
                .filter_map(|&(from, to)| r.get(from).map(|v| (to, v.clone())))
                .collect();
            if found.is_empty() {
                let names: Vec<&str> = sources.iter().map(|(from, _)| *from).collect();
                return Err(bad(&names.join(" or ")));
            }
            let row = rows.entry(step).or_default();
            if let Some(e) = r.get("epoch_number") {
                row.epoch = e.clone();
            }
            row.values.extend(found);
        }
    }
    let rewards = rows
        .values()
        .any(|r| r.values.keys().any(|k| k.contains("reward")));
    let mut header = crate::metrics::COLUMNS.to_string();
    if rewards {
        header = format!("{header},{}", crate::metrics::REWARD_COLUMNS);
    }
    let mut out = format!("{header}\n");
    for (step, r) in rows {
        // `step` and `epoch` first, then every other column by name.
        let cells: Vec<&str> = header
            .split(',')
            .skip(2)
            .map(|c| r.values.get(c).map_or("", String::as_str))
            .collect();
        out.push_str(&format!("{step},{},{}\n", r.epoch, cells.join(",")));
    }
    Ok(out)
}
