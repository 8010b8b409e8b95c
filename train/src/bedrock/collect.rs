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

/// Bedrock's `step_wise_training_metrics.csv` (`step_number,epoch_number,training_loss,...`)
/// and `validation_metrics.csv` (`step_number,epoch_number,validation_loss,...`) as the text
/// of `metrics.csv` ([`crate::metrics::COLUMNS`]): one row per step, values copied as the
/// service wrote them, `val_loss` on steps that have one, columns Bedrock does not report
/// (`lr`, `grad_norm`, `tokens_per_s`, `elapsed_s`) empty. Step numbers are the service's.
pub fn convert_metrics(train: Option<&Path>, validation: Option<&Path>) -> Result<String> {
    #[derive(Default)]
    struct Row {
        epoch: String,
        train_loss: String,
        val_loss: String,
    }
    let mut rows: BTreeMap<u64, Row> = BTreeMap::new();
    for (path, loss_col, is_val) in [
        (train, "training_loss", false),
        (validation, "validation_loss", true),
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
            let loss = r.get(loss_col).cloned().ok_or_else(|| bad(loss_col))?;
            let row = rows.entry(step).or_default();
            if let Some(e) = r.get("epoch_number") {
                row.epoch = e.clone();
            }
            if is_val {
                row.val_loss = loss;
            } else {
                row.train_loss = loss;
            }
        }
    }
    let mut out = format!("{}\n", crate::metrics::COLUMNS);
    for (step, r) in rows {
        out.push_str(&format!(
            "{step},{},{},{},,,,\n",
            r.epoch, r.train_loss, r.val_loss
        ));
    }
    Ok(out)
}
